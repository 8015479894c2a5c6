// loom-fuse-residual: r + rms_norm(x W^T) (* layer scalar) becomes one loom.linear_residual.
#include "FusionUtils.h"

namespace loom {
#define GEN_PASS_DEF_LOOMFUSERESIDUAL
#include "loom/Passes/Passes.h.inc"
} // namespace loom

using namespace mlir;

namespace {

using loom::fusion::singleUseDef;

struct FuseResidualPass : loom::impl::LoomFuseResidualBase<FuseResidualPass> {
  void runOnOperation() override {
    auto result = loom::fusion::forEachEntry(getOperation(), getArgument(), [](Block &block) {
      SmallVector<loom::AddOp> adds(block.getOps<loom::AddOp>());
      bool rewritten = false;
      for (loom::AddOp add : adds) {
        // Either operand may be the normed projection; the other is the residual.
        loom::RmsNormOp norm;
        loom::LinearOp projection;
        Value residual;
        for (auto [branch, other] : {std::pair{add.getLhs(), add.getRhs()},
                                     std::pair{add.getRhs(), add.getLhs()}}) {
          norm = singleUseDef<loom::RmsNormOp>(branch);
          projection = norm ? singleUseDef<loom::LinearOp>(norm.getInput()) : nullptr;
          if (projection && norm.getWeight() && !projection.getBias() &&
              cast<RankedTensorType>(norm.getType()).getRank() == 2) {
            residual = other;
            break;
          }
          projection = nullptr;
        }
        if (!projection)
          continue;
        // The layer scalar after the MLP's residual joins in when it is the add's only user.
        auto scale = loom::fusion::singleUser<loom::ScaleOp>(add.getResult());
        Operation *last = scale ? scale.getOperation() : add.getOperation();
        OpBuilder builder(last);
        auto fused = loom::LinearResidualOp::create(
            builder, add.getLoc(), add.getType(), projection.getInput(), projection.getWeight(),
            norm.getWeight(), residual, scale ? scale.getScalar() : Value(), norm.getEpsAttr());
        last->getResult(0).replaceAllUsesWith(fused.getResult());
        rewritten = true;
      }
      if (rewritten)
        loom::fusion::eraseDeadOps(block);
    });
    if (failed(result))
      signalPassFailure();
  }
};

} // namespace
