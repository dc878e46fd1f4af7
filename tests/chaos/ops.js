// The random operations and the model of `test_items` they keep: every write goes to the real
// server (REST) or straight to Postgres (SQL through pg), one at a time, and the model is updated
// from what the write answered (the row, or RETURNING). Kinds: REST insert/update/delete; SQL
// insert/update/delete; a PK-preserving bulk update of 1-500 rows in one transaction (some rows
// updated twice in it, so a key changes more than once per transaction); a mixed transaction
// (insert, update, delete of other keys together). The model is checked against Postgres at the
// end: a mismatch there is a bug of this test (or of the REST API), not of the sync.
export const FIELDS = ['id', 'title', 'description', 'completed'];

const KINDS = [
  ['rest_insert', 20], ['rest_update', 18], ['rest_delete', 8],
  ['sql_insert', 10], ['sql_update', 12], ['sql_delete', 6],
  ['sql_bulk_update', 8], ['sql_mixed_tx', 8],
];

const norm = (r) => ({ id: r.id, title: r.title, description: r.description ?? null, completed: !!r.completed });

export function makeOps({ rng, base, pool }) {
  const model = new Map(); // id -> row (FIELDS only)
  const counts = Object.fromEntries(KINDS.map(([k]) => [k, 0]));
  let rowChanges = 0;
  const ids = () => [...model.keys()];

  const rest = async (method, p, body) => {
    const r = await fetch(base + p, { method, headers: body ? { 'content-type': 'application/json' } : {}, body: body ? JSON.stringify(body) : undefined });
    const text = await r.text();
    if (r.status >= 400) throw new Error(`${method} ${p}: ${r.status} ${text}`);
    return JSON.parse(text);
  };
  const newRow = () => ({ id: rng.uuid(), title: rng.text(), description: rng.chance(0.3) ? null : rng.text(60), completed: rng.chance(0.5) });
  const patch = () => {
    const p = {};
    if (rng.chance(0.7)) p.title = rng.text();
    if (rng.chance(0.3)) p.description = rng.chance(0.2) ? null : rng.text(60);
    if (rng.chance(0.4)) p.completed = rng.chance(0.5);
    return p;
  };
  const tx = async (fn) => {
    const c = await pool.connect();
    try {
      await c.query('BEGIN');
      const out = await fn(c);
      await c.query('COMMIT');
      return out;
    } catch (e) {
      await c.query('ROLLBACK').catch(() => {});
      throw e;
    } finally {
      c.release();
    }
  };
  const RET = 'RETURNING id::text, title, description, completed';

  // Keeps the table between about 100 and 600 rows: inserts dominate when small, deletes when big.
  // sqlOnly: the server is down, only Postgres takes writes.
  const pickKind = (sqlOnly) => {
    const n = model.size;
    if (n < 50) return sqlOnly ? 'sql_insert' : rng.pick(['rest_insert', 'sql_insert']);
    if (n > 600) return sqlOnly ? 'sql_delete' : rng.pick(['rest_delete', 'sql_delete']);
    return rng.weighted(sqlOnly ? KINDS.filter(([k]) => k.startsWith('sql_')) : KINDS);
  };

  async function step({ sqlOnly = false } = {}) {
    const kind = pickKind(sqlOnly);
    counts[kind]++;
    switch (kind) {
      case 'rest_insert': {
        const r = await rest('POST', '/api/test-items', newRow());
        model.set(r.id, norm(r));
        rowChanges++;
        break;
      }
      case 'rest_update': {
        const id = rng.pick(ids());
        const r = await rest('PUT', `/api/test-items/${id}`, patch());
        model.set(id, norm(r));
        rowChanges++;
        break;
      }
      case 'rest_delete': {
        const id = rng.pick(ids());
        await rest('DELETE', `/api/test-items/${id}`);
        model.delete(id);
        rowChanges++;
        break;
      }
      case 'sql_insert': {
        const rows = Array.from({ length: rng.int(1, 20) }, newRow);
        const res = await pool.query(
          `INSERT INTO test_items (id, title, description, completed)
           SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::boolean[]) ${RET}`,
          [rows.map((r) => r.id), rows.map((r) => r.title), rows.map((r) => r.description), rows.map((r) => r.completed)]);
        for (const r of res.rows) model.set(r.id, norm(r));
        rowChanges += res.rows.length;
        break;
      }
      case 'sql_update': {
        const id = rng.pick(ids());
        const res = await pool.query(`UPDATE test_items SET title = $2, completed = NOT completed, updated_at = now() WHERE id = $1 ${RET}`, [id, rng.text()]);
        for (const r of res.rows) model.set(r.id, norm(r));
        rowChanges++;
        break;
      }
      case 'sql_delete': {
        const some = Array.from({ length: rng.int(1, 5) }, () => rng.pick(ids()));
        const res = await pool.query(`DELETE FROM test_items WHERE id = ANY($1::uuid[]) RETURNING id::text`, [some]);
        for (const r of res.rows) model.delete(r.id);
        rowChanges += res.rows.length;
        break;
      }
      case 'sql_bulk_update': {
        const all = ids();
        const n = Math.min(all.length, rng.int(1, 500));
        const chosen = new Set();
        while (chosen.size < n) chosen.add(rng.pick(all));
        const list = [...chosen];
        const twice = list.filter(() => rng.chance(0.1));
        const tag = rng.text(8);
        const out = await tx(async (c) => {
          const a = await c.query(
            `UPDATE test_items SET title = $2 || ':' || left(id::text, 8), completed = NOT completed, updated_at = now()
             WHERE id = ANY($1::uuid[]) ${RET}`, [list, tag]);
          const b = twice.length ? await c.query(`UPDATE test_items SET description = $2 WHERE id = ANY($1::uuid[]) ${RET}`, [twice, `again ${tag}`]) : { rows: [] };
          return [...a.rows, ...b.rows];
        });
        for (const r of out) model.set(r.id, norm(r));
        rowChanges += out.length;
        break;
      }
      case 'sql_mixed_tx': {
        const ins = newRow();
        const upd = rng.pick(ids());
        let del = rng.pick(ids());
        if (del === upd) del = null;
        const out = await tx(async (c) => {
          const i = await c.query(`INSERT INTO test_items (id, title, description, completed) VALUES ($1, $2, $3, $4) ${RET}`, [ins.id, ins.title, ins.description, ins.completed]);
          const u = await c.query(`UPDATE test_items SET title = $2 WHERE id = $1 ${RET}`, [upd, rng.text()]);
          // The new row changed again in the same transaction.
          const u2 = await c.query(`UPDATE test_items SET completed = NOT completed WHERE id = $1 ${RET}`, [ins.id]);
          const d = del ? await c.query(`DELETE FROM test_items WHERE id = $1 RETURNING id::text`, [del]) : { rows: [] };
          return { set: [...i.rows, ...u.rows, ...u2.rows], del: d.rows };
        });
        for (const r of out.set) model.set(r.id, norm(r));
        for (const r of out.del) model.delete(r.id);
        rowChanges += out.set.length + out.del.length;
        break;
      }
    }
  }

  async function seed(n) {
    await pool.query('DELETE FROM test_items');
    model.clear();
    for (let i = 0; i < n; i += 100) {
      const rows = Array.from({ length: Math.min(100, n - i) }, newRow);
      const res = await pool.query(
        `INSERT INTO test_items (id, title, description, completed)
         SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::boolean[]) ${RET}`,
        [rows.map((r) => r.id), rows.map((r) => r.title), rows.map((r) => r.description), rows.map((r) => r.completed)]);
      for (const r of res.rows) model.set(r.id, norm(r));
    }
  }

  return { model, counts, step, seed, get rowChanges() { return rowChanges; }, restInsert: (row) => rest('POST', '/api/test-items', row) };
}
