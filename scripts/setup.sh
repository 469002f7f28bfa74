#!/usr/bin/env bash
# Installs, idempotently and only what is missing, everything `make run`, `make test` and
# `make bench` need. Everything comes from the package registries (Debian, crates.io, npm).
set -euo pipefail
cd "$(dirname "$0")/.."

WASM_BINDGEN_VERSION="$(sed -n 's/^wasm-bindgen = { version = "=\([0-9.]*\)".*/\1/p' Cargo.toml)"
: "${WASM_BINDGEN_VERSION:?could not read the pinned wasm-bindgen version from Cargo.toml}"
export PATH="$HOME/.cargo/bin:$PATH"

log() { printf '[setup] %s\n' "$*"; }

# --- Debian packages -------------------------------------------------------------------------
APT_PKGS=(chromium chromium-driver ffmpeg sox libsox-fmt-all espeak-ng libopus-dev pkg-config
          opus-tools flac lame binaryen icecast2 ezstream ices2 liquidsoap
          firefox-esr webkit2gtk-driver xvfb pulseaudio nats-server)
missing=()
for p in "${APT_PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  log "apt-get install ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# --- Rust: wasm32 target, wasm-bindgen CLI pinned to the crate, wasm-pack -------------------
if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  log "rustup target add wasm32-unknown-unknown"
  rustup target add wasm32-unknown-unknown
fi
if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$WASM_BINDGEN_VERSION" ]; then
  log "cargo install wasm-bindgen-cli $WASM_BINDGEN_VERSION (a few minutes)"
  # No --locked: its lockfile pins a crate version the registry mirror lacks (TOOLCHAIN.md).
  cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION" --force
fi
if ! command -v wasm-pack >/dev/null 2>&1; then
  log "cargo install wasm-pack (a few minutes)"
  cargo install wasm-pack
fi

# --- npm packages of the browser tests -------------------------------------------------------
# (again whenever tests/package-lock.json is newer than what was installed)
if [ ! -f tests/node_modules/.package-lock.json ] || [ tests/package-lock.json -nt tests/node_modules/.package-lock.json ]; then
  log "npm ci in tests/"
  (cd tests && npm ci --no-audit --no-fund --loglevel=error)
fi
log "ok"
