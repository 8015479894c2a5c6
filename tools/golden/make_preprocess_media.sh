#!/usr/bin/env bash
# Regenerates the real-media inputs of the preprocessing goldens (test/golden/preprocess) in
# test/data/media. Run from the repository root.
# Needs (Debian 12): python3-skimage 0.19.3 (photographs), alsa-utils 1.2.8 (recordings),
# espeak-ng 1.51, sox 14.4.2, ffmpeg 5.1; /opt/golden-venv (Pillow) for the EXIF JPEG.
set -euo pipefail
PY=${PY:-/opt/golden-venv/bin/python}
OUT=test/data/media
SKIMAGE=/usr/lib/python3/dist-packages/skimage/data
mkdir -p "$OUT"

# Photographs: scikit-image's chelsea (451x300 RGB) and camera (512x512 gray) PNGs as shipped.
cp "$SKIMAGE/chelsea.png" "$OUT/chelsea.png"
cp "$SKIMAGE/camera.png" "$OUT/camera.png"
# coffee (600x400) as a baseline JPEG, quality 90, with EXIF orientation 6 (shown rotated 90
# degrees clockwise, 400x600).
"$PY" - "$SKIMAGE/coffee.png" "$OUT/coffee_exif6.jpg" <<'PYEOF'
import sys
from PIL import Image
im = Image.open(sys.argv[1]).convert("RGB")
exif = Image.Exif()
exif[0x0112] = 6
im.save(sys.argv[2], "JPEG", quality=90, exif=exif.tobytes())
PYEOF

# Recordings. alsa-utils' Front_Left.wav (48 kHz mono) as 44.1 kHz stereo 16-bit WAV, first 1 s.
sox -D /usr/share/sounds/alsa/Front_Left.wav -r 44100 -c 2 -b 16 "$OUT/front_left_44k1_stereo.wav" trim 0 1
# espeak-ng speech (22050 Hz): 16 kHz mono FLAC, and as it is in Ogg Vorbis.
tmp=$(mktemp -d)
espeak-ng -v en-us -s 170 -w "$tmp/speech.wav" "The quick brown fox jumps over the lazy dog."
sox -D "$tmp/speech.wav" -r 16000 -c 1 -b 16 "$OUT/speech_16k.flac"
sox -D "$tmp/speech.wav" -C 3 "$OUT/speech_22k.ogg"
rm -rf "$tmp"

# Video: 2 s of testsrc (320x240, 25 fps, H.264 yuv420p) with a 440 Hz sine (44.1 kHz stereo AAC).
ffmpeg -loglevel error -y -f lavfi -i testsrc=size=320x240:rate=25:duration=2 \
  -f lavfi -i sine=frequency=440:sample_rate=44100:duration=2 \
  -c:v libx264 -pix_fmt yuv420p -preset veryfast -crf 28 -c:a aac -b:a 48k -ac 2 \
  -map_metadata -1 -fflags +bitexact -flags:v +bitexact -flags:a +bitexact \
  "$OUT/testsrc_2s.mp4"

# A small video without an audio track, shorter than 32 frames: 10 frames of 96x64.
ffmpeg -loglevel error -y -f lavfi -i testsrc=size=96x64:rate=25:duration=0.4 \
  -c:v libx264 -pix_fmt yuv420p -preset veryfast -crf 30 \
  -map_metadata -1 -fflags +bitexact -flags:v +bitexact "$OUT/testsrc_10frames_silent.mp4"
