#!/usr/bin/env bash
# The test entry point (npm test = `all`). Installs and builds what each part needs, then runs it.
#   native  the C formatting check, ctest on the ASan+UBSan tree (unit tests, golden fixtures, fuzz corpus replay),
#           then src/core line coverage (fails under 90%)
#   wasm    node --test wasm-tests/ on the wasm build (fixtures byte-identical to native)
#   server  node --test tests/server/ against a real private Postgres and the C server
#   e2e     node --test tests/e2e/ in headless Chromium
#   chaos   tests/chaos/run.js: random REST and SQL writes while a proxy injects faults into the
#           shape requests of Chromium tabs (SharedWorker and fallback), with server and Postgres
#           restarts, a migration, reloads, worker kills, hand-overs; checked as it goes and at the
#           end: every tab must equal Postgres and its DATA_CHANGE stream fold to its replica
#           (CHAOS_SEED, CHAOS_OPS; tests/chaos/run.js lists the rest)
#   package the npm package: packed, installed from the tarball into a scratch app (npm only, from
#           its cache when it can), its exports resolved, its types checked with tsc against
#           packages/electric-sync/test/usage.ts, the .wasm in the tarball size-checked, the Vue and
#           React bindings rendered on the server (test/ssr.test.js: no worker, the loading state)
#   nuxt    examples/test/: examples/nuxt installed from the packed tarball into a scratch copy (npm ci
#           of its lock, then the tarball), `nuxt build`, its .output server started against the real
#           electric-sync-server (with a secret) and Postgres, driven in Chromium (two tabs, awaitTxId,
#           offline reload, SSR); prints its wall time
set -euo pipefail
# A test that hangs fails after 10 minutes, and a test file whose tests are done exits even if
# something it started is still running (a client left polling): one stuck test must not eat
# CI's time budget.
nodetest=(node --test --test-concurrency=1 --test-timeout=600000 --test-force-exit)
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
part=${1:-all}
bash scripts/setup.sh

run_native() {
    echo "== test:native" >&2
    bash scripts/format.sh --check   # C not formatted by .clang-format fails here
    bash scripts/build.sh asan
    ctest --test-dir build/asan --output-on-failure -j "$(nproc)"
    # src/core must stay covered by its tests (the number is printed)
    bash scripts/coverage.sh --min 90 | tail -1
}
run_wasm() {
    echo "== test:wasm" >&2
    bash scripts/build.sh native wasm   # the worker tests run against the real server
    "${nodetest[@]}" wasm-tests/
}
run_server() {
    echo "== test:server" >&2
    if [ ! -d tests/server ]; then echo "test:server: no tests yet" >&2; return; fi
    bash scripts/build.sh native
    "${nodetest[@]}" tests/server/
}
run_e2e() {
    echo "== test:e2e" >&2
    if [ ! -d tests/e2e ]; then echo "test:e2e: no tests yet" >&2; return; fi
    bash scripts/build.sh native wasm
    "${nodetest[@]}" tests/e2e/
}
run_chaos() {
    echo "== test:chaos" >&2
    bash scripts/build.sh native wasm
    # a watchdog: a run that hangs is stopped after 30 minutes (a normal one takes a few)
    timeout -k 30 1800 node tests/chaos/run.js || { echo "test:chaos: failed (exit $?; 124: the 30-minute watchdog)" >&2; return 1; }
}

run_package() {
    echo "== test:package" >&2
    bash scripts/build.sh wasm
    local tmp tarball
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' RETURN
    tarball=$(bash scripts/package.sh --pack "$tmp")
    # the worker, its scripts and the engine are in the tarball; the .wasm within its budget
    local listing wasm_bytes
    listing=$(tar -tzvf "$tarball")
    for f in $(cd web && ls electric-sync.js app-router.js electric-sync.store.js electric-sync.worker*.js) \
        wasm/electric-sync.js wasm/electric-sync.wasm; do
        grep -q " package/dist/$f\$" <<<"$listing" || { echo "test:package: tarball lacks dist/$f" >&2; return 1; }
    done
    wasm_bytes=$(awk '$NF == "package/dist/wasm/electric-sync.wasm" {print $3}' <<<"$listing")
    echo "test:package: $(basename "$tarball"): $(stat -c %s "$tarball") bytes packed, electric-sync.wasm $wasm_bytes bytes" >&2
    if [ "$wasm_bytes" -lt 200000 ] || [ "$wasm_bytes" -gt 2000000 ]; then
        echo "test:package: electric-sync.wasm is $wasm_bytes bytes, outside 200 kB..2 MB" >&2
        return 1
    fi
    # a scratch app installs the tarball as a user would (no build step of ours runs there)
    mkdir "$tmp/app"
    printf '{"name":"scratch-app","private":true,"type":"module"}\n' >"$tmp/app/package.json"
    local v deps=()
    for d in vue react react-dom; do   # the optional peers, at the versions of the root's lock
        v=$(node -p "require('./node_modules/$d/package.json').version")
        deps+=("$d@$v")
    done
    (cd "$tmp/app" && npm install --prefer-offline --no-audit --no-fund --loglevel=error \
        "$tarball" "${deps[@]}")
    # every entry of the exports map resolves to a file that exists
    (cd "$tmp/app" && node --input-type=module -e '
import fs from "node:fs";
import { fileURLToPath } from "node:url";
for (const e of ["electric-sync", "electric-sync/vue", "electric-sync/react", "electric-sync/app-router", "electric-sync/vite"]) {
  const f = fileURLToPath(import.meta.resolve(e));
  if (!fs.existsSync(f)) { console.error(`test:package: ${e} -> ${f} is missing`); process.exit(1); }
}
const { useElectricSync } = await import("electric-sync");
if (typeof useElectricSync !== "function") process.exit(1);
')
    cp packages/electric-sync/test/usage.ts "$tmp/app/"
    cat >"$tmp/app/tsconfig.json" <<'JSON'
{ "compilerOptions": { "target": "ES2022", "module": "ESNext", "moduleResolution": "Bundler",
    "strict": true, "noEmit": true, "lib": ["ES2022", "DOM"], "types": [] },
  "files": ["usage.ts"] }
JSON
    node_modules/.bin/tsc -p "$tmp/app/tsconfig.json"
    echo "test:package: the installed package type-checks (usage.ts, its @ts-expect-error lines included)" >&2
    # server-side rendering with the installed bindings
    cp packages/electric-sync/test/ssr.test.js "$tmp/app/"
    (cd "$tmp/app" && "${nodetest[@]}" ssr.test.js)
}

run_nuxt() {
    echo "== test:nuxt" >&2
    bash scripts/build.sh native wasm
    bash scripts/package.sh
    local t0=$SECONDS
    "${nodetest[@]}" examples/test/
    echo "test:nuxt: $((SECONDS - t0)) s (pack, npm ci, nuxt build, Chromium)" >&2
}

case "$part" in
    native) run_native ;;
    wasm) run_wasm ;;
    server) run_server ;;
    e2e) run_e2e ;;
    package) run_package ;;
    chaos) run_chaos ;;
    nuxt) run_nuxt ;;
    all) run_native; run_wasm; run_server; run_e2e; run_chaos; run_package; run_nuxt ;;
    *) echo "usage: scripts/test.sh [native|wasm|server|e2e|package|chaos|nuxt|all]" >&2; exit 2 ;;
esac
