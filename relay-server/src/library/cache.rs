//! The chunk cache: Opus packets of library tracks in 5 s chunks, shared by every player of the
//! same track and settings, bounded in bytes (least recently used first, the first chunks of
//! recent tracks kept hot).

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::media::opus::OpusSettings;

/// One cached chunk: consecutive packets from global packet `first_packet`.
#[derive(Debug)]
pub struct Chunk {
    pub first_packet: u64,
    pub packets: Vec<Vec<u8>>,
    /// The track's length in frames, when this is its last chunk.
    pub end: Option<u64>,
    pub bytes: usize,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ChunkKey {
    pub track_id: String,
    pub settings: OpusSettings,
    pub index: u64,
}

struct Entry {
    chunk: Arc<Chunk>,
    last_used: u64,
}

#[derive(Default)]
struct CacheInner {
    map: HashMap<ChunkKey, Entry>,
    tick: u64,
    bytes: usize,
    /// Tracks played most recently: their chunk 0 is kept hot.
    recent: VecDeque<String>,
}

/// A byte-bounded LRU of encoded chunks. The first chunk of each of the [`HOT_TRACKS`] most
/// recently played tracks is evicted only when nothing else is left.
pub struct PacketCache {
    inner: Mutex<CacheInner>,
    capacity_bytes: usize,
    pub hits: AtomicU64,
    pub misses: AtomicU64,
    pub evictions: AtomicU64,
}

/// Tracks whose first chunk stays hot.
pub const HOT_TRACKS: usize = 16;

impl PacketCache {
    pub fn new(capacity_bytes: usize) -> Self {
        PacketCache {
            inner: Mutex::new(CacheInner::default()),
            capacity_bytes,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            evictions: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, CacheInner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn capacity_bytes(&self) -> usize {
        self.capacity_bytes
    }

    /// (bytes, chunks) held.
    pub fn usage(&self) -> (usize, usize) {
        let g = self.lock();
        (g.bytes, g.map.len())
    }

    pub fn get(&self, key: &ChunkKey) -> Option<Arc<Chunk>> {
        let mut g = self.lock();
        g.tick += 1;
        let tick = g.tick;
        if key.index == 0 {
            touch_recent(&mut g.recent, &key.track_id);
        }
        match g.map.get_mut(key) {
            Some(e) => {
                e.last_used = tick;
                self.hits.fetch_add(1, Ordering::Relaxed);
                Some(e.chunk.clone())
            }
            None => {
                self.misses.fetch_add(1, Ordering::Relaxed);
                None
            }
        }
    }

    pub fn insert(&self, key: ChunkKey, chunk: Arc<Chunk>) {
        if chunk.bytes > self.capacity_bytes {
            return;
        }
        let mut g = self.lock();
        g.tick += 1;
        let tick = g.tick;
        if key.index == 0 {
            touch_recent(&mut g.recent, &key.track_id);
        }
        g.bytes += chunk.bytes;
        if let Some(old) = g.map.insert(key, Entry { chunk, last_used: tick }) {
            g.bytes -= old.chunk.bytes;
        }
        while g.bytes > self.capacity_bytes {
            let victim = {
                let is_hot = |k: &ChunkKey| k.index == 0 && g.recent.contains(&k.track_id);
                g.map
                    .iter()
                    .filter(|(k, _)| !is_hot(k))
                    .min_by_key(|(_, e)| e.last_used)
                    .or_else(|| g.map.iter().min_by_key(|(_, e)| e.last_used))
                    .map(|(k, _)| k.clone())
            };
            let Some(victim) = victim else { break };
            if let Some(e) = g.map.remove(&victim) {
                g.bytes -= e.chunk.bytes;
                self.evictions.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

fn touch_recent(recent: &mut VecDeque<String>, track: &str) {
    if recent.front().map(String::as_str) == Some(track) {
        return;
    }
    recent.retain(|t| t != track);
    recent.push_front(track.to_owned());
    recent.truncate(HOT_TRACKS);
}

#[cfg(test)]
mod tests {
    use super::*;
    use stream_core::control::OpusParams;

    fn key(track: &str, index: u64) -> ChunkKey {
        ChunkKey { track_id: track.into(), settings: OpusSettings::resolve(&OpusParams::default(), 2), index }
    }

    fn chunk(bytes: usize) -> Arc<Chunk> {
        Arc::new(Chunk { first_packet: 0, packets: Vec::new(), end: None, bytes })
    }

    #[test]
    fn lru_stays_within_its_bytes_and_keeps_first_chunks_of_recent_tracks_hot() {
        let cache = PacketCache::new(1000);
        cache.insert(key("a", 0), chunk(300));
        cache.insert(key("a", 1), chunk(300));
        cache.insert(key("a", 2), chunk(300));
        assert!(cache.get(&key("a", 1)).is_some()); // a/1 is now more recent than a/2
        cache.insert(key("b", 3), chunk(300)); // over budget: evicts the LRU chunk that is not hot
        let (bytes, chunks) = cache.usage();
        assert!(bytes <= 1000 && chunks == 3, "{bytes} bytes in {chunks} chunks");
        assert!(cache.get(&key("a", 0)).is_some(), "track a's first chunk is hot, although least recently used");
        assert!(cache.get(&key("a", 2)).is_none(), "the least recently used other chunk went");
        assert_eq!(cache.evictions.load(Ordering::Relaxed), 1);
        assert!(cache.misses.load(Ordering::Relaxed) == 1 && cache.hits.load(Ordering::Relaxed) == 2);
        // A chunk larger than the whole cache is not kept; a zero-byte cache keeps nothing.
        cache.insert(key("c", 0), chunk(5000));
        assert!(cache.get(&key("c", 0)).is_none());
        let off = PacketCache::new(0);
        off.insert(key("a", 0), chunk(1));
        assert!(off.get(&key("a", 0)).is_none());
    }
}
