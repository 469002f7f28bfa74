#![no_main]
//! cargo-fuzz entry point; the harness is `stream_engine_fuzz::control_message` (docs/fuzz.md).

libfuzzer_sys::fuzz_target!(|data: &[u8]| stream_engine_fuzz::control_message::run(data));
