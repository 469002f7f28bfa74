//! Shared helpers of the integration tests: start the real `relay-server` binary on 127.0.0.1
//! with a free port, talk HTTP and WebSocket to it, write and read WAV files.
#![allow(dead_code)]

pub mod ws;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("repo root").to_path_buf()
}

/// The bundled demo library; tests fail (not skip) when it has not been made.
pub fn media_dir() -> PathBuf {
    let dir = repo_root().join("media");
    assert!(
        dir.join(".complete-v2").exists(),
        "media/ is missing: run `make media` (make test does it) before the tests"
    );
    dir
}

/// A running relay-server process, killed on drop.
pub struct Server {
    pub child: Child,
    pub addr: String,
    /// The Icecast-compatible source port.
    pub ingest: String,
}

impl Server {
    pub fn start(media: &Path) -> Server {
        Self::start_with(media, &[])
    }

    pub fn start_with(media: &Path, extra: &[&str]) -> Server {
        let root = repo_root();
        let mut child = Command::new(env!("CARGO_BIN_EXE_relay-server"))
            .args(["--listen", "127.0.0.1:0", "--media"])
            .arg(media)
            .arg("--web-dir")
            .arg(root.join("web"))
            .arg("--worklet-dir")
            .arg(root.join("worklet"))
            .args(["--ingest-listen", "127.0.0.1:0"])
            .args(extra)
            .env("RUST_LOG", "warn,symphonia_core=off")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start relay-server");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).expect("read listening line");
        // "relay-server listening on http://ADDR (Icecast source port http://ADDR)"
        // (https:// with --tls-cert)
        let mut urls = line.split("://").skip(1).map(|u| u.split([' ', ')', '\n']).next().unwrap_or("").to_owned());
        let addr = urls
            .next()
            .filter(|a| a.contains(':'))
            .unwrap_or_else(|| panic!("unexpected first line from relay-server: {line:?}"));
        let ingest = urls.next().unwrap_or_default();
        Server { child, addr, ingest }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn ws_url(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }

    /// A plain HTTP/1.0 GET: (status, body).
    pub fn get(&self, path: &str) -> (u16, String) {
        let mut s = TcpStream::connect(&self.addr).expect("connect");
        write!(s, "GET {path} HTTP/1.0\r\nHost: {}\r\n\r\n", self.addr).expect("write");
        let mut resp = String::new();
        s.read_to_string(&mut resp).expect("read");
        let status = resp.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
        let body = resp.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
        (status, body)
    }

    /// A raw HTTP/1.0 GET with extra header lines: (status, headers, body bytes).
    pub fn request(&self, path: &str, headers: &[&str]) -> (u16, String, Vec<u8>) {
        self.request_method("GET", path, headers)
    }

    /// [`Server::request`] with another method (HEAD, OPTIONS, ...).
    pub fn request_method(&self, method: &str, path: &str, headers: &[&str]) -> (u16, String, Vec<u8>) {
        let mut s = TcpStream::connect(&self.addr).expect("connect");
        let mut req = format!("{method} {path} HTTP/1.0\r\nHost: {}\r\n", self.addr);
        for h in headers {
            req.push_str(h);
            req.push_str("\r\n");
        }
        req.push_str("\r\n");
        s.write_all(req.as_bytes()).expect("write");
        let mut resp = Vec::new();
        s.read_to_end(&mut resp).expect("read");
        let split = resp.windows(4).position(|w| w == b"\r\n\r\n").expect("header end");
        let head = String::from_utf8_lossy(&resp[..split]).into_owned();
        let status = head.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
        let mut body = resp[split + 4..].to_vec();
        if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
            body = dechunk(&body).expect("a whole chunked body");
        }
        (status, head, body)
    }

    /// A raw HTTP/1.0 request with a method, headers and a body: (status, body).
    pub fn send(&self, method: &str, path: &str, headers: &[&str], body: &[u8]) -> (u16, String) {
        send_to(&self.addr, method, path, headers, body)
    }

    /// The value of Prometheus metric `name` from `/metrics`.
    pub fn metric(&self, name: &str) -> u64 {
        let (status, body) = self.get("/metrics");
        assert_eq!(status, 200);
        body.lines()
            .find_map(|l| l.strip_prefix(name).and_then(|v| v.strip_prefix(' ')).and_then(|v| v.trim().parse().ok()))
            .unwrap_or_else(|| panic!("no metric {name}"))
    }

    /// The track list as JSON values.
    pub fn tracks(&self) -> Vec<serde_json::Value> {
        let (status, body) = self.get("/api/tracks");
        assert_eq!(status, 200, "{body}");
        serde_json::from_str(&body).expect("track list JSON")
    }

    /// The id of the track whose file name is `name`.
    pub fn track_id(&self, name: &str) -> String {
        self.tracks()
            .into_iter()
            .find(|t| t["file_name"] == name)
            .and_then(|t| t["id"].as_str().map(str::to_owned))
            .unwrap_or_else(|| panic!("no track {name}"))
    }
}

/// An HTTP/1.1 chunked body, whole up to its last (empty) chunk; `None` if it is cut.
pub fn dechunk(mut b: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let eol = b.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&b[..eol]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16).ok()?;
        b = &b[eol + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(b.get(..size)?);
        b = b.get(size + 2..)?;
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Interleaved samples of a WAV file as f32, and its channel count and rate.
pub fn read_wav(path: &Path) -> (Vec<f32>, usize, u32) {
    let mut r = hound::WavReader::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let spec = r.spec();
    let samples: Vec<f32> = match spec.sample_format {
        hound::SampleFormat::Float => r.samples::<f32>().map(|s| s.expect("sample")).collect(),
        hound::SampleFormat::Int => r.samples::<i16>().map(|s| s.expect("sample") as f32 / 32768.0).collect(),
    };
    (samples, spec.channels as usize, spec.sample_rate)
}

/// A raw HTTP/1.0 request to `addr`: (status, body).
pub fn send_to(addr: &str, method: &str, path: &str, headers: &[&str], body: &[u8]) -> (u16, String) {
    let mut s = TcpStream::connect(addr).expect("connect");
    let mut req = format!("{method} {path} HTTP/1.0\r\nHost: {addr}\r\nContent-Length: {}\r\n", body.len());
    for h in headers {
        req.push_str(h);
        req.push_str("\r\n");
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).expect("write");
    s.write_all(body).expect("write body");
    let mut resp = Vec::new();
    let _ = s.read_to_end(&mut resp);
    let text = String::from_utf8_lossy(&resp).into_owned();
    // A 100 Continue may precede the final status.
    let last = text.rsplit("HTTP/1.").next().unwrap_or("");
    let status = last.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = last.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    (status, body)
}

/// Resident memory of a process, KiB.
#[allow(dead_code)] // not every test file uses it
pub fn rss_kib(pid: u32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

/// A 44-byte WAV header (PCM) with whatever fields the test wants to lie about.
#[allow(dead_code)] // not every test file uses it
pub fn wav_header(channels: u16, rate: u32, bits: u16, data_len: u32) -> Vec<u8> {
    let block = channels.wrapping_mul(bits / 8);
    let mut h = Vec::with_capacity(44);
    h.extend_from_slice(b"RIFF");
    h.extend_from_slice(&data_len.wrapping_add(36).to_le_bytes());
    h.extend_from_slice(b"WAVEfmt ");
    h.extend_from_slice(&16u32.to_le_bytes());
    h.extend_from_slice(&1u16.to_le_bytes());
    h.extend_from_slice(&channels.to_le_bytes());
    h.extend_from_slice(&rate.to_le_bytes());
    h.extend_from_slice(&rate.wrapping_mul(block as u32).to_le_bytes());
    h.extend_from_slice(&block.to_le_bytes());
    h.extend_from_slice(&bits.to_le_bytes());
    h.extend_from_slice(b"data");
    h.extend_from_slice(&data_len.to_le_bytes());
    h
}

/// A stereo 48 kHz 16-bit WAV of `seconds`: left a 440 Hz sine, right a 660 Hz sine. Returns
/// its interleaved samples.
pub fn write_tone(path: &Path, seconds: f64) -> Vec<i16> {
    let spec = hound::WavSpec {
        channels: 2,
        sample_rate: 48_000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).expect("wav");
    let n = (48_000.0 * seconds) as usize;
    let mut all = Vec::with_capacity(2 * n);
    for i in 0..n {
        let t = i as f64 / 48_000.0;
        for f in [440.0, 660.0] {
            let v = ((2.0 * std::f64::consts::PI * f * t).sin() * 12_000.0) as i16;
            w.write_sample(v).expect("sample");
            all.push(v);
        }
    }
    w.finalize().expect("finalize");
    all
}

/// Stereo test signal of the live tests: left 440 Hz, right 660 Hz (amplitude 0.3), interleaved,
/// `frames` frames from frame `pos`.
pub fn tone(pos: u64, frames: usize) -> Vec<f32> {
    (0..frames)
        .flat_map(|i| {
            let t = (pos + i as u64) as f64 / 48_000.0;
            [
                (t * 440.0 * std::f64::consts::TAU).sin() as f32 * 0.3,
                (t * 660.0 * std::f64::consts::TAU).sin() as f32 * 0.3,
            ]
        })
        .collect()
}

/// Waits until the relay counts `n` listeners of stream `id` (its per-stream gauge goes up in
/// the same step as the subscription), so that audio produced next provably reaches them.
pub async fn listening(s: &Server, id: &str, n: u64) {
    let name = format!("relay_live_listeners{{stream=\"{id}\"}}");
    let t0 = std::time::Instant::now();
    loop {
        let (_, body) = s.get("/metrics");
        let have = body
            .lines()
            .find_map(|l| l.strip_prefix(name.as_str()).and_then(|v| v.trim().parse::<u64>().ok()))
            .unwrap_or(0);
        if have >= n {
            return;
        }
        assert!(t0.elapsed() < std::time::Duration::from_secs(30), "{n} listeners of {id} within 30 s (have {have})");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}
