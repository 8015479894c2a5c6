"""Batched decode (loom_batch_decode): sessions stepped together give what each gives alone,
to 1e-5 of the logit range, and the same greedy tokens, as they join, leave and reorder."""

import numpy as np

PROMPTS = ["<bos>The first", "<bos>A second, longer prompt than that", "<bos>Third"]


def prefilled(model):
    sessions = [model.session() for _ in PROMPTS]
    logits = [s.prefill(model.tokenize(p).tolist()) for s, p in zip(sessions, PROMPTS)]
    return sessions, [int(np.argmax(l)) for l in logits]


def test_batched_steps_agree_with_single_steps(model):
    alone, alone_next = prefilled(model)
    together, together_next = prefilled(model)
    assert alone_next == together_next
    batch = model.batch()
    schedule = [[0, 1, 2], [2, 0], [1], [0, 1, 2], [1, 2, 0], [0, 1, 2]]
    for members in schedule:
        want = [alone[i].step(alone_next[i]) for i in members]
        got = batch.step([together[i] for i in members], [together_next[i] for i in members])
        assert got.shape == (len(members), model.vocab_size)
        for row, i in enumerate(members):
            spread = float(want[row].max() - want[row].min())
            assert np.abs(got[row] - want[row]).max() <= 1e-5 * spread, (members, i)
            alone_next[i] = int(np.argmax(want[row]))
            together_next[i] = int(np.argmax(got[row]))
            assert together_next[i] == alone_next[i]
    assert [s.position for s in together] == [s.position for s in alone]


def test_refused_batches_move_nothing(model):
    import pytest

    import loom

    sessions, tokens = prefilled(model)
    positions = [s.position for s in sessions]
    batch = model.batch()
    with pytest.raises(loom.LoomError, match="more than once"):
        batch.step([sessions[0], sessions[0]], [1, 2])
    with pytest.raises(loom.LoomError, match="out of range"):
        batch.step(sessions[:2], [1, model.vocab_size])
    with pytest.raises(ValueError, match="2 sessions but 1 tokens"):
        batch.step(sessions[:2], [1])
    assert [s.position for s in sessions] == positions
