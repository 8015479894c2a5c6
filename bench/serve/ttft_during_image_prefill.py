#!/usr/bin/env python3
"""Time to first token of a short chat request through loom-serve, alone and while another
request's image prompt is being prefilled (an image's soft-token run goes in one prefill call;
the engine gives the others rounds between its kernel dispatches), and what that costs the
image request. Medians over --repetitions, both cases interleaved in one run.

    bench/serve/ttft_during_image_prefill.py MODEL.loom IMAGE [--repetitions 5] [--threads 2]
        [--prefill-chunk 256] [--loom-serve build/bin/loom-serve]
"""

import argparse
import base64
import re
import statistics
import subprocess
import threading
import time

import openai


def first_token_seconds(client, messages):
    start = time.perf_counter()
    for chunk in client.chat.completions.create(model="m", stream=True, max_tokens=2,
                                                temperature=0, messages=messages):
        if chunk.choices and chunk.choices[0].delta.content:
            return time.perf_counter() - start
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("image")
    parser.add_argument("--repetitions", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--prefill-chunk", type=int, default=256)
    parser.add_argument("--loom-serve", default="build/bin/loom-serve")
    args = parser.parse_args()

    server = subprocess.Popen([args.loom_serve, args.model, "--port", "0", "--parallel", "2",
                               "--threads", str(args.threads), "--model-name", "m",
                               "--prefill-chunk", str(args.prefill_chunk)],
                              stdout=subprocess.PIPE, text=True)
    url = re.search(r"http://[0-9.:]+", server.stdout.readline()).group(0)
    client = openai.OpenAI(base_url=url + "/v1", api_key="x", max_retries=0, timeout=3600)
    short = [{"role": "user", "content": "Hi"}]
    image_url = "data:image/png;base64," + base64.b64encode(open(args.image, "rb").read()).decode()
    with_image = [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": image_url}},
                                               {"type": "text", "text": "Describe it"}]}]
    try:
        first_token_seconds(client, short)  # warm-up
        image_alone = first_token_seconds(client, with_image)
        alone, during, image_during = [], [], []
        for _ in range(args.repetitions):
            alone.append(first_token_seconds(client, short))
            background = threading.Thread(
                target=lambda: image_during.append(first_token_seconds(client, with_image)))
            background.start()
            time.sleep(0.05)  # the image request is admitted and its prefill under way
            during.append(first_token_seconds(client, short))
            background.join()
        a, d = statistics.median(alone), statistics.median(during)
        print(f"loom-serve TTFT, {args.model}, {args.threads} threads, prefill chunk {args.prefill_chunk}:")
        print(f"  image request alone:            {image_alone:8.3f} s")
        print(f"  short request alone:            {a:8.3f} s (median of {args.repetitions})")
        print(f"  short request during its prefill: {d:8.3f} s ({d / a:.1f}x)")
        print(f"  image request with the short one: {statistics.median(image_during):8.3f} s")
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
