#!/usr/bin/env bash
# Installs the dependencies (scripts/setup.sh), then configures and builds Loom into build/
# with the venv's CMake (Halide 21's CMake package needs >= 3.28): everything, or the CMake
# targets given as arguments.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bash "$root/scripts/setup.sh"
source "$root/scripts/venv.sh"
build=${LOOM_BUILD_DIR:-$root/build}
cmake=$LOOM_VENV/bin/cmake
export CCACHE_BASEDIR=$root CCACHE_DIR=${CCACHE_DIR:-$HOME/.cache/ccache}
# A build folder configured by another CMake (an older checkout's Debian 3.25) starts over.
if [[ -f $build/CMakeCache.txt ]] && ! grep -qxF "CMAKE_COMMAND:INTERNAL=$cmake" "$build/CMakeCache.txt"; then
  rm -rf "$build/CMakeCache.txt" "$build/CMakeFiles" "$build/build.ninja"
fi
if [[ ! -f $build/build.ninja ]]; then
  "$cmake" -G Ninja -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_PREFIX_PATH="$LOOM_VENV" -DLOOM_PYTHON="$LOOM_VENV/bin/python" \
    -DCMAKE_C_COMPILER=clang-22 -DCMAKE_CXX_COMPILER=clang++-22 \
    -DCMAKE_EXE_LINKER_FLAGS=-fuse-ld=lld -DCMAKE_SHARED_LINKER_FLAGS=-fuse-ld=lld \
    -DCMAKE_MODULE_LINKER_FLAGS=-fuse-ld=lld
fi
targets=()
(($#)) && targets=(--target "$@")
"$cmake" --build "$build" -j "${LOOM_JOBS:-$(nproc)}" "${targets[@]}"
