//! The media library: the files of the media folder, probed once at start-up.
//!
//! Track ids are opaque (a hash of the file's path inside the folder); a client never names a
//! path, so no id can reach outside the folder. Files that fail to probe stay listed as not
//! playable, with the reason, so a client that plays one gets a clear error.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Serialize;
use stream_core::control::ErrorCode;

use crate::media::decode::SourceDecoder;

/// File endings the library picks up.
pub const AUDIO_EXTENSIONS: &[&str] =
    &["wav", "flac", "mp3", "ogg", "oga", "m4a", "mp4", "aac", "aif", "aiff", "caf", "mka", "webm"];

/// One track as the API shows it.
#[derive(Clone, Debug, Serialize)]
pub struct TrackInfo {
    pub id: String,
    pub title: String,
    pub artist: Option<String>,
    pub album: Option<String>,
    pub file_name: String,
    pub duration_s: f64,
    /// Frames at the 48 kHz stream rate.
    pub total_samples: Option<u64>,
    pub sample_rate: u32,
    pub channels: usize,
    pub codec: String,
    pub playable: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_code: Option<ErrorCode>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip)]
    pub path: PathBuf,
}

/// All tracks, in file-name order.
#[derive(Debug, Default)]
pub struct Library {
    tracks: Vec<TrackInfo>,
    by_id: HashMap<String, usize>,
}

/// FNV-1a, 64 bits: stable across runs and platforms, so ids survive restarts.
fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= *b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// The opaque id of a file at `rel` inside the media folder.
pub fn track_id_for(rel: &Path) -> String {
    format!("t{:016x}", fnv1a64(rel.to_string_lossy().as_bytes()))
}

impl Library {
    /// Scans `dir` (not following links out of it) and probes every audio file.
    pub fn scan(dir: &Path) -> std::io::Result<Library> {
        let root = dir.canonicalize()?;
        let mut files = Vec::new();
        collect(&root, &root, 0, &mut files)?;
        files.sort();
        let mut lib = Library::default();
        for rel in files {
            let path = root.join(&rel);
            let file_name = rel.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let stem = rel.file_stem().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let id = track_id_for(&rel);
            let info = match SourceDecoder::open(&path) {
                Ok(mut src) => {
                    if src.info.title.is_none() && src.info.artist.is_none() {
                        // symphonia 0.6.1's WAV reader drops the LIST/INFO tags it reads.
                        let (title, artist, album) = riff_info_tags(&path);
                        src.info.title = title;
                        src.info.artist = artist;
                        src.info.album = album;
                    }
                    let p = &src.info;
                    let total_samples = src.output_frames();
                    TrackInfo {
                        id: id.clone(),
                        title: p.title.clone().unwrap_or(stem),
                        artist: p.artist.clone(),
                        album: p.album.clone(),
                        file_name,
                        duration_s: p.source_frames.map_or(0.0, |n| n as f64 / p.sample_rate as f64),
                        total_samples,
                        sample_rate: p.sample_rate,
                        channels: p.channels,
                        codec: p.codec.clone(),
                        playable: true,
                        error_code: None,
                        error: None,
                        path,
                    }
                }
                Err(e) => {
                    tracing::warn!(file = %rel.display(), error = %e, "not playable");
                    TrackInfo {
                        id: id.clone(),
                        title: stem,
                        artist: None,
                        album: None,
                        file_name,
                        duration_s: 0.0,
                        total_samples: None,
                        sample_rate: 0,
                        channels: 0,
                        codec: String::new(),
                        playable: false,
                        error_code: Some(e.code),
                        error: Some(e.message),
                        path,
                    }
                }
            };
            lib.by_id.insert(id, lib.tracks.len());
            lib.tracks.push(info);
        }
        Ok(lib)
    }

    /// All tracks.
    pub fn tracks(&self) -> &[TrackInfo] {
        &self.tracks
    }

    /// The track with `id`.
    pub fn get(&self, id: &str) -> Option<&TrackInfo> {
        self.by_id.get(id).map(|&i| &self.tracks[i])
    }
}

/// Title, artist and album from a RIFF/WAVE file's `LIST`/`INFO` chunk (`INAM`, `IART`,
/// `IPRD`), reading at most the first 256 KiB. Anything malformed yields `None`s.
fn riff_info_tags(path: &Path) -> (Option<String>, Option<String>, Option<String>) {
    use std::io::Read;
    const MAX_SCAN: u64 = 256 * 1024;
    let mut buf = Vec::new();
    let ok = std::fs::File::open(path).and_then(|f| f.take(MAX_SCAN).read_to_end(&mut buf)).is_ok();
    let (mut title, mut artist, mut album, mut other) = (None, None, None, None);
    if !ok || buf.len() < 12 || &buf[0..4] != b"RIFF" || &buf[8..12] != b"WAVE" {
        return (title, artist, album);
    }
    let le32 = |b: &[u8], at: usize| b.get(at..at + 4).map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]) as usize);
    let mut at = 12;
    while let (Some(id), Some(len)) = (buf.get(at..at + 4), le32(&buf, at + 4)) {
        let body = at + 8;
        let end = body.saturating_add(len).min(buf.len());
        if id == b"LIST" && buf.get(body..body + 4) == Some(b"INFO") {
            let mut p = body + 4;
            while let (Some(sid), Some(slen)) = (buf.get(p..p + 4), le32(&buf, p + 4)) {
                let s_end = (p + 8).saturating_add(slen).min(end);
                let text = String::from_utf8_lossy(&buf[p + 8..s_end]).trim_end_matches('\0').trim().to_owned();
                let slot = match sid {
                    b"INAM" => &mut title,
                    b"IART" => &mut artist,
                    b"IPRD" => &mut album,
                    _ => &mut other,
                };
                if !text.is_empty() {
                    *slot = Some(text);
                }
                p = s_end + (slen & 1);
                if p + 8 > end {
                    break;
                }
            }
        }
        if id == b"data" {
            break;
        }
        at = body.saturating_add(len) + (len & 1);
    }
    (title, artist, album)
}

fn collect(root: &Path, dir: &Path, depth: usize, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    if depth > 8 {
        return Ok(());
    }
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        // Resolve links and keep only what stays inside the media folder.
        let Ok(real) = path.canonicalize() else {
            continue;
        };
        if !real.starts_with(root) {
            continue;
        }
        if real.is_dir() {
            collect(root, &path, depth + 1, out)?;
        } else if real.is_file() {
            let ext = path.extension().and_then(|e| e.to_str()).map(|e| e.to_ascii_lowercase());
            if ext.is_some_and(|e| AUDIO_EXTENSIONS.contains(&e.as_str())) {
                if let Ok(rel) = path.strip_prefix(root) {
                    out.push(rel.to_path_buf());
                }
            }
        }
    }
    Ok(())
}
