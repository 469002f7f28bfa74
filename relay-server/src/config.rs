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
}

impl Config {
    /// A configuration with defaults for everything but the media folder (tests, tools).
    pub fn for_media(media: impl Into<PathBuf>) -> Self {
        let mut c = Config::parse_from(["relay-server"]);
        c.media = media.into();
        c
    }
}
