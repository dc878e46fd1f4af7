#!/usr/bin/env bash
# The test entry point (npm test = `all`). Installs and builds what each part needs, then runs it.
#   native  the C formatting check, ctest on the ASan+UBSan tree (unit tests, golden fixtures, fuzz corpus replay),
#           then src/core line coverage (fails under 90%)
#   wasm    node --test wasm-tests/ on the wasm build (fixtures byte-identical to native)
#   server  node --test tests/server/ against a real private Postgres and the C server
#   e2e     node --test tests/e2e/ in headless Chromium
set -euo pipefail
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
    node --test --test-concurrency=1 wasm-tests/
}
run_server() {
    echo "== test:server" >&2
    if [ ! -d tests/server ]; then echo "test:server: no tests yet" >&2; return; fi
    bash scripts/build.sh native
    node --test --test-concurrency=1 tests/server/
}
run_e2e() {
    echo "== test:e2e" >&2
    if [ ! -d tests/e2e ]; then echo "test:e2e: no tests yet" >&2; return; fi
    bash scripts/build.sh native wasm
    node --test --test-concurrency=1 tests/e2e/
}

case "$part" in
    native) run_native ;;
    wasm) run_wasm ;;
    server) run_server ;;
    e2e) run_e2e ;;
    all) run_native; run_wasm; run_server; run_e2e ;;
    *) echo "usage: scripts/test.sh [native|wasm|server|e2e|all]" >&2; exit 2 ;;
esac
