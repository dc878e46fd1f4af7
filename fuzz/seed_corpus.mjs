// Writes seed inputs for fuzz/core_ingest.c from the golden fixtures' response bodies:
// node fuzz/seed_corpus.mjs > lists what it wrote. (Run once; the corpus is then minimized
// with libFuzzer's -merge=1 and committed.)
import { readdirSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { createHash } from 'node:crypto';
const dir = new URL('../tests/fixtures/', import.meta.url);
const out = new URL('./corpus/core_ingest/', import.meta.url);
mkdirSync(out, { recursive: true });
let n = 0;
for (const f of readdirSync(dir).filter((x) => x.endsWith('.json'))) {
  const fx = JSON.parse(readFileSync(new URL(f, dir), 'utf8'));
  for (const step of fx.steps || []) {
    if (step.op && step.op !== 'response') continue;
    const body = step.body_text ?? JSON.stringify(step.body ?? []);
    const flags = (step.headers && 'electric-up-to-date' in step.headers ? 1 : 0) | 0x02;
    const bytes = Buffer.concat([Buffer.from([flags]), Buffer.from(body)]);
    const name = createHash('sha1').update(bytes).digest('hex');
    writeFileSync(new URL(name, out), bytes);
    n++;
  }
}
console.log(`wrote ${n} seeds`);
