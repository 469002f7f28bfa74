// Audio analysis of recordings: WAV reading, FFT, band levels, alignment, click detection.
import { readFileSync } from 'node:fs';

/** Reads a 32-bit float WAV: { channels, rate, left, right }. */
export function readWavF32(path) {
  const b = readFileSync(path);
  let p = 12, fmt = null;
  while (p + 8 <= b.length) {
    const id = b.toString('ascii', p, p + 4);
    const len = b.readUInt32LE(p + 4);
    if (id === 'fmt ') fmt = { format: b.readUInt16LE(p + 8), channels: b.readUInt16LE(p + 10), rate: b.readUInt32LE(p + 12), bits: b.readUInt16LE(p + 22) };
    if (id === 'data') {
      if (!fmt || fmt.bits !== 32) throw new Error('expected a 32-bit float WAV');
      const n = len / 4 / fmt.channels;
      const f = new Float32Array(b.buffer.slice(b.byteOffset + p + 8, b.byteOffset + p + 8 + len));
      const left = new Float32Array(n), right = new Float32Array(n);
      for (let i = 0; i < n; i++) {
        left[i] = f[i * fmt.channels];
        right[i] = f[i * fmt.channels + (fmt.channels > 1 ? 1 : 0)];
      }
      return { channels: fmt.channels, rate: fmt.rate, left, right };
    }
    p += 8 + len + (len & 1);
  }
  throw new Error('no data chunk');
}

/** In-place radix-2 FFT of (re, im), length a power of two. */
export function fft(re, im) {
  const n = re.length;
  for (let i = 1, j = 0; i < n; i++) {
    let bit = n >> 1;
    for (; j & bit; bit >>= 1) j ^= bit;
    j ^= bit;
    if (i < j) { [re[i], re[j]] = [re[j], re[i]]; [im[i], im[j]] = [im[j], im[i]]; }
  }
  for (let len = 2; len <= n; len <<= 1) {
    const ang = (-2 * Math.PI) / len;
    for (let i = 0; i < n; i += len) {
      for (let k = 0; k < len / 2; k++) {
        const wr = Math.cos(ang * k), wi = Math.sin(ang * k);
        const a = i + k, b = a + len / 2;
        const xr = re[b] * wr - im[b] * wi, xi = re[b] * wi + im[b] * wr;
        re[b] = re[a] - xr; im[b] = im[a] - xi;
        re[a] += xr; im[a] += xi;
      }
    }
  }
}

/** Energy in 1/3-octave bands from 50 Hz to 16 kHz, averaged over Hann-windowed 4096-frames. */
export function thirdOctaveBands(x, rate = 48000) {
  const N = 4096;
  const centers = [];
  for (let f = 50; f <= 16000; f *= 2 ** (1 / 3)) centers.push(f);
  const energy = new Float64Array(centers.length);
  const win = Float64Array.from({ length: N }, (_, i) => 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / N));
  for (let start = 0; start + N <= x.length; start += N / 2) {
    const re = new Float64Array(N), im = new Float64Array(N);
    for (let i = 0; i < N; i++) re[i] = x[start + i] * win[i];
    fft(re, im);
    centers.forEach((fc, b) => {
      const lo = Math.floor((fc / 2 ** (1 / 6)) * N / rate), hi = Math.ceil((fc * 2 ** (1 / 6)) * N / rate);
      for (let k = Math.max(1, lo); k <= Math.min(N / 2, hi); k++) energy[b] += re[k] * re[k] + im[k] * im[k];
    });
  }
  return { centers, db: Array.from(energy, (e) => 10 * Math.log10(e + 1e-20)) };
}

/** RMS level in dB of a signal. */
export function rmsDb(x) {
  let s = 0;
  for (const v of x) s += v * v;
  return 10 * Math.log10(s / x.length + 1e-30);
}

/** Lag (in samples, within ±maxLag) where `x` best matches `ref` (normalized cross-correlation). */
export function bestLag(ref, x, maxLag) {
  let best = 0, bestC = -Infinity;
  const n = Math.min(ref.length, x.length) - 2 * maxLag;
  for (let lag = -maxLag; lag <= maxLag; lag++) {
    let c = 0;
    for (let i = maxLag; i < maxLag + n; i++) c += ref[i] * x[i + lag];
    if (c > bestC) { bestC = c; best = lag; }
  }
  return best;
}

/** Correlation of the 10 ms RMS envelopes of two equal-length signals. */
export function envelopeCorrelation(a, b, rate = 48000) {
  const w = rate / 100;
  const env = (x) => { const e = []; for (let i = 0; i + w <= x.length; i += w) { let s = 0; for (let k = 0; k < w; k++) s += x[i + k] ** 2; e.push(Math.sqrt(s / w)); } return e; };
  const ea = env(a), eb = env(b);
  const mean = (e) => e.reduce((s, v) => s + v, 0) / e.length;
  const ma = mean(ea), mb = mean(eb);
  let num = 0, da = 0, db = 0;
  for (let i = 0; i < ea.length; i++) { num += (ea[i] - ma) * (eb[i] - mb); da += (ea[i] - ma) ** 2; db += (eb[i] - mb) ** 2; }
  return num / Math.sqrt(da * db);
}

/**
 * Click detector: the frames where the first difference of `x` exceeds `factor` times the
 * largest first difference of the source material (`maxSourceStep`). An equal-power crossfade
 * of two sources can reach sqrt(2) times either, so 1.5 leaves no room for a cut, whose step is
 * the signal's whole amplitude.
 */
export function clicks(x, maxSourceStep, factor = 1.5) {
  const at = [];
  for (let i = 1; i < x.length; i++) if (Math.abs(x[i] - x[i - 1]) > factor * maxSourceStep) at.push(i);
  return at;
}

export function maxStep(x) {
  let m = 0;
  for (let i = 1; i < x.length; i++) m = Math.max(m, Math.abs(x[i] - x[i - 1]));
  return m;
}
