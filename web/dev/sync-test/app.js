// The /dev/sync-test page: the seed's sync test. Rows come from the local SQLite replica through
// live queries (run in the worker, again after each commit that changed test_items), writes go to
// the REST API and wait for their transaction to reach the replica (awaitTxId); every change
// arrives back through the shape stream — in this tab and in every other open tab.
import { useElectricSync } from '/electric-sync.js';
import { useAppRouter } from '/app-router.js';

const $ = (id) => document.getElementById(id);
const sync = useElectricSync({ shapes: [{ name: 'test_items', table: 'test_items' }], dbName: 'docpal-electric' });
const router = useAppRouter();

// ---- status ----
sync.on('STATUS', (s) => {
  $('phase').textContent = s.phase;
  $('rows').textContent = s.rows ?? '–';
  // The initial sync's progress: rows received of the announced total (a bar without a value
  // moves to and fro while the server announced no total, as Electric's does not); full once live.
  if (s.progress !== undefined) $('progress').value = s.progress;
  else $('progress').removeAttribute('value');
  $('progress-text').textContent = s.progress !== undefined
    ? `${Math.round(s.progress * 100)}%${s.total !== undefined && s.phase !== 'live' ? ` of ${s.total}` : ''}`
    : s.phase === 'initial-sync' ? `${s.rows} rows…` : '';
  $('offset').textContent = s.offset ?? '–';
  $('handle').textContent = s.handle ?? '–';
  $('synced').textContent = s.lastSyncedAt ? new Date(s.lastSyncedAt).toLocaleTimeString() : '–';
  $('error').hidden = !s.error;
  $('error').textContent = s.error || '';
});
fetch('/api/schema/version').then((r) => r.json()).then((v) => { $('version').textContent = `${v.version} (${v.hash.slice(0, 8)})`; }).catch(() => {});

// ---- rows: two live queries over the replica (the worker re-runs them after each commit that
// changed test_items; every open tab shares them) ----
const esc = (s) => String(s ?? '').replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' }[c]));
const showError = (e) => { $('error').hidden = false; $('error').textContent = e.message || String(e); };
const report = (p) => p.catch(showError);
let flashIds = new Set(); // the rows the last DATA_CHANGE inserted or updated
let shown = 0, total = 0;
const renderCount = () => { $('count').textContent = `${total} rows in the local replica${total > shown ? `, newest ${shown} shown` : ''}`; };
sync.liveQuery('SELECT id, title, description, completed, updated_at FROM test_items ORDER BY created_at DESC, id LIMIT 500', [], (rows) => {
  shown = rows.length;
  renderCount();
  $('rows-body').innerHTML = rows.map((r) => `
    <tr data-id="${esc(r.id)}" class="${flashIds.has(r.id) ? 'flash' : ''}">
      <td><input type="checkbox" data-act="toggle" ${r.completed ? 'checked' : ''} aria-label="completed"></td>
      <td contenteditable="plaintext-only" data-act="title">${esc(r.title)}</td>
      <td>${esc(r.description)}</td>
      <td>${esc(r.updated_at)}</td>
      <td><button data-act="delete" aria-label="delete">✕</button></td>
    </tr>`).join('');
  flashIds = new Set();
}, showError);
sync.liveQuery('SELECT count(*) AS n FROM test_items', [], ([{ n }]) => { total = n; renderCount(); }, showError);
sync.ready.catch(showError);

// ---- events ----
function log(text) {
  const li = document.createElement('li');
  li.textContent = `${new Date().toLocaleTimeString()} ${text}`;
  $('log').prepend(li);
  while ($('log').children.length > 200) $('log').lastChild.remove();
}
sync.on('DATA_CHANGE', (ev) => {
  const c = ev.changes;
  log(`DATA_CHANGE ${ev.shapeName}: +${c.insert.length} ~${c.update.length} -${c.delete.length}` +
      (c.insert.length + c.update.length + c.delete.length <= 3 ? ` ${JSON.stringify(c, (k, v) => (typeof v === 'bigint' ? String(v) : v))}` : ''));
  flashIds = new Set([...c.insert.map((r) => r.id), ...c.update.map((u) => u.new.id)]);
});
sync.on('SCHEMA_RESET', (ev) => { log(`SCHEMA_RESET ${ev.reason} ${ev.oldVersion ?? '∅'} → ${ev.newVersion}`); });

// ---- writes (REST): each answer carries the transaction's txid; the page waits until that
// transaction is in the replica (awaitTxId) — the row itself arrives through the live query ----
async function api(method, path, body) {
  const res = await fetch(path, { method, headers: body ? { 'content-type': 'application/json' } : {}, body: body ? JSON.stringify(body) : undefined });
  const data = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(data.error?.message || `${method} ${path}: HTTP ${res.status}`);
  return data;
}
async function write(what, method, path, body) {
  const t0 = performance.now();
  $('write').textContent = `${what}…`;
  const { txid } = await api(method, path, body);
  await sync.awaitTxId(txid);
  $('write').textContent = `${what}: in the replica after ${Math.round(performance.now() - t0)} ms (txid ${txid})`;
}
$('create').addEventListener('submit', (e) => {
  e.preventDefault();
  const f = new FormData(e.target);
  const button = e.target.querySelector('button');
  button.disabled = true;
  report(write('add', 'POST', '/api/test-items', { title: f.get('title'), description: f.get('description') || null })
    .then(() => e.target.reset())
    .finally(() => { button.disabled = false; }));
});
$('rows-body').addEventListener('click', (e) => {
  const id = e.target.closest('tr')?.dataset.id;
  if (!id) return;
  if (e.target.dataset.act === 'toggle') report(write('toggle', 'PUT', `/api/test-items/${id}`, { completed: e.target.checked }));
  if (e.target.dataset.act === 'delete') report(write('delete', 'DELETE', `/api/test-items/${id}`));
});
$('rows-body').addEventListener('keydown', (e) => {
  if (e.target.dataset.act === 'title' && e.key === 'Enter') {
    e.preventDefault();
    report(write('rename', 'PUT', `/api/test-items/${e.target.closest('tr').dataset.id}`, { title: e.target.textContent.trim() }));
    e.target.blur();
  }
});
$('seed').addEventListener('click', () => report(api('POST', '/api/dev/seed', { count: 10 })));
$('reset-db').addEventListener('click', () => report(api('POST', '/api/dev/reset')));
$('reset-local').addEventListener('click', () => report(sync.resetLocal()));

// ---- navigation (useAppRouter: a docked panel changes the view without touching the URL; url
// mode pushes a history entry, so back/forward work) ----
function show(route) {
  const name = String(route || '').includes('#') ? String(route).split('#').pop() || 'items' : 'items';
  for (const v of document.querySelectorAll('.view')) v.hidden = v.id !== name;
  for (const a of document.querySelectorAll('#nav a')) a.classList.toggle('active', a.dataset.route === name);
}
$('nav').addEventListener('click', (e) => {
  const a = e.target.closest('a[data-route]');
  if (!a) return;
  e.preventDefault();
  router.navigate(`/dev/sync-test#${a.dataset.route}`, { mode: $('dock').checked ? 'dock' : 'url' });
});
router.on('change', (r) => show(r.path));
show(location.hash);
window.addEventListener('hashchange', () => show(location.hash));
