#!/usr/bin/env bash
# npm run bench: builds what is needed, then runs each benchmark part; every part prints a table
# and writes bench/results/<part>.json.   usage: scripts/bench.sh [core|shipped|server|shapes|browser|cdn|sizes]...
# (default: all of them; cdn installs Debian's nginx-light itself when it is missing; browser syncs
# 10k, 100k and 1M rows with three systems, 3 fresh-profile runs each: BENCH_SIZES=100000 for one)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash scripts/setup.sh
bash scripts/build.sh native wasm
parts=("$@"); [ ${#parts[@]} -gt 0 ] || parts=(core shipped server shapes browser cdn sizes)
for p in "${parts[@]}"; do
    case "$p" in
        core) node bench/run-core.mjs ;;
        shipped) node bench/shipped.mjs ;;  # what a page downloads, gzipped, against its budget
        server) bash bench/server-load.sh ;;
        shapes) ulimit -n "$(ulimit -Hn)" 2>/dev/null || true; node bench/shape-load.mjs; node bench/snapshot.mjs ;;  # 1000+ sockets; a new shape vs a stored one
        browser) bash scripts/package.sh; node bench/browser.mjs; node bench/browser-tabapi.mjs; node bench/browser-floor.mjs ;;  # the package's files; Chromium's own floor under a worker's start
        cdn) ulimit -n "$(ulimit -Hn)" 2>/dev/null || true; node bench/cdn/load.mjs ;;  # 15,000 sockets, nginx
        sizes) bash scripts/package.sh; node bench/sizes.mjs ;;  # what the browser downloads, gzipped
        *) echo "bench: unknown part $p" >&2; exit 2 ;;
    esac
done
