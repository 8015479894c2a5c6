// Internal: the Halide pipeline of each KernelSpec kind. Private to loom_kernelgen (includes Halide.h).
#pragma once

#include "loom/Codegen/KernelSpec.h"
#include "loom/Codegen/Tuning.h"

#include <Halide.h>

#include <vector>

namespace loom::codegen::detail {

struct KernelPipeline {
  Halide::Pipeline pipeline;
  std::vector<Halide::Argument> arguments; // inputs in the header's order; outputs follow implicitly
};

// Defines and schedules the pipeline of `spec` for `target` (vector width, etc.), its products
// with `tuning`'s parameters.
KernelPipeline buildPipeline(const KernelSpec &spec, const Halide::Target &target,
                             const Tuning &tuning);

// The fused kinds (FusedLinear ... PatchEmbed), in FusedPipelines.cpp; buildPipeline calls it.
KernelPipeline buildFusedPipeline(const KernelSpec &spec, const Halide::Target &target,
                                  const Tuning &tuning);

} // namespace loom::codegen::detail
