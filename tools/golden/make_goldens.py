#!/usr/bin/env python3
"""Independent Hugging Face reference goldens for Loom.

Loads Loom's synthetic checkpoints (written by `loom-model make ...`) into
transformers' Gemma4UnifiedForConditionalGeneration (float32, eager attention),
runs prefill + 8 greedy KV-cache decode steps per case, and writes JSON goldens
that Loom's C++ tests compare against (no Python needed at test time).

Usage (from the repository root):
    /opt/golden-venv/bin/python tools/golden/make_goldens.py \
        --models /work/models --out test/golden/data

--models holds tiny/, tiny-w8/ and tiny-varied/ (tools/golden/README.md).

See tools/golden/README.md. CI does not run this script; its output is checked in.
"""

import argparse
import hashlib
import json
import math
import os
import sys
import wave

import numpy as np
import torch

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
MEDIA_IMAGE = "test/data/media/coffee_144x96.png"
MEDIA_IMAGE_2 = "test/data/media/chelsea.png"
# The image goes through the HF image processor (resize included) at this soft-token budget;
# loom-run gets the same budget through --image-budget (recorded in the case file).
IMAGE_BUDGET = 70
MEDIA_AUDIO = "test/data/media/hello_16k.wav"

# Fixed special-token table (docs MODEL.md section 5). Prompts are built by splitting
# the prompt string on these strings and encoding the text between them with the
# checkpoint's tokenizer.json, which is what Loom's C++ tokenizer does too.
SPECIAL_TOKENS = {
    "<bos>": 2,
    "<|turn>": 105,
    "<turn|>": 106,
    "<|image>": 255999,
    "<|audio>": 256000,
    "<|image|>": 258880,
    "<|audio|>": 258881,
    "<image|>": 258882,
    "<audio|>": 258883,
    "<|video|>": 258884,
}
IMAGE_TOKEN, AUDIO_TOKEN, VIDEO_TOKEN = 258880, 258881, 258884

MODEL_PATCH = 48          # 16 px patches merged 3x3
AUDIO_SAMPLES_PER_TOKEN = 640
NUM_DECODE_STEPS = 8      # -> P + 8 logit rows, 9 greedy tokens
MAX_TOKENS = NUM_DECODE_STEPS + 1
NUM_COLUMNS = 256
NUM_COLUMNS_COMPACT = 64  # cases with many rows (image2): the checked-in file stays small

VARIED_CONFIG = "test/data/configs/tiny-varied/config.json"  # written by make_configs.py

CASES = [
    # name, model dir, loom-model args, user text, media
    dict(name="text", model="tiny", args="make --preset tiny --seed 1",
         text="What is the capital of France?", images=[], audio=False),
    dict(name="image", model="tiny", args="make --preset tiny --seed 1",
         text="Describe the image.", images=[MEDIA_IMAGE], audio=False, vision_mask="sliding_only"),
    dict(name="image_hfcompat", model="tiny", args="make --preset tiny --seed 1",
         text="Describe the image.", images=[MEDIA_IMAGE], audio=False, vision_mask="all_layers"),
    dict(name="audio", model="tiny", args="make --preset tiny --seed 1",
         text="Transcribe this audio.", images=[], audio=True),
    dict(name="window", model="tiny-w8", args="make --preset tiny --seed 1 --window 8",
         text=("Once upon a time, in a quiet village near a wide river, there lived a little cat "
               "who loved to watch the boats drift slowly past the old stone bridge every morning."),
         images=[], audio=False),
    # Two images, each longer than the 24-token window, on a model of other shapes (issue 18);
    # also run in float64 to record how far float32 itself is from it (summary only).
    dict(name="image2", model="tiny-varied", args=f"make --config {VARIED_CONFIG} --seed 1",
         text="Compare the two images.", images=[MEDIA_IMAGE, MEDIA_IMAGE_2], audio=False,
         vision_mask="sliding_only", columns=NUM_COLUMNS_COMPACT, float64_check=True),
]

# What each model's config must resolve to in transformers: text_config fields, and per layer
# (head_dim, num_key_value_heads, has v_proj).
EXPECTED_MODELS = {
    "tiny": (dict(hidden_size=64, num_hidden_layers=4, num_attention_heads=4, vocab_size=262144,
                  attention_k_eq_v=True, final_logit_softcapping=30.0,
                  layer_types=["sliding_attention"] * 3 + ["full_attention"]),
             [(16, 2, True)] * 3 + [(32, 1, False)]),
    "tiny-varied": (dict(hidden_size=160, num_hidden_layers=4, num_attention_heads=5, vocab_size=262144,
                         attention_k_eq_v=False, final_logit_softcapping=None, sliding_window=24,
                         rms_norm_eps=1e-5, layer_types=["sliding_attention", "full_attention"] * 2),
                    [(48, 1, True), (80, 1, True)] * 2),
}
EXPECTED_MODELS["tiny-w8"] = EXPECTED_MODELS["tiny"]


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# --------------------------------------------------------------------------------------
# Preprocessing: exactly what Loom's runtime does for already-sized inputs (no resize).
# --------------------------------------------------------------------------------------

def load_image_u8(path):
    from PIL import Image
    with Image.open(path) as im:
        if im.mode != "RGB":
            raise SystemExit(f"{path}: expected an RGB image, got mode {im.mode}")
        return np.asarray(im, dtype=np.uint8).copy()  # [H, W, 3]


def loom_image_patches(rgb_u8, recip=False):
    """pixels/255 (float32); 48x48 blocks in raster order, each flattened (row, col, channel),
    channel fastest -> [N, 6912]; positions (x=col, y=row) -> [N, 2]."""
    h, w, c = rgb_u8.shape
    assert c == 3 and h % MODEL_PATCH == 0 and w % MODEL_PATCH == 0, (h, w, c)
    gh, gw = h // MODEL_PATCH, w // MODEL_PATCH
    if recip:  # HF image processor's rescale: x * float32(1/255)
        px = rgb_u8.astype(np.float32) * np.float32(1.0 / 255.0)
    else:      # Loom: x / 255
        px = rgb_u8.astype(np.float32) / np.float32(255.0)
    patches = px.reshape(gh, MODEL_PATCH, gw, MODEL_PATCH, 3).transpose(0, 2, 1, 3, 4)
    patches = np.ascontiguousarray(patches.reshape(gh * gw, MODEL_PATCH * MODEL_PATCH * 3))
    pos = np.array([(x, y) for y in range(gh) for x in range(gw)], dtype=np.int64)
    return patches, pos


def load_wav_s16_mono_16k(path):
    with wave.open(path, "rb") as wf:
        assert wf.getnchannels() == 1, "mono expected"
        assert wf.getsampwidth() == 2, "16-bit PCM expected"
        assert wf.getframerate() == 16000, "16 kHz expected"
        raw = wf.readframes(wf.getnframes())
    return np.frombuffer(raw, dtype="<i2").copy()


def loom_audio_frames(samples_i16):
    """int16 / 32768.0 (libsndfile's normalisation), zero-padded at the end to a multiple of
    640, frames [n, 640], n = ceil(samples / 640)."""
    wav = samples_i16.astype(np.float32) / np.float32(32768.0)
    n = math.ceil(len(wav) / AUDIO_SAMPLES_PER_TOKEN)
    out = np.zeros(n * AUDIO_SAMPLES_PER_TOKEN, dtype=np.float32)
    out[: len(wav)] = wav
    return out.reshape(n, AUDIO_SAMPLES_PER_TOKEN), wav


def crosscheck_image(rgb_u8, patches, pos):
    """Compare with the HF image processor (no resize) and its patchify/merge helpers."""
    from transformers.models.gemma4_unified.image_processing_gemma4_unified import (
        Gemma4UnifiedImageProcessor, convert_image_to_patches, patches_merge)
    from PIL import Image
    n = patches.shape[0]
    res = {}
    # (1) the helpers on our exact float32 pixels
    chw = torch.from_numpy(rgb_u8.astype(np.float32) / np.float32(255.0)).permute(2, 0, 1).contiguous()
    teacher = convert_image_to_patches(chw, 16)
    ph, pw = chw.shape[1] // 16, chw.shape[2] // 16
    gx, gy = torch.meshgrid(torch.arange(pw), torch.arange(ph), indexing="xy")
    tpos = torch.stack((gx, gy), dim=-1).reshape(-1, 2)
    merged, mpos = patches_merge(teacher[None], tpos[None], n)
    res["helpers_pixels_equal"] = bool(torch.equal(merged[0], torch.from_numpy(patches)))
    res["helpers_positions_equal"] = bool(torch.equal(mpos[0], torch.from_numpy(pos)))
    # (2) the full processor, do_resize=False (no supported budget keeps 144x96: the
    #     aspect-preserving resize always rescales to the budget, up-sampling included)
    proc = Gemma4UnifiedImageProcessor()
    out = proc(images=[Image.fromarray(rgb_u8)], do_resize=False, max_soft_tokens=70, return_tensors="pt")
    pv, pp = out["pixel_values"][0], out["image_position_ids"][0]
    res["processor_num_soft_tokens"] = int(out["num_soft_tokens_per_image"][0])
    res["processor_pixels_equal"] = bool(torch.equal(pv[:n].float(), torch.from_numpy(patches)))
    res["processor_pixels_maxabs"] = float((pv[:n].float() - torch.from_numpy(patches)).abs().max())
    res["processor_pixels_num_differing"] = int((pv[:n].float() != torch.from_numpy(patches)).sum())
    # HF rescales as u8 * float32(1/255); Loom divides by 255. They differ by <= 1 ulp.
    res["processor_pixels_equal_to_u8_times_f32_recip255"] = bool(torch.equal(
        pv[:n].float(), torch.from_numpy(loom_image_patches(rgb_u8, recip=True)[0])))
    res["processor_positions_equal"] = bool(torch.equal(pp[:n].long(), torch.from_numpy(pos)))
    res["processor_padding_ok"] = bool((pp[n:] == -1).all() and (pv[n:] == 0).all())
    # (3) what the processor would do by default (resize to the 280-token budget)
    out_def = proc(images=[Image.fromarray(rgb_u8)], return_tensors="pt")
    res["processor_default_num_soft_tokens"] = int(out_def["num_soft_tokens_per_image"][0])
    return res, out  # processor output is reused for an end-to-end padded-input check


def processed_image(*paths):
    """The HF image processor's output for files (one batch, each image padded to the budget with
    position -1), exactly as a user of transformers gets it."""
    from transformers.image_utils import load_image
    from transformers.models.gemma4_unified.image_processing_gemma4_unified import (
        Gemma4UnifiedImageProcessor)
    return Gemma4UnifiedImageProcessor()(images=[load_image(p) for p in paths],
                                         max_soft_tokens=IMAGE_BUDGET, return_tensors="pt")


def crosscheck_audio(wav_f32, frames):
    from transformers.models.gemma4_unified.feature_extraction_gemma4_unified import (
        Gemma4UnifiedAudioFeatureExtractor)
    fe = Gemma4UnifiedAudioFeatureExtractor()
    out = fe(wav_f32, return_tensors="pt")
    f = out["input_features"][0]
    m = out["input_features_mask"][0]
    return {
        "fe_shape": list(f.shape),
        "fe_features_equal": bool(torch.equal(f.float(), torch.from_numpy(frames))),
        "fe_mask_all_true": bool(m.all()),
        "fe_mask_dtype": str(m.dtype),
    }


# --------------------------------------------------------------------------------------
# Tokenisation
# --------------------------------------------------------------------------------------

def split_specials(s):
    """Split s on the special-token strings; return list of (is_special, str)."""
    out, i, buf = [], 0, ""
    names = sorted(SPECIAL_TOKENS, key=len, reverse=True)
    while i < len(s):
        for name in names:
            if s.startswith(name, i):
                if buf:
                    out.append((False, buf))
                    buf = ""
                out.append((True, name))
                i += len(name)
                break
        else:
            buf += s[i]
            i += 1
    if buf:
        out.append((False, buf))
    return out


def tokenize_prompt(tok, s):
    ids = []
    for is_special, piece in split_specials(s):
        if is_special:
            ids.append(SPECIAL_TOKENS[piece])
        else:
            ids.extend(tok.encode(piece, add_special_tokens=False).ids)
    return ids


def check_tokenizer(tok):
    """Special ids in tokenizer.json must agree with the fixed table."""
    notes = {}
    for name, tid in SPECIAL_TOKENS.items():
        got = tok.token_to_id(name)
        if got is not None and got != tid:
            raise SystemExit(f"tokenizer.json maps {name!r} to {got}, expected {tid}")
        notes[name] = got
    return notes


# --------------------------------------------------------------------------------------
# Model loading
# --------------------------------------------------------------------------------------

def hf_name(ckpt_name):
    """Checkpoint (safetensors) name -> in-memory HF parameter name (conversion_mapping.py)."""
    n = ckpt_name
    if n.startswith("model.vision_embedder."):
        n = "model.embed_vision." + n[len("model.vision_embedder."):]
    if n.startswith("model.embed_vision.embedding_projection."):
        n = "model.embed_vision.multimodal_embedder.embedding_projection." + n.split(".")[-1]
    return n


def load_model(model_dir, expected, dtype=torch.float32):
    from safetensors import safe_open
    from transformers import Gemma4UnifiedForConditionalGeneration

    model, info = Gemma4UnifiedForConditionalGeneration.from_pretrained(
        model_dir, dtype=dtype, attn_implementation="eager", output_loading_info=True)
    model.eval()
    problems = {k: v for k, v in info.items() if v}
    if problems:
        raise SystemExit(f"FATAL: loading {model_dir} reported {problems}. "
                         "The checkpoint's tensor names/shapes do not match HF Gemma4Unified.")
    # Every stored tensor must have landed, bit-exactly (bf16 -> f32 is exact), in the model.
    sd = model.state_dict()
    ckpt_names, dtypes = [], set()
    st_files = sorted(f for f in os.listdir(model_dir) if f.endswith(".safetensors"))
    for fn in st_files:
        with safe_open(os.path.join(model_dir, fn), "pt") as f:
            for k in f.keys():
                t = f.get_tensor(k)
                dtypes.add(str(t.dtype))
                ckpt_names.append(k)
                name = hf_name(k)
                if name not in sd:
                    raise SystemExit(f"FATAL: checkpoint tensor {k} -> {name} not in model")
                if not torch.equal(sd[name], t.to(dtype)):
                    raise SystemExit(f"FATAL: {k} was not loaded verbatim")
    lm, emb = model.lm_head.weight, model.model.language_model.embed_tokens.weight
    if lm.data_ptr() != emb.data_ptr() and not torch.equal(lm, emb):
        raise SystemExit("FATAL: lm_head is not tied to embed_tokens")
    tc = model.config.get_text_config()
    expected_text, expected_attention = expected
    for k, v in expected_text.items():
        if getattr(tc, k) != v:
            raise SystemExit(f"FATAL: {model_dir}: text_config.{k}={getattr(tc, k)!r}, expected {v!r}")
    for i, layer in enumerate(model.model.language_model.layers):
        a = layer.self_attn
        got = (a.head_dim, a.k_proj.out_features // a.head_dim, a.v_proj is not None)
        if got != expected_attention[i]:
            raise SystemExit(f"FATAL: {model_dir}: layer {i} attention {got}, expected {expected_attention[i]}")
    return model, sorted(ckpt_names), sorted(dtypes)


# --------------------------------------------------------------------------------------
# Running
# --------------------------------------------------------------------------------------

def mm_token_type_ids_for(ids):
    t = torch.zeros(1, len(ids), dtype=torch.long)
    a = torch.tensor([ids])
    t[a == IMAGE_TOKEN] = 1
    t[a == VIDEO_TOKEN] = 2
    t[a == AUDIO_TOKEN] = 3
    return t


@torch.no_grad()
def manual_loop(model, ids, mm_inputs, vision_mask):
    """Prefill (all P rows) + NUM_DECODE_STEPS greedy steps through the KV cache."""
    from transformers import DynamicCache

    P = len(ids)
    input_ids = torch.tensor([ids])
    cache = DynamicCache(config=model.config)
    kwargs = dict(mm_inputs)
    mm = mm_token_type_ids_for(ids)
    kwargs["mm_token_type_ids"] = mm
    if vision_mask == "sliding_only":
        # Official semantics (and HF's own create_masks_for_vision_model): full layers causal,
        # sliding layers AND(window, OR(causal, same-image-block)).
        kwargs["attention_mask"] = model.create_masks_for_generate(
            config=model.config, inputs_embeds=torch.empty((1, P, 0), dtype=torch.float32),
            attention_mask=None, past_key_values=cache, position_ids=torch.arange(P)[None],
            mm_token_type_ids=mm)
        assert isinstance(kwargs["attention_mask"], dict)
    out = model(input_ids=input_ids, past_key_values=cache, use_cache=True, **kwargs)
    rows = [out.logits[0, i].clone() for i in range(P)]
    tokens = [int(rows[-1].argmax())]
    for _ in range(NUM_DECODE_STEPS):
        # mm_token_type_ids only at prefill, as prepare_inputs_for_generation does
        out = model(input_ids=torch.tensor([[tokens[-1]]]), past_key_values=cache, use_cache=True)
        rows.append(out.logits[0, -1].clone())
        tokens.append(int(rows[-1].argmax()))
    return torch.stack(rows), tokens


@torch.no_grad()
def generate_check(model, ids, mm_inputs, vision_mask):
    from transformers import GenerationConfig
    gc = GenerationConfig(do_sample=False, max_new_tokens=MAX_TOKENS, min_new_tokens=MAX_TOKENS,
                          eos_token_id=None, pad_token_id=0, suppress_tokens=None,
                          begin_suppress_tokens=None, return_dict_in_generate=True, output_logits=True)
    kw = dict(mm_inputs)
    kw["mm_token_type_ids"] = mm_token_type_ids_for(ids)
    if vision_mask == "sliding_only":
        # Only a compileable (static) cache routes generate through
        # Gemma4UnifiedForConditionalGeneration.create_masks_for_generate.
        gc.cache_implementation = "static"
    out = model.generate(input_ids=torch.tensor([ids]), generation_config=gc, **kw)
    new = out.sequences[0, len(ids):].tolist()
    logits = torch.stack([l[0] for l in out.logits])  # one row per generated token
    return new, logits


def float64_check(model_dir, expected, ids, mm_inputs, vision_mask, rows, tokens):
    """The same run in float64: how far the float32 reference itself is from exact arithmetic,
    per kind of row, as a fraction of the logit range (the scale golden-check's bound uses)."""
    model64 = load_model(model_dir, expected, torch.float64)[0]
    mm64 = {k: v.double() if v.is_floating_point() else v for k, v in mm_inputs.items()}
    rows64, tokens64 = manual_loop(model64, ids, mm64, vision_mask)
    diff = (rows.double() - rows64).abs().max(dim=1).values
    span = float(rows64.max() - rows64.min())
    is_image = torch.zeros(len(diff), dtype=torch.bool)
    is_image[:len(ids)] = torch.tensor(ids) == IMAGE_TOKEN
    return {"tokens_equal": tokens64 == tokens, "logit_range": span,
            "image_rows_max_over_range": float(diff[is_image].max()) / span,
            "other_rows_max_over_range": float(diff[~is_image].max()) / span}


def f32_str(x):
    s = str(np.float32(x))  # shortest decimal that round-trips float32
    if np.float32(float(s)) != np.float32(x):
        raise AssertionError(f"float32 round-trip failed for {x!r} -> {s}")
    return s


def choose_columns(row_argmax, num_columns=NUM_COLUMNS):
    if num_columns == NUM_COLUMNS:
        cols = set(range(64))
        cols.update(range(0, 262144, 2048))                  # 128 spread ids
        cols.update(int(a) for a in row_argmax)
    else:
        # Compact: without every row's argmax id (image2 has 133 distinct ones); golden-check
        # compares each row's argmax and maximum over the whole row anyway.
        cols = set(range(16))
        cols.update(range(0, 262144, 16384))                 # 16 spread ids
    cols.update(SPECIAL_TOKENS.values())
    cols.update({1, 106, 107})
    rng = np.random.RandomState(20240601)
    for c in rng.permutation(262144):
        if len(cols) >= num_columns:
            break
        cols.add(int(c))
    cols = sorted(cols)  # more than num_columns when the argmax ids alone exceed the budget
    if len(cols) < num_columns:
        raise AssertionError(f"{len(cols)} columns")
    return cols


def write_json(path, meta, logits_rows):
    """Top-level fields one per line; `logits` one row per line."""
    lines = ["{"]
    items = list(meta.items())
    for k, v in items:
        lines.append(f"  {json.dumps(k)}: {json.dumps(v, separators=(', ', ': '))},")
    lines.append('  "logits": [')
    for i, r in enumerate(logits_rows):
        sep = "," if i + 1 < len(logits_rows) else ""
        lines.append("    [" + ", ".join(r) + "]" + sep)
    lines.append("  ]")
    lines.append("}")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    json.load(open(path))  # must parse


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", required=True, help="dir holding tiny/, tiny-w8/ and tiny-varied/")
    ap.add_argument("--out", required=True, help="output dir for the JSON goldens")
    ap.add_argument("--cases", default=",".join(c["name"] for c in CASES))
    ap.add_argument("--skip-generate-check", action="store_true")
    args = ap.parse_args()

    import tokenizers
    import transformers
    torch.manual_seed(0)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    os.makedirs(args.out, exist_ok=True)

    wanted = set(args.cases.split(","))
    summary = {"transformers": transformers.__version__, "torch": torch.__version__,
               "tokenizers": tokenizers.__version__, "cases": {}}

    # Media + preprocessing cross-checks (model independent)
    rgb = load_image_u8(os.path.join(REPO_ROOT, MEDIA_IMAGE))
    patches, pos = loom_image_patches(rgb)
    img_check, _ = crosscheck_image(rgb, patches, pos)
    s16 = load_wav_s16_mono_16k(os.path.join(REPO_ROOT, MEDIA_AUDIO))
    frames, wav = loom_audio_frames(s16)
    aud_check = crosscheck_audio(wav, frames)
    summary["image_preprocess_check"] = img_check
    summary["audio_preprocess_check"] = aud_check
    log("image check:", img_check)
    log("audio check:", aud_check)
    if not (img_check["helpers_pixels_equal"] and img_check["helpers_positions_equal"]
            and img_check["processor_pixels_maxabs"] <= 6e-8 and img_check["processor_positions_equal"]
            and img_check["processor_padding_ok"]):
        raise SystemExit("FATAL: Loom image patchify disagrees with HF")
    if not aud_check["fe_features_equal"]:
        raise SystemExit("FATAL: Loom audio framing disagrees with HF")

    loaded = {}
    for case in CASES:
        if case["name"] not in wanted:
            continue
        mdir = os.path.join(args.models, case["model"])
        if case["model"] not in loaded:
            model, names, dtypes = load_model(mdir, EXPECTED_MODELS[case["model"]])
            from tokenizers import Tokenizer
            tok = Tokenizer.from_file(os.path.join(mdir, "tokenizer.json"))
            tok_notes = check_tokenizer(tok)
            hashes = {f: sha256(os.path.join(mdir, f)) for f in sorted(os.listdir(mdir))
                      if f.endswith((".json", ".safetensors"))}
            loaded[case["model"]] = (model, tok, hashes)
            summary.setdefault("checkpoints", {})[case["model"]] = {
                "tensor_names": names, "dtypes": dtypes, "tokenizer_specials": tok_notes}
            log(f"loaded {mdir}: {len(names)} tensors, dtypes {dtypes}")
        model, tok, hashes = loaded[case["model"]]

        user = ""
        mm_inputs = {}
        images, audios = [], []
        if case["images"]:
            image_out = processed_image(*(os.path.join(REPO_ROOT, p) for p in case["images"]))
            counts = [int(n) for n in image_out["num_soft_tokens_per_image"]]
            for n in counts:
                user += "<|image>" + "<|image|>" * n + "<image|>"
            # Unpadded up to the longest image (a shorter one keeps its position -1 padding).
            mm_inputs["pixel_values"] = image_out["pixel_values"][:, :max(counts)].float()
            mm_inputs["image_position_ids"] = image_out["image_position_ids"][:, :max(counts)].long()
            images.extend(case["images"])
        if case["audio"]:
            n = frames.shape[0]
            user += "<|audio>" + "<|audio|>" * n + "<audio|>"
            mm_inputs["input_features"] = torch.from_numpy(frames)[None]
            mm_inputs["input_features_mask"] = torch.ones(1, n, dtype=torch.bool)
            audios.append(MEDIA_AUDIO)
        user += case["text"]
        prompt = f"<bos><|turn>user\n{user}<turn|>\n<|turn>model\n"
        ids = tokenize_prompt(tok, prompt)
        whole = tok.encode(prompt, add_special_tokens=False).ids
        P = len(ids)
        vision_mask = case.get("vision_mask")

        rows, tokens = manual_loop(model, ids, mm_inputs, vision_mask)
        info = {"prompt_len": P, "split_vs_whole_string_tokenization_equal": whole == ids}

        if case["images"]:
            # End-to-end: processor-padded inputs (280 slots, pos -1) must give the same logits.
            pm = dict(mm_inputs)
            pm["pixel_values"] = image_out["pixel_values"].float()
            pm["image_position_ids"] = image_out["image_position_ids"].long()
            rows_p, tokens_p = manual_loop(model, ids, pm, vision_mask)
            info["padded_processor_inputs_maxabs_diff"] = float((rows_p - rows).abs().max())
            info["padded_processor_inputs_tokens_equal"] = tokens_p == tokens
            if tokens_p != tokens or info["padded_processor_inputs_maxabs_diff"] > 1e-4:
                raise SystemExit(f"FATAL: padded processor inputs disagree: {info}")
            other = "all_layers" if vision_mask == "sliding_only" else "sliding_only"
            rows_o, tokens_o = manual_loop(model, ids, mm_inputs, other)
            info["maxabs_diff_vs_other_vision_mask"] = float((rows_o - rows).abs().max())

        if not args.skip_generate_check:
            gen_tokens, gen_logits = generate_check(model, ids, mm_inputs, vision_mask)
            d = float((gen_logits - rows[P - 1:]).abs().max())
            info["generate_tokens_equal"] = gen_tokens == tokens
            info["generate_logits_maxabs_diff"] = d
            if gen_tokens != tokens or d > 1e-4:
                raise SystemExit(f"FATAL: manual loop != generate for {case['name']}: "
                                 f"{tokens} vs {gen_tokens}, maxabs {d}")

        if case.get("float64_check"):
            info["float32_vs_float64"] = float64_check(mdir, EXPECTED_MODELS[case["model"]], ids, mm_inputs,
                                                       vision_mask, rows, tokens)
            log(f"{case['name']}: float32 vs float64: {info['float32_vs_float64']}")

        row_max = rows.max(dim=1).values
        row_min = rows.min(dim=1).values
        row_argmax = rows.argmax(dim=1)
        cols = choose_columns(row_argmax.tolist(), case.get("columns", NUM_COLUMNS))
        sub = rows[:, cols].numpy()
        stats = {"std": float(rows.std()), "mean": float(rows.mean()), "min": float(rows.min()),
                 "max": float(rows.max()), "frac_abs_gt_29": float((rows.abs() > 29).float().mean()),
                 "frac_abs_gt_15": float((rows.abs() > 15).float().mean())}
        info["logit_stats"] = stats
        top2 = rows[P - 1:].topk(2, dim=1).values
        margins = (top2[:, 0] - top2[:, 1]).tolist()  # greedy decision margins (ties would be fragile)
        info["min_token_margin"] = min(margins)

        meta = {
            "case": case["name"],
            "model": case["model"],
            "loom_model_args": case["args"],
            "reference": (f"transformers {transformers.__version__} Gemma4UnifiedForConditionalGeneration, "
                          "float32, attn_implementation=eager, DynamicCache, greedy"),
            "checkpoint_sha256": hashes,
            "prompt_text": prompt,
            "prompt_ids": ids,
            "images": images,
            "audios": audios,
        }
        if images:
            meta["image_budget"] = IMAGE_BUDGET
        if vision_mask:
            meta["vision_mask"] = vision_mask
        meta.update({
            "max_tokens": MAX_TOKENS,
            "tokens": tokens,
            "num_prefill_rows": P,
            "columns": cols,
            "row_max": [float(f32_str(v)) for v in row_max.tolist()],
            "row_min": [float(f32_str(v)) for v in row_min.tolist()],
            "row_argmax": row_argmax.tolist(),
            "token_margins": [float(f32_str(v)) for v in margins],
        })
        assert row_argmax.tolist()[P - 1:] == tokens
        logits_rows = [[f32_str(v) for v in r] for r in sub]
        path = os.path.join(args.out, f"{case['name']}.json")
        write_json(path, meta, logits_rows)
        info["bytes"] = os.path.getsize(path)
        if case["name"] == "text":
            npy_bytes = rows.numel() * 4
            info["full_npy_bytes"] = npy_bytes
            if npy_bytes < (1 << 20):
                np.save(os.path.join(args.out, "text_full_logits.npy"), rows.numpy().astype(np.float32))
                info["full_npy_written"] = True
            else:
                info["full_npy_written"] = False
        summary["cases"][case["name"]] = info
        log(f"{case['name']}: P={P} tokens={tokens} {info}")

    print(json.dumps(summary, indent=1, default=str))


if __name__ == "__main__":
    main()
