// The distinct kernels of a compiled model that have schedule parameters, read from the
// artifact's kernel descriptions (codegen describe()), each once: its matrix products (every
// Linear kernel and every projection of a fused one: gate/up, q/k/v, o_proj + residual, the
// patch embedding's two) and its attention shapes.
#pragma once

#include "loom/Codegen/KernelSpec.h"
#include "loom/Codegen/Tuning.h"

#include <string>
#include <vector>

namespace loom::tune {

struct ModelKernel {
  codegen::TuningKey key;
  // What a candidate is timed as: a Linear of the product's shape and weights, or the model's
  // own attention kernel of that shape (Attention or RawKeyAttention).
  codegen::KernelSpec timed;
};

// Throws loom::Error naming the artifact and a description it cannot read.
std::vector<ModelKernel> modelKernels(const std::string &artifactPath);

} // namespace loom::tune
