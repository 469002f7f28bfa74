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
    /// Something failed inside the server.
    Internal,
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
            ErrorCode::Internal => "internal",
        }
    }
}

/// A control message from a client.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum ClientMessage {
    /// Start playing a library track from `position_s` (default 0) with `codec`
    /// (default `pcm_f32`).
    Play {
        track_id: String,
        position_s: f64,
        codec: Codec,
    },
    /// Stop the current stream.
    Stop,
    /// Flow control: the client has consumed (played, or for a file writer, stored) every frame
    /// before `sample_pos` of `session`. The server keeps at most its send-ahead window beyond
    /// the larger of this and the real-time position.
    Ack { session: u32, sample_pos: u64 },
    /// Keep-alive; answered with `pong` carrying the same `id`.
    Ping { id: u64 },
}

/// A control message from the server.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ServerMessage {
    /// A stream starts; binary frames of `session` follow.
    AudioStreamStart(StreamStart),
    /// The stream ended normally after `total_samples` frames (from the track start).
    AudioStreamEnd {
        session: u32,
        total_samples: u64,
        duration: f64,
    },
    /// Something went wrong; `session` is 0 when the error is not about a stream.
    AudioStreamError {
        session: u32,
        code: ErrorCode,
        error: String,
    },
    /// Answer to `ping`.
    Pong { id: u64 },
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
    /// The most audio the server sends ahead of the acknowledged or real-time position.
    pub send_ahead_ms: u32,
}

/// Why a control message was refused.
#[derive(Clone, Debug, PartialEq)]
pub struct ProtocolError {
    pub code: ErrorCode,
    pub message: String,
}

impl ProtocolError {
    fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ProtocolError {
            code,
            message: message.into(),
        }
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
        ServerMessage::AudioStreamError {
            session,
            code,
            error: error.into(),
        }
    }
}

/// The message types clients may send.
pub const CLIENT_MESSAGE_TYPES: &[&str] = &["play", "stop", "ack", "ping"];

/// Parses one client text frame.
pub fn parse_client_message(text: &str) -> Result<ClientMessage, ProtocolError> {
    if text.len() > MAX_CONTROL_MESSAGE_BYTES {
        return Err(ProtocolError::new(
            ErrorCode::MessageTooLarge,
            format!(
                "control message of {} bytes exceeds {MAX_CONTROL_MESSAGE_BYTES}",
                text.len()
            ),
        ));
    }
    let value: Value = serde_json::from_str(text)
        .map_err(|e| ProtocolError::new(ErrorCode::MalformedMessage, format!("not JSON: {e}")))?;
    let obj = value.as_object().ok_or_else(|| {
        ProtocolError::new(ErrorCode::MalformedMessage, "message is not a JSON object")
    })?;
    let kind = obj.get("type").and_then(Value::as_str).ok_or_else(|| {
        ProtocolError::new(
            ErrorCode::MalformedMessage,
            "message has no string \"type\"",
        )
    })?;
    let empty = serde_json::Map::new();
    let data = match obj.get("data") {
        None | Some(Value::Null) => &empty,
        Some(Value::Object(m)) => m,
        Some(_) => {
            return Err(ProtocolError::new(
                ErrorCode::MalformedMessage,
                "\"data\" must be an object",
            ))
        }
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
            let position_s = match data.get("position_s") {
                None | Some(Value::Null) => 0.0,
                Some(v) => v
                    .as_f64()
                    .ok_or_else(|| invalid("position_s must be a number".into()))?,
            };
            if !position_s.is_finite() || position_s < 0.0 {
                return Err(invalid(format!(
                    "position_s must be a finite number >= 0, got {position_s}"
                )));
            }
            let codec = match data.get("codec") {
                None | Some(Value::Null) => Codec::PcmF32,
                Some(Value::String(s)) => Codec::from_name(s).ok_or_else(|| {
                    ProtocolError::new(
                        ErrorCode::UnsupportedCodec,
                        format!("codec {s:?} is not one of pcm_s16, pcm_f32, opus"),
                    )
                })?,
                Some(_) => return Err(invalid("codec must be a string".into())),
            };
            Ok(ClientMessage::Play {
                track_id: track_id.to_owned(),
                position_s,
                codec,
            })
        }
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
            Ok(ClientMessage::Ack {
                session,
                sample_pos,
            })
        }
        "ping" => {
            let id = match data.get("id") {
                None | Some(Value::Null) => 0,
                Some(v) => v
                    .as_u64()
                    .ok_or_else(|| invalid("ping id must be an integer >= 0".into()))?,
            };
            Ok(ClientMessage::Ping { id })
        }
        other => {
            let shown: String = other.chars().take(64).collect();
            Err(ProtocolError::new(
                ErrorCode::UnknownMessage,
                format!(
                    "unknown message type {shown:?}; known: {}",
                    CLIENT_MESSAGE_TYPES.join(", ")
                ),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_play_with_defaults_and_fields() {
        assert_eq!(
            parse_client_message(r#"{"type":"play","data":{"track_id":"abc"}}"#),
            Ok(ClientMessage::Play {
                track_id: "abc".into(),
                position_s: 0.0,
                codec: Codec::PcmF32
            })
        );
        assert_eq!(
            parse_client_message(
                r#"{"type":"play","data":{"track_id":"abc","position_s":1.5,"codec":"pcm_s16"}}"#
            ),
            Ok(ClientMessage::Play {
                track_id: "abc".into(),
                position_s: 1.5,
                codec: Codec::PcmS16
            })
        );
        assert_eq!(
            parse_client_message(r#"{"type":"stop"}"#),
            Ok(ClientMessage::Stop)
        );
        assert_eq!(
            parse_client_message(r#"{"type":"ack","data":{"session":3,"sample_pos":480}}"#),
            Ok(ClientMessage::Ack {
                session: 3,
                sample_pos: 480
            })
        );
        assert_eq!(
            parse_client_message(r#"{"type":"ping","data":{"id":5}}"#),
            Ok(ClientMessage::Ping { id: 5 })
        );
    }

    #[test]
    fn each_kind_of_bad_input_has_its_code() {
        let code = |t: &str| parse_client_message(t).map_err(|e| e.code).err();
        assert_eq!(code("{not json"), Some(ErrorCode::MalformedMessage));
        assert_eq!(code("[1,2]"), Some(ErrorCode::MalformedMessage));
        assert_eq!(code(r#"{"data":{}}"#), Some(ErrorCode::MalformedMessage));
        assert_eq!(
            code(r#"{"type":"play","data":5}"#),
            Some(ErrorCode::MalformedMessage)
        );
        assert_eq!(code(r#"{"type":"dance"}"#), Some(ErrorCode::UnknownMessage));
        assert_eq!(
            code(r#"{"type":"play","data":{}}"#),
            Some(ErrorCode::InvalidParameter)
        );
        assert_eq!(
            code(r#"{"type":"play","data":{"track_id":"a","position_s":-1}}"#),
            Some(ErrorCode::InvalidParameter)
        );
        assert_eq!(
            code(r#"{"type":"play","data":{"track_id":"a","position_s":"x"}}"#),
            Some(ErrorCode::InvalidParameter)
        );
        assert_eq!(
            code(r#"{"type":"play","data":{"track_id":"a","codec":"mp3"}}"#),
            Some(ErrorCode::UnsupportedCodec)
        );
        assert_eq!(
            code(r#"{"type":"ack","data":{"session":1,"sample_pos":-4}}"#),
            Some(ErrorCode::InvalidParameter)
        );
        let big = format!(
            r#"{{"type":"play","data":{{"track_id":"{}"}}}}"#,
            "x".repeat(5000)
        );
        assert_eq!(code(&big), Some(ErrorCode::MessageTooLarge));
    }

    #[test]
    fn server_messages_have_the_documented_shape() {
        let m = ServerMessage::error(4, ErrorCode::UnknownTrack, "no track \"x\"");
        let v: Value = serde_json::from_str(&m.to_json()).expect("json");
        assert_eq!(v["type"], "audio_stream_error");
        assert_eq!(v["data"]["code"], "unknown_track");
        assert_eq!(v["data"]["session"], 4);
        let end = ServerMessage::AudioStreamEnd {
            session: 1,
            total_samples: 48_000,
            duration: 1.0,
        };
        let v: Value = serde_json::from_str(&end.to_json()).expect("json");
        assert_eq!(v["type"], "audio_stream_end");
        assert_eq!(v["data"]["total_samples"], 48_000);
        for code in [
            ErrorCode::MalformedMessage,
            ErrorCode::MediaTruncated,
            ErrorCode::Internal,
        ] {
            assert_eq!(
                serde_json::to_value(code).expect("json"),
                Value::String(code.as_str().into())
            );
        }
    }
}
