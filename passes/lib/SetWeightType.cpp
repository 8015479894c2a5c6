// loom-set-weight-type: the element type weights are stored and read in.
#include "loom/Dialect/LoomOps.h"
#include "loom/Passes/Passes.h"

namespace loom {
#define GEN_PASS_DEF_LOOMSETWEIGHTTYPE
#include "loom/Passes/Passes.h.inc"
} // namespace loom

using namespace mlir;

namespace {

struct SetWeightTypePass : loom::impl::LoomSetWeightTypeBase<SetWeightTypePass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    Builder builder(module.getContext());
    Type element;
    if (elementType == "f32")
      element = builder.getF32Type();
    else if (elementType == "bf16")
      element = builder.getBF16Type();
    else {
      module.emitError() << "loom-set-weight-type: element-type must be f32 or bf16, found '"
                         << elementType << "'";
      return signalPassFailure();
    }
    auto retype = [&](Type type) {
      return RankedTensorType::get(cast<RankedTensorType>(type).getShape(), element);
    };
    module.walk([&](loom::WeightDeclOp decl) { decl.setType(retype(decl.getType())); });
    module.walk([&](loom::WeightOp use) { use.getResult().setType(retype(use.getType())); });
  }
};

} // namespace
