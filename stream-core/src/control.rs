//! JSON control messages on `/ws`: `{"type": ..., "data": {...}}` text frames.
//!
//! Parsing is strict and bounded: a message longer than [`MAX_CONTROL_MESSAGE_BYTES`], JSON
//! that does not parse, a `type` nobody knows and fields of the wrong shape or range each get
//! their own stable [`ErrorCode`], so a client can tell what it did wrong.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::wire::Codec;

/// Longest control message the server accepts, in bytes.
pub const MAX_CONTROL_MESSAGE_BYTES: usize = 4096;

/// Stable error codes carried by `audio_stream_error` (and HTTP error bodies).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorCode {
    /// The text was not JSON, or not an object with a string `type`.
    MalformedMessage,
    /// The `type` is not one this server knows.
    UnknownMessage,
    /// The message is longer than [`MAX_CONTROL_MESSAGE_BYTES`].
    MessageTooLarge,
    /// A field is missing, of the wrong type, out of range or NaN.
    InvalidParameter,
    /// A binary frame arrived where only control text is accepted.
    BinaryNotExpected,
    /// No track has that id.
    UnknownTrack,
    /// The codec named is not one this server streams.
    UnsupportedCodec,
    /// The file's container or codec could not be read.
    UnsupportedFormat,
    /// The file is corrupt: decoding failed part way.
    DecodeError,
    /// The file ended before its declared length.
    MediaTruncated,
    /// The command needs a playing stream and there is none.
    NotPlaying,
    /// The session named does not exist (any more).
    UnknownSession,
    /// Something failed inside the server.
    Internal,
    /// A token is missing, forged, expired or of the wrong scope (HTTP 401, close 1008).
    Unauthorized,
    /// Too many streams created from this address in the last minute (HTTP 429).
    RateLimited,
    /// The server's limit of live streams is reached.
    TooManyStreams,
    /// The server's limit of live listeners is reached.
    TooManyListeners,
    /// The live stream already has a producer.
    StreamBusy,
    /// The live stream has ended or failed.
    StreamEnded,
    /// Live streaming is off: the server has no API key configured.
    LiveDisabled,
    /// The producer disconnected without ending the stream.
    ProducerLost,
    /// The producer sends audio faster than real time.
    ProducerTooFast,
    /// A listener fell too far behind the live stream and was disconnected.
    ListenerTooSlow,
    /// Audio at a sample rate the stream does not take (48 kHz).
    UnsupportedSampleRate,
    /// An ingest body that is not an Ogg stream of Opus.
    NotOgg,
    /// Audio that does not decode (a corrupt Ogg page or Opus packet, a malformed frame).
    CorruptAudio,
    /// The request comes from a web page whose origin the relay does not allow
    /// (`--allow-origin`); HTTP 403 on the WebSocket upgrade.
    OriginNotAllowed,
    /// The server is shutting down (SIGTERM): producers are told before their connection closes
    /// with 1001; listeners get `audio_stream_end` with `reason: "server_shutdown"`.
    ServerShutdown,
    /// The connection sent more messages per second than the server takes (`--max-messages-per-s`).
    TooManyMessages,
    /// No such HTTP route or resource.
    NotFound,
    /// The route exists, but not for this HTTP method.
    MethodNotAllowed,
    /// The relay runs in a cluster (`--nats`) and cannot reach the bus: what needs another node
    /// (a stream or token made elsewhere) is refused; its own streams and library still play.
    ClusterUnavailable,
    /// Another producer took the live stream over (on this node or another of the cluster).
    ProducerReplaced,
    /// A source's content type names one format and its bytes are another.
    ContentTypeMismatch,
    /// A seek in a live stream to a position outside the audio the relay keeps (before its
    /// time-shift window, or past the live edge).
    OutOfWindow,
}

impl ErrorCode {
    /// The code as it appears on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::MalformedMessage => "malformed_message",
            ErrorCode::UnknownMessage => "unknown_message",
            ErrorCode::MessageTooLarge => "message_too_large",
            ErrorCode::InvalidParameter => "invalid_parameter",
            ErrorCode::BinaryNotExpected => "binary_not_expected",
            ErrorCode::UnknownTrack => "unknown_track",
            ErrorCode::UnsupportedCodec => "unsupported_codec",
            ErrorCode::UnsupportedFormat => "unsupported_format",
            ErrorCode::DecodeError => "decode_error",
            ErrorCode::MediaTruncated => "media_truncated",
            ErrorCode::NotPlaying => "not_playing",
            ErrorCode::UnknownSession => "unknown_session",
            ErrorCode::Internal => "internal",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::TooManyStreams => "too_many_streams",
            ErrorCode::TooManyListeners => "too_many_listeners",
            ErrorCode::StreamBusy => "stream_busy",
            ErrorCode::StreamEnded => "stream_ended",
            ErrorCode::LiveDisabled => "live_disabled",
            ErrorCode::ProducerLost => "producer_lost",
            ErrorCode::ProducerTooFast => "producer_too_fast",
            ErrorCode::ListenerTooSlow => "listener_too_slow",
            ErrorCode::UnsupportedSampleRate => "unsupported_sample_rate",
            ErrorCode::NotOgg => "not_ogg",
            ErrorCode::CorruptAudio => "corrupt_audio",
            ErrorCode::OriginNotAllowed => "origin_not_allowed",
            ErrorCode::ServerShutdown => "server_shutdown",
            ErrorCode::TooManyMessages => "too_many_messages",
            ErrorCode::NotFound => "not_found",
            ErrorCode::MethodNotAllowed => "method_not_allowed",
            ErrorCode::ClusterUnavailable => "cluster_unavailable",
            ErrorCode::ProducerReplaced => "producer_replaced",
            ErrorCode::ContentTypeMismatch => "content_type_mismatch",
            ErrorCode::OutOfWindow => "out_of_window",
        }
    }

    /// The HTTP status of a refusal with this code: the one table every HTTP answer (the main
    /// port's and the Icecast-compatible port's) takes its status from.
    pub fn http_status(self) -> u16 {
        use ErrorCode::*;
        match self {
            MalformedMessage
            | UnknownMessage
            | InvalidParameter
            | BinaryNotExpected
            | UnsupportedCodec
            | NotPlaying
            | UnknownSession
            | UnsupportedSampleRate
            | NotOgg
            | CorruptAudio
            | ProducerTooFast
            | ProducerLost
            | ListenerTooSlow
            | OutOfWindow => 400,
            Unauthorized => 401,
            OriginNotAllowed | LiveDisabled => 403,
            UnknownTrack | NotFound => 404,
            MethodNotAllowed => 405,
            StreamBusy | ProducerReplaced => 409,
            StreamEnded => 410,
            MessageTooLarge => 413,
            ContentTypeMismatch => 415,
            UnsupportedFormat | DecodeError | MediaTruncated => 422,
            RateLimited | TooManyMessages => 429,
            Internal => 500,
            TooManyStreams | TooManyListeners | ServerShutdown | ClusterUnavailable => 503,
        }
    }

    /// Every code, in declaration order.
    pub const ALL: [ErrorCode; 35] = [
        ErrorCode::MalformedMessage,
        ErrorCode::UnknownMessage,
        ErrorCode::MessageTooLarge,
        ErrorCode::InvalidParameter,
        ErrorCode::BinaryNotExpected,
        ErrorCode::UnknownTrack,
        ErrorCode::UnsupportedCodec,
        ErrorCode::UnsupportedFormat,
        ErrorCode::DecodeError,
        ErrorCode::MediaTruncated,
        ErrorCode::NotPlaying,
        ErrorCode::UnknownSession,
        ErrorCode::Internal,
        ErrorCode::Unauthorized,
        ErrorCode::RateLimited,
        ErrorCode::TooManyStreams,
        ErrorCode::TooManyListeners,
        ErrorCode::StreamBusy,
        ErrorCode::StreamEnded,
        ErrorCode::LiveDisabled,
        ErrorCode::ProducerLost,
        ErrorCode::ProducerTooFast,
        ErrorCode::ListenerTooSlow,
        ErrorCode::UnsupportedSampleRate,
        ErrorCode::NotOgg,
        ErrorCode::CorruptAudio,
        ErrorCode::OriginNotAllowed,
        ErrorCode::ServerShutdown,
        ErrorCode::TooManyMessages,
        ErrorCode::NotFound,
        ErrorCode::MethodNotAllowed,
        ErrorCode::ClusterUnavailable,
        ErrorCode::ProducerReplaced,
        ErrorCode::ContentTypeMismatch,
        ErrorCode::OutOfWindow,
    ];
}

/// The reason phrase of the statuses [`ErrorCode::http_status`] uses (RFC 9110 §15).
pub fn http_reason(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        410 => "Gone",
        413 => "Content Too Large",
        415 => "Unsupported Media Type",
        422 => "Unprocessable Content",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Error",
    }
}

/// A control message from a client.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum ClientMessage {
    /// Start playing a library track from `position_s` (default 0) with `codec`
    /// (default `pcm_f32`) and, for Opus, an encoding profile.
    /// With `start_sample`, the position is that exact frame (a reconnect resuming); with
    /// `queue`, the stream follows the current one when it ends instead of replacing it.
    /// `playing_sample` tells where the client is playing now, when that is behind the start (a
    /// reconnect resumes at the end of its buffer while it plays from the middle): the
    /// send-ahead window counts from there.
    Play {
        track_id: String,
        position_s: f64,
        codec: Codec,
        opus: OpusParams,
        start_sample: Option<u64>,
        queue: bool,
        playing_sample: Option<u64>,
        /// With `queue`: how long until the client starts playing this stream (the rest of
        /// the current one), so its send-ahead window starts then.
        start_delay_ms: Option<u64>,
        /// The client acknowledges what it plays: pace this connection by its acks alone, from
        /// the first frame (not by the real-time clock until the first ack arrives).
        acks: bool,
    },
    /// Stop sending; the session and position are kept.
    Pause,
    /// Continue a paused session (`session`, when given, must be the current one).
    Resume { session: Option<u32> },
    /// Restart the current track at `position_s` (a new session, same codec and profile).
    Seek { position_s: f64 },
    /// Stop the current stream.
    Stop,
    /// Flow control: the client has consumed (played, or for a file writer, stored) every frame
    /// before `sample_pos` of `session`. The server keeps at most its send-ahead window beyond
    /// this (for a client that has not declared `acks` in `play`, beyond the larger of this and
    /// the real-time position until its first ack).
    Ack { session: u32, sample_pos: u64 },
    /// Keep-alive; answered with `pong` carrying the same `id`.
    Ping { id: u64 },
    /// Listen to live stream `stream_id` with a listen token.
    /// `from_sample`: a rejoin (after a lost connection, on this node or another of a
    /// cluster) resumes at that position if the node still holds it.
    Listen { stream_id: String, token: String, codec: Codec, from_sample: Option<u64> },
    /// Become the producer of live stream `stream_id` (publish token): binary frames of `codec`
    /// with `channels` at `sample_rate` (48 kHz only) follow, then `end`.
    Publish { stream_id: String, token: String, codec: Codec, channels: u8, sample_rate: u32 },
    /// The producer ends its stream.
    End,
}

/// Opus encoding profile of a stream. `None` fields take the profile's defaults.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OpusParams {
    /// `voice`: mono, 32 kbit/s; otherwise music: source channels (at most 2), 128 kbit/s.
    pub voice: bool,
    /// Bits per second, [`MIN_OPUS_BITRATE`]..=[`MAX_OPUS_BITRATE`].
    pub bitrate: Option<u32>,
    /// libopus complexity 0..=10.
    pub complexity: Option<u8>,
}

impl OpusParams {
    /// The one check of a client's Opus request, from a `play` message or a query string
    /// (`profile`, `bitrate`, `complexity`): `invalid_parameter` for anything out of range.
    pub fn from_parts(
        profile: Option<&str>,
        bitrate: Option<u64>,
        complexity: Option<u64>,
    ) -> Result<Self, ProtocolError> {
        let invalid = |msg: String| ProtocolError::new(ErrorCode::InvalidParameter, msg);
        let mut p = OpusParams::default();
        match profile {
            None | Some("music") => {}
            Some("voice") => p.voice = true,
            Some(other) => return Err(invalid(format!("profile must be \"music\" or \"voice\", got \"{other}\""))),
        }
        if let Some(b) = bitrate {
            if !(MIN_OPUS_BITRATE as u64..=MAX_OPUS_BITRATE as u64).contains(&b) {
                return Err(invalid(format!("bitrate must be from {MIN_OPUS_BITRATE} to {MAX_OPUS_BITRATE}, got {b}")));
            }
            p.bitrate = Some(b as u32);
        }
        if let Some(c) = complexity {
            if c > 10 {
                return Err(invalid(format!("complexity must be from 0 to 10, got {c}")));
            }
            p.complexity = Some(c as u8);
        }
        Ok(p)
    }
}

/// Lowest and highest Opus bitrates accepted (libopus's own limits).
pub const MIN_OPUS_BITRATE: u32 = 6_000;
pub const MAX_OPUS_BITRATE: u32 = 510_000;

/// A control message from the server.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ServerMessage {
    /// A stream starts; binary frames of `session` follow.
    AudioStreamStart(StreamStart),
    /// The stream ended after `total_samples` frames (from the track start): at its end, or
    /// (`reason`: `server_shutdown`) where the server stopped sending. Absent `reason`: the end of
    /// the track or live stream.
    AudioStreamEnd {
        session: u32,
        total_samples: u64,
        duration: f64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// Something went wrong; `session` is 0 when the error is not about a stream.
    AudioStreamError { session: u32, code: ErrorCode, error: String },
    /// Answer to `ping`.
    Pong { id: u64 },
    /// A `publish` was accepted: binary frames may follow.
    /// `next_sample`: the stream position the producer's first frame goes to (0, or where the
    /// stream stands when this producer takes it over from one whose node went away).
    PublishReady {
        stream_id: String,
        channels: u8,
        #[serde(default)]
        next_sample: u64,
    },
    /// A live stream's title from `sample` on (the song that begins there). Sent ahead of the
    /// frame holding that sample; a joiner first gets the title in effect where it starts.
    Metadata { session: u32, sample: u64, title: String },
}

/// The data of `audio_stream_start`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StreamStart {
    /// Identifies this stream's frames; a new play or seek gets a new session.
    pub session: u32,
    pub track_id: String,
    /// `pcm_s16`, `pcm_f32` or `opus`.
    pub codec: String,
    pub sample_rate: u32,
    pub channels: u8,
    /// Length of the track in seconds (at the output rate).
    pub total_duration: f64,
    /// Length of the track in frames at the output rate, when known.
    pub total_samples: Option<u64>,
    /// Where this stream starts, in seconds and in frames at the output rate.
    pub start_position_s: f64,
    pub start_sample: u64,
    /// Frames per binary frame (the last one may be shorter).
    pub frames_per_packet: u32,
    /// Opus only: encoder delay in frames (RFC 7845 pre-skip). The decoded output of an Opus
    /// frame at `sample_pos` X starts at track position X - pre_skip. 0 for PCM.
    pub pre_skip: u32,
    /// Opus only: bits per second and complexity of the encoding.
    pub bitrate: Option<u32>,
    pub complexity: Option<u8>,
    /// This stream was queued: it follows the previous one, which plays to its end.
    pub queued: bool,
    /// The most audio the server sends ahead of the acknowledged or real-time position.
    pub send_ahead_ms: u32,
    /// A live stream: no end known, frames arrive in real time.
    #[serde(default)]
    pub live: bool,
    /// A live stream's time-shift window: how many seconds it keeps, and where the oldest
    /// audio it holds starts (a `seek` may go there, or to the live edge).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeshift_s: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_start_sample: Option<u64>,
}

/// Why a control message was refused.
#[derive(Clone, Debug, PartialEq)]
pub struct ProtocolError {
    pub code: ErrorCode,
    pub message: String,
}

impl ProtocolError {
    fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ProtocolError { code, message: message.into() }
    }
}

impl ServerMessage {
    /// Serializes to the JSON text frame.
    pub fn to_json(&self) -> String {
        // Serializing these plain structs cannot fail; fall back to a fixed error text anyway.
        serde_json::to_string(self).unwrap_or_else(|_| {
            r#"{"type":"audio_stream_error","data":{"session":0,"code":"internal","error":"serialization failed"}}"#
                .to_owned()
        })
    }

    /// Builds an `audio_stream_error`.
    pub fn error(session: u32, code: ErrorCode, error: impl Into<String>) -> Self {
        ServerMessage::AudioStreamError { session, code, error: error.into() }
    }
}

/// The message types clients may send.
pub const CLIENT_MESSAGE_TYPES: &[&str] =
    &["play", "seek", "pause", "resume", "stop", "ack", "ping", "listen", "publish", "end"];

/// A required string field of 1..=256 bytes.
fn short_string<'a>(data: &'a serde_json::Map<String, Value>, name: &str) -> Result<&'a str, ProtocolError> {
    data.get(name).and_then(Value::as_str).filter(|s| !s.is_empty() && s.len() <= 256).ok_or_else(|| {
        ProtocolError::new(ErrorCode::InvalidParameter, format!("{name} must be a string of 1 to 256 bytes"))
    })
}

/// The `token` field, at most 256 characters. A missing token is the server's to refuse
/// (`unauthorized`), not a malformed message, so it reads as empty.
fn token(data: &serde_json::Map<String, Value>) -> String {
    data.get("token").and_then(Value::as_str).unwrap_or("").chars().take(256).collect()
}

fn codec_field(data: &serde_json::Map<String, Value>) -> Result<Codec, ProtocolError> {
    match data.get("codec") {
        None | Some(Value::Null) => Ok(Codec::PcmF32),
        Some(Value::String(s)) => Codec::from_name(s).ok_or_else(|| {
            ProtocolError::new(ErrorCode::UnsupportedCodec, format!("codec {s:?} is not one of pcm_s16, pcm_f32, opus"))
        }),
        Some(_) => Err(ProtocolError::new(ErrorCode::InvalidParameter, "codec must be a string")),
    }
}

/// An optional integer field in `0..=max`: absent or null is `None`, anything else is
/// `invalid_parameter`.
fn optional_u64(data: &serde_json::Map<String, Value>, name: &str, max: u64) -> Result<Option<u64>, ProtocolError> {
    match data.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v.as_u64().filter(|&n| n <= max).map(Some).ok_or_else(|| {
            ProtocolError::new(ErrorCode::InvalidParameter, format!("{name} must be an integer from 0 to {max}"))
        }),
    }
}

fn position(data: &serde_json::Map<String, Value>, required: bool) -> Result<f64, ProtocolError> {
    let invalid = |msg: String| ProtocolError::new(ErrorCode::InvalidParameter, msg);
    let position_s = match data.get("position_s") {
        None | Some(Value::Null) if !required => 0.0,
        None | Some(Value::Null) => return Err(invalid("position_s is required".into())),
        Some(v) => v.as_f64().ok_or_else(|| invalid("position_s must be a number".into()))?,
    };
    if !position_s.is_finite() || position_s < 0.0 {
        return Err(invalid(format!("position_s must be a finite number >= 0, got {position_s}")));
    }
    Ok(position_s)
}

/// Parses one client text frame.
pub fn parse_client_message(text: &str) -> Result<ClientMessage, ProtocolError> {
    if text.len() > MAX_CONTROL_MESSAGE_BYTES {
        return Err(ProtocolError::new(
            ErrorCode::MessageTooLarge,
            format!("control message of {} bytes exceeds {MAX_CONTROL_MESSAGE_BYTES}", text.len()),
        ));
    }
    let value: Value = serde_json::from_str(text)
        .map_err(|e| ProtocolError::new(ErrorCode::MalformedMessage, format!("not JSON: {e}")))?;
    let obj = value
        .as_object()
        .ok_or_else(|| ProtocolError::new(ErrorCode::MalformedMessage, "message is not a JSON object"))?;
    let kind = obj
        .get("type")
        .and_then(Value::as_str)
        .ok_or_else(|| ProtocolError::new(ErrorCode::MalformedMessage, "message has no string \"type\""))?;
    let empty = serde_json::Map::new();
    let data = match obj.get("data") {
        None | Some(Value::Null) => &empty,
        Some(Value::Object(m)) => m,
        Some(_) => return Err(ProtocolError::new(ErrorCode::MalformedMessage, "\"data\" must be an object")),
    };
    let invalid = |msg: String| ProtocolError::new(ErrorCode::InvalidParameter, msg);
    match kind {
        "play" => {
            let track_id = data
                .get("track_id")
                .and_then(Value::as_str)
                .ok_or_else(|| invalid("play needs a string track_id".into()))?;
            if track_id.is_empty() || track_id.len() > 256 {
                return Err(invalid("track_id must be 1..=256 bytes".into()));
            }
            let position_s = position(data, false)?;
            let codec = codec_field(data)?;
            let profile = match data.get("profile") {
                None | Some(Value::Null) => None,
                Some(Value::String(p)) => Some(p.as_str()),
                Some(_) => return Err(invalid("profile must be \"music\" or \"voice\"".into())),
            };
            let integer = |key: &str| match data.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(v) => v.as_u64().map(Some).ok_or_else(|| invalid(format!("{key} must be an integer, got {v}"))),
            };
            let opus = OpusParams::from_parts(profile, integer("bitrate")?, integer("complexity")?)?;
            let start_sample = optional_u64(data, "start_sample", u64::MAX)?;
            let queue = match data.get("queue") {
                None | Some(Value::Null) => false,
                Some(Value::Bool(b)) => *b,
                Some(_) => return Err(invalid("queue must be a boolean".into())),
            };
            let playing_sample = optional_u64(data, "playing_sample", u64::MAX)?;
            let start_delay_ms = optional_u64(data, "start_delay_ms", 3_600_000)?;
            let acks = match data.get("acks") {
                None | Some(Value::Null) => false,
                Some(Value::Bool(b)) => *b,
                Some(_) => return Err(invalid("acks must be a boolean".into())),
            };
            Ok(ClientMessage::Play {
                track_id: track_id.to_owned(),
                position_s,
                codec,
                opus,
                start_sample,
                queue,
                playing_sample,
                start_delay_ms,
                acks,
            })
        }
        "pause" => Ok(ClientMessage::Pause),
        "resume" => {
            let session = optional_u64(data, "session", u32::MAX as u64)?.map(|s| s as u32);
            Ok(ClientMessage::Resume { session })
        }
        "seek" => Ok(ClientMessage::Seek { position_s: position(data, true)? }),
        "stop" => Ok(ClientMessage::Stop),
        "ack" => {
            let session = data
                .get("session")
                .and_then(Value::as_u64)
                .and_then(|v| u32::try_from(v).ok())
                .ok_or_else(|| invalid("ack needs an integer session".into()))?;
            let sample_pos = data
                .get("sample_pos")
                .and_then(Value::as_u64)
                .ok_or_else(|| invalid("ack needs an integer sample_pos >= 0".into()))?;
            Ok(ClientMessage::Ack { session, sample_pos })
        }
        "ping" => {
            let id = match data.get("id") {
                None | Some(Value::Null) => 0,
                Some(v) => v.as_u64().ok_or_else(|| invalid("ping id must be an integer >= 0".into()))?,
            };
            Ok(ClientMessage::Ping { id })
        }
        "listen" => Ok(ClientMessage::Listen {
            stream_id: short_string(data, "stream_id")?.to_owned(),
            token: token(data),
            codec: codec_field(data)?,
            from_sample: optional_u64(data, "from_sample", u64::MAX >> 1)?,
        }),
        "publish" => {
            let channels = optional_u64(data, "channels", 2)?.unwrap_or(2);
            if channels == 0 {
                return Err(invalid("channels must be 1 or 2".into()));
            }
            let sample_rate = optional_u64(data, "sample_rate", 1_000_000)?.unwrap_or(48_000) as u32;
            Ok(ClientMessage::Publish {
                stream_id: short_string(data, "stream_id")?.to_owned(),
                token: token(data),
                codec: codec_field(data)?,
                channels: channels as u8,
                sample_rate,
            })
        }
        "end" => Ok(ClientMessage::End),
        other => {
            let shown: String = other.chars().take(64).collect();
            Err(ProtocolError::new(
                ErrorCode::UnknownMessage,
                format!("unknown message type {shown:?}; known: {}", CLIENT_MESSAGE_TYPES.join(", ")),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `play` of `track_id` with everything else at its default but these.
    fn play(track_id: &str, position_s: f64, codec: Codec, opus: OpusParams) -> ClientMessage {
        ClientMessage::Play {
            track_id: track_id.into(),
            position_s,
            codec,
            opus,
            start_sample: None,
            queue: false,
            playing_sample: None,
            start_delay_ms: None,
            acks: false,
        }
    }

    /// Every code: unique on the wire, serialized as it is documented, with a status from the
    /// one table, and one row in docs/wire.md's table saying that status.
    #[test]
    fn every_error_code_has_one_http_status_and_its_row_in_the_docs() {
        let docs = include_str!("../../docs/wire.md");
        let mut seen = std::collections::HashSet::new();
        for c in ErrorCode::ALL {
            assert!(seen.insert(c.as_str()), "{} twice", c.as_str());
            assert_eq!(serde_json::to_value(c).expect("json"), c.as_str());
            let status = c.http_status();
            assert!((400..600).contains(&status) && http_reason(status) != "Error", "{c:?}: {status}");
            let row = format!("| `{}` | {status} |", c.as_str());
            assert!(docs.contains(&row), "docs/wire.md has no row {row}");
        }
        // A new variant must join ALL: the docs table has exactly one row per code.
        let table = docs.split("### Error codes").nth(1).expect("the table").split("\n\n").nth(2).expect("rows");
        assert_eq!(table.lines().filter(|l| l.starts_with("| `")).count(), ErrorCode::ALL.len());
    }

    #[test]
    fn parses_play_with_defaults_and_fields() {
        assert_eq!(
            parse_client_message(r#"{"type":"play","data":{"track_id":"abc"}}"#),
            Ok(play("abc", 0.0, Codec::PcmF32, OpusParams::default()))
        );
        assert_eq!(
            parse_client_message(r#"{"type":"play","data":{"track_id":"abc","position_s":1.5,"codec":"pcm_s16"}}"#),
            Ok(play("abc", 1.5, Codec::PcmS16, OpusParams::default()))
        );
        assert!(matches!(
            parse_client_message(r#"{"type":"play","data":{"track_id":"abc","acks":true}}"#),
            Ok(ClientMessage::Play { acks: true, .. })
        ));
        assert_eq!(
            parse_client_message(r#"{"type":"play","data":{"track_id":"abc","acks":"yes"}}"#).map_err(|e| e.code),
            Err(ErrorCode::InvalidParameter)
        );
        assert_eq!(parse_client_message(r#"{"type":"stop"}"#), Ok(ClientMessage::Stop));
        assert_eq!(
            parse_client_message(r#"{"type":"ack","data":{"session":3,"sample_pos":480}}"#),
            Ok(ClientMessage::Ack { session: 3, sample_pos: 480 })
        );
        assert_eq!(parse_client_message(r#"{"type":"ping","data":{"id":5}}"#), Ok(ClientMessage::Ping { id: 5 }));
    }

    #[test]
    fn each_kind_of_bad_input_has_its_code() {
        let code = |t: &str| parse_client_message(t).map_err(|e| e.code).err();
        assert_eq!(code("{not json"), Some(ErrorCode::MalformedMessage));
        for (text, want) in [
            ("[1,2]", ErrorCode::MalformedMessage),
            (r#"{"data":{}}"#, ErrorCode::MalformedMessage),
            (r#"{"type":"play","data":5}"#, ErrorCode::MalformedMessage),
            (r#"{"type":"dance"}"#, ErrorCode::UnknownMessage),
            (r#"{"type":"play","data":{}}"#, ErrorCode::InvalidParameter),
            (r#"{"type":"play","data":{"track_id":"a","position_s":-1}}"#, ErrorCode::InvalidParameter),
            (r#"{"type":"play","data":{"track_id":"a","position_s":"x"}}"#, ErrorCode::InvalidParameter),
            (r#"{"type":"play","data":{"track_id":"a","codec":"mp3"}}"#, ErrorCode::UnsupportedCodec),
            (r#"{"type":"ack","data":{"session":1,"sample_pos":-4}}"#, ErrorCode::InvalidParameter),
            (r#"{"type":"play","data":{"track_id":"a","codec":"opus","bitrate":1000}}"#, ErrorCode::InvalidParameter),
            (r#"{"type":"play","data":{"track_id":"a","codec":"opus","bitrate":600000}}"#, ErrorCode::InvalidParameter),
            (r#"{"type":"play","data":{"track_id":"a","complexity":11}}"#, ErrorCode::InvalidParameter),
            (r#"{"type":"play","data":{"track_id":"a","profile":"loud"}}"#, ErrorCode::InvalidParameter),
            (r#"{"type":"seek","data":{}}"#, ErrorCode::InvalidParameter),
            (r#"{"type":"seek","data":{"position_s":-2}}"#, ErrorCode::InvalidParameter),
        ] {
            assert_eq!(code(text), Some(want), "{text}");
        }
        assert_eq!(
            parse_client_message(
                r#"{"type":"play","data":{"track_id":"a","codec":"opus","profile":"voice","bitrate":24000,"complexity":5}}"#
            ),
            Ok(play("a", 0.0, Codec::Opus, OpusParams { voice: true, bitrate: Some(24_000), complexity: Some(5) }))
        );
        assert_eq!(
            parse_client_message(r#"{"type":"seek","data":{"position_s":3.5}}"#),
            Ok(ClientMessage::Seek { position_s: 3.5 })
        );
        let big = format!(r#"{{"type":"play","data":{{"track_id":"{}"}}}}"#, "x".repeat(5000));
        assert_eq!(code(&big), Some(ErrorCode::MessageTooLarge));
    }

    #[test]
    fn server_messages_have_the_documented_shape() {
        let m = ServerMessage::error(4, ErrorCode::UnknownTrack, "no track \"x\"");
        let v: Value = serde_json::from_str(&m.to_json()).expect("json");
        assert_eq!(v["type"], "audio_stream_error");
        assert_eq!(v["data"]["code"], "unknown_track");
        assert_eq!(v["data"]["session"], 4);
        let end = ServerMessage::AudioStreamEnd { session: 1, total_samples: 48_000, duration: 1.0, reason: None };
        let v: Value = serde_json::from_str(&end.to_json()).expect("json");
        assert_eq!(v["type"], "audio_stream_end");
        assert_eq!(v["data"]["total_samples"], 48_000);
        for code in [
            ErrorCode::MalformedMessage,
            ErrorCode::MediaTruncated,
            ErrorCode::Internal,
            ErrorCode::OriginNotAllowed,
            ErrorCode::ServerShutdown,
            ErrorCode::TooManyMessages,
        ] {
            assert_eq!(serde_json::to_value(code).expect("json"), Value::String(code.as_str().into()));
        }
    }
}
