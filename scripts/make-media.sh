#!/usr/bin/env bash
# Builds the demo library in media/ (idempotent): "Aurora", a synthesized piece, in FLAC, MP3,
# Ogg Vorbis and WAV at 44.1 and 48 kHz, and a spoken clip from espeak-ng. Nothing is downloaded.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=media
STAMP="$OUT/.complete-v2"
[ -f "$STAMP" ] && exit 0
mkdir -p "$OUT"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
SECONDS_LONG=24
cargo run -q --release -p media-gen -- "$TMP/master48.wav" 48000 "$SECONDS_LONG"
cargo run -q --release -p media-gen -- "$TMP/master44.wav" 44100 "$SECONDS_LONG"
ff() { ffmpeg -nostdin -hide_banner -loglevel error -y "$@"; }
tags=(-metadata artist="Stream Engine Ensemble" -metadata album="Demo Library")
ff -i "$TMP/master48.wav" -c:a flac "${tags[@]}" -metadata title="Aurora (FLAC, 48 kHz)" "$OUT/aurora-48k.flac"
ff -i "$TMP/master44.wav" -c:a flac "${tags[@]}" -metadata title="Aurora (FLAC, 44.1 kHz)" "$OUT/aurora-44k.flac"
ff -i "$TMP/master48.wav" -c:a libmp3lame -b:a 192k "${tags[@]}" -metadata title="Aurora (MP3, 48 kHz)" "$OUT/aurora-48k.mp3"
ff -i "$TMP/master44.wav" -c:a libmp3lame -b:a 192k "${tags[@]}" -metadata title="Aurora (MP3, 44.1 kHz)" "$OUT/aurora-44k.mp3"
ff -i "$TMP/master48.wav" -c:a libvorbis -q:a 6 "${tags[@]}" -metadata title="Aurora (Ogg Vorbis, 48 kHz)" "$OUT/aurora-48k.ogg"
ff -i "$TMP/master44.wav" -t 10 -c:a pcm_s16le "${tags[@]}" -metadata title="Aurora excerpt (WAV, 44.1 kHz)" "$OUT/aurora-excerpt-44k.wav"
espeak-ng -v en-us -s 150 -w "$TMP/voice.wav" \
  "Welcome to the stream engine. This voice was synthesized on this machine, streamed by the relay, and played by WebAssembly inside an audio worklet. No clicks, no gaps, no stalls."
# -R: sox seeds its dither with a fixed number, so every machine builds the same clip.
sox -q -R "$TMP/voice.wav" -r 48000 -b 16 "$TMP/voice48.wav" rate -v
ff -i "$TMP/voice48.wav" -c:a pcm_s16le -metadata title="Welcome (spoken, WAV, 48 kHz)" -metadata artist="espeak-ng" -metadata album="Demo Library" "$OUT/welcome-voice-48k.wav"
touch "$STAMP"
ls -la "$OUT"
