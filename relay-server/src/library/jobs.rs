//! Producer threads: a library stream is decoded (and for Opus encoded) on a thread of its own,
//! never on the async executor, with back-pressure through a bounded channel.

use std::path::{Path, PathBuf};

use stream_core::control::ErrorCode;
use stream_core::STREAM_SAMPLE_RATE;
use tokio::sync::mpsc;

use crate::media::decode::PcmReader;
use crate::media::{MediaError, StreamEvent};

/// A running producer: its channel and what is known of the stream.
pub struct StreamJob {
    pub rx: mpsc::Receiver<StreamEvent>,
    pub channels: usize,
    pub start_sample: u64,
    pub total_samples: Option<u64>,
    /// Opus encoder delay (RFC 7845 pre-skip); 0 for PCM.
    pub pre_skip: u32,
}

/// Opens `path` at `start_sample` (48 kHz frames) and spawns the PCM producer thread. The
/// channel holds `queue_packets` packets: the thread blocks when the session is not sending.
pub fn start_pcm(
    path: PathBuf,
    start_sample: u64,
    frames_per_packet: usize,
    queue_packets: usize,
) -> Result<StreamJob, MediaError> {
    let mut reader = PcmReader::open(&path, start_sample)?;
    let channels = reader.channels;
    let total_samples = reader.total_frames();
    check_start(start_sample, total_samples)?;
    let (tx, rx) = mpsc::channel(queue_packets.max(1));
    spawn_named(&path, "pcm", move || {
        let send = |ev: StreamEvent| tx.blocking_send(ev).is_ok();
        loop {
            let mut samples = Vec::with_capacity(frames_per_packet * channels);
            let sample_pos = reader.position();
            match reader.read(frames_per_packet, &mut samples) {
                Ok(0) => break,
                Ok(_) => {
                    if !send(StreamEvent::Pcm { sample_pos, samples }) {
                        return; // the session is gone
                    }
                }
                Err(e) => {
                    let _ = send(StreamEvent::Error(e));
                    return;
                }
            }
        }
        let _ = send(end_event(reader.position(), total_samples));
    })?;
    Ok(StreamJob { rx, channels, start_sample, total_samples, pre_skip: 0 })
}

/// Refuses a start at or past the end of a track of known length.
pub fn check_start(start_sample: u64, total_samples: Option<u64>) -> Result<(), MediaError> {
    match total_samples {
        Some(total) if start_sample >= total => Err(MediaError::new(
            ErrorCode::InvalidParameter,
            format!("position is past the end of the track ({:.3} s)", total as f64 / STREAM_SAMPLE_RATE as f64),
        )),
        _ => Ok(()),
    }
}

/// `End`, or `MediaTruncated` when the file ended before its declared length.
pub fn end_event(total: u64, expected: Option<u64>) -> StreamEvent {
    match expected {
        Some(expected) if total < expected => StreamEvent::Error(MediaError::new(
            ErrorCode::MediaTruncated,
            format!("file ends after {total} of its declared {expected} frames (48 kHz)"),
        )),
        _ => StreamEvent::End { total_samples: total },
    }
}

/// Spawns a named producer thread.
pub fn spawn_named(path: &Path, kind: &str, f: impl FnOnce() + Send + 'static) -> Result<(), MediaError> {
    let name = format!("{kind}-{}", path.file_name().and_then(|n| n.to_str()).unwrap_or("?"));
    std::thread::Builder::new()
        .name(name)
        .spawn(f)
        .map(|_| ())
        .map_err(|e| MediaError::new(ErrorCode::Internal, format!("cannot start producer thread: {e}")))
}
