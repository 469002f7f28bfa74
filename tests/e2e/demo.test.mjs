// What users see on the demo page: screenshots idle and playing (written to target/e2e/screenshots
// for people to look at; compared where the meter, spectrum and seek bar are), and keyboard
// accessibility: every control is reached by Tab, has an accessible name (Chromium's own
// accessibility tree, through the DevTools protocol) and works from the keyboard.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { startRelay, ARTIFACTS } from '../support/processes.mjs';
import { launchBrowser, ENGINE } from '../support/browsers.mjs';

let relay, browser;
const SHOTS = join(ARTIFACTS, '..', 'screenshots');
mkdirSync(SHOTS, { recursive: true });

before(async () => {
  relay = await startRelay();
  browser = await launchBrowser();
});
after(async () => { await browser?.close(); relay?.stop(); });

async function demo() {
  const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(relay.url + '/');
  await page.waitForSelector('stream-player li[role=option]');
  return { page, errors };
}

/** Pixels (of the rectangle, in CSS px of a device-scale-1 screenshot) that differ between two PNGs. */
async function changedPixels(page, a, b, r) {
  return page.evaluate(async ({ a, b, r }) => {
    const load = async (b64) => {
      const bmp = await createImageBitmap(await (await fetch(`data:image/png;base64,${b64}`)).blob());
      const c = new OffscreenCanvas(bmp.width, bmp.height);
      const g = c.getContext('2d');
      g.drawImage(bmp, 0, 0);
      return g.getImageData(Math.round(r.x), Math.round(r.y), Math.round(r.width), Math.round(r.height)).data;
    };
    const [pa, pb] = [await load(a), await load(b)];
    let n = 0;
    for (let i = 0; i < pa.length; i += 4) {
      if (Math.abs(pa[i] - pb[i]) + Math.abs(pa[i + 1] - pb[i + 1]) + Math.abs(pa[i + 2] - pb[i + 2]) > 24) n++;
    }
    return { changed: n, total: pa.length / 4 };
  }, { a: a.toString('base64'), b: b.toString('base64'), r });
}

test('demo page: screenshots idle and playing differ where the meter, spectrum and seek bar are', async () => {
  const { page, errors } = await demo();
  const box = async (sel) => page.locator(sel).boundingBox();
  const rects = {
    meter: await box('stream-player canvas.meter'),
    spectrum: await box('stream-player canvas.spectrum'),
    seek: await box('stream-player .seek'),
    heading: await box('h1'),
  };
  const idle = await page.screenshot({ path: join(SHOTS, `demo-idle-${ENGINE}.png`) });
  await page.click('stream-player button.play');
  await page.waitForFunction(() => window.streamElement.state === 'playing' && window.streamElement.currentTime > 3);
  const playing = await page.screenshot({ path: join(SHOTS, `demo-playing-${ENGINE}.png`) });
  // 400 ms more of the track played (the meter is drawn from each stats update).
  const shownAt = await page.evaluate(() => window.streamElement.currentTime);
  await page.waitForFunction((t) => window.streamElement.currentTime >= t + 0.4, shownAt);
  const later = await page.screenshot({ path: join(SHOTS, `demo-playing-later-${ENGINE}.png`) });
  await page.locator('stream-player').screenshot({ path: join(SHOTS, `stream-player-element-${ENGINE}.png`) });

  const d = {};
  for (const [k, r] of Object.entries(rects)) d[k] = await changedPixels(page, idle, playing, r);
  const moving = await changedPixels(page, playing, later, rects.meter);
  const pct = (x) => ((100 * x.changed) / x.total).toFixed(1);
  console.log(`E2E screenshots (${SHOTS}): idle vs playing changed ${pct(d.meter)} % of the meter, ${pct(d.spectrum)} % of the spectrum, ${pct(d.seek)} % of the seek bar, ${pct(d.heading)} % of the heading; meter 400 ms later: ${pct(moving)} %`);
  assert.ok(d.meter.changed / d.meter.total > 0.1, 'the level meter shows the audio');
  assert.ok(d.spectrum.changed / d.spectrum.total > 0.1, 'the spectrum shows the audio');
  assert.ok(d.seek.changed > 50, 'the seek bar shows the position and the buffer');
  assert.equal(d.heading.changed, 0, 'the rest of the page is unchanged');
  assert.ok(moving.changed > 20, 'the meter moves');
  assert.deepEqual(errors, []);
  await page.close();
});

test('demo page: every control is reached by Tab, has an accessible name and works from the keyboard', async () => {
  const { page, errors } = await demo();
  let focused;
  if (ENGINE === 'chromium') {
    // Chromium's own accessibility tree, through the DevTools protocol.
    const cdp = await page.context().newCDPSession(page);
    await cdp.send('Accessibility.enable');
    focused = async () => {
      const { nodes } = await cdp.send('Accessibility.getFullAXTree');
      // The document itself is focused too: the control is the focused node that is not it.
      const n = nodes.find((x) => x.role?.value !== 'RootWebArea' && (x.properties || []).some((p) => p.name === 'focused' && p.value.value));
      return n ? { role: n.role?.value, name: (n.name?.value || '').trim() } : null;
    };
  } else {
    // Firefox and WebKit expose no accessibility tree to their drivers: the focused element
    // (through shadow roots) with its ARIA role and name, computed as the ARIA rules say for
    // the markup used here (role attribute or the element's implicit role; aria-label,
    // aria-labelledby, a <label>, or the text).
    focused = () => page.evaluate(() => {
      let el = document.activeElement;
      while (el && el.shadowRoot && el.shadowRoot.activeElement) el = el.shadowRoot.activeElement;
      if (!el || el === document.body) return null;
      const implicit = { BUTTON: 'button', SELECT: 'combobox', UL: 'list', LI: 'listitem', A: 'link' };
      const role = el.getAttribute('role') || (el.tagName === 'INPUT' && el.type === 'range' ? 'slider' : implicit[el.tagName] || el.tagName.toLowerCase());
      const root = el.getRootNode();
      const byId = (id) => (root.getElementById ? root.getElementById(id) : document.getElementById(id));
      let name = el.getAttribute('aria-label');
      if (!name && el.getAttribute('aria-labelledby')) name = el.getAttribute('aria-labelledby').split(/\s+/).map((id) => byId(id)?.textContent || '').join(' ');
      if (!name && el.labels && el.labels.length) name = el.labels[0].textContent;
      if (!name && role === 'button') name = el.textContent;
      return { role, name: (name || '').trim() };
    });
  }
  const el = (expr) => page.evaluate(`window.streamElement.${expr}`);
  // Track list: arrows move, Enter plays.
  await page.focus('stream-player .tracks');
  await page.keyboard.press('ArrowDown');
  assert.equal(await page.getAttribute('stream-player .tracks', 'aria-activedescendant'), 'track-1');
  const second = await el('tracks[1].id');
  await page.keyboard.press('Enter');
  await page.waitForFunction((id) => window.streamElement.state === 'playing' && window.streamElement.currentTrack.id === id, second);
  await page.waitForFunction(() => window.streamElement.currentTime > 1);
  // Seek bar: two steps forward.
  const before = await el('currentTime');
  await page.focus('stream-player .seek');
  await page.keyboard.press('ArrowRight');
  await page.keyboard.press('ArrowRight');
  await page.waitForFunction((t) => window.streamElement.stats.positionS > t + 8, before);
  // Preset menu, intensity and volume.
  await page.focus('stream-player select.preset');
  await page.keyboard.press('ArrowDown');
  await page.waitForFunction(() => window.streamElement.player.preset === 'warm');
  await page.focus('stream-player input.intensity');
  await page.keyboard.press('ArrowLeft');
  await page.waitForFunction(() => Math.abs(window.streamElement.player.intensity - 0.95) < 1e-9);
  await page.focus('stream-player input.volume');
  await page.keyboard.press('ArrowLeft');
  await page.keyboard.press('ArrowLeft');
  await page.waitForFunction(() => Math.abs(window.streamElement.player.volume - 0.9) < 1e-9);
  // Play button: Space pauses, Enter resumes; its name follows.
  await page.focus('stream-player button.play');
  await page.keyboard.press('Space');
  await page.waitForFunction(() => window.streamElement.state === 'paused');
  assert.equal((await focused()).name, 'Resume');
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => window.streamElement.state === 'playing');
  assert.equal((await focused()).name, 'Pause');
  const s = await page.evaluate(() => window.streamElement.stats);
  assert.equal(s.underruns, 0);
  // Tab through the page from the top of a fresh load (last: in Firefox, Space stopped activating
  // a button that script focused after Tab had reached the page's <select>).
  await page.goto(relay.url + '/');
  await page.waitForSelector('stream-player li[role=option]');
  const stops = [];
  for (let i = 0; i < 20; i++) {
    await page.keyboard.press('Tab');
    const f = await focused();
    if (!f) break;
    if (stops.length && f.role === stops[0].role && f.name === stops[0].name) break;
    stops.push(f);
  }
  console.log(`E2E a11y: Tab order ${stops.map((s) => `${s.role} "${s.name}"`).join(', ')}`);
  for (const s of stops) assert.ok(s.name.length > 0, `${s.role} has an accessible name`);
  const want = [['button', 'Play'], ['slider', 'Seek'], ['combobox', 'Enhancement preset'], ['slider', 'Preset intensity'],
    ['slider', 'Volume'], ['listbox', 'Tracks'], ['combobox', 'Codec']];
  for (const [role, name] of want) {
    assert.ok(stops.some((s) => s.role === role && s.name.startsWith(name)), `${role} "${name}" reachable by Tab`);
  }
  // Every focusable control in the element is a tab stop (nothing is mouse-only; the LIVE
  // button is hidden, so not a control, until a live stream plays).
  const controls = await page.evaluate(() => window.streamElement.shadowRoot.querySelectorAll('button:not([hidden]), select, input, [tabindex="0"]').length);
  assert.equal(stops.length, controls + 1, 'the element\'s controls and the page\'s codec menu');

  // The page's codec menu.
  await page.focus('#codec');
  await page.keyboard.press('ArrowDown');
  assert.equal(await page.getAttribute('stream-player', 'codec'), 'pcm_s16');
  assert.deepEqual(errors, []);
  await page.close();
});
