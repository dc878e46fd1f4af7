#!/usr/bin/env bash
# Line coverage of src/core from the native tests (unit tests, golden fixtures, fuzz corpus
# replay): builds build/coverage, runs ctest there, prints the per-file and total line coverage
# and writes build/coverage/core.info (lcov).   usage: scripts/coverage.sh [--min PERCENT]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
min=0
[ "${1:-}" = "--min" ] && min=$2
bash scripts/build.sh coverage
find build/coverage -name '*.gcda' -delete
ctest --test-dir build/coverage -E '^server' --output-on-failure -j "$(nproc)" >/dev/null
lcov --quiet --capture --directory build/coverage --output-file build/coverage/all.info --rc lcov_branch_coverage=0 2>/dev/null
lcov --quiet --extract build/coverage/all.info "$root/src/core/*" --output-file build/coverage/core.info 2>/dev/null
lcov --list build/coverage/core.info 2>/dev/null | sed "s|$root/||"
total=$(lcov --summary build/coverage/core.info 2>&1 | awk '/lines/ {gsub("%","",$2); print $2}')
echo "src/core line coverage: ${total}%"
awk -v t="$total" -v m="$min" 'BEGIN { exit (t + 0 < m + 0) }' || { echo "below the ${min}% floor" >&2; exit 1; }
