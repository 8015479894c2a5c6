// loom-fuse-geglu: gate and up projections of one input feeding a GeGLU become one op.
#include "FusionUtils.h"

namespace loom {
#define GEN_PASS_DEF_LOOMFUSEGEGLU
#include "loom/Passes/Passes.h.inc"
} // namespace loom

using namespace mlir;

namespace {

struct FuseGegluPass : loom::impl::LoomFuseGegluBase<FuseGegluPass> {
  void runOnOperation() override {
    auto result = loom::fusion::forEachEntry(getOperation(), getArgument(), [](Block &block) {
      SmallVector<loom::GegluOp> gegluOps(block.getOps<loom::GegluOp>());
      for (loom::GegluOp geglu : gegluOps) {
        auto gate = loom::fusion::singleUseDef<loom::LinearOp>(geglu.getGate());
        auto up = loom::fusion::singleUseDef<loom::LinearOp>(geglu.getUp());
        if (!gate || !up || gate == up || gate.getBias() || up.getBias() ||
            gate.getInput() != up.getInput())
          continue;
        OpBuilder builder(geglu);
        auto fused = loom::GegluLinearOp::create(builder, geglu.getLoc(), geglu.getType(),
                                                 gate.getInput(), /*norm_weight=*/Value(),
                                                 gate.getWeight(), up.getWeight(),
                                                 /*norm_eps=*/FloatAttr());
        geglu.getResult().replaceAllUsesWith(fused.getResult());
        geglu->erase();
        gate->erase();
        up->erase();
      }
    });
    if (failed(result))
      signalPassFailure();
  }
};

} // namespace
