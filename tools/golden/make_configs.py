#!/usr/bin/env python3
"""config.json files written by transformers' own save_pretrained (test data for Loom's reader).

save_pretrained gives the full layers' shape only in text_config.per_layer_config and leaves out
global_head_dim / num_global_key_value_heads, unlike Google's published configs. Each folder of
test/data/configs/ gets:

* config.json: Gemma4UnifiedConfig(...).save_pretrained(folder), verbatim;
* layers.json: what transformers resolves from that file (AutoConfig.from_pretrained), per layer:
  its type, head_dim and num_key_value_heads (the reference ConfigTest compares Loom against).

Usage (from the repository root; venv of tools/golden/requirements.txt):
    /opt/golden-venv/bin/python tools/golden/make_configs.py --out test/data/configs

tiny-varied is also the model of the golden case image2 (tools/golden/README.md): every shape the
tiny preset fixes is changed (hidden 160, 5 query heads, sliding head_dim 48 with 1 KV head and a
24-token window, full layers with head_dim 80 and their own v_proj, other rope thetas, half the
full head rotating, no final softcap, every epsilon 1e-5), with a full layer in the middle.
"""

import argparse
import json
import os

CONFIGS = {
    "tiny-varied": dict(
        text_config=dict(
            vocab_size=262144, hidden_size=160, intermediate_size=320, num_hidden_layers=4,
            num_attention_heads=5, num_key_value_heads=1, head_dim=48, global_head_dim=80,
            attention_k_eq_v=False, sliding_window=24, max_position_embeddings=4096,
            layer_types=["sliding_attention", "full_attention", "sliding_attention", "full_attention"],
            rope_parameters={
                "sliding_attention": {"rope_type": "default", "rope_theta": 5e4},
                "full_attention": {"rope_type": "proportional", "rope_theta": 2.5e5,
                                   "partial_rotary_factor": 0.5},
            },
            rms_norm_eps=1e-5, final_logit_softcapping=None),
        vision_config=dict(mm_embed_dim=96, output_proj_dims=96, rms_norm_eps=1e-5),
        audio_config=dict(rms_norm_eps=1e-5)),
    # k_eq_v full layers with their own KV head count (MQA) and head_dim, 12 layers (two-digit
    # per_layer_config keys, zero-padded by save_pretrained).
    "keqv-mqa": dict(
        text_config=dict(
            vocab_size=262144, hidden_size=64, intermediate_size=128, num_hidden_layers=12,
            num_attention_heads=4, num_key_value_heads=2, head_dim=16, global_head_dim=64,
            num_global_key_value_heads=1, attention_k_eq_v=True, sliding_window=128,
            final_logit_softcapping=30.0),
        vision_config=None, audio_config=None),
}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="folder receiving one subfolder per config")
    args = ap.parse_args()

    import transformers
    from transformers import AutoConfig, Gemma4UnifiedConfig

    for name, kwargs in CONFIGS.items():
        folder = os.path.join(args.out, name)
        Gemma4UnifiedConfig(**kwargs).save_pretrained(folder)
        text = AutoConfig.from_pretrained(folder).get_text_config()
        layers = [{"type": text.layer_types[i],
                   "head_dim": text.per_layer_config[i].head_dim,
                   "num_key_value_heads": text.per_layer_config[i].num_key_value_heads}
                  for i in range(text.num_hidden_layers)]
        with open(os.path.join(folder, "layers.json"), "w") as f:  # one layer a line
            f.write(f'{{"transformers": "{transformers.__version__}", "layers": [\n  ')
            f.write(",\n  ".join(json.dumps(layer) for layer in layers))
            f.write("\n]}\n")
        print(f"{folder}: {[(l['head_dim'], l['num_key_value_heads']) for l in layers]}")


if __name__ == "__main__":
    main()
