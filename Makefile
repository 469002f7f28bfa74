# The only entry points: setup, run, test, bench (README and CI call these targets).
SHELL := /bin/bash
# A bench or test piped into tee fails when the bench fails.
.SHELLFLAGS := -o pipefail -c
export PATH := $(HOME)/.cargo/bin:$(PATH)
export CHROMEDRIVER ?= /usr/bin/chromedriver
LISTEN ?= 127.0.0.1:8080
CARGO ?= cargo
FUZZ_SECONDS ?= 300
# Our crates: the vendored opus-rs (opus-wasm/vendor) is a member to cargo (a path dependency under
# the root) but not ours to lint or test; built as opus-wasm's dependency it gets its features.
WORKSPACE := --workspace --exclude opus-rs

.PHONY: setup media build wasm server run package test test-slow test-native test-wasm test-e2e lint bench bench-ttfa bench-decode bench-wire bench-transport bench-dsp bench-opus bench-widget bench-live bench-icecast soak fuzz clean

## setup: install what is missing (Debian packages, wasm32 target, wasm-pack, wasm-bindgen CLI, npm packages)
setup:
	@./scripts/setup.sh

## media: synthesize the demo library into media/ (idempotent)
media: setup
	@./scripts/make-media.sh

# The Worker's Opus decoder (docs/opus.md): a plain cdylib, no wasm-bindgen, built alone so its
# profile's fat LTO applies. RUSTFLAGS replaces .cargo/config.toml's: no simd128 (6 KB more gzip,
# no faster here); a 128 KB stack (the decoder's deepest call uses 74 KB; an overflow traps, and
# the Worker then resets and conceals). wasm-opt -Oz with the features rustc emitted.
OPUS_WASM := target/wasm32-unknown-unknown/wasm-opus/opus_wasm.wasm
OPUS_WASM_FEATURES := --enable-bulk-memory --enable-sign-ext --enable-nontrapping-float-to-int \
	--enable-mutable-globals --enable-multivalue --enable-reference-types

wasm: setup
	wasm-pack build engine-wasm --target web --release --out-dir ../web/pkg --no-pack
	RUSTFLAGS="-C link-arg=-zstack-size=131072" $(CARGO) rustc -p opus-wasm --lib --crate-type cdylib \
		--target wasm32-unknown-unknown --profile wasm-opus
	wasm-opt -Oz $(OPUS_WASM_FEATURES) --strip-debug --strip-producers --strip-target-features \
		$(OPUS_WASM) -o web/pkg/opus_decoder.wasm

server: setup
	$(CARGO) build --release -p relay-server --bins

## build: the relay (release) and the wasm engine for the page
build: server wasm

## run: build and serve the demo on http://$(LISTEN)
run: build media
	@echo "Open http://$(LISTEN)/ and press Play."
	./target/release/relay-server --listen $(LISTEN) --media media --web-dir web --worklet-dir worklet

lint: setup
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy $(WORKSPACE) --all-targets -- -D warnings

test-native: setup media
	$(CARGO) test $(WORKSPACE)

test-wasm: setup
	cd engine-wasm && wasm-pack test --headless --chrome

# Real-time browser tests run alone: never beside a compile. Every engine by default;
# ENGINE=chromium (or firefox, webkit) runs one; each engine's run prints its own summary.
ENGINE ?= chromium firefox webkit
test-e2e: build media package
	@rc=0; for e in $(ENGINE); do echo "== e2e in $$e"; (cd tests && ENGINE=$$e node --test --test-concurrency=1 e2e/) || rc=1; done; exit $$rc

## package: the npm package of the player (web/, with the worklet scripts and the wasm engine)
package: wasm
	rm -rf web/worklet && mkdir -p web/worklet && cp worklet/*.js web/worklet/
	mkdir -p target && cd web && npm pack --silent --pack-destination ../target

## test: every test (lint, native, wasm in headless Chromium, end to end)
test: lint test-native test-wasm test-e2e

## test-slow: the native and e2e suites confined to one core (taskset -c 0), the slower machine a
## user might have; built first at full speed, then run on one core (browsers and relays inherit it)
test-slow: setup media build package
	$(CARGO) test $(WORKSPACE) --no-run
	taskset -c 0 $(CARGO) test $(WORKSPACE)
	@rc=0; for e in $(ENGINE); do echo "== e2e in $$e (one core)"; (cd tests && ENGINE=$$e taskset -c 0 node --test --test-concurrency=1 e2e/) || rc=1; done; exit $$rc

## bench: performance figures as BENCH lines and target/bench/report.json
bench: bench-decode bench-wire bench-ttfa bench-transport bench-dsp bench-opus bench-widget bench-live bench-icecast soak
	@node tests/bench/report.mjs

# A bench of tests/bench/NAME.mjs (node), its output kept in target/bench/NAME.txt.
node_bench = mkdir -p target/bench && cd tests && node bench/$(1).mjs | tee ../target/bench/$(1).txt

bench-decode: build media
	@mkdir -p target/bench
	$(CARGO) run --release -q -p relay-server --example decode_bench -- media | tee target/bench/decode.txt

bench-wire: build media
	$(call node_bench,wire)

bench-transport: build media
	$(call node_bench,transport)

# Native (criterion) first, then the same chain as wasm in Chromium, Firefox and WebKit, and the
# switch in Chromium's real worklet.
bench-dsp: build media
	@mkdir -p target/bench
	$(CARGO) bench -q -p stream-core --bench dsp -- --warm-up-time 2 --measurement-time 5 | grep -E "^dsp_|time:"
	$(call node_bench,dsp)

# The Worker's Opus decoder (wasm) per 20 ms packet in Chromium, Firefox, WebKit and Node, against
# native libopus (ffmpeg) decoding the same packets; the module's gzip size.
bench-opus: build media
	$(call node_bench,opus)

# Live fan-out: this relay and Icecast 2, the same stream and listeners (several minutes).
bench-live: build media
	$(call node_bench,live)

# An Icecast station (ezstream, MP3) on the relay and on Icecast 2: fan-out and title delay.
bench-icecast: build media
	mkdir -p target/bench && cd tests && node --experimental-websocket bench/icecast.mjs | tee ../target/bench/icecast.txt

# The npm widget: bytes shipped, memory while playing, first sound vs <audio>.
bench-widget: build media package
	$(call node_bench,widget)

# Soak: thousands of connect/play/disconnect cycles; the server's fds, threads, sessions and RSS
# before and after.
soak: build media
	@mkdir -p target/bench
	./scripts/soak.sh | tee target/bench/soak.txt

# Time to first audio, cached plays, seeks and fresh pages in Chromium, Firefox and WebKit.
bench-ttfa: build media
	$(call node_bench,ttfa)

## fuzz: cargo-fuzz targets (wire frames, control messages, Ogg ingest, media decode), FUZZ_SECONDS each
## (default 300), one process each; FUZZ lines and target/fuzz/summary.txt; fails on any crash
fuzz: setup media
	@FUZZ_SECONDS=$(FUZZ_SECONDS) ./scripts/fuzz.sh

clean:
	$(CARGO) clean
	rm -rf web/pkg media tests/node_modules
