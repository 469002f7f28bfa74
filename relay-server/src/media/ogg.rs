//! Ogg Opus (RFC 7845) for standard players: `OpusHead`, `OpusTags`, then the audio packets,
//! with granule positions counting decoded samples including the pre-skip and the last page's
//! granule trimming the padding, so any player's decode is exactly the track.

use std::io::Cursor;

use bytes::Bytes;
use ogg::writing::{PacketWriteEndInfo, PacketWriter};

use super::opus::PACKET_FRAMES;
use super::StreamEvent;

/// Packets per Ogg page (1 s): pages are flushed at least this often, so a player starts at once.
const PACKETS_PER_PAGE: u64 = 50;

/// Turns a stream's events into Ogg pages.
pub struct OggOpusWriter {
    writer: PacketWriter<'static, Cursor<Vec<u8>>>,
    serial: u32,
    pre_skip: u32,
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
    /// Writes both headers, each ending its page.
    pub fn new(
        serial: u32,
        channels: u8,
        pre_skip: u32,
        input_rate: u32,
        tags: &[(&str, &str)],
    ) -> std::io::Result<Self> {
        let mut writer = PacketWriter::new(Cursor::new(Vec::new()));
        writer.write_packet(opus_head(channels, pre_skip, input_rate), serial, PacketWriteEndInfo::EndPage, 0)?;
        writer.write_packet(opus_tags(tags), serial, PacketWriteEndInfo::EndPage, 0)?;
        Ok(OggOpusWriter { writer, serial, pre_skip, held: None, packets_written: 0 })
    }

    /// Bytes of finished pages so far.
    pub fn take(&mut self) -> Bytes {
        let cur = self.writer.inner_mut();
        let v = std::mem::take(cur.get_mut());
        cur.set_position(0);
        Bytes::from(v)
    }

    /// Adds packets (global indices from `first`). The newest packet is held back until the
    /// next arrives or the stream ends, because only then is it known whether it is the last.
    pub fn packets(&mut self, first: u64, packets: Vec<Vec<u8>>) -> std::io::Result<()> {
        for (i, p) in packets.into_iter().enumerate() {
            if let Some((g, held)) = self.held.replace((first + i as u64, p)) {
                self.packets_written += 1;
                let info = if self.packets_written % PACKETS_PER_PAGE == 0 {
                    PacketWriteEndInfo::EndPage
                } else {
                    PacketWriteEndInfo::NormalPacket
                };
                self.writer.write_packet(held, self.serial, info, (g + 1) * PACKET_FRAMES)?;
            }
        }
        Ok(())
    }

    /// Ends the stream after `total_samples` decoded frames (after pre-skip).
    pub fn finish(&mut self, total_samples: u64) -> std::io::Result<()> {
        let granule = self.pre_skip as u64 + total_samples;
        match self.held.take() {
            Some((_, p)) => self.writer.write_packet(p, self.serial, PacketWriteEndInfo::EndStream, granule),
            None => Ok(()),
        }
    }

    /// Ends the stream early (a server shutdown) after the packets written so far: the held
    /// packet goes out on a last page with the EOS flag.
    pub fn finish_here(&mut self) -> std::io::Result<()> {
        match self.held.take() {
            Some((g, p)) => {
                self.writer.write_packet(p, self.serial, PacketWriteEndInfo::EndStream, (g + 1) * PACKET_FRAMES)
            }
            None => Ok(()),
        }
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
