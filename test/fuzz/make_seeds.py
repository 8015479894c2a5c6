#!/usr/bin/env python3
"""Regenerates the checked-in seed corpora of test/fuzz/seeds (small files, a few KB each).

Usage, from the repository root (Pillow, soundfile and numpy: /opt/golden-venv has them):
    /opt/golden-venv/bin/python test/fuzz/make_seeds.py GEMMA4_TOKENIZER_JSON TINY_CONFIG_JSON
GEMMA4_TOKENIZER_JSON is the unpacked test/data/tokenizer/gemma4-tokenizer.json.xz
(build/data/gemma4-tokenizer.json); TINY_CONFIG_JSON the config.json of
`loom-model make --preset tiny`. The artifact seed is written by MakeArtifactSeeds (the build
also writes a fresh one into the build folder); this script does not touch seeds/artifact.
"""
import io
import json
import os
import struct
import sys

import numpy as np
import soundfile
from PIL import Image

SEEDS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "seeds")


def write(folder, name, data):
    path = os.path.join(SEEDS, folder)
    os.makedirs(path, exist_ok=True)
    with open(os.path.join(path, name), "wb") as f:
        f.write(data.encode() if isinstance(data, str) else data)


def safetensors(tensors, metadata=None):
    """tensors: [(name, dtype, shape, bytes)] laid out in order."""
    header, data = {}, b""
    if metadata is not None:
        header["__metadata__"] = metadata
    for name, dtype, shape, payload in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(payload)]}
        data += payload
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + data


def safetensors_seeds():
    f32 = np.arange(4, dtype=np.float32).tobytes()
    f16 = np.arange(4, dtype=np.float16).tobytes()
    bf16 = (np.arange(6, dtype=np.float32).view(np.uint32) >> 16).astype(np.uint16).tobytes()
    write("safetensors", "three-dtypes.safetensors",
          safetensors([("a.weight", "F32", [2, 2], f32), ("b", "F16", [4], f16), ("c", "BF16", [2, 3], bf16)],
                      {"format": "pt"}))
    write("safetensors", "empty-tensor.safetensors", safetensors([("empty", "F32", [0, 4], b""), ("s", "F32", [], f32[:4])]))
    write("safetensors", "no-tensors.safetensors", safetensors([], {"format": "pt", "note": "x"}))


def config_seeds(tiny_config):
    with open(tiny_config) as f:
        tiny = json.load(f)
    write("config", "tiny.json", json.dumps(tiny, indent=2))
    text_only = dict(tiny, vision_config=None, audio_config=None)
    write("config", "text-only.json", json.dumps(text_only))
    write("config", "defaults.json", json.dumps({"model_type": "gemma4_unified", "text_config": {}}))


TINY_TOKENIZER = {
    "added_tokens": [{"id": 7, "content": "<s>", "special": True, "lstrip": False, "rstrip": False,
                      "normalized": False, "single_word": False}],
    "normalizer": {"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"},
    "pre_tokenizer": None,
    "decoder": {"type": "Sequence", "decoders": [
        {"type": "Replace", "pattern": {"String": "\u2581"}, "content": " "},
        {"type": "ByteFallback"}, {"type": "Fuse"}]},
    "model": {"type": "BPE", "unk_token": "<unk>", "fuse_unk": True, "byte_fallback": False,
              "vocab": {"<unk>": 0, "a": 1, "b": 2, "ab": 3, "bb": 4, "abb": 5, "\u2581": 6, "<s>": 7},
              "merges": ["b b", ["a", "b"], "ab b"]},
}


def gemma_subset(gemma4_json, pieces=600):
    """The real Gemma 4 tokenizer.json cut down: its normalizer, pre-tokenizer, post-processor and
    decoder, the first added tokens, the byte tokens, and the merges among the first pieces."""
    with open(gemma4_json, encoding="utf-8") as f:
        full = json.load(f)
    vocab = full["model"]["vocab"]
    keep = {piece: i for piece, i in vocab.items() if i < pieces or piece.startswith("<0x")}
    merges = [m for m in full["model"]["merges"]
              if (m if isinstance(m, list) else m.split(" ")) and
              all(p in keep for p in (m if isinstance(m, list) else m.split(" ")))
              and "".join(m if isinstance(m, list) else m.split(" ")) in keep][:400]
    added = [t for t in full["added_tokens"] if t["id"] in keep.values()]
    subset = dict(full, added_tokens=added)
    subset["model"] = dict(full["model"], vocab=keep, merges=merges)
    return subset


def tokenizer_json_seeds(gemma4_json):
    write("tokenizer-json", "tiny.json", json.dumps(TINY_TOKENIZER, indent=1))
    split = json.loads(json.dumps(TINY_TOKENIZER))
    split["pre_tokenizer"] = {"type": "Split", "pattern": {"String": "\u2581"}, "behavior": "Isolated", "invert": False}
    split["normalizer"] = {"type": "Sequence", "normalizers": [
        {"type": "Prepend", "prepend": "\u2581"}, TINY_TOKENIZER["normalizer"]]}
    split["decoder"]["decoders"].append({"type": "Strip", "content": " ", "start": 1, "stop": 0})
    split["added_tokens"].append({"id": 8, "content": "<x>", "special": False, "lstrip": True, "rstrip": True,
                                  "normalized": True, "single_word": True})
    split["model"]["vocab"]["<x>"] = 8
    write("tokenizer-json", "split-strip.json", json.dumps(split))
    write("tokenizer-json", "gemma4-subset.json", json.dumps(gemma_subset(gemma4_json), ensure_ascii=False))


def tokenizer_text_seeds():
    texts = {
        "plain.txt": "Hello there, how are you today?",
        "spaces.txt": "  two  spaces\tand a tab\n\nnew lines   ",
        "markup.txt": "<bos><|turn>user\nDescribe <|image|> and <|audio|><turn|>\n<|turn>model\n",
        "unicode.txt": "caf\u00e9 \u4e2d\u6587 \U0001F600 \u2581 \U0001D518",
        "bytes.txt": b"invalid \xff\xfe \xc3 \xed\xa0\x80 end",
        "code.txt": "def f(x):\n    return x ** 2  # square\n",
    }
    for name, text in texts.items():
        write("tokenizer-text", name, text)


def image_bytes(image, fmt, **options):
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def image_seeds():
    rng = np.random.default_rng(1)
    rgb = Image.fromarray(rng.integers(0, 256, (6, 8, 3), dtype=np.uint8), "RGB")
    write("image", "rgb-8x6.png", image_bytes(rgb, "PNG"))
    write("image", "palette-5x3.png", image_bytes(rgb.resize((5, 3)).convert("P"), "PNG"))
    write("image", "rgba-4x4.png", image_bytes(rgb.resize((4, 4)).convert("RGBA"), "PNG"))
    gray16 = Image.fromarray(rng.integers(0, 65536, (5, 7), dtype=np.uint16))
    write("image", "gray16-interlaced-7x5.png", image_bytes(gray16, "PNG", interlace=1))
    write("image", "gray1-9x2.png", image_bytes(rgb.resize((9, 2)).convert("1"), "PNG"))
    write("image", "la-3x3.png", image_bytes(rgb.resize((3, 3)).convert("LA"), "PNG"))
    color = rgb.resize((16, 8))
    write("image", "color-16x8.jpg", image_bytes(color, "JPEG", quality=50))
    write("image", "gray-8x8.jpg", image_bytes(color.resize((8, 8)).convert("L"), "JPEG", quality=50))
    write("image", "progressive-16x8.jpg", image_bytes(color, "JPEG", quality=50, progressive=True))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 clockwise
    write("image", "exif6-16x8.jpg", image_bytes(color, "JPEG", quality=50, exif=exif.tobytes()))
    write("image", "cmyk-8x8.jpg", image_bytes(color.resize((8, 8)).convert("CMYK"), "JPEG", quality=50))


def audio_bytes(samples, rate, fmt, subtype):
    out = io.BytesIO()
    soundfile.write(out, samples, rate, format=fmt, subtype=subtype)
    return out.getvalue()


def audio_seeds():
    t = np.arange(400) / 8000.0
    tone = 0.5 * np.sin(2 * np.pi * 440 * t)
    stereo = np.stack([tone, -tone], axis=1)
    write("audio", "s16-mono-8k.wav", audio_bytes(tone[:200], 8000, "WAV", "PCM_16"))
    write("audio", "float-stereo-44k1.wav", audio_bytes(stereo[:100], 44100, "WAV", "FLOAT"))
    write("audio", "u8-mono-16k.wav", audio_bytes(tone[:300], 16000, "WAV", "PCM_U8"))
    write("audio", "s16-mono-16k.flac", audio_bytes(tone, 16000, "FLAC", "PCM_16"))
    write("audio", "s24-stereo-22k.flac", audio_bytes(stereo[:300], 22050, "FLAC", "PCM_24"))


def chat_seeds():
    write("chat", "thinking.bin", b"\x01\x01<|channel>plan<channel|>  Hello \xe2\x80\x83there\t\x00\x05\x02\x03\x02")
    write("chat", "system.bin", b"  You are terse.  \nhi <|image|>\xc2\xa0\x02\x01\x00\x03\x01\x00")
    write("chat", "roles.bin", b"tool\x00some text\x00more\x06\x06\x03\x01\x02\x04\x00")


def prompt_ids_seeds():
    write("prompt-ids", "ids.txt", "2,105,2364,107,255999,258880,258882")
    write("prompt-ids", "separators.txt", " 2 \t105,,3 ,")
    write("prompt-ids", "signs.txt", "-1,+5,0007,2147483647,-2147483648")


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    safetensors_seeds()
    config_seeds(sys.argv[2])
    tokenizer_json_seeds(sys.argv[1])
    tokenizer_text_seeds()
    image_seeds()
    audio_seeds()
    chat_seeds()
    prompt_ids_seeds()


if __name__ == "__main__":
    main()
