"""A bounded load test: 32 clients x 8 requests (after two warm-up rounds of the same), streamed and not, text and images, of mixed
lengths, against expected answers computed one at a time first (greedy), so that a lost,
duplicated or changed token fails; the server's RSS stays flat and it is healthy afterwards."""

import base64
import threading
import time

import httpx2 as httpx
import openai

from loom_cli import MEDIA
from serve_harness import Server

CLIENTS, REQUESTS = 32, 8
IMAGE_URL = "data:image/png;base64," + base64.b64encode((MEDIA / "coffee_144x96.png").read_bytes()).decode()


def request(i):
    """The i-th kind of request: (messages, max_tokens, stream)."""
    text = f"Question {i}: " + "tell me more " * (i % 5)
    content = text if i % 3 else [{"type": "image_url", "image_url": {"url": IMAGE_URL}},
                                  {"type": "text", "text": text}]
    return [{"role": "user", "content": content}], 4 + 5 * (i % 4), i % 2 == 0


def ask(client, i):
    messages, max_tokens, stream = request(i)
    kwargs = dict(model="tiny", messages=messages, max_tokens=max_tokens, temperature=0)
    if not stream:
        return client.chat.completions.create(**kwargs).choices[0].message.content
    return "".join(c.choices[0].delta.content or "" for c in
                   client.chat.completions.create(stream=True, **kwargs) if c.choices)


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))


def test_load(artifact):
    # --prefill-yield-ms 0: the others get a round between every kernel dispatch of a prefill.
    server = Server(artifact, "--parallel", "4", "--queue", "64", "--model-name", "tiny",
                    "--prefill-yield-ms", "0")
    try:
        client = openai.OpenAI(base_url=server.url + "/v1", api_key="x", max_retries=0, timeout=600)
        kinds = 8
        expected = [ask(client, i) for i in range(kinds)]  # one at a time
        failures, answers = [], {}

        def worker(c):
            for r in range(REQUESTS):
                i = (c * REQUESTS + r) % kinds
                try:
                    answers[(c, r)] = (i, ask(client, i))
                except Exception as e:  # reported below: a thread's exception would be lost
                    failures.append(repr(e))

        def round():
            threads = [threading.Thread(target=worker, args=(c,)) for c in range(CLIENTS)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()

        # Warm-up: every slot, the batch arena, the HTTP threads and their malloc arenas in use
        # (RSS grows by about 10 MiB over the first round, under 1 MiB over the second, then
        # stays).
        round()
        round()
        warm_rss = rss_kib(server.process.pid)
        answers.clear()
        start = time.monotonic()
        round()
        seconds = time.monotonic() - start
        end_rss = rss_kib(server.process.pid)
        metrics = httpx.get(server.url + "/metrics").text
        generated = float(next(l.split()[1] for l in metrics.splitlines()
                               if l.startswith("loom_generation_tokens_total ")))
        print(f"\nload: {CLIENTS} clients x {REQUESTS} requests in {seconds:.1f} s, "
              f"{generated:.0f} tokens generated in all, server RSS {warm_rss} -> {end_rss} KiB")
        assert not failures, failures[:3]
        assert len(answers) == CLIENTS * REQUESTS
        for (c, r), (i, text) in answers.items():
            assert text == expected[i], (c, r, i)
        assert end_rss - warm_rss < 2 * 1024, (warm_rss, end_rss)
        assert httpx.get(server.url + "/health").json() == {"status": "ok"}
        assert "\nloom_requests_running 0" in metrics and "\nloom_queue_length 0" in metrics
    finally:
        server.stop()
