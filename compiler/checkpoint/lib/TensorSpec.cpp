#include "loom/Checkpoint/TensorSpec.h"

#include <sstream>

namespace loom {

int64_t numElements(const std::vector<int64_t> &shape) {
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  return n;
}

std::string shapeToString(const std::vector<int64_t> &shape) {
  std::ostringstream s;
  s << '[';
  for (size_t i = 0; i < shape.size(); ++i)
    s << (i ? ", " : "") << shape[i];
  s << ']';
  return s.str();
}

std::vector<TensorSpec> expectedTensors(const ModelConfig &c) {
  std::vector<TensorSpec> out;
  auto add = [&](std::string name, std::vector<int64_t> shape, std::vector<std::string> aliases = {}) {
    out.push_back(TensorSpec{std::move(name), std::move(aliases), std::move(shape)});
  };
  const std::string text = "model.language_model.";
  const int64_t h = c.hiddenSize;
  add(text + "embed_tokens.weight", {c.vocabSize, h});
  for (int64_t i = 0; i < c.numLayers; ++i) {
    const std::string p = text + "layers." + std::to_string(i) + ".";
    const int64_t d = c.layerHeadDim(i), kv = c.layerKvHeads(i);
    add(p + "input_layernorm.weight", {h});
    add(p + "self_attn.q_proj.weight", {c.numHeads * d, h});
    add(p + "self_attn.k_proj.weight", {kv * d, h});
    if (c.layerHasValueProjection(i))
      add(p + "self_attn.v_proj.weight", {kv * d, h});
    add(p + "self_attn.o_proj.weight", {h, c.numHeads * d});
    add(p + "self_attn.q_norm.weight", {d});
    add(p + "self_attn.k_norm.weight", {d});
    add(p + "post_attention_layernorm.weight", {h});
    add(p + "pre_feedforward_layernorm.weight", {h});
    add(p + "mlp.gate_proj.weight", {c.intermediateSize, h});
    add(p + "mlp.up_proj.weight", {c.intermediateSize, h});
    add(p + "mlp.down_proj.weight", {h, c.intermediateSize});
    add(p + "post_feedforward_layernorm.weight", {h});
    add(p + "layer_scalar", {1});
  }
  add(text + "norm.weight", {h});
  if (c.hasVision) {
    // The published checkpoint (google/gemma-4-12B, from the Orbax converter) spells the embedder
    // model.vision_embedder.*; transformers' module tree (Gemma4UnifiedModel.embed_vision) and
    // re-exports saved from it spell it model.embed_vision.*. Accept both.
    const int64_t m = c.mmEmbedDim, pd = c.patchDim();
    auto vis = [&](const std::string &suffix, std::vector<int64_t> shape) {
      add("model.vision_embedder." + suffix, std::move(shape), {"model.embed_vision." + suffix});
    };
    vis("patch_ln1.weight", {pd});
    vis("patch_ln1.bias", {pd});
    vis("patch_dense.weight", {m, pd});
    vis("patch_dense.bias", {m});
    vis("patch_ln2.weight", {m});
    vis("patch_ln2.bias", {m});
    vis("pos_embedding", {c.mmPosembSize, 2, m});
    vis("pos_norm.weight", {m});
    vis("pos_norm.bias", {m});
    add("model.embed_vision.embedding_projection.weight", {h, m},
        {"model.embed_vision.multimodal_embedder.embedding_projection.weight"});
  }
  if (c.hasAudio)
    add("model.embed_audio.embedding_projection.weight", {h, c.audioEmbedDim});
  return out;
}

} // namespace loom
