#!/usr/bin/env python3
"""Preprocessing goldens: what the Hugging Face gemma4_unified processors make of real media.

Runs transformers' Gemma4UnifiedImageProcessor, Gemma4UnifiedAudioFeatureExtractor (on
transformers' load_audio, soundfile + soxr backend) and Gemma4UnifiedVideoProcessor (torchcodec)
on the files in test/data/media, and writes compact JSON goldens to test/golden/preprocess/ that
test/golden/preprocess/preprocess_golden_test.cpp compares Loom's loaders with.

Pixels are stored as 8-bit levels (value * 255, rounded): the script checks that every
processor value is exactly level * float32(1/255) (images) or level / 255 (video frames), so the
levels lose nothing. Per case: sizes, positions, an FNV-1a 64 hash of all levels, the level sum
of every patch, and one whole patch. Audio: sample and frame counts, every frame's sum and
largest magnitude, and two whole frames.

    /opt/golden-venv/bin/python tools/golden/make_preprocess_goldens.py --out test/golden/preprocess
"""
import argparse
import json
import math
import os

import numpy as np
import torch

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
MEDIA = "test/data/media"

IMAGE_CASES = [  # (file, token budgets)
    ("chelsea.png", (70, 280)),       # RGB photo 451x300: mixed up/down-sampling at 70
    ("camera.png", (70, 280, 1120)),  # gray photo 512x512: down at 70, up at 280 and 1120
    ("coffee_exif6.jpg", (70, 280)),  # JPEG 600x400 with EXIF orientation 6 (shown 400x600)
]
AUDIO_CASES = [
    "speech_16k.flac",              # 16 kHz mono: no resampling
    "front_left_44k1_stereo.wav",   # 44.1 kHz stereo: channel mean + soxr HQ
    "speech_22k.ogg",               # Ogg Vorbis, 22.05 kHz mono
]
VIDEO_CASES = ["testsrc_2s.mp4"]
SAMPLE_RATE = 16000


def patch_levels(values: torch.Tensor, scaling: str) -> np.ndarray:
    """[n, 6912] float32 processor values -> uint8 levels, checking nothing is lost."""
    v = values.float().numpy()
    levels = np.rint(v * 255.0).astype(np.int64)
    if levels.min() < 0 or levels.max() > 255:
        raise SystemExit(f"pixel values outside [0, 1]: {v.min()} .. {v.max()}")
    if scaling == "multiply":
        back = levels.astype(np.float32) * np.float32(1 / 255)
    else:
        back = levels.astype(np.float32) / np.float32(255.0)
    if not np.array_equal(back, v):
        raise SystemExit(f"processor values are not exactly level scaled by {scaling}")
    return levels.astype(np.uint8)


def describe_patches(levels: np.ndarray, positions: np.ndarray, sample: int) -> dict:
    return {
        "count": int(levels.shape[0]),
        "positions": positions.reshape(-1).tolist(),
        "level_hash_fnv1a64": hash_levels(levels),
        "patch_level_sums": levels.astype(np.int64).sum(axis=1).tolist(),
        "sample_patch": sample,
        "sample_patch_levels": levels[sample].astype(int).tolist(),
    }


def hash_levels(levels: np.ndarray) -> str:
    """FNV-1a 64 over the levels' bytes in order (patch-major, as Loom stores them)."""
    data = levels.astype(np.uint8).ravel().tolist()
    h = 0xCBF29CE484222325
    mask = 0xFFFFFFFFFFFFFFFF
    for b in data:
        h = ((h ^ b) * 0x100000001B3) & mask
    return f"{h:016x}"


def image_goldens():
    from transformers.models.gemma4_unified.image_processing_gemma4_unified import (
        Gemma4UnifiedImageProcessor)
    processor = Gemma4UnifiedImageProcessor()
    cases = []
    for name, budgets in IMAGE_CASES:
        path = os.path.join(MEDIA, name)
        for budget in budgets:
            # A path, so transformers loads it as users' files are (EXIF orientation applied).
            out = processor(images=[path], max_soft_tokens=budget, return_tensors="pt")
            n = int(out["num_soft_tokens_per_image"][0])
            pos = out["image_position_ids"][0][:n].numpy()
            if not (out["image_position_ids"][0][n:] == -1).all() or not (out["pixel_values"][0][n:] == 0).all():
                raise SystemExit(f"{name}: unexpected padding")
            levels = patch_levels(out["pixel_values"][0][:n], "multiply")
            columns = int(pos[:, 0].max()) + 1
            rows = int(pos[:, 1].max()) + 1
            case = {"file": f"{MEDIA}/{name}", "budget": budget, "width": columns * 48,
                    "height": rows * 48, "columns": columns, "rows": rows}
            case.update(describe_patches(levels, pos, n // 2))
            cases.append(case)
            print(f"image {name} @{budget}: {case['width']}x{case['height']}, {n} patches")
    return {"reference": "transformers 5.23.0 Gemma4UnifiedImageProcessor (torchvision 0.29.2, "
                         "torch 2.15.0 CPU), images passed as paths", "cases": cases}


def load_audio_reference(path):
    from transformers.audio_utils import load_audio
    return load_audio(path, sampling_rate=SAMPLE_RATE, backend="soundfile")


def describe_audio(waveform: np.ndarray, source: str) -> dict:
    from transformers.models.gemma4_unified.feature_extraction_gemma4_unified import (
        Gemma4UnifiedAudioFeatureExtractor)
    fe = Gemma4UnifiedAudioFeatureExtractor()
    out = fe(waveform, return_tensors="np")
    frames = out["input_features"][0].astype(np.float32)
    if not out["input_features_mask"][0].all():
        raise SystemExit(f"{source}: unexpected audio mask")
    count = frames.shape[0]
    samples_kept = [0, count // 2]
    return {
        "samples": int(len(waveform)),
        "count": int(count),
        "frame_sums": [float(x) for x in frames.astype(np.float64).sum(axis=1)],
        "frame_max_abs": [float(x) for x in np.abs(frames).max(axis=1)],
        "sample_frames": samples_kept,
        "sample_frame_values": [[float(x) for x in frames[i]] for i in samples_kept],
    }


def audio_goldens():
    import soundfile
    cases = []
    for name in AUDIO_CASES:
        path = os.path.join(MEDIA, name)
        info = soundfile.info(path)
        waveform = load_audio_reference(path)
        case = {"file": f"{MEDIA}/{name}", "file_rate": info.samplerate,
                "file_channels": info.channels}
        case.update(describe_audio(waveform, name))
        cases.append(case)
        print(f"audio {name}: {info.samplerate} Hz x{info.channels} -> {case['samples']} samples, "
              f"{case['count']} frames")
    return {"reference": "transformers 5.23.0 load_audio(backend='soundfile': soundfile 0.14.0 + "
                         "soxr 1.1.0 'soxr_hq') + Gemma4UnifiedAudioFeatureExtractor",
            "cases": cases}


def video_goldens():
    import soxr
    from torchcodec.decoders import AudioDecoder
    from transformers.models.gemma4_unified.video_processing_gemma4_unified import (
        Gemma4UnifiedVideoProcessor)
    processor = Gemma4UnifiedVideoProcessor()
    cases = []
    for name in VIDEO_CASES:
        path = os.path.join(MEDIA, name)
        out = processor(videos=[path], return_tensors="pt", return_metadata=True)
        meta = out["video_metadata"][0]
        n = int(out["num_soft_tokens_per_video"][0])
        frames = []
        for f in range(out["pixel_values_videos"].shape[0]):
            pos = out["video_position_ids"][f][:n].numpy()
            levels = patch_levels(out["pixel_values_videos"][f][:n], "divide")
            frame = {"index": int(meta.frames_indices[f]), "seconds": float(meta.timestamps[f])}
            d = describe_patches(levels, pos, n // 2)
            if f not in (0, out["pixel_values_videos"].shape[0] - 1):
                del d["sample_patch"], d["sample_patch_levels"]
            frame.update(d)
            frames.append(frame)
        pos0 = out["video_position_ids"][0][:n].numpy()
        # The processor's prompt timestamps (processing_gemma4_unified.py, replace_video_token).
        stamps = [f"{int(s // 60):02d}:{int(s % 60):02d}" for s in meta.timestamps]
        # The audio track, with load_audio's soundfile recipe: channel mean, then soxr HQ.
        samples = AudioDecoder(path).get_all_samples()
        track = samples.data.numpy().astype(np.float32)
        mono = track.mean(axis=0) if track.shape[0] > 1 else track[0]
        rate = int(samples.sample_rate)
        wanted = math.ceil(mono.shape[-1] * SAMPLE_RATE / rate)
        mono = soxr.resample(mono, rate, SAMPLE_RATE, quality="soxr_hq")
        mono = np.pad(mono, (0, max(0, wanted - len(mono))))[:wanted].astype(np.float32)
        audio = {"track_rate": rate, "track_channels": int(track.shape[0])}
        audio.update(describe_audio(mono, name + " audio"))
        cases.append({
            "file": f"{MEDIA}/{name}", "budget": 70, "max_frames": 32,
            "total_frames": int(meta.total_num_frames), "fps": float(meta.fps),
            "width": int(pos0[:, 0].max() + 1) * 48, "height": int(pos0[:, 1].max() + 1) * 48,
            "timestamps": stamps, "frames": frames, "audio": audio})
        print(f"video {name}: {meta.total_num_frames} frames at {meta.fps} fps -> "
              f"{len(frames)} frames of {n} patches; audio {audio['samples']} samples")
    return {"reference": "transformers 5.23.0 Gemma4UnifiedVideoProcessor (torchcodec 0.17.0 "
                         "exact seek mode, FFmpeg 5.1); audio track: torchcodec AudioDecoder + "
                         "channel mean + soxr 1.1.0 'soxr_hq'", "cases": cases}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="test/golden/preprocess")
    args = parser.parse_args()
    os.chdir(REPO_ROOT)
    torch.set_num_threads(1)
    os.makedirs(args.out, exist_ok=True)
    for name, make in (("images", image_goldens), ("audio", audio_goldens),
                       ("video", video_goldens)):
        data = make()
        with open(os.path.join(args.out, f"{name}.json"), "w") as f:
            json.dump(data, f, separators=(",", ":"))
            f.write("\n")


if __name__ == "__main__":
    main()
