//! The relay as a drop-in for Icecast, against the real source clients Debian ships (ezstream,
//! ices2, liquidsoap), each configured as for an Icecast server with only host, port and
//! password changed. Every stream is heard by a `/ws` listener and by ffmpeg reading
//! `/live/{id}.ogg`: each song's level and frequency against the source, and each title within
//! 20 ms of the sample where its song begins. Also: bad source input answered with stable codes
//! while another stream plays on, and the time-shift window (rewind 60 s sample-exact against a
//! listener that recorded it, back to the live edge, a seek before the window refused).
mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::ws::{connect, next_json, send_json, Ws};
use common::{listening, media_dir, read_wav, send_to, Server};
use futures_util::StreamExt;
use serde_json::{json, Value};
use stream_core::wire::{decode_pcm_into, FrameHeader};
use tokio_tungstenite::tungstenite::Message;

const KEY: &str = "icecast-test-key";
/// The songs every client plays: 3 s tones, each with its title.
const SONGS: [(f64, &str); 3] = [(440.0, "Tone 440"), (660.0, "Tone 660"), (880.0, "Tone 880")];
const SONG_S: f64 = 3.0;
/// The level of the songs' source (ffmpeg's sine, made stereo as for the files), per channel.
fn song_rms() -> f64 {
    static RMS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *RMS.get_or_init(|| {
        let out = Command::new("ffmpeg")
            .args(["-loglevel", "error", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100:duration=2"])
            .args(["-ac", "2", "-ar", "48000", "-f", "f32le", "-"])
            .output()
            .expect("ffmpeg");
        let x: Vec<f32> = out.stdout.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
        rms(&left(&x[48_000..]))
    })
}
/// How close a title must be to its song's first sample.
const TITLE_TOLERANCE: i64 = 960;

fn server(extra: &[&str]) -> Server {
    let mut args = vec!["--api-key", KEY];
    args.extend_from_slice(extra);
    Server::start_with(&media_dir(), &args)
}

fn create(s: &Server, body: &str) -> Value {
    let (status, text) = s.send("POST", "/api/streams", &[&format!("Authorization: Bearer {KEY}")], body.as_bytes());
    assert_eq!(status, 201, "{text}");
    serde_json::from_str(&text).expect("created JSON")
}

fn field(v: &Value, k: &str) -> String {
    v[k].as_str().unwrap_or_else(|| panic!("no {k} in {v}")).to_owned()
}

fn host_port(addr: &str) -> (String, String) {
    let (h, p) = addr.rsplit_once(':').expect("host:port");
    (h.to_owned(), p.to_owned())
}

/// One song (a `freq` Hz tone of SONG_S seconds, titled `title` by "Tone Lab") encoded by
/// ffmpeg with `codec` into `path`.
fn song_file(path: &Path, freq: f64, title: &str, codec: &[&str]) {
    let st = Command::new("ffmpeg")
        .args(["-loglevel", "error", "-y", "-f", "lavfi", "-i"])
        .arg(format!("sine=frequency={freq}:sample_rate=44100:duration={SONG_S}"))
        .args(["-ac", "2"])
        .args(codec)
        .args(["-metadata", &format!("title={title}"), "-metadata", "artist=Tone Lab"])
        .arg(path)
        .status()
        .expect("ffmpeg");
    assert!(st.success(), "ffmpeg made {}", path.display());
}

/// The songs as files of `ext` (mp3: LAME at 44.1 kHz with ID3v2 titles; ogg: Vorbis at
/// 44.1 kHz with comments), made by ffmpeg.
fn songs(dir: &Path, ext: &str) -> Vec<PathBuf> {
    SONGS
        .iter()
        .map(|(f, title)| {
            let path = dir.join(format!("{}.{ext}", *f as u32));
            let codec: &[&str] = if ext == "mp3" {
                &["-c:a", "libmp3lame", "-b:a", "160k", "-id3v2_version", "3"]
            } else {
                &["-c:a", "libvorbis", "-q:a", "5"]
            };
            song_file(&path, *f, title, codec);
            path
        })
        .collect()
}

fn playlist(dir: &Path, files: &[PathBuf]) -> PathBuf {
    let p = dir.join("playlist.m3u");
    let text: String = files.iter().map(|f| format!("{}\n", f.display())).collect();
    std::fs::write(&p, text).expect("playlist");
    p
}

/// What a `/ws` listener heard: PCM from `first_pos` on, and the titles with their samples.
#[derive(Default, Debug)]
struct Heard {
    first_pos: Option<u64>,
    pcm: Vec<f32>,
    titles: Vec<(u64, String)>,
    end: Option<Value>,
    error: Option<Value>,
}

async fn listener(s: &Server, id: &str, token: &str) -> Ws {
    let mut ws = connect(s).await;
    send_json(&mut ws, json!({"type": "listen", "data": {"stream_id": id, "token": token, "codec": "pcm_f32"}})).await;
    ws
}

/// Listens until the stream ends or fails, or `limit` passes.
async fn listen_all(mut ws: Ws, limit: Duration) -> Heard {
    let mut h = Heard::default();
    let t0 = Instant::now();
    let mut scratch = vec![0f32; 48_000 * 4];
    while t0.elapsed() < limit {
        let Ok(m) = tokio::time::timeout(limit.saturating_sub(t0.elapsed()), ws.next()).await else { break };
        match m {
            Some(Ok(Message::Text(t))) => {
                let v: Value = serde_json::from_str(&t).expect("json");
                match v["type"].as_str() {
                    Some("metadata") => {
                        let d = &v["data"];
                        h.titles.push((d["sample"].as_u64().expect("sample"), field(d, "title")));
                    }
                    Some("audio_stream_end") => {
                        h.end = Some(v["data"].clone());
                        break;
                    }
                    Some("audio_stream_error") => {
                        h.error = Some(v["data"].clone());
                        break;
                    }
                    _ => {}
                }
            }
            Some(Ok(Message::Binary(b))) => {
                let (hd, payload) = FrameHeader::parse(&b).expect("frame");
                let first = *h.first_pos.get_or_insert(hd.sample_pos);
                assert_eq!(hd.sample_pos, first + h.pcm.len() as u64 / 2, "contiguous frames");
                let n = decode_pcm_into(hd.codec, payload, &mut scratch);
                h.pcm.extend_from_slice(&scratch[..n]);
            }
            Some(Ok(_)) => {}
            _ => break,
        }
    }
    h
}

/// Power of `freq` in `x` (Goertzel), per sample.
fn power(x: &[f32], freq: f64, rate: f64) -> f64 {
    let w = 2.0 * std::f64::consts::PI * freq / rate;
    let c = 2.0 * w.cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for &v in x {
        let s0 = v as f64 + c * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    (s1 * s1 + s2 * s2 - c * s1 * s2) / (x.len() as f64 * x.len() as f64)
}

fn left(pcm: &[f32]) -> Vec<f32> {
    pcm.iter().step_by(2).copied().collect()
}

/// The first sample (from the start of `x`, 48 kHz mono) at or after `from` where `freq` is the
/// loudest of the songs' tones: the song's first sample, to a millisecond.
fn onset(x: &[f32], from: usize, freq: f64) -> Option<usize> {
    const W: usize = 480;
    let mut i = from;
    while i + W <= x.len() {
        let w = &x[i..i + W];
        let p = power(w, freq, 48_000.0);
        if p > 1e-4 && SONGS.iter().all(|(f, _)| *f == freq || power(w, *f, 48_000.0) < p) {
            // The window is mostly the new song: its start is about half a window back.
            return Some(i + W / 2);
        }
        i += 48;
    }
    None
}

fn rms(x: &[f32]) -> f64 {
    (x.iter().map(|&v| (v as f64) * (v as f64)).sum::<f64>() / x.len().max(1) as f64).sqrt()
}

/// Checks each song in mono audio `x`: the middle second of each is its tone at its level, and
/// the tone dominates the others by 30 dB. `starts`: the songs' first samples in `x`.
fn check_songs(who: &str, x: &[f32], starts: &[usize]) {
    for (k, (&start, (freq, _))) in starts.iter().zip(SONGS.iter()).enumerate() {
        let mid = &x[start + 48_000..start + 96_000];
        let level = 20.0 * (rms(mid) / song_rms()).log10();
        let p = power(mid, *freq, 48_000.0);
        let other = SONGS.iter().filter(|(f, _)| f != freq).map(|(f, _)| power(mid, *f, 48_000.0)).fold(0.0, f64::max);
        let margin = 10.0 * (p / other.max(1e-30)).log10();
        println!("ICECAST {who}: song {k} ({freq} Hz) level {level:+.2} dB vs source, {margin:.1} dB over the others");
        assert!(level.abs() < 1.0, "{who}: song {k} level {level:.2} dB");
        assert!(margin > 30.0, "{who}: song {k} tone margin {margin:.1} dB");
    }
}

/// The titles a listener got against the songs it heard: each title within 20 ms of its song's
/// first sample. Returns the songs' first samples (relative to the listener's first sample).
fn check_titles(who: &str, h: &Heard) -> Vec<usize> {
    let first = h.first_pos.expect("audio");
    let x = left(&h.pcm);
    let mut starts = Vec::new();
    let mut from = 0usize;
    for (k, (freq, title)) in SONGS.iter().enumerate() {
        let want = format!("Tone Lab - {title}");
        let Some((sample, _)) = h.titles.iter().find(|(_, t)| *t == want) else {
            panic!("{who}: no title {want:?} in {:?}", h.titles)
        };
        let start = if k == 0 { 0 } else { onset(&x, from, *freq).unwrap_or_else(|| panic!("{who}: song {k} heard")) };
        let delta = *sample as i64 - (first as i64 + start as i64);
        println!(
            "ICECAST {who}: title {want:?} at sample {sample}, song begins at {}: {:+.1} ms",
            first + start as u64,
            delta as f64 / 48.0
        );
        assert!(delta.abs() <= TITLE_TOLERANCE, "{who}: title {want:?} {delta} samples from its song");
        starts.push(start);
        from = start + 48_000;
    }
    starts
}

/// ffmpeg listening to `/live/{id}.ogg` into a WAV file until the stream ends.
fn ffmpeg_listener(s: &Server, id: &str, token: &str, out: &Path) -> std::process::Child {
    Command::new("ffmpeg")
        .args(["-loglevel", "error", "-y", "-i"])
        .arg(format!("http://{}/live/{id}.ogg?token={token}", s.addr))
        .args(["-f", "wav"])
        .arg(out)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ffmpeg listener")
}

/// Waits for ffmpeg's listener connection (one more listener counted).
fn check_ffmpeg(who: &str, child: std::process::Child, wav: &Path) {
    let out = child.wait_with_output().expect("ffmpeg");
    let err = String::from_utf8_lossy(&out.stderr);
    let (pcm, ch, rate) = read_wav(wav);
    assert_eq!((ch, rate), (2, 48_000), "{who}: ffmpeg's output");
    let x = left(&pcm);
    // ffmpeg hears the stream from its first frame: find each song's start in what it decoded.
    let mut starts = vec![x.iter().position(|v| v.abs() > 0.01).expect("ffmpeg heard audio")];
    for (freq, _) in &SONGS[1..] {
        let from = starts.last().copied().unwrap_or(0) + 48_000;
        starts.push(onset(&x, from, *freq).unwrap_or_else(|| panic!("{who}: ffmpeg heard {freq} Hz")));
    }
    println!("ICECAST {who}: ffmpeg decoded {} frames (stderr: {:?})", x.len(), err.trim());
    check_songs(&format!("{who} via ffmpeg"), &x, &starts);
}

/// A raw HTTP listener of `/live/{id}.ogg`: the bytes until the stream ends.
fn ogg_reader(s: &Server, id: &str, token: &str) -> std::thread::JoinHandle<Vec<u8>> {
    use std::io::{Read, Write};
    let mut sock = std::net::TcpStream::connect(&s.addr).expect("connect");
    let req = format!("GET /live/{id}.ogg?token={token} HTTP/1.0\r\nHost: {}\r\n\r\n", s.addr);
    sock.write_all(req.as_bytes()).expect("request");
    std::thread::spawn(move || {
        let mut all = Vec::new();
        let _ = sock.read_to_end(&mut all);
        let body = all.windows(4).position(|w| w == b"\r\n\r\n").map_or(0, |i| i + 4);
        let head = String::from_utf8_lossy(&all[..body]).to_ascii_lowercase();
        let body = all.split_off(body);
        if head.contains("transfer-encoding: chunked") {
            common::dechunk(&body).unwrap_or(body)
        } else {
            body
        }
    })
}

/// The logical streams of an Ogg byte stream: (serial, TITLE of its OpusTags) each, checking
/// that each begins with OpusHead and OpusTags, and that each ended (EOS) before the next began.
fn ogg_chains(bytes: &[u8]) -> Vec<(u32, String)> {
    let mut demux = stream_core::ogg::OggDemuxer::new(1 << 20);
    if let Err(e) = demux.push(bytes) {
        panic!(
            "not well-formed Ogg ({e}) in {} bytes: {:?}",
            bytes.len(),
            String::from_utf8_lossy(&bytes[..bytes.len().min(120)])
        );
    }
    let mut out: Vec<(u32, String)> = Vec::new();
    let mut expect_tags = false;
    let mut serial = 0u32;
    while let Some(p) = demux.next_packet() {
        if p.bos {
            assert!(p.data.starts_with(b"OpusHead"), "a logical stream begins with OpusHead");
            serial += 1;
            expect_tags = true;
            continue;
        }
        if expect_tags {
            assert!(p.data.starts_with(b"OpusTags"), "then OpusTags");
            let b = &p.data[8..];
            let word = |at: usize| u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]) as usize;
            let mut at = 4 + word(0);
            let n = word(at);
            at += 4;
            let mut title = String::new();
            for _ in 0..n {
                let len = word(at);
                let e = String::from_utf8_lossy(&b[at + 4..at + 4 + len]).into_owned();
                if let Some(t) = e.strip_prefix("TITLE=") {
                    title = t.to_owned();
                }
                at += 4 + len;
            }
            out.push((serial, title));
            expect_tags = false;
        }
    }
    out
}

/// Runs a source client until it exits (at most 60 s).
fn run_client(who: &str, cmd: &mut Command) {
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap_or_else(|e| panic!("{who}: {e}"));
    let t0 = Instant::now();
    loop {
        if let Some(st) = child.try_wait().expect("wait") {
            let out = child.wait_with_output().expect("output");
            println!("ICECAST {who}: exited {st} after {:.1} s", t0.elapsed().as_secs_f64());
            if !st.success() {
                println!("{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
            }
            return;
        }
        if t0.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            let out = child.wait_with_output().expect("output");
            panic!(
                "{who} still running after 60 s:\n{}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A source client's whole run: a stream, its listeners, the client, then every check.
async fn station(who: &str, public: bool, run: impl FnOnce(&Server, &str, &str) + Send + 'static) {
    // A source that disconnects has 2 s to come back before the stream ends.
    let s = server(&["--source-grace-s", "2"]);
    let body = if public { r#"{"public": true}"# } else { "" };
    let c = create(&s, body);
    let (id, listen_token) = (field(&c, "stream_id"), field(&c, "listen_token"));
    // A public stream is heard without a token.
    let token = if public { String::new() } else { listen_token };
    let ws = listener(&s, &id, &token).await;
    let heard = tokio::spawn(listen_all(ws, Duration::from_secs(90)));
    listening(&s, &id, 1).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let wav = dir.path().join("ffmpeg.wav");
    let ff = ffmpeg_listener(&s, &id, &token, &wav);
    listening(&s, &id, 2).await;
    let raw = ogg_reader(&s, &id, &token);
    listening(&s, &id, 3).await;
    let publish = field(&c, "publish_token");
    let s = std::sync::Arc::new(s);
    let s2 = s.clone();
    let id2 = id.clone();
    let client = tokio::task::spawn_blocking(move || run(&s2, &id2, &publish));
    // While it plays: the stream has a title, and is listed if (and only if) it is public.
    let t0 = Instant::now();
    loop {
        let (_, info) = s.get(&format!("/api/streams/{id}?token={}", field(&c, "listen_token")));
        let info: Value = serde_json::from_str(&info).expect("json");
        if info["title"].is_string() {
            let (_, list) = s.get("/api/streams");
            println!("ICECAST {who}: /api/streams while live: {list}");
            assert_eq!(list.contains(&id), public, "{who}: listed only if public: {list}");
            if public {
                let list: Value = serde_json::from_str(&list).expect("json");
                let me = list["streams"].as_array().and_then(|a| a.iter().find(|e| e["id"] == json!(id))).cloned();
                let me = me.expect("listed");
                assert!(me["title"].as_str().is_some_and(|t| t.starts_with("Tone Lab - Tone")), "{me}");
                assert_eq!(me["listeners"], json!(3), "{me}");
                assert_eq!(me["name"], json!("Tone FM"), "{me}");
            }
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(30), "{who}: a title within 30 s: {info}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    client.await.expect("client");
    let h = heard.await.expect("listener");
    println!(
        "ICECAST {who}: /ws listener heard {} frames from {:?}; titles {:?}; end {:?} error {:?}",
        h.pcm.len() / 2,
        h.first_pos,
        h.titles,
        h.end,
        h.error
    );
    assert!(h.pcm.len() / 2 >= (SONGS.len() as f64 * SONG_S * 48_000.0 * 0.95) as usize, "{who}: the whole playlist");
    let starts = check_titles(who, &h);
    check_songs(&format!("{who} via /ws"), &left(&h.pcm), &starts);
    check_ffmpeg(who, ff, &wav);
    // An HTTP Ogg listener gets each title as a new logical stream's tags, as from Icecast.
    let chains = ogg_chains(&raw.join().expect("raw listener"));
    println!("ICECAST {who}: HTTP Ogg logical streams: {chains:?}");
    let titles: Vec<String> = chains.iter().map(|(_, t)| t.clone()).collect();
    let want: Vec<String> = SONGS.iter().map(|(_, t)| format!("Tone Lab - {t}")).collect();
    assert_eq!(titles, want, "{who}: the Ogg listener's chain");
    // The source went away: the stream waited for it, then ended with producer_lost (or
    // normally, for an Ogg source that closed its last logical stream first).
    match (&h.end, &h.error) {
        (Some(_), None) => assert!(who.contains("ices2") || who.contains("vorbis"), "{who}: a normal end"),
        (None, Some(e)) => assert_eq!(e["code"], json!("producer_lost"), "{who}"),
        other => panic!("{who}: {other:?}"),
    }
    // The stream's page: its title (the last song) and the source's ice-* metadata.
    let (status, _, info) = s.request(&format!("/api/streams/{id}"), &[&format!("Authorization: Bearer {KEY}")]);
    assert_eq!(status, 200);
    let info: Value = serde_json::from_slice(&info).expect("json");
    println!("ICECAST {who}: /api/streams/{id}: {info}");
    assert_eq!(info["title"], json!(format!("Tone Lab - {}", SONGS[2].1)), "{who}: the current title");
    assert_eq!(info["name"], json!("Tone FM"), "{who}: ice-name");
    let (_, list) = s.get("/api/streams");
    assert!(!list.contains(&id), "{who}: an ended stream is not listed: {list}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ezstream_mp3_playlist_with_titles() {
    station("ezstream", true, |s, id, token| {
        let dir = tempfile::tempdir().expect("tempdir");
        let list = playlist(dir.path(), &songs(dir.path(), "mp3"));
        let (host, port) = host_port(&s.ingest);
        let cfg = dir.path().join("ezstream.xml");
        std::fs::write(
            &cfg,
            format!(
                r#"<?xml version="1.0" encoding="UTF-8"?>
<ezstream>
  <servers><server><protocol>HTTP</protocol><hostname>{host}</hostname><port>{port}</port><password>{token}</password></server></servers>
  <streams><stream><mountpoint>/live/{id}</mountpoint><format>MP3</format><stream_name>Tone FM</stream_name><stream_genre>Test</stream_genre></stream></streams>
  <intakes><intake><type>playlist</type><filename>{}</filename><stream_once>Yes</stream_once></intake></intakes>
</ezstream>"#,
                list.display()
            ),
        )
        .expect("config");
        // ezstream refuses a configuration others may read.
        Command::new("chmod").arg("600").arg(&cfg).status().expect("chmod");
        run_client("ezstream", Command::new("ezstream").arg("-c").arg(&cfg));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ices2_ogg_vorbis_playlist_with_titles() {
    station("ices2", false, |s, id, token| {
        let dir = tempfile::tempdir().expect("tempdir");
        let list = playlist(dir.path(), &songs(dir.path(), "ogg"));
        let (host, port) = host_port(&s.ingest);
        let cfg = dir.path().join("ices.xml");
        std::fs::write(
            &cfg,
            format!(
                r#"<?xml version="1.0"?>
<ices>
  <background>0</background><logpath>{dir}</logpath><logfile>ices.log</logfile><loglevel>3</loglevel><consolelog>1</consolelog>
  <stream>
    <metadata><name>Tone FM</name><genre>Test</genre><description>Tones</description></metadata>
    <input><module>playlist</module><param name="type">basic</param><param name="file">{list}</param><param name="random">0</param><param name="once">1</param></input>
    <instance><hostname>{host}</hostname><port>{port}</port><password>{token}</password><mount>/live/{id}</mount></instance>
  </stream>
</ices>"#,
                dir = dir.path().display(),
                list = list.display()
            ),
        )
        .expect("config");
        run_client("ices2", Command::new("ices2").arg(&cfg));
    })
    .await;
}

fn liquidsoap(s: &Server, id: &str, token: &str, format: &str) {
    let dir = tempfile::tempdir().expect("tempdir");
    let ext = if format == "mp3" { "mp3" } else { "ogg" };
    let list = playlist(dir.path(), &songs(dir.path(), ext));
    let (host, port) = host_port(&s.ingest);
    let enc =
        if format == "mp3" { "%mp3(bitrate=160, samplerate=44100)" } else { "%vorbis(samplerate=44100, quality=0.5)" };
    let script = dir.path().join("radio.liq");
    std::fs::write(
        &script,
        format!(
            r#"settings.init.allow_root.set(true)
settings.log.stdout.set(true)
settings.log.level.set(3)
s = playlist(loop=false, mode="normal", reload_mode="never", "{list}")
output.icecast({enc}, host="{host}", port={port}, password="{token}", mount="/live/{id}", name="Tone FM", fallible=true, on_stop=shutdown, s)
"#,
            list = list.display()
        ),
    )
    .expect("script");
    run_client(&format!("liquidsoap {format}"), Command::new("liquidsoap").arg(&script));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn liquidsoap_vorbis_with_titles() {
    station("liquidsoap vorbis", false, |s, id, token| liquidsoap(s, id, token, "vorbis")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn liquidsoap_mp3_with_titles() {
    station("liquidsoap mp3", false, |s, id, token| liquidsoap(s, id, token, "mp3")).await;
}

/// A producer on `/ws` (pcm_f32, stereo).
async fn producer(s: &Server, id: &str, token: &str) -> Ws {
    let mut ws = connect(s).await;
    send_json(
        &mut ws,
        json!({"type": "publish", "data": {"stream_id": id, "token": token, "codec": "pcm_f32", "channels": 2, "sample_rate": 48000}}),
    )
    .await;
    let v = next_json(&mut ws).await;
    assert_eq!(v["type"], "publish_ready", "{v}");
    ws
}

/// Audio that never repeats: each second its own frequency on the left, noise on the right
/// (a position's samples are a function of the position alone).
fn unique(pos: u64, n: usize) -> Vec<f32> {
    let mut v = Vec::with_capacity(2 * n);
    for i in 0..n as u64 {
        let p = pos + i;
        let f = 300.0 + 7.0 * (p / 48_000) as f64;
        let l = 0.3 * (2.0 * std::f64::consts::PI * f * p as f64 / 48_000.0).sin();
        let h = p.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40;
        let r = (h as f64 / (1u64 << 24) as f64 - 0.5) * 0.2;
        v.push(l as f32);
        v.push(r as f32);
    }
    v
}

/// Publishes `unique` audio in real time, 100 ms frames, until `seconds`.
async fn produce(mut ws: Ws, seconds: f64) -> Ws {
    let t0 = Instant::now();
    let end = (seconds * 48_000.0) as u64;
    let mut pos = 0u64;
    let mut buf = Vec::new();
    while pos < end {
        let n = 4800.min((end - pos) as usize);
        stream_core::wire::encode_pcm_frame(stream_core::wire::Codec::PcmF32, 2, 0, 0, pos, &unique(pos, n), &mut buf)
            .expect("frame");
        futures_util::SinkExt::send(&mut ws, Message::binary(buf.clone())).await.expect("send");
        pos += n as u64;
        let due = Duration::from_secs_f64(pos as f64 / 48_000.0);
        if due > t0.elapsed() + Duration::from_millis(100) {
            tokio::time::sleep(due - t0.elapsed() - Duration::from_millis(100)).await;
        }
    }
    ws
}

/// An Opus listener's frames, decoded: (the session, the stream position of `pcm[0]`, pcm).
struct Decoded {
    session: u32,
    start: i64,
    pcm: Vec<f32>,
}

/// An Opus listener whose frames are decoded as they come; a new `audio_stream_start` begins a
/// new `Decoded` (the decoder starts afresh, as a player's does).
struct OpusListener {
    ws: Ws,
    dec: opus::Decoder,
    pre_skip: i64,
    out: Vec<Decoded>,
    errors: Vec<Value>,
}

impl OpusListener {
    async fn new(s: &Server, id: &str, token: &str, pre_skip: i64) -> Self {
        let mut ws = connect(s).await;
        send_json(&mut ws, json!({"type": "listen", "data": {"stream_id": id, "token": token, "codec": "opus"}})).await;
        let dec = opus::Decoder::new(48_000, opus::Channels::Stereo).expect("decoder");
        OpusListener { ws, dec, pre_skip, out: Vec::new(), errors: Vec::new() }
    }

    /// Reads until `until(parts, last frame's position, errors so far)`.
    async fn read_until(&mut self, mut until: impl FnMut(&[Decoded], u64, usize) -> bool) {
        let mut scratch = vec![0f32; 5760 * 2];
        loop {
            let m = tokio::time::timeout(Duration::from_secs(20), self.ws.next()).await.expect("a message within 20 s");
            match m {
                Some(Ok(Message::Text(t))) => {
                    let v: Value = serde_json::from_str(&t).expect("json");
                    match v["type"].as_str() {
                        Some("audio_stream_start") => {
                            self.dec = opus::Decoder::new(48_000, opus::Channels::Stereo).expect("decoder");
                            let session = v["data"]["session"].as_u64().expect("session") as u32;
                            self.out.push(Decoded { session, start: i64::MIN, pcm: Vec::new() });
                        }
                        Some("audio_stream_error") => self.errors.push(v["data"].clone()),
                        Some("audio_stream_end") => panic!("the stream ended: {v}"),
                        _ => {}
                    }
                }
                Some(Ok(Message::Binary(b))) => {
                    let (h, payload) = FrameHeader::parse(&b).expect("frame");
                    let d = self.out.last_mut().expect("a start before frames");
                    assert_eq!(h.session, d.session, "frames of the current session");
                    if d.start == i64::MIN {
                        d.start = h.sample_pos as i64 - self.pre_skip;
                    }
                    for p in stream_core::wire::OpusPackets::new(payload) {
                        let n = self.dec.decode_float(p.expect("packet"), &mut scratch, false).expect("decode");
                        d.pcm.extend_from_slice(&scratch[..n * 2]);
                    }
                    if until(&self.out, h.sample_pos, self.errors.len()) {
                        return;
                    }
                }
                Some(Ok(_)) => {}
                other => panic!("the listener's socket: {other:?}"),
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rewind_sixty_seconds_sample_exact_then_back_to_live() {
    // A 70 s window on a 76 s stream: 60 s back is in it, the first 6 s are not.
    let s = server(&["--live-timeshift-s", "70"]);
    let c = create(&s, "");
    let (id, token) = (field(&c, "stream_id"), field(&c, "listen_token"));
    // The recorder hears the stream live from its first frame (Opus, as the rewinder).
    let pre_skip = 312i64;
    let mut rec = OpusListener::new(&s, &id, &token, pre_skip).await;
    listening(&s, &id, 1).await;
    let prod = producer(&s, &id, &field(&c, "publish_token")).await;
    let producing = tokio::spawn(produce(prod, 76.0));
    let recorder = tokio::spawn(async move {
        rec.read_until(|_, pos, _| pos >= 74 * 48_000).await;
        assert!(rec.errors.is_empty(), "{:?}", rec.errors);
        rec.out
    });
    // The rewinder joins live after 70 s.
    let t0 = Instant::now();
    loop {
        let (_, info) = s.get(&format!("/api/streams/{id}?token={token}"));
        let info: Value = serde_json::from_str(&info).expect("json");
        if info["live_edge_sample"].as_u64().unwrap_or(0) >= 70 * 48_000 {
            println!("ICECAST rewind: window {}", info["window"]);
            let bytes = info["window"]["bytes"].as_u64().expect("bytes");
            let secs = (info["window"]["end_sample"].as_u64().unwrap_or(0)
                - info["window"]["start_sample"].as_u64().unwrap_or(0)) as f64
                / 48_000.0;
            println!(
                "ICECAST rewind: the window keeps {bytes} bytes for {secs:.1} s: {:.0} kB per minute",
                bytes as f64 / secs * 60.0 / 1000.0
            );
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(120), "70 s of stream");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut rw = OpusListener::new(&s, &id, &token, pre_skip).await;
    let mut live_edge = 0u64;
    rw.read_until(|_, pos, _| {
        live_edge = pos;
        true
    })
    .await;
    // 60 s back.
    let target = live_edge - 60 * 48_000;
    send_json(&mut rw.ws, json!({"type": "seek", "data": {"position_s": target as f64 / 48_000.0}})).await;
    rw.read_until(|d, _, _| d.len() >= 2 && d[1].pcm.len() >= 2 * 5 * 48_000).await;
    let (joined, shifted) = (&rw.out[0], &rw.out[1]);
    assert_ne!(shifted.session, joined.session, "a session of its own");
    assert!(
        shifted.start <= target as i64 && target as i64 - shifted.start <= 9600 + pre_skip,
        "starts at the frame holding the target: {} vs {target}",
        shifted.start
    );
    // Before the window: out_of_window, and the listener goes on where it was.
    send_json(&mut rw.ws, json!({"type": "seek", "data": {"position_s": 1.0}})).await;
    let mut after = 0;
    rw.read_until(|_, _, e| {
        after += usize::from(e > 0);
        after >= 3
    })
    .await;
    assert_eq!(rw.out.len(), 2, "no new session after a refused seek");
    // Back to the live edge.
    send_json(&mut rw.ws, json!({"type": "seek", "data": {"position_s": 1.0e9}})).await;
    rw.read_until(|d, _, _| d.len() >= 3 && !d[2].pcm.is_empty()).await;
    let edge_now = rw.out[2].start + pre_skip;
    let shifted = &rw.out[1];
    println!("ICECAST rewind: back to live at {edge_now} (the time-shifted part was at {})", shifted.start);
    assert!(edge_now >= target as i64 + 59 * 48_000, "back at the live edge");
    let codes: Vec<Value> = rw.errors.iter().map(|e| e["code"].clone()).collect();
    assert_eq!(codes, vec![json!("out_of_window")], "{:?}", rw.errors);
    let recorded = recorder.await.expect("recorder");
    let rec = &recorded[0];
    // Compare after the rewinder's decoder converged (28,800 frames, as a player's pre-roll).
    let skip = 28_800usize;
    let from = shifted.start + skip as i64;
    let n = shifted.pcm.len() / 2 - skip;
    let mut max = 0f32;
    for i in 0..n {
        let p = from + i as i64;
        let r = (p - rec.start) as usize;
        for c in 0..2 {
            max = max.max((shifted.pcm[2 * (skip + i) + c] - rec.pcm[2 * r + c]).abs());
        }
    }
    println!("ICECAST rewind: {n} frames from {from} against the recording: max abs difference {max}");
    assert_eq!(max, 0.0, "the time-shifted audio is the recorded audio, sample for sample");
    // And it is the audio that was live then, not what is live now: its second's tone.
    let sec = (from as u64).div_ceil(48_000);
    let at = (sec * 48_000) as i64 - shifted.start;
    let left_then: Vec<f32> =
        shifted.pcm[2 * at as usize..2 * (at as usize + 48_000)].iter().step_by(2).copied().collect();
    let then = power(&left_then, 300.0 + 7.0 * sec as f64, 48_000.0);
    let now = power(&left_then, 300.0 + 7.0 * (sec + 60) as f64, 48_000.0);
    println!(
        "ICECAST rewind: second {sec}: its tone {:.1} dB over the tone live 60 s later",
        10.0 * (then / now).log10()
    );
    assert!(then > 1000.0 * now, "the audio of second {sec}");
    producing.await.expect("producer");
}

fn basic(token: &str) -> String {
    use base64::Engine as _;
    format!("Authorization: Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("source:{token}")))
}

/// A metadata update on `addr` as source clients send it.
fn update(addr: &str, id: &str, song: &str, auth: &str) -> (u16, String) {
    let song: String = song
        .bytes()
        .map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect();
    send_to(addr, "GET", &format!("/admin/metadata?mount=/live/{id}&mode=updinfo&song={song}"), &[auth], b"")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_sources_and_metadata_get_stable_codes_and_other_streams_play_on() {
    // Sources here send faster than real time (no pacing needed for what is checked).
    let s = server(&["--source-grace-s", "2", "--live-max-ahead-ms", "60000"]);
    let dir = tempfile::tempdir().expect("tempdir");
    let files = songs(dir.path(), "mp3");
    let mp3 = std::fs::read(&files[0]).expect("mp3");
    let second = std::fs::read(&files[1]).expect("mp3");

    // Stream B plays all along: ffmpeg as an Icecast source client, in real time.
    let b = create(&s, r#"{"public": true}"#);
    let bid = field(&b, "stream_id");
    let b_listener = tokio::spawn(listen_all(listener(&s, &bid, "").await, Duration::from_secs(60)));
    listening(&s, &bid, 1).await;
    let long = dir.path().join("long.mp3");
    let st = Command::new("ffmpeg")
        .args(["-loglevel", "error", "-y", "-f", "lavfi", "-i", "sine=frequency=550:sample_rate=44100:duration=8"])
        .args(["-ac", "2", "-c:a", "libmp3lame", "-b:a", "128k"])
        .arg(&long)
        .status()
        .expect("ffmpeg");
    assert!(st.success());
    let mut b_source = Command::new("ffmpeg")
        .args(["-loglevel", "error", "-re", "-i"])
        .arg(&long)
        .args(["-c", "copy", "-content_type", "audio/mpeg", "-f", "mp3"])
        .arg(format!("icecast://source:{}@{}/live/{bid}", field(&b, "publish_token"), s.ingest))
        .stdin(Stdio::null())
        .spawn()
        .expect("ffmpeg source");

    // Stream A: unsupported and lying content types, on the Icecast port and by PUT.
    let a = create(&s, "");
    let (aid, apt) = (field(&a, "stream_id"), field(&a, "publish_token"));
    for addr in [s.ingest.as_str(), s.addr.as_str()] {
        let (status, body) =
            send_to(addr, "PUT", &format!("/live/{aid}"), &[&basic(&apt), "Content-Type: audio/x-ms-wma"], &mp3);
        println!("ICECAST bad: audio/x-ms-wma on {addr}: {status} {body}");
        assert_eq!(status, 422, "{body}");
        assert!(body.contains("\"unsupported_format\""), "{body}");
        let ogg = std::fs::read(dir.path().join("440.mp3")).expect("file");
        let (status, body) =
            send_to(addr, "PUT", &format!("/live/{aid}"), &[&basic(&apt), "Content-Type: application/ogg"], &ogg);
        println!("ICECAST bad: MP3 sent as application/ogg on {addr}: {status} {body}");
        assert_eq!(status, 415, "{body}");
        assert!(body.contains("\"content_type_mismatch\""), "{body}");
    }

    // Stream C: an MP3 source with 6 kB of garbage in the middle: skipped and reported, the
    // audio before and after heard, the source not cut off.
    let c = create(&s, "");
    let (cid, cpt) = (field(&c, "stream_id"), field(&c, "publish_token"));
    let c_listener =
        tokio::spawn(listen_all(listener(&s, &cid, &field(&c, "listen_token")).await, Duration::from_secs(60)));
    listening(&s, &cid, 1).await;
    let mut body = mp3.clone();
    let mut junk = vec![0u8; 6000];
    let mut x = 0x1234_5678u32;
    for j in &mut junk {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
        *j = (x >> 16) as u8;
    }
    body.extend_from_slice(&junk);
    body.extend_from_slice(&second);
    let (status, text) =
        send_to(&s.ingest, "SOURCE", &format!("/live/{cid}"), &[&basic(&cpt), "Content-Type: audio/mpeg"], &body);
    assert_eq!(status, 200, "{text}");
    let heard = c_listener.await.expect("c");
    let x = left(&heard.pcm);
    println!("ICECAST bad: the corrupt source's listener heard {} frames, then {:?}", x.len(), heard.error);
    assert!(x.len() >= 2 * 3 * 48_000 - 4800, "both files heard around the garbage: {}", x.len());
    let p440 = power(&x[48_000..96_000], 440.0, 48_000.0);
    let after = onset(&x, 96_000, 660.0).expect("the second file after the garbage");
    let p660 = power(&x[after + 24_000..after + 72_000], 660.0, 48_000.0);
    assert!(p440 > 1e-3 && p660 > 1e-3, "{p440} {p660}");
    let (_, _, info) = s.request(&format!("/api/streams/{cid}"), &[&format!("Authorization: Bearer {KEY}")]);
    let info: Value = serde_json::from_slice(&info).expect("json");
    println!("ICECAST bad: stream C: damaged {} ({})", info["damaged"], info["last_damage"]);
    assert!(info["damaged"].as_u64().unwrap_or(0) >= 1, "{info}");

    // Metadata updates: wrong password, another stream's token, a listen token, an oversized
    // title, a malformed query: refused with their codes, the title unchanged.
    let bpt = field(&b, "publish_token");
    for addr in [s.ingest.as_str(), s.addr.as_str()] {
        for (auth, want, why) in [
            (basic("pub_wrong"), 401, "wrong password"),
            (basic(&cpt), 401, "another stream's publish token"),
            (basic(&field(&b, "listen_token")), 401, "a listen token"),
        ] {
            let (status, body) = update(addr, &bid, "Evil - Title", &auth);
            println!("ICECAST bad: metadata with {why} on {addr}: {status} {body}");
            assert_eq!(status, want, "{why}: {body}");
            assert!(body.contains("\"unauthorized\""), "{body}");
        }
        let (status, body) = update(addr, &bid, &"x".repeat(2000), &basic(&bpt));
        println!("ICECAST bad: a 2000-byte title on {addr}: {status} {body}");
        assert_eq!(status, 413, "{body}");
        assert!(body.contains("\"message_too_large\""), "{body}");
        let (status, body) =
            send_to(addr, "GET", &format!("/admin/metadata?mount=/live/{bid}&song=x"), &[&basic(&bpt)], b"");
        assert_eq!(status, 400, "{body}");
        assert!(body.contains("\"invalid_parameter\""), "{body}");
    }
    // A good update: B's listeners get it, placed in the audio.
    let (status, body) = update(&s.ingest, &bid, "Good Artist - Good Song", &basic(&bpt));
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("<return>1</return>"), "{body}");
    let t0 = Instant::now();
    loop {
        let (_, info) = s.get(&format!("/api/streams/{bid}"));
        let info: Value = serde_json::from_str(&info).expect("json");
        if info["title"] == json!("Good Artist - Good Song") {
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(20), "the title within 20 s: {info}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _ = b_source.wait();
    let heard = b_listener.await.expect("b");
    let x = left(&heard.pcm);
    println!("ICECAST bad: stream B heard {} frames, titles {:?}, then {:?}", x.len(), heard.titles, heard.error);
    assert_eq!(heard.titles.iter().map(|(_, t)| t.as_str()).collect::<Vec<_>>(), vec!["Good Artist - Good Song"]);
    assert!(x.len() >= 8 * 48_000 - 4800, "stream B whole: {}", x.len());
    let p = power(&x[48_000..7 * 48_000], 550.0, 48_000.0);
    assert!(p > 1e-3, "stream B's tone");
    assert_eq!(heard.error.as_ref().map(|e| e["code"].clone()), Some(json!("producer_lost")));
}

/// Two songs as one body of `format` (ffmpeg): a 440 Hz song then a 660 Hz song, each with its
/// title in the stream's own tags where the format has them (chained Ogg, ID3 per MP3 file).
fn body_of(dir: &Path, format: &str) -> (Vec<u8>, &'static str, bool) {
    let (ext, codec, ct, tags): (&str, &[&str], &'static str, bool) = match format {
        "mp3" => ("mp3", &["-c:a", "libmp3lame", "-b:a", "160k", "-id3v2_version", "3"], "audio/mpeg", true),
        "aac" => ("aac", &["-c:a", "aac", "-b:a", "160k", "-f", "adts"], "audio/aac", false),
        "vorbis" => ("ogg", &["-c:a", "libvorbis", "-q:a", "5"], "application/ogg", true),
        "flac" => ("oga", &["-c:a", "flac", "-f", "ogg"], "audio/ogg", true),
        _ => ("opus", &["-c:a", "libopus", "-b:a", "160k", "-f", "ogg"], "audio/ogg", true),
    };
    let mut body = Vec::new();
    for (f, title) in &SONGS[..2] {
        let path = dir.join(format!("{format}-{}.{ext}", *f as u32));
        song_file(&path, *f, title, codec);
        body.extend(std::fs::read(&path).expect("read"));
    }
    (body, ct, tags)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_source_format_by_put_with_its_titles() {
    let s = server(&["--source-grace-s", "1", "--live-max-ahead-ms", "60000"]);
    let dir = tempfile::tempdir().expect("tempdir");
    for format in ["mp3", "aac", "vorbis", "flac", "opus"] {
        let (body, ct, tags) = body_of(dir.path(), format);
        let c = create(&s, "");
        let (id, token) = (field(&c, "stream_id"), field(&c, "publish_token"));
        let heard =
            tokio::spawn(listen_all(listener(&s, &id, &field(&c, "listen_token")).await, Duration::from_secs(30)));
        listening(&s, &id, 1).await;
        // Without tags in the stream (ADTS), the title comes by Icecast's metadata update.
        if !tags {
            let (status, text) = update(&s.ingest, &id, "Tone Lab - Tone 440", &basic(&token));
            assert_eq!(status, 200, "{text}");
        }
        let (status, text) =
            send_to(&s.addr, "PUT", &format!("/live/{id}"), &[&basic(&token), &format!("Content-Type: {ct}")], &body);
        assert_eq!(status, 200, "{format}: {text}");
        let h = heard.await.expect("listener");
        let x = left(&h.pcm);
        let info = {
            let (_, _, b) = s.request(&format!("/api/streams/{id}"), &[&format!("Authorization: Bearer {KEY}")]);
            serde_json::from_slice::<Value>(&b).expect("json")
        };
        println!(
            "ICECAST format {format}: {} frames heard, titles {:?}, format {}, end {:?}/{:?}",
            x.len(),
            h.titles,
            info["format"],
            h.end.as_ref().map(|e| e["total_samples"].clone()),
            h.error.as_ref().map(|e| e["code"].clone())
        );
        assert!(x.len() as f64 >= 2.0 * SONG_S * 48_000.0 * 0.97, "{format}: both songs heard ({})", x.len());
        let second = onset(&x, 48_000, 660.0).unwrap_or_else(|| panic!("{format}: the second song"));
        for (k, (start, (freq, _))) in [0usize, second].iter().zip(SONGS.iter()).enumerate() {
            let mid = &x[start + 24_000..start + 72_000];
            let level = 20.0 * (rms(mid) / song_rms()).log10();
            let p = power(mid, *freq, 48_000.0);
            let other =
                SONGS.iter().filter(|(f, _)| f != freq).map(|(f, _)| power(mid, *f, 48_000.0)).fold(0.0, f64::max);
            println!(
                "ICECAST format {format}: song {k} level {level:+.2} dB, {:.1} dB over the others",
                10.0 * (p / other).log10()
            );
            assert!(level.abs() < 1.0 && p > 1000.0 * other, "{format}: song {k}");
        }
        assert_eq!(h.titles.first().map(|t| t.1.as_str()), Some("Tone Lab - Tone 440"), "{format}");
        if tags {
            let t = h
                .titles
                .iter()
                .find(|t| t.1 == "Tone Lab - Tone 660")
                .unwrap_or_else(|| panic!("{format}: {:?}", h.titles));
            let delta = t.0 as i64 - (h.first_pos.unwrap_or(0) + second as u64) as i64;
            println!("ICECAST format {format}: the second title {:+.1} ms from its song", delta as f64 / 48.0);
            // (AAC and Opus encoders add their own priming at each file's start: the song's
            // sound begins that much after its first sample.)
            assert!(delta.abs() <= TITLE_TOLERANCE, "{format}: title {delta} samples from its song");
        }
    }
}
