// See LinearSchedule.h. Tile sizes are for 16 vector registers (AVX2) and hold for AVX-512's
// 32 as well; they are constants here rather than tuned per machine.
#include "LinearSchedule.h"
#include "QuantizedLinear.h"

#include "loom/Error.h"
#include "loom/QuantLayout.h"

#include <algorithm>
#include <vector>

namespace loom::codegen::detail {
namespace {

using namespace Halide;

// Vector accumulators per (row, token): two chains of FMAs per output hide the FMA latency in
// the GEMV path and halve the loop count.
constexpr int kUnroll = 2;
// GEMV: weight rows interleaved per step (kGemvRows x kUnroll accumulators), rows per task.
constexpr int kGemvRows = 4;
constexpr int kGemvRowsPerTask = 64;
// GEMM: a task's block of rows and tokens, and the register tile inside it
// (kTileRows x kTileTokens x kUnroll = 12 accumulators + 5 operand registers).
constexpr int kGemmRows = 48;
constexpr int kGemmTokens = kGemmMinTokens; // ShiftInwards tiles: the path needs T >= this
constexpr int kTileRows = 3;
constexpr int kTileTokens = 2;
// GEMM: the reduction is walked in blocks of at most this many vector steps (x and w blocks of
// a tile then stay in L1 across the tile's rows and tokens).
constexpr int kMaxReductionBlock = 32;

int largestDivisorAtMost(int n, int limit) {
  for (int d = std::min(n, limit); d > 1; --d)
    if (n % d == 0)
      return d;
  return 1;
}

// A balanced sum of terms, so that the lane partials add in a shallow tree.
Expr treeSum(std::vector<Expr> terms) {
  while (terms.size() > 1) {
    std::vector<Expr> next;
    for (size_t i = 0; i + 1 < terms.size(); i += 2)
      next.push_back(terms[i] + terms[i + 1]);
    if (terms.size() % 2)
      next.push_back(terms.back());
    terms.swap(next);
  }
  return terms.empty() ? Expr(0.0f) : terms[0];
}

} // namespace

void readWeights(LinearProduct &p, const WeightMatrix &w) {
  p.in = w.cols;
  p.out = w.rows;
  p.weight = [w](Expr o, Expr i) { return w.at(o, i); };
  p.rowScale = nullptr;
  p.stepMultiple = 1;
  if (w.type == ElementType::Q8) { // one scale per row: applied once per output
    p.weight = [w](Expr o, Expr i) { return w.level(o, i); };
    p.rowScale = [w](Expr o) { return w.scale(o, 0); };
  }
  if (w.type == ElementType::Q4G32 || w.type == ElementType::Q4G128)
    p.stepMultiple = int(quant::kQ4BlockColumns);
  p.integerWeights.reset();
  if (hasIntegerProduct(w))
    p.integerWeights = w;
}

void defineLinearProduct(Func out, const LinearProduct &p, const Target &target) {
  if (p.in <= 0 || p.out <= 0 || p.in > (1 << 30) || p.out > (1 << 30))
    fail("linear: in ", p.in, " and out ", p.out, " must be in [1, 2^30]");
  if (p.integerWeights) {
    defineQuantizedProduct(out, p, *p.integerWeights, target);
    return;
  }
  const int lanes = std::max(4, target.natural_vector_size(Float(32)));
  int unroll = kUnroll;
  while ((lanes * unroll) % std::max(1, p.stepMultiple) != 0)
    unroll *= 2;
  const int wide = lanes * unroll; // reduction elements per step
  // Keep the register tiles at 8 (GEMV) and 12 (GEMM) vector accumulators whatever `unroll`.
  const int gemvTileRows = std::max(1, kGemvRows * kUnroll / unroll);
  const int tileTokens = std::max(1, kTileTokens * kUnroll / unroll);
  const int in = int(p.in), outRows = int(p.out);
  const int steps = in / wide, tail = in % wide;
  const int block = largestDivisorAtMost(std::max(steps, 1), kMaxReductionBlock);
  const int blocks = std::max(steps, 1) / block;

  // Two levels of reduction, so that the innermost accumulators are a small Func of constant
  // size (kept in registers) while the running sums live in memory:
  //   tileSum(l, o, t, b) = sum over the `block` steps of reduction block b
  //   partial(l, o, t)    = sum over blocks b of tileSum(l, o, t, b)
  // where a step covers `wide` consecutive inputs and l is the lane within it.
  Var o("o"), t("t"), l("l"), b("b");
  Func tileSum("linear_tile"), partial("linear_lanes");
  RDom inBlock(0, block, "linear_step"), overBlocks(0, blocks, "linear_block");
  tileSum(l, o, t, b) = 0.0f;
  partial(l, o, t) = 0.0f;
  if (steps > 0) {
    Expr i = (b * block + inBlock) * wide + l;
    tileSum(l, o, t, b) += p.x(i, t) * p.weight(o, i);
    partial(l, o, t) += tileSum(l, o, t, overBlocks);
  }
  std::vector<Expr> laneTerms;
  if (steps > 0)
    for (int k = 0; k < wide; ++k)
      laneTerms.push_back(partial(k, o, t));
  Expr total = treeSum(laneTerms);
  if (tail > 0) {
    RDom rest(steps * wide, tail, "linear_rest");
    total = total + sum(p.x(rest, t) * p.weight(o, rest), "linear_tail");
  }
  if (p.rowScale)
    total = total * p.rowScale(o);
  if (p.bias)
    total = total + p.bias(o);
  out(o, t) = total;

  // --- schedule --------------------------------------------------------------------------
  // Both paths use the same loop names (ob/tb for a task's block, ot/tt for a register tile)
  // so that each intermediate has one compute_at level valid in either specialization.
  const Expr tokens = p.tokens.defined() ? p.tokens : out.output_buffer().dim(1).extent();
  const bool gemmFits = steps > 0 && outRows >= kGemmRows;
  const Expr gemm = tokens >= kGemmTokens;
  Var ob("ob"), oi("oi"), tb("tb"), ti("ti"), obo("obo"), obi("obi");
  const int gemvRows = std::min(gemvTileRows, outRows);
  if (gemmFits)
    out.specialize(gemm)
        .split(o, ob, oi, kGemmRows, TailStrategy::ShiftInwards)
        .split(t, tb, ti, kGemmTokens, TailStrategy::ShiftInwards)
        .reorder(oi, ti, tb, ob)
        .split(ob, obo, obi, 1)
        .parallel(obo)
        .vectorize(oi, lanes);
  out.split(o, ob, oi, gemvRows, TailStrategy::ShiftInwards)
      .split(t, tb, ti, 1)
      .reorder(oi, ti, tb, ob)
      .split(ob, obo, obi, std::max(1, kGemvRowsPerTask / gemvRows), TailStrategy::GuardWithIf)
      .parallel(obo);
  if (steps == 0)
    return;

  // partial: the task block's running sums; updated once per reduction block and tile.
  partial.compute_at(out, tb).vectorize(l, lanes);
  Var ot("ot"), orr("orr"), tt("tt"), tr("tr");
  const RVar blockVar = overBlocks.x;
  if (gemmFits)
    partial.update()
        .specialize(gemm)
        .split(o, ot, orr, kTileRows)
        .split(t, tt, tr, tileTokens)
        .reorder(l, orr, tr, ot, tt, blockVar)
        .vectorize(l, lanes)
        .unroll(orr)
        .unroll(tr);
  partial.update()
      .split(o, ot, orr, gemvRows)
      .split(t, tt, tr, 1)
      .reorder(l, orr, tr, ot, tt, blockVar)
      .vectorize(l, lanes);

  // tileSum: the register tile (rows x tokens x `wide` lanes), one reduction block at a time.
  Var lv("lv");
  tileSum.compute_at(partial, ot).vectorize(l, lanes);
  tileSum.update()
      .split(l, l, lv, lanes)
      .reorder(lv, l, o, t, inBlock.x)
      .vectorize(lv)
      .unroll(l)
      .unroll(o)
      .unroll(t);
}

} // namespace loom::codegen::detail
