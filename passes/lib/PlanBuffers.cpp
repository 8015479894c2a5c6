// loom-plan-buffers: a static arena plan, in bytes per token, for every entry function.
#include "loom/Dialect/LoomOps.h"
#include "loom/Passes/Passes.h"

#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/DenseSet.h"

namespace loom {
#define GEN_PASS_DEF_LOOMPLANBUFFERS
#include "loom/Passes/Passes.h.inc"
} // namespace loom

using namespace mlir;

namespace {

constexpr int64_t kAlignment = 64;

int64_t bytesPerToken(Value value) {
  auto type = cast<RankedTensorType>(value.getType());
  int64_t elements = 1;
  for (int64_t size : type.getShape().drop_front())
    elements *= size;
  int64_t bytes = elements * type.getElementTypeBitWidth() / 8;
  return (bytes + kAlignment - 1) / kAlignment * kAlignment;
}

// The value whose storage `value` uses: reshapes are views of their input.
Value storageRoot(Value value) {
  while (auto reshape = value.getDefiningOp<loom::ReshapeOp>())
    value = reshape.getInput();
  return value;
}

struct Interval {
  int64_t offset, size, lastUse;
};

LogicalResult planFunction(func::FuncOp func) {
  if (!func.getBody().hasOneBlock())
    return func.emitOpError() << "loom-plan-buffers expects a single-block entry";
  Block &block = func.getBody().front();

  llvm::DenseMap<Operation *, int64_t> order;
  for (auto [index, op] : llvm::enumerate(block))
    order[&op] = index;

  llvm::DenseSet<Value> outputs;
  for (Value returned : block.getTerminator()->getOperands())
    outputs.insert(storageRoot(returned));

  // Last op that reads each root, through any reshapes of it.
  llvm::DenseMap<Value, int64_t> lastUse;
  for (Operation &op : block)
    for (Value operand : op.getOperands())
      lastUse[storageRoot(operand)] = order[&op];

  std::vector<Interval> live;
  int64_t arenaBytesPerToken = 0;
  for (Operation &op : block) {
    int64_t now = order[&op];
    llvm::erase_if(live, [&](const Interval &interval) { return interval.lastUse < now; });
    auto dispatch = dyn_cast<loom::DispatchOp>(op);
    if (!dispatch)
      continue;
    // A fused kernel may have several results (a layer's query, key and value): they lie back
    // to back from `arena_offset` and live as long as the longest-lived of them.
    int64_t size = 0, end = now;
    for (Value result : dispatch.getResults()) {
      if (outputs.contains(result))
        continue;
      size += bytesPerToken(result);
      if (auto last = lastUse.find(result); last != lastUse.end())
        end = std::max(end, last->second);
    }
    if (size == 0)
      continue;
    // First fit among the gaps between live intervals, sorted by offset.
    llvm::sort(live, [](const Interval &a, const Interval &b) { return a.offset < b.offset; });
    int64_t offset = 0;
    for (const Interval &interval : live) {
      if (offset + size <= interval.offset)
        break;
      offset = std::max(offset, interval.offset + interval.size);
    }
    live.push_back({offset, size, end});
    arenaBytesPerToken = std::max(arenaBytesPerToken, offset + size);
    dispatch.setArenaOffsetAttr(IntegerAttr::get(IntegerType::get(op.getContext(), 64), offset));
  }
  func->setAttr(loom::kArenaBytesPerTokenAttr,
                IntegerAttr::get(IntegerType::get(func.getContext(), 64), arenaBytesPerToken));
  return success();
}

struct PlanBuffersPass : loom::impl::LoomPlanBuffersBase<PlanBuffersPass> {
  void runOnOperation() override {
    for (auto func : getOperation().getOps<func::FuncOp>())
      if (func->hasAttr(loom::kEntryAttr) && failed(planFunction(func)))
        return signalPassFailure();
  }
};

} // namespace
