//! `relay-client`: a command-line listener of the relay.
//!
//! `fetch` plays a track over `/ws` exactly as a browser listener does (same control messages,
//! same frames, decoded by the same `stream-core` code) and writes what it received to a WAV
//! file. It acknowledges each frame as it stores it, so the server sends as fast as the disk
//! takes it instead of in real time.

mod fetch;
mod list;
mod listen;
mod load;
mod net;
mod publish;
mod receive;
mod soak;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "relay-client", version, about)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Prints the server's track list (JSON).
    List {
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        server: String,
    },
    /// Receives a track as a listener does and writes it to a WAV file.
    Fetch {
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        server: String,
        /// Track id (from `list` or `/api/tracks`).
        #[arg(long)]
        track: String,
        /// `pcm_f32` (32-bit float WAV), `pcm_s16` (16-bit WAV) or `opus` (decoded with libopus
        /// to a 32-bit float WAV).
        #[arg(long, default_value = "pcm_f32")]
        codec: String,
        /// Opus bitrate in bits per second (default: the profile's).
        #[arg(long)]
        bitrate: Option<u32>,
        /// Opus profile: `music` or `voice`.
        #[arg(long)]
        profile: Option<String>,
        /// Where to start, in seconds.
        #[arg(long, default_value_t = 0.0)]
        position_s: f64,
        #[arg(long)]
        out: PathBuf,
    },
    /// Listens to a live stream as a browser listener does and writes what it received to a
    /// WAV file, until the stream ends (or `--seconds`).
    Listen {
        #[command(flatten)]
        live: LiveArgs,
        #[arg(long, default_value = "pcm_f32")]
        codec: String,
        #[arg(long)]
        out: PathBuf,
        /// Stop after this many seconds of audio.
        #[arg(long)]
        seconds: Option<f64>,
    },
    /// Holds N real-time listeners of a live stream for S seconds and reports per-listener
    /// underruns (a player consuming in real time from a small start buffer), bytes, join
    /// latency (connect to first audio byte) percentiles, and the server's RSS and CPU per
    /// listener (with `--server-pid`). A listener is `ok` only if it had no error and no
    /// underrun and played at least 90 % of its connection's duration; one that never got audio
    /// counts in the join percentiles with its whole wait. `--http URL` listens to plain HTTP Ogg instead of /ws
    /// (this relay's /live/{id}.ogg?token=... or an Icecast mount).
    Load {
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        server: String,
        #[arg(long, default_value = "")]
        stream: String,
        #[arg(long, default_value = "")]
        token: String,
        #[arg(long, default_value = "opus")]
        codec: String,
        #[arg(long)]
        http: Option<String>,
        #[arg(long, default_value_t = 100)]
        listeners: usize,
        #[arg(long, default_value_t = 60.0)]
        seconds: f64,
        /// Audio a listener buffers before it starts playing, ms.
        #[arg(long, default_value_t = 500)]
        buffer_ms: u64,
        /// New connections per second while ramping up.
        #[arg(long, default_value_t = 2000)]
        ramp_per_s: u64,
        #[arg(long)]
        server_pid: Option<u32>,
        /// Threads of the load client (default: the cores it may run on, as `taskset` sets,
        /// at most 2).
        #[arg(long)]
        workers: Option<usize>,
    },
    /// Soak: thousands of connect/play/disconnect cycles with random timing (abrupt drops,
    /// stops, seeks, pauses, bad input, HTTP Ogg), then the server's file descriptors, threads,
    /// sessions and RSS before and after, against stated margins (exit 1 beyond them).
    Soak {
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        server: String,
        #[arg(long)]
        server_pid: u32,
        #[arg(long, default_value_t = 3000)]
        cycles: u64,
        /// Cycles running at once.
        #[arg(long, default_value_t = 32)]
        concurrency: usize,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// The server key: live cycles too (streams published in real time the whole run;
        /// listeners over /ws and HTTP Ogg joining and dropping; tokens renewed; expired tokens
        /// refused; streams published, heard and dropped by their producer).
        #[arg(long)]
        api_key: Option<String>,
        /// The server's listen-token lifetime (`--listen-token-ttl-s`), seconds: after it, the
        /// first tokens must be refused.
        #[arg(long, default_value_t = 5)]
        listen_token_ttl_s: u64,
    },
    /// Publishes WAV or raw PCM from a file or stdin (`-`) to a live stream in real time, as a
    /// speech synthesizer's output piped in: `espeak-ng --stdout "Hello" | relay-client publish
    /// --stream ID --token T --input -`.
    Publish {
        #[command(flatten)]
        live: LiveArgs,
        /// A WAV file, raw PCM, or `-` for stdin.
        #[arg(long)]
        input: String,
        /// Raw signed 16-bit little-endian PCM instead of WAV, at `--rate` with `--channels`.
        #[arg(long)]
        raw: bool,
        #[arg(long, default_value_t = 48_000)]
        rate: u32,
        #[arg(long, default_value_t = 1)]
        channels: u16,
    },
}

/// Which live stream, where, with which capability (listen or publish).
#[derive(clap::Args)]
struct LiveArgs {
    /// The relay; a cluster's relays comma-separated, tried in turn when one dies (the listener
    /// rejoins at the exact next sample, the producer goes on where the stream stands).
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    server: String,
    #[arg(long)]
    stream: String,
    /// The stream's token: a listen token to listen, its publish token to publish.
    #[arg(long)]
    token: String,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let rt = if matches!(cli.cmd, Cmd::Load { .. } | Cmd::Soak { .. }) {
        relay_server::raise_fd_limit();
        let workers = match cli.cmd {
            Cmd::Load { workers: Some(n), .. } => n.max(1),
            _ => std::thread::available_parallelism().map_or(2, |n| n.get().min(2)),
        };
        tokio::runtime::Builder::new_multi_thread().worker_threads(workers).enable_all().build()?
    } else {
        tokio::runtime::Builder::new_current_thread().enable_all().build()?
    };
    rt.block_on(run(cli))
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.cmd {
        Cmd::Load {
            server, stream, token, codec, http, listeners, seconds, buffer_ms, ramp_per_s, server_pid, ..
        } => {
            load::run(load::Spec {
                server,
                stream,
                token,
                codec,
                http,
                listeners,
                seconds,
                buffer_ms,
                ramp_per_s,
                server_pid,
            })
            .await
        }
        Cmd::List { server } => list::list(&server).await,
        Cmd::Soak { server, server_pid, cycles, concurrency, seed, api_key, listen_token_ttl_s } => {
            soak::run(&server, server_pid, cycles, concurrency, seed, api_key, listen_token_ttl_s).await
        }
        Cmd::Fetch { server, track, codec, position_s, bitrate, profile, out } => {
            fetch::fetch(&server, &track, &codec, position_s, bitrate, profile, &out).await
        }
        Cmd::Listen { live, codec, out, seconds } => {
            listen::listen(&live.server, &live.stream, &live.token, &codec, &out, seconds).await
        }
        Cmd::Publish { live, input, raw, rate, channels } => {
            publish::publish(&live.server, &live.stream, &live.token, &input, raw, rate, channels).await
        }
    }
}
