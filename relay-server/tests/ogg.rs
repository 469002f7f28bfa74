//! Ogg Opus for standard players, checked two ways for every track of the demo library: ffmpeg
//! decodes `stream.ogg` without a word and to exactly the track's length, and an Ogg/Opus
//! checker written from RFC 3533 (pages, CRC, sequence, BOS/EOS) and RFC 7845 (headers, granule
//! positions, pre-skip, end trimming) accepts it. Also: Range requests on the original file,
//! the track metadata's chunk layout, and the chunk cache's metrics.

mod common;

use std::process::{Command, Stdio};

use common::{media_dir, Server};

/// CRC-32 of Ogg (RFC 3533 §6): polynomial 0x04c11db7, initial 0, no reflection, no final xor.
fn ogg_crc(data: &[u8]) -> u32 {
    let mut crc = 0u32;
    for &b in data {
        crc ^= (b as u32) << 24;
        for _ in 0..8 {
            crc = if crc & 0x8000_0000 != 0 { (crc << 1) ^ 0x04c1_1db7 } else { crc << 1 };
        }
    }
    crc
}

/// Samples (at 48 kHz) an Opus packet decodes to, from its TOC byte (RFC 6716 §3.1).
fn opus_packet_samples(p: &[u8]) -> u64 {
    let config = p[0] >> 3;
    let frame = match config {
        0..=11 => [480, 960, 1920, 2880][(config % 4) as usize],
        12..=15 => [480, 960][(config % 2) as usize],
        _ => [120, 240, 480, 960][(config % 4) as usize],
    };
    let frames = match p[0] & 3 {
        0 => 1,
        1 | 2 => 2,
        _ => (p[1] & 0x3f) as u64,
    };
    frame * frames
}

struct Page {
    header_type: u8,
    granule: i64,
    serial: u32,
    seq: u32,
    packets_completed: Vec<Vec<u8>>,
}

/// Splits an Ogg stream into pages, checking each page's structure and CRC, and reassembles
/// packets (which may span pages).
fn parse_ogg(data: &[u8]) -> Vec<Page> {
    let mut pages = Vec::new();
    let mut at = 0;
    let mut partial: Vec<u8> = Vec::new();
    while at < data.len() {
        let h = &data[at..];
        assert!(h.len() >= 27, "truncated page header at {at}");
        assert_eq!(&h[0..4], b"OggS", "capture pattern at {at}");
        assert_eq!(h[4], 0, "stream structure version");
        let header_type = h[5];
        let granule = i64::from_le_bytes(h[6..14].try_into().expect("8 bytes"));
        let serial = u32::from_le_bytes(h[14..18].try_into().expect("4"));
        let seq = u32::from_le_bytes(h[18..22].try_into().expect("4"));
        let crc = u32::from_le_bytes(h[22..26].try_into().expect("4"));
        let nseg = h[26] as usize;
        let lacing = &h[27..27 + nseg];
        let body_len: usize = lacing.iter().map(|&l| l as usize).sum();
        let page_len = 27 + nseg + body_len;
        let mut page = h[..page_len].to_vec();
        page[22..26].fill(0);
        assert_eq!(ogg_crc(&page), crc, "CRC of page {seq}");
        if header_type & 1 == 0 {
            assert!(partial.is_empty(), "page {seq} not flagged as continued but a packet was open");
        }
        let mut body = &h[27 + nseg..page_len];
        let mut completed = Vec::new();
        for &l in lacing {
            partial.extend_from_slice(&body[..l as usize]);
            body = &body[l as usize..];
            if l < 255 {
                completed.push(std::mem::take(&mut partial));
            }
        }
        pages.push(Page { header_type, granule, serial, seq, packets_completed: completed });
        at += page_len;
    }
    assert!(partial.is_empty(), "stream ends inside a packet");
    pages
}

/// Checks RFC 3533 page rules and RFC 7845 Opus mapping rules; returns (pre_skip, channels).
fn check_ogg_opus(data: &[u8], total_samples: u64) -> (u64, u8) {
    let pages = parse_ogg(data);
    assert!(pages.len() >= 3);
    let serial = pages[0].serial;
    for (i, p) in pages.iter().enumerate() {
        assert_eq!(p.serial, serial, "one logical stream");
        assert_eq!(p.seq, i as u32, "page sequence numbers count up from 0");
        assert_eq!(p.header_type & 2 != 0, i == 0, "BOS flag on the first page only");
        assert_eq!(p.header_type & 4 != 0, i == pages.len() - 1, "EOS flag on the last page only");
    }
    // RFC 7845 §3: the ID header alone on the first page; the comment header ends its page.
    assert_eq!(pages[0].packets_completed.len(), 1);
    assert_eq!(pages[0].granule, 0);
    let head = &pages[0].packets_completed[0];
    assert_eq!(head.len(), 19);
    assert_eq!(&head[0..8], b"OpusHead");
    assert_eq!(head[8], 1, "version");
    let channels = head[9];
    assert!(channels == 1 || channels == 2);
    let pre_skip = u16::from_le_bytes([head[10], head[11]]) as u64;
    assert_eq!(i16::from_le_bytes([head[16], head[17]]), 0, "output gain");
    assert_eq!(head[18], 0, "mapping family 0");
    let tags = &pages[1].packets_completed[0];
    assert_eq!(&tags[0..8], b"OpusTags");
    assert_eq!(pages[1].packets_completed.len(), 1, "OpusTags ends its page");
    assert_eq!(pages[1].granule, 0);
    // Audio: each page's granule is the decoded sample count (pre-skip included) at its last
    // completed packet; the last page's granule trims the padding to the exact length.
    let mut decoded = 0u64;
    let mut last_granule = 0i64;
    let mut packets = 0u64;
    for p in &pages[2..] {
        for pkt in &p.packets_completed {
            assert!(!pkt.is_empty());
            decoded += opus_packet_samples(pkt);
            packets += 1;
        }
        assert!(p.granule >= last_granule, "granules never go back");
        if p.header_type & 4 == 0 && !p.packets_completed.is_empty() {
            assert_eq!(p.granule as u64, decoded, "granule of page {}", p.seq);
        }
        last_granule = p.granule;
    }
    assert_eq!(last_granule as u64, pre_skip + total_samples, "end trimming: granule = pre-skip + length");
    assert!(
        decoded >= pre_skip + total_samples && decoded < pre_skip + total_samples + 960,
        "no packet beyond the end"
    );
    assert_eq!(packets, (pre_skip + total_samples).div_ceil(960));
    (pre_skip, channels)
}

#[test]
fn stream_ogg_plays_in_ffmpeg_and_follows_the_rfcs_for_every_track() {
    let media = media_dir();
    let server = Server::start(&media);
    let tmp = tempfile::tempdir().expect("tempdir");
    for t in server.tracks() {
        let name = t["file_name"].as_str().expect("name");
        let id = t["id"].as_str().expect("id");
        let total = t["total_samples"].as_u64().expect("total");
        let (status, head, body) = server.request(&format!("/api/tracks/{id}/stream.ogg"), &[]);
        assert_eq!(status, 200, "{name}: {head}");
        assert!(head.to_ascii_lowercase().contains("content-type: audio/ogg"), "{head}");
        let (pre_skip, channels) = check_ogg_opus(&body, total);
        assert_eq!(channels as u64, t["channels"].as_u64().expect("channels").min(2));
        let file = tmp.path().join(format!("{name}.ogg"));
        std::fs::write(&file, &body).expect("write");
        let out = Command::new("ffmpeg")
            .args(["-nostdin", "-hide_banner", "-loglevel", "warning", "-i"])
            .arg(&file)
            .args(["-f", "f32le", "-"])
            .stdin(Stdio::null())
            .output()
            .expect("ffmpeg");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success() && stderr.trim().is_empty(), "{name}: ffmpeg said {stderr}");
        let frames = out.stdout.len() as u64 / 4 / channels as u64;
        println!(
            "OGG {name}: {} bytes, pre-skip {pre_skip}, ffmpeg decodes {frames} frames, track has {total}",
            body.len()
        );
        assert_eq!(frames, total, "{name}: ffmpeg's decode length");
    }
    // The second request of a track comes from the chunk cache.
    let hits = server.metric("relay_cache_hits_total");
    let id = server.track_id("aurora-48k.flac");
    let (status, _, again) = server.request(&format!("/api/tracks/{id}/stream.ogg"), &[]);
    assert_eq!(status, 200);
    let chunks = (1_152_000u64 + 312).div_ceil(960).div_ceil(250);
    assert_eq!(server.metric("relay_cache_hits_total"), hits + chunks, "every chunk of the replay is a hit");
    assert!(server.metric("relay_cache_bytes") > 0);
    check_ogg_opus(&again, 1_152_000);
    // Bad parameters are refused with a code.
    let (status, _, body) = server.request(&format!("/api/tracks/{id}/stream.ogg?bitrate=1"), &[]);
    assert_eq!(status, 400);
    assert!(String::from_utf8_lossy(&body).contains("invalid_parameter"));
}

#[test]
fn original_file_honours_range_requests() {
    let media = media_dir();
    let server = Server::start(&media);
    let id = server.track_id("aurora-48k.mp3");
    let file = std::fs::read(media.join("aurora-48k.mp3")).expect("read");
    let len = file.len();
    let (status, head, body) = server.request(&format!("/api/tracks/{id}/original"), &[]);
    assert_eq!(status, 200);
    assert_eq!(body, file);
    assert!(head.to_ascii_lowercase().contains("accept-ranges: bytes"), "{head}");
    for (range, from, to) in
        [("bytes=0-99", 0, 99), ("bytes=1000-1999", 1000, 1999), ("bytes=-500", len - 500, len - 1)]
    {
        let (status, head, body) = server.request(&format!("/api/tracks/{id}/original"), &[&format!("Range: {range}")]);
        assert_eq!(status, 206, "{range}: {head}");
        assert!(head.contains(&format!("bytes {from}-{to}/{len}")), "{range}: {head}");
        assert_eq!(body, &file[from..=to], "{range}");
    }
    let (status, head, _) =
        server.request(&format!("/api/tracks/{id}/original"), &[&format!("Range: bytes={}-", len + 10)]);
    assert_eq!(status, 416, "{head}");
    let (status, _, _) = server.request("/api/tracks/t0000000000000000/original", &[]);
    assert_eq!(status, 404);
}

#[test]
fn track_metadata_includes_the_chunk_layout() {
    let server = Server::start(&media_dir());
    let id = server.track_id("aurora-44k.flac");
    let (status, body) = server.get(&format!("/api/tracks/{id}"));
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(v["supports_seeking"], true);
    assert_eq!(v["total_samples"], 1_152_000);
    let l = &v["layout"];
    assert_eq!(l["sample_rate"], 48_000);
    assert_eq!(l["packet_frames"], 960);
    assert_eq!(l["chunk_frames"], 240_000);
    assert_eq!(l["opus_pre_skip"], 312);
    assert_eq!(l["chunks"], 5);
}
