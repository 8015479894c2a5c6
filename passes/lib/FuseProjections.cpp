// loom-fuse-projections: bias-free projections of the same input become one loom.fused_linear.
#include "FusionUtils.h"

#include "llvm/ADT/MapVector.h"

namespace loom {
#define GEN_PASS_DEF_LOOMFUSEPROJECTIONS
#include "loom/Passes/Passes.h.inc"
} // namespace loom

using namespace mlir;

namespace {

struct FuseProjectionsPass : loom::impl::LoomFuseProjectionsBase<FuseProjectionsPass> {
  void runOnOperation() override {
    auto result = loom::fusion::forEachEntry(getOperation(), getArgument(), [](Block &block) {
      // Projections by input, in program order.
      llvm::MapVector<Value, SmallVector<loom::LinearOp>> byInput;
      for (auto linear : block.getOps<loom::LinearOp>())
        if (!linear.getBias())
          byInput[linear.getInput()].push_back(linear);
      for (auto &[input, group] : byInput) {
        if (group.size() < 2)
          continue;
        // The fused op replaces the first projection; the later weights' reads move up to it.
        Operation *first = group.front();
        SmallVector<loom::LinearOp> members;
        for (loom::LinearOp linear : group)
          if (loom::fusion::hoistBefore(linear.getWeight(), first))
            members.push_back(linear);
        if (members.size() < 2)
          continue;
        SmallVector<Value> weights;
        SmallVector<Type> types;
        for (loom::LinearOp linear : members) {
          weights.push_back(linear.getWeight());
          types.push_back(linear.getType());
        }
        OpBuilder builder(first);
        auto fused = loom::FusedLinearOp::create(builder, first->getLoc(), types, input,
                                                 /*norm_weight=*/Value(), /*norm_bias=*/Value(),
                                                 weights, /*biases=*/ValueRange(),
                                                 /*norm_eps=*/FloatAttr());
        for (auto [index, linear] : llvm::enumerate(members)) {
          linear.getResult().replaceAllUsesWith(fused.getResult(index));
          linear->erase();
        }
      }
    });
    if (failed(result))
      signalPassFailure();
  }
};

} // namespace
