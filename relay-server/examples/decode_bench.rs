//! `decode_bench MEDIA_DIR`: throughput of the relay's pipelines as multiples of real time, next
//! to `ffmpeg -threads 1` doing the same work on the same file in the same run:
//! - decode + resample to 48 kHz (ffmpeg: soxr, f32 out) -> `decode_vs_ffmpeg`;
//! - decode + resample + Opus 128 kbit/s (ffmpeg: `-ar 48000 -c:a libopus -b:a 128k -f ogg`)
//!   -> `pipeline_vs_ffmpeg`. Ours encodes with the cache off, chunk pre-roll included.
//!
//! Prints BENCH lines.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use std::sync::Arc;

use relay_server::decode::{decode_all, StreamEvent};
use relay_server::opus_stream::{start_opus, OpusSettings, OpusSource, PacketCache};
use stream_core::control::OpusParams;

const RUNS: usize = 3;
/// The file is decoded this many times per run (ffmpeg: `-stream_loop`), so that ffmpeg's
/// process start-up is a small part of what is timed.
const LOOPS: usize = 10;

fn best_of<F: FnMut()>(mut f: F) -> f64 {
    (0..RUNS)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .fold(f64::MAX, f64::min)
}

/// Best-of-`RUNS` seconds for `ffmpeg -threads 1` to read `path` `LOOPS` times through
/// `output_args` into /dev/null.
fn ffmpeg_secs(path: &Path, output_args: &[&str]) -> f64 {
    best_of(|| {
        let status = Command::new("ffmpeg")
            .args(["-nostdin", "-v", "error", "-threads", "1", "-stream_loop", &(LOOPS - 1).to_string(), "-i"])
            .arg(path)
            .args(output_args)
            .args(["-y", "/dev/null"])
            .stdout(Stdio::null())
            .status()
            .expect("ffmpeg");
        assert!(status.success());
    })
}

fn main() {
    let media = std::env::args().nth(1).unwrap_or_else(|| "media".into());
    let cases = [("aurora-44k.flac", "flac44"), ("aurora-44k.mp3", "mp344"), ("aurora-48k.ogg", "vorbis48")];
    let mut ratios = Vec::new();
    for (file, tag) in cases {
        let path = Path::new(&media).join(file);
        let (samples, ch) = decode_all(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let audio_s = LOOPS as f64 * samples.len() as f64 / ch as f64 / 48_000.0;
        let ours = best_of(|| {
            for _ in 0..LOOPS {
                let (s, _) = decode_all(&path).expect("decode");
                std::hint::black_box(s);
            }
        });
        let ffmpeg = ffmpeg_secs(&path, &["-af", "aresample=48000:resampler=soxr", "-f", "f32le"]);
        let (ours_x, ff_x) = (audio_s / ours, audio_s / ffmpeg);
        println!("{file}: ours {ours_x:.0}x real time, ffmpeg -threads 1 {ff_x:.0}x (best of {RUNS})");
        println!("BENCH decode_x_realtime_{tag} {ours_x:.1} x");
        println!("BENCH ffmpeg_x_realtime_{tag} {ff_x:.1} x");
        println!("BENCH decode_vs_ffmpeg_{tag} {:.3} ratio", ours_x / ff_x);
        ratios.push(ours_x / ff_x);
    }
    // The headline figure: the 44.1 kHz FLAC (decode + resample, the common library case).
    println!("BENCH decode_vs_ffmpeg {:.3} ratio", ratios[0]);

    // Decode + resample + Opus encode of the 44.1 kHz FLAC.
    let path = Path::new(&media).join("aurora-44k.flac");
    let audio_s = LOOPS as f64 * 24.0;
    let ours = best_of(|| {
        for _ in 0..LOOPS {
            let src = OpusSource {
                path: path.clone(),
                track_id: "bench".into(),
                settings: OpusSettings::resolve(&OpusParams::default(), 2),
                cache: Arc::new(PacketCache::new(0)),
            };
            let mut job = start_opus(src, 0, 64).expect("opus");
            let mut bytes = 0usize;
            while let Some(ev) = job.rx.blocking_recv() {
                match ev {
                    StreamEvent::Packets { packets, .. } => bytes += packets.iter().map(Vec::len).sum::<usize>(),
                    StreamEvent::End { .. } => break,
                    other => panic!("{other:?}"),
                }
            }
            std::hint::black_box(bytes);
        }
    });
    let ffmpeg = ffmpeg_secs(&path, &["-ar", "48000", "-c:a", "libopus", "-b:a", "128k", "-f", "ogg"]);
    let (ours_x, ff_x) = (audio_s / ours, audio_s / ffmpeg);
    println!("aurora-44k.flac -> opus 128k: ours {ours_x:.0}x real time, ffmpeg -threads 1 {ff_x:.0}x");
    println!("BENCH pipeline_x_realtime {ours_x:.1} x");
    println!("BENCH ffmpeg_pipeline_x_realtime {ff_x:.1} x");
    println!("BENCH pipeline_vs_ffmpeg {:.3} ratio", ours_x / ff_x);
}
