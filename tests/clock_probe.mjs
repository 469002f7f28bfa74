import { startRelay, launchBrowser } from '/work/main/tests/e2e/lib.mjs';
const relay = await startRelay();
for (const engine of (process.env.E || 'chromium firefox webkit').split(' ')) {
  const b = await launchBrowser({ engine });
  try {
    const page = await b.newPage();
    await page.goto(relay.url + '/');
    await page.waitForSelector('stream-player li[role=option]');
    await page.evaluate(() => window.streamPlayer.init());
    await page.evaluate(() => { const b = document.createElement('button'); b.id = 'u'; b.style.cssText = 'position:fixed;left:0;top:0;z-index:2147483647;width:60px;height:30px'; b.onclick = () => window.streamPlayer.context.resume(); document.body.appendChild(b); });
    await page.click('#u');
    await page.waitForFunction(() => window.streamPlayer.context.state === 'running');
    const r = await page.evaluate(async () => {
      const p = window.streamPlayer, ctx = p.context;
      await new Promise((ok) => setTimeout(ok, 500));
      const rec = [];
      const orig = p._onWorklet.bind(p);
      p._onWorklet = (m) => { if (m.t === 'stats') rec.push([performance.now(), m.clock]); orig(m); };
      const iv = setInterval(() => p.output.port.postMessage({ t: 'poll', id: 1 }), 2);
      await new Promise((ok) => setTimeout(ok, 1500));
      clearInterval(iv);
      p._onWorklet = orig;
      return { rec, base: ctx.baseLatency, out: ctx.outputLatency, ua: navigator.userAgent };
    });
    const rec = r.rec;
    const steps = [];
    for (let i = 1; i < rec.length; i++) if (rec[i][1] !== rec[i - 1][1]) steps.push(rec[i][1] - rec[i - 1][1]);
    const offs = rec.map(([t, c]) => c / 48 - t); // ms: clock - perf
    const mn = Math.min(...offs), mx = Math.max(...offs);
    const hist = {};
    for (const s of steps) hist[s] = (hist[s] || 0) + 1;
    console.log(engine, `replies ${rec.length}, clock step histogram ${JSON.stringify(hist)}, (clock/rate - perf) spread ${(mx - mn).toFixed(1)} ms, baseLatency ${r.base}, outputLatency ${r.out}`);
    // Gaps in wall time between clock changes
    const changes = [];
    for (let i = 1; i < rec.length; i++) if (rec[i][1] !== rec[i - 1][1]) changes.push(rec[i][0]);
    const gaps = changes.slice(1).map((t, i) => t - changes[i]).sort((a, b) => a - b);
    console.log(engine, `wall ms between clock changes: p50 ${gaps[gaps.length >> 1]?.toFixed(1)}, max ${gaps[gaps.length - 1]?.toFixed(1)}`);
  } finally { await b.close(); }
}
relay.stop();
