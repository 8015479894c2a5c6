"""Runs a compiled model on a prompt with an image and audio, from Python: the Python side of
scripts/demo.sh (the same prompt loom-run gets there).

    python generate.py MODEL.loom IMAGE AUDIO [--prompt TEXT] [--max-tokens N] [--seed S]
"""

import argparse
import time

import loom


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("image")
    parser.add_argument("audio")
    parser.add_argument("--prompt", default="What do you see and hear? <|image|> <|audio|>")
    parser.add_argument("--max-tokens", type=int, default=24)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    model = loom.Model(args.model)
    print(f"{args.model}: {model.info['target']['name']}, vocab {model.vocab_size}, "
          f"context {model.max_context}")
    session = model.session()
    start = time.perf_counter()
    for piece in session.generate(args.prompt, max_tokens=args.max_tokens, seed=args.seed,
                                  images=[args.image], audio=[args.audio]):
        print(piece, end="", flush=True)
    generation = session.last_generation
    print(f"\n[{len(generation.prompt_ids)} prompt tokens, {len(generation.tokens)} generated "
          f"({generation.stop_reason}) in {time.perf_counter() - start:.2f} s]")


if __name__ == "__main__":
    main()
