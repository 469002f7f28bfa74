//! Playout: the relay itself as a live stream's producer, playing files out in real time (a
//! stream created with `tracks`). The files come as paths: the transport resolves track ids
//! through the library, so live streams never see the library.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use stream_core::STREAM_SAMPLE_RATE;

use super::{IngestError, Producer, LIVE_FRAME_FRAMES};
use crate::media::decode::PcmReader;

/// The relay plays library tracks out in real time as the stream's producer.
/// A server shutdown ends the stream normally where the audio sent so far ends.
pub fn start_playout(
    mut producer: Producer,
    paths: Vec<PathBuf>,
    looped: bool,
    id: String,
    shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let spawned = std::thread::Builder::new().name(format!("broadcast-{id}")).spawn(move || {
        let t0 = Instant::now();
        let mut sent = 0u64;
        loop {
            for path in &paths {
                let mut reader = match PcmReader::open(path, 0) {
                    Ok(r) => r,
                    Err(e) => {
                        producer.fail(&IngestError::new(e.code, e.message));
                        return;
                    }
                };
                let mut buf = Vec::new();
                loop {
                    buf.clear();
                    let n = match reader.read(LIVE_FRAME_FRAMES, &mut buf) {
                        Ok(0) => break,
                        Ok(n) => n,
                        Err(e) => {
                            producer.fail(&IngestError::new(e.code, e.message));
                            return;
                        }
                    };
                    let stereo: Vec<f32> = match reader.channels {
                        1 => buf.iter().flat_map(|&s| [s, s]).collect(),
                        2 => buf.clone(),
                        c => buf.chunks(c).flat_map(|f| [f[0], f[1]]).collect(),
                    };
                    // Real time: never more than 200 ms ahead of the clock.
                    let due = Duration::from_secs_f64(sent as f64 / STREAM_SAMPLE_RATE as f64);
                    let now = t0.elapsed();
                    if due > now + Duration::from_millis(200) {
                        std::thread::sleep(due - now - Duration::from_millis(200));
                    }
                    if *shutdown.borrow() {
                        producer.end();
                        return;
                    }
                    if producer.push(stereo).is_err() {
                        return;
                    }
                    sent += n as u64;
                }
            }
            if !looped {
                break;
            }
        }
        producer.end();
    });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "cannot start a broadcast thread");
    }
}
