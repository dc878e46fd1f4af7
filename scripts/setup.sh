#!/usr/bin/env bash
# Installs what the build and the tests need, idempotently: Debian packages (one apt-get update,
# only when something is missing), npm packages (npm ci when the lockfile changed), and the pinned
# C sources (scripts/deps.sh). Every npm script that builds or tests calls this first.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

pkgs=(build-essential cmake pkg-config clang libclang-rt-14-dev emscripten
      libmicrohttpd-dev libpq-dev libcurl4-openssl-dev zlib1g-dev postgresql-15 postgresql-client-15
      chromium chromium-driver wrk lcov xz-utils patch openssl clang-format)
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing Debian packages: ${missing[*]}" >&2
    sudo_cmd=(); [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
    "${sudo_cmd[@]}" dpkg --configure -a >/dev/null 2>&1 || true
    "${sudo_cmd[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# npm ci only when node_modules is missing or older than the lockfile.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    echo "setup: npm ci" >&2
    npm ci --no-audit --no-fund --loglevel=error
fi

bash scripts/deps.sh
