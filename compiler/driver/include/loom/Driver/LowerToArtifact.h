// From a planned loom module to what the artifact holds: the kernel specs to generate and the
// manifest (tensors, kernels, entry programs, KV cache plan).
#pragma once

#include "loom/Checkpoint/ModelConfig.h"
#include "loom/Codegen/KernelSpec.h"
#include "loom/Schema/loom_generated.h"

#include "mlir/IR/BuiltinOps.h"

#include <vector>

namespace loom {

struct LoweredModel {
  std::vector<codegen::KernelSpec> kernels; // in the order of Model.kernels
  fb::ModelT manifest;                      // without segments, offsets and target
};

// How quantized weights are laid out for the target's kernels (QuantLayout.h): the CPU
// kernels read Q4 matrices in groups of 8 rows, the CUDA kernels one packed row per row.
enum class WeightLayout { Cpu, Cuda };

// `module` has run loom-outline-kernels and loom-plan-buffers.
LoweredModel lowerToArtifact(mlir::ModuleOp module, const ModelConfig &config, int64_t maxContext,
                             WeightLayout layout);

// The manifest's copy of the imported configuration.
std::unique_ptr<fb::ModelConfigT> makeManifestConfig(const ModelConfig &config);

} // namespace loom
