#!/usr/bin/env bash
# Installs, builds and runs every test: lit/FileCheck, unit (GoogleTest) and golden
# (agreement with Hugging Face transformers); then scripts/sanitize.sh: the sanitizer subset
# under ASan+UBSan and a short run of every fuzzer, in build-asan/; then installs the Python
# package and runs the pytest suites: python/tests (the package, against loom-run and
# loom-inspect) and test/serve (loom-serve through the openai client, against loom-run).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bash "$root/scripts/build.sh"
build=${LOOM_BUILD_DIR:-$root/build}
cd "$build"
source "$root/scripts/venv.sh"
"$LOOM_VENV/bin/ctest" --output-on-failure -j "$(nproc)" --timeout 900
bash "$root/scripts/sanitize.sh"
bash "$root/scripts/install-python.sh"
LOOM_BUILD_DIR=$build "$LOOM_VENV/bin/python" -m pytest -q -p no:cacheprovider \
  "$root/python/tests" "$root/test/serve"
