"""loom.tokenizer of tokenizer.json or of an artifact encodes as the independent implementation
that wrote test/data/tokenizer/gemma4-cases.jsonl, and as the model's own tokenizer."""

import json

from loom_cli import BUILD, REPO

import loom


def cases():
    with open(REPO / "test" / "data" / "tokenizer" / "gemma4-cases.jsonl") as f:
        return [json.loads(line) for line in f if line.strip()]


def test_encode_matches_the_reference_cases():
    tokenizer = loom.tokenizer(BUILD / "data" / "gemma4-tokenizer.json")
    checked = 0
    for case in cases():
        text, ids = case["text"], case["ids"]
        assert tokenizer.encode(text).tolist() == ids, text
        checked += 1
    assert checked > 10


def test_artifact_tokenizer_is_the_models(model, artifact):
    tokenizer = loom.tokenizer(artifact)
    text = "Hello <|image|> world, ünïcödé 😀"
    assert tokenizer.encode(text, add_bos=True).tolist() == model.tokenize(text, True).tolist()
    ids = tokenizer.encode(text)
    assert tokenizer.decode(ids) == model.detokenize(ids) == text
    assert tokenizer.token_id("<turn|>") == model.token_id("<turn|>")
    assert tokenizer.token_id("no such piece") is None
