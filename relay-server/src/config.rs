//! Server configuration: every option is a flag and a `RELAY_*` environment variable.

use std::path::PathBuf;

use clap::Parser;

/// `relay-server`: streams the media library to browsers and standard players.
#[derive(Clone, Debug, Parser)]
#[command(name = "relay-server", version, about)]
pub struct Config {
    /// Folder of audio files to serve.
    #[arg(long, env = "RELAY_MEDIA", default_value = "media")]
    pub media: PathBuf,
    /// Address to listen on (`127.0.0.1:0` picks a free port and prints it).
    #[arg(long, env = "RELAY_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// Folder of the demo page and built web assets (served at `/`).
    #[arg(long, env = "RELAY_WEB_DIR", default_value = "web")]
    pub web_dir: PathBuf,
    /// Folder of the worklet and worker scripts (served at `/worklet/`).
    #[arg(long, env = "RELAY_WORKLET_DIR", default_value = "worklet")]
    pub worklet_dir: PathBuf,
    /// Most audio sent ahead of the client's acknowledged (or the real-time) position, in ms.
    #[arg(long, env = "RELAY_SEND_AHEAD_MS", default_value_t = 5000)]
    pub send_ahead_ms: u32,
    /// Size of the encoded-chunk cache in MiB (0 disables it).
    #[arg(long, env = "RELAY_CACHE_MB", default_value_t = 256)]
    pub cache_mb: usize,
    /// Frames (at 48 kHz) per binary audio frame: 960 = 20 ms.
    #[arg(long, env = "RELAY_FRAMES_PER_PACKET", default_value_t = 960)]
    pub frames_per_packet: u32,
    /// Server key for `POST /api/streams` (`Authorization: Bearer KEY`); live streaming is off
    /// without it.
    #[arg(long, env = "RELAY_API_KEY")]
    pub api_key: Option<String>,
    /// Address of the Icecast-compatible source port (`PUT /live/{id}` as ffmpeg's `icecast://`
    /// output sends it); `off` disables it.
    #[arg(long, env = "RELAY_INGEST_LISTEN", default_value = "127.0.0.1:8001")]
    pub ingest_listen: String,
    /// Most live streams open at once.
    #[arg(long, env = "RELAY_MAX_STREAMS", default_value_t = 100)]
    pub max_streams: usize,
    /// Most live listeners at once, over all streams.
    #[arg(long, env = "RELAY_MAX_LISTENERS", default_value_t = 20_000)]
    pub max_listeners: usize,
    /// Largest WebSocket message accepted; larger ones close the connection with 1009.
    #[arg(long, env = "RELAY_MAX_MESSAGE_BYTES", default_value_t = 64 * 1024)]
    pub max_message_bytes: usize,
    /// Streams one client address may create per minute (more get 429).
    #[arg(long, env = "RELAY_STREAMS_PER_MINUTE", default_value_t = 10)]
    pub streams_per_minute: u32,
    /// Lifetime of publish tokens, seconds.
    #[arg(long, env = "RELAY_PUBLISH_TOKEN_TTL_S", default_value_t = 86_400)]
    pub publish_token_ttl_s: u64,
    /// Lifetime of listen tokens, seconds (renewable while the stream is live).
    #[arg(long, env = "RELAY_LISTEN_TOKEN_TTL_S", default_value_t = 3_600)]
    pub listen_token_ttl_s: u64,
    /// Recent audio a late joiner gets at once, ms.
    #[arg(long, env = "RELAY_LIVE_BURST_MS", default_value_t = 1_000)]
    pub live_burst_ms: u32,
    /// How long an ended live stream stays known (its listeners told, its tokens answered with
    /// the stream's end) before it is forgotten, seconds.
    #[arg(long, env = "RELAY_LIVE_LINGER_S", default_value_t = 60)]
    pub live_linger_s: u64,
    /// How much of each live stream is kept for listeners to rewind into (time-shift), seconds
    /// (0: none; the default is 30 minutes). Only the Opus encoding is kept: ~1 MB per minute
    /// of a stereo stream.
    #[arg(long, env = "RELAY_LIVE_TIMESHIFT_S", default_value_t = 1800)]
    pub live_timeshift_s: u64,
    /// How far a producer may run ahead of real time before it is refused, ms.
    #[arg(long, env = "RELAY_LIVE_MAX_AHEAD_MS", default_value_t = 3_000)]
    pub live_max_ahead_ms: u64,
    /// How long a live stream whose Icecast source disconnected waits for it to come back (its
    /// listeners stay; the source goes on where the stream stands), seconds. After that the
    /// stream ends with `producer_lost`.
    #[arg(long, env = "RELAY_SOURCE_GRACE_S", default_value_t = 10)]
    pub source_grace_s: u64,
    /// How long a live listener (WebSocket, HTTP or the Icecast-compatible port) may leave a
    /// frame unsent before it is dropped as too slow (`listener_too_slow`), ms.
    #[arg(long, env = "RELAY_LIVE_SEND_TIMEOUT_MS", default_value_t = 3_000)]
    pub live_send_timeout_ms: u64,
    /// Origins (`scheme://host:port`, exactly as browsers send the `Origin` header) whose pages
    /// may use the relay's HTTP API and WebSocket; `*` allows every origin. Repeat the option or
    /// separate origins with commas. Requests without an `Origin` header (relay-client, ffmpeg,
    /// curl) and same-origin requests (the `Origin`'s host:port is the request's `Host`) are
    /// always allowed; empty entries are ignored.
    #[arg(
        long = "allow-origin",
        env = "RELAY_ALLOW_ORIGINS",
        value_name = "ORIGIN",
        value_delimiter = ',',
        value_parser = crate::origin::parse_allow_origin,
    )]
    pub allow_origins: Vec<String>,
    /// Seconds between heartbeat pings on `/ws`.
    #[arg(long, env = "RELAY_WS_PING_INTERVAL_S", default_value_t = 20)]
    pub ws_ping_interval_s: u64,
    /// A `/ws` peer that sends nothing (not even a pong) this many seconds is closed with 1001.
    #[arg(long, env = "RELAY_WS_TIMEOUT_S", default_value_t = 60)]
    pub ws_timeout_s: u64,
    /// Messages per second one `/ws` connection may send (bursts of twice as many); more close
    /// it with 1008 and `too_many_messages`.
    #[arg(long, env = "RELAY_MAX_MESSAGES_PER_S", default_value_t = 100)]
    pub max_messages_per_s: u32,
    /// PEM certificate chain: serve HTTPS and WSS (with `--tls-key`) instead of plain HTTP.
    #[arg(long, env = "RELAY_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of `--tls-cert` (PKCS#8, PKCS#1 or SEC1).
    #[arg(long, env = "RELAY_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// On SIGTERM or SIGINT, how long connections get to be told and to close, seconds.
    #[arg(long, env = "RELAY_SHUTDOWN_GRACE_S", default_value_t = 5)]
    pub shutdown_grace_s: u64,
    /// Join a cluster of relays on these NATS servers (`nats://HOST:PORT`, comma-separated, the
    /// first tried first; JetStream on). Without it the relay is a single self-contained node.
    #[arg(long, env = "RELAY_NATS", value_name = "URL", value_delimiter = ',')]
    pub nats: Vec<String>,
    /// This node's name in the cluster (unique; default: the listen address).
    #[arg(long, env = "RELAY_NODE_ID")]
    pub node_id: Option<String>,
}

impl Config {
    /// The live part's limits.
    pub fn live(&self) -> crate::live::LiveConfig {
        use std::time::Duration;
        crate::live::LiveConfig {
            api_key: self.api_key.clone().filter(|k| !k.is_empty()),
            max_streams: self.max_streams,
            max_listeners: self.max_listeners,
            publish_token_ttl: Duration::from_secs(self.publish_token_ttl_s),
            listen_token_ttl: Duration::from_secs(self.listen_token_ttl_s),
            create_per_minute: self.streams_per_minute,
            burst_ms: self.live_burst_ms,
            max_ahead: Duration::from_millis(self.live_max_ahead_ms),
            send_timeout: Duration::from_millis(self.live_send_timeout_ms),
            linger: Duration::from_secs(self.live_linger_s),
            idle_timeout: Duration::from_secs(600),
            timeshift: Duration::from_secs(self.live_timeshift_s),
            source_grace: Duration::from_secs(self.source_grace_s),
        }
    }

    /// A configuration with defaults for everything but the media folder (tests, tools).
    pub fn for_media(media: impl Into<PathBuf>) -> Self {
        let mut c = Config::parse_from(["relay-server"]);
        c.media = media.into();
        c
    }
}
