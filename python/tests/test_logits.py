"""Logits from Python are loom-run's, bit for bit: the same prompt ids and media through
`loom-run --prompt-ids ... --logits-out`, then the same greedy decode steps."""

import numpy as np

import loom
from loom_cli import run_tool


def prompt_ids(model, image_path, audio_path):
    image = model._model.media_prompt(loom.media.image(image_path))
    audio = model._model.media_prompt(loom.media.audio(audio_path))
    return model.tokenize(f"<bos>Look {image} and listen {audio} now").tolist()


def test_prefill_and_steps_equal_loom_run(model, artifact, image_path, audio_path, tmp_path):
    ids = prompt_ids(model, image_path, audio_path)
    steps = 3
    out = tmp_path / "logits.npy"
    run_tool("loom-run", artifact, "--prompt-ids", ",".join(map(str, ids)), "--image", image_path,
             "--audio", audio_path, "--greedy", "--max-tokens", steps + 1, "--threads", 1,
             "--logits-out", out)
    want = np.load(out)
    assert want.shape == (len(ids) + steps, model.vocab_size)

    session = model.session()
    rows = [session.prefill(ids, images=[image_path], audio=[audio_path], all_logits=True)]
    assert rows[0].dtype == np.float32 and rows[0].shape == (len(ids), model.vocab_size)
    last = rows[0][-1]
    for _ in range(steps):
        last = session.step(int(np.argmax(last)))
        rows.append(last[None, :])
    got = np.concatenate(rows)
    assert np.array_equal(got, want)
    assert session.position == len(ids) + steps


def test_last_row_alone_agrees_with_all_rows_last(model, image_path, audio_path):
    # One row runs the LM head's GEMV kernel, several its GEMM: other summation orders.
    ids = prompt_ids(model, image_path, audio_path)
    everything = model.session().prefill(ids, [image_path], [audio_path], all_logits=True)
    last = model.session().prefill(ids, [image_path], [audio_path])
    assert last.shape == (model.vocab_size,)
    spread = float(everything[-1].max() - everything[-1].min())
    assert np.abs(last - everything[-1]).max() <= 1e-5 * spread


def test_reset_starts_over(model):
    session = model.session()
    ids = model.tokenize("<bos>Hello there", add_bos=False)
    first = session.prefill(ids)
    session.step(5)
    session.reset()
    assert session.position == 0
    assert np.array_equal(session.prefill(ids), first)
