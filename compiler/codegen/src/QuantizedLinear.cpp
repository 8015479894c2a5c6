// See QuantizedLinear.h. Lane layout of the integer dot product of one B-column block, with L
// int32 lanes per vector (8 on AVX2, 16 on AVX-512):
//   dot(l, o, t, b) = sum_{h < B / 2L, r < 2} code(o, c) * xq(c, t),  c = b*B + h*2L + 2l + r
// r is the pair that vpmaddwd sums into one lane (Halide: an atomic vectorised reduction of
// factor 2), h the vectors of the block added lane-wise.
#include "QuantizedLinear.h"
#include "PipelineHelpers.h"

#include "loom/Error.h"
#include "loom/QuantLayout.h"

#include <algorithm>
#include <optional>
#include <string>
#include <vector>

namespace loom::codegen::detail {
namespace {

using namespace Halide;

constexpr int kBlock = int(quant::kQ4BlockColumns); // the smallest activation block
// The activation block where rows hold whole ones: its dot products stay exact int32 (|sum| <=
// 256 * 127 * 32767 < 2^31) and need one conversion and FMA per 256 columns instead of 8.
constexpr int kWideBlock = 256;
constexpr float kActivationLevels = 32767.0f;         // int16 activations: +-32767
// GEMV (decode): rows per register tile by row length (kShortRowBytes,
// LinearSchedule.h: 3840-column q8 rows alone, 15360-column ones 8 at a time, each activation
// load serving 8 rows; one thread, 2 MiB pages: 58% of the bandwidth, against 54% with 6, 49%
// with 4, 38% with 2 and 30% alone). A row read alone gets `kChains` accumulators to keep its
// FMAs independent; a tile's rows have one each (more would spill). Rows per task:
// `gemv_rows_per_task`.
constexpr int kGemvLongRowTile = 8;
constexpr int kChains = 2;
// GEMM (prefill): the register tile is `gemm_tile_rows` x `gemm_tile_tokens` accumulators (2 x 4
// by default: AVX2's 16 registers; with AVX-512 VNNI 4 x 4, since Zen 5 runs two zmm vpdpwssd a
// cycle and 8 accumulators cannot cover their latency: 1.2-1.5x on the 12B's products,
// RESULTS.md); rows per task: `gemm_task_rows` (48 by default). A matrix of fewer than
// kGemmMinRows rows has no GEMM path (its GEMV serves every token count), whatever the task
// size: so that the task size changes the schedule only, never which path (and summation
// order) a product takes.
constexpr int kGemmMinRows = 48;
// The tiled path from `gemm_from_tokens` tokens on, by default two tiles of tokens (8): each
// weight load then serves 4 tokens instead of
// one, but below 8 tokens the GEMV, rereading a task's 64 rows from L2 per token, was faster on
// a Zen 4 (2 threads, 30720 x 3840: 3 tokens 2.45 ms, 4 in tiles 4.06 ms, 8 in tiles 5.80 ms):
// the int16 products make q8 compute-bound from a few tokens on.

// Rows in column panels (QuantLayout.h) are read alone, panel by panel.
int gemvTileRows(const WeightMatrix &w) {
  return w.rowBytes() <= kShortRowBytes || w.panels() > 1 ? 1 : kGemvLongRowTile;
}

} // namespace

BlockQuantizedActivations quantizeActivationBlocks(Func x, int blockColumns, float levels, Type type,
                                                   const std::string &prefix, int vectorLanes) {
  Var j("j"), b("b"), t("t");
  Func absMax(prefix + "_absmax");
  BlockQuantizedActivations a{Func(prefix + "_xq"), Func(prefix + "_scale")};
  RDom inBlock(0, blockColumns, prefix + "_col");
  absMax(b, t) = 0.0f;
  absMax(b, t) = max(absMax(b, t), abs(x(b * blockColumns + inBlock, t)));
  a.xScale(b, t) = absMax(b, t) * (1.0f / levels);
  Expr inverse = select(absMax(b, t) > 0.0f, levels / absMax(b, t), 0.0f);
  a.xq(j, b, t) = cast(type, round(x(b * blockColumns + j, t) * inverse));
  absMax.compute_root().parallel(t);
  absMax.update().atomic().vectorize(inBlock).parallel(t);
  a.xq.compute_root().vectorize(j, vectorLanes).parallel(t);
  return a;
}

bool hasIntegerProduct(const WeightMatrix &w) {
  return w.type == ElementType::Q8 && w.cols % kBlock == 0;
}

int q8ActivationBlock(int64_t cols) { return cols % kWideBlock == 0 ? kWideBlock : kBlock; }

void defineQuantizedProduct(Func out, const LinearProduct &p, const WeightMatrix &w,
                            const Target &target, const ScheduleParameters &params) {
  const int gemmTaskRows = params.at("gemm_task_rows");
  const int gemmTileRows = params.at("gemm_tile_rows");
  const int gemmTileTokens = params.at("gemm_tile_tokens");
  const int gemmFromTokens = params.at("gemm_from_tokens");
  // A token block's int16 activations stay within gemm_block_activation_kib: the block is read
  // again for every pair of rows of the task, and a 64-token block of a 15,360-column row is
  // 1.9 MiB, twice a 1 MiB L2 (its GEMM: 0.68 of the time with 16-token blocks, RESULTS.md).
  const int64_t tokensThatFit =
      int64_t(params.at("gemm_block_activation_kib")) * 1024 / (2 * w.cols);
  const int64_t blockTokens = std::min<int64_t>(params.at("gemm_token_block"), tokensThatFit);
  const int gemmTokenBlock =
      int(std::max<int64_t>(gemmTileTokens, blockTokens / gemmTileTokens * gemmTileTokens));
  const int gemvRowsPerTask = params.at("gemv_rows_per_task");
  if (!hasIntegerProduct(w))
    fail("linear: weight '", w.param.name(), "' (", w.cols,
         " columns) has no int16 product: it needs Q8 and whole blocks of ", kBlock, " columns");
  const int lanes = target.natural_vector_size(Int(32)) >= 16 ? 16 : 8; // int32 lanes per vector
  const int block = q8ActivationBlock(w.cols);
  const int halves = block / (2 * lanes); // vectors per block, added lane-wise
  const int blocks = int(w.cols / block);
  const int rows = int(w.rows);
  const int panels = int(w.panels());
  const int blocksPerPanel = blocks / panels; // a panel holds whole blocks (QuantLayout.h)

  Var o("o"), t("t"), l("l"), b("b"), chain("chain");

  // Activations, once per call: int16 per token and block.
  BlockQuantizedActivations activations = quantizeActivationBlocks(
      p.x, block, kActivationLevels, Int(16), "qlinear_x", std::min(block, 2 * lanes));
  Func xq = activations.xq, xScale = activations.xScale;

  RDom pair(0, 2, 0, halves, "qlinear_pair");
  Expr c = pair.y * (2 * lanes) + 2 * l + pair.x; // column within the block

  // The block dot products and their scales; GEMV and GEMM each define their own, so that
  // each has its own compute levels (the select below keeps one per specialization).
  // GEMV: `chains` accumulators for a row read alone (a step covers one block per chain); the
  // long-row and GEMM tiles have enough independent accumulators with one.
  const int gemvChains = gemvTileRows(w) == 1 && blocksPerPanel % kChains == 0 ? kChains : 1;
  // The stored code of column c of block b of row o.
  auto code = [&](Expr b) {
    if (panels == 1)
      return w.integerCode(o, b * block + c);
    return w.q8PanelCode(o, b / blocksPerPanel, b % blocksPerPanel * block + c);
  };
  struct Products {
    Func dot, coef;
  };
  auto products = [&](const std::string &name) {
    Products a{Func(name + "_dot"), Func(name + "_coef")};
    a.dot(l, o, t, b) = 0;
    a.dot(l, o, t, b) += cast<int32_t>(code(b)) * cast<int32_t>(xq(c, b, t));
    a.coef(t, b) = xScale(b, t); // the row scale comes once per output (p.rowScale)
    return a;
  };
  auto term = [&](const Products &a, Expr step, int chains) {
    Expr block = step * chains + chain;
    return cast<float>(a.dot(l, o, t, block)) * a.coef(t, block);
  };
  auto laneTotal = [&](Func acc, int chains) {
    std::vector<Expr> terms;
    for (int k = 0; k < lanes; ++k)
      for (int m = 0; m < chains; ++m)
        terms.push_back(acc(k, m, o, t));
    return treeSum(terms);
  };

  // GEMV and GEMM: acc is a register tile (rows x tokens x chains vectors) over all steps.
  // GEMV steps: per panel (one with whole rows), its blocks `gemvChains` at a time.
  Products gemv = products("qgemv");
  Func gemvAcc("qgemv_acc");
  const int stepsPerPanel = blocksPerPanel / gemvChains;
  RDom gemvSteps(0, stepsPerPanel, 0, panels, "qgemv_step");
  gemvAcc(l, chain, o, t) = 0.0f;
  gemvAcc(l, chain, o, t) +=
      term(gemv, gemvSteps.y * stepsPerPanel + gemvSteps.x, gemvChains);
  Expr total = laneTotal(gemvAcc, gemvChains);

  std::optional<Products> gemm;
  Func gemmAcc("qgemm_acc");
  RDom allSteps(0, blocks, "qgemm_step");
  const bool gemmFits = rows >= kGemmMinRows;
  const Expr gemmCondition = p.tokens >= gemmFromTokens;
  if (gemmFits) {
    gemm = products("qgemm");
    gemmAcc(l, chain, o, t) = 0.0f;
    gemmAcc(l, chain, o, t) += term(*gemm, allSteps, 1);
    total = select(gemmCondition, laneTotal(gemmAcc, 1), total);
  }
  if (p.rowScale) // Q8's per-row scale (readWeights)
    total = total * p.rowScale(o);
  if (p.bias)
    total = total + p.bias(o);
  out(o, t) = total;

  // --- schedule --------------------------------------------------------------------------
  // GEMV: the block's vectors unrolled, a tile's rows inside them, so that each activation
  // vector is loaded once for the tile. GEMM: the block's vectors as a loop around the whole
  // tile, so that a step's widened weights serve every token of the tile and die with the step;
  // unrolled, LLVM keeps all of the block's widened weights live across the tokens and spills
  // them (89 against 107 GOP/s on attn_q, one thread).
  auto scheduleDot = [&](Func dot, bool gemmTile) {
    dot.vectorize(l);
    Stage update = dot.update();
    if (gemmTile)
      update.reorder(pair.x, l, o, t, pair.y, b);
    else
      update.reorder(pair.x, l, o, pair.y, t, b).unroll(pair.y);
    update.atomic().vectorize(pair.x).vectorize(l).unroll(o).unroll(t).unroll(b);
  };

  Var ob("ob"), oi("oi"), tb("tb"), ti("ti"), obo("obo"), obi("obi"), tbo("tbo"), tbi("tbi");
  // Either path: the activation scales once per task (GEMV) or token block (GEMM) at `scales`;
  // per register tile (at `tile`) the accumulators, one step of blocks at a time, the dot
  // products of the step inside.
  auto scheduleTile = [&](Func acc, const RDom &steps, Products a, LoopLevel scales,
                          LoopLevel tile, bool gemmTile) {
    a.coef.compute_at(scales).vectorize(b, lanes, TailStrategy::GuardWithIf);
    acc.compute_at(tile).vectorize(l);
    Stage update = acc.update();
    if (steps.dimensions() == 2)
      update.reorder(l, chain, o, t, steps.x, steps.y);
    else
      update.reorder(l, chain, o, t, steps.x);
    update.vectorize(l).unroll(chain).unroll(o).unroll(t);
    a.dot.compute_at(acc, steps.x);
    scheduleDot(a.dot, gemmTile);
  };
  if (gemm) {
    // GEMM: per task a block of rows x tokens, walked in register tiles (rows x tokens f32
    // accumulator vectors), each tile over all blocks; the scales of the tile's blocks first.
    out.specialize(gemmCondition)
        .split(o, ob, oi, gemmTileRows, TailStrategy::ShiftInwards)
        .split(t, tb, ti, gemmTileTokens, TailStrategy::ShiftInwards)
        .reorder(oi, ti, tb, ob)
        .split(ob, obo, obi, std::max(1, gemmTaskRows / gemmTileRows),
               TailStrategy::GuardWithIf)
        .split(tb, tbo, tbi, gemmTokenBlock / gemmTileTokens, TailStrategy::GuardWithIf)
        .reorder(oi, ti, tbi, obi, tbo, obo)
        .parallel(obo);
    scheduleTile(gemmAcc, allSteps, *gemm, LoopLevel(out, tbo), LoopLevel(out, tbi), true);
  }

  if (panels > 1) {
    // Column panels: a task is one band, read as one sequential stream: panel by panel, each
    // row's blocks of the panel (the panel's activations stay in L1 for the 64 rows), the
    // band's row scales last.
    out.split(o, obo, oi, int(quant::kQ8BandRows), TailStrategy::RoundUp)
        .reorder(oi, t, obo)
        .parallel(obo);
    gemv.coef.compute_at(out, obo).vectorize(b, lanes, TailStrategy::GuardWithIf);
    gemvAcc.compute_at(out, obo).vectorize(l);
    gemvAcc.update()
        .reorder(l, chain, gemvSteps.x, o, gemvSteps.y, t)
        .vectorize(l)
        .unroll(chain);
    gemv.dot.compute_at(gemvAcc, gemvSteps.x);
    scheduleDot(gemv.dot, false);
    return;
  }
  // GEMV: per task gemvRowsPerTask rows, token by token (fewer than gemmFromTokens where the
  // matrix has a GEMM path; the task's rows stay in L2 between them), in tiles of `tileRows`
  // rows. A tile's accumulators are computed at its row loop, outside the token loops, so that
  // the row scale (the last 4 bytes of a packed row) is read after the row's blocks: read before
  // them, it is a jump ahead in the weight stream that costs 10 points of the bandwidth (a
  // hand-written loop: 65% vs 76%).
  const int tileRows = std::min(rows, gemvTileRows(w));
  out.split(o, ob, oi, tileRows, TailStrategy::ShiftInwards)
      .split(t, tb, ti, 1)
      .split(ob, obo, obi, std::max(1, gemvRowsPerTask / tileRows), TailStrategy::GuardWithIf)
      .split(tb, tbo, tbi, 1)
      .reorder(oi, ti, tbi, obi, tbo, obo)
      .parallel(obo);
  scheduleTile(gemvAcc, gemvSteps, gemv, LoopLevel(out, obo), LoopLevel(out, obi), false);
}

} // namespace loom::codegen::detail
