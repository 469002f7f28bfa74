//! The fuzz harnesses, one module per cargo-fuzz target (`fuzz_targets/*.rs` only call `run`).
//!
//! Each module uses nothing but `stream_core` and `relay_server`, so the regression tests of
//! `make test` include the very same file (`#[path]`) and replay the checked-in cases through
//! it on stable. Every `run` must never panic on any input: a panic is a finding.

pub mod control_message;
pub mod decode_media;
pub mod ogg_ingest;
pub mod wire_frame;
