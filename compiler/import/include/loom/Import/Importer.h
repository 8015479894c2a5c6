// Imports a validated Hugging Face gemma4_unified checkpoint into a `loom` module.
#pragma once

#include "loom/Checkpoint/Checkpoint.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"

namespace loom {

// Builds one loom.weight_decl per checkpoint tensor (file, offset and dtype only: no bytes)
// and the entry functions embed_text, embed_image (with vision), embed_audio (with audio),
// decoder and lm_head, each marked `loom.entry`.
mlir::OwningOpRef<mlir::ModuleOp> importCheckpoint(mlir::MLIRContext &context,
                                                   const Checkpoint &checkpoint);

} // namespace loom
