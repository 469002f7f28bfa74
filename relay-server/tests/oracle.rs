//! ffmpeg is the oracle for decoding: for every file of the demo library, what a listener
//! receives (`relay-client fetch`, codec pcm_f32) is compared with ffmpeg's decode of the same
//! file. 48 kHz sources must match sample for sample within a per-codec tolerance; other rates
//! are compared with ffmpeg's decode resampled to 48 kHz by soxr (precision 28 bits), by
//! signal-to-difference ratio, with exact length and alignment.

mod common;

use std::process::Command;

use common::{media_dir, read_wav, Server};

/// Largest sample difference allowed against ffmpeg for 48 kHz sources, by codec. Lossless
/// codecs must be bit-exact (both sides divide the integer sample by 2^15). Lossy decoders do
/// the same arithmetic in different orders and precisions (float IMDCT, synthesis windows):
/// measured here under 2e-6; the bound is one 16-bit step, 2^-15 (-90 dBFS), far below
/// audibility yet it catches any misalignment, gain or dropped-packet error.
fn tolerance(codec: &str) -> f32 {
    match codec {
        "flac" | "pcm_s16le" | "wav" | "pcm" | "alac" => 0.0,
        _ => 1.0 / 32768.0,
    }
}

/// Least signal-to-difference ratio against ffmpeg+soxr for resampled sources. Two good
/// resamplers differ only in their transition bands near Nyquist (rubato's FFT resampler
/// passes a little more of 20-22 kHz than soxr's default); the library's masters are
/// band-limited at 18 kHz as delivered music is, and agree to 86 dB (FLAC) and 106 dB (MP3).
const MIN_RESAMPLED_SDR_DB: f64 = 80.0;

fn ffmpeg_decode_48k(path: &std::path::Path, resample: bool) -> (Vec<f32>, String) {
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-nostdin", "-hide_banner", "-loglevel", "warning", "-i"]).arg(path);
    if resample {
        cmd.args(["-af", "aresample=48000:resampler=soxr:precision=28"]);
    }
    cmd.args(["-f", "f32le", "-acodec", "pcm_f32le", "-"]);
    let out = cmd.output().expect("run ffmpeg (make setup installs it)");
    assert!(out.status.success(), "ffmpeg failed: {}", String::from_utf8_lossy(&out.stderr));
    let samples = out.stdout.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
    (samples, String::from_utf8_lossy(&out.stderr).into_owned())
}

fn sdr_db(reference: &[f32], ours: &[f32], ch: usize, lag: isize) -> f64 {
    let frames = reference.len() / ch;
    let (mut sig, mut diff) = (0f64, 0f64);
    for i in 0..frames {
        let j = i as isize + lag;
        if j < 0 || j as usize >= frames {
            continue;
        }
        for c in 0..ch {
            let r = reference[i * ch + c] as f64;
            let o = ours[j as usize * ch + c] as f64;
            sig += r * r;
            diff += (r - o) * (r - o);
        }
    }
    10.0 * (sig / diff.max(1e-30)).log10()
}

#[test]
fn every_library_file_matches_ffmpeg() {
    let media = media_dir();
    let server = Server::start(&media);
    let tracks = server.tracks();
    assert!(tracks.len() >= 7, "the demo library has at least 7 files");
    let tmp = tempfile::tempdir().expect("tempdir");
    for t in &tracks {
        let name = t["file_name"].as_str().expect("file_name");
        let id = t["id"].as_str().expect("id");
        let codec = t["codec"].as_str().expect("codec");
        let rate = t["sample_rate"].as_u64().expect("rate");
        assert!(t["artist"].is_string() && t["album"] == "Demo Library", "{name}: tags are read: {t}");
        let out = tmp.path().join(format!("{name}.wav"));
        let status = Command::new(env!("CARGO_BIN_EXE_relay-client"))
            .args(["fetch", "--server", &server.url(), "--track", id, "--codec", "pcm_f32", "--out"])
            .arg(&out)
            .status()
            .expect("run relay-client");
        assert!(status.success(), "relay-client fetch {name} failed");
        let (ours, ch, out_rate) = read_wav(&out);
        assert_eq!(out_rate, 48_000);
        assert_eq!(ch as u64, t["channels"].as_u64().expect("channels"));
        let (reference, warnings) = ffmpeg_decode_48k(&media.join(name), rate != 48_000);
        // ffmpeg notes that a plain WAV has no channel mask; anything else is a real warning.
        let warnings: Vec<&str> = warnings.lines().filter(|l| !l.contains("Guessed Channel Layout")).collect();
        assert!(warnings.is_empty(), "ffmpeg warned on {name}: {warnings:?}");
        assert_eq!(ours.len(), reference.len(), "{name}: length differs from ffmpeg's (in samples)");
        assert_eq!(
            ours.len() as u64 / ch as u64,
            t["total_samples"].as_u64().expect("total"),
            "{name}: length differs from the announced total"
        );
        if rate == 48_000 {
            let max_diff = ours.iter().zip(&reference).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
            let tol = tolerance(codec);
            println!(
                "ORACLE {name}: codec {codec}, 48 kHz, max |diff| {max_diff:.3e} (tolerance {tol:.3e}), SDR {:.1} dB",
                sdr_db(&reference, &ours, ch, 0)
            );
            assert!(max_diff <= tol, "{name}: max difference {max_diff} exceeds {tol}");
        } else {
            let at = |lag| sdr_db(&reference, &ours, ch, lag);
            let sdr = at(0);
            let best_other = [-2isize, -1, 1, 2].into_iter().map(at).fold(f64::MIN, f64::max);
            println!("ORACLE {name}: codec {codec}, {rate} Hz -> 48 kHz, SDR vs ffmpeg+soxr {sdr:.1} dB (best at another lag {best_other:.1} dB)");
            assert!(sdr >= MIN_RESAMPLED_SDR_DB, "{name}: SDR {sdr:.1} dB < {MIN_RESAMPLED_SDR_DB} dB");
            assert!(sdr > best_other + 10.0, "{name}: not aligned at lag 0");
        }
    }
}
