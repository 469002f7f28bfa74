//! Ogg Opus (RFC 7845) for standard players: `OpusHead`, `OpusTags`, then the audio packets,
//! with granule positions counting decoded samples including the pre-skip and the last page's
//! granule trimming the padding, so any player's decode is exactly the track.

use bytes::Bytes;
use stream_core::ogg::{crc_table, write_page, FLAG_BOS, FLAG_EOS};

use super::opus::PACKET_FRAMES;
use super::StreamEvent;

/// Packets per Ogg page (1 s): pages are flushed at least this often, so a player starts at once.
const PACKETS_PER_PAGE: u64 = 50;

/// Most lacing values of one page (RFC 3533): a page is ended before a packet would overflow it.
const MAX_SEGMENTS: usize = 255;

/// Turns a stream's events into Ogg pages (written with [`stream_core::ogg::write_page`], the
/// one page writer of the project, the live streams' too).
pub struct OggOpusWriter {
    crc: [u32; 256],
    serial: u32,
    seq: u32,
    pre_skip: u32,
    /// Packets of the page being filled, its lacing values, and the granule of its last packet.
    page: Vec<Vec<u8>>,
    segments: usize,
    granule: u64,
    /// Finished pages not yet taken.
    out: Vec<u8>,
    held: Option<(u64, Vec<u8>)>,
    packets_written: u64,
}

/// The identification header (RFC 7845 §5.1), mapping family 0.
pub fn opus_head(channels: u8, pre_skip: u32, input_rate: u32) -> Vec<u8> {
    let mut h = Vec::with_capacity(19);
    h.extend_from_slice(b"OpusHead");
    h.push(1);
    h.push(channels);
    h.extend_from_slice(&(pre_skip as u16).to_le_bytes());
    h.extend_from_slice(&input_rate.to_le_bytes());
    h.extend_from_slice(&0i16.to_le_bytes());
    h.push(0);
    h
}

/// The comment header (RFC 7845 §5.2).
pub fn opus_tags(tags: &[(&str, &str)]) -> Vec<u8> {
    let vendor = concat!("stream-engine relay ", env!("CARGO_PKG_VERSION"), " (libopus)");
    let mut h = Vec::new();
    h.extend_from_slice(b"OpusTags");
    h.extend_from_slice(&(vendor.len() as u32).to_le_bytes());
    h.extend_from_slice(vendor.as_bytes());
    h.extend_from_slice(&(tags.len() as u32).to_le_bytes());
    for (k, v) in tags {
        let c = format!("{k}={v}");
        h.extend_from_slice(&(c.len() as u32).to_le_bytes());
        h.extend_from_slice(c.as_bytes());
    }
    h
}

impl OggOpusWriter {
    /// Writes both headers, each on its own page.
    pub fn new(
        serial: u32,
        channels: u8,
        pre_skip: u32,
        input_rate: u32,
        tags: &[(&str, &str)],
    ) -> std::io::Result<Self> {
        let crc = crc_table();
        let mut out = write_page(&crc, serial, 0, 0, FLAG_BOS, &[opus_head(channels, pre_skip, input_rate)]);
        out.extend(write_page(&crc, serial, 1, 0, 0, &[opus_tags(tags)]));
        Ok(OggOpusWriter {
            crc,
            serial,
            seq: 2,
            pre_skip,
            page: Vec::new(),
            segments: 0,
            granule: 0,
            out,
            held: None,
            packets_written: 0,
        })
    }

    /// Bytes of finished pages so far.
    pub fn take(&mut self) -> Bytes {
        Bytes::from(std::mem::take(&mut self.out))
    }

    /// Ends the page being filled (if it holds anything), with `flags`.
    fn end_page(&mut self, flags: u8) {
        if self.page.is_empty() && flags & FLAG_EOS == 0 {
            return;
        }
        self.out.extend(write_page(&self.crc, self.serial, self.seq, self.granule, flags, &self.page));
        self.seq += 1;
        self.page.clear();
        self.segments = 0;
    }

    /// Appends one packet whose decoded end is at `granule`; ends the page after it when
    /// `flags` says so (or before it, when it would not fit).
    fn write(&mut self, packet: Vec<u8>, granule: u64, end: Option<u8>) {
        let segments = packet.len() / 255 + 1;
        if self.segments + segments > MAX_SEGMENTS {
            self.end_page(0);
        }
        self.segments += segments;
        self.page.push(packet);
        self.granule = granule;
        if let Some(flags) = end {
            self.end_page(flags);
        }
    }

    /// Adds packets (global indices from `first`). The newest packet is held back until the
    /// next arrives or the stream ends, because only then is it known whether it is the last.
    pub fn packets(&mut self, first: u64, packets: Vec<Vec<u8>>) -> std::io::Result<()> {
        for (i, p) in packets.into_iter().enumerate() {
            if let Some((g, held)) = self.held.replace((first + i as u64, p)) {
                self.packets_written += 1;
                let end = (self.packets_written % PACKETS_PER_PAGE == 0).then_some(0);
                self.write(held, (g + 1) * PACKET_FRAMES, end);
            }
        }
        Ok(())
    }

    /// Ends the stream after `total_samples` decoded frames (after pre-skip).
    pub fn finish(&mut self, total_samples: u64) -> std::io::Result<()> {
        let granule = self.pre_skip as u64 + total_samples;
        if let Some((_, p)) = self.held.take() {
            self.write(p, granule, Some(FLAG_EOS));
        }
        Ok(())
    }

    /// Ends the stream early (a server shutdown) after the packets written so far: the held
    /// packet goes out on a last page with the EOS flag.
    pub fn finish_here(&mut self) -> std::io::Result<()> {
        if let Some((g, p)) = self.held.take() {
            self.write(p, (g + 1) * PACKET_FRAMES, Some(FLAG_EOS));
        }
        Ok(())
    }

    /// Feeds one event; returns whether the stream is over.
    pub fn event(&mut self, ev: StreamEvent) -> std::io::Result<bool> {
        match ev {
            StreamEvent::Packets { first_packet, packets } => self.packets(first_packet, packets).map(|_| false),
            StreamEvent::End { total_samples } => self.finish(total_samples).map(|_| true),
            StreamEvent::Error(e) => Err(std::io::Error::other(e.to_string())),
            StreamEvent::Pcm { .. } => Err(std::io::Error::other("PCM in an Opus stream")),
        }
    }
}
