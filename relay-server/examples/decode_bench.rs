//! `decode_bench MEDIA_DIR`: throughput of the relay's pipelines as multiples of real time, next
//! to `ffmpeg -threads 1` doing the same work on the same file in the same run:
//! - decode + resample to 48 kHz (ffmpeg: soxr, f32 out) -> `decode_vs_ffmpeg`;
//! - decode + resample + Opus 128 kbit/s (ffmpeg: `-ar 48000 -c:a libopus -b:a 128k -f ogg`)
//!   -> `pipeline_vs_ffmpeg`. Ours encodes with the cache off, chunk pre-roll included.
//!
//! Both sides read the same file, warm in the page cache, the same number of times. ffmpeg's
//! process start-up is measured on its own (the same command on 20 ms of the file) and the loop
//! count is raised until start-up is under 2 % of ffmpeg's timed run (printed per case).
//!
//! Prints BENCH lines.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use std::sync::Arc;

use relay_server::library::cache::PacketCache;
use relay_server::library::opus_job::{start_opus, OpusSource};
use relay_server::media::decode::decode_all;
use relay_server::media::opus::OpusSettings;
use relay_server::media::StreamEvent;
use stream_core::control::OpusParams;

const RUNS: usize = 3;
/// Most of one run that ffmpeg's process start-up may be.
const MAX_STARTUP_SHARE: f64 = 0.02;

fn best_of<F: FnMut()>(mut f: F) -> f64 {
    (0..RUNS)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .fold(f64::MAX, f64::min)
}

/// Best-of-`RUNS` seconds for `ffmpeg -threads 1` to read `path` `loops` times through
/// `output_args` into /dev/null (`limit_s`: only that much of the input, for start-up).
fn ffmpeg_run(path: &Path, loops: usize, limit_s: Option<f64>, output_args: &[&str]) -> f64 {
    best_of(|| {
        let mut c = Command::new("ffmpeg");
        c.args(["-nostdin", "-v", "error", "-threads", "1", "-stream_loop", &(loops - 1).to_string(), "-i"]).arg(path);
        if let Some(t) = limit_s {
            c.args(["-t", &t.to_string()]);
        }
        let status = c.args(output_args).args(["-y", "/dev/null"]).stdout(Stdio::null()).status().expect("ffmpeg");
        assert!(status.success());
    })
}

/// ffmpeg's seconds for `loops` passes over `path`, with the loop count raised (from 10) until
/// its process start-up (the same command on 20 ms of audio) is under `MAX_STARTUP_SHARE` of the
/// run: (loops, seconds).
fn ffmpeg_secs(path: &Path, output_args: &[&str]) -> (usize, f64) {
    let startup = ffmpeg_run(path, 1, Some(0.02), output_args);
    let mut loops = 10;
    loop {
        let secs = ffmpeg_run(path, loops, None, output_args);
        let share = startup / secs;
        if share < MAX_STARTUP_SHARE || loops >= 2000 {
            println!(
                "# ffmpeg start-up {:.1} ms = {:.2} % of its run ({loops} passes over the file, {secs:.2} s)",
                startup * 1000.0,
                share * 100.0
            );
            assert!(share < MAX_STARTUP_SHARE, "ffmpeg's start-up stays {:.1} % of its run", share * 100.0);
            return (loops, secs);
        }
        loops = ((loops as f64 * share / (MAX_STARTUP_SHARE / 2.0)).ceil() as usize).max(loops + 1);
    }
}

fn main() {
    let media = std::env::args().nth(1).unwrap_or_else(|| "media".into());
    let cases = [("aurora-44k.flac", "flac44"), ("aurora-44k.mp3", "mp344"), ("aurora-48k.ogg", "vorbis48")];
    let mut ratios = Vec::new();
    for (file, tag) in cases {
        let path = Path::new(&media).join(file);
        let (samples, ch) = decode_all(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let (loops, ffmpeg) = ffmpeg_secs(&path, &["-af", "aresample=48000:resampler=soxr", "-f", "f32le"]);
        let audio_s = loops as f64 * samples.len() as f64 / ch as f64 / 48_000.0;
        let ours = best_of(|| {
            for _ in 0..loops {
                let (s, _) = decode_all(&path).expect("decode");
                std::hint::black_box(s);
            }
        });
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
    let (loops, ffmpeg) = ffmpeg_secs(&path, &["-ar", "48000", "-c:a", "libopus", "-b:a", "128k", "-f", "ogg"]);
    let (samples, ch) = decode_all(&path).expect("decode");
    let audio_s = loops as f64 * samples.len() as f64 / ch as f64 / 48_000.0;
    let ours = best_of(|| {
        for _ in 0..loops {
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
    let (ours_x, ff_x) = (audio_s / ours, audio_s / ffmpeg);
    println!("aurora-44k.flac -> opus 128k: ours {ours_x:.0}x real time, ffmpeg -threads 1 {ff_x:.0}x");
    println!("BENCH pipeline_x_realtime {ours_x:.1} x");
    println!("BENCH ffmpeg_pipeline_x_realtime {ff_x:.1} x");
    println!("BENCH pipeline_vs_ffmpeg {:.3} ratio", ours_x / ff_x);
}
