// The test app of electric-sync/vite (tests/e2e/vite.test.js): the tab library with no workerUrl
// (the plugin's default, /electric-sync/electric-sync.worker.js) and the default shape and version
// URLs (/api/..., proxied to electric-sync-server). The rows of the shape are listed by a live query.
import { useElectricSync } from 'electric-sync';

const sync = useElectricSync({ shapes: [{ name: 'test_items', table: 'test_items' }], dbName: 'vite-app' });
window.__sync = sync;
sync.on('STATUS', (s) => { document.getElementById('phase').textContent = s.phase; });
sync.liveQuery('SELECT title FROM test_items ORDER BY title', [], (rows) => {
  const ul = document.getElementById('rows');
  ul.replaceChildren(...rows.map((r) => Object.assign(document.createElement('li'), { textContent: r.title })));
});
