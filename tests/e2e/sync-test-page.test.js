// The demo page /dev/sync-test as a user drives it, in two tabs of headless Chromium on the real
// server: rows appear from the local replica (live queries), a row added in one tab is awaited by
// its txid and shows up in the other,
// toggling and deleting propagate, "Reset database" and "Reset local replica" leave both tabs on
// the database's rows, and no page error is raised on the way.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startBackend } from '../../wasm-tests/support/backend.js';
import { openContext } from './browser.js';

let backend;
before(async () => { backend = await startBackend({ static: true }); });
after(async () => { await backend?.stop(); });

const rowTitles = (p) => p.$$eval('#rows-body tr td:nth-child(2)', (tds) => tds.map((td) => td.textContent).sort());
const waitRows = (p, pred, arg) => p.waitForFunction(pred, arg, { timeout: 20000 });
const titlesAre = (want) => {
  const got = [...document.querySelectorAll('#rows-body tr td:nth-child(2)')].map((td) => td.textContent).sort();
  return JSON.stringify(got) === JSON.stringify(want);
};

test('/dev/sync-test: two tabs stay equal to the database through writes and resets', async (t) => {
  if (backend.kind !== 'real') return t.skip('needs the real server');
  await backend.seedMany(5);
  const b = await openContext(backend.staticBase);
  const errors = [];
  try {
    const open = async () => {
      const p = await b.ctx.newPage();
      p.on('pageerror', (e) => errors.push(String(e)));
      await p.goto(`${backend.staticBase}/dev/sync-test`);
      return p;
    };
    const a = await open();
    const c = await open();
    const dbTitles = async () => (await backend.rows()).map((r) => r.title).sort();
    let want = await dbTitles();
    assert.equal(want.length, 5);
    await waitRows(a, titlesAre, want).catch(async (e) => {
      throw new Error(`${e.message}\nwant ${JSON.stringify(want)}\ngot ${JSON.stringify(await rowTitles(a))}\nphase ${await a.textContent('#phase')} ${await a.textContent('#error')}\n${errors.join('\n')}`);
    });
    await waitRows(c, titlesAre, want);
    assert.equal(await a.textContent('#phase'), 'live');

    await a.fill('input[name=title]', 'typed in tab A');
    await a.click('#create button');
    want = [...want, 'typed in tab A'].sort();
    // The page awaited the write's txid, then its live query showed the row.
    await waitRows(a, () => /add: in the replica after \d+ ms \(txid \d+\)/.test(document.querySelector('#write').textContent));
    await waitRows(a, titlesAre, want);
    await waitRows(c, titlesAre, want);
    assert.deepEqual(await dbTitles(), want);

    const row = c.locator('#rows-body tr', { hasText: 'typed in tab A' });
    await row.locator('input[type=checkbox]').click();
    await waitRows(a, () => [...document.querySelectorAll('#rows-body tr')]
      .some((tr) => tr.textContent.includes('typed in tab A') && tr.querySelector('input').checked));
    await a.locator('#rows-body tr', { hasText: 'typed in tab A' }).locator('button').click();
    want = want.filter((x) => x !== 'typed in tab A');
    await waitRows(c, titlesAre, want);

    await a.click('#reset-db');
    await a.waitForFunction(() => [...document.querySelectorAll('#log li')].length >= 4, null, { timeout: 20000 });
    await new Promise((r) => setTimeout(r, 500));
    want = await dbTitles();
    await waitRows(a, titlesAre, want);
    await waitRows(c, titlesAre, want);

    await c.click('#reset-local');
    await waitRows(a, () => [...document.querySelectorAll('#log li')].some((li) => li.textContent.includes('SCHEMA_RESET manual_reset')));
    await waitRows(a, titlesAre, want);
    await waitRows(c, titlesAre, want);
    assert.deepEqual(await rowTitles(a), want);
    for (const p of [a, c]) assert.equal(await p.$eval('#error', (e) => e.hidden), true, await p.textContent('#error'));
    assert.deepEqual(errors, []);
  } finally {
    await b.close();
  }
});
