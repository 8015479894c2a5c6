#pragma once

#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/Pass.h"

namespace loom {

#define GEN_PASS_DECL
#include "loom/Passes/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "loom/Passes/Passes.h.inc"

// Attribute names shared by the passes and the artifact serializer.
inline constexpr char kEntryAttr[] = "loom.entry";
inline constexpr char kArenaBytesPerTokenAttr[] = "loom.arena_bytes_per_token";

} // namespace loom
