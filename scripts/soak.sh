#!/usr/bin/env bash
# Soak: a fresh relay-server (release) on 127.0.0.1, then `relay-client soak` against it:
# SOAK_CYCLES connect/play/disconnect cycles with random timing; prints the server's file
# descriptors, threads, sessions and RSS before and after (exit 1 beyond the stated margins).
set -euo pipefail
cd "$(dirname "$0")/.."
CYCLES=${SOAK_CYCLES:-3000}
out=$(mktemp)
# A small chunk cache: the soak measures leaks, not the cache filling up.
RUST_LOG=error ${SOAK_ENV:-} ./target/release/relay-server --listen 127.0.0.1:0 --ingest-listen off --media media --cache-mb 16 \
  --web-dir web --worklet-dir worklet >"$out" &
pid=$!
trap 'kill -TERM $pid 2>/dev/null || true; rm -f "$out"' EXIT
for _ in $(seq 100); do grep -q listening "$out" && break; sleep 0.1; done
url=$(grep -o 'http://[0-9.:]*' "$out" | head -1)
echo "soak: relay-server pid $pid at $url, $CYCLES cycles"
./target/release/relay-client soak --server "$url" --server-pid "$pid" --cycles "$CYCLES" --concurrency 32
