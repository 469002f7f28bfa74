//! Hostile input against the real relay-server: a media folder of broken, lying and enormous
//! files the test makes (never downloaded), and paths that try to get out of the media and web
//! folders. Every file gets a clean answer with a stable code, nothing panics, the server's
//! memory stays bounded and it goes on serving a good track exactly.

mod common;

use std::io::{Seek, SeekFrom, Write};
use std::path::Path;
use std::time::Duration;

use common::ws::{connect, Ws};
use common::{media_dir, rss_kib, wav_header, Server};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

fn garbage(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// An ID3v2.4 header declaring a tag of `size` bytes (synchsafe size).
fn id3_header(size: u32) -> Vec<u8> {
    let mut h = b"ID3\x04\x00\x00".to_vec();
    h.extend((0..4).rev().map(|i| (size >> (7 * i)) as u8 & 0x7f));
    h
}

/// The hostile library: (file name, what it is).
fn make_corpus(dir: &Path) -> Vec<(&'static str, &'static str)> {
    let media = media_dir();
    let flac = std::fs::read(media.join("aurora-48k.flac")).expect("flac");
    let mp3 = std::fs::read(media.join("aurora-48k.mp3")).expect("mp3");
    let wav = std::fs::read(media.join("welcome-voice-48k.wav")).expect("wav");
    let w = |name: &str, bytes: &[u8]| std::fs::write(dir.join(name), bytes).expect("write");
    w("truncated-header.flac", &flac[..100]);
    w("truncated.flac", &flac[..flac.len() / 3]);
    w("truncated.mp3", &mp3[..mp3.len() / 4]);
    let mut short_wav = wav_header(2, 48_000, 16, 48_000 * 4 * 60); // says 60 s
    short_wav.extend_from_slice(&wav[44..44 + 48_000]); // has 0.25 s
    w("truncated.wav", &short_wav);
    w("zero-length.wav", b"");
    w("zero-length.mp3", b"");
    w("garbage.ogg", &garbage(200_000, 1));
    w("garbage.m4a", &garbage(50_000, 2));
    w("garbage.flac", &garbage(4096, 3));
    w("flac-named.mp3", &flac); // wrong extension: a FLAC file
    w("wav-named.ogg", &wav);
    // An ID3v2 tag that claims 200 MB, then MP3 frames.
    let mut tag = id3_header(200_000_000);
    tag.extend_from_slice(&garbage(1_000_000, 4));
    tag.extend_from_slice(&mp3);
    w("huge-tag.mp3", &tag);
    // A real 1 MB ID3v2 tag (padding), then the music: it plays.
    let mut pad = id3_header(1_000_000);
    pad.extend_from_slice(&vec![0u8; 1_000_000]);
    pad.extend_from_slice(&mp3);
    w("big-tag.mp3", &pad);
    let mut huge_rate = wav_header(2, 4_000_000_000, 16, 48_000);
    huge_rate.extend_from_slice(&vec![0u8; 48_000]);
    w("huge-sample-rate.wav", &huge_rate);
    let mut zero_rate = wav_header(2, 0, 16, 48_000);
    zero_rate.extend_from_slice(&vec![0u8; 48_000]);
    w("zero-sample-rate.wav", &zero_rate);
    let mut zero_ch = wav_header(0, 48_000, 16, 48_000);
    zero_ch.extend_from_slice(&vec![0u8; 48_000]);
    w("zero-channels.wav", &zero_ch);
    let mut many_ch = wav_header(4096, 48_000, 16, 48_000);
    many_ch.extend_from_slice(&vec![0u8; 48_000]);
    w("4096-channels.wav", &many_ch);
    // Three hours of stereo 48 kHz (1.9 GB of silence; a sparse file: no disk, no time).
    let long = 3 * 3600 * 48_000u64 * 4;
    let mut f = std::fs::File::create(dir.join("three-hours.wav")).expect("create");
    f.write_all(&wav_header(2, 48_000, 16, long as u32)).expect("header");
    f.seek(SeekFrom::Start(44 + long - 1)).expect("seek");
    f.write_all(&[0]).expect("last byte");
    vec![
        ("truncated-header.flac", "bad"),
        ("truncated.flac", "any"),
        ("truncated.mp3", "any"),
        ("truncated.wav", "any"),
        ("zero-length.wav", "bad"),
        ("zero-length.mp3", "bad"),
        ("garbage.ogg", "bad"),
        ("garbage.m4a", "bad"),
        ("garbage.flac", "bad"),
        ("flac-named.mp3", "good"),
        ("wav-named.ogg", "good"),
        ("huge-tag.mp3", "any"),
        ("big-tag.mp3", "good"),
        ("huge-sample-rate.wav", "bad"),
        ("zero-sample-rate.wav", "bad"),
        ("zero-channels.wav", "bad"),
        ("4096-channels.wav", "any"),
        ("three-hours.wav", "good"),
    ]
}

/// Plays `id` from `position_s` (pcm_s16, acking) until its end or error: (start, error, samples).
async fn play(ws: &mut Ws, id: &str, position_s: f64, max_s: f64) -> (Option<Value>, Option<Value>, u64) {
    let msg = json!({"type": "play", "data": {"track_id": id, "codec": "pcm_s16", "position_s": position_s}});
    ws.send(Message::text(msg.to_string())).await.expect("send");
    let (mut start, mut samples) = (None, 0u64);
    loop {
        let m = tokio::time::timeout(Duration::from_secs(20), ws.next()).await.expect("an answer within 20 s");
        match m {
            Some(Ok(Message::Text(t))) => {
                let v: Value = serde_json::from_str(&t).expect("json");
                let session = start.as_ref().and_then(|s: &Value| s["data"]["session"].as_u64());
                // What is left of the previous (stopped) stream is not this one's.
                let mine = session.is_none() || v["data"]["session"].as_u64() == session;
                match v["type"].as_str() {
                    Some("audio_stream_start") => start = Some(v),
                    Some("audio_stream_end") if mine && session.is_some() => return (start, None, samples),
                    Some("audio_stream_error") if mine => return (start, Some(v), samples),
                    _ => {}
                }
            }
            Some(Ok(Message::Binary(b))) => {
                let (h, _) = stream_core::wire::FrameHeader::parse(&b).expect("whole frames");
                let session = start.as_ref().and_then(|s| s["data"]["session"].as_u64()).unwrap_or(0);
                if h.session as u64 != session {
                    continue;
                }
                samples += h.frame_count as u64;
                let ack = json!({"type": "ack", "data": {"session": session, "sample_pos": h.sample_pos + h.frame_count as u64}});
                ws.send(Message::text(ack.to_string())).await.expect("ack");
                if samples as f64 / 48_000.0 >= max_s {
                    ws.send(Message::text(json!({"type": "stop"}).to_string())).await.expect("stop");
                    return (start, None, samples);
                }
            }
            Some(Ok(_)) => {}
            other => panic!("the connection broke: {other:?}"),
        }
    }
}

/// A ping answered: the session has handled everything sent before it (a `stop` included), so
/// what the server holds is measured after, not during, the last request.
async fn settled(ws: &mut Ws) {
    ws.send(Message::text(json!({"type": "ping", "data": {"id": 1}}).to_string())).await.expect("ping");
    loop {
        match tokio::time::timeout(Duration::from_secs(20), ws.next()).await.expect("a pong within 20 s") {
            Some(Ok(Message::Text(t))) if t.contains("\"pong\"") => return,
            Some(Ok(_)) => {}
            other => panic!("the connection broke: {other:?}"),
        }
    }
}

#[tokio::test]
async fn every_hostile_file_gets_a_clean_answer_and_memory_stays_bounded() {
    let dir = tempfile::tempdir().expect("tempdir");
    let corpus = make_corpus(dir.path());
    std::fs::copy(media_dir().join("aurora-48k.flac"), dir.path().join("good.flac")).expect("copy");
    let s = Server::start(dir.path());
    let pid = s.child.id();
    let rss0 = rss_kib(pid);
    let tracks = s.tracks();
    let by_name =
        |n: &str| tracks.iter().find(|t| t["file_name"] == n).unwrap_or_else(|| panic!("{n} not listed")).clone();
    let mut ws = connect(&s).await;
    let mut report = Vec::new();
    let mut rss_after_round = Vec::new();
    for round in 0..3 {
        for (name, kind) in &corpus {
            let t = by_name(name);
            let id = t["id"].as_str().expect("id");
            if t["playable"] == false {
                assert_ne!(*kind, "good", "{name} should play: {t}");
                let code = t["error_code"].as_str().unwrap_or_else(|| panic!("{name}: no error_code: {t}"));
                assert!(!t["error"].as_str().unwrap_or("").is_empty(), "{name}: a sentence");
                // Asking anyway: the same code over the socket and on HTTP.
                let (start, err, _) = play(&mut ws, id, 0.0, 1.0).await;
                assert!(start.is_none(), "{name}");
                let err = err.expect("an error");
                assert_eq!(err["data"]["code"], code, "{name}: {err}");
                let (status, body) = s.get(&format!("/api/tracks/{id}/stream.ogg"));
                assert!((400..500).contains(&status), "{name}: stream.ogg {status} {body}");
                if round == 0 {
                    report.push(format!("{name}: {code}"));
                }
                continue;
            }
            assert_ne!(*kind, "bad", "{name} should be refused: {t}");
            // Playable: plays (maybe to a clean error where the file is broken).
            let (start, err, samples) = play(&mut ws, id, 0.0, 2.0).await;
            if *kind == "good" {
                assert!(start.is_some() && err.is_none(), "{name}: {err:?}");
                assert!(samples >= 48_000, "{name}: {samples}");
            }
            if let Some(e) = &err {
                let code = e["data"]["code"].as_str().expect("code");
                assert!(["decode_error", "media_truncated", "unsupported_format"].contains(&code), "{name}: {e}");
            }
            if round == 0 {
                report.push(format!(
                    "{name}: plays, {:.2} s{}",
                    samples as f64 / 48_000.0,
                    err.map(|e| format!(", then {}", e["data"]["code"])).unwrap_or_default()
                ));
            }
        }
        settled(&mut ws).await;
        rss_after_round.push(rss_kib(pid));
    }
    // Rounds 2 and 3 repeat round 1 exactly: by then every file has been opened, decoded and
    // cached once and the allocator's arenas have their size, so anything kept per request
    // (a leaked decoder, buffer or session) shows as growth here. 2 MiB is allocator noise
    // (fragmentation of freed decode buffers), far below one round's worth of decoded audio.
    let repeat_growth = rss_after_round[2].saturating_sub(rss_after_round[0]);
    assert!(repeat_growth < 2 * 1024, "RSS grew {repeat_growth} KiB over two repeated rounds: {rss_after_round:?}");
    // The three-hour file seeks to its last minute and ends exactly.
    let long = by_name("three-hours.wav");
    assert_eq!(long["duration_s"], 10_800.0);
    let (start, err, samples) = play(&mut ws, long["id"].as_str().expect("id"), 10_740.0, 120.0).await;
    assert!(err.is_none() && start.is_some());
    assert_eq!(samples, 60 * 48_000, "the last minute, to the sample");
    // The server still plays a good file exactly, and its memory is bounded.
    let good = by_name("good.flac");
    let (_, err, samples) = play(&mut ws, good["id"].as_str().expect("id"), 0.0, 100.0).await;
    assert!(err.is_none());
    assert_eq!(samples, good["total_samples"].as_u64().expect("total"));
    settled(&mut ws).await;
    let rss1 = rss_kib(pid);
    // Overall: the chunk cache's share of this corpus plus the three-hour file's last minute and
    // the good track (all cached after one play), and glibc's per-thread arenas of the decode
    // threads. Measured: about 3.3 MiB; 12 MiB allows a slower allocator pattern, not a leak of
    // the 200 MB a lying header claims or of the 1 MB tag per play (3 rounds would be 3 MB+).
    assert!(rss1 < rss0 + 12 * 1024, "RSS {rss0} -> {rss1} KiB (after each round {rss_after_round:?})");
    println!(
        "hostile corpus ({} files, 3 rounds): RSS {rss0} -> {rss1} KiB (after each round {rss_after_round:?})\n  {}",
        corpus.len(),
        report.join("\n  ")
    );
}

#[tokio::test]
async fn paths_never_leave_the_media_and_web_folders() {
    let outside = tempfile::tempdir().expect("outside");
    let secret = outside.path().join("secret.wav");
    std::fs::copy(media_dir().join("welcome-voice-48k.wav"), &secret).expect("copy");
    std::fs::write(outside.path().join("secret.txt"), b"SECRET-CONTENT").expect("write");
    let dir = tempfile::tempdir().expect("media");
    std::fs::copy(media_dir().join("aurora-48k.flac"), dir.path().join("inside.flac")).expect("copy");
    std::os::unix::fs::symlink(&secret, dir.path().join("link-out.wav")).expect("symlink");
    std::os::unix::fs::symlink(outside.path(), dir.path().join("dir-out")).expect("symlink");
    std::os::unix::fs::symlink(dir.path(), dir.path().join("loop")).expect("symlink");
    std::fs::create_dir(dir.path().join("sub")).expect("mkdir");
    std::os::unix::fs::symlink(dir.path().join("inside.flac"), dir.path().join("sub").join("link-in.flac"))
        .expect("symlink");
    let s = Server::start(dir.path());
    let names: Vec<String> = s.tracks().iter().map(|t| t["file_name"].as_str().unwrap_or("").to_owned()).collect();
    assert!(names.contains(&"inside.flac".to_owned()), "{names:?}");
    assert!(
        !names.iter().any(|n| n.contains("secret") || n.contains("link-out")),
        "links out are not listed: {names:?}"
    );
    // Ids that look like paths, traversal, encoded separators: not found, never the file.
    let forged_id = relay_server::library::track_id_for(Path::new("link-out.wav"));
    let ids = [
        "../../etc/passwd",
        "..%2F..%2Fetc%2Fpasswd",
        "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        "inside.flac",
        "link-out.wav",
        "dir-out%2Fsecret.wav",
        forged_id.as_str(),
    ];
    for id in ids {
        for route in ["original", "stream.ogg"] {
            let (status, body) = s.get(&format!("/api/tracks/{id}/{route}"));
            assert!(status == 404 || status == 400, "{id}/{route}: {status} {body}");
            assert!(!body.contains("SECRET") && !body.contains("root:"), "{id}/{route}");
        }
    }
    for path in [
        "/../../../etc/passwd",
        "/..%2f..%2f..%2fetc%2fpasswd",
        "/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
        "/worklet/..%2f..%2fCargo.toml",
        "/worklet/%2e%2e/Cargo.toml",
        "/..%5c..%5cCargo.toml",
        "/pkg/..%2f..%2f..%2fCargo.toml",
    ] {
        let (status, body) = s.get(path);
        assert!(status == 404 || status == 400, "{path}: {status}");
        assert!(!body.contains("[workspace]") && !body.contains("root:"), "{path} served a file outside");
    }
    // Over the socket: the same ids are unknown tracks.
    let mut ws = connect(&s).await;
    for id in ["../../etc/passwd", "/etc/passwd", "link-out.wav", forged_id.as_str(), "dir-out/secret.wav"] {
        let (start, err, _) = play(&mut ws, id, 0.0, 1.0).await;
        assert!(start.is_none(), "{id}");
        assert_eq!(err.expect("error")["data"]["code"], "unknown_track", "{id}");
    }
    // A listed file replaced by a link out of the folder after the scan is not served.
    let inside = s.tracks().into_iter().find(|t| t["file_name"] == "inside.flac").expect("inside");
    let id = inside["id"].as_str().expect("id").to_owned();
    std::fs::remove_file(dir.path().join("inside.flac")).expect("rm");
    std::os::unix::fs::symlink(outside.path().join("secret.txt"), dir.path().join("inside.flac")).expect("symlink");
    let (status, body) = s.get(&format!("/api/tracks/{id}/original"));
    assert_eq!(status, 404, "{body}");
    assert!(!body.contains("SECRET"));
    println!(
        "path safety: {} ids and 7 static paths refused; links out of the media folder neither listed nor served",
        ids.len()
    );
}
