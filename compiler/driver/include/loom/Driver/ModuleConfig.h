// The model configuration a loom module carries, so that IR saved after any phase can be
// resumed (loom-compile --compile-from) without the checkpoint's config.json: the module gets
// `loom.config` (config.json as a dictionary attribute) and `loom.checkpoint` (the folder, for
// tokenizer.json; weights are referenced by file and offset in their weight_decls).
#pragma once

#include "loom/Checkpoint/ModelConfig.h"

#include "mlir/IR/BuiltinOps.h"

#include <string>

namespace loom {

inline constexpr char kConfigAttr[] = "loom.config";
inline constexpr char kCheckpointAttr[] = "loom.checkpoint";

void attachModelConfig(mlir::ModuleOp module, const ModelConfig &config,
                       const std::string &checkpointDir);

// Reads them back; throws loom::Error naming `source` (the IR file) when absent or invalid.
ModelConfig modelConfigOf(mlir::ModuleOp module, const std::string &source);
std::string checkpointDirOf(mlir::ModuleOp module, const std::string &source);

} // namespace loom
