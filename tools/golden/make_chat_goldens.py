#!/usr/bin/env python3
"""Chat-template goldens for Loom's ChatTemplate (runtime/core).

Renders a few conversations with Hugging Face's `apply_chat_template` (transformers, the venv of
tools/golden/README.md) using test/data/chat/gemma4_chat_template.jinja, the text/media part of
Gemma 4's chat_template.jinja, and the real Gemma 4 tokenizer.json; writes each case's messages,
options, the rendered text and its token ids to test/data/chat/gemma4_chat_goldens.json.
Loom's ChatTemplateTest renders the same conversations in C++ and compares (no Python in CI).

Usage (from the repository root):
    /opt/golden-venv/bin/python tools/golden/make_chat_goldens.py \
        --tokenizer build/data/gemma4-tokenizer.json --out test/data/chat/gemma4_chat_goldens.json
"""

import argparse
import json
import os

from transformers import PreTrainedTokenizerFast

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
TEMPLATE = os.path.join(REPO_ROOT, "test/data/chat/gemma4_chat_template.jinja")


def text(t):
    return {"type": "text", "text": t}


CASES = [
    dict(name="user_only", thinking=False,
         messages=[{"role": "user", "content": "What is the capital of France?"}]),
    dict(name="user_only_thinking", thinking=True,
         messages=[{"role": "user", "content": "What is the capital of France?"}]),
    dict(name="system_user", thinking=False,
         messages=[{"role": "system", "content": "  You are a terse assistant.\n"},
                   {"role": "user", "content": "\tHello there!  \n"}]),
    dict(name="system_user_thinking", thinking=True,
         messages=[{"role": "system", "content": "You are a terse assistant."},
                   {"role": "user", "content": "Why is the sky blue?"}]),
    dict(name="multi_turn", thinking=False,
         messages=[{"role": "system", "content": "Answer in one word."},
                   {"role": "user", "content": "Capital of France?"},
                   {"role": "assistant", "content": " Paris \n"},
                   {"role": "user", "content": "And of Italy?"}]),
    dict(name="multi_turn_strip_thinking", thinking=True,
         messages=[{"role": "user", "content": "2+2?"},
                   {"role": "assistant",
                    "content": "<|channel>thought\nsimple sum<channel|>The answer is 4."},
                   {"role": "user", "content": "Times 3?"}]),
    dict(name="media_items", thinking=False,
         messages=[{"role": "user", "content": [
             {"type": "image"}, text("Describe this image "), {"type": "audio"},
             text("  and this sound."), {"type": "video"}]}]),
    dict(name="media_markers_in_text", thinking=False,
         messages=[{"role": "user", "content": "Compare <|image|> with <|image|>, then <|audio|>."}]),
    dict(name="no_generation_prompt", thinking=False, add_generation_prompt=False,
         messages=[{"role": "user", "content": "Hi"},
                   {"role": "assistant", "content": "Hello!"}]),
    dict(name="unicode", thinking=False,
         messages=[{"role": "user", "content": "\u00a0Grüß Gott, 世界! 🙂\u3000"}]),
]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--tokenizer", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    tok = PreTrainedTokenizerFast(tokenizer_file=args.tokenizer, bos_token="<bos>")
    with open(TEMPLATE, encoding="utf-8") as f:
        template = f.read()
    out = []
    for case in CASES:
        add_prompt = case.get("add_generation_prompt", True)
        rendered = tok.apply_chat_template(
            case["messages"], chat_template=template, tokenize=False,
            add_generation_prompt=add_prompt, enable_thinking=case["thinking"])
        # The template writes <bos> itself, so the tokenizer adds no special tokens.
        ids = tok(rendered, add_special_tokens=False)["input_ids"]
        out.append(dict(name=case["name"], thinking=case["thinking"],
                        add_generation_prompt=add_prompt, messages=case["messages"],
                        text=rendered, ids=ids))
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump({"generator": "tools/golden/make_chat_goldens.py",
                   "template": "test/data/chat/gemma4_chat_template.jinja",
                   "cases": out}, f, ensure_ascii=False, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
