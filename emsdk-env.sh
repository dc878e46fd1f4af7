# Source this file to use Debian's emscripten 3.1.6: `. ./emsdk-env.sh`.
# Installs emcc with apt-get when it is missing, and sets what 3.1.6 needs under node 20:
#   NODE_PATH  emcc -O1+ runs acorn-optimizer.js, which needs Debian's node-acorn (/usr/share/nodejs)
if ! command -v emcc >/dev/null 2>&1; then
    echo "emsdk-env: installing emscripten (apt-get)" >&2
    if [ "$(id -u)" -eq 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq emscripten >/dev/null
    else sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive sudo apt-get install -y -qq emscripten >/dev/null; fi
fi
_esync_root=$(cd "$(dirname "${BASH_SOURCE[0]:-$0}")" && pwd)
export NODE_PATH=/usr/share/nodejs${NODE_PATH:+:$NODE_PATH}
export EMSDK_TOOLCHAIN="/usr/share/emscripten/cmake/Modules/Platform/Emscripten.cmake"
unset _esync_root
