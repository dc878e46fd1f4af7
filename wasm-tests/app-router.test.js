// web/app-router.js: dock vs URL navigation, back(), change events, against a minimal window.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useAppRouter } from '../web/app-router.js';

function fakeWindow(start = '/') {
  const stack = [start];
  let i = 0;
  const handlers = new Set();
  const location = { pathname: start, search: '', hash: '' };
  const at = () => { location.pathname = stack[i]; };
  return {
    location,
    history: {
      pushState(_s, _t, p) { stack.splice(i + 1); stack.push(p); i++; at(); },
      replaceState(_s, _t, p) { stack[i] = p; at(); },
      back() { if (i > 0) { i--; at(); setImmediate(() => { for (const h of handlers) h(); }); } },
    },
    addEventListener(t, h) { if (t === 'popstate') handlers.add(h); },
    removeEventListener(t, h) { handlers.delete(h); },
  };
}

test('dock and url modes, back, change events', async () => {
  const win = fakeWindow('/');
  const r = useAppRouter({ window: win, fresh: true });
  assert.equal(useAppRouter(), r, 'one router per window');
  const seen = [];
  const off = r.on('change', (e) => seen.push(`${e.mode}:${e.path}<${e.previous.path}`));
  r.navigate('/items', { mode: 'url' });
  assert.deepEqual(r.current, { path: '/items', mode: 'url' });
  r.navigate('/items/1', { mode: 'dock' });
  r.navigate('/items/2', { mode: 'dock' });
  assert.equal(win.location.pathname, '/items', 'docking leaves the URL alone');
  assert.deepEqual(r.docked, ['/items/1', '/items/2']);
  r.back();
  assert.deepEqual(r.current, { path: '/items/1', mode: 'dock' });
  r.back();
  assert.deepEqual(r.current, { path: '/items', mode: 'url' });
  r.back(); // history
  await new Promise((res) => setImmediate(res));
  assert.deepEqual(r.current, { path: '/', mode: 'url' });
  assert.deepEqual(seen, ['url:/items</', 'dock:/items/1</items', 'dock:/items/2</items/1', 'dock:/items/1</items/2', 'url:/items</items/1', 'url:/</items']);
  off();
  r.navigate('/x', { mode: 'dock' });
  assert.equal(seen.length, 6);
  assert.throws(() => r.navigate('/y', { mode: 'modal' }), /unknown mode/);
  r.destroy();
});
