//! The real relay-server on 127.0.0.1 asked by "pages" of other origins: CORS headers follow
//! `--allow-origin`, same-origin requests and requests without `Origin` are never affected, and
//! a malformed allow-list stops the relay at startup.

mod common;

use std::path::Path;
use std::process::Command;

use common::{write_tone, Server};

/// A one-second tone named `tone.wav`.
fn make_library(dir: &Path) {
    write_tone(&dir.join("tone.wav"), 1.0);
}

/// A response: status, lower-cased header lines, body.
struct Reply {
    status: u16,
    head: String,
    body: Vec<u8>,
}

impl Reply {
    /// The value of header `name` (lower case), if present.
    fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|l| l.strip_prefix(name).and_then(|v| v.strip_prefix(':')).map(str::trim))
    }
}

/// A raw HTTP/1.0 request with a method and extra header lines.
fn exchange(server: &Server, method: &str, path: &str, headers: &[&str]) -> Reply {
    let (status, head, body) = server.request_method(method, path, headers);
    Reply { status, head: head.to_ascii_lowercase(), body }
}

fn get(server: &Server, path: &str, origin: &str) -> Reply {
    exchange(server, "GET", path, &[&format!("Origin: {origin}")])
}

/// A browser's preflight for `POST /api/streams` with a bearer key and a JSON body.
fn preflight(server: &Server, origin: &str) -> Reply {
    exchange(
        server,
        "OPTIONS",
        "/api/streams",
        &[
            &format!("Origin: {origin}"),
            "Access-Control-Request-Method: POST",
            "Access-Control-Request-Headers: authorization, content-type",
        ],
    )
}

#[test]
fn other_origins_get_no_cors_grant_without_an_allow_list_but_the_same_origin_always_works() {
    let dir = tempfile::tempdir().expect("tempdir");
    make_library(dir.path());
    let server = Server::start(dir.path());

    // Another origin: answered (nothing breaks for non-browser clients that send Origin), but
    // without the grant, so a browser keeps the response from the page.
    let r = get(&server, "/api/tracks", "http://127.0.0.1:1");
    assert_eq!(r.status, 200, "{}", r.head);
    assert_eq!(r.header("access-control-allow-origin"), None, "{}", r.head);
    let r = get(&server, "/api/tracks", "null");
    assert_eq!(r.header("access-control-allow-origin"), None, "{}", r.head);
    // Its preflight fails, with a sentence saying why.
    let r = preflight(&server, "http://127.0.0.1:1");
    assert_eq!(r.status, 400, "{}", r.head);
    assert_eq!(r.header("access-control-allow-origin"), None, "{}", r.head);
    assert!(String::from_utf8_lossy(&r.body).contains("not allowed"), "{:?}", String::from_utf8_lossy(&r.body));

    // The same origin (Chromium sends Origin for module scripts, workers and POSTs): the API,
    // the page, its scripts and the worklet files all work.
    let own = server.url();
    for path in ["/api/tracks", "/", "/player.js", "/worklet/processor.js"] {
        let r = get(&server, path, &own);
        assert_eq!(r.status, 200, "{path}: {}", r.head);
        assert_eq!(r.header("access-control-allow-origin"), Some(own.as_str()), "{path}: {}", r.head);
        assert!(!r.body.is_empty(), "{path}");
    }
    let r = preflight(&server, &own);
    assert_eq!(r.status, 200, "{}", r.head);

    // No Origin at all (relay-client, ffmpeg, curl): as before, no CORS grant needed.
    let r = exchange(&server, "GET", "/api/tracks", &[]);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("access-control-allow-origin"), None);
}

#[test]
fn listed_origins_get_the_grant_and_their_preflight_passes() {
    let dir = tempfile::tempdir().expect("tempdir");
    make_library(dir.path());
    // A trailing '/' and a comma-separated second entry are accepted.
    let server = Server::start_with(dir.path(), &["--allow-origin", "http://127.0.0.1:1/,https://app.example.com"]);
    let listed = "http://127.0.0.1:1";

    let r = get(&server, "/api/tracks", listed);
    assert_eq!(r.status, 200, "{}", r.head);
    assert_eq!(r.header("access-control-allow-origin"), Some(listed), "{}", r.head);
    let exposed = r.header("access-control-expose-headers").unwrap_or_default().to_owned();
    for h in ["content-range", "accept-ranges", "content-length", "content-type"] {
        assert!(exposed.contains(h), "{h} not exposed: {exposed}");
    }
    let r = get(&server, "/api/tracks", "https://app.example.com");
    assert_eq!(r.header("access-control-allow-origin"), Some("https://app.example.com"), "{}", r.head);

    let r = preflight(&server, listed);
    assert!(r.status == 200 || r.status == 204, "{}", r.head);
    assert_eq!(r.header("access-control-allow-origin"), Some(listed), "{}", r.head);
    let methods = r.header("access-control-allow-methods").unwrap_or_default();
    for m in ["get", "head", "post", "put", "options"] {
        assert!(methods.contains(m), "{m} not allowed: {methods}");
    }
    let headers = r.header("access-control-allow-headers").unwrap_or_default();
    for h in ["authorization", "content-type", "range"] {
        assert!(headers.contains(h), "{h} not allowed: {headers}");
    }
    assert_eq!(r.header("access-control-max-age"), Some("3600"), "{}", r.head);

    // A Range request from the listed origin: 206 with the grant.
    let id = server.track_id("tone.wav");
    let r = exchange(
        &server,
        "GET",
        &format!("/api/tracks/{id}/original"),
        &[&format!("Origin: {listed}"), "Range: bytes=0-99"],
    );
    assert_eq!(r.status, 206, "{}", r.head);
    assert_eq!(r.body.len(), 100);
    assert_eq!(r.header("access-control-allow-origin"), Some(listed), "{}", r.head);

    // Not listed: another port, another scheme.
    for other in ["http://127.0.0.1:2", "http://app.example.com"] {
        let r = get(&server, "/api/tracks", other);
        assert_eq!(r.header("access-control-allow-origin"), None, "{other}: {}", r.head);
        assert_eq!(preflight(&server, other).status, 400, "{other}");
    }
    // The same origin still works with a list that does not name it.
    let own = server.url();
    assert_eq!(get(&server, "/", &own).header("access-control-allow-origin"), Some(own.as_str()));
}

#[test]
fn star_allows_every_origin() {
    let dir = tempfile::tempdir().expect("tempdir");
    make_library(dir.path());
    let server = Server::start_with(dir.path(), &["--allow-origin", "*"]);
    for origin in ["http://127.0.0.1:1", "https://anywhere.example", "null"] {
        let r = get(&server, "/api/tracks", origin);
        assert_eq!(r.status, 200);
        assert_eq!(r.header("access-control-allow-origin"), Some(origin), "{}", r.head);
        let r = preflight(&server, origin);
        assert_eq!(r.status, 200, "{}", r.head);
        assert_eq!(r.header("access-control-allow-origin"), Some(origin), "{}", r.head);
    }
}

#[test]
fn a_malformed_allow_list_stops_the_relay_at_startup() {
    let dir = tempfile::tempdir().expect("tempdir");
    let relay = || {
        let mut c = Command::new(env!("CARGO_BIN_EXE_relay-server"));
        c.arg("--media").arg(dir.path()).args(["--listen", "127.0.0.1:0", "--ingest-listen", "off"]);
        c
    };
    let out = relay().args(["--allow-origin", "localhost:3000"]).output().expect("run relay-server");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("localhost:3000") && err.contains("http://"), "{err}");

    let out = relay().env("RELAY_ALLOW_ORIGINS", "http://a.example,http://b.example/app").output().expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("http://b.example/app") && err.contains("path"), "{err}");
}
