// loom-fuse-vision-embed: the vision embedder chain becomes one loom.patch_embed.
#include "FusionUtils.h"

namespace loom {
#define GEN_PASS_DEF_LOOMFUSEVISIONEMBED
#include "loom/Passes/Passes.h.inc"
} // namespace loom

using namespace mlir;

namespace {

using loom::fusion::singleUseDef;

struct FuseVisionEmbedPass : loom::impl::LoomFuseVisionEmbedBase<FuseVisionEmbedPass> {
  void runOnOperation() override {
    auto result = loom::fusion::forEachEntry(getOperation(), getArgument(), [](Block &block) {
      SmallVector<loom::LinearOp> projections(block.getOps<loom::LinearOp>());
      bool rewritten = false;
      for (loom::LinearOp projection : projections) {
        // Walk the chain back from the projection; every link has one user.
        auto rms = singleUseDef<loom::RmsNormOp>(projection.getInput());
        auto posNorm = rms ? singleUseDef<loom::LayerNormOp>(rms.getInput()) : nullptr;
        auto position = posNorm ? singleUseDef<loom::VisionPositionAddOp>(posNorm.getInput()) : nullptr;
        auto ln2 = position ? singleUseDef<loom::LayerNormOp>(position.getInput()) : nullptr;
        auto dense = ln2 ? singleUseDef<loom::LinearOp>(ln2.getInput()) : nullptr;
        auto ln1 = dense ? singleUseDef<loom::LayerNormOp>(dense.getInput()) : nullptr;
        if (!ln1 || rms.getWeight() || !dense.getBias() || projection.getBias() ||
            cast<RankedTensorType>(rms.getType()).getRank() != 2 ||
            !loom::fusion::sameF64(ln1.getEpsAttr(), ln2.getEpsAttr()) ||
            !loom::fusion::sameF64(ln1.getEpsAttr(), posNorm.getEpsAttr()))
          continue;
        OpBuilder builder(projection);
        auto fused = loom::PatchEmbedOp::create(
            builder, projection.getLoc(), projection.getType(), ln1.getInput(),
            position.getPositions(), ln1.getWeight(), ln1.getBias(), dense.getWeight(),
            dense.getBias(), ln2.getWeight(), ln2.getBias(), position.getTable(),
            posNorm.getWeight(), posNorm.getBias(), projection.getWeight(), ln1.getEpsAttr(),
            rms.getEpsAttr());
        projection.getResult().replaceAllUsesWith(fused.getResult());
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
