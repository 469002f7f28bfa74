#!/usr/bin/env bash
# make fuzz: the cargo-fuzz targets of fuzz/ (docs/fuzz.md), one after the other, one process
# each, FUZZ_SECONDS each (default 300). Prints the command and libFuzzer's figures of every
# target as a FUZZ line (also in target/fuzz/summary.txt); exits non-zero if any target found a
# crash, a leak, a timeout or an out-of-memory (the input is in fuzz/artifacts/<target>/).
set -euo pipefail
cd "$(dirname "$0")/.."

FUZZ_SECONDS=${FUZZ_SECONDS:-300}
FUZZ_TARGETS=${FUZZ_TARGETS:-wire_frame control_message ogg_ingest decode_media}
# Per execution: a unit slower than this is a finding (a hang on hostile input).
FUZZ_TIMEOUT_S=${FUZZ_TIMEOUT_S:-30}
RSS_LIMIT_MB=2048
OUT=target/fuzz
mkdir -p "$OUT"

# Findings libFuzzer writes (slow-unit-* files are reports, not failures).
findings() {
  find "fuzz/artifacts/$1" -maxdepth 1 -type f \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \) | wc -l
}

# Largest input per target: a frame with a few KB of payload; a control message just over the
# 4096-byte limit; a few Ogg pages (a page holds up to 64 KB); the 32 KB media cuts of the seeds.
max_len() {
  case "$1" in
    wire_frame) echo 8192 ;;
    control_message) echo 5000 ;;
    ogg_ingest) echo 32768 ;;
    decode_media) echo 32769 ;;
    *) echo 4096 ;;
  esac
}

if ! cargo +nightly --version >/dev/null 2>&1; then
  echo "make fuzz needs the nightly toolchain (rustup toolchain install nightly)" >&2
  exit 1
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi

# Seeds: generated from the golden frames, docs/wire.md's messages, Ogg pages and media/.
cargo +nightly run -q --manifest-path fuzz/Cargo.toml -p fuzz-seed -- fuzz/corpus media
cargo +nightly fuzz build

: >"$OUT/summary.txt"
failed=0
for t in $FUZZ_TARGETS; do
  mkdir -p "fuzz/corpus/$t" "fuzz/artifacts/$t"
  before=$(findings "$t")
  cmd=(cargo +nightly fuzz run "$t" "fuzz/corpus/$t" --
    "-max_total_time=$FUZZ_SECONDS" "-rss_limit_mb=$RSS_LIMIT_MB" "-max_len=$(max_len "$t")"
    "-timeout=$FUZZ_TIMEOUT_S" -print_final_stats=1)
  echo "FUZZ-CMD $t: ${cmd[*]}" | tee -a "$OUT/summary.txt"
  start=$(date +%s)
  rc=0
  "${cmd[@]}" >"$OUT/$t.log" 2>&1 || rc=$?
  seconds=$(($(date +%s) - start))
  # Figures: executions and exec/s from the final stats; cov, ft and corpus from the last
  # status line (#N ... cov: C ft: F corp: N/size ...).
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$OUT/$t.log" | tail -1)
  per_s=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$OUT/$t.log" | tail -1)
  last=$(grep -E '^#[0-9]+.*cov: ' "$OUT/$t.log" | tail -1 || true)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
  corp=$(sed -n 's/.* corp: \([0-9]*\)\/.*/\1/p' <<<"$last")
  if [ -z "$execs" ]; then execs=$(sed -n 's/^#\([0-9]*\).*/\1/p' <<<"$last"); fi
  # Seconds fuzzed as libFuzzer counts them ("Done N runs in S second(s)"), not the rebuild
  # `cargo fuzz run` may do first.
  fuzzed=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$OUT/$t.log" | tail -1)
  seconds=${fuzzed:-$seconds}
  crashes=$(($(findings "$t") - before))
  if [ "$rc" -ne 0 ] && [ "$crashes" -eq 0 ]; then crashes=1; fi
  line="FUZZ $t execs=${execs:-0} exec_per_s=${per_s:-0} cov=${cov:-0} ft=${ft:-0} corpus=${corp:-0} crashes=$crashes seconds=$seconds"
  echo "$line" | tee -a "$OUT/summary.txt"
  if [ "$crashes" -ne 0 ]; then
    failed=1
    echo "  $t: see $OUT/$t.log and fuzz/artifacts/$t/" | tee -a "$OUT/summary.txt"
    grep -E '^(==[0-9]+==ERROR|SUMMARY|thread .* panicked|.*Test unit written)' "$OUT/$t.log" | head -5 || true
  fi
done
exit "$failed"
