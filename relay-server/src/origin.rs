//! Which web origins may use the relay: the one decision behind the CORS headers of the HTTP
//! routes and the `Origin` check of the WebSocket upgrade.
//!
//! A request without an `Origin` header (relay-client, ffmpeg, curl, any non-browser client)
//! and a same-origin request (the `Origin`'s host and port are the request's `Host`) are always
//! allowed; any other origin only if `--allow-origin` lists it, or lists `*`. This module only
//! decides; it sets no header and answers no request.

/// The allow-list entry that lets every origin in.
pub const ANY_ORIGIN: &str = "*";

/// Normalises one `--allow-origin` entry to the form browsers send in `Origin`
/// (`scheme://host[:port]`, lower case, no default port, no trailing `/`), or explains why it
/// is not one. Used as clap's value parser, so a bad entry stops the relay at startup. An empty
/// entry (`RELAY_ALLOW_ORIGINS=`, a trailing comma) stays empty and matches nothing.
pub fn parse_allow_origin(entry: &str) -> Result<String, String> {
    let trimmed = entry.trim();
    if trimmed.is_empty() || trimmed == ANY_ORIGIN {
        return Ok(trimmed.to_owned());
    }
    let e = trimmed.strip_suffix('/').unwrap_or(trimmed).to_ascii_lowercase();
    let bad = |why: &str| {
        Err(format!(
            "{trimmed:?} is not an origin ({why}); give scheme://host[:port], e.g. http://localhost:3000, or *"
        ))
    };
    let (scheme, authority) = match e.split_once("://") {
        Some((s @ ("http" | "https"), rest)) => (s, rest),
        _ => return bad("it must start with http:// or https://"),
    };
    if authority.is_empty() {
        return bad("the host is missing");
    }
    if authority.contains(['/', '?', '#', '@', '*']) || authority.chars().any(char::is_whitespace) {
        return bad("an origin has no path, query, user or wildcard");
    }
    let (host, port) = split_port(authority);
    if host.is_empty() {
        return bad("the host is missing");
    }
    let Some(port) = port.map(|p| p.parse::<u16>().ok().filter(|&p| p > 0)).unwrap_or(Some(default_port(scheme)))
    else {
        return bad("the port must be a number from 1 to 65535");
    };
    if port == default_port(scheme) {
        Ok(format!("{scheme}://{host}"))
    } else {
        Ok(format!("{scheme}://{host}:{port}"))
    }
}

/// Whether a request with this `Origin` and `Host` may use the relay, given the normalised
/// allow-list (entries from [`parse_allow_origin`]).
/// An `Origin` header that is not visible ASCII is passed as `""` (it matches `*` only).
pub fn allowed(origin: Option<&str>, host: Option<&str>, allow_list: &[String]) -> bool {
    let Some(origin) = origin else {
        return true; // not a browser page's request: CORS does not apply
    };
    if allow_list.iter().any(|a| a == ANY_ORIGIN) {
        return true;
    }
    if origin.is_empty() {
        return false;
    }
    if host.is_some_and(|h| same_origin(origin, h)) {
        return true;
    }
    allow_list.iter().any(|a| !a.is_empty() && a.eq_ignore_ascii_case(origin))
}

/// The origin's host and port are the `Host` header's; a missing port is the default of the
/// origin's scheme on both sides (browsers leave it out of both). `null` and non-HTTP origins
/// never match.
fn same_origin(origin: &str, host_header: &str) -> bool {
    let Some((scheme, authority)) = origin.split_once("://") else {
        return false;
    };
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return false;
    }
    let default = default_port(&scheme);
    let (o_host, o_port) = split_port(authority);
    let (h_host, h_port) = split_port(host_header.trim());
    let port = |p: Option<&str>| match p {
        None => Some(default),
        Some(p) => p.parse::<u16>().ok(),
    };
    !o_host.is_empty() && o_host.eq_ignore_ascii_case(h_host) && port(o_port).is_some() && port(o_port) == port(h_port)
}

/// The sentence of the `origin_not_allowed` error: what was refused and the option that
/// would admit it.
pub fn refusal_message(origin: &str) -> String {
    match parse_allow_origin(origin) {
        Ok(entry) => format!("origin {origin} is not allowed by this relay (start it with --allow-origin {entry})"),
        Err(_) => format!("origin {origin} is not allowed by this relay (only --allow-origin '*' admits it)"),
    }
}

/// `host[:port]` → (host, port text); IPv6 literals keep their brackets.
fn split_port(authority: &str) -> (&str, Option<&str>) {
    let after_host = if authority.starts_with('[') { authority.find(']').map_or(0, |i| i + 1) } else { 0 };
    match authority[after_host..].rfind(':') {
        Some(i) => (&authority[..after_host + i], Some(&authority[after_host + i + 1..])),
        None => (authority, None),
    }
}

fn default_port(scheme: &str) -> u16 {
    if scheme == "https" {
        443
    } else {
        80
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(entries: &[&str]) -> Vec<String> {
        entries.iter().map(|e| parse_allow_origin(e).expect("valid entry")).collect()
    }

    fn check(origin: Option<&str>, host: Option<&str>, allow: &[&str]) -> bool {
        allowed(origin, host, &list(allow))
    }

    #[test]
    fn requests_without_origin_are_always_allowed() {
        assert!(check(None, Some("127.0.0.1:8080"), &[]));
        assert!(check(None, None, &[]));
    }

    #[test]
    fn same_origin_is_allowed_without_a_list() {
        assert!(check(Some("http://127.0.0.1:8080"), Some("127.0.0.1:8080"), &[]));
        assert!(check(Some("http://Example.com"), Some("example.com"), &[]));
        assert!(check(Some("http://example.com"), Some("example.com:80"), &[]));
        assert!(check(Some("https://example.com"), Some("example.com"), &[]));
        assert!(check(Some("http://[::1]:8080"), Some("[::1]:8080"), &[]));
    }

    #[test]
    fn another_port_or_host_is_another_origin() {
        assert!(!check(Some("http://127.0.0.1:1"), Some("127.0.0.1:8080"), &[]));
        assert!(!check(Some("http://localhost:8080"), Some("127.0.0.1:8080"), &[]));
        assert!(!check(Some("https://example.com"), Some("example.com:80"), &[]));
        assert!(!check(Some("http://127.0.0.1:8080"), None, &[]));
        assert!(!check(Some("http://127.0.0.1:1"), Some("127.0.0.1:8080"), &["http://127.0.0.1:2"]));
    }

    #[test]
    fn listed_origins_are_allowed() {
        let allow = ["http://127.0.0.1:1", "https://app.example.com/"];
        assert!(check(Some("http://127.0.0.1:1"), Some("127.0.0.1:8080"), &allow));
        assert!(check(Some("https://app.example.com"), Some("relay.example.com"), &allow));
        assert!(!check(Some("http://app.example.com"), Some("relay.example.com"), &allow));
    }

    #[test]
    fn star_allows_every_origin_including_null() {
        assert!(check(Some("http://127.0.0.1:1"), Some("127.0.0.1:8080"), &["*"]));
        assert!(check(Some("null"), Some("127.0.0.1:8080"), &["*"]));
    }

    #[test]
    fn the_null_origin_is_refused_unless_star() {
        assert!(!check(Some("null"), Some("127.0.0.1:8080"), &[]));
        assert!(!check(Some("null"), Some("127.0.0.1:8080"), &["http://127.0.0.1:8080"]));
        assert!(!check(Some("file://"), Some("127.0.0.1:8080"), &[]));
    }

    #[test]
    fn the_refusal_names_the_option_that_would_admit_the_origin() {
        assert_eq!(
            refusal_message("http://x:1"),
            "origin http://x:1 is not allowed by this relay (start it with --allow-origin http://x:1)"
        );
        assert!(refusal_message("null").contains("--allow-origin '*'"));
    }

    #[test]
    fn entries_are_normalised() {
        assert_eq!(parse_allow_origin(" http://localhost:3000/ ").as_deref(), Ok("http://localhost:3000"));
        assert_eq!(parse_allow_origin("HTTPS://App.Example.com:443").as_deref(), Ok("https://app.example.com"));
        assert_eq!(parse_allow_origin("http://example.com:80").as_deref(), Ok("http://example.com"));
        assert_eq!(parse_allow_origin("http://[::1]:8080").as_deref(), Ok("http://[::1]:8080"));
        assert_eq!(parse_allow_origin(" * ").as_deref(), Ok("*"));
        assert_eq!(parse_allow_origin(" ").as_deref(), Ok(""));
    }

    #[test]
    fn empty_entries_match_nothing() {
        assert!(!check(Some(""), Some("127.0.0.1:8080"), &["", " "]));
        assert!(!check(Some("http://127.0.0.1:1"), Some("127.0.0.1:8080"), &[""]));
    }

    #[test]
    fn malformed_entries_are_rejected_with_the_reason() {
        for bad in [
            "localhost:3000",
            "ftp://example.com",
            "http://",
            "http://example.com/app",
            "http://example.com:0",
            "http://example.com:99999",
            "http://example.com:x",
            "http://*.example.com",
            "http://user@example.com",
            "null",
        ] {
            let err = parse_allow_origin(bad).expect_err(bad);
            assert!(err.contains("scheme://host[:port]"), "{bad}: {err}");
        }
    }
}
