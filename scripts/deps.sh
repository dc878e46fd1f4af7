#!/usr/bin/env bash
# Fetches the pinned third-party C sources listed in deps.lock into build/deps/.
#
#   sqlite: the amalgamation carried by a pinned npm tarball (npm pack), checked against the
#           tarball's sha512 integrity before anything is extracted.
#   cjson:  Debian's source package, downloaded with `apt-get source --download-only` through a
#           private apt configuration under build/deps/apt (the system's apt setup is untouched);
#           the upstream tarball and the Debian patch set are checked by sha256, then the Debian
#           patches (security fixes) are applied.
#
# Idempotent: a stamp file records what was extracted; nothing is fetched when it matches.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out="$root/build/deps"
mkdir -p "$out"

field() { awk -v n="$1" -v f="$2" '$1==n {print $f}' "$root/deps.lock"; }

fetch_sqlite() {
    local ver src sum pkg dir stamp
    ver=$(field sqlite 2); src=$(field sqlite 3); sum=$(field sqlite 4)
    pkg=${src#npm:}
    dir="$out/sqlite"; stamp="$dir/.stamp"
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$ver $sum" ]; then return; fi
    echo "deps: fetching SQLite $ver ($pkg)" >&2
    rm -rf "$dir" "$out/tmp-sqlite"; mkdir -p "$out/tmp-sqlite"
    (cd "$out/tmp-sqlite" && npm pack --silent "$pkg" >/dev/null)
    local tgz; tgz=$(ls "$out"/tmp-sqlite/*.tgz)
    local got; got="sha512-$(openssl dgst -sha512 -binary "$tgz" | base64 -w0)"
    if [ "$got" != "$sum" ]; then
        echo "deps: checksum mismatch for $pkg: expected $sum, got $got" >&2; exit 1
    fi
    mkdir -p "$dir"
    tar -xzf "$tgz" -C "$out/tmp-sqlite" package/deps/sqlite3/sqlite3.c package/deps/sqlite3/sqlite3.h
    mv "$out"/tmp-sqlite/package/deps/sqlite3/sqlite3.[ch] "$dir/"
    grep -q "define SQLITE_VERSION *\"$ver\"" "$dir/sqlite3.h" || {
        echo "deps: $pkg does not carry SQLite $ver" >&2; exit 1; }
    rm -rf "$out/tmp-sqlite"
    echo "$ver $sum" > "$stamp"
}

fetch_cjson() {
    local ver sum orig_sum deb_sum dir stamp upstream
    ver=$(field cjson 2); sum=$(field cjson 4)
    orig_sum=$(echo "$sum" | cut -d: -f2); deb_sum=$(echo "$sum" | cut -d: -f3)
    upstream=${ver%%-*}
    dir="$out/cjson"; stamp="$dir/.stamp"
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$ver $sum" ]; then return; fi
    echo "deps: fetching cJSON $ver (Debian source package)" >&2
    local apt="$out/apt"
    mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial" "$apt/sources.list.d" "$apt/dl"
    # deb-src lines derived from the machine's own deb822 and one-line sources.
    : > "$apt/sources.list.d/src.sources"
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] && sed 's/^Types:.*/Types: deb-src/' "$f" >> "$apt/sources.list.d/src.sources" \
            && echo >> "$apt/sources.list.d/src.sources"
    done
    : > "$apt/sources.list.d/src.list"
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -f "$f" ] && grep -E '^deb ' "$f" | sed 's/^deb /deb-src /' >> "$apt/sources.list.d/src.list" || true
    done
    local opts=(-q -o Dir::Etc::SourceList=/dev/null -o "Dir::Etc::SourceParts=$apt/sources.list.d"
                -o "Dir::State::Lists=$apt/lists" -o "Dir::Cache=$apt/cache"
                -o APT::Sandbox::User=root)
    apt-get "${opts[@]}" update >/dev/null
    (cd "$apt/dl" && apt-get "${opts[@]}" source --download-only "cjson=$ver" >/dev/null)
    local orig="$apt/dl/cjson_${upstream}.orig.tar.gz" deb="$apt/dl/cjson_${ver}.debian.tar.xz"
    echo "$orig_sum  $orig" | sha256sum -c --quiet - || { echo "deps: checksum mismatch: $orig" >&2; exit 1; }
    echo "$deb_sum  $deb" | sha256sum -c --quiet - || { echo "deps: checksum mismatch: $deb" >&2; exit 1; }
    rm -rf "$dir" "$out/tmp-cjson"; mkdir -p "$out/tmp-cjson"
    tar -xzf "$orig" -C "$out/tmp-cjson"
    tar -xJf "$deb" -C "$out/tmp-cjson/cJSON-$upstream"
    (cd "$out/tmp-cjson/cJSON-$upstream" && while read -r p; do
        case "$p" in ''|'#'*) continue ;; esac
        patch -s -p1 < "debian/patches/$p"
    done < debian/patches/series)
    mkdir -p "$dir"
    cp "$out/tmp-cjson/cJSON-$upstream/cJSON.c" "$out/tmp-cjson/cJSON-$upstream/cJSON.h" "$dir/"
    rm -rf "$out/tmp-cjson"
    echo "$ver $sum" > "$stamp"
}

fetch_sqlite
fetch_cjson
