// Token sampling: greedy, or temperature + top-k + top-p (applied in that order, as Hugging Face
// does) from a seeded std::mt19937_64. Deterministic for a seed on every platform (the uniform
// draw is built from the raw 64-bit output, not from std::uniform_real_distribution). Ties in
// logits are broken by the lower token id. No allocation per call once warmed up.
#pragma once

#include <cstddef>
#include <cstdint>
#include <random>
#include <utility>
#include <vector>

namespace loom {

struct SamplingParams {
  float temperature = 1.0f; // <= 0: greedy
  int32_t topK = 64;        // <= 0: no top-k
  float topP = 0.95f;       // >= 1: no top-p
  bool greedy = false;
};

class Sampler {
public:
  explicit Sampler(uint64_t seed = 0) : rng_(seed) {}
  void reseed(uint64_t seed) { rng_.seed(seed); }

  // Picks a token id in [0, n). Throws loom::Error for n == 0 or invalid parameters.
  int32_t sample(const float *logits, size_t n, const SamplingParams &params);

  static int32_t argmax(const float *logits, size_t n);

private:
  std::mt19937_64 rng_;
  std::vector<std::pair<float, int32_t>> candidates_;
  std::vector<double> probabilities_;
};

} // namespace loom
