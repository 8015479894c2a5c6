// What a candidate kernel is timed on: a model kernel's inputs, built once per search, and one
// timed turn of a generated variant at a token count. A matrix product reads cold weights below
// kColdTokens tokens (decode and batched decode read each weight once, from memory); an
// attention kernel reads a cold KV cache of kDecodePast positions at those token counts and
// runs a prompt from position 0 above them.
#pragma once

#include "KernelHarness.h"

#include "loom/AnonymousMemory.h"
#include "loom/Codegen/KernelSpec.h"

#include <cstdint>
#include <memory>
#include <vector>

namespace loom::tune {

// Cached positions an attention decode step reads (or the cache's capacity, when smaller).
constexpr int64_t kDecodePast = 2048;

class Workload {
public:
  virtual ~Workload() = default;
  // Seconds of one timed turn of `entry` (the kernel of the workload's spec) at T tokens.
  virtual double time(bench::KernelEntry entry, int64_t tokens) = 0;
};

// The workload of `timed` (a Linear, Attention or RawKeyAttention spec) up to `maxTokens`
// tokens; throws loom::Error for other kinds.
std::unique_ptr<Workload> makeWorkload(const codegen::KernelSpec &timed, int64_t maxTokens,
                                       PageSize pages);

} // namespace loom::tune
