// The fixed kernel set of the instruction-count check: small shapes of the kernels on the
// decode and prefill paths, built for the x86-64-v3 (AVX2) target whatever the host, so that the
// count is the same on every machine that runs it.
#pragma once

#include "loom/Codegen/KernelSpec.h"

#include <vector>

namespace loom::icount {

inline std::vector<codegen::KernelSpec> kernelSet() {
  using namespace codegen;
  return {
      {"linear_bf16", ElementType::BF16, Linear{256, 192, false}},
      {"linear_f32_bias", ElementType::F32, Linear{200, 96, true}},
      {"rms_norm", ElementType::BF16, RmsNorm{1, 256, true, 1e-6}},
      {"attention", ElementType::F32, Attention{4, 2, 64, 32, 64, 1.0}},
      {"geglu", ElementType::F32, GeGlu{512}},
      // Rows as long as the 12B's attention projections: the decode GEMV on packed weights.
      {"linear_q8", ElementType::Q8, Linear{3840, 64, false}},
      {"linear_q4g32", ElementType::Q4G32, Linear{3840, 64, false}},
  };
}

} // namespace loom::icount
