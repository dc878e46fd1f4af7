// Loads build/wasm/electric-sync.js in node. The 3.1.6 loader would try fetch() on the file path,
// so the wasm bytes are handed over directly (wasmBinary).
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);

export async function loadModule() {
  const factory = require(path.join(root, 'build/wasm/electric-sync.js'));
  const wasmBinary = readFileSync(path.join(root, 'build/wasm/electric-sync.wasm'));
  return factory({ wasmBinary, print: () => {}, printErr: (m) => process.stderr.write(m + '\n') });
}
