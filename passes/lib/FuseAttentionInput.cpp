// loom-fuse-attention-input: a layer's Q|K|V projection with its head norms and RoPE.
#include "FusionUtils.h"

namespace loom {
#define GEN_PASS_DEF_LOOMFUSEATTENTIONINPUT
#include "loom/Passes/Passes.h.inc"
} // namespace loom

using namespace mlir;

namespace {

using loom::fusion::singleUser;

// The graph ops one loom.attention_input replaces, and the values it takes over.
struct AttentionInput {
  loom::FusedLinearOp projection;
  loom::RmsNormOp queryNorm, keyNorm;      // keyNorm: null with raw keys
  loom::RopeOp queryRope, keyRope;         // keyRope: null with raw keys
  loom::RmsNormOp valueNorm;               // null with raw keys
  Value rawKeyHeads;                       // reshape of the k projection
  bool rawKey = false;
};

// reshape(value) -> rms_norm (with weight) -> rope, each the only user of the previous.
bool matchNormRope(Value headsValue, loom::RmsNormOp &norm, loom::RopeOp &rope) {
  norm = singleUser<loom::RmsNormOp>(headsValue);
  if (!norm || !norm.getWeight())
    return false;
  rope = singleUser<loom::RopeOp>(norm.getResult());
  return bool(rope);
}

Value heads(Value projected) {
  auto reshape = singleUser<loom::ReshapeOp>(projected);
  return reshape ? reshape.getResult() : Value();
}

std::optional<AttentionInput> match(loom::FusedLinearOp projection) {
  AttentionInput m{};
  m.projection = projection;
  unsigned count = projection.getNumResults();
  if ((count != 2 && count != 3) || projection.getNormEpsAttr() || !projection.getBiases().empty())
    return std::nullopt;
  Value queryHeads = heads(projection.getResult(0));
  m.rawKeyHeads = heads(projection.getResult(1));
  if (!queryHeads || !m.rawKeyHeads || !matchNormRope(queryHeads, m.queryNorm, m.queryRope))
    return std::nullopt;

  auto readsRawKeys = [&](Operation *user) {
    if (auto attention = dyn_cast<loom::RawKeyAttentionOp>(user))
      return attention.getRawKey() == m.rawKeyHeads && attention.getQuery() != m.rawKeyHeads;
    return isa<loom::KvAppendRawOp>(user);
  };
  if (count == 2 && !m.rawKeyHeads.use_empty() &&
      llvm::all_of(m.rawKeyHeads.getUsers(), readsRawKeys)) {
    m.rawKey = true;
  } else {
    // key = rope(k_norm(k)); value = v_norm(v), or v_norm(k) on k_eq_v layers.
    Value valueHeads = count == 3 ? heads(projection.getResult(2)) : m.rawKeyHeads;
    if (!valueHeads)
      return std::nullopt;
    for (Operation *user : m.rawKeyHeads.getUsers()) {
      auto norm = dyn_cast<loom::RmsNormOp>(user);
      if (!norm)
        return std::nullopt;
      if (norm.getWeight())
        m.keyNorm = norm;
      else if (count == 2)
        m.valueNorm = norm;
    }
    if (count == 3)
      m.valueNorm = singleUser<loom::RmsNormOp>(valueHeads);
    unsigned expectedKeyUsers = count == 2 ? 2 : 1;
    if (!m.keyNorm || !m.valueNorm || m.valueNorm.getWeight() ||
        std::distance(m.rawKeyHeads.getUses().begin(), m.rawKeyHeads.getUses().end()) !=
            expectedKeyUsers)
      return std::nullopt;
    m.keyRope = singleUser<loom::RopeOp>(m.keyNorm.getResult());
    if (!m.keyRope || m.keyRope.getStart() != m.queryRope.getStart() ||
        m.keyRope.getThetaAttr() != m.queryRope.getThetaAttr() ||
        m.keyRope.getRotatedPairsAttr() != m.queryRope.getRotatedPairsAttr() ||
        !loom::fusion::sameF64(m.keyNorm.getEpsAttr(), m.queryNorm.getEpsAttr()) ||
        !loom::fusion::sameF64(m.valueNorm.getEpsAttr(), m.queryNorm.getEpsAttr()))
      return std::nullopt;
  }
  return m;
}

bool rewrite(AttentionInput &m) {
  loom::FusedLinearOp projection = m.projection;
  Value start = m.queryRope.getStart();
  Value queryNormWeight = m.queryNorm.getWeight();
  Value keyNormWeight = m.keyNorm ? m.keyNorm.getWeight() : Value();
  for (Value value : {start, queryNormWeight, keyNormWeight})
    if (value && !loom::fusion::hoistBefore(value, projection))
      return false;
  Value valueWeight = projection.getNumResults() == 3 ? projection.getWeights()[2] : Value();
  Type valueType = m.rawKey ? Type() : m.valueNorm.getType();
  OpBuilder builder(projection);
  auto fused = loom::AttentionInputOp::create(
      builder, projection.getLoc(), m.queryRope.getType(), m.rawKeyHeads.getType(), valueType,
      projection.getInput(), /*norm_weight=*/Value(), projection.getWeights()[0],
      projection.getWeights()[1], valueWeight, queryNormWeight, keyNormWeight, start,
      /*norm_eps=*/FloatAttr(), m.queryNorm.getEpsAttr(), m.queryRope.getThetaAttr(),
      m.queryRope.getRotatedPairsAttr(), m.rawKey ? builder.getUnitAttr() : UnitAttr());
  m.queryRope.getResult().replaceAllUsesWith(fused.getQuery());
  if (m.rawKey) {
    m.rawKeyHeads.replaceAllUsesWith(fused.getKey());
  } else {
    m.keyRope.getResult().replaceAllUsesWith(fused.getKey());
    m.valueNorm.getResult().replaceAllUsesWith(fused.getValue());
  }
  return true;
}

struct FuseAttentionInputPass : loom::impl::LoomFuseAttentionInputBase<FuseAttentionInputPass> {
  void runOnOperation() override {
    auto result = loom::fusion::forEachEntry(getOperation(), getArgument(), [](Block &block) {
      SmallVector<loom::FusedLinearOp> projections(block.getOps<loom::FusedLinearOp>());
      bool rewritten = false;
      for (loom::FusedLinearOp projection : projections)
        if (auto m = match(projection))
          rewritten |= rewrite(*m);
      // The replaced chains (ropes, norms, reshapes, the projections) are now dead.
      if (rewritten)
        loom::fusion::eraseDeadOps(block);
    });
    if (failed(result))
      signalPassFailure();
  }
};

} // namespace
