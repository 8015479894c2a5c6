#!/usr/bin/env python3
"""Perplexity of a text file under a compiled Loom model, with sliding windows.

    python perplexity.py MODEL.loom TEXTFILE [--context N] [--stride S] [--threads T]
                         [--max-tokens N] [--json]

The text is tokenized with <bos> prepended. Every token after <bos> is scored exactly once: its
negative log-likelihood given the tokens before it that fit in the window. This is Hugging Face's
strided perplexity recipe (https://huggingface.co/docs/transformers/perplexity): windows of
``--context`` tokens start every ``--stride`` tokens, each on a fresh KV cache, and only the
predictions not made by an earlier window are scored, so that each one sees at least
``context - stride`` tokens of context (fewer at the start of the text). As in that recipe, a window
after the first starts mid-text, without <bos>.

Log-probabilities are taken in float64 from the float32 logits.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import asdict, dataclass

import numpy as np

import loom

# Rows of logits per prefill call: all_logits returns (rows, vocab) float32, 1 MiB a row for a
# 262144-token vocabulary, and the float64 log-softmax doubles it, so windows go in chunks.
CHUNK_ROWS = 64


@dataclass
class Result:
    """What one evaluation measured."""

    tokens: int  # tokens in the text, <bos> included
    scored: int  # predictions scored: every token after <bos>
    windows: int
    context: int
    stride: int
    mean_nll: float  # nats per scored token
    perplexity: float
    seconds: float


def token_nll(logits: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Negative log-likelihood of ``targets[i]`` under ``logits[i]``, in float64.

    log p = x - logsumexp(x), with the row maximum subtracted before exp so that nothing overflows.
    """
    x = logits.astype(np.float64)
    row_max = x.max(axis=1, keepdims=True)
    log_sum = np.log(np.exp(x - row_max).sum(axis=1)) + row_max[:, 0]
    return log_sum - x[np.arange(len(targets)), targets]


def evaluate(model: loom.Model, ids: np.ndarray, context: int, stride: int) -> Result:
    """Scores ``ids[1:]`` with windows of ``context`` tokens every ``stride`` tokens.

    The logits at position p predict token p + 1, so a window fed ``ids[begin:end]`` scores
    tokens begin + 1 .. end; the last token is never fed, since it predicts nothing."""
    started = time.perf_counter()
    session = model.session(max_context=context)
    last = len(ids) - 1  # positions that predict a token: 0 .. last - 1
    total_nll = 0.0
    scored_to = 0  # predictions from positions below this are already scored
    windows = 0
    for begin in range(0, last, stride):
        end = min(begin + context, last)
        session.reset()
        windows += 1
        if scored_to > begin:
            # Context only: its predictions were scored by the previous window, so only the
            # KV cache is wanted (all_logits=False computes the last row's logits alone).
            session.prefill(ids[begin:scored_to])
        for start in range(max(begin, scored_to), end, CHUNK_ROWS):
            stop = min(start + CHUNK_ROWS, end)
            logits = session.prefill(ids[start:stop], all_logits=True)
            total_nll += float(token_nll(logits, ids[start + 1:stop + 1]).sum())
        scored_to = end
        if end == last:
            break
    mean_nll = total_nll / last
    return Result(tokens=len(ids), scored=last, windows=windows, context=context, stride=stride,
                  mean_nll=mean_nll, perplexity=math.exp(mean_nll),
                  seconds=time.perf_counter() - started)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", help="a compiled .loom artifact")
    parser.add_argument("textfile", help="UTF-8 text to score")
    parser.add_argument("--context", type=int, default=1024,
                        help="window length in tokens (default 1024; at most the artifact's "
                             "max context)")
    parser.add_argument("--stride", type=int, default=None,
                        help="tokens between window starts (default context / 2; equal to "
                             "--context for non-overlapping windows)")
    parser.add_argument("--threads", type=int, default=0,
                        help="kernel threads (default 0: the runtime's default)")
    parser.add_argument("--max-tokens", type=int, default=None,
                        help="score only the first N tokens of the text (<bos> included)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)
    if args.stride is None:
        args.stride = max(1, args.context // 2)
    if args.context < 1 or not 1 <= args.stride <= args.context:
        parser.error("need --context >= 1 and 1 <= --stride <= --context")
    if args.max_tokens is not None and args.max_tokens < 2:
        parser.error("--max-tokens must be at least 2 (<bos> and one token to score)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with open(args.textfile, encoding="utf-8") as f:
        text = f.read()
    try:
        model = loom.Model(args.model, threads=args.threads)
        if args.context > model.max_context:
            sys.exit(f"--context {args.context} is over the artifact's max context "
                     f"{model.max_context}")
        ids = model.tokenize(text, add_bos=True)[:args.max_tokens]
        if len(ids) < 2:
            sys.exit(f"{args.textfile}: no tokens to score")
        result = evaluate(model, ids, args.context, args.stride)
    except loom.LoomError as error:
        sys.exit(f"loom: {error}")
    if args.json:
        print(json.dumps(asdict(result), indent=2))
    else:
        print(f"tokens:     {result.tokens} (<bos> included), {result.scored} scored in "
              f"{result.windows} window(s) of {result.context}, stride {result.stride}")
        print(f"mean NLL:   {result.mean_nll:.6f} nats/token")
        print(f"perplexity: {result.perplexity:.4f}")
        print(f"time:       {result.seconds:.2f} s "
              f"({result.scored / result.seconds:.1f} tokens/s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
