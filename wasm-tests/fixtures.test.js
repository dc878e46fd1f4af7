// Every golden fixture on the wasm build: its expectations hold, its transcript is byte-identical
// to the committed .out (which the native build must also match), and the module's memory
// returns to its baseline afterwards.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { loadModule, root } from './load.js';

const dir = path.join(root, 'tests/fixtures');
const fixtures = readdirSync(dir).filter((f) => f.endsWith('.json')).sort();
const M = await loadModule();

test('there are golden fixtures', () => assert.ok(fixtures.length >= 1));

for (const name of fixtures) {
  test(`fixture ${name}`, () => {
    const before = M.memoryUsed();
    const { rc, transcript } = M.replay(readFileSync(path.join(dir, name), 'utf8'), `/tmp/${name}.db`);
    const golden = readFileSync(path.join(dir, name.replace(/\.json$/, '.out')), 'utf8');
    assert.equal(rc, 0, transcript);
    assert.equal(transcript, golden, 'wasm transcript differs from the native golden file');
    assert.equal(M.memoryUsed(), before, 'wasm memory did not return to its baseline');
  });
}
