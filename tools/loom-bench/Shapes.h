// The linear-layer shapes loom-bench measures: Gemma 4 12B's (docs: shared/docs/MODEL.md §2,
// §4) by default, or every linear kernel of a compiled artifact.
#pragma once

#include "loom/Codegen/KernelSpec.h"

#include <cstdint>
#include <string>
#include <vector>

namespace loom::bench {

struct LinearShape {
  std::string name; // e.g. "mlp_up" (also part of the benchmark name)
  int64_t in = 0, out = 0;
  codegen::ElementType weights = codegen::ElementType::BF16;
  bool hasBias = false;
};

// Gemma 4 12B's projections: attention q/k/v/o (sliding and full layers), the MLP's gate/up
// and down, and the tied lm_head [3840 -> 262144] when `withLmHead`.
std::vector<LinearShape> gemma12bLinears(bool withLmHead);

// The distinct linear kernels of an artifact, parsed from the manifest's kernel descriptions
// ("linear in=3840 out=15360 bias=0 weights=bf16"). Throws loom::Error naming the artifact and
// the description it cannot read.
std::vector<LinearShape> artifactLinears(const std::string &artifactPath, std::string &target);

// "f32", "bf16", "q8", "q4g32", "q4g128" <-> ElementType; throws loom::Error for other names.
codegen::ElementType parseWeightType(const std::string &name);
std::string weightTypeName(codegen::ElementType type);

// Bytes of a [rows, cols] matrix stored as `type` (the packed row layout for q8/q4).
uint64_t matrixBytes(codegen::ElementType type, int64_t rows, int64_t cols);

} // namespace loom::bench
