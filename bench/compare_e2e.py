#!/usr/bin/env python3
"""Interleaved end-to-end comparison of two artifacts (e.g. default and tuned kernels).

Runs `loom-bench --e2e` on A, then B, then A, ... for --rounds rounds (each invocation loads its
artifact afresh), and prints the median of each figure per artifact and B / A. Extra arguments
go to every loom-bench call, e.g. --prompt-tokens 512 --decode-tokens 32 --huge-pages
--e2e-threads 1, or --image photo.jpg for the image time to first token.

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


def run(bench, artifact, extra):
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as out:
        path = out.name
    try:
        subprocess.run([bench, "--e2e", artifact, "--e2e-out", path] + extra, check=True,
                       stdout=subprocess.DEVNULL)
        with open(path) as f:
            result = json.load(f)
    finally:
        os.unlink(path)
    return {key: result[key]["median"] for key, _ in FIGURES
            if isinstance(result.get(key), dict)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bench")
    parser.add_argument("a")
    parser.add_argument("b")
    parser.add_argument("--rounds", type=int, default=3)
    argv = sys.argv[1:]
    split = argv.index("--") if "--" in argv else len(argv)
    args = parser.parse_args(argv[:split])
    extra = argv[split + 1:]
    runs = {args.a: [], args.b: []}
    for r in range(args.rounds):
        for artifact in (args.a, args.b):
            runs[artifact].append(run(args.bench, artifact, extra))
            print(f"round {r + 1}: {os.path.basename(artifact)}: {runs[artifact][-1]}",
                  file=sys.stderr)
    print(f"| figure | {os.path.basename(args.a)} | {os.path.basename(args.b)} | B / A |")
    print("|---|---|---|---|")
    for key, name in FIGURES:
        if key not in runs[args.a][0]:
            continue
        a = statistics.median(r[key] for r in runs[args.a])
        b = statistics.median(r[key] for r in runs[args.b])
        print(f"| {name} | {a:.4g} | {b:.4g} | {b / a:.3f} |")


if __name__ == "__main__":
    main()
