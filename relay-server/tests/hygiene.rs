//! Connection hygiene of the real relay-server: heartbeat pings and the timeout of a peer that
//! stops answering, the message-rate cap, and HTTPS/WSS with rustls (a certificate the test
//! makes with openssl).

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::ws::connect;
use common::{media_dir, Server};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;

#[tokio::test]
async fn peers_are_pinged_and_one_that_stops_answering_is_closed_with_1001() {
    let s = Server::start_with(&media_dir(), &["--ws-ping-interval-s", "1", "--ws-timeout-s", "2"]);
    // Reads all the time: tungstenite answers every ping, so it stays.
    let mut alive = connect(&s).await;
    // Never reads (so never answers a ping) after its connect.
    let mut silent = connect(&s).await;
    let t0 = Instant::now();
    let mut pings = 0;
    while t0.elapsed() < Duration::from_millis(4500) {
        match tokio::time::timeout(Duration::from_millis(200), alive.next()).await {
            Ok(Some(Ok(Message::Ping(_)))) => pings += 1,
            Ok(Some(Ok(m))) => panic!("unexpected {m:?}"),
            Ok(other) => panic!("the answering peer was dropped: {other:?}"),
            Err(_) => {}
        }
    }
    assert!(pings >= 3, "pings every second: got {pings}");
    // The silent one: its pings are queued, then a close 1001 with a reason.
    let close = loop {
        match tokio::time::timeout(Duration::from_secs(5), silent.next()).await.expect("a close") {
            Some(Ok(Message::Close(f))) => break f.expect("close frame"),
            Some(Ok(Message::Ping(_))) => continue,
            other => panic!("expected pings then a close, got {other:?}"),
        }
    };
    assert_eq!(close.code, CloseCode::Away);
    assert!(close.reason.contains("no message or pong for 2 s"), "{}", close.reason);
    // The answering peer still works.
    alive.send(Message::text(json!({"type": "ping", "data": {"id": 7}}).to_string())).await.expect("send");
    loop {
        match tokio::time::timeout(Duration::from_secs(5), alive.next()).await.expect("pong") {
            Some(Ok(Message::Text(t))) => {
                let v: Value = serde_json::from_str(&t).expect("json");
                assert_eq!(v["type"], "pong");
                break;
            }
            Some(Ok(Message::Ping(_))) => continue,
            other => panic!("{other:?}"),
        }
    }
    println!(
        "heartbeat: {pings} pings in 4.5 s to the answering peer; the silent one closed with 1001: {}",
        close.reason
    );
}

#[tokio::test]
async fn a_connection_over_the_message_rate_is_closed_with_1008_and_others_are_not() {
    let s = Server::start_with(&media_dir(), &["--max-messages-per-s", "10"]);
    // 5 messages per second for 3 s: within the rate.
    let mut calm = connect(&s).await;
    let mut flood = connect(&s).await;
    let t0 = Instant::now();
    for i in 0..15u64 {
        calm.send(Message::text(json!({"type": "ping", "data": {"id": i}}).to_string())).await.expect("send");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // 200 at once: more than the burst of 20.
    for i in 0..200u64 {
        if flood.send(Message::text(json!({"type": "ping", "data": {"id": i}}).to_string())).await.is_err() {
            break;
        }
    }
    let (mut pongs, mut error, mut close) = (0, None, None);
    while let Ok(Some(Ok(m))) = tokio::time::timeout(Duration::from_secs(5), flood.next()).await {
        match m {
            Message::Text(t) => {
                let v: Value = serde_json::from_str(&t).expect("json");
                if v["type"] == "pong" {
                    pongs += 1;
                } else {
                    error = Some(v);
                }
            }
            Message::Close(f) => {
                close = f;
                break;
            }
            _ => {}
        }
    }
    let error = error.expect("an error before the close");
    assert_eq!(error["data"]["code"], "too_many_messages", "{error}");
    let close = close.expect("a close frame");
    assert_eq!(close.code, CloseCode::Policy);
    assert!(close.reason.contains("10 messages per second"), "{}", close.reason);
    assert!((20..=40).contains(&pongs), "the burst is answered before the cap: {pongs} pongs");
    // The calm connection got all its answers and is still open.
    let mut calm_pongs = 0;
    while calm_pongs < 15 {
        match tokio::time::timeout(Duration::from_secs(5), calm.next()).await.expect("pong") {
            Some(Ok(Message::Text(_))) => calm_pongs += 1,
            Some(Ok(Message::Ping(_))) => {}
            other => panic!("the calm connection: {other:?}"),
        }
    }
    println!(
        "rate cap 10/s: the flood got {pongs} answers, then too_many_messages and 1008 ({}); the calm one 15/15 over {:?}",
        close.reason,
        t0.elapsed()
    );
}

/// A self-signed certificate for 127.0.0.1 (openssl, made here).
fn make_cert(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let st = std::process::Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2"])
        .args(["-subj", "/CN=relay-test", "-addext", "subjectAltName=IP:127.0.0.1"])
        .args(["-addext", "basicConstraints=critical,CA:FALSE", "-addext", "extendedKeyUsage=serverAuth"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(std::process::Stdio::null())
        .status()
        .expect("openssl");
    assert!(st.success(), "openssl req failed");
    (cert, key)
}

async fn tls_connect(addr: &str, cert: &Path) -> tokio_rustls::client::TlsStream<tokio::net::TcpStream> {
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
    let mut roots = tokio_rustls::rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(cert).expect("cert") {
        roots.add(c.expect("cert")).expect("root");
    }
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let config = tokio_rustls::rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(addr).await.expect("tcp");
    let name = ServerName::try_from("127.0.0.1").expect("name").to_owned();
    tokio_rustls::TlsConnector::from(Arc::new(config)).connect(name, tcp).await.expect("TLS handshake")
}

#[tokio::test]
async fn https_and_wss_with_a_certificate_from_the_command_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (cert, key) = make_cert(dir.path());
    let s = Server::start_with(
        &media_dir(),
        &["--tls-cert", cert.to_str().expect("utf8"), "--tls-key", key.to_str().expect("utf8")],
    );
    // HTTPS.
    let mut tls = tls_connect(&s.addr, &cert).await;
    tls.write_all(format!("GET /healthz HTTP/1.0\r\nHost: {}\r\n\r\n", s.addr).as_bytes()).await.expect("write");
    let mut resp = Vec::new();
    tls.read_to_end(&mut resp).await.ok();
    let text = String::from_utf8_lossy(&resp);
    assert!(text.starts_with("HTTP/1.0 200") || text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.contains("\"status\":\"ok\""), "{text}");
    // WSS: play a track and receive exact frames.
    let track = {
        let mut tls = tls_connect(&s.addr, &cert).await;
        tls.write_all(format!("GET /api/tracks HTTP/1.0\r\nHost: {}\r\n\r\n", s.addr).as_bytes()).await.expect("write");
        let mut resp = Vec::new();
        tls.read_to_end(&mut resp).await.ok();
        let body = String::from_utf8_lossy(&resp).split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
        let list: Vec<Value> = serde_json::from_str(&body).expect("track list");
        list.into_iter().find(|t| t["file_name"] == "aurora-48k.flac").expect("track")["id"]
            .as_str()
            .expect("id")
            .to_owned()
    };
    let tls = tls_connect(&s.addr, &cert).await;
    let (mut ws, _) = tokio_tungstenite::client_async(format!("wss://{}/ws", s.addr), tls).await.expect("wss upgrade");
    ws.send(Message::text(json!({"type": "play", "data": {"track_id": track, "codec": "pcm_s16"}}).to_string()))
        .await
        .expect("send");
    let (mut started, mut frames, mut next) = (false, 0, 0u64);
    while frames < 50 {
        match tokio::time::timeout(Duration::from_secs(10), ws.next()).await.expect("a message") {
            Some(Ok(Message::Text(t))) => {
                let v: Value = serde_json::from_str(&t).expect("json");
                assert_eq!(v["type"], "audio_stream_start", "{v}");
                started = true;
            }
            Some(Ok(Message::Binary(b))) => {
                let (h, _) = stream_core::wire::FrameHeader::parse(&b).expect("frame");
                assert_eq!(h.sample_pos, next);
                next += h.frame_count as u64;
                frames += 1;
            }
            other => panic!("{other:?}"),
        }
    }
    assert!(started);
    // Plain HTTP to the TLS port gets no HTTP answer.
    let mut plain = tokio::net::TcpStream::connect(&s.addr).await.expect("tcp");
    plain.write_all(format!("GET /healthz HTTP/1.0\r\nHost: {}\r\n\r\n", s.addr).as_bytes()).await.expect("write");
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), plain.read_to_end(&mut answer)).await;
    assert!(!answer.starts_with(b"HTTP/"), "plain HTTP must not be served on the TLS port");
    println!("TLS: HTTPS /healthz 200, WSS {frames} contiguous frames ({next} samples), plain HTTP refused");
}
