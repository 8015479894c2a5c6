"""Every accepted form of an image or audio gives the logits its file gives, bit for bit."""

import io
import wave

import numpy as np
import pytest
from PIL import Image

import loom

from loom_cli import MEDIA


def image_ids(model, image):
    return model.tokenize("<bos>" + model._model.media_prompt(loom.media.image(image))).tolist()


def audio_ids(model, audio):
    return model.tokenize("<bos>" + model._model.media_prompt(loom.media.audio(audio))).tolist()


def wav_samples(path):
    """A 16-bit PCM WAV's samples as floats, as libsndfile scales them (s / 32768)."""
    with wave.open(str(path)) as w:
        assert w.getsampwidth() == 2
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
        return pcm.reshape(-1, w.getnchannels()).astype(np.float32) / 32768.0, w.getframerate()


@pytest.mark.parametrize("name", ["coffee_144x96.png", "chelsea.png"])
def test_image_forms(model, name):
    path = MEDIA / name
    ids = image_ids(model, path)
    want = model.session().prefill(ids, images=[path], all_logits=True)
    with Image.open(path) as opened:
        pil = opened.copy()
    forms = {"str": str(path), "bytes": path.read_bytes(), "bytearray": bytearray(path.read_bytes()),
             "PIL": pil, "array": np.asarray(pil.convert("RGB")),
             "strided array": np.asarray(pil.convert("RGB"))[:, :, :].copy(order="F")}
    for form, value in forms.items():
        got = model.session().prefill(ids, images=[value], all_logits=True)
        assert np.array_equal(got, want), form


def test_jpeg_bytes_get_their_exif_orientation(model):
    path = MEDIA / "coffee_exif6.jpg"
    ids = image_ids(model, path)
    want = model.session().prefill(ids, images=[path])
    assert np.array_equal(model.session().prefill(ids, images=[path.read_bytes()]), want)


@pytest.mark.parametrize("name", ["hello_16k.wav", "front_left_44k1_stereo.wav"])
def test_audio_forms(model, name):
    path = MEDIA / name
    ids = audio_ids(model, path)
    want = model.session().prefill(ids, audio=[path], all_logits=True)
    samples, rate = wav_samples(path)
    forms = {"str": str(path), "bytes": path.read_bytes(), "samples": (samples, rate),
             "float64 samples": (samples.astype(np.float64), rate)}
    if samples.shape[1] == 1:
        forms["1-D samples"] = (samples[:, 0], rate)
    for form, value in forms.items():
        got = model.session().prefill(ids, audio=[value], all_logits=True)
        assert np.array_equal(got, want), form


def test_flac_and_ogg_bytes(model):
    for name in ["speech_16k.flac", "speech_22k.ogg"]:
        path = MEDIA / name
        ids = audio_ids(model, path)
        assert np.array_equal(model.session().prefill(ids, audio=[path.read_bytes()]),
                              model.session().prefill(ids, audio=[path])), name


def test_video_path(model):
    path = MEDIA / "testsrc_10frames_silent.mp4"
    video = loom.media.video(path, max_frames=2)
    ids = model.tokenize("<bos>" + model._model.media_prompt(video)).tolist()
    logits = model.session().prefill(ids, videos=[video])
    assert np.isfinite(logits).all()
