// loom-outline-kernels: one shared loom.kernel per distinct graph op signature.
#include "loom/Dialect/LoomOps.h"
#include "loom/Passes/Passes.h"

#include "mlir/IR/IRMapping.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/Support/raw_ostream.h"

namespace loom {
#define GEN_PASS_DEF_LOOMOUTLINEKERNELS
#include "loom/Passes/Passes.h.inc"
} // namespace loom

using namespace mlir;

namespace {

bool isKernelOp(Operation *op) {
  return isa<loom::EmbedOp, loom::RmsNormOp, loom::LayerNormOp, loom::LinearOp, loom::RopeOp,
             loom::AttentionOp, loom::GegluOp, loom::AddOp, loom::ScaleOp, loom::SoftcapOp,
             loom::VisionPositionAddOp>(op) ||
         isa<loom::FusedLinearOp, loom::GegluLinearOp, loom::AttentionInputOp,
             loom::RawKeyAttentionOp, loom::LinearResidualOp, loom::PatchEmbedOp>(op);
}

// Ops that compute the same function on the same types share a kernel; the layer an
// attention reads is a property of the dispatch, not of the code.
std::string signatureOf(Operation *op) {
  std::string key;
  llvm::raw_string_ostream os(key);
  os << op->getName() << "(";
  llvm::interleaveComma(op->getOperandTypes(), os);
  os << ")->(";
  llvm::interleaveComma(op->getResultTypes(), os);
  os << ")";
  for (NamedAttribute attr : op->getAttrs())
    if (attr.getName() != "layer")
      os << " " << attr.getName() << "=" << attr.getValue();
  return key;
}

struct OutlineKernelsPass : loom::impl::LoomOutlineKernelsBase<OutlineKernelsPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    OpBuilder builder(module.getContext());
    llvm::StringMap<loom::KernelOp> kernels;
    llvm::StringMap<unsigned> countPerKind;

    auto kernelFor = [&](Operation *op) {
      std::string key = signatureOf(op);
      if (auto it = kernels.find(key); it != kernels.end())
        return it->second;
      StringRef kind = op->getName().stripDialect();
      std::string symbol = (kind + "_" + Twine(countPerKind[kind]++)).str();
      auto type = builder.getFunctionType(op->getOperandTypes(), op->getResultTypes());
      builder.setInsertionPointToEnd(module.getBody());
      auto kernel = loom::KernelOp::create(builder, op->getLoc(), builder.getStringAttr(symbol),
                                          TypeAttr::get(type));
      Block *body = builder.createBlock(&kernel.getBody());
      IRMapping mapping;
      for (Value operand : op->getOperands())
        mapping.map(operand, body->addArgument(operand.getType(), op->getLoc()));
      builder.setInsertionPointToEnd(body);
      Operation *clone = builder.clone(*op, mapping);
      if (auto attention = dyn_cast<loom::AttentionOp>(clone))
        attention.setLayer(0); // the dispatch says which layer's cache it reads
      if (auto attention = dyn_cast<loom::RawKeyAttentionOp>(clone))
        attention.setLayer(0);
      kernels[key] = kernel;
      return kernel;
    };

    SmallVector<Operation *> toOutline;
    module.walk([&](func::FuncOp func) {
      if (!func->hasAttr(loom::kEntryAttr))
        return;
      func.walk([&](Operation *op) {
        if (isKernelOp(op))
          toOutline.push_back(op);
      });
    });

    for (Operation *op : toOutline) {
      loom::KernelOp kernel = kernelFor(op);
      builder.setInsertionPoint(op);
      IntegerAttr layer;
      if (auto attention = dyn_cast<loom::AttentionOp>(op))
        layer = attention.getLayerAttr();
      if (auto attention = dyn_cast<loom::RawKeyAttentionOp>(op))
        layer = attention.getLayerAttr();
      auto dispatch = loom::DispatchOp::create(
          builder, op->getLoc(), op->getResultTypes(), FlatSymbolRefAttr::get(kernel.getSymNameAttr()),
          op->getOperands(), layer, /*arena_offset=*/IntegerAttr());
      op->replaceAllUsesWith(dispatch.getResults());
      op->erase();
    }
  }
};

} // namespace
