// Reading and writing the Hugging Face config.json of a gemma4_unified checkpoint.
// Field names and defaults follow transformers' configuration_gemma4_unified.py.
#pragma once

#include "loom/Checkpoint/ModelConfig.h"

#include <string>
#include <vector>

namespace loom {

// Reads config.json. Top-level model_type must be "gemma4_unified"; text_config is required,
// vision_config / audio_config may be absent or null (hasVision / hasAudio false). Absent fields
// take the Hugging Face defaults; layer_types defaults to sliding unless (i+1)%6==0 and the last
// layer is forced full. The full layers' head_dim and KV heads come from global_head_dim /
// num_global_key_value_heads, or, when the key per_layer_config is present (save_pretrained's
// form), from it alone, as transformers resolves them. Unsupported values throw loom::Error
// naming the file, the field and what Loom expects.
ModelConfig parseModelConfig(const std::string &configJsonPath);

// Same, from JSON text; `source` names the origin in error messages.
ModelConfig parseModelConfigText(const std::string &jsonText, const std::string &source);

// Writes a Hugging Face config.json (model_type gemma4_unified, architectures
// ["Gemma4UnifiedForConditionalGeneration"]) such that parseModelConfigText(toConfigJson(c)) == c.
// Throws loom::Error when `c` is not a configuration Loom supports (see validateModelConfig).
std::string toConfigJson(const ModelConfig &config);

// Checks the invariants of a parsed or hand-built config (positive sizes, heads divisible by
// KV heads, layerKinds of numLayers entries ending in Full, supported rope, ...).
// `source` names the origin in error messages.
void validateModelConfig(const ModelConfig &config, const std::string &source);

// The Hugging Face default layer pattern: sliding unless (i+1)%6==0, the last layer full.
std::vector<LayerKind> defaultLayerKinds(int64_t numLayers);

} // namespace loom
