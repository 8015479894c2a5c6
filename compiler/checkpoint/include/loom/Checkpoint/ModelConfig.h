// The gemma4_unified configuration Loom compiles, read from a Hugging Face config.json.
// Field names follow the Hugging Face config; see ../shared/docs/MODEL.md sections 2-4.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace loom {

enum class LayerKind { Sliding, Full };

struct RopeParameters {
  std::string type;          // "default" or "proportional"
  double theta = 10000.0;
  double partialRotaryFactor = 1.0; // fraction of the head dim that rotates
};

struct ModelConfig {
  // text_config
  int64_t vocabSize = 262144;
  int64_t hiddenSize = 3840;
  int64_t intermediateSize = 15360;
  int64_t numLayers = 48;
  int64_t numHeads = 16;
  int64_t headDim = 256;           // sliding layers
  int64_t numKvHeads = 8;          // sliding layers
  int64_t globalHeadDim = 512;     // full layers
  int64_t numGlobalKvHeads = 1;    // full layers
  bool attentionKEqV = true;       // full layers: no v_proj, V = v_norm(raw k)
  int64_t slidingWindow = 1024;
  int64_t maxPositionEmbeddings = 262144;
  double rmsNormEps = 1e-6;
  double finalLogitSoftcap = 30.0; // 0 when absent
  std::vector<LayerKind> layerKinds;
  RopeParameters slidingRope{"default", 10000.0, 1.0};
  RopeParameters fullRope{"proportional", 1000000.0, 0.25};
  bool bidirectionalVision = true; // use_bidirectional_attention == "vision"
  int64_t padTokenId = 0, bosTokenId = 2;
  std::vector<int64_t> eosTokenIds{1};

  // vision_config (present when hasVision)
  bool hasVision = true;
  int64_t patchSize = 16, poolingKernelSize = 3; // model patch = 48
  int64_t mmEmbedDim = 3840;
  int64_t mmPosembSize = 1120;
  double visionRmsNormEps = 1e-6;
  double layerNormEps = 1e-5; // PyTorch nn.LayerNorm default, as the HF embedder uses

  // audio_config (present when hasAudio)
  bool hasAudio = true;
  int64_t audioEmbedDim = 640; // samples per 40 ms frame at 16 kHz
  double audioRmsNormEps = 1e-6;

  // top-level token ids
  int64_t boiTokenId = 255999, eoiTokenId = 258882, imageTokenId = 258880;
  int64_t boaTokenId = 256000, eoaTokenId = 258883, audioTokenId = 258881;
  int64_t videoTokenId = 258884;

  // top-level "dtype" (the weights' storage type as Hugging Face names it): "bfloat16", "float16", "float32"
  std::string dtype = "bfloat16";

  int64_t modelPatchSize() const { return patchSize * poolingKernelSize; }
  int64_t patchDim() const { return modelPatchSize() * modelPatchSize() * 3; }
  bool isFull(int64_t layer) const { return layerKinds[layer] == LayerKind::Full; }
  int64_t layerHeadDim(int64_t layer) const { return isFull(layer) ? globalHeadDim : headDim; }
  int64_t layerKvHeads(int64_t layer) const { return isFull(layer) ? numGlobalKvHeads : numKvHeads; }
  bool layerHasValueProjection(int64_t layer) const { return !(isFull(layer) && attentionKEqV); }
};

} // namespace loom
