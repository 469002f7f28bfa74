//! Capabilities: publish and listen tokens (128 random bits, scoped, expiring).

use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// Scope of a token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    Publish,
    Listen,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Publish => "publish",
            Scope::Listen => "listen",
        }
    }

    pub fn parse(s: &str) -> Option<Scope> {
        match s {
            "publish" => Some(Scope::Publish),
            "listen" => Some(Scope::Listen),
            _ => None,
        }
    }
}

/// Why a token was refused. Each maps to HTTP 401 or WebSocket close 1008.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthError {
    Missing,
    /// Not a token this server issued (or for another stream: indistinguishable on purpose).
    Invalid,
    Expired,
    WrongScope {
        needed: Scope,
    },
}

impl AuthError {
    pub fn message(self) -> String {
        match self {
            AuthError::Missing => "a token is required".into(),
            AuthError::Invalid => "the token is not valid for this stream".into(),
            AuthError::Expired => "the token has expired".into(),
            AuthError::WrongScope { needed } => format!("a {} token is required", needed.as_str()),
        }
    }
}

/// 128 random bits from the OS as 32 hex digits.
pub fn random_hex() -> std::io::Result<String> {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b).map_err(|e| std::io::Error::other(e.to_string()))?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}

pub fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

#[derive(Clone, Debug)]
pub(super) struct TokenInfo {
    pub(super) stream_id: String,
    pub(super) scope: Scope,
    pub(super) expires: Instant,
}

/// A token handed out, with its expiry as Unix seconds.
#[derive(Clone, Debug, serde::Serialize)]
pub struct IssuedToken {
    pub token: String,
    pub expires_at: u64,
}
