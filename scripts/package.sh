#!/usr/bin/env bash
# Fills packages/electric-sync/dist/ (ignored by git) from the built tree, so that
# `npm pack ./packages/electric-sync` gives a tarball that installs without a C toolchain:
#   dist/electric-sync.js, dist/app-router.js            the tab library and the router (ES modules,
#                                                          minified)
#   dist/electric-sync.worker*.js, electric-sync.store.js the worker (classic scripts);
#                                                          dist/electric-sync.worker.js is the
#                                                          bundle, minified: its parts (SCRIPTS) and
#                                                          the engine's loader in front of it, so a
#                                                          worker starts with one request
#                                                          (scripts/bundle.mjs; the parts beside it
#                                                          stay readable)
#   dist/worker-files.json                                 the files a worker may fetch (Vite plugin)
#   dist/wasm/electric-sync.{js,wasm}                      the engine, where the worker looks for it
#                                                          (wasm/ relative to its own URL)
# The package's version is the root package.json's. Needs `bash scripts/build.sh wasm` first
# (`npm run package` builds, then calls this).
#   --pack DIR   also `npm pack` the package into DIR and print the tarball's path
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
pkg=packages/electric-sync
for f in build/wasm/electric-sync.js build/wasm/electric-sync.wasm; do
    [ -f "$f" ] || { echo "package: $f is missing; run: bash scripts/build.sh wasm" >&2; exit 1; }
done
rm -rf "$pkg/dist"
mkdir -p "$pkg/dist/wasm"
cp web/electric-sync.js web/app-router.js web/electric-sync.store.js web/electric-sync.worker*.js "$pkg/dist/"
cp build/wasm/electric-sync.js build/wasm/electric-sync.wasm "$pkg/dist/wasm/"
# the package's version is the root's
node -e '
const fs = require("fs");
const rootPkg = JSON.parse(fs.readFileSync("package.json", "utf8"));
const p = process.argv[1] + "/package.json";
const pkg = JSON.parse(fs.readFileSync(p, "utf8"));
if (pkg.version !== rootPkg.version) { pkg.version = rootPkg.version; fs.writeFileSync(p, JSON.stringify(pkg, null, 2) + "\n"); }
' "$pkg"
# the bundle (the worker, its parts and the engine's loader, one script) and the minified tab
# library over the copies above; dist/worker-files.json lists what a worker may fetch
node scripts/bundle.mjs "$pkg/dist"
if [ "${1:-}" = "--pack" ]; then
    out=$(cd "${2:?--pack DIR}" && pwd)
    (cd "$pkg" && npm pack --silent --pack-destination "$out") | tail -1 | sed "s|^|$out/|"
fi
