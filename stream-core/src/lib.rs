//! `stream-core`: everything of the stream engine that is pure logic.
//!
//! It owns the binary wire format and the JSON control messages ([`wire`], [`control`]), the
//! fixed-capacity ring buffer ([`ring`]), the render engine that the AudioWorklet runs
//! ([`engine`]) and the enhancement DSP after it ([`dsp`]). It never does I/O, never spawns, and never depends on wasm-bindgen: the relay
//! server, the wasm engine and the relay client are thin adapters around it, so the same code is
//! tested natively with `cargo test` and runs unchanged as wasm32.

pub mod control;
pub mod dsp;
pub mod engine;
pub mod fade;
pub mod ogg;
pub mod ring;
pub mod wire;

/// The one sample rate on the wire and in the engine: the relay resamples every source to it.
pub const STREAM_SAMPLE_RATE: u32 = 48_000;
