#!/usr/bin/env bash
# The main job on the built-in default model: install, build, make the tiny synthetic
# gemma4_unified checkpoint, compile it for this CPU, and run a prompt with text, an image and
# audio: with loom-run, then from Python (the package installed into Loom's venv).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bash "$root/scripts/build.sh"
bash "$root/scripts/install-python.sh"
source "$root/scripts/venv.sh"
build=${LOOM_BUILD_DIR:-$root/build}
bin=$build/bin
models=$build/models

"$bin/loom-model" make --preset tiny --seed 1 -o "$models/tiny"
"$bin/loom-compile" "$models/tiny" -o "$models/tiny.loom" --target=host --quant=f32
"$bin/loom-inspect" "$models/tiny.loom" | sed -n '1,4p'
"$bin/loom-run" "$models/tiny.loom" \
  --prompt "What do you see and hear? <|image|> <|audio|>" \
  --image "$root/test/data/media/coffee_144x96.png" \
  --audio "$root/test/data/media/hello_16k.wav" \
  --max-tokens 24 --seed 7
"$LOOM_VENV/bin/python" "$root/python/examples/generate.py" "$models/tiny.loom" \
  "$root/test/data/media/coffee_144x96.png" "$root/test/data/media/hello_16k.wav" \
  --max-tokens 24 --seed 7
