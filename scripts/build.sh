#!/usr/bin/env bash
# Installs the dependencies (scripts/setup.sh), then configures and builds Loom into build/
# with the venv's CMake (Halide 21's CMake package needs >= 3.28): everything, or the CMake
# targets given as arguments. LOOM_BUILD_DIR picks another build folder; LOOM_CMAKE_ARGS adds
# CMake arguments to its configuration (scripts/sanitize.sh: the sanitizer and fuzzer build).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bash "$root/scripts/setup.sh"
source "$root/scripts/venv.sh"
build=${LOOM_BUILD_DIR:-$root/build}
cmake=$LOOM_VENV/bin/cmake
# Paths relative to the checkout, and the build folder left out of the hash of objects with
# debug info (the sanitizer build's line tables), so that any clone hits the same cache.
export CCACHE_BASEDIR=$root CCACHE_DIR=${CCACHE_DIR:-$HOME/.cache/ccache} CCACHE_NOHASHDIR=true
# A build folder configured by another CMake (an older checkout's Debian 3.25) starts over. The
# cache names the binary inside the venv that $cmake (a Python launcher) runs.
if [[ -f $build/CMakeCache.txt ]] &&
  [[ $(sed -n 's/^CMAKE_COMMAND:INTERNAL=//p' "$build/CMakeCache.txt") != "$LOOM_VENV"/* ]]; then
  rm -rf "$build/CMakeCache.txt" "$build/CMakeFiles" "$build/build.ninja"
fi
read -ra extra_args <<<"${LOOM_CMAKE_ARGS:-}"
if [[ ! -f $build/build.ninja ]]; then
  "$cmake" -G Ninja -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_PREFIX_PATH="$LOOM_VENV" -DLOOM_PYTHON="$LOOM_VENV/bin/python" \
    -DCMAKE_C_COMPILER=clang-22 -DCMAKE_CXX_COMPILER=clang++-22 \
    -DCMAKE_EXE_LINKER_FLAGS=-fuse-ld=lld -DCMAKE_SHARED_LINKER_FLAGS=-fuse-ld=lld \
    -DCMAKE_MODULE_LINKER_FLAGS=-fuse-ld=lld "${extra_args[@]}"
elif ((${#extra_args[@]})); then
  # A configured folder takes the arguments again: they may have changed since.
  "$cmake" -S "$root" -B "$build" "${extra_args[@]}" >/dev/null
fi
targets=()
(($#)) && targets=(--target "$@")
"$cmake" --build "$build" -j "${LOOM_JOBS:-$(nproc)}" "${targets[@]}"
