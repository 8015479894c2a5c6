#include "loom/Runtime/Sampler.h"

#include "loom/Error.h"

#include <algorithm>
#include <cmath>

namespace loom {
namespace {
// Larger logit first; equal logits: lower id first. NaN sorts last.
inline bool before(const std::pair<float, int32_t> &a, const std::pair<float, int32_t> &b) {
  bool an = std::isnan(a.first), bn = std::isnan(b.first);
  if (an != bn)
    return bn;
  if (a.first != b.first && !an)
    return a.first > b.first;
  return a.second < b.second;
}
} // namespace

int32_t Sampler::argmax(const float *logits, size_t n) {
  if (n == 0)
    fail("sampling: empty logits");
  size_t best = 0;
  for (size_t i = 1; i < n; ++i)
    if (logits[i] > logits[best] || (std::isnan(logits[best]) && !std::isnan(logits[i])))
      best = i;
  return static_cast<int32_t>(best);
}

int32_t Sampler::sample(const float *logits, size_t n, const SamplingParams &params) {
  if (n == 0)
    fail("sampling: empty logits");
  if (!(params.temperature == params.temperature) || std::isinf(params.temperature))
    fail("sampling: temperature must be a finite number, got ", params.temperature);
  if (!(params.topP == params.topP) || params.topP < 0.0f)
    fail("sampling: top_p must be a number >= 0, got ", params.topP);
  if (params.greedy || params.temperature <= 0.0f || params.topK == 1 || params.topP == 0.0f)
    return argmax(logits, n);

  candidates_.resize(n);
  for (size_t i = 0; i < n; ++i)
    candidates_[i] = {logits[i], static_cast<int32_t>(i)};
  size_t kept = n;
  if (params.topK > 0 && static_cast<size_t>(params.topK) < n) {
    kept = static_cast<size_t>(params.topK);
    std::nth_element(candidates_.begin(), candidates_.begin() + (kept - 1), candidates_.end(),
                     before);
  }
  std::sort(candidates_.begin(), candidates_.begin() + kept, before);
  if (std::isnan(candidates_[0].first))
    fail("sampling: all logits are NaN");
  while (kept > 1 && std::isnan(candidates_[kept - 1].first))
    --kept;

  // Softmax of logit / temperature over the kept candidates, in double.
  probabilities_.resize(kept);
  const double maxScaled = static_cast<double>(candidates_[0].first) / params.temperature;
  double total = 0.0;
  for (size_t i = 0; i < kept; ++i) {
    double p = std::exp(static_cast<double>(candidates_[i].first) / params.temperature - maxScaled);
    probabilities_[i] = p;
    total += p;
  }
  // Top-p: the smallest prefix whose probability reaches topP (always at least one token).
  if (params.topP < 1.0f) {
    double cumulative = 0.0, threshold = static_cast<double>(params.topP) * total;
    size_t cut = kept;
    for (size_t i = 0; i < kept; ++i) {
      cumulative += probabilities_[i];
      if (cumulative >= threshold) {
        cut = i + 1;
        break;
      }
    }
    kept = cut;
    total = 0.0;
    for (size_t i = 0; i < kept; ++i)
      total += probabilities_[i];
  }
  // A uniform double in [0, 1) from the top 53 bits: identical on every platform.
  double u = static_cast<double>(rng_() >> 11) * (1.0 / 9007199254740992.0);
  double target = u * total, cumulative = 0.0;
  for (size_t i = 0; i < kept; ++i) {
    cumulative += probabilities_[i];
    if (target < cumulative)
      return candidates_[i].second;
  }
  return candidates_[kept - 1].second;
}

} // namespace loom
