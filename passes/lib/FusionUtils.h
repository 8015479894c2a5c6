// Helpers the fusion passes share: matching single-use chains of graph ops inside an entry and
// moving weight reads so that a fused op can take the place of the first op it replaces.
#pragma once

#include "loom/Dialect/LoomOps.h"
#include "loom/Passes/Passes.h"

#include "mlir/IR/BuiltinOps.h"

namespace loom::fusion {

// The entry functions of `module`. Fusion rewrites straight-line code only: an entry with more
// than one block gets an error naming `pass` and the whole pass fails.
inline mlir::LogicalResult forEachEntry(mlir::ModuleOp module, llvm::StringRef pass,
                                        llvm::function_ref<void(mlir::Block &)> fn) {
  bool failed = false;
  for (auto func : module.getOps<mlir::func::FuncOp>()) {
    if (!func->hasAttr(kEntryAttr) || func.isExternal())
      continue;
    if (!func.getBody().hasOneBlock()) {
      func.emitOpError() << pass << " expects a single-block entry";
      failed = true;
      continue;
    }
    fn(func.getBody().front());
  }
  return mlir::failure(failed);
}

// The op defining `value` as an OpTy when `value` has no other user than the op being fused.
template <class OpTy> OpTy singleUseDef(mlir::Value value) {
  if (!value || !value.hasOneUse())
    return nullptr;
  return value.getDefiningOp<OpTy>();
}

// The only user of `value` as an OpTy, or null.
template <class OpTy> OpTy singleUser(mlir::Value value) {
  if (!value.hasOneUse())
    return nullptr;
  return llvm::dyn_cast<OpTy>(*value.getUsers().begin());
}

// Makes `value` available before `point`: a loom.weight read (no operands) moves up; values
// that already dominate stay. Returns false when `value` is computed after `point` otherwise.
inline bool hoistBefore(mlir::Value value, mlir::Operation *point) {
  mlir::Operation *def = value.getDefiningOp();
  if (!def || def->getBlock() != point->getBlock() || def->isBeforeInBlock(point))
    return true;
  if (!llvm::isa<WeightOp>(def))
    return false;
  def->moveBefore(point);
  return true;
}

// Erases the side-effect-free ops of `block` left without users by a rewrite (the reshapes,
// norms and weight reads of a replaced chain), users before producers.
inline void eraseDeadOps(mlir::Block &block) {
  for (mlir::Operation &op : llvm::make_early_inc_range(llvm::reverse(block)))
    if (op.getNumResults() > 0 && op.use_empty() && mlir::isPure(&op))
      op.erase();
}

inline bool sameF64(mlir::FloatAttr a, mlir::FloatAttr b) {
  return a && b && a.getValueAsDouble() == b.getValueAsDouble();
}

} // namespace loom::fusion
