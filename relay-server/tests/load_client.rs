//! `relay-client load` judges listeners by what they played, not by what connected: against tiny
//! fake servers on 127.0.0.1 (the one place a fake server is right: a relay that misbehaves on
//! purpose), a listener that connects and receives no audio fails, one that gets a burst and
//! then nothing fails, and one fed in real time passes (the control that proves the criteria can
//! pass at all).

use std::process::Command;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use stream_core::wire::{encode_pcm_frame, Codec};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message;

const LISTENERS: usize = 4;
const HOLD_S: &str = "3";

/// What a fake WebSocket server does after a listener's `listen` message.
#[derive(Clone, Copy)]
enum Feed {
    /// Accepts and sends nothing.
    Nothing,
    /// Sends 1 s of audio at once, then nothing (the connection stays open).
    BurstThenSilence,
    /// Sends a 1 s burst, then 100 ms frames in real time.
    RealTime,
}

async fn fake_ws_server(feed: Feed) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    tokio::spawn(async move {
        loop {
            let Ok((sock, _)) = listener.accept().await else { return };
            tokio::spawn(async move {
                let Ok(mut ws) = tokio_tungstenite::accept_async(sock).await else { return };
                // The listener's `listen` request.
                let _ = ws.next().await;
                let frame = |pos: u64| {
                    let mut out = Vec::new();
                    encode_pcm_frame(Codec::PcmF32, 2, 0, 1, pos, &[0.1f32; 2 * 4800], &mut out).expect("frame");
                    Message::binary(out)
                };
                match feed {
                    Feed::Nothing => {}
                    Feed::BurstThenSilence | Feed::RealTime => {
                        let start = r#"{"type":"audio_stream_start","data":{"session":1,"codec":"pcm_f32","sample_rate":48000,"channels":2}}"#;
                        let _ = ws.send(Message::text(start)).await;
                        let mut pos = 0u64;
                        for _ in 0..10 {
                            let _ = ws.send(frame(pos)).await;
                            pos += 4800;
                        }
                        if matches!(feed, Feed::RealTime) {
                            let mut tick = tokio::time::interval(Duration::from_millis(100));
                            loop {
                                tick.tick().await;
                                if ws.send(frame(pos)).await.is_err() {
                                    return;
                                }
                                pos += 4800;
                            }
                        }
                    }
                }
                // Hold the connection open, reading (and so answering pings) until the client goes.
                while let Some(Ok(_)) = ws.next().await {}
            });
        }
    });
    addr
}

/// A fake HTTP Ogg server: answers 200 with an Ogg content type and never sends a byte of body.
async fn fake_http_server_sending_nothing() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else { return };
            tokio::spawn(async move {
                let mut req = [0u8; 1024];
                let _ = sock.read(&mut req).await;
                let _ = sock.write_all(b"HTTP/1.0 200 OK\r\nContent-Type: application/ogg\r\n\r\n").await;
                let mut rest = [0u8; 64];
                while matches!(sock.read(&mut rest).await, Ok(n) if n > 0) {}
            });
        }
    });
    addr
}

/// Runs `relay-client load` (the real binary) and returns its LOAD line as key/value pairs.
async fn load(args: Vec<String>) -> std::collections::HashMap<String, String> {
    let out = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_relay-client"))
            .args(["load", "--listeners", &LISTENERS.to_string(), "--seconds", HOLD_S, "--ramp-per-s", "100"])
            .args(&args)
            .output()
            .expect("run relay-client load")
    })
    .await
    .expect("join");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "relay-client load: {stdout} {}", String::from_utf8_lossy(&out.stderr));
    let line = stdout.lines().find(|l| l.starts_with("LOAD ")).unwrap_or_else(|| panic!("no LOAD line: {stdout}"));
    println!("{line}");
    line.split(' ').skip(1).filter_map(|kv| kv.split_once('=')).map(|(k, v)| (k.to_owned(), v.to_owned())).collect()
}

fn ws_args(addr: &str) -> Vec<String> {
    ["--server", &format!("http://{addr}"), "--stream", "s", "--token", "t", "--codec", "pcm_f32"]
        .map(String::from)
        .to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listener_that_receives_no_audio_fails() {
    let addr = fake_ws_server(Feed::Nothing).await;
    let r = load(ws_args(&addr)).await;
    assert_eq!(r["listeners"], LISTENERS.to_string());
    assert_eq!(r["ok"], "0", "connected but silent listeners are not OK: {r:?}");
    assert_eq!(r["never_started"], LISTENERS.to_string(), "{r:?}");
    // Their wait counts in the join percentiles (the whole hold), not left out.
    let p50: f64 = r["join_ms_p50"].parse().expect("join p50");
    assert!(p50 >= 3000.0, "a listener that never joined counts its whole wait: {r:?}");

    let addr = fake_http_server_sending_nothing().await;
    let r = load(vec!["--http".into(), format!("http://{addr}/live/s.ogg")]).await;
    assert_eq!(r["ok"], "0", "HTTP: a 200 with no body is not OK: {r:?}");
    assert_eq!(r["never_started"], LISTENERS.to_string(), "{r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listener_fed_a_burst_and_then_nothing_fails() {
    let addr = fake_ws_server(Feed::BurstThenSilence).await;
    let r = load(ws_args(&addr)).await;
    assert_eq!(r["ok"], "0", "1 s of a 3 s hold is under 90 %: {r:?}");
    assert_eq!(r["never_started"], "0", "{r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listener_fed_in_real_time_passes() {
    let addr = fake_ws_server(Feed::RealTime).await;
    let r = load(ws_args(&addr)).await;
    assert_eq!(r["ok"], LISTENERS.to_string(), "real-time audio from the first second: {r:?}");
    assert_eq!(r["short"], "0", "{r:?}");
}
