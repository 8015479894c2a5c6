// loom-cache-raw-keys: k_eq_v layers cache the raw k once; the attention derives K and V.
#include "FusionUtils.h"

namespace loom {
#define GEN_PASS_DEF_LOOMCACHERAWKEYS
#include "loom/Passes/Passes.h.inc"
} // namespace loom

using namespace mlir;

namespace {

// attention(q, rope(rms_norm(k, kw)), rms_norm(k)) + kv_append(key, value), the same k.
struct RawKeyLayer {
  loom::AttentionOp attention;
  loom::KvAppendOp append;
  loom::RopeOp keyRope;
  loom::RmsNormOp keyNorm, valueNorm;
};

std::optional<RawKeyLayer> match(loom::AttentionOp attention) {
  RawKeyLayer layer{attention, nullptr, nullptr, nullptr, nullptr};
  layer.keyRope = attention.getKey().getDefiningOp<loom::RopeOp>();
  layer.valueNorm = attention.getValue().getDefiningOp<loom::RmsNormOp>();
  if (!layer.keyRope || !layer.valueNorm || layer.valueNorm.getWeight())
    return std::nullopt;
  layer.keyNorm = layer.keyRope.getInput().getDefiningOp<loom::RmsNormOp>();
  if (!layer.keyNorm || !layer.keyNorm.getWeight() ||
      layer.keyNorm.getInput() != layer.valueNorm.getInput() ||
      !loom::fusion::sameF64(layer.keyNorm.getEpsAttr(), layer.valueNorm.getEpsAttr()) ||
      layer.keyRope.getStart() != attention.getStart())
    return std::nullopt;
  // K and V must go nowhere else than this attention and one append of this layer.
  for (Value derived : {attention.getKey(), attention.getValue()})
    for (Operation *user : derived.getUsers()) {
      if (user == attention)
        continue;
      auto append = dyn_cast<loom::KvAppendOp>(user);
      if (!append || append.getKey() != attention.getKey() ||
          append.getValue() != attention.getValue() || append.getStart() != attention.getStart() ||
          append.getLayer() != attention.getLayer() || (layer.append && layer.append != append))
        return std::nullopt;
      layer.append = append;
    }
  if (!layer.append || !layer.keyNorm->hasOneUse())
    return std::nullopt;
  return layer;
}

struct CacheRawKeysPass : loom::impl::LoomCacheRawKeysBase<CacheRawKeysPass> {
  void runOnOperation() override {
    auto result = loom::fusion::forEachEntry(getOperation(), getArgument(), [](Block &block) {
      SmallVector<RawKeyLayer> layers;
      for (auto attention : block.getOps<loom::AttentionOp>())
        if (auto layer = match(attention))
          layers.push_back(*layer);
      for (RawKeyLayer &layer : layers) {
        loom::AttentionOp attention = layer.attention;
        Value rawKey = layer.keyNorm.getInput();
        OpBuilder builder(attention);
        auto fused = loom::RawKeyAttentionOp::create(
            builder, attention.getLoc(), attention.getType(), attention.getQuery(), rawKey,
            layer.keyNorm.getWeight(), attention.getBlockIds(), attention.getStart(),
            attention.getLayerAttr(), attention.getWindowAttr(), attention.getScaleAttr(),
            attention.getImageBlocksAttr(), layer.keyNorm.getEpsAttr(),
            layer.keyRope.getThetaAttr(), layer.keyRope.getRotatedPairsAttr());
        attention.getResult().replaceAllUsesWith(fused.getResult());
        builder.setInsertionPoint(layer.append);
        loom::KvAppendRawOp::create(builder, layer.append.getLoc(), rawKey,
                                    layer.append.getStart(), layer.append.getLayerAttr());
        layer.append->erase();
        attention->erase();
      }
      if (!layers.empty())
        loom::fusion::eraseDeadOps(block);
    });
    if (failed(result))
      signalPassFailure();
  }
};

} // namespace
