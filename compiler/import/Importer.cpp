// The gemma4_unified forward pass (MODEL.md section 2.1, Hugging Face modeling_gemma4_unified.py)
// written as loom graph ops.
#include "loom/Import/Importer.h"

#include "loom/Dialect/LoomOps.h"
#include "loom/Error.h"

#include "mlir/IR/Builders.h"

#include <cmath>

using namespace mlir;

namespace loom {
namespace {

constexpr int64_t kDyn = ShapedType::kDynamic;

class ModelBuilder {
public:
  ModelBuilder(MLIRContext &context, const Checkpoint &checkpoint)
      : checkpoint_(checkpoint), config_(checkpoint.config()), builder_(&context),
        loc_(FileLineColLoc::get(&context, checkpoint.directory() + "/config.json", 0, 0)) {}

  OwningOpRef<ModuleOp> build() {
    module_ = ModuleOp::create(loc_);
    builder_.setInsertionPointToEnd(module_->getBody());
    declareWeights();
    buildEmbedText();
    if (config_.hasVision)
      buildEmbedImage();
    if (config_.hasAudio)
      buildEmbedAudio();
    buildDecoder();
    buildLmHead();
    return std::move(module_);
  }

private:
  Type f32() { return builder_.getF32Type(); }
  Type i32() { return builder_.getI32Type(); }
  RankedTensorType activation(ArrayRef<int64_t> perToken) {
    SmallVector<int64_t> shape{kDyn};
    shape.append(perToken.begin(), perToken.end());
    return RankedTensorType::get(shape, f32());
  }
  FloatAttr f64(double value) { return builder_.getF64FloatAttr(value); }
  IntegerAttr i64(int64_t value) { return builder_.getI64IntegerAttr(value); }

  Type elementTypeOf(DType dtype) {
    switch (dtype) {
    case DType::BF16:
      return builder_.getBF16Type();
    case DType::F16:
      return builder_.getF16Type();
    case DType::F32:
      return builder_.getF32Type();
    }
    return {};
  }

  void declareWeights() {
    for (const TensorLocation &tensor : checkpoint_.tensors()) {
      Type element = elementTypeOf(tensor.dtype);
      auto type = RankedTensorType::get(tensor.shape, element);
      WeightDeclOp::create(builder_, loc_, builder_.getStringAttr(tensor.name),
                           builder_.getStringAttr(tensor.name),
                           builder_.getStringAttr(tensor.file), i64(tensor.offset),
                           TypeAttr::get(element), TypeAttr::get(type));
      weightTypes_[tensor.name] = type;
    }
  }

  // Reads the weight `name` (canonical Hugging Face spelling).
  Value weight(const std::string &name) {
    auto it = weightTypes_.find(name);
    if (it == weightTypes_.end())
      fail(checkpoint_.directory(), ": tensor '", name, "' is needed but was not imported");
    return WeightOp::create(builder_, loc_, it->second, FlatSymbolRefAttr::get(builder_.getContext(), name));
  }

  func::FuncOp beginEntry(StringRef name, TypeRange inputs, Type result) {
    builder_.setInsertionPointToEnd(module_->getBody());
    auto func = func::FuncOp::create(builder_, loc_, name, builder_.getFunctionType(inputs, {result}));
    func->setAttr("loom.entry", builder_.getUnitAttr());
    builder_.setInsertionPointToStart(func.addEntryBlock());
    return func;
  }

  void endEntry(Value result) { func::ReturnOp::create(builder_, loc_, result); }

  Value rmsNorm(Value x, std::optional<std::string> weightName, double eps) {
    Value w = weightName ? weight(*weightName) : Value();
    return RmsNormOp::create(builder_, loc_, x.getType(), x, w, f64(eps));
  }

  Value linear(Value x, const std::string &weightName, std::optional<std::string> biasName = {}) {
    Value w = weight(weightName);
    int64_t out = cast<RankedTensorType>(w.getType()).getDimSize(0);
    Value b = biasName ? weight(*biasName) : Value();
    return LinearOp::create(builder_, loc_, activation({out}), x, w, b);
  }

  Value layerNorm(Value x, const std::string &prefix, double eps) {
    return LayerNormOp::create(builder_, loc_, x.getType(), x, weight(prefix + ".weight"),
                               weight(prefix + ".bias"), f64(eps));
  }

  Value reshape(Value x, ArrayRef<int64_t> perToken) {
    return ReshapeOp::create(builder_, loc_, activation(perToken), x);
  }

  void buildEmbedText() {
    int64_t hidden = config_.hiddenSize;
    auto func = beginEntry("embed_text", {RankedTensorType::get({kDyn}, i32())}, activation({hidden}));
    // The kernel generator rounds the scale to the table's element type, as Gemma does.
    Value h = EmbedOp::create(builder_, loc_, activation({hidden}), func.getArgument(0),
                              weight("model.language_model.embed_tokens.weight"),
                              f64(std::sqrt(double(hidden))));
    endEntry(h);
  }

  // LN -> dense -> LN -> + (column, row) embedding -> LN -> RMSNorm -> projection (MODEL.md 3.1).
  void buildEmbedImage() {
    int64_t patchDim = config_.patchDim();
    auto func = beginEntry("embed_image",
                           {activation({patchDim}), RankedTensorType::get({kDyn, 2}, i32())},
                           activation({config_.hiddenSize}));
    const std::string v = "model.vision_embedder.";
    double eps = config_.layerNormEps;
    Value x = layerNorm(func.getArgument(0), v + "patch_ln1", eps);
    x = linear(x, v + "patch_dense.weight", v + "patch_dense.bias");
    x = layerNorm(x, v + "patch_ln2", eps);
    x = VisionPositionAddOp::create(builder_, loc_, x.getType(), x, func.getArgument(1),
                                    weight(v + "pos_embedding"));
    x = layerNorm(x, v + "pos_norm", eps);
    x = rmsNorm(x, std::nullopt, config_.visionRmsNormEps);
    endEntry(linear(x, "model.embed_vision.embedding_projection.weight"));
  }

  // RMSNorm without scale -> projection of each 640-sample frame (MODEL.md 3.2).
  void buildEmbedAudio() {
    auto func = beginEntry("embed_audio", {activation({config_.audioEmbedDim})},
                           activation({config_.hiddenSize}));
    Value x = rmsNorm(func.getArgument(0), std::nullopt, config_.audioRmsNormEps);
    endEntry(linear(x, "model.embed_audio.embedding_projection.weight"));
  }

  Value rope(Value x, Value start, const RopeParameters &parameters, int64_t headDim) {
    int64_t pairs = headDim / 2;
    if (parameters.type == "proportional")
      pairs = int64_t(parameters.partialRotaryFactor * headDim / 2);
    return RopeOp::create(builder_, loc_, x.getType(), x, start, f64(parameters.theta), i64(pairs));
  }

  Value attentionBlock(int64_t layer, Value x, Value blocks, Value start) {
    const std::string p = "model.language_model.layers." + std::to_string(layer) + ".self_attn.";
    bool full = config_.isFull(layer);
    int64_t headDim = config_.layerHeadDim(layer), kvHeads = config_.layerKvHeads(layer);
    int64_t heads = config_.numHeads;
    double eps = config_.rmsNormEps;
    const RopeParameters &ropeParameters = full ? config_.fullRope : config_.slidingRope;

    Value q = reshape(linear(x, p + "q_proj.weight"), {heads, headDim});
    q = rope(rmsNorm(q, p + "q_norm.weight", eps), start, ropeParameters, headDim);
    Value rawKey = reshape(linear(x, p + "k_proj.weight"), {kvHeads, headDim});
    // k_eq_v: full layers have no v_proj; the raw key feeds the value branch too.
    Value rawValue = config_.layerHasValueProjection(layer)
                         ? reshape(linear(x, p + "v_proj.weight"), {kvHeads, headDim})
                         : rawKey;
    Value key = rope(rmsNorm(rawKey, p + "k_norm.weight", eps), start, ropeParameters, headDim);
    Value value = rmsNorm(rawValue, std::nullopt, eps);

    int64_t window = full ? 0 : config_.slidingWindow;
    bool imageBlocks = !full && config_.bidirectionalVision;
    Value attended = AttentionOp::create(builder_, loc_, q.getType(), q, key, value, blocks, start,
                                         i64(layer), i64(window), f64(1.0),
                                         imageBlocks ? builder_.getUnitAttr() : UnitAttr());
    KvAppendOp::create(builder_, loc_, key, value, start, i64(layer));
    return linear(reshape(attended, {heads * headDim}), p + "o_proj.weight");
  }

  Value decoderLayer(int64_t layer, Value x, Value blocks, Value start) {
    const std::string p = "model.language_model.layers." + std::to_string(layer) + ".";
    double eps = config_.rmsNormEps;
    Value attended = attentionBlock(layer, rmsNorm(x, p + "input_layernorm.weight", eps), blocks, start);
    x = AddOp::create(builder_, loc_, x.getType(), x,
                      rmsNorm(attended, p + "post_attention_layernorm.weight", eps));

    Value normed = rmsNorm(x, p + "pre_feedforward_layernorm.weight", eps);
    Value gated = GegluOp::create(builder_, loc_, activation({config_.intermediateSize}),
                                  linear(normed, p + "mlp.gate_proj.weight"),
                                  linear(normed, p + "mlp.up_proj.weight"));
    Value down = rmsNorm(linear(gated, p + "mlp.down_proj.weight"),
                         p + "post_feedforward_layernorm.weight", eps);
    x = AddOp::create(builder_, loc_, x.getType(), x, down);
    return ScaleOp::create(builder_, loc_, x.getType(), x, weight(p + "layer_scalar"));
  }

  void buildDecoder() {
    auto hidden = activation({config_.hiddenSize});
    auto func = beginEntry("decoder", {hidden, RankedTensorType::get({kDyn}, i32()), i32()}, hidden);
    Value x = func.getArgument(0);
    for (int64_t layer = 0; layer < config_.numLayers; ++layer)
      x = decoderLayer(layer, x, func.getArgument(1), func.getArgument(2));
    endEntry(rmsNorm(x, "model.language_model.norm.weight", config_.rmsNormEps));
  }

  // Tied embeddings: the logits are x E^T, then the final softcap.
  void buildLmHead() {
    auto func = beginEntry("lm_head", {activation({config_.hiddenSize})}, activation({config_.vocabSize}));
    Value logits = linear(func.getArgument(0), "model.language_model.embed_tokens.weight");
    if (config_.finalLogitSoftcap > 0)
      logits = SoftcapOp::create(builder_, loc_, logits.getType(), logits, f64(config_.finalLogitSoftcap));
    endEntry(logits);
  }

  const Checkpoint &checkpoint_;
  const ModelConfig &config_;
  OpBuilder builder_;
  Location loc_;
  OwningOpRef<ModuleOp> module_;
  std::map<std::string, RankedTensorType> weightTypes_;
};

} // namespace

OwningOpRef<ModuleOp> importCheckpoint(MLIRContext &context, const Checkpoint &checkpoint) {
  context.loadDialect<LoomDialect, func::FuncDialect>();
  return ModelBuilder(context, checkpoint).build();
}

} // namespace loom
