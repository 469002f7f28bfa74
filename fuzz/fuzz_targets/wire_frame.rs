#![no_main]
//! cargo-fuzz entry point; the harness is `stream_engine_fuzz::wire_frame` (docs/fuzz.md).

libfuzzer_sys::fuzz_target!(|data: &[u8]| stream_engine_fuzz::wire_frame::run(data));
