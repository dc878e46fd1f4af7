// Server-side rendering with the bindings, run by `npm run test:package` in a scratch app that
// installed the packed tarball (so `electric-sync/vue` resolves as in a user's app). In node
// there is no Worker: nothing starts, a live query renders as loading with no rows, the status is
// empty, the methods reject with NOT_STARTED, and nothing throws or warns.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSSRApp, h, ref } from 'vue';
import { renderToString } from 'vue/server-renderer';
import { createElement } from 'react';
import { renderToString as renderReact } from 'react-dom/server';
import * as vue from 'electric-sync/vue';
import * as react from 'electric-sync/react';

const options = { shapes: [{ name: 'test_items', table: 'test_items' }] };
const SQL = 'SELECT * FROM test_items WHERE completed = ?';

function quiet(fn) {
  const said = [];
  const { warn, error } = console;
  console.warn = (...a) => said.push(a.join(' '));
  console.error = (...a) => said.push(a.join(' '));
  return Promise.resolve().then(fn).finally(() => { console.warn = warn; console.error = error; })
    .then((v) => { assert.deepEqual(said, []); return v; });
}

test('vue: SSR renders the loading state without a worker', async () => {
  const html = await quiet(() => renderToString(createSSRApp({
    setup() {
      const sync = vue.useElectricSync(options);
      const { rows, isLoading, error } = vue.useLiveQuery(SQL, [ref(0)]);
      const status = vue.useSyncStatus();
      return () => h('p', `${isLoading.value}|${rows.value.length}|${error.value}|${Object.keys(status.value).length}|${sync.client}`);
    },
  })));
  assert.equal(html, '<p>true|0|null|0|null</p>');
  const sync = vue.useElectricSync();
  await assert.rejects(sync.query('SELECT 1'), { code: 'NOT_STARTED' });
  await assert.rejects(sync.ready, { code: 'NOT_STARTED' });
  assert.equal(typeof sync.liveQuery('SELECT 1', [], () => {}), 'function');
});

test('react: SSR renders the loading state without a worker', async () => {
  function Comp() {
    const client = react.useElectricSync(options);
    const { rows, isLoading, error } = react.useLiveQuery(SQL, [0]);
    const status = react.useSyncStatus();
    return createElement('p', null, `${isLoading}|${rows.length}|${error}|${Object.keys(status).length}|${client}`);
  }
  const html = await quiet(() => renderReact(createElement(Comp)));
  assert.equal(html, '<p>true|0|null|0|null</p>');
});
