// Verifiers of the loom ops: shapes must agree the way the kernels will read them.
#include "loom/Dialect/LoomOps.h"
#include "loom/Dialect/WeightQuant.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"

using namespace mlir;
using namespace loom;

namespace {

RankedTensorType tensorType(Value value) { return cast<RankedTensorType>(value.getType()); }

// The token dimension may be dynamic; two token dims agree when both are dynamic or equal.
bool sameTokens(RankedTensorType a, RankedTensorType b) { return a.getDimSize(0) == b.getDimSize(0); }

LogicalResult expectShape(Operation *op, StringRef what, RankedTensorType type,
                          ArrayRef<int64_t> expected) {
  if (type.getShape() == expected)
    return success();
  auto diag = op->emitOpError() << what << " must have shape [";
  llvm::interleaveComma(expected, diag);
  diag << "], found " << type;
  return diag;
}

LogicalResult expectSameType(Operation *op, StringRef what, Type found, Type expected) {
  if (found == expected)
    return success();
  return op->emitOpError() << what << " must have type " << expected << ", found " << found;
}

LogicalResult expectRank(Operation *op, StringRef what, RankedTensorType type, int64_t rank) {
  if (type.getRank() == rank)
    return success();
  return op->emitOpError() << what << " must have rank " << rank << ", found " << type;
}

} // namespace

LogicalResult WeightDeclOp::verify() {
  auto type = dyn_cast<RankedTensorType>(getType());
  if (!type || !type.hasStaticShape())
    return emitOpError() << "type must be a statically shaped tensor, found " << getType();
  if (type.getEncoding() || type.getElementType().isInteger()) {
    // A quantized matrix: i8 + "q8", or i4 + "q4g32" / "q4g128", rank 2, whole groups.
    WeightQuant quant = weightQuantOf(type);
    unsigned bits = quant == WeightQuant::Q8 ? 8 : 4;
    if (quant == WeightQuant::None || !type.getElementType().isSignlessInteger(bits))
      return emitOpError() << "a quantized weight must be tensor<RxCxi8, \"q8\">, tensor<RxCxi4, "
                              "\"q4g32\"> or tensor<RxCxi4, \"q4g128\">, found "
                           << type;
    if (type.getRank() != 2)
      return emitOpError() << "a quantized weight must have rank 2, found " << type;
    if (int64_t group = weightQuantGroup(quant); group && type.getDimSize(1) % group != 0)
      return emitOpError() << "a " << weightQuantName(quant) << " weight needs columns in whole groups of "
                           << group << ", found " << type.getDimSize(1);
  } else if (!isa<Float32Type, BFloat16Type, Float16Type>(type.getElementType())) {
    return emitOpError() << "element type must be f32, bf16 or f16, found " << type.getElementType();
  }
  if (!isa<Float32Type, BFloat16Type, Float16Type>(getSourceType()))
    return emitOpError() << "source_type must be f32, bf16 or f16, found " << getSourceType();
  if (getSourceOffsetAttr().getInt() < 0)
    return emitOpError() << "source_offset must be non-negative, found "
                         << getSourceOffsetAttr().getInt();
  return success();
}

LogicalResult WeightOp::verifySymbolUses(SymbolTableCollection &symbolTable) {
  auto decl = symbolTable.lookupNearestSymbolFrom<WeightDeclOp>(*this, getWeightAttr());
  if (!decl)
    return emitOpError() << "'" << getWeight() << "' does not name a loom.weight_decl";
  return expectSameType(*this, "result", getType(), decl.getType());
}

LogicalResult EmbedOp::verify() {
  auto ids = tensorType(getIds()), table = tensorType(getTable()), result = tensorType(getResult());
  if (failed(expectRank(*this, "ids", ids, 1)) || failed(expectRank(*this, "table", table, 2)))
    return failure();
  if (failed(expectShape(*this, "result", result, {ids.getDimSize(0), table.getDimSize(1)})))
    return failure();
  if (getScale().convertToDouble() <= 0)
    return emitOpError() << "scale must be positive";
  return success();
}

LogicalResult RmsNormOp::verify() {
  auto input = tensorType(getInput());
  if (input.getRank() < 2)
    return emitOpError() << "input must be [tokens, ..., width], found " << input;
  if (failed(expectSameType(*this, "result", getType(), input)))
    return failure();
  if (getWeight() &&
      failed(expectShape(*this, "weight", tensorType(getWeight()), {input.getShape().back()})))
    return failure();
  if (getEps().convertToDouble() <= 0)
    return emitOpError() << "eps must be positive";
  return success();
}

LogicalResult LayerNormOp::verify() {
  auto input = tensorType(getInput());
  if (failed(expectRank(*this, "input", input, 2)) ||
      failed(expectSameType(*this, "result", getType(), input)))
    return failure();
  int64_t width = input.getDimSize(1);
  if (failed(expectShape(*this, "weight", tensorType(getWeight()), {width})) ||
      failed(expectShape(*this, "bias", tensorType(getBias()), {width})))
    return failure();
  if (getEps().convertToDouble() <= 0)
    return emitOpError() << "eps must be positive";
  return success();
}

LogicalResult LinearOp::verify() {
  auto input = tensorType(getInput()), weight = tensorType(getWeight());
  if (failed(expectRank(*this, "input", input, 2)) ||
      failed(expectRank(*this, "weight", weight, 2)))
    return failure();
  if (weight.getDimSize(1) != input.getDimSize(1))
    return emitOpError() << "weight [out, in] must have in = " << input.getDimSize(1)
                         << " to match the input, found " << weight;
  if (getBias() &&
      failed(expectShape(*this, "bias", tensorType(getBias()), {weight.getDimSize(0)})))
    return failure();
  return expectShape(*this, "result", tensorType(getResult()),
                     {input.getDimSize(0), weight.getDimSize(0)});
}

LogicalResult ReshapeOp::verify() {
  auto input = tensorType(getInput()), result = tensorType(getResult());
  if (!sameTokens(input, result))
    return emitOpError() << "must keep the token dimension, found " << input << " to " << result;
  auto perToken = [](RankedTensorType type) -> int64_t {
    int64_t elements = 1;
    for (int64_t size : type.getShape().drop_front()) {
      if (ShapedType::isDynamic(size))
        return ShapedType::kDynamic;
      elements *= size;
    }
    return elements;
  };
  int64_t from = perToken(input), to = perToken(result);
  if (ShapedType::isDynamic(from) || ShapedType::isDynamic(to))
    return emitOpError() << "only the token dimension may be dynamic";
  if (from != to)
    return emitOpError() << "must keep the elements per token: " << from << " vs " << to;
  return success();
}

LogicalResult RopeOp::verify() {
  auto input = tensorType(getInput());
  if (failed(expectRank(*this, "input", input, 3)) ||
      failed(expectSameType(*this, "result", getType(), input)))
    return failure();
  int64_t headDim = input.getDimSize(2);
  if (headDim % 2 != 0)
    return emitOpError() << "head_dim must be even, found " << headDim;
  int64_t rotatedPairs = getRotatedPairsAttr().getInt();
  if (rotatedPairs < 0 || rotatedPairs > headDim / 2)
    return emitOpError() << "rotated_pairs must be in [0, " << headDim / 2 << "], found "
                         << rotatedPairs;
  if (getTheta().convertToDouble() <= 0)
    return emitOpError() << "theta must be positive";
  return success();
}

LogicalResult AttentionOp::verify() {
  auto query = tensorType(getQuery()), key = tensorType(getKey());
  if (failed(expectRank(*this, "query", query, 3)) || failed(expectRank(*this, "key", key, 3)) ||
      failed(expectSameType(*this, "value", getValue().getType(), key)) ||
      failed(expectSameType(*this, "result", getType(), query)))
    return failure();
  if (!sameTokens(query, key) || query.getDimSize(2) != key.getDimSize(2))
    return emitOpError() << "query and key must agree on tokens and head_dim, found " << query
                         << " and " << key;
  if (query.getDimSize(1) % key.getDimSize(1) != 0)
    return emitOpError() << "query heads (" << query.getDimSize(1)
                         << ") must be a multiple of key/value heads (" << key.getDimSize(1) << ")";
  if (failed(expectShape(*this, "block_ids", tensorType(getBlockIds()), {query.getDimSize(0)})))
    return failure();
  if (getWindowAttr().getInt() < 0 || getLayerAttr().getInt() < 0)
    return emitOpError() << "window and layer must be non-negative";
  return success();
}

LogicalResult KvAppendOp::verify() {
  auto key = tensorType(getKey());
  if (failed(expectRank(*this, "key", key, 3)) ||
      failed(expectSameType(*this, "value", getValue().getType(), key)))
    return failure();
  if (getLayerAttr().getInt() < 0)
    return emitOpError() << "layer must be non-negative";
  return success();
}

LogicalResult GegluOp::verify() {
  if (failed(expectSameType(*this, "up", getUp().getType(), getGate().getType())))
    return failure();
  return expectSameType(*this, "result", getType(), getGate().getType());
}

LogicalResult AddOp::verify() {
  if (failed(expectSameType(*this, "rhs", getRhs().getType(), getLhs().getType())))
    return failure();
  return expectSameType(*this, "result", getType(), getLhs().getType());
}

LogicalResult ScaleOp::verify() {
  if (failed(expectShape(*this, "scalar", tensorType(getScalar()), {1})))
    return failure();
  return expectSameType(*this, "result", getType(), getInput().getType());
}

LogicalResult SoftcapOp::verify() {
  if (getCap().convertToDouble() <= 0)
    return emitOpError() << "cap must be positive";
  return expectSameType(*this, "result", getType(), getInput().getType());
}

LogicalResult VisionPositionAddOp::verify() {
  auto input = tensorType(getInput()), table = tensorType(getTable());
  if (failed(expectRank(*this, "input", input, 2)) ||
      failed(expectSameType(*this, "result", getType(), input)))
    return failure();
  if (failed(expectShape(*this, "positions", tensorType(getPositions()),
                         {input.getDimSize(0), 2})))
    return failure();
  if (failed(expectRank(*this, "table", table, 3)))
    return failure();
  if (table.getDimSize(1) != 2 || table.getDimSize(2) != input.getDimSize(1))
    return emitOpError() << "table must be [size, 2, " << input.getDimSize(1) << "], found "
                         << table;
  return success();
}

LogicalResult KernelOp::verify() {
  auto type = dyn_cast<FunctionType>(getFunctionType());
  if (!type)
    return emitOpError() << "function_type must be a function type";
  Block &body = getBody().front();
  if (body.getArgumentTypes() != type.getInputs())
    return emitOpError() << "body arguments must match the function_type inputs";
  if (body.empty())
    return emitOpError() << "body must hold the op(s) the kernel computes";
  if (body.back().getResultTypes() != type.getResults())
    return emitOpError() << "the body's last op must produce the function_type results";
  return success();
}

LogicalResult DispatchOp::verifySymbolUses(SymbolTableCollection &symbolTable) {
  auto kernel = symbolTable.lookupNearestSymbolFrom<KernelOp>(*this, getKernelAttr());
  if (!kernel)
    return emitOpError() << "'" << getKernel() << "' does not name a loom.kernel";
  auto type = cast<FunctionType>(kernel.getFunctionType());
  if (getOperands().getTypes() != type.getInputs() || getResultTypes() != type.getResults())
    return emitOpError() << "operand and result types must match kernel @" << getKernel() << " "
                         << type;
  return success();
}

//===----------------------------------------------------------------------===//
// Fused ops
//===----------------------------------------------------------------------===//

namespace {

// The optional input norm of a fused projection over input rows of `width` elements.
LogicalResult verifyInputNorm(Operation *op, Value weight, Value bias, FloatAttr eps,
                              int64_t width) {
  if (!eps) {
    if (weight || bias)
      return op->emitOpError() << "norm_weight and norm_bias need norm_eps";
    return success();
  }
  if (eps.getValueAsDouble() <= 0)
    return op->emitOpError() << "norm_eps must be positive";
  if (bias && !weight)
    return op->emitOpError() << "a LayerNorm input norm (norm_bias) needs norm_weight too";
  if (weight && failed(expectShape(op, "norm_weight", tensorType(weight), {width})))
    return failure();
  if (bias && failed(expectShape(op, "norm_bias", tensorType(bias), {width})))
    return failure();
  return success();
}

// A [out, in] projection weight reading rows of `in` elements; returns out through `out`.
LogicalResult expectProjection(Operation *op, StringRef what, Value weight, int64_t in,
                               int64_t &out) {
  auto type = tensorType(weight);
  if (failed(expectRank(op, what, type, 2)))
    return failure();
  if (type.getDimSize(1) != in)
    return op->emitOpError() << what << " [out, in] must have in = " << in
                             << " to match the input, found " << type;
  out = type.getDimSize(0);
  return success();
}

LogicalResult expectPositive(Operation *op, StringRef what, double value) {
  if (value > 0)
    return success();
  return op->emitOpError() << what << " must be positive";
}

// The shared attributes of the RoPE the attention ops apply.
LogicalResult verifyRope(Operation *op, double theta, int64_t rotatedPairs, int64_t headDim) {
  if (headDim % 2 != 0)
    return op->emitOpError() << "head_dim must be even, found " << headDim;
  if (rotatedPairs < 0 || rotatedPairs > headDim / 2)
    return op->emitOpError() << "rotated_pairs must be in [0, " << headDim / 2 << "], found "
                             << rotatedPairs;
  return expectPositive(op, "theta", theta);
}

} // namespace

LogicalResult FusedLinearOp::verify() {
  auto input = tensorType(getInput());
  if (failed(expectRank(*this, "input", input, 2)))
    return failure();
  int64_t in = input.getDimSize(1);
  if (failed(verifyInputNorm(*this, getNormWeight(), getNormBias(), getNormEpsAttr(), in)))
    return failure();
  if (getWeights().empty())
    return emitOpError() << "needs at least one weight";
  if (getResults().size() != getWeights().size())
    return emitOpError() << "must have one result per weight: " << getWeights().size()
                         << " weights, " << getResults().size() << " results";
  if (!getBiases().empty() && getBiases().size() != getWeights().size())
    return emitOpError() << "must have no biases or one per weight: " << getWeights().size()
                         << " weights, " << getBiases().size() << " biases";
  for (auto [index, weight] : llvm::enumerate(getWeights())) {
    int64_t out = 0;
    std::string what = "weight " + std::to_string(index);
    if (failed(expectProjection(*this, what, weight, in, out)))
      return failure();
    if (!getBiases().empty() &&
        failed(expectShape(*this, "bias " + std::to_string(index),
                           tensorType(getBiases()[index]), {out})))
      return failure();
    if (failed(expectShape(*this, "result " + std::to_string(index),
                           tensorType(getResult(index)), {input.getDimSize(0), out})))
      return failure();
  }
  return success();
}

LogicalResult GegluLinearOp::verify() {
  auto input = tensorType(getInput());
  if (failed(expectRank(*this, "input", input, 2)))
    return failure();
  int64_t in = input.getDimSize(1), gateOut = 0, upOut = 0;
  if (failed(verifyInputNorm(*this, getNormWeight(), Value(), getNormEpsAttr(), in)) ||
      failed(expectProjection(*this, "gate_weight", getGateWeight(), in, gateOut)) ||
      failed(expectProjection(*this, "up_weight", getUpWeight(), in, upOut)))
    return failure();
  if (gateOut != upOut)
    return emitOpError() << "gate and up projections must have the same width, found "
                         << gateOut << " and " << upOut;
  return expectShape(*this, "result", tensorType(getResult()), {input.getDimSize(0), gateOut});
}

LogicalResult AttentionInputOp::verify() {
  auto input = tensorType(getInput());
  if (failed(expectRank(*this, "input", input, 2)))
    return failure();
  int64_t in = input.getDimSize(1);
  if (failed(verifyInputNorm(*this, getNormWeight(), Value(), getNormEpsAttr(), in)))
    return failure();
  auto query = tensorType(getQuery()), key = tensorType(getKey());
  if (failed(expectRank(*this, "query", query, 3)) || failed(expectRank(*this, "key", key, 3)))
    return failure();
  int64_t heads = query.getDimSize(1), kvHeads = key.getDimSize(1), headDim = query.getDimSize(2);
  if (!sameTokens(query, input) || !sameTokens(key, input) || key.getDimSize(2) != headDim)
    return emitOpError() << "query and key must be [tokens, heads, head_dim] with one head_dim, "
                            "found "
                         << query << " and " << key;
  if (heads % kvHeads != 0)
    return emitOpError() << "query heads (" << heads << ") must be a multiple of key/value heads ("
                         << kvHeads << ")";
  int64_t qOut = 0, kOut = 0;
  if (failed(expectProjection(*this, "q_weight", getQWeight(), in, qOut)) ||
      failed(expectProjection(*this, "k_weight", getKWeight(), in, kOut)))
    return failure();
  if (qOut != heads * headDim || kOut != kvHeads * headDim)
    return emitOpError() << "q_weight and k_weight must project to " << heads * headDim << " and "
                         << kvHeads * headDim << " features, found " << qOut << " and " << kOut;
  if (failed(expectShape(*this, "q_norm_weight", tensorType(getQNormWeight()), {headDim})))
    return failure();
  if (getRawKey()) {
    if (getValue() || getVWeight() || getKNormWeight())
      return emitOpError() << "with raw_key there is no value result, v_weight or k_norm_weight: "
                              "the attention derives them from the cached raw key";
  } else {
    if (!getValue() || !getKNormWeight())
      return emitOpError() << "needs a value result and k_norm_weight (or raw_key)";
    if (failed(expectSameType(*this, "value", getValue().getType(), key)) ||
        failed(expectShape(*this, "k_norm_weight", tensorType(getKNormWeight()), {headDim})))
      return failure();
    int64_t vOut = 0;
    if (getVWeight() && failed(expectProjection(*this, "v_weight", getVWeight(), in, vOut)))
      return failure();
    if (getVWeight() && vOut != kOut)
      return emitOpError() << "v_weight must project to " << kOut << " features, found " << vOut;
  }
  if (failed(expectPositive(*this, "head_eps", getHeadEps().convertToDouble())))
    return failure();
  return verifyRope(*this, getTheta().convertToDouble(), getRotatedPairsAttr().getInt(), headDim);
}

LogicalResult RawKeyAttentionOp::verify() {
  auto query = tensorType(getQuery()), key = tensorType(getRawKey());
  if (failed(expectRank(*this, "query", query, 3)) || failed(expectRank(*this, "raw_key", key, 3)) ||
      failed(expectSameType(*this, "result", getType(), query)))
    return failure();
  int64_t headDim = query.getDimSize(2);
  if (!sameTokens(query, key) || key.getDimSize(2) != headDim)
    return emitOpError() << "query and raw_key must agree on tokens and head_dim, found " << query
                         << " and " << key;
  if (query.getDimSize(1) % key.getDimSize(1) != 0)
    return emitOpError() << "query heads (" << query.getDimSize(1)
                         << ") must be a multiple of key/value heads (" << key.getDimSize(1) << ")";
  if (failed(expectShape(*this, "k_norm_weight", tensorType(getKNormWeight()), {headDim})) ||
      failed(expectShape(*this, "block_ids", tensorType(getBlockIds()), {query.getDimSize(0)})))
    return failure();
  if (getWindowAttr().getInt() < 0 || getLayerAttr().getInt() < 0)
    return emitOpError() << "window and layer must be non-negative";
  if (failed(expectPositive(*this, "eps", getEps().convertToDouble())))
    return failure();
  return verifyRope(*this, getTheta().convertToDouble(), getRotatedPairsAttr().getInt(), headDim);
}

LogicalResult KvAppendRawOp::verify() {
  if (failed(expectRank(*this, "raw_key", tensorType(getRawKey()), 3)))
    return failure();
  if (getLayerAttr().getInt() < 0)
    return emitOpError() << "layer must be non-negative";
  return success();
}

LogicalResult LinearResidualOp::verify() {
  auto input = tensorType(getInput()), residual = tensorType(getResidual());
  if (failed(expectRank(*this, "input", input, 2)) ||
      failed(expectRank(*this, "residual", residual, 2)) ||
      failed(expectSameType(*this, "result", getType(), residual)))
    return failure();
  int64_t out = 0;
  if (failed(expectProjection(*this, "weight", getWeight(), input.getDimSize(1), out)))
    return failure();
  if (!sameTokens(input, residual) || residual.getDimSize(1) != out)
    return emitOpError() << "residual must be [tokens, " << out << "] like the projection, found "
                         << residual;
  if (failed(expectShape(*this, "norm_weight", tensorType(getNormWeight()), {out})))
    return failure();
  if (getScalar() && failed(expectShape(*this, "scalar", tensorType(getScalar()), {1})))
    return failure();
  return expectPositive(*this, "eps", getEps().convertToDouble());
}

LogicalResult PatchEmbedOp::verify() {
  auto patches = tensorType(getPatches());
  if (failed(expectRank(*this, "patches", patches, 2)))
    return failure();
  int64_t patchDim = patches.getDimSize(1), width = 0, outWidth = 0;
  if (failed(expectShape(*this, "ln1_weight", tensorType(getLn1Weight()), {patchDim})) ||
      failed(expectShape(*this, "ln1_bias", tensorType(getLn1Bias()), {patchDim})) ||
      failed(expectProjection(*this, "dense_weight", getDenseWeight(), patchDim, width)) ||
      failed(expectShape(*this, "dense_bias", tensorType(getDenseBias()), {width})) ||
      failed(expectShape(*this, "ln2_weight", tensorType(getLn2Weight()), {width})) ||
      failed(expectShape(*this, "ln2_bias", tensorType(getLn2Bias()), {width})) ||
      failed(expectShape(*this, "pos_norm_weight", tensorType(getPosNormWeight()), {width})) ||
      failed(expectShape(*this, "pos_norm_bias", tensorType(getPosNormBias()), {width})) ||
      failed(expectProjection(*this, "projection_weight", getProjectionWeight(), width, outWidth)) ||
      failed(expectShape(*this, "positions", tensorType(getPositions()),
                         {patches.getDimSize(0), 2})) ||
      failed(expectShape(*this, "result", tensorType(getResult()),
                         {patches.getDimSize(0), outWidth})))
    return failure();
  auto table = tensorType(getPositionTable());
  if (table.getRank() != 3 || table.getDimSize(1) != 2 || table.getDimSize(2) != width)
    return emitOpError() << "position_table must be [size, 2, " << width << "], found " << table;
  if (failed(expectPositive(*this, "ln_eps", getLnEps().convertToDouble())))
    return failure();
  return expectPositive(*this, "rms_eps", getRmsEps().convertToDouble());
}

#define GET_OP_CLASSES
#include "loom/Dialect/LoomOps.cpp.inc"
