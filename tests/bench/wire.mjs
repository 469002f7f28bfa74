// Bytes per minute on the WebSocket for each codec (audio frames with their headers and the
// WebSocket framing), against each codec's ideal: Opus bitrate x 60 / 8, PCM rate x channels x
// sample size x 60. Prints BENCH lines.
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRelay, trackByFile, ROOT } from '../e2e/lib.mjs';

const relay = await startRelay();
try {
  const tracks = await (await fetch(relay.url + '/api/tracks')).json();
  const track = trackByFile(tracks, 'aurora-48k.flac');
  const dir = mkdtempSync(join(tmpdir(), 'bench-wire-'));
  const ideal = { opus: (128000 * 60) / 8, pcm_s16: 48000 * 2 * 2 * 60, pcm_f32: 48000 * 2 * 4 * 60 };
  for (const codec of ['opus', 'pcm_s16', 'pcm_f32']) {
    const out = execFileSync(join(ROOT, 'target', 'release', 'relay-client'), ['fetch', '--server', relay.url, '--track', track.id,
      '--codec', codec, '--out', join(dir, `${codec}.wav`)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    const m = out.match(/bytes_per_min=(\d+)/);
    const perMin = Number(m[1]);
    const overhead = ((perMin - ideal[codec]) / ideal[codec]) * 100;
    console.log(`${codec}: ${perMin} bytes/min on the WebSocket, ideal ${ideal[codec]}, overhead ${overhead.toFixed(2)} %`);
    const name = codec === 'opus' ? 'opus' : codec;
    console.log(`BENCH ${name}_bytes_per_min ${perMin} bytes`);
    console.log(`BENCH ${name}_overhead_pct ${overhead.toFixed(2)} %`);
  }
} finally {
  relay.stop();
}
