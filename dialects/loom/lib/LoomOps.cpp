// Verifiers of the loom ops: shapes must agree the way the kernels will read them.
#include "loom/Dialect/LoomOps.h"

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
  if (!isa<Float32Type, BFloat16Type, Float16Type>(type.getElementType()))
    return emitOpError() << "element type must be f32, bf16 or f16, found " << type.getElementType();
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

#define GET_OP_CLASSES
#include "loom/Dialect/LoomOps.cpp.inc"
