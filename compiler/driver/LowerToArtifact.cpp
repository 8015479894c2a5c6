// Reads the planned module: each loom.kernel becomes a KernelSpec, each entry function a
// program of Dispatch and KvWrite commands over Values the runtime can resolve.
#include "loom/Driver/LowerToArtifact.h"

#include "loom/Dialect/LoomOps.h"
#include "loom/Dialect/WeightQuant.h"
#include "loom/ArtifactFormat.h"
#include "loom/Error.h"
#include "loom/Passes/Passes.h"
#include "loom/QuantLayout.h"

#include "llvm/ADT/DenseSet.h"
#include "llvm/ADT/StringMap.h"

#include <algorithm>
#include <cmath>

using namespace mlir;

namespace loom {
namespace {

fb::DType dtypeOf(Type element) {
  if (element.isF32())
    return fb::DType::F32;
  if (element.isBF16())
    return fb::DType::BF16;
  if (element.isF16())
    return fb::DType::F16;
  if (element.isInteger(32))
    return fb::DType::I32;
  fail("no artifact dtype for element type ", [&] {
    std::string text;
    llvm::raw_string_ostream os(text);
    os << element;
    return text;
  }());
}

std::vector<int64_t> shapeOf(RankedTensorType type) {
  std::vector<int64_t> shape;
  for (int64_t size : type.getShape())
    shape.push_back(ShapedType::isDynamic(size) ? int64_t(fb::DimSymbol::Tokens) : size);
  return shape;
}

int64_t perTokenElements(Value value) {
  int64_t elements = 1;
  for (int64_t size : cast<RankedTensorType>(value.getType()).getShape().drop_front())
    elements *= size;
  return elements;
}

int64_t dim(Value value, unsigned index) {
  return cast<RankedTensorType>(value.getType()).getDimSize(index);
}

// Gemma rounds the embedding scale to the table's dtype before multiplying (62.0 in bf16).
double roundToElementType(double value, codegen::ElementType type) {
  float asFloat = float(value);
  if (type != codegen::ElementType::BF16) // f32 and the quantized tables (dequantized to f32)
    return asFloat;
  uint32_t bits;
  std::memcpy(&bits, &asFloat, sizeof bits);
  bits = (bits + 0x7FFF + ((bits >> 16) & 1)) & 0xFFFF0000u;
  std::memcpy(&asFloat, &bits, sizeof bits);
  return asFloat;
}

codegen::ElementType weightTypeOf(Operation *op) {
  // A quantized matrix operand decides (the other weights are f32 then); else bf16 or f32.
  for (Value operand : op->getOperands())
    switch (weightQuantOf(operand.getType())) {
    case WeightQuant::Q8:
      return codegen::ElementType::Q8;
    case WeightQuant::Q4G32:
      return codegen::ElementType::Q4G32;
    case WeightQuant::Q4G128:
      return codegen::ElementType::Q4G128;
    case WeightQuant::None:
      break;
    }
  for (Value operand : op->getOperands())
    if (auto type = dyn_cast<RankedTensorType>(operand.getType()))
      if (type.getElementType().isBF16())
        return codegen::ElementType::BF16;
  return codegen::ElementType::F32;
}

// Rows per stored row group of a quantized weight: 8 for Q4 in the CPU layout, else 1.
int64_t rowGroupOf(RankedTensorType type, WeightLayout layout) {
  WeightQuant quant = weightQuantOf(type);
  bool grouped = layout == WeightLayout::Cpu &&
                 (quant == WeightQuant::Q4G32 || quant == WeightQuant::Q4G128);
  return grouped ? int64_t(quant::kQ4GroupRows) : 1;
}

// A quantized weight as QuantLayout.h describes it: Q4 in row groups in the CPU layout.
quant::PackedMatrix packedMatrixOf(RankedTensorType type, WeightLayout layout) {
  WeightQuant quant = weightQuantOf(type);
  return {quant == WeightQuant::Q8, uint64_t(type.getDimSize(0)), uint64_t(type.getDimSize(1)),
          uint64_t(weightQuantGroup(quant)), rowGroupOf(type, layout) > 1};
}

// Columns per stored panel: QuantLayout.h's rule in the CPU layout; 0 (rows whole) for CUDA.
int64_t columnPanelOf(RankedTensorType type, WeightLayout layout) {
  if (layout != WeightLayout::Cpu)
    return 0;
  return int64_t(quant::columnPanelOf(packedMatrixOf(type, layout)));
}

// A quantized weight is stored as U8 [rows, packed row bytes]; in the CPU layout Q4 comes in row
// groups, U8 [row groups, 8 * packed row bytes], and long rows in column panels: Q4 as U8 [bands,
// panels, 8, 8 * packed panel bytes], Q8 as U8 [bands, 64 * packed row bytes] (QuantLayout.h).
std::vector<int64_t> packedShapeOf(RankedTensorType type, WeightLayout layout) {
  return quant::packedShapeOf(packedMatrixOf(type, layout),
                              uint64_t(columnPanelOf(type, layout)));
}

// ---- the fused ops (FuseXxx passes) ----

codegen::InputNorm inputNormOf(Value weight, Value bias, FloatAttr eps) {
  using Kind = codegen::InputNorm::Kind;
  if (!eps)
    return {};
  return {bias ? Kind::Layer : Kind::Rms, bool(weight), eps.getValueAsDouble()};
}

codegen::Attention attentionParams(Value query, Value key, int64_t window, double scale,
                                   bool imageBlocks, int64_t maxContext) {
  return codegen::Attention{dim(query, 1), dim(key, 1), dim(query, 2), window,
                            window > 0 ? std::min(window, maxContext) : maxContext, scale,
                            imageBlocks};
}

std::optional<codegen::KernelParams> fusedParamsOf(Operation *op, int64_t maxContext) {
  using namespace codegen;
  if (auto fused = dyn_cast<FusedLinearOp>(op)) {
    FusedLinear params{dim(fused.getInput(), 1), {},
                       inputNormOf(fused.getNormWeight(), fused.getNormBias(), fused.getNormEpsAttr()),
                       !fused.getBiases().empty()};
    for (Value weight : fused.getWeights())
      params.outs.push_back(dim(weight, 0));
    return params;
  }
  if (auto geglu = dyn_cast<GegluLinearOp>(op))
    return GegluLinear{dim(geglu.getInput(), 1), dim(geglu.getGateWeight(), 0),
                       inputNormOf(geglu.getNormWeight(), Value(), geglu.getNormEpsAttr())};
  if (auto input = dyn_cast<AttentionInputOp>(op))
    return AttentionInput{dim(input.getInput(), 1),
                          dim(input.getQuery(), 1),
                          dim(input.getKey(), 1),
                          dim(input.getQuery(), 2),
                          inputNormOf(input.getNormWeight(), Value(), input.getNormEpsAttr()),
                          bool(input.getVWeight()),
                          input.getRawKey(),
                          input.getHeadEps().convertToDouble(),
                          input.getTheta().convertToDouble(),
                          input.getRotatedPairsAttr().getInt()};
  if (auto attention = dyn_cast<RawKeyAttentionOp>(op))
    return RawKeyAttention{attentionParams(attention.getQuery(), attention.getRawKey(),
                                           attention.getWindowAttr().getInt(),
                                           attention.getScale().convertToDouble(),
                                           attention.getImageBlocks(), maxContext),
                           attention.getEps().convertToDouble(),
                           attention.getTheta().convertToDouble(),
                           attention.getRotatedPairsAttr().getInt()};
  if (auto residual = dyn_cast<LinearResidualOp>(op))
    return LinearResidual{dim(residual.getWeight(), 1), dim(residual.getWeight(), 0),
                          residual.getEps().convertToDouble(), bool(residual.getScalar())};
  if (auto patch = dyn_cast<PatchEmbedOp>(op))
    return PatchEmbed{dim(patch.getPatches(), 1),        dim(patch.getDenseWeight(), 0),
                      dim(patch.getProjectionWeight(), 0), dim(patch.getPositionTable(), 0),
                      patch.getLnEps().convertToDouble(), patch.getRmsEps().convertToDouble()};
  return std::nullopt;
}

codegen::KernelParams paramsOf(Operation *op, codegen::ElementType weightType, int64_t maxContext) {
  using namespace codegen;
  if (auto embed = dyn_cast<EmbedOp>(op))
    return EmbedTokens{dim(embed.getTable(), 0), dim(embed.getTable(), 1),
                       roundToElementType(embed.getScale().convertToDouble(), weightType)};
  if (auto norm = dyn_cast<RmsNormOp>(op)) {
    auto type = cast<RankedTensorType>(norm.getType());
    int64_t width = type.getShape().back();
    return RmsNorm{perTokenElements(norm.getInput()) / width, width, bool(norm.getWeight()),
                   norm.getEps().convertToDouble()};
  }
  if (auto norm = dyn_cast<LayerNormOp>(op))
    return LayerNorm{dim(norm.getInput(), 1), norm.getEps().convertToDouble()};
  if (auto linear = dyn_cast<LinearOp>(op))
    return Linear{dim(linear.getWeight(), 1), dim(linear.getWeight(), 0), bool(linear.getBias())};
  if (auto rope = dyn_cast<RopeOp>(op))
    return Rope{dim(rope.getInput(), 1), dim(rope.getInput(), 2), rope.getTheta().convertToDouble(),
                rope.getRotatedPairsAttr().getInt()};
  if (auto attention = dyn_cast<AttentionOp>(op)) {
    int64_t window = attention.getWindowAttr().getInt();
    return Attention{dim(attention.getQuery(), 1), dim(attention.getKey(), 1),
                     dim(attention.getQuery(), 2), window,
                     window > 0 ? std::min(window, maxContext) : maxContext,
                     attention.getScale().convertToDouble(), attention.getImageBlocks()};
  }
  if (auto geglu = dyn_cast<GegluOp>(op))
    return GeGlu{perTokenElements(geglu.getGate())};
  if (auto add = dyn_cast<AddOp>(op))
    return Add{perTokenElements(add.getLhs())};
  if (auto scale = dyn_cast<ScaleOp>(op))
    return Scale{perTokenElements(scale.getInput())};
  if (auto softcap = dyn_cast<SoftcapOp>(op))
    return Softcap{perTokenElements(softcap.getInput()), softcap.getCap().convertToDouble()};
  if (auto position = dyn_cast<VisionPositionAddOp>(op))
    return VisionPositionAdd{dim(position.getInput(), 1), dim(position.getTable(), 0)};
  if (std::optional<codegen::KernelParams> fused = fusedParamsOf(op, maxContext))
    return *fused;
  fail("no kernel generator for op '", op->getName().getStringRef().str(), "'");
}

class Lowering {
public:
  Lowering(ModuleOp module, const ModelConfig &config, int64_t maxContext, WeightLayout layout)
      : module_(module), config_(config), maxContext_(maxContext), layout_(layout) {}

  LoweredModel run() {
    requireRuntime(1);
    for (auto decl : module_.getOps<WeightDeclOp>())
      addTensor(decl);
    for (auto kernel : module_.getOps<KernelOp>())
      addKernel(kernel);
    for (const char *name : {"embed_text", "embed_image", "embed_audio", "decoder", "lm_head"})
      if (auto func = module_.lookupSymbol<func::FuncOp>(name))
        lowered_.manifest.entry_points.push_back(lowerEntry(func));
    planKvCache();
    lowered_.manifest.max_context = maxContext_;
    return std::move(lowered_);
  }

private:
  void addTensor(WeightDeclOp decl) {
    auto tensor = std::make_unique<fb::TensorT>();
    auto type = cast<RankedTensorType>(decl.getType());
    tensor->name = decl.getName().str();
    if (WeightQuant quant = weightQuantOf(type); quant != WeightQuant::None) {
      tensor->dtype = fb::DType::U8;
      tensor->shape = packedShapeOf(type, layout_);
      tensor->quantization =
          quant == WeightQuant::Q8 ? fb::Quantization::Q8Row : fb::Quantization::Q4Group;
      tensor->group_size = weightQuantGroup(quant);
      tensor->logical_shape = shapeOf(type);
      if (int64_t group = rowGroupOf(type, layout_); group > 1) {
        tensor->row_group = group;
        requireRuntime(kRowGroupRuntimeVersion);
      }
      if (int64_t panel = columnPanelOf(type, layout_)) {
        tensor->column_panel = panel;
        requireRuntime(quant == WeightQuant::Q8 ? kQ8ColumnPanelRuntimeVersion
                                                : kColumnPanelRuntimeVersion);
      }
    } else {
      tensor->dtype = dtypeOf(type.getElementType());
      tensor->shape = shapeOf(type);
      lowered_.manifest.weight_dtype = tensor->dtype;
    }
    tensor->source_file = decl.getSourceFile().str();
    tensor->source_offset = decl.getSourceOffsetAttr().getInt();
    tensor->source_dtype = dtypeOf(decl.getSourceType());
    tensorIndex_[decl.getSymName()] = lowered_.manifest.tensors.size();
    lowered_.manifest.tensors.push_back(std::move(tensor));
  }

  void addKernel(KernelOp kernel) {
    Operation *body = &kernel.getBody().front().back();
    codegen::KernelSpec spec;
    spec.symbol = "loom_" + kernel.getSymName().str();
    spec.weightType = weightTypeOf(body);
    spec.params = paramsOf(body, spec.weightType, maxContext_);
    auto entry = std::make_unique<fb::KernelT>();
    entry->symbol = spec.symbol;
    entry->kind = codegen::kindName(spec);
    entry->description = codegen::describe(spec);
    kernelIndex_[kernel.getSymName()] = lowered_.manifest.kernels.size();
    lowered_.manifest.kernels.push_back(std::move(entry));
    lowered_.kernels.push_back(std::move(spec));
  }

  // Where `value` lives when a command reads or writes it.
  std::unique_ptr<fb::ValueT> locate(Value value, func::FuncOp func) {
    auto located = std::make_unique<fb::ValueT>();
    if (value.getType().isInteger(32)) {
      located->kind = fb::ValueKind::StartPosition;
      located->dtype = fb::DType::I32;
      return located;
    }
    auto type = cast<RankedTensorType>(value.getType());
    if (weightQuantOf(type) != WeightQuant::None) {
      located->dtype = fb::DType::U8;
      located->shape = packedShapeOf(type, layout_);
    } else {
      located->dtype = dtypeOf(type.getElementType());
      located->shape = shapeOf(type);
    }
    Value root = value;
    while (auto reshape = root.getDefiningOp<ReshapeOp>())
      root = reshape.getInput();
    if (auto argument = dyn_cast<BlockArgument>(root)) {
      located->kind = fb::ValueKind::Input;
      located->index = argument.getArgNumber();
    } else if (auto weight = root.getDefiningOp<WeightOp>()) {
      located->kind = fb::ValueKind::Weight;
      located->index = tensorIndex_.at(weight.getWeight());
    } else if (llvm::is_contained(func.getBody().front().getTerminator()->getOperands(), root)) {
      located->kind = fb::ValueKind::Output;
      located->index = 0;
    } else {
      auto dispatch = root.getDefiningOp<DispatchOp>();
      if (!dispatch || !dispatch.getArenaOffset())
        fail("value in @", func.getSymName().str(),
             " has no planned buffer; run loom-plan-buffers first");
      located->kind = fb::ValueKind::Arena;
      located->offset_per_token = arenaOffsetOf(cast<OpResult>(root), dispatch, func);
    }
    return located;
  }

  std::unique_ptr<fb::EntryPointT> lowerEntry(func::FuncOp func) {
    auto entry = std::make_unique<fb::EntryPointT>();
    entry->name = func.getSymName().str();
    for (BlockArgument argument : func.getArguments())
      if (!argument.getType().isInteger(32))
        entry->inputs.push_back(locate(argument, func));
    for (Value result : func.getBody().front().getTerminator()->getOperands()) {
      auto output = locate(result, func);
      output->kind = fb::ValueKind::Output;
      entry->outputs.push_back(std::move(output));
    }
    if (auto bytes = func->getAttrOfType<IntegerAttr>(kArenaBytesPerTokenAttr))
      entry->arena_bytes_per_token = bytes.getInt();

    for (Operation &op : func.getBody().front()) {
      if (auto dispatch = dyn_cast<DispatchOp>(op)) {
        auto command = std::make_unique<fb::DispatchT>();
        command->kernel = kernelIndex_.at(dispatch.getKernel());
        for (Value operand : dispatch.getOperands())
          command->args.push_back(locate(operand, func));
        if (auto attention = lookupAttention(dispatch)) {
          int64_t layer = *dispatch.getLayer();
          command->args.push_back(kvValue(fb::ValueKind::KvKeys, layer));
          command->args.push_back(kvValue(fb::ValueKind::KvValues, layer));
        } else if (readsRawKeyCache(dispatch)) {
          command->args.push_back(kvValue(fb::ValueKind::KvKeys, *dispatch.getLayer()));
        }
        for (Value result : dispatch.getResults())
          command->args.push_back(locate(result, func));
        const auto arguments = codegen::kernelArguments(lowered_.kernels[command->kernel]);
        matchKernelRanks(*command, arguments);
        passPositions(*command, arguments);
        fb::CommandUnion unionCommand;
        unionCommand.Set(std::move(*command));
        entry->commands.push_back(std::move(unionCommand));
      } else if (auto append = dyn_cast<KvAppendOp>(op)) {
        fb::KvWriteT write;
        write.layer = append.getLayerAttr().getInt();
        write.keys = locate(append.getKey(), func);
        write.values = locate(append.getValue(), func);
        fb::CommandUnion unionCommand;
        unionCommand.Set(std::move(write));
        entry->commands.push_back(std::move(unionCommand));
      } else if (auto append = dyn_cast<KvAppendRawOp>(op)) {
        fb::KvWriteT write; // keys only: the layer's cache holds the raw k
        write.layer = append.getLayerAttr().getInt();
        write.keys = locate(append.getRawKey(), func);
        keysOnlyLayers_.insert(write.layer);
        fb::CommandUnion unionCommand;
        unionCommand.Set(std::move(write));
        entry->commands.push_back(std::move(unionCommand));
      }
    }
    return entry;
  }

  // A kernel may view an activation with another rank than its tensor type: RMSNorm reads
  // [T, width] as [T, 1, width]; elementwise kernels read [T, heads, dim] as [T, heads * dim].
  void matchKernelRanks(fb::DispatchT &command,
                        const std::vector<codegen::KernelArgInfo> &arguments) {
    if (arguments.size() != command.args.size())
      fail("kernel ", lowered_.kernels[command.kernel].symbol, " takes ",
           arguments.size(), " arguments, the dispatch passes ", command.args.size());
    for (size_t i = 0; i < arguments.size(); ++i) {
      std::vector<int64_t> &shape = command.args[i]->shape;
      size_t rank = arguments[i].dims;
      if (shape.empty() || shape.size() == rank || shape[0] != int64_t(fb::DimSymbol::Tokens))
        continue;
      int64_t perToken = 1;
      for (size_t d = 1; d < shape.size(); ++d)
        perToken *= shape[d];
      if (rank == 2) {
        shape = {shape[0], perToken};
      } else if (rank > shape.size()) {
        shape.insert(shape.begin() + 1, rank - shape.size(), 1);
      } else {
        fail("cannot view a rank-", shape.size(), " value as rank ", rank,
             " for kernel ", lowered_.kernels[command.kernel].symbol);
      }
    }
  }

  // The call's start position reaches a kernel as its arguments say: a scalar, or a buffer of
  // each token's position (TokenPositions), which a batched step fills with every row's own so
  // that the kernel runs once over all rows.
  void passPositions(fb::DispatchT &command,
                     const std::vector<codegen::KernelArgInfo> &arguments) {
    for (size_t i = 0; i < arguments.size(); ++i)
      if (command.args[i]->kind == fb::ValueKind::StartPosition &&
          arguments[i].kind == codegen::KernelArgInfo::Kind::Input) {
        command.args[i]->kind = fb::ValueKind::TokenPositions;
        command.args[i]->shape = {int64_t(fb::DimSymbol::Tokens)};
        requireRuntime(kTokenPositionsRuntimeVersion);
      }
  }

  // loom-plan-buffers puts the results of one dispatch back to back from its arena_offset,
  // skipping those the entry returns.
  uint64_t arenaOffsetOf(OpResult result, DispatchOp dispatch, func::FuncOp func) {
    auto returned = func.getBody().front().getTerminator()->getOperands();
    uint64_t offset = *dispatch.getArenaOffset();
    for (OpResult earlier : dispatch->getResults().take_front(result.getResultNumber())) {
      if (llvm::is_contained(returned, Value(earlier)))
        continue;
      uint64_t bytes = uint64_t(perTokenElements(earlier)) *
                       (cast<RankedTensorType>(earlier.getType()).getElementTypeBitWidth() / 8);
      offset += (bytes + 63) / 64 * 64;
    }
    return offset;
  }

  // Whether the dispatched kernel reads a layer's raw-key cache (keys only).
  bool readsRawKeyCache(DispatchOp dispatch) {
    auto kernel = module_.lookupSymbol<KernelOp>(dispatch.getKernel());
    return isa<RawKeyAttentionOp>(kernel.getBody().front().back());
  }

  bool lookupAttention(DispatchOp dispatch) {
    auto kernel = module_.lookupSymbol<KernelOp>(dispatch.getKernel());
    return isa<AttentionOp>(kernel.getBody().front().back());
  }

  std::unique_ptr<fb::ValueT> kvValue(fb::ValueKind kind, int64_t layer) {
    auto value = std::make_unique<fb::ValueT>();
    value->kind = kind;
    value->index = layer;
    value->dtype = fb::DType::F32;
    value->shape = {kvCapacity(layer), config_.layerKvHeads(layer), config_.layerHeadDim(layer)};
    return value;
  }

  int64_t kvCapacity(int64_t layer) const {
    return config_.isFull(layer) ? maxContext_ : std::min(config_.slidingWindow, maxContext_);
  }

  void planKvCache() {
    for (int64_t layer = 0; layer < config_.numLayers; ++layer) {
      auto cache = std::make_unique<fb::KvCacheLayerT>();
      cache->kind = config_.isFull(layer) ? fb::LayerKind::Full : fb::LayerKind::Sliding;
      cache->capacity = kvCapacity(layer);
      cache->kv_heads = config_.layerKvHeads(layer);
      cache->head_dim = config_.layerHeadDim(layer);
      cache->dtype = fb::DType::F32;
      cache->keys_only = keysOnlyLayers_.contains(layer);
      // A keys-only cache needs a runtime that knows the field (ArtifactFormat.h).
      if (cache->keys_only)
        requireRuntime(kKeysOnlyKvRuntimeVersion);
      lowered_.manifest.kv_cache.push_back(std::move(cache));
    }
  }

  void requireRuntime(uint32_t version) {
    lowered_.manifest.min_runtime_version =
        std::max(lowered_.manifest.min_runtime_version, version);
  }

  ModuleOp module_;
  const ModelConfig &config_;
  int64_t maxContext_;
  WeightLayout layout_;
  LoweredModel lowered_;
  llvm::StringMap<uint32_t> tensorIndex_, kernelIndex_;
  llvm::DenseSet<int64_t> keysOnlyLayers_; // layers written by loom.kv_append_raw
};

} // namespace

LoweredModel lowerToArtifact(ModuleOp module, const ModelConfig &config, int64_t maxContext,
                             WeightLayout layout) {
  return Lowering(module, config, maxContext, layout).run();
}

std::unique_ptr<fb::ModelConfigT> makeManifestConfig(const ModelConfig &config) {
  auto rope = [](const RopeParameters &parameters) {
    auto out = std::make_unique<fb::RopeT>();
    out->type = parameters.type;
    out->theta = parameters.theta;
    out->partial_rotary_factor = parameters.partialRotaryFactor;
    return out;
  };
  auto out = std::make_unique<fb::ModelConfigT>();
  out->model_type = "gemma4_unified";
  out->vocab_size = config.vocabSize;
  out->hidden_size = config.hiddenSize;
  out->intermediate_size = config.intermediateSize;
  out->num_layers = config.numLayers;
  out->num_heads = config.numHeads;
  out->head_dim = config.headDim;
  out->num_kv_heads = config.numKvHeads;
  out->global_head_dim = config.globalHeadDim;
  out->num_global_kv_heads = config.numGlobalKvHeads;
  out->attention_k_eq_v = config.attentionKEqV;
  out->sliding_window = config.slidingWindow;
  out->max_position_embeddings = config.maxPositionEmbeddings;
  out->rms_norm_eps = config.rmsNormEps;
  out->final_logit_softcap = config.finalLogitSoftcap;
  for (LayerKind kind : config.layerKinds)
    out->layer_kinds.push_back(kind == LayerKind::Full ? fb::LayerKind::Full : fb::LayerKind::Sliding);
  out->sliding_rope = rope(config.slidingRope);
  out->full_rope = rope(config.fullRope);
  out->bidirectional_vision = config.bidirectionalVision;
  out->pad_token_id = config.padTokenId;
  out->bos_token_id = config.bosTokenId;
  out->eos_token_ids = config.eosTokenIds;
  out->has_vision = config.hasVision;
  out->model_patch_size = config.modelPatchSize();
  out->mm_embed_dim = config.mmEmbedDim;
  out->mm_posemb_size = config.mmPosembSize;
  out->has_audio = config.hasAudio;
  out->audio_embed_dim = config.audioEmbedDim;
  out->boi_token_id = config.boiTokenId;
  out->eoi_token_id = config.eoiTokenId;
  out->image_token_id = config.imageTokenId;
  out->boa_token_id = config.boaTokenId;
  out->eoa_token_id = config.eoaTokenId;
  out->audio_token_id = config.audioTokenId;
  out->video_token_id = config.videoTokenId;
  return out;
}

} // namespace loom
