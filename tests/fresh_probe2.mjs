import { startRelay, launchBrowser, trackByFile } from '/work/main/tests/e2e/lib.mjs';
const relay = await startRelay({ args: ['--cache-mb', '0'] });
const tracks = await (await fetch(relay.url + '/api/tracks')).json();
const id = trackByFile(tracks, 'aurora-48k.flac').id;
const N = Number(process.env.N || 3);
const HOOK = () => {
  const L = window.__L = [];
  const T = () => performance.now();
  const mark = (n, x) => L.push([n, T(), x]);
  window.__mark = mark;
  mark('document start');
  const AC = window.AudioContext;
  window.AudioContext = class extends AC {
    constructor(o) { mark('ctx new'); super(o); mark('ctx created', this.state); window.__ctx = this; this.addEventListener('statechange', () => mark('ctx ' + this.state, this.currentTime));
      const ctx = this; let last = -1, n = 0; const iv = setInterval(() => { if (ctx.currentTime !== last) { if (n++ < 25) L.push(['ct', T(), Math.round(ctx.currentTime * 48000)]); last = ctx.currentTime; if (ctx.currentTime > 1.5) clearInterval(iv); } }, 2); }
  };
  const cs = WebAssembly.compileStreaming;
  WebAssembly.compileStreaming = (...a) => { mark('compile start'); return cs.apply(WebAssembly, a).then((m) => { mark('compile done'); return m; }); };
  const am = AudioWorklet.prototype.addModule;
  AudioWorklet.prototype.addModule = function (...a) { mark('addModule start'); return am.apply(this, a).then((r) => { mark('addModule done'); return r; }); };
  const rs = AC.prototype.resume;
  AC.prototype.resume = function () { mark('resume called', this.state); return rs.call(this).then((r) => { mark('resume resolved', this.state); return r; }); };
  const W = window.Worker;
  window.Worker = class extends W { constructor(...a) { mark('Worker new'); super(...a); } };
};
for (const engine of (process.env.E || 'chromium firefox webkit').split(' ')) {
  const b = await launchBrowser({ engine });
  try {
    for (let k = 0; k < N; k++) {
      const page = await b.newPage();
      await page.addInitScript(HOOK);
      await page.goto(relay.url + '/');
      await page.waitForSelector('stream-player li[role=option]');
      await page.evaluate((id) => {
        if (!window.__L) { (0, eval)('(' + window.__HOOKSRC + ')')(); }
        const mark = window.__mark;
        const p = window.streamPlayer;
        p.init().then(() => mark('init resolved'));
        const ow = p._onWorker.bind(p);
        p._onWorker = (m) => { mark('worker ' + m.ev); ow(m); };
        const ok = p._onWorklet.bind(p);
        let firstStats = true;
        p._onWorklet = (m) => { ok(m); if (m.t === 'stats' && (firstStats || p.stats.startClock >= 0 && !window.__sc)) { mark('stats', [m.clock, p.stats.startClock, p.stats.firstAudioClock]); firstStats = false; if (p.stats.startClock >= 0) window.__sc = 1; } };
        p.addEventListener('firstaudio', (e) => { mark('firstaudio', e.detail.timeToFirstAudioMs); window.__done = true; });
        const btn = document.createElement('button'); btn.id = 'go'; btn.style.cssText = 'position:fixed;left:0;top:0;z-index:2147483647;width:60px;height:30px';
        btn.onclick = () => { mark('click'); p.play(id, { codec: 'opus' }); mark('play returned'); };
        document.body.appendChild(btn);
      }, id);
      await page.click('#go');
      await page.waitForFunction(() => window.__done, undefined, { timeout: 10000 });
      await new Promise((r) => setTimeout(r, 300));
      const L = await page.evaluate(() => ({ L: window.__L, pp: window.streamPlayer._playPerf }));
      const t0 = L.pp;
      const lines = L.L.map(([n, t, x]) => n === 'ct' ? `ct ${(t - t0).toFixed(1)}: frame ${x} (${(x / 48).toFixed(0)} ms)` : `${n} ${(t - t0).toFixed(1)} ${x === undefined ? '' : JSON.stringify(x)}`);
      console.log(`== ${engine} fresh page #${k + 1}\n  ` + lines.join('\n  '));
      await page.close();
    }
  } finally { await b.close(); }
}
relay.stop();
