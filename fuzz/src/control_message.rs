//! `control_message`: a client's JSON text frame (`stream_core::control::parse_client_message`).
//!
//! The bytes are read as UTF-8 when they are (a WebSocket text frame always is), else converted
//! lossily. Invariants checked: never a panic; every refusal has a stable code and a message;
//! an accepted message holds only values in the documented ranges (docs/wire.md).

use stream_core::control::{
    parse_client_message, ClientMessage, ErrorCode, MAX_CONTROL_MESSAGE_BYTES, MAX_OPUS_BITRATE, MIN_OPUS_BITRATE,
};

pub fn run(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    match parse_client_message(&text) {
        Ok(msg) => check_message(&msg),
        Err(e) => {
            assert!(!e.code.as_str().is_empty() && !e.message.is_empty());
            assert_eq!(e.code == ErrorCode::MessageTooLarge, text.len() > MAX_CONTROL_MESSAGE_BYTES);
        }
    }
}

fn check_message(msg: &ClientMessage) {
    let position_ok = |p: f64| p.is_finite() && p >= 0.0;
    match msg {
        ClientMessage::Play { track_id, position_s, opus, .. } => {
            assert!((1..=256).contains(&track_id.len()));
            assert!(position_ok(*position_s));
            if let Some(b) = opus.bitrate {
                assert!((MIN_OPUS_BITRATE..=MAX_OPUS_BITRATE).contains(&b));
            }
            assert!(opus.complexity.is_none_or(|c| c <= 10));
        }
        ClientMessage::Seek { position_s } => assert!(position_ok(*position_s)),
        ClientMessage::Listen { stream_id, token, .. } => {
            assert!((1..=256).contains(&stream_id.len()));
            assert!(token.chars().count() <= 256);
        }
        ClientMessage::Publish { stream_id, token, channels, .. } => {
            assert!((1..=256).contains(&stream_id.len()));
            assert!(token.chars().count() <= 256);
            assert!((1..=2).contains(channels));
        }
        _ => {}
    }
}
