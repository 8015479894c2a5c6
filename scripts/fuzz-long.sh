#!/usr/bin/env bash
# Long local fuzz runs (not in CI): each fuzzer named (default: all nine), one after another,
# runs its ctest command from build-asan/ (its seeds, its corpus, its crash folder) until
# LOOM_FUZZ_RUNS (10^7) executions or LOOM_FUZZ_LONG_SECONDS (3600) seconds, whichever comes
# first. Prints one row of test/fuzz/README.md's table per fuzzer; its log is
# build-asan/test/fuzz/long/<name>.log. Build build-asan/ first (scripts/sanitize.sh).
# LOOM_FUZZ_TIMEOUT replaces the test's 10 s per input (libFuzzer's is wall-clock time: on a
# loaded machine a legitimately slow input, such as a 16-megapixel image under ASan, passes it).
#   scripts/fuzz-long.sh [FuzzerName ...]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${LOOM_ASAN_BUILD_DIR:-$root/build-asan}
runs=${LOOM_FUZZ_RUNS:-10000000}
seconds=${LOOM_FUZZ_LONG_SECONDS:-3600}
source "$root/scripts/venv.sh"
export ASAN_OPTIONS=detect_leaks=1:halt_on_error=1:strict_init_order=1:detect_stack_use_after_return=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1

cd "$build"
if [[ $# -eq 0 ]]; then
  set -- $("$LOOM_VENV/bin/ctest" -N -L '^fuzz$' | sed -n 's/.*Test *#[0-9]*: fuzz\.//p')
fi
mkdir -p test/fuzz/long

# The ctest command line of fuzz.<name>, one argument per line, with the run's limits in place of
# the test's 20 s.
fuzz_command() {
  "$LOOM_VENV/bin/ctest" --show-only=json-v1 -R "^fuzz\\.$1\$" | python3 -c '
import json, sys
runs, seconds, timeout = sys.argv[1:]
tests = json.load(sys.stdin)["tests"]
if len(tests) != 1:
    sys.exit("fuzz-long.sh: no ctest test fuzz.<name> for that fuzzer")
for arg in tests[0]["command"]:
    if arg.startswith("-max_total_time="):
        print(f"-max_total_time={seconds}")
        print(f"-runs={runs}")
    elif arg.startswith("-timeout=") and timeout:
        print(f"-timeout={timeout}")
    else:
        print(arg)
' "$runs" "$seconds" "${LOOM_FUZZ_TIMEOUT:-}"
}

echo "| fuzzer | time | executions | exec/s | cov | ft | corpus | result |"
for name in "$@"; do
  mapfile -t command < <(fuzz_command "$name")
  log=test/fuzz/long/$name.log
  start=$(date +%s)
  status=0
  "${command[@]}" >"$log" 2>&1 || status=$?
  elapsed=$(( $(date +%s) - start ))
  executions=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  per_second=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  # libFuzzer's last status line: "#N <event> cov: C ft: F corp: K/..."
  last=$(grep -aE '^#[0-9]+[[:space:]].*cov: ' "$log" | tail -1 || true)
  field() { sed -n "s/.* $1: \\([0-9]*\\).*/\\1/p" <<<"$last"; }
  if [[ $status -eq 0 ]]; then result=ok; else result="exit $status: see $log"; fi
  echo "| $name | $elapsed s | ${executions:-?} | ${per_second:-?} | $(field cov) | $(field ft) | $(field corp) | $result |"
done
