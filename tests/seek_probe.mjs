import { startRelay, launchBrowser, trackByFile } from '/work/main/tests/e2e/lib.mjs';
const relay = await startRelay();
const tracks = await (await fetch(relay.url + '/api/tracks')).json();
const id = trackByFile(tracks, 'aurora-48k.flac').id;
for (const engine of (process.env.E || 'webkit').split(' ')) {
  const b = await launchBrowser({ engine });
  try {
    const page = await b.newPage();
    await page.goto(relay.url + '/');
    await page.waitForSelector('stream-player li[role=option]');
    await page.evaluate(() => window.streamPlayer.init());
    await page.evaluate(() => { const b = document.createElement('button'); b.id = 'u'; b.style.cssText = 'position:fixed;left:0;top:0;z-index:2147483647;width:60px;height:30px'; b.onclick = () => window.streamPlayer.context.resume(); document.body.appendChild(b); });
    await page.click('#u');
    await page.waitForFunction(() => window.streamPlayer.context.state === 'running');
    const r = await page.evaluate(async (id) => {
      const p = window.streamPlayer;
      const log = [];
      const T = () => performance.now();
      const orig = p._onWorklet.bind(p);
      p._onWorklet = (m) => { orig(m); if (m.t === 'stats') log.push(['stats', T(), m.clock, m.stats[1], p.stats.startClock, p.stats.firstAudioClock, p.stats.state, p._ttfaSession]); };
      for (const ev of ['stream_start', 'firstaudio', 'play']) p.addEventListener(ev, (e) => log.push([ev, T(), JSON.stringify(e.detail).slice(0, 120)]));
      const wait = (ms) => new Promise((ok) => setTimeout(ok, ms));
      const fa = () => new Promise((ok) => p.addEventListener('firstaudio', (e) => ok(e.detail.timeToFirstAudioMs), { once: true }));
      let f = fa(); log.push(['PLAY', T()]); p.play(id, { codec: 'opus' }); await f;
      const out = [];
      for (let i = 0; i < 6; i++) {
        await wait(150);
        f = fa(); const t0 = T(); log.push(['SEEK', t0, i]); p.seek(i % 2 ? 2 + (i % 5) * 0.41 : 18 + (i % 5) * 0.37); out.push(await f);
      }
      p.stop();
      return { out, log };
    }, id);
    console.log(engine, r.out.map((x) => x.toFixed(0)).join(' '));
    for (const l of r.log) console.log(l.map((x) => (typeof x === 'number' ? Math.round(x * 10) / 10 : x)).join(' '));
  } finally { await b.close(); }
}
relay.stop();
