//! Writes the seed corpora of the fuzz targets, generated and never downloaded (`make fuzz`):
//!
//! - `wire_frame`: the golden frames of docs/wire.md and frames the encoders make;
//! - `control_message`: every client message of docs/wire.md, and a few refusals;
//! - `ogg_ingest`: Ogg pages from `stream_core::ogg::write_page`, and Ogg Opus that ffmpeg
//!   (libopus) encodes from `media/`;
//! - `decode_media`: the first 32 KB of each file of `media/`, and an AAC (m4a) cut by ffmpeg.
//!
//! Usage: `fuzz-seed <corpus dir> <media dir>`. Seeds are named `seed-*` and rewritten on each
//! run; the inputs libFuzzer adds beside them are left alone.

use std::path::{Path, PathBuf};
use std::process::Command;

use stream_core::ogg::{crc_table, write_page, FLAG_BOS, FLAG_CONTINUED, FLAG_EOS};
use stream_core::wire::{
    encode_opus_frame, encode_pcm_frame, Codec, FrameHeader, FLAG_DISCONTINUITY, FLAG_END_OF_STREAM,
};

/// Bytes of each media file kept as a `decode_media` seed: enough for headers and a few
/// packets of every format, small enough that an execution stays in milliseconds.
const MEDIA_CUT_BYTES: usize = 32 * 1024;
/// Seconds of audio ffmpeg encodes for the Ogg Opus and m4a seeds.
const FFMPEG_SECONDS: &str = "1.5";
/// The extension hints of the `decode_media` harness, in the order of its selector byte.
const EXTENSIONS: [&str; 5] = ["wav", "flac", "mp3", "ogg", "m4a"];

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(corpus), Some(media)) = (args.get(1), args.get(2)) else {
        eprintln!("usage: fuzz-seed <corpus dir> <media dir>");
        std::process::exit(2);
    };
    let corpus = PathBuf::from(corpus);
    let media = PathBuf::from(media);
    let mut w = Writer { corpus, written: 0 };
    wire_frames(&mut w);
    control_messages(&mut w);
    ogg_pages(&mut w, &media);
    media_cuts(&mut w, &media);
    println!("fuzz-seed: {} seeds under {}", w.written, w.corpus.display());
}

struct Writer {
    corpus: PathBuf,
    written: usize,
}

impl Writer {
    fn put(&mut self, target: &str, name: &str, bytes: &[u8]) {
        let dir = self.corpus.join(target);
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
        let path = dir.join(format!("seed-{name}"));
        std::fs::write(&path, bytes).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        self.written += 1;
    }
}

fn wire_frames(w: &mut Writer) {
    let mut buf = Vec::new();
    // The golden frames of docs/wire.md (stream-core's `golden_frames` test checks the bytes).
    encode_pcm_frame(Codec::PcmS16, 2, FLAG_DISCONTINUITY, 0x0102_0304, 48_000, &[0.5, -0.5], &mut buf)
        .expect("encode");
    w.put("wire_frame", "golden-s16", &buf);
    encode_pcm_frame(Codec::PcmF32, 1, FLAG_END_OF_STREAM, 9, 1, &[1.0, -0.25], &mut buf).expect("encode");
    w.put("wire_frame", "golden-f32", &buf);
    let opus = FrameHeader { codec: Codec::Opus, channels: 2, flags: 0, session: 1, sample_pos: 960, frame_count: 960 };
    encode_opus_frame(&opus, &[[0xfc, 0xff, 0xfe]], &mut buf).expect("encode");
    w.put("wire_frame", "golden-opus", &buf);
    // What the relay sends: 5 Opus packets (100 ms) per frame, PCM in packets of a few ms.
    let packets: Vec<Vec<u8>> = (0..5u8).map(|i| [vec![0xfc], vec![i; 20 + 7 * i as usize]].concat()).collect();
    let five = FrameHeader { frame_count: 4800, sample_pos: 4800, ..opus };
    encode_opus_frame(&five, &packets, &mut buf).expect("encode");
    w.put("wire_frame", "opus-5-packets", &buf);
    let sine: Vec<f32> = (0..256 * 2).map(|i| (i as f32 * 0.05).sin() * 0.8).collect();
    for (codec, name) in [(Codec::PcmS16, "pcm-s16-stereo"), (Codec::PcmF32, "pcm-f32-stereo")] {
        encode_pcm_frame(codec, 2, FLAG_DISCONTINUITY | FLAG_END_OF_STREAM, 77, 123_456, &sine, &mut buf)
            .expect("encode");
        w.put("wire_frame", name, &buf);
    }
    let eight: Vec<f32> = (0..64 * 8).map(|i| i as f32 / 512.0).collect();
    encode_pcm_frame(Codec::PcmS16, 8, 0, u32::MAX, u64::MAX - 64, &eight, &mut buf).expect("encode");
    w.put("wire_frame", "pcm-s16-8ch", &buf);
    encode_pcm_frame(Codec::PcmS16, 2, 0, 1, 0, &[0.1, 0.2, 0.3, 0.4], &mut buf).expect("encode");
    w.put("wire_frame", "truncated", &buf[..buf.len() - 3]);
}

/// The client messages of docs/wire.md, and refusals of each kind.
const CONTROL_MESSAGES: &[(&str, &str)] = &[
    ("play", r#"{"type":"play","data":{"track_id":"aurora-48k","position_s":0,"codec":"pcm_f32"}}"#),
    (
        "play-opus",
        r#"{"type":"play","data":{"track_id":"t","position_s":12.5,"codec":"opus","profile":"music","bitrate":96000,"complexity":10}}"#,
    ),
    (
        "play-voice",
        r#"{"type":"play","data":{"track_id":"v","codec":"opus","profile":"voice","bitrate":6000,"complexity":0}}"#,
    ),
    (
        "play-queue",
        r#"{"type":"play","data":{"track_id":"next","codec":"pcm_s16","start_sample":480000,"queue":true,"playing_sample":96000,"start_delay_ms":2500}}"#,
    ),
    ("seek", r#"{"type":"seek","data":{"position_s":3.5}}"#),
    ("stop", r#"{"type":"stop"}"#),
    ("pause", r#"{"type":"pause","data":{}}"#),
    ("resume", r#"{"type":"resume","data":{"session":7}}"#),
    ("ack", r#"{"type":"ack","data":{"session":3,"sample_pos":480}}"#),
    ("ping", r#"{"type":"ping","data":{"id":18446744073709551615}}"#),
    ("listen", r#"{"type":"listen","data":{"stream_id":"live-1","token":"l.abc","codec":"opus"}}"#),
    (
        "publish",
        r#"{"type":"publish","data":{"stream_id":"live-1","token":"p.xyz","codec":"pcm_s16","channels":1,"sample_rate":48000}}"#,
    ),
    ("end", r#"{"type":"end","data":null}"#),
    ("bad-json", r#"{"type":"play","data":{"track_id":"#),
    ("bad-type", r#"{"type":"rewind","data":{}}"#),
    ("bad-data", r#"{"type":"seek","data":[1,2]}"#),
    ("bad-number", r#"{"type":"seek","data":{"position_s":-1e309}}"#),
    ("bad-codec", r#"{"type":"play","data":{"track_id":"a","codec":"mp3"}}"#),
    ("unicode", "{\"type\":\"play\",\"data\":{\"track_id\":\"\u{e9}t\u{e9} \u{1f3b5}\\u00e9\\ud83c\\udfb5\"}}"),
    ("not-object", "[\"play\"]"),
];

fn control_messages(w: &mut Writer) {
    for (name, text) in CONTROL_MESSAGES {
        w.put("control_message", name, text.as_bytes());
    }
    let long = format!(r#"{{"type":"ping","data":{{"pad":"{}"}}}}"#, "x".repeat(4096));
    w.put("control_message", "too-large", long.as_bytes());
}

fn opus_head(channels: u8, pre_skip: u16) -> Vec<u8> {
    let mut h = b"OpusHead".to_vec();
    h.extend_from_slice(&[1, channels]);
    h.extend_from_slice(&pre_skip.to_le_bytes());
    h.extend_from_slice(&48_000u32.to_le_bytes());
    h.extend_from_slice(&[0, 0, 0]);
    h
}

/// `ogg_ingest` seeds: two bytes that choose the piece sizes, then the Ogg stream.
fn ogg_pages(w: &mut Writer, media: &Path) {
    let t = crc_table();
    let tags = b"OpusTags\x06\0\0\0fuzzer\0\0\0\0".to_vec();
    let mut ogg = write_page(&t, 7, 0, 0, FLAG_BOS, &[opus_head(2, 312)]);
    ogg.extend(write_page(&t, 7, 1, 0, 0, &[&tags]));
    let audio: Vec<Vec<u8>> = (0..4u8).map(|i| [vec![0xfc], vec![i; 40]].concat()).collect();
    ogg.extend(write_page(&t, 7, 2, 3840, 0, &audio));
    // A packet spanning pages (continued flag), then the end of the stream.
    let big = [vec![0xfd, 0x10], vec![9u8; 700]].concat();
    ogg.extend(write_page(&t, 7, 3, u64::MAX, 0, &[&big[..400]]));
    ogg.extend(write_page(&t, 7, 4, 5760, FLAG_CONTINUED | FLAG_EOS, &[&big[400..]]));
    w.put("ogg_ingest", "opus-stereo", &[[0x5a, 0x00].as_slice(), &ogg].concat());
    w.put("ogg_ingest", "opus-stereo-bytewise", &[[0x00, 0x80].as_slice(), &ogg].concat());
    // Mono, multiplexed with another stream, then a chained stream after EOS.
    let mut mux = write_page(&t, 1, 0, 0, FLAG_BOS, &[opus_head(1, 120)]);
    mux.extend(write_page(&t, 2, 0, 0, FLAG_BOS, &[b"\x80theora"]));
    mux.extend(write_page(&t, 1, 1, 0, 0, &[&tags]));
    mux.extend(write_page(&t, 2, 1, 0, 0, &[[0u8; 300]]));
    mux.extend(write_page(&t, 1, 2, 960, FLAG_EOS, &[[0x78, 0x01, 0x02]]));
    mux.extend(write_page(&t, 3, 0, 0, FLAG_BOS, &[opus_head(2, 0)]));
    w.put("ogg_ingest", "mux-chain", &[[0x33, 0x00].as_slice(), &mux].concat());
    for (file, name) in [("aurora-48k.flac", "ffmpeg-music"), ("welcome-voice-48k.wav", "ffmpeg-voice")] {
        let args = ["-c:a", "libopus", "-b:a", "64k", "-f", "ogg"];
        if let Some(bytes) = ffmpeg(&media.join(file), &args, "ogg") {
            w.put("ogg_ingest", name, &[[0xa7, 0x00].as_slice(), &bytes].concat());
        }
    }
}

/// `decode_media` seeds: the selector byte of the extension, then the first 32 KB of the file.
fn media_cuts(w: &mut Writer, media: &Path) {
    let Ok(dir) = std::fs::read_dir(media) else {
        eprintln!("fuzz-seed: no {} (make media): decode_media gets no media seeds", media.display());
        return;
    };
    let mut files: Vec<PathBuf> = dir.filter_map(|e| e.ok().map(|e| e.path())).collect();
    files.sort();
    for path in files {
        let Some(ext) = path.extension().and_then(|e| e.to_str()) else { continue };
        let Some(sel) = EXTENSIONS.iter().position(|&e| e == ext) else { continue };
        let Ok(bytes) = std::fs::read(&path) else { continue };
        let cut = &bytes[..bytes.len().min(MEDIA_CUT_BYTES)];
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("media");
        w.put("decode_media", name, &[&[sel as u8], cut].concat());
    }
    // No AAC in the demo library: ffmpeg cuts one (and an Ogg Opus file for the decode path).
    let m4a = EXTENSIONS.iter().position(|&e| e == "m4a").unwrap_or(4) as u8;
    if let Some(bytes) = ffmpeg(&media.join("aurora-44k.flac"), &["-c:a", "aac", "-b:a", "96k", "-f", "ipod"], "m4a") {
        w.put("decode_media", "aurora-aac.m4a", &[&[m4a], &bytes[..bytes.len().min(MEDIA_CUT_BYTES)]].concat());
    }
    let ogg = EXTENSIONS.iter().position(|&e| e == "ogg").unwrap_or(3) as u8;
    if let Some(bytes) = ffmpeg(&media.join("aurora-48k.flac"), &["-c:a", "libopus", "-f", "ogg"], "opus") {
        w.put("decode_media", "aurora-opus.ogg", &[&[ogg], &bytes[..bytes.len().min(MEDIA_CUT_BYTES)]].concat());
    }
}

/// The first [`FFMPEG_SECONDS`] of `input` encoded by ffmpeg with `args`, or `None` (with a
/// note) when ffmpeg or the input is missing.
fn ffmpeg(input: &Path, args: &[&str], ext: &str) -> Option<Vec<u8>> {
    if !input.exists() {
        eprintln!("fuzz-seed: no {} (make media): seed skipped", input.display());
        return None;
    }
    let out = std::env::temp_dir().join(format!("fuzz-seed-{}.{ext}", std::process::id()));
    let status = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y", "-i"])
        .arg(input)
        .args(["-t", FFMPEG_SECONDS, "-map_metadata", "-1"])
        .args(args)
        .arg(&out)
        .status();
    let bytes = match status {
        Ok(s) if s.success() => std::fs::read(&out).ok(),
        Ok(s) => {
            eprintln!("fuzz-seed: ffmpeg failed ({s}) on {}: seed skipped", input.display());
            None
        }
        Err(e) => {
            eprintln!("fuzz-seed: cannot run ffmpeg ({e}): seed skipped");
            None
        }
    };
    let _ = std::fs::remove_file(&out);
    bytes
}
