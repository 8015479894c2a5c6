// The exact set of tensors a gemma4_unified checkpoint holds, with their Hugging Face names.
#pragma once

#include "loom/Checkpoint/ModelConfig.h"

#include <cstdint>
#include <string>
#include <vector>

namespace loom {

struct TensorSpec {
  std::string name;                 // the spelling Loom writes (the published checkpoint's)
  std::vector<std::string> aliases; // other spellings accepted when reading
  std::vector<int64_t> shape;       // PyTorch layout: Linear weights are [out, in]
};

// Text tensors (prefix model.language_model.): embed_tokens, then per layer i
// input_layernorm, self_attn.{q_proj,k_proj,v_proj (not on full k_eq_v layers),o_proj,q_norm,k_norm},
// post_attention_layernorm, pre_feedforward_layernorm, mlp.{gate,up,down}_proj,
// post_feedforward_layernorm, layer_scalar [1]; then norm. No lm_head (tied to embed_tokens).
//
// Vision (hasVision), in the published checkpoint's spelling, with the module-path spelling that
// transformers uses in memory (Gemma4UnifiedModel.embed_vision = Gemma4UnifiedVisionEmbedder) as alias:
//   model.vision_embedder.{patch_ln1,patch_dense,patch_ln2,pos_norm}.{weight,bias}, model.vision_embedder.pos_embedding
//     alias model.embed_vision.<same suffix>
//   model.embed_vision.embedding_projection.weight
//     alias model.embed_vision.multimodal_embedder.embedding_projection.weight
// Audio (hasAudio): model.embed_audio.embedding_projection.weight [hidden, audio_embed_dim].
std::vector<TensorSpec> expectedTensors(const ModelConfig &config);

int64_t numElements(const std::vector<int64_t> &shape);
std::string shapeToString(const std::vector<int64_t> &shape); // "[3840, 640]"

} // namespace loom
