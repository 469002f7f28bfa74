import { startRelay, launchBrowser, trackByFile } from '/work/main/tests/e2e/lib.mjs';
const relay = await startRelay({ args: ['--cache-mb', '0'] });
const tracks = await (await fetch(relay.url + '/api/tracks')).json();
const id = trackByFile(tracks, 'aurora-48k.flac').id;
const b = await launchBrowser({ engine: 'webkit' });
try {
  for (let k = 0; k < 3; k++) {
    const page = await b.newPage();
    await page.goto(relay.url + '/');
    await page.waitForSelector('stream-player li[role=option]');
    await page.evaluate(() => window.streamPlayer.init());
    await page.evaluate((id) => {
      const L = window.__L = [];
      const T = () => performance.now();
      const mark = (n, x) => L.push([n, T(), x]);
      const p = window.streamPlayer, ctx = p.context;
      ctx.addEventListener('statechange', () => mark('ctx ' + ctx.state, ctx.currentTime));
      let last = -1;
      const iv = setInterval(() => { if (ctx.currentTime !== last) { L.push(['ct', T(), Math.round(ctx.currentTime * 48000)]); last = ctx.currentTime; } if (ctx.currentTime > 1.2) clearInterval(iv); }, 1);
      const ow = p._onWorker.bind(p);
      p._onWorker = (m) => { mark('worker ' + m.ev); ow(m); };
      const ok = p._onWorklet.bind(p);
      p._onWorklet = (m) => { ok(m); if (m.t === 'stats') mark('stats', [m.clock, p.stats.startClock, p.stats.firstAudioClock]); };
      p.addEventListener('firstaudio', (e) => { mark('firstaudio', e.detail.timeToFirstAudioMs); window.__done = true; });
      const btn = document.createElement('button'); btn.id = 'go'; btn.style.cssText = 'position:fixed;left:0;top:0;z-index:2147483647;width:60px;height:30px';
      btn.onclick = () => { mark('click', ctx.state); p.play(id, { codec: 'opus' }); };
      document.body.appendChild(btn);
    }, id);
    await page.click('#go');
    await page.waitForFunction(() => window.__done, undefined, { timeout: 10000 });
    await new Promise((r) => setTimeout(r, 1000));
    const L = await page.evaluate(() => ({ L: window.__L, pp: window.streamPlayer._playPerf }));
    const t0 = L.pp;
    console.log(`== webkit #${k + 1}: ` + L.L.map(([n, t, x]) => n === 'ct' ? `ct@${(t - t0).toFixed(0)}=${x}` : `\n  ${n} ${(t - t0).toFixed(1)} ${x === undefined ? '' : JSON.stringify(x)}\n `).join(' '));
    await page.close();
  }
} finally { await b.close(); }
relay.stop();
