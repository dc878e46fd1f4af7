#!/usr/bin/env bash
# Load test of electric-sync-server with wrk on loopback:
#   POST /api/test-items (unique titles, bench/server-load.lua) and GET /api/schema/version,
#   ~10 s each (ESYNC_BENCH_SECONDS), ESYNC_BENCH_CONNECTIONS connections (default 32) on 2 wrk
#   threads. Prints req/s, p50/p99 latency and the server's RSS before and after, and writes
#   bench/results/server.json.
# Database: the private cluster's electric_sync_bench database (reset through the dev API first,
# so runs are comparable and the dev database is untouched), or DATABASE_URL as given (not reset).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
secs=${ESYNC_BENCH_SECONDS:-10}
conns=${ESYNC_BENCH_CONNECTIONS:-32}
out=bench/results/server.json

command -v wrk >/dev/null || { echo "server-load: wrk is not installed (scripts/setup.sh)" >&2; exit 1; }
if ! bash scripts/build.sh native; then
    # Something else in the tree is broken; the load test needs only the server.
    echo "server-load: the full native build failed; building electric-sync-server alone" >&2
    cmake --build build/native --target electric-sync-server -j "$(nproc)" >/dev/null
fi

reset=0
if [ -z "${DATABASE_URL:-}" ]; then
    bash scripts/pg.sh start
    base=$(bash scripts/pg.sh url)
    admin=${base/\/electric_sync\?//postgres?}
    DATABASE_URL=${base/\/electric_sync\?//electric_sync_bench?}
    if [ "$(psql -X -q "$admin" -tAc "select 1 from pg_database where datname = 'electric_sync_bench'")" != 1 ]; then
        psql -X -q "$admin" -c "create database electric_sync_bench"
    fi
    reset=1
else
    bash scripts/db.sh migrate
fi
export DATABASE_URL

port=$(node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})")
log=$(mktemp)
PORT=$port ESYNC_DEV=$reset build/native/electric-sync-server 2>"$log" &
pid=$!
trap 'kill -TERM $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -f "$log"' EXIT
base_url="http://127.0.0.1:$port"
for _ in $(seq 1 100); do
    grep -q "listening on" "$log" && break
    kill -0 $pid 2>/dev/null || { cat "$log" >&2; exit 1; }
    sleep 0.05
done
if [ $reset = 1 ]; then
    node -e "fetch('$base_url/api/dev/reset',{method:'POST'}).then(r=>{if(!r.ok)process.exit(1)})"
fi

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$pid/status"; }
rss_before=$(rss_kb)

run() {  # name mode path
    local line
    line=$(ESYNC_WRK_MODE=$2 wrk -t2 -c"$conns" -d"${secs}s" --timeout 5s -s bench/server-load.lua \
        "$base_url$3" | grep '^WRKJSON ' | sed 's/^WRKJSON //')
    printf '{"name":"%s","method":"%s","path":"%s","result":%s}' "$1" \
        "$([ "$2" = post ] && echo POST || echo GET)" "$3" "$line"
}
post=$(run post_test_items post /api/test-items)
get=$(run get_schema_version get /api/schema/version)
rss_after=$(rss_kb)
rows=$(psql -X -q "$DATABASE_URL" -tAc "select count(*) from test_items")

node --input-type=module - "$out" "$secs" "$conns" "$rss_before" "$rss_after" "$rows" "$post" "$get" <<'EOF'
import fs from 'node:fs'
import os from 'node:os'
const [out, secs, conns, before, after, rows, ...runs] = process.argv.slice(2)
const parsed = runs.map((r) => JSON.parse(r)).map(({ name, method, path, result: r }) => ({
  name, method, path,
  requests: r.requests,
  req_per_s: Math.round((r.requests / r.duration_us) * 1e6),
  latency_ms: { mean: r.latency_us.mean / 1e3, p50: r.latency_us.p50 / 1e3, p90: r.latency_us.p90 / 1e3,
    p99: r.latency_us.p99 / 1e3, max: r.latency_us.max / 1e3 },
  errors: r.errors,
}))
const result = {
  benchmark: 'server-load',
  date: new Date().toISOString(),
  machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, node: process.version },
  settings: { seconds: Number(secs), connections: Number(conns), wrk_threads: 2, db_pool: Number(process.env.ESYNC_DB_POOL || 4) },
  server_rss_kb: { before: Number(before), after: Number(after) },
  test_items_rows_after: Number(rows),
  runs: parsed,
}
fs.mkdirSync(out.replace(/\/[^/]*$/, ''), { recursive: true })
fs.writeFileSync(out, JSON.stringify(result, null, 2) + '\n')
const pad = (s, n) => String(s).padEnd(n)
console.log(`\nelectric-sync-server under wrk (${conns} connections, ${secs} s each, loopback)`)
console.log(pad('route', 28) + pad('req/s', 10) + pad('p50 ms', 10) + pad('p99 ms', 10) + 'errors')
for (const r of parsed) {
  const errs = Object.values(r.errors).reduce((a, b) => a + b, 0)
  console.log(pad(`${r.method} ${r.path}`, 28) + pad(r.req_per_s, 10) + pad(r.latency_ms.p50.toFixed(2), 10) +
    pad(r.latency_ms.p99.toFixed(2), 10) + errs)
}
console.log(`server RSS: ${before} kB before, ${after} kB after; wrote ${out}`)
EOF
