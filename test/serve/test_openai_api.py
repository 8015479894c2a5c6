"""loom-serve through the official openai client: the same prompt, media and seed give
loom-run's tokens; streaming, stop sequences, usage, the other endpoints, and every error."""

import base64
import io
import json
import subprocess
import threading
import time
import wave

import httpx2 as httpx
import openai
import pytest

from loom_cli import MEDIA, tool
from serve_harness import Server

IMAGE = MEDIA / "coffee_144x96.png"
AUDIO = MEDIA / "hello_16k.wav"


def loom_run(artifact, *args):
    out = subprocess.run([tool("loom-run"), str(artifact), "--json", "--threads", "1", *map(str, args)],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def data_url(path, kind="image/png"):
    return f"data:{kind};base64," + base64.b64encode(path.read_bytes()).decode()


def media_message(text):
    return [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": data_url(IMAGE)}},
        {"type": "input_audio", "input_audio": {"data": base64.b64encode(AUDIO.read_bytes()).decode(),
                                                "format": "wav"}},
        {"type": "text", "text": text}]}]


def test_greedy_text_equals_loom_run(client, artifact):
    want = loom_run(artifact, "--prompt", "Say something", "--greedy", "--max-tokens", 12)
    got = client.chat.completions.create(model="tiny", max_tokens=12, temperature=0,
                                         messages=[{"role": "user", "content": "Say something"}])
    assert got.choices[0].message.content == want["text"]
    assert got.usage.prompt_tokens == len(want["prompt_ids"])
    assert got.usage.completion_tokens == len(want["generated_ids"])
    assert got.choices[0].finish_reason == ("length" if want["stop_reason"] == "max_tokens" else "stop")


def test_image_and_audio_with_a_seed_equal_loom_run(client, artifact):
    want = loom_run(artifact, "--prompt", "Describe both", "--image", IMAGE, "--audio", AUDIO,
                    "--max-tokens", 10, "--seed", 7)
    got = client.chat.completions.create(model="tiny", max_tokens=10, seed=7,
                                         messages=media_message("Describe both"))
    assert got.usage.prompt_tokens == len(want["prompt_ids"])
    assert got.choices[0].message.content == want["text"]


def test_streaming_gives_the_same_text(client):
    kwargs = dict(model="tiny", max_tokens=16, temperature=0,
                  messages=[{"role": "user", "content": "Stream this"}])
    whole = client.chat.completions.create(**kwargs).choices[0].message.content
    chunks = list(client.chat.completions.create(stream=True,
                                                 stream_options={"include_usage": True}, **kwargs))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole
    finish = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finish == ["length"]
    assert chunks[-1].usage.completion_tokens == 16


def test_stop_sequences(client):
    kwargs = dict(model="tiny", max_tokens=30, temperature=0,
                  messages=[{"role": "user", "content": "Count to ten"}])
    whole = client.chat.completions.create(**kwargs).choices[0].message.content
    if len(whole) < 6:
        pytest.skip("the tiny model's answer is too short to cut")
    stop = whole[len(whole) // 2: len(whole) // 2 + 2]
    want = whole[: whole.find(stop)]
    got = client.chat.completions.create(stop=[stop, "never seen"], **kwargs)
    assert got.choices[0].message.content == want
    assert got.choices[0].finish_reason == "stop"
    streamed = client.chat.completions.create(stop=stop, stream=True, **kwargs)
    assert "".join(c.choices[0].delta.content or "" for c in streamed if c.choices) == want


def test_completions_models_health_metrics(client, server):
    got = client.completions.create(model="tiny", prompt="Once upon a time", max_tokens=5, seed=3)
    assert got.usage.completion_tokens == 5 and isinstance(got.choices[0].text, str)
    assert [m.id for m in client.models.list()] == ["tiny"]
    assert httpx.get(server.url + "/health").json() == {"status": "ok"}
    metrics = httpx.get(server.url + "/metrics").text
    for name in ["loom_requests_total", "loom_generation_tokens_total", "loom_queue_length",
                 "loom_kv_cache_usage_ratio", "loom_time_to_first_token_seconds_count",
                 "loom_decode_tokens_per_second"]:
        assert f"\n{name} " in "\n" + metrics, name


def expect_error(status, code_or_text, call):
    with pytest.raises(openai.APIStatusError) as raised:
        call()
    assert raised.value.status_code == status
    body = raised.value.body or {}
    assert code_or_text in json.dumps(body), body


def test_bad_requests_get_openai_errors(client, server):
    chat = client.chat.completions.create
    user = [{"role": "user", "content": "hi"}]
    expect_error(404, "model_not_found", lambda: chat(model="gpt-4", messages=user))
    expect_error(400, "context_length_exceeded",
                 lambda: chat(model="tiny", messages=[{"role": "user", "content": "word " * 2000}]))
    expect_error(400, "invalid_base64", lambda: chat(model="tiny", messages=[{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,@@@@"}}]}]))
    expect_error(400, "invalid_image", lambda: chat(model="tiny", messages=[{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "data:image/png;base64," +
                                            base64.b64encode(b"not a png").decode()}}]}]))
    expect_error(400, "unsupported_url", lambda: chat(model="tiny", messages=[{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "file:///etc/passwd"}}]}]))
    expect_error(400, "unsupported_content_type", lambda: chat(model="tiny", messages=[
        {"role": "user", "content": [{"type": "file", "file": {}}]}]))
    expect_error(400, "temperature", lambda: chat(model="tiny", messages=user, temperature=5))
    response = httpx.post(server.url + "/v1/chat/completions", content=b"{not json")
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_json"
    response = httpx.get(server.url + "/v1/nothing")
    assert response.status_code == 404 and "error" in response.json()


def wav_seconds(seconds, rate=16000):
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(b"\0\0" * int(seconds * rate))
    return out.getvalue()


def test_media_limits(artifact):
    limited = Server(artifact, "--max-image-pixels", "10000", "--max-audio-seconds", "1")
    try:
        client = openai.OpenAI(base_url=limited.url + "/v1", api_key="x", max_retries=0)

        def audio(wav):
            return lambda: client.chat.completions.create(model="tiny", max_tokens=1, messages=[
                {"role": "user", "content": [{"type": "input_audio", "input_audio": {
                    "data": base64.b64encode(wav).decode(), "format": "wav"}}]}])

        # coffee_144x96.png has 13,824 pixels; refused from its header, before decoding.
        expect_error(400, "max_image_pixels", lambda: client.chat.completions.create(
            model="tiny", max_tokens=1, messages=[{"role": "user", "content": [
                {"type": "image_url", "image_url": {"url": data_url(IMAGE)}}]}]))
        expect_error(400, "max_media_seconds", audio(wav_seconds(1.5)))
        assert audio(wav_seconds(0.9))().usage.completion_tokens == 1
    finally:
        limited.stop()


def test_api_key(artifact):
    keyed = Server(artifact, "--api-key", "s3cret", "--parallel", "1")
    try:
        good = openai.OpenAI(base_url=keyed.url + "/v1", api_key="s3cret", max_retries=0)
        bad = openai.OpenAI(base_url=keyed.url + "/v1", api_key="wrong", max_retries=0)
        assert [m.id for m in good.models.list()] == ["tiny"]
        with pytest.raises(openai.AuthenticationError):
            bad.models.list()
        assert httpx.get(keyed.url + "/health").status_code == 200  # not under /v1/
    finally:
        keyed.stop()


def test_concurrent_requests_equal_sequential_ones(client):
    prompts = [f"Request number {i} about {'x' * i}" for i in range(6)]

    def ask(prompt):
        r = client.chat.completions.create(model="tiny", max_tokens=12, temperature=0,
                                           messages=[{"role": "user", "content": prompt}])
        return r.choices[0].message.content

    sequential = [ask(p) for p in prompts]
    concurrent = [None] * len(prompts)

    def worker(i):
        concurrent[i] = ask(prompts[i])

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(prompts))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert concurrent == sequential


def test_full_queue_is_503_and_a_client_that_leaves_frees_its_slot(artifact):
    single = Server(artifact, "--parallel", "1", "--queue", "0")
    try:
        c = openai.OpenAI(base_url=single.url + "/v1", api_key="x", max_retries=0)
        long = c.chat.completions.create(model="tiny", max_tokens=500, stream=True,
                                         messages=[{"role": "user", "content": "Go on"}])
        next(iter(long))  # the first request holds the only slot
        expect_error(503, "queue_full", lambda: c.chat.completions.create(
            model="tiny", max_tokens=2, messages=[{"role": "user", "content": "me too"}]))
        long.close()  # the client leaves: the server notices at its next write and frees the slot
        deadline = time.monotonic() + 20
        while "\nloom_requests_running 0" not in httpx.get(single.url + "/metrics").text:
            assert time.monotonic() < deadline, "the slot of a client that left was not freed"
            time.sleep(0.05)
        got = c.chat.completions.create(model="tiny", max_tokens=2, timeout=60,
                                        messages=[{"role": "user", "content": "now"}])
        assert got.usage.completion_tokens == 2
    finally:
        single.stop()
