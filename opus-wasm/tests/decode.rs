//! The wasm decoder's code, compiled natively, against libopus as the oracle.
//!
//! Packets: the demo library's music (media/aurora-48k.flac, decoded with symphonia) and voice
//! (media/welcome-voice-48k.wav, espeak-ng) encoded by libopus exactly as the relay encodes
//! them (relay-server/src/opus_stream.rs `OpusSettings::encoder`: application audio,
//! complexity 10, VBR, signal music or voice), each profile at its default and at half its
//! bitrate. They are decoded by Debian's libopus (1.3.1) and by [`StreamDecoder`] (opus-rs, a
//! port of libopus 1.6.1), and compared sample by sample:
//! - clean decode: SNR of ours against libopus at least [`CLEAN_SNR_MIN_DB`];
//! - 5% of the packets lost (concealed by both): no sample beyond ±1; no concealed frame louder
//!   than the frame before it + 6 dB (unless below [`QUIET_RMS`]); SNR against libopus from the
//!   tenth packet after a loss on at least [`RECOVERED_SNR_MIN_DB`], from the twentieth on at
//!   least [`CONVERGED_SNR_MIN_DB`] (the states have converged); against the loss-free decode, from
//!   the third packet on, at most 6 dB below libopus' own recovery;
//! - garbage (random bytes, real packets mutated and cut short): never a panic, every output
//!   sample finite and within ±1, and the decoder decodes real packets again after a reset;
//! - packet durations (which size the output) agree with libopus for every ToC.
//!
//! `make media` builds the library these read.

use std::path::{Path, PathBuf};

use opus::{Application, Bitrate, Channels, Encoder, Signal};
use opus_wasm::{packet_frames, DecodeError, StreamDecoder, OD_MAX_FRAMES, OD_MAX_PACKET_BYTES, PLC_FRAMES};

/// Frames per packet: the relay sends 20 ms packets.
const PACKET_FRAMES: usize = 960;
/// Clean decode against libopus. The two decoders differ only by float rounding (opus-rs
/// follows libopus' float path operation by operation): measured 139 dB on music and 154 dB on
/// voice (printed by the test; docs/opus.md), so 100 dB leaves room for a compiler's
/// reassociation while still failing on any real divergence (an off-by-one sample, a wrong
/// table entry or a missed state update costs 20 to 60 dB).
const CLEAN_SNR_MIN_DB: f64 = 100.0;
/// After a loss, from the tenth packet (200 ms) on. Debian's libopus 1.3.1 and opus-rs (1.6.1)
/// conceal CELT differently (8 dB apart on the concealed music packet), and the difference
/// decays as the decoders' states converge, 5 to 8 dB a packet: from the third packet on it is
/// 26 dB on music (49 dB on voice), from the tenth on 74 dB (89 dB).
const RECOVERED_SNR_MIN_DB: f64 = 40.0;
/// After a loss, from the twentieth packet (400 ms) on. Usually the states have converged to
/// float rounding (155 dB on voice) but not always: the voice clip resampled with nine different
/// dither seeds (sox's default dither is random) gave 155 dB on most, 116-120 dB on three, and
/// 62-69 dB on two (SILK's concealment leaves a difference -60 dB under the signal that decays
/// slowly). A decoder that had not recovered would be near the loss-free figures below, 10-30 dB.
const CONVERGED_SNR_MIN_DB: f64 = 50.0;
/// Concealed frames this quiet (-40 dBFS) are not checked for bursts: concealing the first
/// packets of an onset can double a near-silent level (libopus does the same).
const QUIET_RMS: f64 = 0.01;

struct Profile {
    name: &'static str,
    channels: usize,
    bitrate: i32,
    voice: bool,
}

const PROFILES: [Profile; 4] = [
    Profile { name: "music 128k stereo", channels: 2, bitrate: 128_000, voice: false },
    Profile { name: "music 64k stereo", channels: 2, bitrate: 64_000, voice: false },
    Profile { name: "voice 32k mono", channels: 1, bitrate: 32_000, voice: true },
    Profile { name: "voice 16k mono", channels: 1, bitrate: 16_000, voice: true },
];

fn media(file: &str) -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("media").join(file);
    assert!(p.exists(), "{} is missing: run `make media` first", p.display());
    p
}

/// The first `seconds` of the music track, 48 kHz interleaved stereo.
fn music(seconds: usize) -> Vec<f32> {
    use symphonia::core::codecs::audio::AudioDecoderOptions;
    use symphonia::core::formats::probe::Hint;
    use symphonia::core::formats::{FormatOptions, TrackType};
    use symphonia::core::io::MediaSourceStream;
    use symphonia::core::meta::MetadataOptions;

    let file = std::fs::File::open(media("aurora-48k.flac")).expect("open music");
    let mss = MediaSourceStream::new(Box::new(file), Default::default());
    let mut hint = Hint::new();
    hint.with_extension("flac");
    let mut format = symphonia::default::get_probe()
        .probe(&hint, mss, FormatOptions::default(), MetadataOptions::default())
        .expect("probe music");
    let track = format.default_track(TrackType::Audio).expect("audio track");
    let track_id = track.id;
    let params = track.codec_params.as_ref().and_then(|p| p.audio()).expect("audio params").clone();
    assert_eq!(params.sample_rate, Some(48_000));
    assert_eq!(params.channels.as_ref().map(|c| c.count()), Some(2));
    let mut decoder = symphonia::default::get_codecs()
        .make_audio_decoder(&params, &AudioDecoderOptions::default())
        .expect("flac decoder");
    let want = seconds * 48_000 * 2;
    let (mut out, mut scratch) = (Vec::with_capacity(want), Vec::new());
    while out.len() < want {
        let Some(packet) = format.next_packet().expect("demux") else { break };
        if packet.track_id != track_id {
            continue;
        }
        let buf = decoder.decode(&packet).expect("decode flac");
        scratch.clear();
        buf.copy_to_vec_interleaved(&mut scratch);
        out.extend_from_slice(&scratch);
    }
    out.truncate(want);
    out
}

/// The spoken clip, 48 kHz mono.
fn voice() -> Vec<f32> {
    let mut r = hound::WavReader::open(media("welcome-voice-48k.wav")).expect("open voice");
    let spec = r.spec();
    assert_eq!((spec.sample_rate, spec.channels, spec.bits_per_sample), (48_000, 1, 16));
    r.samples::<i16>().map(|s| s.expect("voice sample") as f32 / 32768.0).collect()
}

/// 20 ms packets of `pcm` from libopus, set up as the relay's encoder.
fn encode(pcm: &[f32], p: &Profile) -> Vec<Vec<u8>> {
    let ch = if p.channels == 1 { Channels::Mono } else { Channels::Stereo };
    let mut enc = Encoder::new(48_000, ch, Application::Audio).expect("encoder");
    enc.set_bitrate(Bitrate::Bits(p.bitrate)).expect("bitrate");
    enc.set_complexity(10).expect("complexity");
    enc.set_vbr(true).expect("vbr");
    enc.set_signal(if p.voice { Signal::Voice } else { Signal::Music }).expect("signal");
    let mut buf = vec![0u8; 4000];
    pcm.chunks_exact(PACKET_FRAMES * p.channels)
        .map(|frame| {
            let n = enc.encode_float(frame, &mut buf).expect("encode");
            buf[..n].to_vec()
        })
        .collect()
}

/// Decodes each packet (`None`: lost, concealed as one 20 ms packet) with libopus, clamped
/// to [-1, 1] as ours is.
fn decode_libopus(packets: &[Option<&[u8]>], channels: usize) -> Vec<Vec<f32>> {
    let ch = if channels == 1 { Channels::Mono } else { Channels::Stereo };
    let mut dec = opus::Decoder::new(48_000, ch).expect("libopus decoder");
    let mut out = vec![0f32; OD_MAX_FRAMES * channels];
    packets
        .iter()
        .map(|p| {
            let n = match p {
                Some(p) => dec.decode_float(p, &mut out, false).expect("libopus decode"),
                None => dec.decode_float(&[], &mut out[..PACKET_FRAMES * channels], false).expect("libopus plc"),
            };
            out[..n * channels].iter().map(|s| s.clamp(-1.0, 1.0)).collect()
        })
        .collect()
}

/// Copies `packet` into the decoder's buffer and decodes it, as the Worker does.
fn decode_one(dec: &mut StreamDecoder, packet: &[u8]) -> Result<Vec<f32>, DecodeError> {
    dec.packet_mut()[..packet.len()].copy_from_slice(packet);
    let frames = dec.decode(packet.len())?;
    Ok(dec.output()[..frames * dec.channels()].to_vec())
}

fn decode_ours(packets: &[Option<&[u8]>], channels: usize) -> Vec<Vec<f32>> {
    let mut dec = Box::new(StreamDecoder::new());
    dec.init(channels).expect("init");
    packets
        .iter()
        .map(|p| match p {
            Some(p) => decode_one(&mut dec, p).expect("our decode"),
            None => {
                let n = dec.decode(0).expect("our plc");
                assert_eq!(n, PLC_FRAMES);
                dec.output()[..n * channels].to_vec()
            }
        })
        .collect()
}

fn snr_db<'a>(pairs: impl Iterator<Item = (&'a [f32], &'a [f32])>) -> f64 {
    let (mut sig, mut err) = (0f64, 0f64);
    for (ours, reference) in pairs {
        assert_eq!(ours.len(), reference.len(), "frame lengths differ");
        for (a, b) in ours.iter().zip(reference) {
            sig += (*b as f64).powi(2);
            err += (*a as f64 - *b as f64).powi(2);
        }
    }
    if err == 0.0 {
        return f64::INFINITY;
    }
    10.0 * (sig / err).log10()
}

fn rms(x: &[f32]) -> f64 {
    (x.iter().map(|s| (*s as f64).powi(2)).sum::<f64>() / x.len().max(1) as f64).sqrt()
}

fn assert_bounded(frames: &[Vec<f32>], what: &str) {
    for (i, f) in frames.iter().enumerate() {
        for s in f {
            assert!(s.is_finite() && (-1.0..=1.0).contains(s), "{what}: packet {i} has sample {s}");
        }
    }
}

/// A seeded xorshift64: the same "random" losses and garbage every run.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn packets_of(profile: &Profile) -> Vec<Vec<u8>> {
    let pcm = if profile.voice { voice() } else { music(12) };
    encode(&pcm, profile)
}

#[test]
fn clean_decode_matches_libopus() {
    for p in &PROFILES {
        let packets = packets_of(p);
        let input: Vec<Option<&[u8]>> = packets.iter().map(|p| Some(p.as_slice())).collect();
        let reference = decode_libopus(&input, p.channels);
        let ours = decode_ours(&input, p.channels);
        assert_bounded(&ours, p.name);
        let snr = snr_db(ours.iter().zip(&reference).map(|(a, b)| (a.as_slice(), b.as_slice())));
        let bytes: usize = packets.iter().map(|p| p.len()).sum();
        println!(
            "OPUS clean {}: {} packets, {:.1} kbit/s, SNR vs libopus {:.1} dB",
            p.name,
            packets.len(),
            bytes as f64 * 8.0 / (packets.len() as f64 * 0.02) / 1000.0,
            snr
        );
        assert!(snr >= CLEAN_SNR_MIN_DB, "{}: SNR {snr:.1} dB < {CLEAN_SNR_MIN_DB} dB", p.name);
    }
}

#[test]
fn concealment_is_bounded_and_recovers() {
    for p in &PROFILES {
        let packets = packets_of(p);
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        // 5% lost; never the first packet (nothing to conceal from).
        let lost: Vec<bool> = (0..packets.len()).map(|i| i > 0 && rng.below(100) < 5).collect();
        let input: Vec<Option<&[u8]>> =
            packets.iter().zip(&lost).map(|(p, &l)| if l { None } else { Some(p.as_slice()) }).collect();
        let reference = decode_libopus(&input, p.channels);
        let ours = decode_ours(&input, p.channels);
        assert_bounded(&ours, p.name);

        // No burst: a concealed frame is not louder than the frame before it + 6 dB, unless it
        // is quiet. (libopus 1.3.1 conceals the same losses up to about as loud.)
        let mut louder = f64::NEG_INFINITY;
        for i in (1..ours.len()).filter(|&i| lost[i]) {
            let (now, before) = (rms(&ours[i]), rms(&ours[i - 1]));
            let db = 20.0 * (now / before.max(1e-9)).log10();
            if now > QUIET_RMS {
                louder = louder.max(db);
                assert!(db <= 6.0, "{}: concealed packet {i} is {db:.1} dB louder than the one before", p.name);
            }
        }

        // Against libopus with the same losses, by distance from the last loss (0: concealed).
        let since_loss: Vec<usize> = lost
            .iter()
            .scan(usize::MAX / 2, |d, &l| {
                *d = if l { 0 } else { *d + 1 };
                Some(*d)
            })
            .collect();
        let snr_where = |a: &[Vec<f32>], b: &[Vec<f32>], keep: &dyn Fn(usize) -> bool| {
            snr_db(
                a.iter()
                    .zip(b)
                    .zip(&since_loss)
                    .filter(|(_, &d)| keep(d))
                    .map(|((a, b), _)| (a.as_slice(), b.as_slice())),
            )
        };
        let vs = |keep: &dyn Fn(usize) -> bool| snr_where(&ours, &reference, keep);
        let (concealed, next1, next2) = (vs(&|d| d == 0), vs(&|d| d == 1), vs(&|d| d == 2));
        let (from3, from10, from20) = (vs(&|d| d >= 3), vs(&|d| d >= 10), vs(&|d| d >= 20));
        // Both against the decode without losses: how well each recovers.
        let clean_input: Vec<Option<&[u8]>> = packets.iter().map(|p| Some(p.as_slice())).collect();
        let clean = decode_libopus(&clean_input, p.channels);
        let ours_clean = snr_where(&ours, &clean, &|d| (3..1000).contains(&d));
        let theirs_clean = snr_where(&reference, &clean, &|d| (3..1000).contains(&d));
        println!(
            "OPUS plc {}: {} of {} lost; concealed frames at most {:+.1} dB on the frame before; \
             SNR vs libopus: concealed {:.1} dB, next {:.1}, second {:.1}, from the third on {:.1}, \
             tenth on {:.1}, twentieth on {:.1}; vs the loss-free decode from the third on: \
             ours {:.1} dB, libopus 1.3.1 {:.1} dB",
            p.name,
            lost.iter().filter(|&&l| l).count(),
            packets.len(),
            louder,
            concealed,
            next1,
            next2,
            from3,
            from10,
            from20,
            ours_clean,
            theirs_clean
        );
        assert!(from10 >= RECOVERED_SNR_MIN_DB, "{}: from the tenth packet after a loss, SNR {from10:.1} dB", p.name);
        assert!(
            from20 >= CONVERGED_SNR_MIN_DB,
            "{}: from the twentieth packet after a loss, SNR {from20:.1} dB",
            p.name
        );
        assert!(
            ours_clean >= theirs_clean - 6.0,
            "{}: recovers worse than libopus ({ours_clean:.1} vs {theirs_clean:.1} dB)",
            p.name
        );
    }
}

#[test]
fn garbage_never_panics_and_stays_bounded() {
    let music = packets_of(&PROFILES[0]);
    let voice = packets_of(&PROFILES[3]);
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let mut dec = Box::new(StreamDecoder::new());
    let (mut ok, mut refused) = (0usize, 0usize);
    let mut buf = Vec::with_capacity(OD_MAX_PACKET_BYTES);
    // More with OPUS_GARBAGE_ROUNDS (the seed stays the same: a longer run extends this one).
    let rounds: usize = std::env::var("OPUS_GARBAGE_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(6000);
    for round in 0..rounds {
        let channels = 1 + round % 2;
        if round % 200 == 0 {
            dec.init(channels).expect("init");
        }
        let real = if round % 3 == 0 { &voice } else { &music };
        buf.clear();
        match round % 5 {
            // Random bytes of random length (any ToC, any framing code).
            0 => (0..1 + rng.below(1500)).for_each(|_| buf.push(rng.next() as u8)),
            // A real packet with a few bytes changed.
            1 | 2 => {
                buf.extend_from_slice(&real[rng.below(real.len())]);
                for _ in 0..1 + rng.below(4) {
                    let i = rng.below(buf.len());
                    buf[i] ^= 1 << rng.below(8);
                }
            }
            // A real packet cut short or with its ToC replaced.
            3 => {
                buf.extend_from_slice(&real[rng.below(real.len())]);
                if rng.below(2) == 0 {
                    buf.truncate(1 + rng.below(buf.len()));
                } else {
                    buf[0] = rng.next() as u8;
                }
            }
            // A real packet decoded as is, between the garbage (the decoder keeps working).
            _ => buf.extend_from_slice(&real[rng.below(real.len())]),
        }
        match decode_one(&mut dec, &buf) {
            Ok(out) => {
                ok += 1;
                for s in &out {
                    assert!(s.is_finite() && (-1.0..=1.0).contains(s), "round {round}: sample {s}");
                }
            }
            Err(DecodeError::InvalidPacket) => refused += 1,
            Err(e) => panic!("round {round}: unexpected {e:?}"),
        }
        if round % 50 == 49 {
            // Concealment after garbage is bounded too.
            let n = dec.decode(0).expect("plc");
            assert!(dec.output()[..n * channels].iter().all(|s| s.is_finite() && s.abs() <= 1.0));
        }
    }
    println!("OPUS garbage: {rounds} packets, {ok} decoded, {refused} refused, no panic, all output within ±1");

    // After a reset, real packets decode exactly as on a fresh decoder.
    dec.init(2).expect("init");
    dec.reset().expect("reset");
    let input: Vec<Option<&[u8]>> = music[..100].iter().map(|p| Some(p.as_slice())).collect();
    let fresh = decode_ours(&input, 2);
    for (i, p) in music[..100].iter().enumerate() {
        assert_eq!(decode_one(&mut dec, p).expect("decode after reset"), fresh[i], "packet {i} after reset");
    }
}

#[test]
fn refuses_what_it_cannot_decode() {
    let mut dec = Box::new(StreamDecoder::new());
    assert_eq!(dec.decode(10), Err(DecodeError::NotInitialized));
    assert_eq!(dec.reset(), Err(DecodeError::NotInitialized));
    assert_eq!(dec.init(0), Err(DecodeError::BadChannels));
    assert_eq!(dec.init(3), Err(DecodeError::BadChannels));
    dec.init(2).expect("init");
    assert_eq!(dec.decode(OD_MAX_PACKET_BYTES + 1), Err(DecodeError::PacketTooLarge));
    assert_eq!(dec.conceal(100), Err(DecodeError::BadFrameCount));
    assert_eq!(dec.conceal(OD_MAX_FRAMES + 120), Err(DecodeError::BadFrameCount));
    // Before any packet, concealment is silence.
    assert_eq!(dec.conceal(OD_MAX_FRAMES), Ok(OD_MAX_FRAMES));
    assert!(dec.output().iter().all(|s| *s == 0.0));
    // Code 3 with a frame count of 0, and a 2-byte code 3 packet of 49 frames: invalid.
    assert_eq!(decode_one(&mut dec, &[0xfb, 0x00]), Err(DecodeError::InvalidPacket));
    assert_eq!(decode_one(&mut dec, &[0xfb, 0x31]), Err(DecodeError::InvalidPacket));
}

#[test]
fn packet_durations_match_libopus() {
    // Every ToC, and for code 3 every frame-count byte: the output is sized by this.
    for toc in 0..=255u8 {
        for count in 0..=255u8 {
            if toc & 3 != 3 && count > 0 {
                continue;
            }
            let packet = [toc, count, 0, 0];
            let theirs =
                opus::packet::get_nb_samples(&packet, 48_000).ok().filter(|&n| (1..=OD_MAX_FRAMES).contains(&n));
            assert_eq!(packet_frames(&packet), theirs, "ToC {toc:#04x}, count byte {count:#04x}");
        }
    }
}
