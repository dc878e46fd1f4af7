#!/usr/bin/env bash
# npm run dev:nuxt: examples/nuxt (Nuxt dev server) beside the private Postgres and the shape service.
#   1. setup and builds (native server, wasm), then packages/electric-sync/dist (scripts/package.sh);
#   2. the private Postgres cluster unless DATABASE_URL is set; migrations (drizzle-kit);
#   3. electric-sync-server as in production: not in dev mode, with ELECTRIC_SECRET (a random one
#      per run unless set), on 127.0.0.1:SHAPE_PORT (default 3001): /v1/shape answers only with the
#      secret, which the example's proxy (/api/electric/v1/shape) adds on the server;
#   4. examples/nuxt installed from its lock (npm ci, when node_modules is missing or older than the
#      lock) and the package from a fresh tarball (npm install --no-save: what users install);
#   5. `nuxt dev` on PORT (default 3000); seeds test_items through the example's /api/dev/seed when it
#      is empty; prints the URL of /dev/sync-test. Ctrl-C stops both servers, and the cluster too if
#      this run started it.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
port=${PORT:-3000}
shape_port=${SHAPE_PORT:-3001}
example=examples/nuxt

bash scripts/setup.sh
bash scripts/build.sh native wasm
bash scripts/package.sh

started_pg=0
if [ -z "${DATABASE_URL:-}" ]; then
    bash scripts/pg.sh status >/dev/null 2>&1 || started_pg=1
    bash scripts/pg.sh start
    DATABASE_URL=$(bash scripts/pg.sh url)
fi
export DATABASE_URL
bash scripts/db.sh migrate
ELECTRIC_SECRET=${ELECTRIC_SECRET:-$(node -e 'console.log(require("crypto").randomBytes(24).toString("hex"))')}
export ELECTRIC_SECRET

# the example's packages, then the package as users get it (a tarball)
npm_flags=(--prefer-offline --no-audit --no-fund --loglevel=error)
if [ ! -f "$example/node_modules/.package-lock.json" ] || [ "$example/package-lock.json" -nt "$example/node_modules/.package-lock.json" ]; then
    (cd "$example" && npm ci "${npm_flags[@]}")
fi
tmp=$(mktemp -d)
tarball=$(bash scripts/package.sh --pack "$tmp")
(cd "$example" && npm install --no-save "${npm_flags[@]}" "$tarball")
rm -rf "$tmp"

server_pid=
nuxt_pid=
cleanup() {
    trap - INT TERM EXIT
    for pid in $nuxt_pid $server_pid; do
        if kill -0 "$pid" 2>/dev/null; then
            kill -TERM "$pid" 2>/dev/null || true
            wait "$pid" 2>/dev/null || true
        fi
    done
    if [ "$started_pg" = 1 ]; then
        echo "dev:nuxt: stopping the private Postgres cluster (started by this run)" >&2
        env -u DATABASE_URL bash scripts/pg.sh stop || true
    fi
}
trap cleanup INT TERM EXIT

PORT=$shape_port HOST=127.0.0.1 build/native/electric-sync-server &
server_pid=$!

(cd "$example" && exec env PORT="$port" HOST=127.0.0.1 NUXT_TELEMETRY_DISABLED=1 \
    ELECTRIC_URL="http://127.0.0.1:$shape_port" MIGRATIONS_DIR="$root/db/migrations" \
    node_modules/.bin/nuxt dev --port "$port" --host 127.0.0.1) &
nuxt_pid=$!

# Ready when the example answers its schema version; then seed an empty table through it.
node --input-type=module - "$port" <<'JS'
const base = `http://127.0.0.1:${process.argv[2]}`
let ok = false
for (let i = 0; i < 600 && !ok; i++) {
  try { ok = (await fetch(`${base}/api/schema/version`)).ok } catch {}
  if (!ok) await new Promise((r) => setTimeout(r, 200))
}
if (!ok) { console.error('dev:nuxt: the Nuxt dev server did not answer'); process.exit(1) }
const { default: pg } = await import('pg')
const c = new pg.Client({ connectionString: process.env.DATABASE_URL })
await c.connect()
const { rows } = await c.query('select count(*)::int as n from test_items')
await c.end()
if (rows[0].n === 0) {
  const r = await fetch(`${base}/api/dev/seed`, { method: 'POST' })
  console.error(`dev:nuxt: seeded test_items: ${await r.text()}`)
}
JS

echo
echo "  Nuxt example: http://localhost:$port/dev/sync-test"
echo "  shape service: http://127.0.0.1:$shape_port/v1/shape (secret required; the example's proxy adds it)"
echo "  (Ctrl-C stops both$([ "$started_pg" = 1 ] && echo ' and the private Postgres cluster'))"
echo
set +e
wait -n "$server_pid" "$nuxt_pid"
rc=$?
[ $rc -eq 0 ] || [ $rc -eq 130 ] || [ $rc -eq 143 ] || exit $rc
