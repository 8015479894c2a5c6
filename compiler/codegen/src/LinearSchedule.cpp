// See LinearSchedule.h. Register tiles are for 16 vector registers (AVX2) and hold for
// AVX-512's 32 as well; task sizes and panel depths are tuning parameters (Tuning.h,
// tuning/defaults.json).
#include "LinearSchedule.h"
#include "PipelineHelpers.h"
#include "Q4RowGroupLinear.h"
#include "QuantizedLinear.h"

#include "loom/Error.h"
#include "loom/QuantLayout.h"

#include <algorithm>
#include <optional>
#include <vector>

namespace loom::codegen::detail {
namespace {

using namespace Halide;

// Vector accumulators per (row, token) of a row read alone: independent FMA chains, so that the
// GEMV is not bound by the FMA latency (4 cycles on Zen 4: two chains capped a 3840-column bf16
// row at 8 bytes a cycle; four read attn_q at 70.6% of the bandwidth on one thread, against 65%).
constexpr int kUnroll = 4;
// GEMV: weight rows interleaved per step when rows are longer than kShortRowBytes (kGemvRows
// accumulators, each activation load serving them all; 15360-column bf16 rows, one thread,
// 2 MiB pages: 59% of the bandwidth, against 52% for 4 rows x 2 chains). Rows per task:
// `gemv_rows_per_task`.
constexpr int kGemvRows = 8;
// GEMV: the reduction is walked in blocks of at most this many vector steps.
constexpr int kMaxReductionBlock = 32;
// GEMM: an outer product vectorised over output rows, the BLAS way. A task owns up to
// `gemm_task_rows` rows for all T tokens. Per panel of `gemm_depth` inputs it copies its weights into
// a packed f32 panel (widened once and transposed, each register tile's rows contiguous per
// input; the copy is amortised over all T tokens; 256 x 256 x 4 bytes = 256 KiB, in L2), then
// runs register tiles of `gemm_tile_tokens` tokens x `gemm_tile_vectors` vectors of rows over
// the panel. The defaults, 6 x 2: 12 accumulators, 2 weight vectors and 1 broadcast activation
// of AVX2's 16 registers, 12 FMAs per input for 2 loads + 6 broadcasts. A tile's 6 tokens x 256
// inputs of x (6 KiB, copied from x once per panel) stay in L1 across the task's 16 row tiles.
// More rows per task amortise that copy and x's reads from L3 (loom-bench, Zen 4, 1 thread:
// tasks of 64 rows ran at 0.74-0.89 of oneDNN, of 256 rows at 0.92-0.99: the defaults).
// The GEMM path exists for matrices of at least kGemmMinVectors vectors of rows, whatever the
// parameters (a taller tile is cut to the matrix), so that they change the schedule only, never
// which path (and summation order) a product takes.
constexpr int kGemmMinVectors = 2;

// The GEMM path's blocking for one shape (see gemm_task_rows above).
struct GemmPlan {
  int tileRows = 0;   // rows of a register tile: whole vectors
  int tileTokens = 0; // tokens of a register tile
  int taskRows = 0;   // 0: fewer rows than kGemmMinVectors vectors, no GEMM path
  int depth = 0;      // inputs per packed panel
  int panels = 0;     // whole panels; the inputs after them (fewer than depth) are read unpacked
};

GemmPlan planGemm(int in, int outRows, int lanes, const ScheduleParameters &params) {
  GemmPlan plan;
  if (outRows < kGemmMinVectors * lanes)
    return plan;
  const int taskRows = params.at("gemm_task_rows"), depth = params.at("gemm_depth");
  plan.tileRows = std::min(params.at("gemm_tile_vectors"), outRows / lanes) * lanes;
  plan.tileTokens = params.at("gemm_tile_tokens");
  plan.taskRows =
      std::max(plan.tileRows, std::min(taskRows, outRows) / plan.tileRows * plan.tileRows);
  // Prefer tasks that divide the rows (no partial last task; 3840 rows: 16 tasks of 240 rather
  // than 15 of 256, which two cores share unevenly).
  for (int rows = plan.taskRows; rows >= taskRows / 2 && rows > 0; rows -= plan.tileRows)
    if (outRows % rows == 0) {
      plan.taskRows = rows;
      break;
    }
  plan.depth = in <= depth ? in : largestDivisorAtMost(in, depth);
  if (plan.depth < depth / 2 && in > depth)
    plan.depth = depth; // no divisor of a useful size: leave a remainder
  plan.panels = in / plan.depth;
  return plan;
}

// The GEMM path's Funcs, in task coordinates (task k owns rows k * taskRows + r, r < taskRows):
// sum(r, t, k) = the sum over the whole panels' inputs (a task's running sums over all tokens);
// tile(v, t, b, ot, k) = the part of panel b for rows ot * tileRows + v, one register tile at a
// time; panel(v, i, ot, k) = the packed weights, each tile's rows contiguous per input (BLAS
// micro-panels: the tile streams through them sequentially); xTile(i, t) = x of one tile's
// tokens over one panel's inputs. value(o, t) = the product for row o, plus the inputs after the
// whole panels (none for the model's shapes), read unpacked.
struct GemmProduct {
  Func sum{"linear_gemm"}, tile{"linear_gemm_tile"}, panel{"linear_panel"};
  Func xTile{"linear_gemm_x"};
  RDom panels, step;
  Expr value;
};

GemmProduct defineGemm(const LinearProduct &p, const Expr &tokens, const GemmPlan &plan) {
  GemmProduct g;
  Var o("o"), t("t"), i("i"), b("b"), r("r"), v("v"), ot("ot"), k("k");
  const int rows = plan.taskRows, tileRows = plan.tileRows, outRows = int(p.out);
  // The last task may extend past the matrix (when taskRows does not divide it): its extra rows
  // repeat the last row and are never stored.
  auto rowOf = [&](const Expr &task, const Expr &r) { return min(task * rows + r, outRows - 1); };
  // Tiles round the tokens up to a multiple of their tokens; the extra ones read the last
  // token (in bounds) and are never stored either.
  auto xAt = [&](const Expr &in, const Expr &token) { return p.x(in, min(token, tokens - 1)); };
  g.panels = RDom(0, plan.panels, "linear_panel_index");
  g.step = RDom(0, plan.depth, "linear_panel_step");
  g.panel(v, i, ot, k) = p.weight(rowOf(k, ot * tileRows + v), i);
  g.xTile(i, t) = xAt(i, t);
  const Expr inPanel = b * plan.depth + g.step;
  g.tile(v, t, b, ot, k) = 0.0f;
  g.tile(v, t, b, ot, k) += g.xTile(inPanel, t) * g.panel(v, inPanel, ot, k);
  g.sum(r, t, k) = 0.0f;
  g.sum(r, t, k) += g.tile(r % tileRows, t, g.panels, r / tileRows, k);
  g.value = g.sum(o % rows, t, o / rows);
  const int remainder = int(p.in) - plan.panels * plan.depth;
  if (remainder > 0) {
    RDom rest(plan.panels * plan.depth, remainder, "linear_gemm_rest");
    g.value = g.value + sum(xAt(rest, t) * p.weight(o, rest), "linear_gemm_rest");
  }
  return g;
}

// Schedules g inside a task of `out` (loop `task`): per panel, the packed copy, then all tiles.
void scheduleGemm(GemmProduct &g, const GemmPlan &plan, Func out, const Var &task, int lanes) {
  Var t("t"), i("i"), b("b"), r("r"), v("v"), ot("ot"), k("k");
  Var rv("rv"), rvo("rvo"), rvv("rvv"), tt("tt"), tv("tv"), vo("vo"), vv("vv");
  g.sum.compute_at(out, task).vectorize(r, lanes);
  // Tokens outside rows within a panel: a tile's x stays in L1 across the task's row tiles.
  g.sum.update(0)
      .split(r, ot, rv, plan.tileRows)
      .split(t, tt, tv, plan.tileTokens, TailStrategy::RoundUp)
      .split(rv, rvo, rvv, lanes)
      .reorder(rvv, rvo, tv, ot, tt, g.panels.x)
      .vectorize(rvv)
      .unroll(rvo)
      .unroll(tv);
  // The packed panel, once per task and panel: a vector of rows per input (strided reads of the
  // weights, a few percent of the time), widened once.
  g.panel.compute_at(g.sum, g.panels.x).split(v, vo, vv, lanes).vectorize(vv).unroll(vo);
  // A tile's x, copied once per panel and tile of tokens: the kernel's broadcasts then read at
  // fixed offsets from one pointer (clamping the token in the kernel costs registers).
  g.xTile.compute_at(g.sum, tt).vectorize(i, lanes);
  // The register tile: the panel's inputs outermost, all tokens x rows unrolled inside.
  g.tile.compute_at(g.sum, ot).split(v, vo, vv, lanes).vectorize(vv).unroll(vo).unroll(t);
  g.tile.update()
      .split(v, vo, vv, lanes)
      .reorder(vv, vo, t, g.step.x, b, ot, k)
      .vectorize(vv)
      .unroll(vo)
      .unroll(t);
}

} // namespace

void readWeights(LinearProduct &p, const WeightMatrix &w) {
  p.in = w.cols;
  p.out = w.rows;
  p.rowBytes = w.rowBytes();
  p.weight = [w](Expr o, Expr i) { return w.at(o, i); };
  p.rowScale = nullptr;
  p.weightType = w.type;
  if (w.type == ElementType::Q8) { // one scale per row: applied once per output
    p.weight = [w](Expr o, Expr i) { return w.level(o, i); };
    p.rowScale = [w](Expr o) { return w.scale(o, 0); };
  }
  p.bf16Weight = nullptr;
  if (w.type == ElementType::BF16)
    p.bf16Weight = [w](Expr o, Expr i) { return w.param(i, o); };
  p.integerWeights.reset();
  if (w.type == ElementType::Q4G32 || w.type == ElementType::Q4G128 || hasIntegerProduct(w))
    p.integerWeights = w;
}

void defineLinearProduct(Func out, const LinearProduct &p, const Target &target,
                         const Tuning &tuning) {
  if (p.in <= 0 || p.out <= 0 || p.in > (1 << 30) || p.out > (1 << 30))
    fail("linear: in ", p.in, " and out ", p.out, " must be in [1, 2^30]");
  if (!p.tokens.defined())
    fail("linear: the product's token count (LinearProduct::tokens) is not set");
  const ProductKey key{p.weightType, p.in, p.out};
  const ScheduleParameters params = tuning.parameters(key);
  if ((key.family() == "linear_f32") == bool(p.integerWeights))
    fail("linear: ", key.str(), " is generated as ",
         p.integerWeights ? "an integer" : "a float", " product, not as its family says");
  if (p.integerWeights) {
    const WeightMatrix &w = *p.integerWeights;
    if (w.type == ElementType::Q8)
      defineQuantizedProduct(out, p, w, target, params);
    else
      defineQ4RowGroupProduct(out, p, w, target, params);
    return;
  }
  const int lanes = std::max(4, target.natural_vector_size(Float(32)));
  // Short rows one at a time (kShortRowBytes); otherwise a register tile of kGemvRows rows.
  const int64_t rowBytes = p.rowBytes > 0 ? p.rowBytes : 4 * p.in;
  const int gemvTileRows = rowBytes <= kShortRowBytes ? 1 : kGemvRows;
  // Reduction elements per step: kUnroll vectors for a row read alone; a tile's rows are
  // independent chains already, and one vector each keeps its accumulators in registers.
  const int wide = lanes * (gemvTileRows == 1 ? kUnroll : 1);
  // With AVX-512 BF16, a bf16 GEMV lane sums a pair of products per vdpbf16ps, so a step covers
  // twice the inputs (bf16DotProduct below).
  const bool bf16Dot = p.bf16Weight && hasAvx512DotProducts(target);
  const int perLane = bf16Dot ? 2 : 1;
  const int in = int(p.in), outRows = int(p.out);
  const int steps = in / (wide * perLane), tail = in % (wide * perLane);
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
  // bf16 GEMV with vdpbf16ps: the activations split once per call into bf16 parts, x = hi + lo
  // to 16 bits of mantissa (xParts(0) = bf16(x), xParts(1) = bf16(x - hi)), so that the sum of
  // exact bf16 products keeps f32's accuracy; each lane adds pair.x = 0, 1 of each part. Per 32
  // weights: one load and two vdpbf16ps, in place of two widenings, two shifts and two FMAs.
  Func xParts("linear_x_bf16");
  // x: the pair in a lane, y: the part of x, z: the step (as inBlock; one RDom per definition).
  RDom pair(0, 2, 0, 2, 0, block, "linear_pair");
  if (steps > 0) {
    if (bf16Dot) {
      Expr i = (b * block + pair.z) * wide + l;
      Var part("part"), col("col");
      Expr hi = cast(BFloat(16), p.x(col, t));
      xParts(part, col, t) =
          select(part == 0, hi, cast(BFloat(16), p.x(col, t) - cast<float>(hi)));
      Expr column = i * 2 + pair.x;
      tileSum(l, o, t, b) +=
          cast<float>(xParts(pair.y, column, t)) * cast<float>(p.bf16Weight(o, column));
    } else {
      Expr i = (b * block + inBlock) * wide + l;
      tileSum(l, o, t, b) += p.x(i, t) * p.weight(o, i);
    }
    partial(l, o, t) += tileSum(l, o, t, overBlocks);
  }
  // The `wide` lanes: the vectors of a step added lane by lane first (vector adds), then one
  // vector's lanes.
  std::vector<Expr> laneTerms;
  if (steps > 0)
    for (int l0 = 0; l0 < lanes; ++l0) {
      std::vector<Expr> sameLane;
      for (int k = l0; k < wide; k += lanes)
        sameLane.push_back(partial(k, o, t));
      laneTerms.push_back(treeSum(sameLane));
    }
  Expr total = treeSum(laneTerms);
  if (tail > 0) {
    RDom rest(steps * wide * perLane, tail, "linear_rest");
    total = total + sum(p.x(rest, t) * p.weight(o, rest), "linear_tail");
  }
  // The GEMM path (T >= gemm_from_tokens) computes the same sum in another form (GemmProduct);
  // each specialization of `out` below keeps one side of this select.
  const Expr tokens = p.tokens;
  const Expr gemm = tokens >= params.at("gemm_from_tokens");
  const GemmPlan gemmPlan = planGemm(in, outRows, lanes, params);
  const bool gemmFits = gemmPlan.taskRows > 0;
  std::optional<GemmProduct> gemmProduct;
  if (gemmFits) {
    gemmProduct = defineGemm(p, tokens, gemmPlan);
    total = select(gemm, gemmProduct->value, total);
  }
  if (p.rowScale)
    total = total * p.rowScale(o);
  if (p.bias)
    total = total + p.bias(o);
  out(o, t) = total;

  // --- schedule --------------------------------------------------------------------------
  // Both paths have loops ob, obi and tb, so that each intermediate has one compute_at level
  // valid in either specialization (the other path's stages are skipped there).
  Var ob("ob"), oi("oi"), tb("tb"), ti("ti"), obo("obo"), obi("obi");
  const int gemvRows = std::min(gemvTileRows, outRows);
  if (gemmFits) {
    // A task: gemmPlan.taskRows rows (a multiple of 16 floats) for all tokens; tasks write
    // disjoint whole cache lines of each token's row (no false sharing).
    out.specialize(gemm)
        .split(o, ob, oi, gemmPlan.taskRows, TailStrategy::GuardWithIf)
        .split(t, tb, ti, 1)
        .reorder(oi, ti, tb, ob)
        .split(ob, obo, obi, 1)
        .parallel(obo)
        .vectorize(oi, lanes);
    scheduleGemm(*gemmProduct, gemmPlan, out, obi, lanes);
  }
  out.split(o, ob, oi, gemvRows, TailStrategy::ShiftInwards)
      .split(t, tb, ti, 1)
      .reorder(oi, ti, tb, ob)
      .split(ob, obo, obi, std::max(1, params.at("gemv_rows_per_task") / gemvRows),
             TailStrategy::GuardWithIf)
      .parallel(obo);
  if (steps == 0)
    return;

  // partial: the task block's running sums; updated once per reduction block and tile.
  partial.compute_at(out, tb).vectorize(l, lanes);
  Var ot("ot"), orr("orr"), tt("tt"), tr("tr");
  const RVar blockVar = overBlocks.x;
  partial.update()
      .split(o, ot, orr, gemvRows)
      .split(t, tt, tr, 1)
      .reorder(l, orr, tr, ot, tt, blockVar)
      .vectorize(l, lanes);

  // tileSum: the register tile (rows x tokens x `wide` lanes), one reduction block at a time.
  Var lv("lv");
  tileSum.compute_at(partial, ot).vectorize(l, lanes);
  if (bf16Dot) {
    // Both parts of x once per call, in bf16, each part's columns contiguous (a small buffer
    // beside the weights).
    Var part("part"), col("col");
    xParts.compute_root()
        .bound(part, 0, 2)
        .reorder_storage(col, part, t)
        .reorder(col, part, t)
        .vectorize(col, lanes);
    // The pair in the vector lanes (Halide: a vector reduction of factor 2, vdpbf16ps), the parts
    // one after the other.
    tileSum.update()
        .split(l, l, lv, lanes)
        .reorder(pair.x, lv, pair.y, l, o, t, pair.z)
        .atomic()
        .vectorize(pair.x)
        .vectorize(lv)
        .unroll(pair.y)
        .unroll(l)
        .unroll(o)
        .unroll(t);
    return;
  }
  tileSum.update()
      .split(l, l, lv, lanes)
      .reorder(lv, l, o, t, inBlock.x)
      .vectorize(lv)
      .unroll(l)
      .unroll(o)
      .unroll(t);
}

} // namespace loom::codegen::detail
