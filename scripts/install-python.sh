#!/usr/bin/env bash
# Builds the Python package `loom` (pyproject.toml; docs/PYTHON.md) and installs it into Loom's
# venv (scripts/venv.sh), with the toolchain scripts/setup.sh installed: pip without build
# isolation (the venv holds scikit-build-core, nanobind, Halide and CMake), CMake tree in
# build-python/, objects shared with build/ through ccache.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bash "$root/scripts/setup.sh" >/dev/null
source "$root/scripts/venv.sh"
export CCACHE_BASEDIR=$root CCACHE_DIR=${CCACHE_DIR:-$HOME/.cache/ccache} CCACHE_NOHASHDIR=true
export CMAKE_BUILD_PARALLEL_LEVEL=${LOOM_JOBS:-$(nproc)}
"$LOOM_VENV/bin/python" -m pip install --no-build-isolation --no-deps --disable-pip-version-check \
  -q "$root"
echo "loom: Python package installed into $LOOM_VENV ($("$LOOM_VENV/bin/python" -c \
  'import loom, os; print(os.path.dirname(loom.__file__))'))"
