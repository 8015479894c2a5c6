"""Session.generate equals loom-run with the same prompt, media and seed, streamed or not; stop
strings cut the text as OpenAI's `stop` does; a message list renders as the chat template."""

import json

import pytest

from loom_cli import run_tool

PROMPT = "What do you see and hear? <|image|> <|audio|>"


def loom_run_json(artifact, *args):
    out = run_tool("loom-run", artifact, "--json", "--threads", 1, *args).stdout
    return json.loads(out)


def test_sampled_generation_equals_loom_run(model, artifact, image_path, audio_path):
    want = loom_run_json(artifact, "--prompt", PROMPT, "--image", image_path, "--audio",
                         audio_path, "--max-tokens", 24, "--seed", 7)
    session = model.session()
    text = session.generate(PROMPT, max_tokens=24, seed=7, images=[image_path],
                            audio=[audio_path], stream=False)
    assert session.last_generation.prompt_ids == want["prompt_ids"]
    assert session.last_generation.tokens == want["generated_ids"]
    assert text == want["text"]
    assert session.last_generation.stop_reason == want["stop_reason"]


def test_streamed_pieces_join_to_the_text(model, image_path):
    session = model.session()
    pieces = list(session.generate("Describe <|image|>", max_tokens=16, seed=3,
                                   images=[image_path]))
    joined = "".join(pieces)
    assert joined == session.last_generation.text
    fresh = model.session()
    assert fresh.generate("Describe <|image|>", max_tokens=16, seed=3, images=[image_path],
                          stream=False) == joined


def test_greedy_system_and_thinking_equal_loom_run(model, artifact):
    want = loom_run_json(artifact, "--prompt", "Say something", "--system", "Be brief", "--think",
                         "--greedy", "--max-tokens", 12)
    session = model.session()
    text = session.generate("Say something", max_tokens=12, greedy=True, system="Be brief",
                            thinking=True, stream=False)
    assert session.last_generation.prompt_ids == want["prompt_ids"]
    assert text == want["text"]


def test_stop_strings_cut_the_text(model):
    session = model.session()
    full = session.generate("Count", max_tokens=40, greedy=True, stream=False)
    tokens = session.last_generation.tokens
    if len(full) < 6:
        pytest.skip("the tiny model's greedy answer is too short to cut")
    stop = full[len(full) // 2: len(full) // 2 + 3]
    want = full[: full.find(stop)]
    for stream in (False, True):
        session.reset()
        got = session.generate("Count", max_tokens=40, greedy=True, stop=[stop, "\x00never"],
                               stream=stream)
        got = got if isinstance(got, str) else "".join(got)
        assert got == want
        assert session.last_generation.stop_reason == "stop"
        assert session.last_generation.tokens == tokens[: len(session.last_generation.tokens)]


def test_messages_render_like_the_prompt_form(model, image_path, audio_path):
    by_prompt = model.session()
    by_prompt.generate("Compare them", max_tokens=8, seed=5, images=[image_path],
                       audio=[audio_path], system="You compare things", stream=False)
    by_messages = model.session()
    by_messages.generate([
        {"role": "system", "content": "You compare things"},
        {"role": "user", "content": [{"type": "image", "image": image_path},
                                     {"type": "audio", "audio": audio_path},
                                     {"type": "text", "text": "Compare them"}]},
    ], max_tokens=8, seed=5, stream=False)
    assert by_messages.last_generation.prompt_ids == by_prompt.last_generation.prompt_ids
    assert by_messages.last_generation.tokens == by_prompt.last_generation.tokens


def test_second_turn_continues_as_loom_run_chat(model, artifact):
    out = run_tool("loom-run", artifact, "--chat", "--json", "--threads", 1, "--prompt", "Hi",
                   "--max-tokens", 6, "--seed", 2, input="And then?\n").stdout
    turns = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    session = model.session()
    session.generate("Hi", max_tokens=6, seed=2, stream=False)
    session.generate("And then?", max_tokens=6, stream=False)
    assert session.last_generation.prompt_ids == turns[1]["prompt_ids"]
    assert session.last_generation.tokens == turns[1]["generated_ids"]
