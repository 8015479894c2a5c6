#!/usr/bin/env bash
# The GPU check of the CUDA backend (docs/CUDA.md), in two steps because the device machine
# has a driver and CUDA 13 but not the compiler's libraries, and takes at most 64 MiB of files:
#
#   scripts/gpu-check.sh prepare     here: build, compile the golden models and a 12B-shaped
#                                    model for cuda:sm_90a, strip the artifacts of their weights,
#                                    collect binaries + missing libraries into .gpu/ (~30 MiB)
#   scripts/gpu-check.sh run         there (the device tool: command "scripts/gpu-check.sh run",
#                                    carry [".gpu"], timeout_s 540): regenerate the checkpoints,
#                                    refill the artifacts, golden tests on the GPU, kernel
#                                    benchmarks with cuBLAS at the same shapes, end-to-end decode
#                                    against the roofline; results in $OUT/gpu-results.md
#
# `run` works in about 5 minutes on an H200 and stops itself at 8 (LOOM_GPU_CHECK_BUDGET_S).
# Environment: LOOM_BUILD_DIR (prepare; default build/), LOOM_GPU_LAYERS (12B-shaped model's
# layers, default 4), LOOM_GPU_WORK (run's scratch, default /tmp/loom-gpu).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
carry=$root/.gpu
layers=${LOOM_GPU_LAYERS:-4}
target=cuda:sm_90a

# Every model: name, loom-model arguments, loom-compile arguments. The golden models are the
# ones test/golden/CMakeLists.txt makes, compiled for the GPU instead of the host.
models=(
  "tiny|make --preset tiny --seed 1|--quant=f32 --max-context 512"
  "tiny-w8|make --preset tiny --seed 1 --window 8|--quant=f32 --max-context 512"
  "12b-bf16|make --preset 12b --seed 7 --layers $layers|--quant=bf16 --max-context 2048"
  "12b-q4|make --preset 12b --seed 7 --layers $layers|--quant=q4g32 --max-context 2048"
)

prepare() {
  local build=${LOOM_BUILD_DIR:-$root/build}
  bash "$root/scripts/build.sh" loom-model loom-compile loom-run-gpu loom-inspect loom-cuda-pack \
    golden-check loom-bench-cuda
  rm -rf "$carry" && mkdir -p "$carry/bin" "$carry/lib" "$carry/packs"
  grep -qx '/.gpu/' "$root/.git/info/exclude" 2>/dev/null || echo '/.gpu/' >>"$root/.git/info/exclude"
  local scratch
  scratch=$(mktemp -d /tmp/loom-gpu-prepare.XXXXXX)
  trap 'rm -rf "$scratch"' RETURN
  declare -A checkpoints=()
  for entry in "${models[@]}"; do
    IFS='|' read -r name model_args compile_args <<<"$entry"
    local ckpt=${checkpoints[$model_args]:-}
    if [[ -z $ckpt ]]; then
      ckpt=$scratch/ckpt-${#checkpoints[@]}
      # shellcheck disable=SC2086
      "$build/bin/loom-model" $model_args -o "$ckpt" >/dev/null
      checkpoints[$model_args]=$ckpt
    fi
    echo "compiling $name for $target"
    # shellcheck disable=SC2086
    "$build/bin/loom-compile" "$ckpt" -o "$scratch/$name.loom" --target=$target $compile_args -q
    "$build/bin/loom-cuda-pack" strip "$scratch/$name.loom" "$carry/packs/$name.pack"
    rm -f "$scratch/$name.loom"
  done
  # loom-run-gpu is loom-run without FFmpeg (bench/cuda/NoVideoInput.cpp): FFmpeg's ~160 MB of
  # libraries cannot travel.
  for tool in loom-model loom-run-gpu loom-inspect loom-cuda-pack golden-check loom-bench-cuda; do
    cp "$build/bin/$tool" "$carry/bin/"
  done
  # Shared libraries the device machine's image may lack: everything but the C/C++ runtime and
  # the CUDA libraries (which come with its driver and toolkit).
  for tool in "$carry"/bin/*; do
    ldd "$tool" | awk '/=> \//{print $3}'
  done | sort -u | grep -Ev '/(libc|libm|libdl|librt|libpthread|libgcc_s|libstdc\+\+|ld-linux[^/]*|libcuda|libcublas[^/]*|libcudart|libnvrtc[^/]*)\.so' |
    while read -r lib; do cp -L "$lib" "$carry/lib/"; done
  du -sh "$carry"
  echo "prepared $carry; on the GPU: scripts/gpu-check.sh run (carry .gpu)"
}

run() {
  local start=$SECONDS budget=${LOOM_GPU_CHECK_BUDGET_S:-480}
  local out=${OUT:-$root/gpu-out}
  local work=${LOOM_GPU_WORK:-/tmp/loom-gpu}
  mkdir -p "$out" "$work"
  local log=$out/gpu-check.log results=$out/gpu-results.md
  exec > >(tee "$log") 2>&1
  [[ -d $carry/bin ]] || { echo "no $carry: run 'scripts/gpu-check.sh prepare' first"; exit 1; }
  local cudalib
  # cuBLAS and NVRTC for loom-bench-cuda: the toolkit's, else the Python wheels' copies.
  for cudalib in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib \
    $(python3 -c 'import nvidia.cublas, nvidia.cuda_nvrtc, os; print(*(os.path.dirname(m.__path__[0] + "/") + "/lib" for m in (nvidia.cublas, nvidia.cuda_nvrtc)))' 2>/dev/null || true); do
    if [[ -d $cudalib ]]; then LD_LIBRARY_PATH=${LD_LIBRARY_PATH:+$LD_LIBRARY_PATH:}$cudalib; fi
  done
  export LD_LIBRARY_PATH="$carry/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  local bin=$carry/bin
  left() { echo $((budget - (SECONDS - start))); }
  # Seconds a step may take: what is left minus `reserve`, at least 10.
  allow() { local s=$(($(left) - $1)); echo $((s > 10 ? s : 10)); }
  device=$(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null || echo unknown)
  echo "device: $device"
  for tool in "$bin"/*; do
    if ldd "$tool" | grep -q 'not found'; then
      echo "$(basename "$tool") lacks libraries here:"; ldd "$tool" | grep 'not found'
    fi
  done

  {
    echo "## CUDA backend on $device ($(date -u +%Y-%m-%d))"
    echo
    echo "Made by \`scripts/gpu-check.sh prepare\` (here) and \`scripts/gpu-check.sh run\` (on the GPU); target $target."
    echo
  } >"$results"

  # Checkpoints (deterministic per seed) and the artifacts, refilled with their weights. The
  # tokenizer the build unpacks is not carried: loom-model reads it from the repository's copy.
  mkdir -p "$work/tokenizer"
  xz -dc "$root/test/data/tokenizer/gemma4-tokenizer.json.xz" >"$work/tokenizer/tokenizer.json"
  declare -A checkpoints=()
  for entry in "${models[@]}"; do
    IFS='|' read -r name model_args _ <<<"$entry"
    local ckpt=${checkpoints[$model_args]:-}
    if [[ -z $ckpt ]]; then
      ckpt=$work/ckpt-${#checkpoints[@]}
      rm -rf "$ckpt"
      # shellcheck disable=SC2086
      "$bin/loom-model" $model_args --tokenizer-dir "$work/tokenizer" -o "$ckpt" >/dev/null
      checkpoints[$model_args]=$ckpt
    fi
    "$bin/loom-cuda-pack" fill "$carry/packs/$name.pack" "$ckpt" "$work/$name.loom"
    echo "[$((SECONDS - start)) s] $name.loom ready"
  done

  # 1. The golden cases on the GPU (the same cases and tolerance as ctest's golden.*).
  echo "### Golden tests on the GPU" >>"$results"
  echo >>"$results"
  local failures=0
  for case in text image audio window; do
    local model=$work/tiny.loom
    [[ $case == window ]] && model=$work/tiny-w8.loom
    if "$bin/golden-check" "$root/test/golden/data/$case.json" "$model" "$bin/loom-run-gpu" "$root" "$work" \
      >"$work/golden-$case.log" 2>&1; then
      echo "- golden.$case: passed" | tee -a "$results"
    else
      failures=$((failures + 1))
      echo "- golden.$case: FAILED: $(grep -v '^running: ' "$work/golden-$case.log" | tail -n 2 | tr '\n' ' ' | cut -c1-400)" |
        tee -a "$results"
    fi
  done
  echo >>"$results"

  # 2. Kernel benchmarks: GEMV vs the copy bandwidth, GEMM vs cuBLAS at the same shapes.
  echo "### Kernels (loom-bench-cuda)" >>"$results"
  echo >>"$results"
  local quick=()
  (($(left) < 300)) && quick=(--quick)
  if ! timeout "$(allow 120)" "$bin/loom-bench-cuda" --json "$out/kernels.json" "${quick[@]}" \
    >"$work/bench.log" 2>&1; then
    failures=$((failures + 1))
    echo "loom-bench-cuda failed: $(tail -n 1 "$work/bench.log" | cut -c1-400)" >>"$results"
  fi
  sed -n '/^device:/p;/^copy bandwidth/p;/^FAIL/p;/^| /p;/^|---/p' "$work/bench.log" >>"$results"
  cat "$work/bench.log"
  echo >>"$results"
  local copy_gbs
  copy_gbs=$(sed -n 's/^copy bandwidth: \([0-9.]*\) GB.*/\1/p' "$work/bench.log")

  # 3. End-to-end decode of the 12B-shaped model: time per token against weight bytes per step
  #    over the measured copy bandwidth (every weight is read once per step).
  echo "### End-to-end decode, 12B shapes, $layers layers (loom-run)" >>"$results"
  echo >>"$results"
  echo "| model | weights | decode tok/s | ms/token | roofline ms/token | % of roofline | prefill tok/s (128) |" >>"$results"
  echo "|---|---|---|---|---|---|---|" >>"$results"
  local prompt
  prompt=2$(for i in $(seq 1 127); do printf ',%d' $((1000 + i * 37)); done)
  for name in 12b-bf16 12b-q4; do
    (($(left) > 30)) || { echo "| $name | skipped: out of time |" >>"$results"; continue; }
    local json=$work/$name.json
    if ! timeout "$(allow 10)" "$bin/loom-run-gpu" "$work/$name.loom" --prompt-ids "$prompt" --max-tokens 64 \
      --greedy --json >"$json" 2>"$work/$name.err"; then
      failures=$((failures + 1))
      echo "| $name | FAILED: $(tail -n 2 "$work/$name.err" | tr '\n' ' ' | cut -c1-400) |" >>"$results"
      continue
    fi
    local weights
    weights=$("$bin/loom-inspect" --json "$work/$name.loom" | python3 -c 'import json,sys; print(json.load(sys.stdin)["memory"]["weights_bytes"])')
    python3 - "$json" "$weights" "${copy_gbs:-0}" "$name" >>"$results" <<'EOF'
import json, sys
run = json.load(open(sys.argv[1]))
t = run.get("timings", run)
weights, bw, name = int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
tps = t["decode_tok_per_s"]
ms = 1e3 / tps if tps else float("nan")
roof = weights / (bw * 1e9) * 1e3 if bw else float("nan")
print(f"| {name} | {weights / 2**30:.2f} GiB | {tps:.1f} | {ms:.3f} | {roof:.3f} | {100 * roof / ms:.0f}% | {t['prefill_tok_per_s']:.0f} |")
EOF
  done
  echo >>"$results"
  echo "Finished in $((SECONDS - start)) s; $failures failure(s)." >>"$results"
  echo
  cat "$results"
  ((failures == 0))
}

case ${1:-} in
prepare) prepare ;;
run) run ;;
*)
  echo "usage: scripts/gpu-check.sh prepare|run" >&2
  exit 2
  ;;
esac
