//! The relay's layers, checked on its source: dependencies only point down (media ← library,
//! live ← transport ← server), nothing below the transport mentions actix or the shared HTTP
//! state, and no two modules import each other in a circle. docs/architecture.md draws them.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Every `.rs` file under `dir`.
fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).expect("read src") {
        let p = e.expect("entry").path();
        if p.is_dir() {
            files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// `a/b.rs` → `a::b`, `a/mod.rs` → `a`, `lib.rs` → `` (the crate root); binaries are left out.
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).ok()?;
    if rel.starts_with("bin") {
        return None;
    }
    let mut parts: Vec<String> = rel.iter().map(|c| c.to_string_lossy().into_owned()).collect();
    let last = parts.pop()?;
    match last.as_str() {
        "lib.rs" | "mod.rs" => {}
        other => parts.push(other.trim_end_matches(".rs").to_owned()),
    }
    Some(parts.join("::"))
}

/// The code of a file without its comments and its `#[cfg(test)]` module (tests may reach
/// anywhere), so a doc comment that names a layer is not an import.
fn code(text: &str) -> String {
    let text = text.split("#[cfg(test)]\nmod tests").next().unwrap_or(text);
    text.lines().map(|l| l.split("//").next().unwrap_or("")).collect::<Vec<_>>().join("\n")
}

/// The modules a file refers to: every `crate::a::b...` and `super::x` path, resolved to the
/// longest known module it starts with (`use crate::a::{b, c}` counts each of `a::b`, `a::c`).
fn references(module: &str, text: &str, modules: &BTreeSet<String>) -> BTreeSet<String> {
    let resolve = |path: &[&str]| -> Option<String> {
        (1..=path.len()).rev().map(|n| path[..n].join("::")).find(|m| modules.contains(m))
    };
    let parent: Vec<&str> = if module.is_empty() { vec![] } else { module.split("::").collect() };
    let mut out = BTreeSet::new();
    for (anchor, base) in [("crate::", Vec::new()), ("super::", parent[..parent.len().saturating_sub(1)].to_vec())] {
        for (i, _) in text.match_indices(anchor) {
            if i > 0 && text[..i].ends_with(|c: char| c.is_alphanumeric() || c == '_' || c == ':') {
                continue; // `relay_server::crate::` never happens; `x::super::` is not ours
            }
            let rest = &text[i + anchor.len()..];
            let head: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':').collect();
            let head: Vec<&str> = head.split("::").filter(|s| !s.is_empty()).collect();
            let after = &rest[head.iter().map(|s| s.len() + 2).sum::<usize>().min(rest.len())..];
            let mut paths = Vec::new();
            if after.starts_with('{') {
                // A group: each name in it (one level is enough for this crate's imports).
                let group = &after[1..after.find('}').unwrap_or(after.len())];
                for name in group.split(',') {
                    let name: Vec<&str> = name.trim().split("::").map(str::trim).collect();
                    paths.push(base.iter().copied().chain(head.iter().copied()).chain(name).collect::<Vec<_>>());
                }
            } else {
                paths.push(base.iter().copied().chain(head.iter().copied()).collect::<Vec<_>>());
            }
            for p in paths {
                if let Some(m) = resolve(&p) {
                    if m != module && !m.is_empty() {
                        out.insert(m);
                    }
                } else if !base.is_empty() {
                    out.insert(base.join("::"));
                }
            }
        }
    }
    out
}

/// The layer of a module: the first segment, `origin`/`config` as leaves.
fn layer(module: &str) -> &str {
    module.split("::").next().unwrap_or("")
}

#[test]
fn dependencies_only_point_down_and_no_modules_import_each_other_in_a_circle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut all = Vec::new();
    files(&src, &mut all);
    let sources: BTreeMap<String, String> = all
        .iter()
        .filter_map(|f| Some((module_of(&src, f)?, code(&std::fs::read_to_string(f).expect("read")))))
        .collect();
    let modules: BTreeSet<String> = sources.keys().cloned().collect();
    for layer_name in ["media", "library", "live", "cluster", "transport"] {
        assert!(modules.contains(layer_name), "no {layer_name} layer in src/");
    }
    // Which layers each layer may use (leaves: config, origin; stream_core is outside).
    let allowed: BTreeMap<&str, &[&str]> = BTreeMap::from([
        ("origin", &[][..]),
        ("config", &["origin", "live"][..]), // Config::live() builds the live layer's settings
        ("media", &["media"][..]),
        ("library", &["library", "media"][..]),
        ("live", &["live", "media", "config"][..]),
        ("cluster", &["cluster", "live", "media", "config"][..]),
        ("transport", &["transport", "library", "live", "cluster", "media", "config", "origin"][..]),
        ("server", &["transport", "library", "live", "cluster", "media", "config", "origin"][..]),
        ("", &["config", "server", "media", "library", "live", "cluster", "transport", "origin"][..]),
    ]);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut wrong = Vec::new();
    for (module, text) in &sources {
        let below_transport = matches!(layer(module), "media" | "library" | "live" | "cluster" | "origin" | "config");
        if below_transport {
            for word in ["actix", "AppState", "HttpResponse", "HttpRequest"] {
                if text.contains(word) {
                    wrong.push(format!("{module} mentions {word}: only the transport may"));
                }
            }
        }
        let refs = references(module, text, &modules);
        let may = allowed.get(layer(module)).copied().unwrap_or(&[]);
        for r in &refs {
            if !may.contains(&layer(r)) {
                wrong.push(format!("{module} uses {r}: {} may use only {may:?}", layer(module)));
            }
        }
        graph.insert(module.clone(), refs);
    }
    assert!(wrong.is_empty(), "layering broken:\n{}", wrong.join("\n"));
    // No cycles: a depth-first search that meets a module on its own path has found one.
    fn visit<'a>(
        m: &'a str,
        graph: &'a BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<&'a str>,
        done: &mut BTreeSet<&'a str>,
    ) -> Option<Vec<String>> {
        if let Some(i) = path.iter().position(|p| *p == m) {
            return Some(path[i..].iter().map(|s| s.to_string()).chain([m.to_string()]).collect());
        }
        if !done.insert(m) {
            return None;
        }
        path.push(m);
        for n in graph.get(m).into_iter().flatten() {
            if let Some(c) = visit(n, graph, path, done) {
                return Some(c);
            }
        }
        path.pop();
        None
    }
    let mut done = BTreeSet::new();
    for m in graph.keys() {
        if let Some(cycle) = visit(m, &graph, &mut Vec::new(), &mut done) {
            panic!("modules import each other in a circle: {}", cycle.join(" → "));
        }
    }
    // The check sees imports at all (a broken parser would pass everything).
    assert!(graph["transport::ws::session"].contains("library::jobs"), "{:?}", graph["transport::ws::session"]);
    assert!(graph["library::opus_job"].contains("library::cache"), "{:?}", graph["library::opus_job"]);
}
