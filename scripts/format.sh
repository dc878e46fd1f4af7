#!/usr/bin/env bash
# Formats our C sources with .clang-format (Debian's clang-format 14), or checks them.
#   usage: scripts/format.sh [--check]
# --check changes nothing and fails, listing the files, when one is not formatted (npm test runs it).
# Third-party sources live under build/deps and are never in this list.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
fmt=$(command -v clang-format-14 || command -v clang-format || true)
[ -n "$fmt" ] || { echo "format: clang-format is not installed (scripts/setup.sh installs it)" >&2; exit 2; }
mapfile -t files < <(git ls-files -- 'src/*.c' 'src/*.h' 'tests/*.c' 'tests/*.h' 'fuzz/*.c' 'fuzz/*.h' \
    'bench/*.c' 'bench/*.h')
if [ "${1:-}" = --check ]; then
    bad=()
    for f in "${files[@]}"; do
        "$fmt" --style=file "$f" | cmp -s - "$f" || bad+=("$f")
    done
    if [ ${#bad[@]} -gt 0 ]; then
        echo "format: ${#bad[@]} file(s) not formatted (run: bash scripts/format.sh):" >&2
        printf '  %s\n' "${bad[@]}" >&2
        exit 1
    fi
    echo "format: ${#files[@]} C files formatted" >&2
else
    "$fmt" --style=file -i "${files[@]}"
fi
