// The three browser engines the player must work in, behind one page API (Playwright's, the
// subset the tests use), so every scenario runs unchanged in each:
//
//   chromium  Debian's Chromium through playwright-core (the pages are Playwright's own)
//   firefox   Debian's Firefox ESR through puppeteer-core over WebDriver BiDi
//   webkit    WebKitGTK's MiniBrowser (Safari's engine) through WebKitWebDriver (W3C WebDriver)
//
// `ENGINE` (env) picks the engine of a test run (default chromium). Firefox and WebKit need a
// sound server (without one, AudioContext.resume() never settles): a PulseAudio null sink is
// started for the run; WebKit also needs a display: an Xvfb. Both are started here and stopped
// when the last browser closes or the process exits. Recipes: ../shared/TOOLCHAIN.md.
import { spawn } from 'node:child_process';
import { mkdtempSync, existsSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:net';

export const ENGINES = ['chromium', 'firefox', 'webkit'];
export const ENGINE = process.env.ENGINE || 'chromium';
if (!ENGINES.includes(ENGINE)) throw new Error(`ENGINE must be one of ${ENGINES.join(', ')}, got ${ENGINE}`);

const FIREFOX = process.env.FIREFOX || '/usr/bin/firefox-esr';
const MINIBROWSER = process.env.MINIBROWSER || '/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1/MiniBrowser';
const until = (ms) => new Promise((ok) => setTimeout(ok, ms));

// --- Sound server and display -------------------------------------------------------------------
const children = new Set();
process.on('exit', () => { for (const c of children) try { c.kill('SIGKILL'); } catch { /* gone */ } });
for (const sig of ['SIGINT', 'SIGTERM']) process.once(sig, () => process.exit(130));

function track(child) {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

let infra = null;
let users = 0;

/** Starts (once) a PulseAudio null sink and, for WebKit, an Xvfb display. Resolves to the
 * environment a browser needs to use them. */
async function acquireInfra({ display }) {
  users++;
  if (!infra) infra = startInfra();
  const i = await infra;
  if (display && !i.display) i.display = await startXvfb();
  return { XDG_RUNTIME_DIR: i.runtimeDir, ...(i.display ? { DISPLAY: i.display } : {}) };
}

async function startInfra() {
  const runtimeDir = mkdtempSync(join(tmpdir(), 'e2e-sound-'));
  const pulse = track(spawn('pulseaudio', ['-n', '--daemonize=no', '--exit-idle-time=-1', '--use-pid-file=no',
    '--load=module-null-sink sink_name=null rate=48000', '--load=module-native-protocol-unix auth-anonymous=1'], {
    env: { ...process.env, XDG_RUNTIME_DIR: runtimeDir, HOME: runtimeDir }, stdio: 'ignore',
  }));
  const socket = join(runtimeDir, 'pulse', 'native');
  const exited = new Promise((_, fail) => pulse.once('exit', (c) => fail(new Error(`pulseaudio exited with ${c}`))));
  exited.catch(() => {});
  // Ready when its socket exists.
  await Promise.race([exited, (async () => { while (!existsSync(socket)) await until(10); })()]);
  return { runtimeDir, pulse, display: null, xvfb: null };
}

async function startXvfb() {
  // -displayfd: Xvfb picks a free display and writes its number to fd 3 once it accepts clients.
  const x = track(spawn('Xvfb', ['-displayfd', '3', '-screen', '0', '1280x900x24', '-nolisten', 'tcp'],
    { stdio: ['ignore', 'ignore', 'ignore', 'pipe'] }));
  const num = await new Promise((ok, fail) => {
    let s = '';
    x.stdio[3].on('data', (d) => { s += d; if (s.includes('\n')) ok(s.trim()); });
    x.once('exit', (c) => fail(new Error(`Xvfb exited with ${c}`)));
  });
  (await infra).xvfb = x;
  return `:${num}`;
}

async function releaseInfra() {
  if (--users > 0 || !infra) return;
  const i = await infra;
  infra = null;
  for (const c of [i.xvfb, i.pulse]) if (c) { c.kill('SIGTERM'); children.delete(c); }
  rmSync(i.runtimeDir, { recursive: true, force: true });
}

// --- Launch --------------------------------------------------------------------------------------
/**
 * The browser of this run's engine. `autoplay: false` applies the policy of a browser whose user
 * has not interacted with the site (audio waits for a gesture). WebKit always applies it (there
 * is no switch): tests unlock audio there with a real click (`page.unlockAudio()`).
 */
export async function launchBrowser({ autoplay = true, engine = ENGINE } = {}) {
  if (engine === 'chromium') return launchChromium({ autoplay });
  if (engine === 'firefox') return launchFirefox({ autoplay });
  return launchWebKit();
}

/** Debian's Chromium, headless, with the flags this sandbox needs (TOOLCHAIN.md). */
export async function launchChromium({ autoplay = true } = {}) {
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    // Playwright passes its own permissive autoplay switch by default.
    ignoreDefaultArgs: ['--autoplay-policy=no-user-gesture-required'],
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage',
      `--autoplay-policy=${autoplay ? 'no-user-gesture-required' : 'document-user-activation-required'}`,
      '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run',
      '--disable-background-timer-throttling', '--disable-renderer-backgrounding'],
  });
  // Chromium's pages are Playwright's; they only gain the two helpers the others have.
  const newPage = browser.newPage.bind(browser);
  browser.engine = 'chromium';
  browser.newPage = async (o) => {
    const page = await newPage(o);
    page.engine = 'chromium';
    page.unlockAudio = async () => {};
    return page;
  };
  return browser;
}

async function launchFirefox({ autoplay }) {
  const env = await acquireInfra({ display: false });
  const puppeteer = (await import('puppeteer-core')).default;
  let b;
  try {
    b = await puppeteer.launch({
      browser: 'firefox', executablePath: FIREFOX, headless: true, protocolTimeout: 180000,
      env: { ...process.env, ...env },
      extraPrefsFirefox: {
        'media.autoplay.default': autoplay ? 0 : 1,
        'media.autoplay.block-webaudio': !autoplay,
        'media.autoplay.blocking_policy': 0,
        'browser.shell.checkDefaultBrowser': false,
        'datareporting.policy.dataSubmissionEnabled': false,
        'toolkit.telemetry.enabled': false,
        'app.update.enabled': false,
      },
    });
  } catch (e) { await releaseInfra(); throw e; }
  return {
    engine: 'firefox',
    async newPage({ viewport } = {}) {
      const p = await b.newPage();
      await p.setViewport(viewport || { width: 1280, height: 720 });
      return new FirefoxPage(p);
    },
    async close() { try { await b.close(); } finally { await releaseInfra(); } },
  };
}

async function launchWebKit() {
  const env = await acquireInfra({ display: true });
  const pages = new Set();
  return {
    engine: 'webkit',
    async newPage({ viewport } = {}) {
      const page = await WebKitPage.open(env, viewport || { width: 1280, height: 720 });
      pages.add(page);
      page.onClose = () => pages.delete(page);
      return page;
    },
    async close() {
      try { await Promise.all([...pages].map((p) => p.close())); } finally { await releaseInfra(); }
    },
  };
}

// --- In-page helpers shared by the Firefox and WebKit pages ---------------------------------------
/** Playwright's CSS selectors pierce open shadow roots ('stream-player button.play' finds the
 * button inside the element's shadow tree); so does this. Runs in the page. */
const DEEP_QUERY = `function __deepQuery(sel, root = document) {
  const hit = root.querySelector(sel);
  if (hit) return hit;
  const parts = sel.trim().split(/\\s+(?![^\\[]*\\])/);
  for (let k = 1; k < parts.length; k++) {
    for (const host of root.querySelectorAll(parts.slice(0, k).join(' '))) {
      if (!host.shadowRoot) continue;
      const inner = __deepQuery(parts.slice(k).join(' '), host.shadowRoot);
      if (inner) return inner;
    }
  }
  return null;
}`;

const DEEP_QUERY_ALL = `function __deepQueryAll(sel, root = document) {
  const hits = [...root.querySelectorAll(sel)];
  const parts = sel.trim().split(/\\s+(?![^\\[]*\\])/);
  for (let k = 1; k < parts.length; k++) {
    for (const host of root.querySelectorAll(parts.slice(0, k).join(' '))) {
      if (host.shadowRoot) hits.push(...__deepQueryAll(parts.slice(k).join(' '), host.shadowRoot));
    }
  }
  return hits;
}`;

/** `fn` (a function or an expression string, as Playwright takes them) applied to `arg`, as the
 * source of an expression. Arguments cross as JSON, as they do in Playwright. */
function callSource(fn, arg) {
  const src = typeof fn === 'function' ? fn.toString() : `() => (${fn})`;
  return `(${src})(${arg === undefined ? '' : JSON.stringify(arg)})`;
}

/** The source of a polling wait in the page: resolves to the first truthy value of `fn(arg)`. */
function waitSource(fn, arg, timeout, interval = 20) {
  return `new Promise((ok, fail) => {
    const t0 = Date.now();
    const tick = async () => {
      let v;
      try { v = await ${callSource(fn, arg)}; } catch (e) { fail(e); return; }
      if (v) { ok(v); return; }
      if (Date.now() - t0 > ${timeout}) { fail(new Error(${JSON.stringify(`waitForFunction: timed out after ${timeout} ms: `)} + ${JSON.stringify(String(fn).slice(0, 160))})); return; }
      setTimeout(tick, ${interval});
    };
    tick();
  })`;
}

/** What Firefox and WebKit pages share: every method is built on `_run(expressionSource)`. */
class DriverPage {
  constructor() {
    this.listeners = { pageerror: [], console: [] };
  }

  evaluate(fn, arg) { return this._run(callSource(fn, arg)); }

  async waitForFunction(fn, arg, { timeout = 30000 } = {}) {
    const v = await this._run(waitSource(fn, arg, timeout), timeout + 10000);
    return { jsonValue: async () => v };
  }

  async waitForSelector(sel, { timeout = 30000 } = {}) {
    await this.waitForFunction(`(${DEEP_QUERY})(${JSON.stringify(sel)}) !== null`, undefined, { timeout });
  }

  $eval(sel, fn, arg) {
    return this._run(`(${fn.toString()})((${DEEP_QUERY})(${JSON.stringify(sel)}), ${JSON.stringify(arg ?? null)})`);
  }

  $$eval(sel, fn, arg) {
    return this._run(`(${fn.toString()})((${DEEP_QUERY_ALL})(${JSON.stringify(sel)}), ${JSON.stringify(arg ?? null)})`);
  }

  focus(sel) { return this.$eval(sel, (el) => { el.focus(); }); }
  textContent(sel) { return this.$eval(sel, (el) => el.textContent); }
  getAttribute(sel, name) { return this.$eval(sel, (el, n) => el.getAttribute(n), name); }

  async selectOption(sel, value) {
    await this.$eval(sel, (el, v) => {
      el.value = v;
      el.dispatchEvent(new Event('input', { bubbles: true }));
      el.dispatchEvent(new Event('change', { bubbles: true }));
    }, value);
    return [value];
  }

  locator(sel) {
    return {
      boundingBox: () => this.$eval(sel, (el) => { const r = el.getBoundingClientRect(); return { x: r.x, y: r.y, width: r.width, height: r.height }; }),
      screenshot: (o) => this._elementScreenshot(sel, o),
      click: () => this.click(sel),
    };
  }

  on(type, fn) { (this.listeners[type] ||= []).push(fn); }

  waitForEvent(type, { predicate = () => true, timeout = 30000 } = {}) {
    return new Promise((ok, fail) => {
      const t = setTimeout(() => fail(new Error(`waitForEvent ${type}: timed out`)), timeout);
      this.on(type, (e) => { if (predicate(e)) { clearTimeout(t); ok(e); } });
    });
  }

  context() { throw new Error(`page.context() (DevTools protocol) exists only in Chromium, not ${this.engine}`); }
}

// --- Firefox (puppeteer-core, WebDriver BiDi) ------------------------------------------------------
class FirefoxPage extends DriverPage {
  constructor(p) {
    super();
    this.engine = 'firefox';
    this.p = p;
    // Firefox also reports its own network notices as page errors ("Firefox can't establish a
    // connection to the server at ws://...", "Cross-Origin Request Blocked: ..."): the page threw
    // nothing; the player reports those failures itself, as error events the tests check.
    p.on('pageerror', (e) => {
      if (/can.t establish a connection to the server|^(Error: )?Cross-Origin Request Blocked/.test(String(e))) return;
      this.listeners.pageerror.forEach((f) => f(e));
    });
    p.on('console', (m) => this.listeners.console.forEach((f) => f({ text: () => m.text(), type: () => m.type() })));
    this.keyboard = { press: (k) => p.keyboard.press(k === 'Space' ? ' ' : k) };
  }

  _run(expr) { return this.p.evaluate(expr); }

  async goto(url) { await this.p.goto(url, { waitUntil: 'load' }); }
  addInitScript(fn) { return this.p.evaluateOnNewDocument(fn); }

  async click(sel) {
    const h = await this.p.evaluateHandle(`(${DEEP_QUERY})(${JSON.stringify(sel)})`);
    const el = h.asElement();
    if (!el) throw new Error(`click: no element ${sel}`);
    await el.click();
  }

  /** Firefox needs no help: its autoplay policy is set at launch (a click unlocks it otherwise). */
  async unlockAudio() {}

  async screenshot({ path, fullPage } = {}) {
    const b = Buffer.from(await this.p.screenshot({ fullPage }));
    if (path) writeFileSync(path, b);
    return b;
  }

  async _elementScreenshot(sel, { path } = {}) {
    const h = (await this.p.evaluateHandle(`(${DEEP_QUERY})(${JSON.stringify(sel)})`)).asElement();
    const b = Buffer.from(await h.screenshot());
    if (path) writeFileSync(path, b);
    return b;
  }

  close() { return this.p.close(); }
}

// --- WebKit (WebKitWebDriver, W3C WebDriver over HTTP) --------------------------------------------
const ELEMENT = 'element-6066-11e4-a52e-4f735466cecf';
const KEYS = { Tab: '\uE004', Enter: '\uE007', Space: ' ', ArrowLeft: '\uE012', ArrowUp: '\uE013', ArrowRight: '\uE014', ArrowDown: '\uE015', Escape: '\uE00C' };

function freePort() {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.once('error', fail);
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => ok(port)); });
  });
}

/** Stops a WebKitWebDriver: SIGTERM, then SIGKILL if it has not exited within 10 s. */
async function stopDriver(driver) {
  if (driver.exitCode !== null || driver.signalCode !== null) return;
  const exited = new Promise((ok) => driver.once('exit', ok));
  driver.kill('SIGTERM');
  const timer = setTimeout(() => driver.kill('SIGKILL'), 10000);
  await exited;
  clearTimeout(timer);
}

class WebKitPage extends DriverPage {
  /** One WebKitWebDriver and one MiniBrowser per page (the driver holds one session). */
  static async open(env, viewport) {
    // A session start that hangs (WebKitWebDriver waiting on a MiniBrowser that never came up:
    // seen about once in 200 starts here) is retried with a fresh driver, once.
    for (let attempt = 1; ; attempt++) {
      try { return await WebKitPage._open(env, viewport); } catch (e) {
        if (attempt >= 2 || !e.sessionStart) throw e;
        console.error(`# WebKit: ${e.message}; starting a new driver`);
      }
    }
  }

  static async _open(env, viewport) {
    const port = await freePort();
    const driver = track(spawn('WebKitWebDriver', [`--port=${port}`, '--host=127.0.0.1'], {
      env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'],
    }));
    let driverLog = '';
    driver.stderr.on('data', (d) => { driverLog = (driverLog + d).slice(-4000); });
    const base = `http://127.0.0.1:${port}`;
    // Ready when it answers.
    for (;;) {
      if (driver.exitCode !== null) throw new Error(`WebKitWebDriver exited: ${driverLog}`);
      try { if ((await fetch(`${base}/status`)).ok) break; } catch { /* not yet */ }
      await until(20);
    }
    const page = new WebKitPage(driver, base);
    let s;
    try {
      s = await page._cmd('POST', '/session', { capabilities: { alwaysMatch: {
        'webkitgtk:browserOptions': { binary: MINIBROWSER, args: ['--automation'] },
      } } }, 60000);
    } catch (e) {
      await stopDriver(driver); // or it keeps the test process alive
      e.sessionStart = true;
      throw e;
    }
    page.session = `/session/${s.sessionId}`;
    await page._cmd('POST', `${page.session}/timeouts`, { script: 600000, pageLoad: 60000 });
    await page._cmd('POST', `${page.session}/window/rect`, { width: viewport.width, height: viewport.height });
    return page;
  }

  constructor(driver, base) {
    super();
    this.engine = 'webkit';
    this.driver = driver;
    this.base = base;
    this.initScripts = [];
    this.keyboard = { press: (k) => this._cmd('POST', `${this.session}/actions`, { actions: [{ type: 'key', id: 'keyboard',
      actions: [{ type: 'keyDown', value: KEYS[k] ?? k }, { type: 'keyUp', value: KEYS[k] ?? k }] }] }) };
  }

  async _cmd(method, path, body, timeoutMs = 0) {
    const req = () => fetch(this.base + path, {
      method, headers: { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body),
      signal: timeoutMs ? AbortSignal.timeout(timeoutMs) : undefined,
    });
    let r;
    for (let attempt = 0; ; attempt++) {
      try { r = await req(); break; } catch (e) {
        // A refused or reset connection never reached the driver (it was busy accepting): retry.
        const code = e?.cause?.code;
        if (attempt >= 3 || !['ECONNREFUSED', 'ECONNRESET', 'UND_ERR_SOCKET'].includes(code)) {
          throw new Error(`WebDriver ${method} ${path}: ${e.message} (${code || e.cause || ''})${this.driver.exitCode !== null ? `; the driver exited with ${this.driver.exitCode}` : ''}`);
        }
        await until(200);
      }
    }
    const j = await r.json();
    if (!r.ok) throw new Error(`WebDriver ${method} ${path}: ${j.value?.error}: ${j.value?.message}`);
    return j.value;
  }

  /** Runs an expression in the page and awaits it. Page errors collected since the last call
   * come back with the result (classic WebDriver has no events) and reach `pageerror` listeners;
   * `console.log` lines reach `console` listeners the same way. */
  async _run(expr) {
    const script = `const done = arguments[arguments.length - 1];
      const drain = () => ({ errors: (window.__e2eErrors || []).splice(0), logs: (window.__e2eLogs || []).splice(0) });
      Promise.resolve().then(() => ${expr}).then(
        (v) => done({ ok: true, v: v === undefined ? null : v, ...drain() }),
        (e) => done({ ok: false, e: String(e) + (e && e.stack ? ' at ' + e.stack : ''), ...drain() }));`;
    const r = await this._cmd('POST', `${this.session}/execute/async`, { script, args: [] });
    for (const e of r.errors || []) this.listeners.pageerror.forEach((f) => f(new Error(e)));
    for (const l of r.logs || []) this.listeners.console.forEach((f) => f({ text: () => l, type: () => 'log' }));
    if (!r.ok) throw new Error(`evaluate: ${r.e}`);
    return r.v;
  }

  async goto(url) {
    await this._cmd('POST', `${this.session}/url`, { url });
    // Collect errors and console lines from here on (WebDriver classic has no page events), then
    // run the init scripts. They run after the page's own scripts, unlike Playwright's: the
    // tests' init scripts only wrap APIs the page calls later.
    await this._run(`(() => {
      window.__e2eErrors = []; window.__e2eLogs = [];
      addEventListener('error', (e) => window.__e2eErrors.push(String(e.message)));
      addEventListener('unhandledrejection', (e) => window.__e2eErrors.push(String(e.reason) + (e.reason && e.reason.stack ? ' at ' + e.reason.stack : '')));
      const log = console.log.bind(console);
      console.log = (...a) => { window.__e2eLogs.push(a.join(' ')); log(...a); };
    })()`);
    for (const s of this.initScripts) await this.evaluate(s);
  }

  async addInitScript(fn) { this.initScripts.push(fn); }

  /** Console lines reach listeners when a call drains them: while waiting for one, poll (a
   * script run by WebDriver is no user gesture in WebKit, so polling changes nothing the
   * autoplay policy sees). */
  waitForEvent(type, o = {}) {
    const got = super.waitForEvent(type, o);
    let done = false;
    got.finally(() => { done = true; }).catch(() => {});
    (async () => { while (!done && !this.closed) { await this._run('0').catch(() => {}); await until(100); } })();
    return got;
  }

  async _element(sel) {
    const el = await this._cmd('POST', `${this.session}/execute/sync`, { script: `return (${DEEP_QUERY})(arguments[0]);`, args: [sel] });
    if (!el || !el[ELEMENT]) throw new Error(`no element ${sel}`);
    return el[ELEMENT];
  }

  async click(sel) {
    const id = await this._element(sel);
    await this._cmd('POST', `${this.session}/element/${id}/click`, {});
  }

  /**
   * WebKit starts an AudioContext only inside a user gesture; there is no switch to allow it.
   * A person would click: a real click (through the driver) on a button whose handler resumes
   * every AudioContext of the page's players. Call it after the player's init().
   */
  async unlockAudio() {
    await this.evaluate(() => {
      if (document.getElementById('__e2e_unlock')) return;
      const b = document.createElement('button');
      b.id = '__e2e_unlock';
      b.textContent = 'unlock audio';
      b.style.cssText = 'position:fixed;left:0;top:0;z-index:2147483647;width:60px;height:24px;font-size:8px';
      b.onclick = () => {
        const ctxs = new Set(window.__e2eContexts || []);
        for (const k of Object.keys(window)) {
          try { const v = window[k]; if (v && v.context instanceof BaseAudioContext) ctxs.add(v.context); } catch { /* a getter */ }
        }
        for (const el of document.querySelectorAll('stream-player')) if (el.context) ctxs.add(el.context);
        for (const c of ctxs) if (c.state === 'suspended') c.resume().catch(() => {});
        window.__e2eUnlocked = [...ctxs];
        b.remove();
      };
      document.body.appendChild(b);
    });
    await this.click('#__e2e_unlock');
    // The handler removes the button: proof the click reached it.
    await this.waitForFunction(() => !document.getElementById('__e2e_unlock'), undefined, { timeout: 5000 });
    // WebKitGTK's output, once started, renders ~70 ms, stalls ~0.4 s, then catches up in bursts
    // (docs/browsers.md): tests start once the clocks run steadily, as they long have by a
    // person's next click.
    await this.waitForFunction(() => window.__e2eUnlocked.every((c) => c.currentTime > 1.5), undefined, { timeout: 30000 });
  }

  /** Resolves once the page has rendered a frame with its fonts: on a slow machine WebKit's
   * driver otherwise snapshots a page not painted yet (blank white, seen on one core). */
  _painted() {
    return this._run('document.fonts.ready.then(() => new Promise((ok) => requestAnimationFrame(() => requestAnimationFrame(() => ok()))))');
  }

  async screenshot({ path } = {}) {
    await this._painted();
    const b = Buffer.from(await this._cmd('GET', `${this.session}/screenshot`), 'base64');
    if (path) writeFileSync(path, b);
    return b;
  }

  async _elementScreenshot(sel, { path } = {}) {
    await this._painted();
    const id = await this._element(sel);
    const b = Buffer.from(await this._cmd('GET', `${this.session}/element/${id}/screenshot`), 'base64');
    if (path) writeFileSync(path, b);
    return b;
  }

  async close() {
    if (this.closed) return;
    this.closed = true;
    try { await this._cmd('DELETE', this.session, undefined, 30000); } catch { /* the browser may be gone */ }
    // The next page starts once this driver (and the MiniBrowser it closed) is gone.
    await stopDriver(this.driver);
    this.onClose?.();
  }
}

/** Source of a recorder AudioWorklet: records stereo frames of its input, tagged with the
 * AudioContext frame of its first sample, then posts them back: at most `frames` of them, or
 * fewer when told `{ stop: frame }` (it then records up to that output-clock frame, rounded up
 * to a render quantum, or stops at once if that frame has passed). */
export const RECORDER_SOURCE = `
class Recorder extends AudioWorkletProcessor {
  constructor(o) {
    super();
    this.n = o.processorOptions.frames;
    this.l = new Float32Array(this.n);
    this.r = new Float32Array(this.n);
    this.i = 0; this.first = -1; this.done = false; this.stopAt = Infinity;
    this.port.onmessage = (e) => {
      if (typeof e.data.stop !== 'number') return;
      this.stopAt = e.data.stop;
      if (!this.done && this.first >= 0 && this.first + this.i >= this.stopAt) this.finish();
    };
  }
  finish() {
    this.done = true;
    const l = this.i < this.n ? this.l.slice(0, this.i) : this.l;
    const r = this.i < this.n ? this.r.slice(0, this.i) : this.r;
    this.port.postMessage({ first: this.first, l, r }, [l.buffer, r.buffer]);
  }
  process(inputs) {
    if (this.done) return true;
    const inp = inputs[0];
    // The first quanta of a node connected mid-playback may come before its input is (no
    // channels): the recording starts with the input, not with zeros that were never played.
    if (this.first < 0 && !(inp && inp[0])) return true;
    if (this.first < 0) this.first = currentFrame;
    const k = Math.min(128, this.n - this.i);
    if (inp && inp[0]) {
      // A plain loop: no view object per quantum (garbage the worklet's collector would have to
      // sweep; in WebKit on one core that slowed the audio clock itself).
      const a = inp[0], b = inp[1] || inp[0], l = this.l, r = this.r, i0 = this.i;
      for (let j = 0; j < k; j++) { l[i0 + j] = a[j]; r[i0 + j] = b[j]; }
    }
    this.i += k;
    if (this.i >= this.n || this.first + this.i >= this.stopAt) this.finish();
    return true;
  }
}
registerProcessor('e2e-recorder', Recorder);
`;

/** In the page: attaches a recorder after `window.streamPlayer.output` (after init). `seconds`
 * is the most it records: a test that knows when it has what it needs ends it earlier with
 * `stopRecording`, so the cap can leave room for a slow machine. */
export async function attachRecorder(page, seconds, player = 'streamPlayer') {
  await page.evaluate(async ({ src, seconds, player }) => {
    const p = window[player];
    await p.init();
    const ctx = p.context;
    if (!ctx.__e2eRecorder) {
      // Once per context: registering the processor twice throws (Firefox reports it).
      const url = URL.createObjectURL(new Blob([src], { type: 'text/javascript' }));
      await ctx.audioWorklet.addModule(url);
      ctx.__e2eRecorder = true;
    }
    const rec = new AudioWorkletNode(ctx, 'e2e-recorder', {
      numberOfInputs: 1, numberOfOutputs: 1, channelCount: 2, channelCountMode: 'explicit',
      channelInterpretation: 'discrete', processorOptions: { frames: Math.round(seconds * ctx.sampleRate) },
    });
    const mute = new GainNode(ctx, { gain: 0 });
    p.output.connect(rec).connect(mute).connect(ctx.destination);
    window.__recorder = rec;
    window.__recording = new Promise((ok) => { rec.port.onmessage = (e) => ok(e.data); });
  }, { src: RECORDER_SOURCE, seconds, player });
  // WebKit starts audio only in a user gesture: click as a person would (a no-op elsewhere).
  await page.unlockAudio();
}

/** Ends the latest recording at output-clock frame `at` (the AudioContext's frames, as the
 * player's clocks in `stats` are) plus `afterS` seconds; without `at`, from the frame the
 * context is rendering now. The recording then holds its first frame up to there (or its cap,
 * if that came first); `collectRecording` waits for it. */
export async function stopRecording(page, { at = null, afterS = 0 } = {}) {
  await page.evaluate(({ at, afterS }) => {
    const rec = window.__recorder;
    const rate = rec.context.sampleRate;
    const from = at ?? Math.ceil(rec.context.currentTime * rate);
    rec.port.postMessage({ stop: from + Math.round(afterS * rate) });
  }, { at, afterS });
}

/** Waits for the recording and returns it as { first, left, right, stats }: `stats` are the
 * player's (`window[player]`) as the recording completed, before the transfer. The samples cross
 * as base64 bytes: as JSON numbers, 8 s took seconds of the browser's time to serialize, and
 * meanwhile the page's network traffic (the player's acks) waited with it. */
export async function collectRecording(page, player = null) {
  const r = await page.evaluate(async (player) => {
    const d = await window.__recording;
    const stats = player ? window[player].stats : null;
    const b64 = (f) => {
      const u8 = new Uint8Array(f.buffer, f.byteOffset, f.byteLength);
      let s = '';
      for (let i = 0; i < u8.length; i += 0x8000) s += String.fromCharCode.apply(null, u8.subarray(i, i + 0x8000));
      return btoa(s);
    };
    return { first: d.first, l: b64(d.l), r: b64(d.r), stats };
  }, player);
  const f32 = (b) => {
    const bytes = Buffer.from(b, 'base64');
    return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  };
  return { first: r.first, left: f32(r.l), right: f32(r.r), stats: r.stats };
}

/**
 * A page with a StreamPlayer in `window[name]`, initialised, and the page's errors collected.
 * `path` on the relay: the bare same-origin `/healthz` document by default (the demo page's own
 * player would only add load), `/?preset=off` for the demo page (`waitFor` a selector of it).
 * `record` maps a window global to an event whose details it collects (`'statechange.state'`
 * collects one field of each). `unlock`: WebKit's user click that allows audio.
 */
export async function pageWithPlayer(browser, relayUrl, { path = '/healthz', waitFor = null, opts = {}, name = 'p', record = {}, unlock = false } = {}) {
  const page = await browser.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(relayUrl + path);
  if (waitFor) await page.waitForSelector(waitFor);
  await page.evaluate(async ({ opts, name, record }) => {
    const { StreamPlayer } = await import('/player.js');
    const p = new StreamPlayer(opts);
    await p.init();
    window[name] = p;
    for (const [global, what] of Object.entries(record)) {
      const [ev, field] = what.split('.');
      window[global] = [];
      p.addEventListener(ev, (e) => window[global].push(field ? e.detail[field] : e.detail));
    }
  }, { opts, name, record });
  if (unlock) await page.unlockAudio();
  return { page, errors };
}

/** The demo page of the relay at `relayUrl` (its own `<stream-player>` ready), and the page's
 * errors collected. */
export async function openDemo(browser, relayUrl) {
  const page = await browser.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(relayUrl + '/?preset=off');
  await page.waitForSelector('stream-player li[role=option]');
  return { page, errors };
}
