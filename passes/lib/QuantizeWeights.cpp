// loom-quantize-weights: which weights are stored int8 / int4, decided by how each is used.
#include "loom/Dialect/LoomOps.h"
#include "loom/Dialect/WeightQuant.h"
#include "loom/Passes/Passes.h"

#include "loom/Dialect/LoomDialect.h"

#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/StringMap.h"

namespace loom {
#define GEN_PASS_DEF_LOOMQUANTIZEWEIGHTS
#include "loom/Passes/Passes.h.inc"
} // namespace loom

using namespace mlir;

namespace {

enum class Role { Other, Matrix, Embedding };

// Embedding: the table of a loom.embed (and possibly the weight of the tied lm_head's
// loom.linear). Matrix: every use is a rank-2 weight operand of a loom op -- loom.linear and
// the fused projections alike; the only rank-2 weights of the model are projection matrices
// and the embedding table. Anything else stays as it is.
Role roleOf(ArrayRef<loom::WeightOp> reads) {
  bool embed = false;
  for (loom::WeightOp read : reads)
    for (OpOperand &use : read->getUses()) {
      Operation *user = use.getOwner();
      if (isa<loom::EmbedOp>(user))
        embed = true;
      else if (!isa_and_nonnull<loom::LoomDialect>(user->getDialect()) ||
               isa<loom::DispatchOp>(user))
        return Role::Other;
    }
  if (reads.empty())
    return Role::Other;
  return embed ? Role::Embedding : Role::Matrix;
}

// Order of compression: a kernel reads all its matrices in one format, so an op whose
// matrices got different schemes gets the least compressed of them for all.
int compressionRank(loom::WeightQuant quant) {
  switch (quant) {
  case loom::WeightQuant::Q4G128:
    return 3;
  case loom::WeightQuant::Q4G32:
    return 2;
  case loom::WeightQuant::Q8:
    return 1;
  case loom::WeightQuant::None:
    break;
  }
  return 0;
}

// A q4 scheme needs whole groups: g128 -> g32 -> q8 as the columns allow.
loom::WeightQuant fitToColumns(loom::WeightQuant quant, int64_t cols) {
  if (quant == loom::WeightQuant::Q4G128 && cols % 128 != 0)
    quant = loom::WeightQuant::Q4G32;
  if (quant == loom::WeightQuant::Q4G32 && cols % 32 != 0)
    quant = loom::WeightQuant::Q8;
  return quant;
}

struct QuantizeWeightsPass : loom::impl::LoomQuantizeWeightsBase<QuantizeWeightsPass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    std::optional<loom::WeightQuant> matrixQuant = loom::parseWeightQuant(mode);
    if (!matrixQuant) {
      module.emitError() << "loom-quantize-weights: mode must be q8, q4g32 or q4g128, found '"
                         << mode << "'";
      return signalPassFailure();
    }
    std::optional<loom::WeightQuant> embeddingQuant = loom::WeightQuant::None; // "keep"
    if (embedding != "keep")
      embeddingQuant = loom::parseWeightQuant(embedding);
    if (!embeddingQuant) {
      module.emitError() << "loom-quantize-weights: embedding must be q8, q4g32, q4g128 or keep, "
                            "found '"
                         << embedding << "'";
      return signalPassFailure();
    }

    llvm::StringMap<SmallVector<loom::WeightOp>> reads;
    module.walk([&](loom::WeightOp read) { reads[read.getWeight()].push_back(read); });

    // 1. A scheme per matrix and embedding table.
    llvm::DenseMap<Operation *, loom::WeightQuant> chosen;
    for (auto decl : module.getOps<loom::WeightDeclOp>()) {
      auto type = cast<RankedTensorType>(decl.getType());
      if (type.getRank() != 2 || !isa<FloatType>(type.getElementType()) || type.getEncoding())
        continue; // vectors, scalars, 3-D tables, or already quantized
      auto found = reads.find(decl.getSymName());
      if (found == reads.end())
        continue;
      Role role = roleOf(found->second);
      if (role == Role::Other)
        continue;
      loom::WeightQuant quant = role == Role::Embedding ? *embeddingQuant : *matrixQuant;
      quant = fitToColumns(quant, type.getDimSize(1));
      if (quant != loom::WeightQuant::None)
        chosen[decl] = quant;
    }

    // 2. One scheme per consuming op (its kernel reads one format): demote to the least
    //    compressed scheme among an op's matrices until nothing changes.
    auto declOf = [&](Value value) -> Operation * {
      auto read = value.getDefiningOp<loom::WeightOp>();
      return read ? module.lookupSymbol(read.getWeightAttr()) : nullptr;
    };
    for (bool changed = true; changed;) {
      changed = false;
      module.walk([&](Operation *op) {
        if (!isa_and_nonnull<loom::LoomDialect>(op->getDialect()) || isa<loom::WeightOp>(op))
          return;
        loom::WeightQuant least = loom::WeightQuant::None;
        for (Value operand : op->getOperands())
          if (auto it = chosen.find(declOf(operand)); it != chosen.end())
            if (least == loom::WeightQuant::None ||
                compressionRank(it->second) < compressionRank(least))
              least = it->second;
        for (Value operand : op->getOperands())
          if (auto it = chosen.find(declOf(operand)); it != chosen.end() && it->second != least) {
            it->second = least;
            changed = true;
          }
      });
    }

    // 3. Retype declarations and reads.
    for (auto decl : module.getOps<loom::WeightDeclOp>()) {
      auto it = chosen.find(decl);
      if (it == chosen.end())
        continue;
      RankedTensorType stored =
          loom::quantizedWeightType(cast<RankedTensorType>(decl.getType()), it->second);
      decl.setType(stored);
      for (loom::WeightOp read : reads[decl.getSymName()])
        read.getResult().setType(stored);
    }
  }
};

} // namespace
