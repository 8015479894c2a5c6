"""Bad input raises: the runtime's failures as loom.LoomError with its message (naming the file
or the argument), Python-side mistakes as TypeError / ValueError."""

import numpy as np
import pytest

import loom


def test_missing_and_corrupt_artifacts(tmp_path, artifact):
    with pytest.raises(loom.LoomError, match="nowhere.loom"):
        loom.Model(tmp_path / "nowhere.loom")
    cut = tmp_path / "cut.loom"
    cut.write_bytes(artifact.read_bytes()[:4096])
    with pytest.raises(loom.LoomError, match="cut.loom"):
        loom.Model(cut)
    flipped = bytearray(artifact.read_bytes())
    flipped[-100] ^= 0xFF  # inside the last segment: a checksum mismatch
    bad = tmp_path / "flipped.loom"
    bad.write_bytes(bytes(flipped))
    with pytest.raises(loom.LoomError, match="checksum"):
        loom.Model(bad, verify=True)


def test_bad_media(model, tmp_path):
    session = model.session()
    image_run = model.tokenize("<bos><|image|>").tolist()
    with pytest.raises(loom.LoomError, match=r"images\[0\].*PNG or JPEG"):
        session.prefill(image_run, images=[b"GIF89a not an image"])
    with pytest.raises(loom.LoomError, match="missing.png"):
        session.prefill(image_run, images=[tmp_path / "missing.png"])
    with pytest.raises(ValueError, match=r"images\[0\].*\(height, width, 3\)"):
        session.prefill(image_run, images=[np.zeros((4, 4), np.uint8)])
    with pytest.raises(ValueError, match="uint8"):
        session.prefill(image_run, images=[np.zeros((4, 4, 3), np.float32)])
    with pytest.raises(TypeError, match="PIL image"):
        session.prefill(image_run, images=[42])
    audio_run = model.tokenize("<bos><|audio|>").tolist()
    with pytest.raises(TypeError, match="int16 / 32768"):
        session.prefill(audio_run, audio=[(np.zeros(100, np.int16), 16000)])
    with pytest.raises(ValueError, match="sample rate"):
        session.prefill(audio_run, audio=[(np.zeros(100, np.float32), 0)])
    with pytest.raises(loom.LoomError, match="finite"):
        session.prefill(audio_run, audio=[(np.full(100, np.nan, np.float32), 16000)])
    with pytest.raises(loom.LoomError, match=r"audio\[0\].*cannot read audio"):
        session.prefill(audio_run, audio=[b"RIFF...."])
    with pytest.raises(TypeError, match="video is given as a path"):
        session.prefill(model.tokenize("<bos>x").tolist(), videos=[b"bytes"])
    with pytest.raises(TypeError, match="expected an image, got audio"):
        session.prefill(image_run, images=[loom.media.audio(b"RIFF")])
    assert session.position == 0  # nothing above ran


def test_media_limits(artifact, image_path):
    limited = loom.Model(artifact, threads=1, max_image_pixels=10000, max_media_seconds=1)
    session = limited.session()
    with pytest.raises(loom.LoomError, match=r"13824 pixels, more than the limit of 10000"):
        session.prefill(limited.tokenize("<bos><|image|>").tolist(), images=[image_path])
    with pytest.raises(loom.LoomError, match=r"longer than the limit of 1 s"):
        session.prefill(limited.tokenize("<bos><|audio|>").tolist(),
                        audio=[(np.zeros(32000, np.float32), 16000)])
    with pytest.raises(loom.LoomError, match="max_media_seconds is 7200"):
        loom.Model(artifact, max_media_seconds=7200)


def test_bad_prompts(model, image_path):
    session = model.session()
    with pytest.raises(loom.LoomError, match="out of range"):
        session.prefill([2, model.vocab_size])
    with pytest.raises(loom.LoomError, match="no tokens"):
        session.prefill([])
    with pytest.raises(loom.LoomError, match="1 run"):
        session.prefill(model.tokenize("<bos><|image|>").tolist())  # a run without its image
    with pytest.raises(ValueError, match=r"2 <\|image\|> marker\(s\) but 1 image"):
        session.generate("<|image|> and <|image|>", images=[image_path])
    with pytest.raises(ValueError, match="unsupported part type 'image_url'"):
        session.generate([{"role": "user", "content": [{"type": "image_url", "image_url": "x"}]}])
    with pytest.raises(loom.LoomError, match="system"):
        session.generate([{"role": "user", "content": "a"}, {"role": "system", "content": "b"}])
    with pytest.raises(loom.LoomError, match="out of range"):
        session.step(-1)
    with pytest.raises(loom.LoomError, match="max_context"):
        model.session(max_context=model.max_context + 1)


def test_tokenizer_errors(tmp_path):
    broken = tmp_path / "tokenizer.json"
    broken.write_text("{ not json")
    with pytest.raises(loom.LoomError, match="tokenizer.json"):
        loom.tokenizer(broken)
