#!/usr/bin/env bash
# Builds Loom with AddressSanitizer + UndefinedBehaviorSanitizer and its libFuzzer targets into
# build-asan/ (LOOM_ASAN_BUILD_DIR picks another folder), then runs there, as ctest tests:
#   * the `sanitize` tests (which ones: test/CMakeLists.txt, docs/FUZZING.md),
#   * every fuzzer for LOOM_FUZZ_SECONDS (20) seconds on its seeds (label `fuzz`).
# Any sanitizer report, crash, leak, hang or failing test fails it. scripts/test.sh runs it
# after the normal suite.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${LOOM_ASAN_BUILD_DIR:-$root/build-asan}
seconds=${LOOM_FUZZ_SECONDS:-20}

LOOM_BUILD_DIR=$build \
  LOOM_CMAKE_ARGS="-DLOOM_SANITIZE=address,undefined -DLOOM_FUZZERS=ON -DLOOM_FUZZ_SECONDS=$seconds" \
  bash "$root/scripts/build.sh" loom-sanitizer-tests loom-fuzzers

# The sanitizers' settings are the script's, not the caller's. UBSan stops at the first report
# (the code is also built with -fno-sanitize-recover=undefined); LeakSanitizer runs.
export ASAN_OPTIONS=detect_leaks=1:halt_on_error=1:strict_init_order=1:detect_stack_use_after_return=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1

source "$root/scripts/venv.sh"
cd "$build"
"$LOOM_VENV/bin/ctest" --output-on-failure -j "$(nproc)" --timeout 900 -L '^(sanitize|fuzz)$'
