#!/usr/bin/env bash
# The instruction-count check: builds the fixed kernel set (IcountKernels.h) for x86-64-v3, runs
# each kernel under callgrind with one thread, counting only the timed calls (countedCalls),
# and compares the instructions with budget.txt. Fails when a kernel exceeds its budget by more
# than MARGIN percent (instruction counts do not depend on machine load, unlike time).
#
#   check.sh BIN_DIR BUDGET_FILE            check
#   check.sh BIN_DIR BUDGET_FILE --update   rewrite BUDGET_FILE with today's counts
#
# After a change that makes kernels legitimately slower or faster, update the budget and commit
# it with the change: ninja loom-icount-build loom-icount-run &&
#   test/icount/check.sh build/bin test/icount/budget.txt --update
set -euo pipefail
bin=$1
budget=$2
mode=${3:-check}
margin=${MARGIN:-3}

command -v valgrind > /dev/null || { echo "icount: valgrind is not installed"; exit 1; }
[[ -r $budget ]] || { echo "icount: cannot read the budget file $budget"; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$bin/loom-icount-build" "$work/kernels.so"

names=$(awk '!/^#/ && NF { print $1 }' "$budget")
declare -A counts
failed=0
for name in $names; do
  HL_NUM_THREADS=1 valgrind --tool=callgrind --callgrind-out-file="$work/$name.out" \
    --toggle-collect=countedCalls "$bin/loom-icount-run" "$work/kernels.so" "$name" \
    > "$work/$name.log" 2>&1 || { cat "$work/$name.log"; echo "icount: $name failed under valgrind"; exit 1; }
  count=$(awk '/^(summary|totals):/ { print $2; exit }' "$work/$name.out")
  [[ -n $count ]] || { echo "icount: no instruction total for $name"; exit 1; }
  counts[$name]=$count
  allowed=$(awk -v n="$name" '$1 == n { print $2 }' "$budget")
  limit=$(( allowed + allowed * margin / 100 ))
  change=$(awk -v c="$count" -v a="$allowed" 'BEGIN { printf "%+.2f", (c - a) * 100.0 / a }')
  if (( count > limit )); then
    echo "icount: $name: $count instructions, budget $allowed (+$margin% = $limit): $change% OVER"
    failed=1
  else
    echo "icount: $name: $count instructions, budget $allowed: $change%"
  fi
done

if [[ $mode == --update ]]; then
  {
    echo "# Instructions of 8 calls of each kernel (test/icount/IcountKernels.h, target x86-64-v3,"
    echo "# HL_NUM_THREADS=1), counted by callgrind. Regenerate with check.sh ... --update."
    for name in $names; do echo "$name ${counts[$name]}"; done
  } > "$budget"
  echo "icount: wrote $budget"
  exit 0
fi
exit $failed
