// What the wasm module exposes, checked against the C headers it is built from: every public
// function is exported or bridged, the version is package.json's, and the constants the JS side
// uses (error codes, VFS chunk size) come from C. The bridge's own load-time checks (transfer
// block slots, action names) ran when loadModule() resolved.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { loadModule, root } from './load.js';

const M = await loadModule();
const read = (p) => readFileSync(path.join(root, p), 'utf8');

test('every function of esync.h and esync_replay.h is exported or bridged', () => {
  const headers = ['src/core/esync.h', 'src/core/esync_replay.h'];
  const names = headers.flatMap((h) => [...read(h).matchAll(/^[a-z].*?\b(esync_[a-z_]+)\(/gm)].map((m) => m[1]));
  assert.ok(names.length >= 21, `found ${names.length} functions`);
  assert.ok(names.includes('esync_replay') && names.includes('esync_libversion') && names.includes('esync_initialize'));
  // the shape service's side of replica images: the browser never builds one, so the module
  // links none of it (src/core/image_build.c)
  const NATIVE_ONLY = new Set(['esync_image_build', 'esync_image_build_inplace']);
  for (const n of names) {
    if (NATIVE_ONLY.has(n)) continue;
    const shim = n.replace(/^esync_/, 'esw_');
    assert.ok(typeof M[`_${n}`] === 'function' || typeof M[`_${shim}`] === 'function', `${n} is neither exported nor bridged`);
  }
});

test('the library version is package.json\'s, in the header and in the module', () => {
  const header = read('src/core/esync.h');
  const macro = (name) => header.match(new RegExp(`#define ESYNC_VERSION_${name} (\\S+)`))[1];
  const { version } = JSON.parse(read('package.json'));
  assert.equal(macro('STRING'), JSON.stringify(version));
  assert.equal(`${macro('MAJOR')}.${macro('MINOR')}.${macro('PATCH')}`, version);
  assert.equal(M.libversion(), version);
  assert.equal(M.UTF8ToString(M._esync_libversion()), version);
});

test('esync_initialize is idempotent', () => {
  assert.equal(M._esync_initialize(), 0);
  assert.equal(M._esync_initialize(), 0);
});

test('Module.errors holds every code of ESYNC_ERRNO_MAP, by name', () => {
  const map = [...read('src/core/esync.h').matchAll(/^\s*XX\((\w+), (-\d+), "/gm)];
  assert.ok(map.length >= 14);
  assert.deepEqual(M.errors, Object.fromEntries(map.map((m) => [`ESYNC_E${m[1]}`, Number(m[2])])));
  assert.ok(Object.isFrozen(M.errors));
});

test('MemVfs.CHUNK is memvfs.h\'s ESYNC_MEMVFS_CHUNK', () => {
  const chunk = Number(read('src/wasm/memvfs.h').match(/#define ESYNC_MEMVFS_CHUNK (\d+)/)[1]);
  assert.equal(M.MemVfs.CHUNK, chunk);
  assert.equal(M._esw_memvfs_chunk_size(), chunk);
});

test('the transfer block has the slots of bridge.h', () => {
  const header = read('src/wasm/bridge.h');
  const slots = [...header.matchAll(/^\s*XX\((\w+)\)/gm)].map((m) => m[1]);
  assert.deepEqual(M.UTF8ToString(M._esw_xfer_slots()).trim().split(' '), slots);
});

test('the tab API is on Module.Engine and its codes and action are C\'s', () => {
  for (const m of ['queryTables', 'txidSeen', 'resume', 'compareShape']) assert.equal(typeof M.Engine.prototype[m], 'function', m);
  assert.equal(M.errors.ESYNC_EPENDING, -15);
  assert.equal(M.errors.ESYNC_EAUTH, -16);
  assert.equal(M.UTF8ToString(M._esw_action_name(5)), 'auth');
  for (const f of ['_esync_txid_seen', '_esync_shape_resume', '_esync_shape_compare', '_esw_query_tables']) assert.equal(typeof M[f], 'function', f);
});
