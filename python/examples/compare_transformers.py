#!/usr/bin/env python3
"""Compare Loom's logits with Hugging Face transformers' on the same prompt, position by position.

    python compare_transformers.py CHECKPOINT_DIR [--artifact MODEL.loom | --quant f32]
        [--prompt TEXT] [--image PATH]... [--audio PATH]... [--tokens N] [--tolerance T]

Without --artifact the checkpoint is compiled with ``loom.compile`` (``--quant``, default f32)
into a temporary folder. The prompt is one user turn in Gemma 4's chat format, media first
(images, then audio), then the text. The same token ids go through Loom (one prefill with every
position's logits, then ``--tokens`` decode steps) and through transformers (the class named by
config.json's ``architectures``, float32, eager attention, CPU, one forward pass then the same
steps through its KV cache). Each decode step feeds both the transformers argmax, so that the
rows stay comparable even where the two disagree.

Per position and overall it reports the largest absolute logit difference, that difference over
the row's logit range (max - min of the transformers row), KL(HF || Loom) in float64 and whether
the top-1 tokens agree. It exits with 1 when the top-1 agreement is under ``--min-agreement``
(default 1.0) or the relative difference is over ``--tolerance``. The defaults are for f32
artifacts (and bf16 ones of a bf16 checkpoint, whose weights they keep exactly). A q8, q4g32 or
q4g128 artifact differs from the float32 reference by its quantization error, and near-ties flip:
give it a looser --tolerance and a lower --min-agreement, sized to the model (on loom-model's tiny
random-weight checkpoint q8 reaches a relative 4e-2 and q4g32 3e-1; a real model's are smaller).

Media are prepared for transformers as tools/golden/make_goldens.py does: the gemma4_unified image
processor and audio feature extractor with their defaults (which is what Loom's runtime
implements), and the attention mask of the official vision semantics (image tokens attend to their
whole image on sliding layers only), which Loom implements and transformers builds in
``create_masks_for_generate``; its plain forward would make them bidirectional on every layer.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import transformers
from tokenizers import Tokenizer

import loom

# Gemma 4's chat format for one user turn and the model's reply (what make_goldens.py feeds).
PROMPT_TEMPLATE = "<bos><|turn>user\n{user}<turn|>\n<|turn>model\n"
# mm_token_type_ids as the transformers processor sets them: which soft tokens belong to media
# (2 is video, which this script does not take).
MM_TYPE_IMAGE, MM_TYPE_AUDIO = 1, 3


@dataclass
class RowStats:
    """How one position's logits compare."""

    position: int
    token: int  # the token fed at this position
    kind: str  # "prompt", "image", "audio" (a soft token) or "decode"
    max_abs: float
    relative: float  # max_abs / (max - min of the transformers row)
    kl: float  # KL(HF || Loom) in nats
    hf_top1: int
    loom_top1: int
    hf_margin: float  # transformers' top-1 minus top-2 logit: how close a tie is


def log_softmax(x: np.ndarray) -> np.ndarray:
    """log softmax of one row, the maximum subtracted first so that exp cannot overflow."""
    shifted = x - x.max()
    return shifted - np.log(np.exp(shifted).sum())


def compare_row(hf: np.ndarray, ours: np.ndarray, position: int, token: int,
                kind: str) -> RowStats:
    """Compares two float32 logit rows in float64."""
    hf64, ours64 = hf.astype(np.float64), ours.astype(np.float64)
    max_abs = float(np.abs(hf64 - ours64).max())
    log_p, log_q = log_softmax(hf64), log_softmax(ours64)
    top2 = np.partition(hf64, -2)[-2:]
    return RowStats(position=position, token=token, kind=kind, max_abs=max_abs,
                    relative=max_abs / float(hf64.max() - hf64.min()),
                    kl=float(np.sum(np.exp(log_p) * (log_p - log_q))),
                    hf_top1=int(hf64.argmax()), loom_top1=int(ours64.argmax()),
                    hf_margin=float(top2[1] - top2[0]))


def hf_media_inputs(images: list[str], audio: list[str],
                    image_budget: int) -> tuple[str, dict[str, torch.Tensor]]:
    """The media runs of the user turn and transformers' inputs for them.

    Each medium's run length comes from the transformers processor; Loom prepares the same files
    itself and refuses a run of another length, so the lengths are checked too."""
    runs = ""
    inputs: dict[str, torch.Tensor] = {}
    if images:
        from transformers.image_utils import load_image
        processed = transformers.Gemma4UnifiedImageProcessor()(
            images=[load_image(path) for path in images], max_soft_tokens=image_budget,
            return_tensors="pt")
        for count in processed["num_soft_tokens_per_image"]:
            runs += "<|image>" + "<|image|>" * int(count) + "<image|>"
        inputs["pixel_values"] = processed["pixel_values"].float()
        inputs["image_position_ids"] = processed["image_position_ids"].long()
    if audio:
        from transformers.audio_utils import load_audio
        extractor = transformers.Gemma4UnifiedAudioFeatureExtractor()
        # soundfile + soxr: the decoder and resampler Loom matches bit for bit (tools/golden).
        waveforms = [load_audio(path, sampling_rate=extractor.sampling_rate, backend="soundfile")
                     for path in audio]
        features = extractor(waveforms, return_tensors="pt")
        for mask in features["input_features_mask"]:
            runs += "<|audio>" + "<|audio|>" * int(mask.sum()) + "<audio|>"
        inputs["input_features"] = features["input_features"].float()
        inputs["input_features_mask"] = features["input_features_mask"]
    return runs, inputs


def mm_token_types(ids: list[int], config: Any) -> torch.Tensor:
    """mm_token_type_ids for a prompt, from the soft-token ids config.json names."""
    ids_tensor = torch.tensor([ids])
    types = torch.zeros_like(ids_tensor)
    types[ids_tensor == config.image_token_id] = MM_TYPE_IMAGE
    types[ids_tensor == config.audio_token_id] = MM_TYPE_AUDIO
    return types


def load_hf_model(checkpoint: Path) -> torch.nn.Module:
    """The checkpoint in float32 with eager attention, refusing one that does not load whole
    (transformers would initialize missing weights at random and the comparison would mean
    nothing)."""
    config = transformers.AutoConfig.from_pretrained(checkpoint)
    architecture = (config.architectures or ["AutoModelForCausalLM"])[0]
    model_class = getattr(transformers, architecture)
    model, loading = model_class.from_pretrained(checkpoint, dtype=torch.float32,
                                                 attn_implementation="eager",
                                                 output_loading_info=True)
    problems = {key: value for key, value in loading.items() if value}
    if problems:
        sys.exit(f"transformers did not load {checkpoint} whole: {problems}")
    return model.eval()


@torch.no_grad()
def run_hf(model: torch.nn.Module, ids: list[int], media: dict[str, torch.Tensor],
           decode_steps: int) -> tuple[np.ndarray, list[int]]:
    """The prompt in one forward pass, then greedy steps through the KV cache: every row of
    logits and the tokens fed at the steps (each the previous row's argmax)."""
    cache = transformers.DynamicCache(config=model.config)
    kwargs: dict[str, Any] = dict(media)
    if media:
        types = mm_token_types(ids, model.config)
        kwargs["mm_token_type_ids"] = types
        # The official vision mask, as Loom applies it (see the module docstring).
        kwargs["attention_mask"] = model.create_masks_for_generate(
            config=model.config, inputs_embeds=torch.empty((1, len(ids), 0)),
            attention_mask=None, past_key_values=cache,
            position_ids=torch.arange(len(ids))[None], mm_token_type_ids=types)
    logits = model(input_ids=torch.tensor([ids]), past_key_values=cache, use_cache=True,
                   **kwargs).logits[0]
    rows = [logits.numpy()]
    fed: list[int] = []
    for _ in range(decode_steps):
        fed.append(int(rows[-1][-1].argmax()))
        step = model(input_ids=torch.tensor([[fed[-1]]]), past_key_values=cache, use_cache=True)
        rows.append(step.logits[0].numpy())
    return np.concatenate(rows), fed


def run_loom(artifact: Path, ids: list[int], images: list[str], audio: list[str],
             image_budget: int, fed: list[int], threads: int) -> np.ndarray:
    """The same prompt in one prefill with every position's logits, then the same tokens."""
    model = loom.Model(artifact, threads=threads)
    session = model.session(max_context=len(ids) + len(fed))
    prompt_images = [loom.media.image(path, token_budget=image_budget) for path in images]
    rows = [session.prefill(ids, images=prompt_images, audio=audio, all_logits=True)]
    rows += [session.step(token)[None] for token in fed]
    return np.concatenate(rows)


def row_kind(token: int, config: Any) -> str:
    """What a prompt position holds: an image or audio soft token, or text."""
    return {config.image_token_id: "image", config.audio_token_id: "audio"}.get(token, "prompt")


def report(stats: list[RowStats], tolerance: float, min_agreement: float,
           as_json: bool) -> bool:
    """Prints the table and the summary; returns whether the comparison passed."""
    agreement = sum(s.hf_top1 == s.loom_top1 for s in stats) / len(stats)
    worst = max(stats, key=lambda s: s.relative)
    summary = {
        "positions": len(stats),
        "max_abs": max(s.max_abs for s in stats),
        "max_relative": worst.relative,
        "max_relative_position": worst.position,
        "mean_kl": float(np.mean([s.kl for s in stats])),
        "max_kl": max(s.kl for s in stats),
        "top1_agreement": agreement,
        "tolerance": tolerance,
        "min_agreement": min_agreement,
    }
    passed = agreement >= min_agreement and worst.relative <= tolerance
    summary["passed"] = passed
    if as_json:
        print(json.dumps({"rows": [vars(s) for s in stats], "summary": summary}, indent=1))
        return passed
    print(f"{'pos':>5} {'kind':<6} {'token':>7} {'max_abs':>10} {'relative':>10} "
          f"{'KL(hf||loom)':>12} {'hf_top1':>8} {'loom_top1':>9}")
    for s in stats:
        mark = "" if s.hf_top1 == s.loom_top1 else f"  <- differs (hf margin {s.hf_margin:.3g})"
        print(f"{s.position:>5} {s.kind:<6} {s.token:>7} {s.max_abs:>10.3e} {s.relative:>10.3e} "
              f"{s.kl:>12.3e} {s.hf_top1:>8} {s.loom_top1:>9}{mark}")
    print(f"positions:       {summary['positions']}")
    print(f"max abs error:   {summary['max_abs']:.3e}")
    print(f"max relative:    {summary['max_relative']:.3e} (position "
          f"{summary['max_relative_position']}; tolerance {tolerance:g})")
    print(f"KL(HF || Loom):  mean {summary['mean_kl']:.3e}, max {summary['max_kl']:.3e} nats")
    print(f"top-1 agreement: {agreement:.4f} (at least {min_agreement:g} wanted)")
    print("PASS" if passed else "FAIL")
    return passed


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint", type=Path,
                        help="Hugging Face checkpoint folder (config.json, safetensors, "
                             "tokenizer.json)")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--artifact", type=Path,
                        help="a .loom compiled from the checkpoint (default: compile it now)")
    source.add_argument("--quant", default="f32",
                        help="quantization when compiling: f32 (default), bf16, q8, q4g32, q4g128")
    parser.add_argument("--target", default="host", help="compile target (default host)")
    parser.add_argument("--prompt", default="What is the capital of France?",
                        help="the user turn's text")
    parser.add_argument("--image", action="append", default=[], metavar="PATH",
                        help="an image before the text (repeatable)")
    parser.add_argument("--image-budget", type=int, default=280,
                        help="soft tokens per image: 70, 140, 280 (default), 560 or 1120")
    parser.add_argument("--audio", action="append", default=[], metavar="PATH",
                        help="an audio file before the text, after the images (repeatable)")
    parser.add_argument("--tokens", type=int, default=8,
                        help="greedy decode steps compared after the prompt (default 8)")
    parser.add_argument("--tolerance", type=float, default=1e-3,
                        help="largest max_abs / logit range accepted (default 1e-3, for f32; "
                             "loosen it for quantized artifacts)")
    parser.add_argument("--min-agreement", type=float, default=1.0,
                        help="smallest top-1 agreement accepted (default 1.0)")
    parser.add_argument("--threads", type=int, default=0,
                        help="Loom's kernel threads and torch's threads (default 0: each "
                             "library's default)")
    parser.add_argument("--json", action="store_true", help="print rows and summary as JSON")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    log = (lambda *a: print(*a, file=sys.stderr)) if args.json else print
    transformers.utils.logging.disable_progress_bar()  # the weight-loading bar, on stderr
    hf_model = load_hf_model(args.checkpoint)
    runs, media = hf_media_inputs(args.image, args.audio, args.image_budget)
    prompt_text = PROMPT_TEMPLATE.format(user=runs + args.prompt)
    try:
        with tempfile.TemporaryDirectory(prefix="loom-compare-") as scratch:
            artifact = args.artifact
            if artifact is None:
                artifact = Path(scratch) / "model.loom"
                started = time.perf_counter()
                loom.compile(args.checkpoint, artifact, target=args.target, quant=args.quant)
                log(f"compiled {args.checkpoint} ({args.quant}, {args.target}) in "
                    f"{time.perf_counter() - started:.1f} s")
            # One tokenization for both sides; the checkpoint's tokenizer.json must agree with it.
            ids = loom.tokenizer(artifact).encode(prompt_text).tolist()
            hf_ids = Tokenizer.from_file(str(args.checkpoint / "tokenizer.json")).encode(
                prompt_text, add_special_tokens=False).ids
            if hf_ids != ids:
                sys.exit(f"the tokenizers disagree on the prompt: Loom {ids} vs tokenizer.json "
                         f"{hf_ids}")
            log(f"prompt: {len(ids)} tokens ({len(args.image)} image(s), {len(args.audio)} "
                f"audio), {args.tokens} decode steps")
            hf_rows, fed = run_hf(hf_model, ids, media, args.tokens)
            loom_rows = run_loom(artifact, ids, args.image, args.audio, args.image_budget, fed,
                                 args.threads)
    except loom.LoomError as error:
        sys.exit(f"loom: {error}")
    fed_tokens = ids + fed
    stats = [compare_row(hf_rows[i], loom_rows[i], i, fed_tokens[i],
                         "decode" if i >= len(ids) else row_kind(fed_tokens[i], hf_model.config))
             for i in range(len(fed_tokens))]
    return 0 if report(stats, args.tolerance, args.min_agreement, args.json) else 1


if __name__ == "__main__":
    sys.exit(main())
