//! Fuzz regressions on stable: the checked-in cases of `tests/fuzz_cases/<target>/` (inputs the
//! cargo-fuzz targets found, minimized) replayed through the very harness files of `fuzz/src/`,
//! invariants and all. A crash the fuzzer finds is fixed and its input lands here
//! (docs/fuzz.md).

use std::path::Path;

#[path = "../../fuzz/src/control_message.rs"]
mod control_message;
#[path = "../../fuzz/src/ogg_ingest.rs"]
mod ogg_ingest;
#[path = "../../fuzz/src/wire_frame.rs"]
mod wire_frame;

/// Every case of `target`, by name, checked to be there (an empty folder would test nothing).
fn cases(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz_cases").join(target);
    let mut cases: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| {
            let path = e.expect("directory entry").path();
            let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            (path.file_name().and_then(|n| n.to_str()).unwrap_or("?").to_owned(), bytes)
        })
        .collect();
    cases.sort();
    assert!(!cases.is_empty(), "no cases in {}", dir.display());
    cases
}

fn replay(target: &str, run: fn(&[u8])) {
    for (name, bytes) in cases(target) {
        let r = std::panic::catch_unwind(|| run(&bytes));
        assert!(r.is_ok(), "{target}/{name} ({} bytes) panics", bytes.len());
    }
}

#[test]
fn wire_frame_cases() {
    replay("wire_frame", wire_frame::run);
}

#[test]
fn control_message_cases() {
    replay("control_message", control_message::run);
}

#[test]
fn ogg_ingest_cases() {
    replay("ogg_ingest", ogg_ingest::run);
}
