// Deterministic synthetic gemma4_unified checkpoints (used by loom-model and the tests).
#pragma once

#include "loom/Checkpoint/ModelConfig.h"
#include "loom/Checkpoint/Safetensors.h"
#include "loom/Checkpoint/TensorSpec.h"

#include <cstdint>
#include <string>

namespace loom {

// "tiny" or "12b" (Gemma 4 12B exactly); throws loom::Error for other names.
ModelConfig presetConfig(const std::string &preset);

// Sets numLayers and recomputes layerKinds by the Hugging Face rule.
void setNumLayers(ModelConfig &config, int64_t numLayers);

struct SyntheticOptions {
  uint64_t seed = 1;
  DType dtype = DType::BF16;
  uint64_t maxShardBytes = 5000000000ull; // beyond this, shards + model.safetensors.index.json
  unsigned threads = 2;                   // generator threads per chunk
};

// Fills out[0..count) with elements [first, first+count) of the tensor's synthetic values.
// Each tensor's stream is seeded from hash(seed, tensor name) and counter based, so any range
// can be generated independently of order and of other tensors.
void syntheticValues(const ModelConfig &config, const TensorSpec &spec, uint64_t seed,
                     uint64_t first, size_t count, float *out);

// Writes the weights (not config.json) into `dir`: model.safetensors when the total fits in
// maxShardBytes, else model-0000K-of-0000N.safetensors + model.safetensors.index.json.
// Returns the total bytes of tensor data.
uint64_t writeSyntheticWeights(const std::string &dir, const ModelConfig &config,
                               const SyntheticOptions &options);

// Converts with round-to-nearest-even (NaN stays NaN).
uint16_t floatToBf16(float value);
float bf16ToFloat(uint16_t value);

} // namespace loom
