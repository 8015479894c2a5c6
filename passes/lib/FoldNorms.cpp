// loom-fold-norms: a norm whose every user is a projection becomes their input norm.
#include "FusionUtils.h"

namespace loom {
#define GEN_PASS_DEF_LOOMFOLDNORMS
#include "loom/Passes/Passes.h.inc"
} // namespace loom

using namespace mlir;

namespace {

// The norm being folded: an RMSNorm (weight optional) or a LayerNorm (weight and bias).
struct InputNorm {
  Value input, weight, bias;
  FloatAttr eps;
  bool isLayerNorm() const { return bool(bias); }
};

// Whether `user` reads the norm's result as its input row and can take the norm over.
bool canFoldInto(Operation *user, Value normed, const InputNorm &norm) {
  if (user->getNumOperands() == 0 || user->getOperand(0) != normed ||
      llvm::count(user->getOperands(), normed) != 1)
    return false;
  if (isa<loom::LinearOp>(user))
    return true;
  if (auto fused = dyn_cast<loom::FusedLinearOp>(user))
    return !fused.getNormEpsAttr();
  if (norm.isLayerNorm())
    return false; // GeGLU and attention inputs take an RMSNorm only
  if (auto geglu = dyn_cast<loom::GegluLinearOp>(user))
    return !geglu.getNormEpsAttr();
  if (auto attention = dyn_cast<loom::AttentionInputOp>(user))
    return !attention.getNormEpsAttr();
  return false;
}

// Rebuilds `user` with `norm` as its input norm; returns the replacement.
Operation *foldInto(Operation *user, const InputNorm &norm) {
  OpBuilder builder(user);
  Location loc = user->getLoc();
  if (auto linear = dyn_cast<loom::LinearOp>(user)) {
    SmallVector<Value> biases;
    if (linear.getBias())
      biases.push_back(linear.getBias());
    return loom::FusedLinearOp::create(builder, loc, TypeRange{linear.getType()}, norm.input,
                                       norm.weight, norm.bias, ValueRange{linear.getWeight()},
                                       biases, norm.eps);
  }
  if (auto fused = dyn_cast<loom::FusedLinearOp>(user))
    return loom::FusedLinearOp::create(builder, loc, fused.getResultTypes(), norm.input,
                                       norm.weight, norm.bias, fused.getWeights(),
                                       fused.getBiases(), norm.eps);
  if (auto geglu = dyn_cast<loom::GegluLinearOp>(user))
    return loom::GegluLinearOp::create(builder, loc, geglu.getType(), norm.input, norm.weight,
                                       geglu.getGateWeight(), geglu.getUpWeight(), norm.eps);
  auto attention = cast<loom::AttentionInputOp>(user);
  Type valueType = attention.getValue() ? attention.getValue().getType() : Type();
  return loom::AttentionInputOp::create(
      builder, loc, attention.getQuery().getType(), attention.getKey().getType(), valueType,
      norm.input, norm.weight, attention.getQWeight(), attention.getKWeight(),
      attention.getVWeight(), attention.getQNormWeight(), attention.getKNormWeight(),
      attention.getStart(), norm.eps, attention.getHeadEpsAttr(), attention.getThetaAttr(),
      attention.getRotatedPairsAttr(), attention.getRawKeyAttr());
}

std::optional<InputNorm> asInputNorm(Operation *op) {
  if (auto rms = dyn_cast<loom::RmsNormOp>(op)) {
    if (cast<RankedTensorType>(rms.getType()).getRank() != 2)
      return std::nullopt; // per-head norms belong to the attention input
    return InputNorm{rms.getInput(), rms.getWeight(), Value(), rms.getEpsAttr()};
  }
  if (auto layer = dyn_cast<loom::LayerNormOp>(op))
    return InputNorm{layer.getInput(), layer.getWeight(), layer.getBias(), layer.getEpsAttr()};
  return std::nullopt;
}

struct FoldNormsPass : loom::impl::LoomFoldNormsBase<FoldNormsPass> {
  void runOnOperation() override {
    auto result = loom::fusion::forEachEntry(getOperation(), getArgument(), [](Block &block) {
      SmallVector<Operation *> norms;
      for (Operation &op : block)
        if (isa<loom::RmsNormOp, loom::LayerNormOp>(op))
          norms.push_back(&op);
      bool rewritten = false;
      for (Operation *op : norms) {
        std::optional<InputNorm> norm = asInputNorm(op);
        Value normed = op->getResult(0);
        if (!norm || normed.use_empty() ||
            !llvm::all_of(normed.getUsers(),
                          [&](Operation *user) { return canFoldInto(user, normed, *norm); }))
          continue;
        SmallVector<Operation *> users(normed.getUsers());
        for (Operation *user : users) {
          Operation *folded = foldInto(user, *norm);
          user->replaceAllUsesWith(folded->getResults());
          user->erase();
        }
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
