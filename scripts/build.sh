#!/usr/bin/env bash
# Configures (once) and builds one or more trees under build/. Incremental: a second run rebuilds
# only what changed.   usage: scripts/build.sh [native|asan|coverage|fuzz|wasm]...  (default: native wasm)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
[ -f build/deps/sqlite/.stamp ] && [ -f build/deps/cjson/.stamp ] || bash scripts/deps.sh
jobs=$(nproc 2>/dev/null || echo 2)

configure() {  # dir, extra cmake args...
    local dir=$1; shift
    if [ ! -f "$dir/CMakeCache.txt" ]; then
        cmake -S . -B "$dir" -Wno-dev "$@" >/dev/null
    fi
}

build_one() {
    case "$1" in
        native)   configure build/native -DCMAKE_BUILD_TYPE=RelWithDebInfo ;;
        asan)     configure build/asan -DCMAKE_BUILD_TYPE=Debug -DESYNC_SANITIZE=ON ;;
        coverage) configure build/coverage -DCMAKE_BUILD_TYPE=Debug -DESYNC_COVERAGE=ON -DESYNC_SERVER=OFF ;;
        fuzz)     configure build/fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DESYNC_FUZZ=ON \
                      -DCMAKE_C_COMPILER=clang -DESYNC_SERVER=ON ;;
        wasm)
            # shellcheck disable=SC1091
            . ./emsdk-env.sh
            configure build/wasm-tree -DCMAKE_TOOLCHAIN_FILE="$EMSDK_TOOLCHAIN" -DCMAKE_BUILD_TYPE=Release
            ;;
        *) echo "build: unknown tree $1" >&2; exit 2 ;;
    esac
    local dir="build/$1"; [ "$1" = wasm ] && dir=build/wasm-tree
    if ! cmake --build "$dir" -j "$jobs" >"$dir/build.log" 2>&1; then
        grep -vE '^\[ *[0-9]+%\]|Built target' "$dir/build.log" | tail -60 >&2
        echo "build: $1 failed (full log: $dir/build.log)" >&2; exit 1
    fi
}

targets=("$@"); [ ${#targets[@]} -gt 0 ] || targets=(native wasm)
for t in "${targets[@]}"; do build_one "$t"; done
