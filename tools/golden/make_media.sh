#!/usr/bin/env bash
# Regenerates test/data/media/{coffee_144x96.png,hello_16k.wav}. Run from the repository root.
# Needs: /opt/golden-venv (pillow, scikit-image), espeak-ng 1.51, sox 14.4.2 (Debian 12 packages).
set -euo pipefail
PY=${PY:-/opt/golden-venv/bin/python}
OUT=test/data/media
mkdir -p "$OUT"

# Image: scikit-image's coffee.png (600x400 RGB photograph) resized to 144x96 (3x2 grid of 48-px patches).
"$PY" - <<'PYEOF'
import os, skimage
from PIL import Image
src = os.path.join(os.path.dirname(skimage.__file__), "data", "coffee.png")
im = Image.open(src).convert("RGB").resize((144, 96), Image.Resampling.LANCZOS)
im.save("test/data/media/coffee_144x96.png", optimize=False)
PYEOF

# Audio: espeak-ng "hello" (22050 Hz) -> 16 kHz mono s16, no dither (-D), leading/trailing silence trimmed.
tmp=$(mktemp -d)
espeak-ng -v en-us -s 230 -w "$tmp/raw.wav" "hello"
sox -D "$tmp/raw.wav" -r 16000 -c 1 -b 16 -e signed-integer "$OUT/hello_16k.wav" \
    silence 1 0.01 1% reverse silence 1 0.01 1% reverse
rm -rf "$tmp"
