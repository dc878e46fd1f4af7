// The browser benchmark's plot: initial sync time against rows, log-log, one line per system,
// as a hand-written SVG (no dependencies). bench/browser.mjs writes it after every run;
//   node bench/plot.mjs      redraws bench/results/browser-sync.svg from bench/results/browser.json
//                            and prints the README section (readmeSection) of those results
// Input: the `sizes` object of browser.json ({"<rows>": {esync_durable_ms, client_ms, ...}});
// a null value (a run that timed out or failed) leaves a gap in its line.
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const SERIES = [
  { key: 'esync_durable_ms', label: 'electric-sync: durable in IndexedDB (warm shape)', color: '#1f6feb', dash: '' },
  { key: 'esync_tab_ms', label: 'electric-sync: all rows in the tab (warm shape)', color: '#1f6feb', dash: '6 4' },
  { key: 'esync_new_shape_ms', label: 'electric-sync: new shape (server snapshot included)', color: '#8250df', dash: '2 3' },
  { key: 'client_ms', label: '@electric-sql/client: Shape.rows (memory only)', color: '#d1242f', dash: '' },
  { key: 'pglite_sync_ms', label: 'pglite-sync into PGlite idb:// (start excluded)', color: '#1a7f37', dash: '' },
];

const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const fmtRows = (n) => (n >= 1e6 ? `${n / 1e6}M` : n >= 1e3 ? `${n / 1e3}k` : String(n));
const fmtMs = (ms) => (ms >= 1000 ? `${+(ms / 1000).toPrecision(3)} s` : `${Math.round(ms)} ms`);

// sizes: {"<rows>": {...ms keys}}; meta: {title?, subtitle?}. Returns the SVG text.
export function syncPlot(sizes, meta = {}) {
  const W = 760, H = 480, L = 80, R = 20, T = 56, B = 170;
  const rows = Object.keys(sizes).map(Number).filter((n) => n > 0).sort((a, b) => a - b);
  const vals = [];
  for (const n of rows) for (const s of SERIES) { const v = sizes[n][s.key]; if (v > 0) vals.push(v); }
  const out = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`);
  out.push(`<rect width="${W}" height="${H}" fill="#fff"/>`);
  out.push(`<text x="${W / 2}" y="20" text-anchor="middle" font-size="15" font-weight="bold">${esc(meta.title || 'Initial sync in Chromium: time against rows (log-log, medians)')}</text>`);
  if (meta.subtitle) out.push(`<text x="${W / 2}" y="38" text-anchor="middle" fill="#555">${esc(meta.subtitle)}</text>`);
  if (!rows.length || !vals.length) {
    out.push(`<text x="${W / 2}" y="${H / 2}" text-anchor="middle">no data</text></svg>`);
    return out.join('\n');
  }
  // Axes: whole decades around the data.
  const x0 = Math.floor(Math.log10(rows[0])), x1 = Math.max(x0 + 1, Math.ceil(Math.log10(rows[rows.length - 1])));
  // Times: from the 1-2-5 step below the fastest to the one above the slowest.
  const step = (v, up) => {
    const d = Math.floor(Math.log10(v));
    const c = [1, 2, 5, 10].map((m) => m * 10 ** d);
    return up ? c.find((x) => x >= v * 0.999) : [...c].reverse().find((x) => x <= v * 1.001);
  };
  const y0 = Math.log10(step(Math.min(...vals), false));
  const y1 = Math.max(y0 + 1, Math.log10(step(Math.max(...vals), true)));
  const pw = W - L - R, ph = H - T - B;
  const X = (n) => L + ((Math.log10(n) - x0) / (x1 - x0)) * pw;
  const Y = (ms) => T + ph - ((Math.log10(ms) - y0) / (y1 - y0)) * ph;
  out.push(`<rect x="${L}" y="${T}" width="${pw}" height="${ph}" fill="none" stroke="#888"/>`);
  for (let d = Math.floor(y0); d <= Math.ceil(y1); d++) {
    for (const m of [1, 2, 5]) {
      const v = m * 10 ** d;
      if (Math.log10(v) > y1 + 1e-9 || Math.log10(v) < y0 - 1e-9) continue;
      const y = Y(v).toFixed(1);
      out.push(`<line x1="${L}" x2="${L + pw}" y1="${y}" y2="${y}" stroke="${m === 1 ? '#ccc' : '#eee'}"/>`);
      out.push(`<text x="${L - 6}" y="${y}" dy="4" text-anchor="end" fill="#333">${esc(fmtMs(v))}</text>`);
    }
  }
  for (let d = x0; d <= x1; d++) {
    const x = X(10 ** d).toFixed(1);
    out.push(`<line x1="${x}" x2="${x}" y1="${T}" y2="${T + ph}" stroke="#ccc"/>`);
    out.push(`<text x="${x}" y="${T + ph + 16}" text-anchor="middle" fill="#333">${esc(fmtRows(10 ** d))}</text>`);
  }
  out.push(`<text x="${L + pw / 2}" y="${T + ph + 34}" text-anchor="middle">rows</text>`);
  out.push(`<text transform="translate(18 ${T + ph / 2}) rotate(-90)" text-anchor="middle">time to initial sync</text>`);
  SERIES.forEach((s, i) => {
    // Consecutive sizes with a value make a line; a null breaks it.
    let seg = [];
    const segs = [];
    for (const n of rows) {
      const v = sizes[n][s.key];
      if (v > 0) seg.push([X(n), Y(v)]);
      else if (seg.length) { segs.push(seg); seg = []; }
    }
    if (seg.length) segs.push(seg);
    for (const sg of segs) {
      if (sg.length > 1) out.push(`<polyline fill="none" stroke="${s.color}" stroke-width="2" ${s.dash ? `stroke-dasharray="${s.dash}" ` : ''}points="${sg.map(([x, y]) => `${x.toFixed(1)},${y.toFixed(1)}`).join(' ')}"/>`);
      for (const [x, y] of sg) out.push(`<circle cx="${x.toFixed(1)}" cy="${y.toFixed(1)}" r="3.5" fill="${s.color}"/>`);
    }
    const ly = T + ph + 56 + i * 20;
    out.push(`<line x1="${L}" x2="${L + 30}" y1="${ly}" y2="${ly}" stroke="${s.color}" stroke-width="2" ${s.dash ? `stroke-dasharray="${s.dash}"` : ''}/>`);
    out.push(`<circle cx="${L + 15}" cy="${ly}" r="3.5" fill="${s.color}"/>`);
    const missing = rows.filter((n) => !(sizes[n][s.key] > 0)).map(fmtRows);
    out.push(`<text x="${L + 40}" y="${ly}" dy="4">${esc(s.label)}${missing.length ? esc(` — no value at ${missing.join(', ')}`) : ''}</text>`);
  });
  out.push('</svg>');
  return out.join('\n');
}

// The README's section (markdown) from a browser.json result: the three systems side by side
// per size, the ratios, the timeline of the median warm run of the largest size up to 100k, the plot.
export function readmeSection(res) {
  const sz = Object.values(res.sizes).sort((a, b) => a.rows - b.rows);
  const num = (n) => n.toLocaleString('en');
  const ms = (v) => (v == null ? null : v >= 10000 ? `${(v / 1000).toFixed(1)} s` : `${num(v)} ms`);
  const ratio = (a, b) => (a == null || b == null ? '—' : `${(a / b).toFixed(2)}×`);
  const mib = (b) => (b == null ? '—' : `${(b / 2 ** 20).toFixed(1)} MiB`);
  const why = (s, sys) => {
    const e = s.errors && s.errors[sys];
    return e ? `— (${e[0].replace(/^run \d+: /, '').replace(/^skipped: /, '')})` : '—';
  };
  const cell = (s, k, sys) => ms(s[k]) ?? why(s, sys);
  const row = (label, f) => `| ${label} | ${sz.map((s) => { try { return f(s); } catch { return '—'; } }).join(' | ')} |`;
  const loads = sz.map((s) => `${num(s.rows)}: ${s.load.start[0]}–${s.load.end[0]}`).join(', ');
  const runs = [...new Set(sz.map((s) => s.runs_per_system ?? res.runs_per_system))];
  const runsText = runs.length === 1 ? (runs[0] === 1 ? 'one run each' : `medians of ${runs[0]} runs`)
    : `medians of ${sz.map((s) => `${s.runs_per_system ?? res.runs_per_system} run${(s.runs_per_system ?? res.runs_per_system) === 1 ? '' : 's'} at ${num(s.rows)} rows`).join(', ')}`;
  const days = [...new Set(sz.map((s) => (s.date || res.date).slice(0, 10)))];
  const out = [];
  out.push(`\`node bench/browser.mjs\` on ${days.join(', ')}: ${res.machine.summary}; load average (1 min) at the start and end of each size ${loads} (the benchmark's own browser, server and Postgres are in that load; absolute times on this machine vary 2–3× from day to day: read the ratios, measured in the same run). Every system syncs the same shape (\`table=test_items\`, 6 columns) from the same warm server (its shape log built before the timed runs, and the server idle when each run starts), each run in a fresh Chromium profile (empty IndexedDB) and timed only once that browser is idle (its own start, ~1.8 of the 2 cores for about a second after launch, over), the systems interleaved run by run, ${runsText}.`);
  out.push('');
  out.push(`| | ${sz.map((s) => `${num(s.rows)} rows`).join(' | ')} |`);
  out.push(`|---|${sz.map(() => '---|').join('')}`);
  out.push(row('**electric-sync**: durable in IndexedDB (the first up-to-date committed)', (s) => cell(s, 'esync_durable_ms', 'esync')));
  out.push(row('electric-sync: all rows in the tab (its `DATA_CHANGE`s; a large set\'s rows are parsed on first read)', (s) => cell(s, 'esync_tab_ms', 'esync')));
  out.push(row('&nbsp;&nbsp;and every one of those rows read in the tab (their parse included)', (s) => cell(s, 'esync_tab_read_ms', 'esync')));
  out.push(row('electric-sync, a new shape (the server\'s snapshot included): durable', (s) => cell(s, 'esync_new_shape_ms', 'esync_new')));
  out.push(row('&nbsp;&nbsp;a new shape\'s first response byte (from node)', (s) => ms(s.esync_new_shape_first_byte_ms) ?? '—'));
  out.push(row('**`@electric-sql/client`** 1.5: `Shape.rows` with all rows (memory only, nothing stored)', (s) => cell(s, 'client_ms', 'client')));
  out.push(row('**pglite-sync** 0.6.1 into PGlite 0.5.1 `idb://`: until `onInitialSync`', (s) => cell(s, 'pglite_sync_ms', 'pglite')));
  out.push(row('&nbsp;&nbsp;PGlite start (`PGlite.create(\'idb://…\')`, the table), not in the line above', (s) => cell(s, 'pglite_start_ms', 'pglite')));
  out.push(row('electric-sync durable / `@electric-sql/client`', (s) => ratio(s.esync_durable_ms, s.client_ms)));
  out.push(row('electric-sync in the tab / `@electric-sql/client`', (s) => ratio(s.esync_tab_ms, s.client_ms)));
  out.push(row('electric-sync, every row read in the tab / `@electric-sql/client`', (s) => ratio(s.esync_tab_read_ms, s.client_ms)));
  out.push(row('electric-sync durable / pglite-sync', (s) => ratio(s.esync_durable_ms, s.pglite_sync_ms)));
  out.push(row('electric-sync new shape / warm shape', (s) => ratio(s.esync_new_shape_ms, s.esync_durable_ms)));
  out.push(row('reopen the stored replica until the first query, a page of 50 rows (network unreachable)', (s) => cell(s, 'open_ms', 'esync')));
  out.push(row('reopen / initial sync', (s) => ratio(s.open_ms, s.esync_durable_ms)));
  out.push(row('&nbsp;&nbsp;reopen until `count(*)` (reads every page: the whole image loaded)', (s) => ms(s.open_count_ms) ?? '—'));
  out.push(row('worker memory after the sync (JS heap + wasm heap) / replica size', (s) => `${mib(s.worker_memory_bytes)} / ${mib(s.replica_bytes)} (${ratio(s.worker_memory_bytes, s.replica_bytes)})`));
  const t = [...sz].reverse().find((s) => s.rows <= 100000 && Array.isArray(s.timeline)) || sz.find((s) => Array.isArray(s.timeline));
  if (t) {
    out.push('');
    out.push(`The worker's timeline of the median warm run at ${num(t.rows)} rows (ms from the page's \`useElectricSync\` call): ${t.timeline.map(([l, v]) => `${l} @${num(v)}`).join(', ')}; all rows in the tab @${num(t.runs.map((r) => r.esync && r.esync.timeline === t.timeline && r.esync.tab_ms).find((x) => x) ?? t.esync_tab_ms)}.`);
  }
  out.push('');
  out.push('![Initial sync time against rows, log-log](bench/results/browser-sync.svg)');
  return out.join('\n');
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const dir = path.join(path.dirname(fileURLToPath(import.meta.url)), 'results');
  const res = JSON.parse(readFileSync(path.join(dir, 'browser.json'), 'utf8'));
  writeFileSync(path.join(dir, 'browser-sync.svg'), syncPlot(res.sizes, { subtitle: `${res.date.slice(0, 10)}, ${res.machine?.summary ?? ''}, load ${res.load?.start?.join(' ') ?? '?'}` }));
  console.log(readmeSection(res));
}
