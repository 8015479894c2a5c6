#!/usr/bin/env python3
"""Interleaved end-to-end comparison of two artifacts (e.g. default and tuned kernels).

Runs `loom-bench --e2e` on A, then B, then A, ... for --rounds rounds (each invocation loads its
artifact afresh), and prints the median of each figure per artifact and B / A. Extra arguments
go to every loom-bench call, e.g. --prompt-tokens 512 --decode-tokens 32 --huge-pages
--e2e-threads 1, or --image photo.jpg for the image time to first token. With --batch-decode it
runs `loom-bench --batch-decode` instead and compares the batched tokens/s of each stream count
(where the short-T products run: 2-8 tokens a step).

    bench/compare_e2e.py build/bin/loom-bench default.loom tuned.loom --rounds 3 -- \
        --prompt-tokens 512 --decode-tokens 32 --warmup 1 --repetitions 1 --huge-pages
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

FIGURES = [("prefill_tokens_per_s", "prefill tok/s"), ("decode_tokens_per_s", "decode tok/s"),
           ("ttft_s", "time to first token s")]


def run(bench, artifact, extra, mode):
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as out:
        path = out.name
    try:
        subprocess.run([bench, mode, artifact, "--e2e-out", path] + extra, check=True,
                       stdout=subprocess.DEVNULL)
        with open(path) as f:
            result = json.load(f)
    finally:
        os.unlink(path)
    if mode == "--batch-decode":
        return {f"batched tok/s, {row['streams']} streams": row["batched_tokens_per_s"]
                for row in result["rows"]}
    return {name: result[key]["median"] for key, name in FIGURES
            if isinstance(result.get(key), dict)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bench")
    parser.add_argument("a")
    parser.add_argument("b")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch-decode", action="store_true",
                        help="compare loom-bench --batch-decode's batched tokens/s")
    argv = sys.argv[1:]
    split = argv.index("--") if "--" in argv else len(argv)
    args = parser.parse_args(argv[:split])
    extra = argv[split + 1:]
    mode = "--batch-decode" if args.batch_decode else "--e2e"
    runs = {args.a: [], args.b: []}
    for r in range(args.rounds):
        for artifact in (args.a, args.b):
            runs[artifact].append(run(args.bench, artifact, extra, mode))
            print(f"round {r + 1}: {os.path.basename(artifact)}: {runs[artifact][-1]}",
                  file=sys.stderr)
    print(f"| figure | {os.path.basename(args.a)} | {os.path.basename(args.b)} | B / A |")
    print("|---|---|---|---|")
    for name in runs[args.a][0]:
        a = statistics.median(r[name] for r in runs[args.a])
        b = statistics.median(r[name] for r in runs[args.b])
        print(f"| {name} | {a:.4g} | {b:.4g} | {b / a:.3f} |")


if __name__ == "__main__":
    main()
