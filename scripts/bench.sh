#!/usr/bin/env bash
# npm run bench: builds what is needed, then runs each benchmark part; every part prints a table
# and writes bench/results/<part>.json.   usage: scripts/bench.sh [core|server]...  (default: all)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash scripts/setup.sh
bash scripts/build.sh native wasm
parts=("$@"); [ ${#parts[@]} -gt 0 ] || parts=(core server)
for p in "${parts[@]}"; do
    case "$p" in
        core) node bench/run-core.mjs ;;
        server) if [ -f bench/server-load.sh ]; then bash bench/server-load.sh; else echo "bench: no server benchmark yet" >&2; fi ;;
        *) echo "bench: unknown part $p" >&2; exit 2 ;;
    esac
done
