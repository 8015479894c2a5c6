"""Two threads with two sessions on one model give the results one thread gets; 1,000 decode
steps keep the process's memory flat."""

import threading

import numpy as np

import loom


def run(model, seed):
    session = model.session(seed=seed)
    text = session.generate("Tell me", max_tokens=20, stream=False)
    logits = session.prefill(model.tokenize("more words here").tolist(), all_logits=True)
    return session.last_generation.tokens, text, logits


def test_two_threads_two_sessions(model):
    want = {seed: run(model, seed) for seed in (1, 2)}
    results, errors = {}, []

    def worker(seed):
        try:
            for round in range(3):
                results[(seed, round)] = run(model, seed)
        except Exception as e:  # reported below: a thread's exception would be lost
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(seed,)) for seed in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for (seed, _), (tokens, text, logits) in results.items():
        assert tokens == want[seed][0]
        assert text == want[seed][1]
        assert np.array_equal(logits, want[seed][2])


def rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


def test_thousand_steps_keep_memory_flat(model):
    session = model.session()
    logits = session.prefill(model.tokenize("<bos>Once").tolist())
    token = int(np.argmax(logits))
    samples = []
    for step in range(1000):
        token = int(np.argmax(session.step(token)))
        if step % 100 == 99:
            samples.append(rss_bytes())
    # After the first 100 steps (warm-up: the arena, the allocator's pools), at most 2 MiB more.
    assert max(samples[1:]) - samples[0] < 2 << 20, [s >> 10 for s in samples]
