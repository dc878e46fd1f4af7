#!/usr/bin/env bash
# npm run dev: everything from a fresh clone to a running dev server.
#   1. setup (Debian packages, npm ci, pinned C sources) and the native build; the wasm build too
#      when it builds (the server runs without it; /wasm/* answers 404 then);
#   2. the private Postgres cluster unless DATABASE_URL is set; migrations (drizzle-kit);
#   3. electric-sync-server in dev mode on PORT (default 3000); seeds when test_items is empty;
#   4. prints the URL of /dev/sync-test and waits. Ctrl-C stops the server, and the cluster too if
#      this run started it (a cluster that was already running is left running).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
port=${PORT:-3000}

bash scripts/setup.sh
bash scripts/build.sh native
if ! bash scripts/build.sh wasm >/dev/null 2>&1; then
    echo "dev: the wasm build failed or does not exist yet; serving without /wasm/ (see build/wasm-tree/build.log)" >&2
fi

started_pg=0
if [ -z "${DATABASE_URL:-}" ]; then
    bash scripts/pg.sh status >/dev/null 2>&1 || started_pg=1
    bash scripts/pg.sh start
    DATABASE_URL=$(bash scripts/pg.sh url)
fi
export DATABASE_URL
bash scripts/db.sh migrate

server_pid=
cleanup() {
    trap - INT TERM EXIT
    if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
        kill -TERM "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    if [ "$started_pg" = 1 ]; then
        echo "dev: stopping the private Postgres cluster (started by this run)" >&2
        env -u DATABASE_URL bash scripts/pg.sh stop || true
    fi
}
trap cleanup INT TERM EXIT

PORT=$port ESYNC_DEV=1 build/native/electric-sync-server &
server_pid=$!

# Ready when /api/schema/version answers; then seed an empty table through the server itself.
node --input-type=module - "$port" <<'EOF'
const base = `http://127.0.0.1:${process.argv[2]}`
for (let i = 0; i < 100; i++) {
  try {
    const r = await fetch(`${base}/api/schema/version`)
    if (r.ok) break
  } catch {}
  await new Promise((r) => setTimeout(r, 100))
}
const { default: pg } = await import('pg')
const c = new pg.Client({ connectionString: process.env.DATABASE_URL })
await c.connect()
const { rows } = await c.query('select count(*)::int as n from test_items')
await c.end()
if (rows[0].n === 0) {
  const r = await fetch(`${base}/api/dev/seed`, { method: 'POST' })
  console.error(`dev: seeded test_items: ${await r.text()}`)
}
EOF

kill -0 "$server_pid" 2>/dev/null || { wait "$server_pid" || exit $?; }
echo
echo "  electric-sync dev server: http://localhost:$port/dev/sync-test"
echo "  (Ctrl-C stops it$([ "$started_pg" = 1 ] && echo ' and the private Postgres cluster'))"
echo
set +e
wait "$server_pid"
rc=$?
server_pid=
# 130/143: stopped by Ctrl-C or SIGTERM, which is how a dev session ends.
[ $rc -eq 0 ] || [ $rc -eq 130 ] || [ $rc -eq 143 ] || exit $rc
