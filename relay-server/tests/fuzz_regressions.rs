//! Fuzz regressions on stable: the checked-in cases of `tests/fuzz_cases/decode_media/` (inputs
//! the `decode_media` cargo-fuzz target found, minimized: byte 0 picks the extension hint, the
//! rest is the file) replayed through the very harness file of `fuzz/src/`, which opens them
//! from memory (`SourceDecoder::open_source`) and reads them to the end through the relay's
//! decode path. A crash the fuzzer finds is fixed and its input lands here (docs/fuzz.md).

use std::path::Path;

#[path = "../../fuzz/src/decode_media.rs"]
mod decode_media;

#[test]
fn decode_media_cases() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz_cases/decode_media");
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .collect();
    paths.sort();
    assert!(!paths.is_empty(), "no cases in {}", dir.display());
    for path in paths {
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let r = std::panic::catch_unwind(|| decode_media::run(&bytes));
        assert!(r.is_ok(), "{} ({} bytes) panics", path.display(), bytes.len());
    }
}

/// The in-memory constructor is the path-based one's code path: the same file decodes to the
/// same samples either way.
#[test]
fn memory_and_file_decode_alike() {
    use relay_server::media::decode::{PcmReader, SourceDecoder};
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("tone.wav");
    let spec = hound::WavSpec {
        channels: 2,
        sample_rate: 44_100,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(&path, spec).expect("wav");
    for i in 0..4410 {
        let s = ((i as f32 * 0.05).sin() * 12_000.0) as i16;
        w.write_sample(s).expect("sample");
        w.write_sample(-s).expect("sample");
    }
    w.finalize().expect("finalize");
    let read_all = |mut r: PcmReader| {
        let mut out = Vec::new();
        while r.read(4800, &mut out).expect("read") > 0 {}
        out
    };
    let from_file = read_all(PcmReader::open(&path, 0).expect("open"));
    let bytes = std::fs::read(&path).expect("read file");
    let src = SourceDecoder::open_source(Box::new(std::io::Cursor::new(bytes)), Some("wav")).expect("open_source");
    let from_memory = read_all(PcmReader::from_decoder(src, 0).expect("from_decoder"));
    assert_eq!(from_file.len(), 4800 * 2);
    assert_eq!(from_file, from_memory);
    // The harness's selector byte names the hint of each extension it knows.
    assert_eq!(decode_media::selector("m4a") as usize, decode_media::EXTENSIONS.len() - 1);
}
