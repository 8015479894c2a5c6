"""Images, audio and video for a prompt, in the forms Python code holds them.

Each becomes a ``_runtime.Media`` that the runtime prepares exactly as ``loom-run`` prepares a
file (resize to the token budget and 48x48 patches; mono, 16 kHz, 640-sample frames): the same
picture as a path, its bytes, a PIL image or a uint8 array gives the same tokens and logits.
"""

from __future__ import annotations

import os
from typing import Any, Union

import numpy as np

from . import _runtime

ImageLike = Union[str, os.PathLike, bytes, bytearray, memoryview, np.ndarray, Any]
"""A path; a PNG or JPEG file's bytes; a PIL image; RGB pixels, uint8 of shape (H, W, 3); or
what ``loom.media.image`` returned (to choose the token budget)."""

AudioLike = Union[str, os.PathLike, bytes, bytearray, memoryview, tuple]
"""A path; a WAV, FLAC or Ogg file's bytes; or ``(samples, sample_rate)`` with float samples of
shape (n,) or (n, channels), nominally in [-1, 1]; or what ``loom.media.audio`` returned."""


def _is_path(value: Any) -> bool:
    return isinstance(value, (str, os.PathLike))


def _is_bytes(value: Any) -> bool:
    return isinstance(value, (bytes, bytearray, memoryview))


def _same_kind(value: _runtime.Media, kind: int, name: str) -> _runtime.Media:
    """A medium already prepared by one of these functions, if it is of the kind expected."""
    if value.kind != kind:
        raise TypeError(f"{name}: expected {_KIND_NAMES[kind]}, got {_KIND_NAMES[value.kind]} "
                        f"({value.name})")
    return value


_KIND_NAMES = {_runtime.IMAGE: "an image", _runtime.AUDIO: "audio", _runtime.VIDEO: "a video"}


def image(value: ImageLike, *, token_budget: int = 0, name: str = "image") -> _runtime.Media:
    """An image from any accepted form. ``token_budget``: 70, 140, 280, 560 or 1120 soft
    tokens (0: the model's default, 280). ``name`` stands for it in error messages.

    A PIL image is taken as ``img.convert("RGB")``: EXIF orientation is not applied (Pillow
    leaves that to ``ImageOps.exif_transpose``); a path or bytes of a JPEG get it applied."""
    if isinstance(value, _runtime.Media):
        return _same_kind(value, _runtime.IMAGE, name)
    if _is_path(value):
        return _runtime.Media.file(_runtime.IMAGE, os.fspath(value), token_budget)
    if _is_bytes(value):
        return _runtime.Media.bytes(_runtime.IMAGE, bytes(value), name, token_budget)
    if isinstance(value, np.ndarray):
        pixels = value
    elif hasattr(value, "convert") and hasattr(value, "size"):  # a PIL image, without importing PIL
        pixels = np.asarray(value.convert("RGB"))
    else:
        raise TypeError(f"{name}: expected a path, bytes, a PIL image or a uint8 array of shape "
                        f"(height, width, 3); got {type(value).__name__}")
    if pixels.dtype != np.uint8 or pixels.ndim != 3 or pixels.shape[2] != 3:
        raise ValueError(f"{name}: expected RGB pixels, uint8 of shape (height, width, 3); got "
                         f"{pixels.dtype} of shape {pixels.shape}")
    return _runtime.Media.pixels(np.ascontiguousarray(pixels), name, token_budget)


def audio(value: AudioLike, *, name: str = "audio") -> _runtime.Media:
    """Audio from any accepted form: resampled to the model's 16 kHz and mixed to mono as a
    file would be. ``name`` stands for it in error messages."""
    if isinstance(value, _runtime.Media):
        return _same_kind(value, _runtime.AUDIO, name)
    if _is_path(value):
        return _runtime.Media.file(_runtime.AUDIO, os.fspath(value))
    if _is_bytes(value):
        return _runtime.Media.bytes(_runtime.AUDIO, bytes(value), name)
    if isinstance(value, tuple) and len(value) == 2:
        samples, rate = value
        samples = np.asarray(samples)
        if not np.issubdtype(samples.dtype, np.floating):
            raise TypeError(f"{name}: expected float samples in [-1, 1]; got {samples.dtype} "
                            "(scale integer PCM first, e.g. int16 / 32768)")
        if samples.ndim == 1:
            samples = samples[:, None]
        if samples.ndim != 2:
            raise ValueError(f"{name}: expected samples of shape (n,) or (n, channels); got "
                             f"{samples.shape}")
        if isinstance(rate, bool) or not isinstance(rate, (int, np.integer)) or rate <= 0:
            raise ValueError(f"{name}: expected a positive integer sample rate; got {rate!r}")
        return _runtime.Media.samples(np.ascontiguousarray(samples, dtype=np.float32), int(rate),
                                      name)
    raise TypeError(f"{name}: expected a path, bytes or (samples, sample_rate); got "
                    f"{type(value).__name__}")


def video(value: str | os.PathLike, *, token_budget: int = 0, max_frames: int = 0,
          with_audio: bool = True, name: str = "video") -> _runtime.Media:
    """A video file (anything FFmpeg reads): up to ``max_frames`` frames (0: 32) at
    ``token_budget`` tokens each (0: 70), then its audio track when ``with_audio``."""
    if isinstance(value, _runtime.Media):
        return _same_kind(value, _runtime.VIDEO, name)
    if not _is_path(value):
        raise TypeError(f"{name}: a video is given as a path; got {type(value).__name__}")
    return _runtime.Media.file(_runtime.VIDEO, os.fspath(value), token_budget, max_frames,
                               with_audio)
