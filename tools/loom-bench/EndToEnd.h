// End-to-end timing of an artifact through the runtime's C API (runtime/include/loom/loom.h):
// per repetition a fresh session prefills `promptTokens` synthetic text tokens (time to first
// token = that prefill, which yields the first token's logits) and then greedily decodes
// `decodeTokens` more. Reports median and p95 of prefill tokens/s, decode tokens/s and TTFT
// after warm-up runs, beside the rooflines: decode against the bytes each token reads at the
// bandwidth measured by the probe (interleaved with the repetitions), prefill against its
// flops at the FMA probe's peak.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>

namespace loom::bench {

struct EndToEndOptions {
  std::string artifact;
  int64_t promptTokens = 512;
  int64_t decodeTokens = 32;
  int warmup = 1;
  int repetitions = 10;
  int threads = 0; // 0: all cores
  bool hugePages = false; // read the artifact into huge pages (loom_model_options)
  int64_t prefillChunk = 0; // prefill in calls of at most this many tokens; 0: one call
  // Image mode: the prompt is one image (at imageBudget soft tokens) and questionTokens text
  // tokens; the time to first token is split into decoding and resizing the image, each
  // prefill phase (text embedding, patch embedding, decoder layers, lm_head) and sampling.
  std::string image;
  int64_t imageBudget = 280;
  int64_t questionTokens = 16;
};

// Runs the measurement, prints a summary and returns it as JSON. Throws loom::Error.
nlohmann::json runEndToEnd(const EndToEndOptions &options);
// The same in image mode (options.image).
nlohmann::json runImageEndToEnd(const EndToEndOptions &options);

} // namespace loom::bench
