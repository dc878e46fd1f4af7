// Headless Chromium for the browser tests and benchmarks: Debian's /usr/bin/chromium through
// playwright-core (never a downloaded browser), a fresh profile per context, pages served by the
// real server's origin (a blank page routed in, so web/ needs no test files).
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
  '--disable-component-update', '--disable-sync'];

// The name the tab library gives the SharedWorker of replica `dbName`: it carries the library's
// storage format (WORKER_FORMAT in web/electric-sync.js), so a page can reach the same worker.
const TAB_LIBRARY = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../web/electric-sync.js');
export const workerName = (dbName) => `electric-sync:${dbName}:${readFileSync(TAB_LIBRARY, 'utf8').match(/WORKER_FORMAT = (\d+)/)[1]}`;

// The CPU time (clock ticks, user + system) of processes `pids`, summed; null when none can be
// read (gone, or no /proc: not Linux).
export function processTicks(pids) {
  let sum = null;
  for (const pid of pids) {
    try {
      const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
      sum = (sum ?? 0) + Number(f[11]) + Number(f[12]);
    } catch { /* gone meanwhile */ }
  }
  return sum;
}

// Until ticks() (processTicks of something) grew by at most `slack` clock ticks in each of `quiet`
// consecutive 100 ms windows, at most maxMs; the ms waited (at once when ticks() is null).
export async function untilIdle(ticks, { quiet, slack = 0, maxMs }) {
  const t0 = Date.now();
  let last = ticks(), calm = 0;
  while (last !== null && calm < quiet && Date.now() - t0 < maxMs) {
    await new Promise((r) => setTimeout(r, 100));
    const now = ticks();
    calm = now !== null && now - last <= slack ? calm + 1 : 0;
    last = now;
  }
  return Date.now() - t0;
}

// Every process now: {pid, ppid, args} (its command line's words); none where /proc is missing.
export function processes() {
  let pids;
  try { pids = readdirSync('/proc').filter((p) => /^\d+$/.test(p)); } catch { return []; }
  const out = [];
  for (const pid of pids) {
    try {
      const ppid = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')[1];
      out.push({ pid, ppid, args: readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0') });
    } catch { /* gone meanwhile */ }
  }
  return out;
}

// The processes of the browser whose profile is `dir`: the one started with that flag and every
// process under it (its zygotes, renderers, GPU and utility processes, which do not carry the
// flag).
function browserPids(dir) {
  const flag = `--user-data-dir=${dir}`;
  const all = processes();
  const parent = new Map(all.map((p) => [p.pid, p.ppid]));
  const roots = new Set(all.filter((p) => p.args.includes(flag)).map((p) => p.pid));
  const under = (pid) => { for (let p = pid, n = 0; p && p !== '0' && n < 64; p = parent.get(p), n++) if (roots.has(p)) return true; return false; };
  return all.map((p) => p.pid).filter(under);
}

// The bytes of the files under d (0 when it is missing).
function dirBytes(d) {
  let n = 0;
  try {
    for (const e of readdirSync(d, { withFileTypes: true })) n += e.isDirectory() ? dirBytes(path.join(d, e.name)) : statSync(path.join(d, e.name)).size;
  } catch { /* missing */ }
  return n;
}

// opts.noSharedWorker: an init script deletes window.SharedWorker (the fallback path).
export async function openContext(base, { noSharedWorker = false } = {}) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'esync-chromium-'));
  const ctx = await chromium.launchPersistentContext(dir, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium', headless: true, args: ARGS,
  });
  if (noSharedWorker) await ctx.addInitScript(() => { delete window.SharedWorker; });
  await ctx.route(`${base}/__e2e.html`, (r) => r.fulfill({ contentType: 'text/html', body: '<!doctype html><title>e2e</title>' }));
  const logs = [];
  return {
    ctx,
    logs,
    dir, // the profile's directory (removed by close)
    // Until the browser is idle: its processes used at most one clock tick (10 ms) in each of
    // `quiet` consecutive 100 ms windows, at most maxMs. A browser just launched spends its first
    // second or so on its own start (renderers, its preloaded UI), at ~1.8 of this machine's 2
    // cores: a benchmark times a system only after that, so that every system runs on an idle
    // browser. Returns the ms waited (at once where /proc is missing).
    pids: () => browserPids(dir), // its processes now (their CPU: processTicks)
    // The bytes of the profile's wasm code cache (Chromium's compiled code of .wasm modules; 72:
    // an empty index).
    wasmCodeCacheBytes: () => dirBytes(path.join(dir, 'Default/Code Cache/wasm')),
    settle: ({ quiet = 5, maxMs = 15000 } = {}) => untilIdle(() => processTicks(browserPids(dir)), { quiet, slack: 1, maxMs }),
    async page() {
      const p = await ctx.newPage();
      p.on('console', (m) => logs.push(m.text()));
      p.on('pageerror', (e) => logs.push(String(e)));
      await p.goto(`${base}/__e2e.html`);
      return p;
    },
    async close() {
      await ctx.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

// Starts a Chromium trace of the browser (every process) with these categories, over a DevTools
// session of `page`; the function returned ends it and resolves with the trace's JSON text.
export async function trace(ctx, page, categories) {
  const cdp = await ctx.newCDPSession(page);
  await cdp.send('Tracing.start', { transferMode: 'ReturnAsStream', traceConfig: { includedCategories: categories } });
  return async () => {
    const done = new Promise((res) => cdp.once('Tracing.tracingComplete', res));
    await cdp.send('Tracing.end');
    const { stream } = await done;
    let data = '';
    for (;;) { const c = await cdp.send('IO.read', { handle: stream }); data += c.base64Encoded ? Buffer.from(c.data, 'base64').toString() : c.data; if (c.eof) break; }
    await cdp.send('IO.close', { handle: stream });
    return data;
  };
}

// Starts useElectricSync in the page; events land in window.__ev.
export async function startSync(page, config) {
  await page.evaluate(async (cfg) => {
    const { useElectricSync } = await import('/electric-sync.js');
    window.__ev = [];
    const sync = useElectricSync(cfg);
    window.__sync = sync;
    for (const t of ['DATA_CHANGE', 'SCHEMA_RESET', 'STATUS']) sync.on(t, (m) => window.__ev.push(m));
  }, config);
}

export const ready = (page) => page.evaluate(() => window.__sync.ready.then(() => true));
export const query = (page, sql, params) => page.evaluate(([s, p]) => window.__sync.query(s, p), [sql, params]);
export const events = (page, type) => page.evaluate((t) => window.__ev.filter((e) => e.type === t), type);
export async function waitFor(page, fn, arg, timeout = 15000) {
  await page.waitForFunction(fn, arg, { timeout, polling: 50 });
}
