#!/usr/bin/env bash
# Soak: a fresh relay-server (release) on 127.0.0.1, then `relay-client soak` against it:
# SOAK_CYCLES connect/play/disconnect cycles with random timing, a third of them live (streams
# published in real time the whole run, listeners over /ws and HTTP Ogg joining, reconnecting
# and dropping, tokens renewed, expired tokens refused, streams published and dropped by their
# producer); prints the server's file descriptors, threads, sessions, live streams and RSS before
# and after (exit 1 beyond the stated margins).
set -euo pipefail
cd "$(dirname "$0")/.."
CYCLES=${SOAK_CYCLES:-3000}
KEY=soak-key
out=$(mktemp)
# A small chunk cache: the soak measures leaks, not the cache filling up. Short token lifetime
# and linger, so that expiry and the end of dropped streams happen within the run.
RUST_LOG=error ${SOAK_ENV:-} ./target/release/relay-server --listen 127.0.0.1:0 --ingest-listen off --media media --cache-mb 16 \
  --api-key "$KEY" --listen-token-ttl-s 5 --live-linger-s 2 --streams-per-minute 100000 --max-streams 1000 \
  --web-dir web --worklet-dir worklet >"$out" &
pid=$!
trap 'kill -TERM $pid 2>/dev/null || true; rm -f "$out"' EXIT
for _ in $(seq 300); do grep -q listening "$out" && break; sleep 0.1; done
url=$(grep -o 'http://[0-9.:]*' "$out" | head -1)
echo "soak: relay-server pid $pid at $url, $CYCLES cycles"
./target/release/relay-client soak --server "$url" --server-pid "$pid" --cycles "$CYCLES" --concurrency 32 \
  --api-key "$KEY" --listen-token-ttl-s 5
