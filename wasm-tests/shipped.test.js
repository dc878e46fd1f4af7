// The size budget of what a page ships (issue 12): the tab library, the worker and its scripts, the
// emscripten glue and the .wasm, each gzipped at level 9, at most 350 KiB in all. Size is a
// deterministic property of the build, so it is checked like behaviour (bench/shipped.mjs prints
// the same table and writes bench/results/shipped.json).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { shipped, workerScripts, BUDGET_BYTES } from '../bench/shipped.mjs';

test('the measurement counts every script the worker loads, the glue and the wasm', () => {
  const s = shipped();
  const files = s.files.map((r) => r.file);
  assert.ok(workerScripts().length >= 5);
  for (const f of workerScripts()) assert.ok(files.includes(`web/${f}`), `${f} is counted`);
  for (const f of ['web/electric-sync.js', 'web/electric-sync.worker.js', 'build/wasm/electric-sync.js', 'build/wasm/electric-sync.wasm']) {
    assert.ok(files.includes(f), `${f} is counted`);
  }
  for (const r of s.files) assert.ok(r.gzip_bytes > 0 && r.gzip_bytes < r.bytes, `${r.file} gzips`);
});

test(`wasm + worker JS + glue + tab library, gzipped, within ${BUDGET_BYTES / 1024} KiB`, () => {
  const s = shipped();
  const detail = Object.entries(s.kinds).map(([k, v]) => `${k} ${v.gzip_bytes}`).join(', ');
  assert.ok(s.total_gzip_bytes <= BUDGET_BYTES, `shipped ${s.total_gzip_bytes} bytes gzipped (${detail}) > ${BUDGET_BYTES}`);
});
