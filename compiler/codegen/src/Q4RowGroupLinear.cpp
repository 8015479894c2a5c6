// See Q4RowGroupLinear.h. Lanes of one step, for a row group g (rows r = 0..7) and a block b:
//   pairs(p, r, k)  = sat(nib(r, c0) * xq(c0) + nib(r, c0 + 1) * xq(c0 + 1))   (vpmaddubsw)
//                     c0 = 8 * (k / 2) + 4 * (k % 2) + 2 * p, for the 8 (k) nibble halves
//                     of the block's 4 chunks of 32 bytes (QuantLayout.h)
//   sum16(p, r)     = sum_k pairs(p, r, k)        (int16: at most 8 * 2 * 15 * 127, no overflow)
//   dot(r)          = zero share + sum_p sum16(p, r)   (vpmaddwd against ones: int32 per row)
// then acc(r) += f32(dot(r)) * wScale(r, b) * xScale(b), one vector per block for 8 rows.
// With AVX-512 VNNI, vpdpbusd multiplies the 4 bytes of each row by 4 activations and adds them
// into the row's int32 lane, so per nibble half k:
//   dot(r)         += sum_{i < 4} nib(r, c0 + i) * xq(c0 + i),  c0 = 8 * (k / 2) + 4 * (k % 2)
// one instruction in place of vpmaddubsw, the int16 adds and vpmaddwd (the same exact sums).
#include "Q4RowGroupLinear.h"
#include "PipelineHelpers.h"
#include "QuantizedLinear.h"

#include "loom/Error.h"
#include "loom/QuantLayout.h"

#include <string>
#include <tuple>

namespace loom::codegen::detail {
namespace {

using namespace Halide;

constexpr int kBlock = int(quant::kQ4BlockColumns); // columns per activation scale
constexpr int kGroupRows = int(quant::kQ4GroupRows);
constexpr int kChunkBytes = 32;                        // one load: 4 bytes of each of 8 rows
constexpr int kHalves = 2 * kBlock / 8;                // nibble halves of a block's chunks
constexpr float kActivationLevels = 127.0f;            // int8 activations: +-127
// GEMM (prefill): tokens per register tile (a tile is one group x kGemmTileTokens accumulator
// vectors; its 32-byte loads and nibble unpacking serve every token of the tile). Row groups
// per task: `gemv_groups_per_task` and `gemm_groups_per_task` (8 each by default).
constexpr int kGemmTileTokens = 4;
// The tiled path from one tile of tokens on, not from 64 as the float products: it
// reads each weight byte once per tile, where the GEMV reads it once per token, so a short
// prompt costs a quarter of the instructions per token.
constexpr int kGemmFromTokens = kGemmTileTokens;
// Two or three tokens (a batched decode step of 2 or 3 sequences) take tiles of 2 tokens, for
// the same reason: the GEMV would read each group's weights once per token.
constexpr int kPairTileTokens = 2;
// From `unpack_from_tokens` tokens on (a whole token block, 64, by default), the GEMM unpacks a
// row group's nibbles once per block of `gemm_token_block` tokens for all its tiles. A shorter
// prompt reads each weight from memory about once, and an unpacking pass ahead of the tiles
// would then wait on memory without compute to hide it behind (the 12B's 16-token prefill:
// 11.2 -> 10.1 tok/s), so it unpacks in the tiles.
// Below that, each weight byte comes from memory once, into tiles that keep both cores' vector
// pipes busy; the hardware prefetcher then falls behind and the tile waits on memory as long as
// it computes (4 tokens, cold weights: 2.5x the time of 1 token without the prefetch, 1.5x with
// it; bench/RESULTS.md, fifteenth stop). The tile prefetches the weights `prefetch_blocks`
// 32-column blocks ahead (16 by default: about 2.3 KiB, the memory latency at the tile's rate).

} // namespace

void defineQ4RowGroupProduct(Func out, const LinearProduct &p, const WeightMatrix &w,
                             const Target &target, const ScheduleParameters &params) {
  const int gemvGroupsPerTask = params.at("gemv_groups_per_task");
  const int gemmGroupsPerTask = params.at("gemm_groups_per_task");
  const int prefetchBlocks = params.at("prefetch_blocks");
  const int gemmTokenBlock = params.at("gemm_token_block");
  const int unpackFromTokens = params.at("unpack_from_tokens");
  const int unpackedTileGroups = params.at("unpacked_tile_groups");
  const int unpackedVectorGroups = params.at("unpacked_vector_groups");
  // The same lanes on every x86 target (8 rows x 4 bytes fill 256 bits); AVX-512 VNNI changes
  // the instructions of a block's dot product, and its long-prompt tile may take two groups in
  // one 512-bit vector.
  const bool vnni = hasAvx512DotProducts(target);
  if (w.type != ElementType::Q4G32 && w.type != ElementType::Q4G128)
    fail("linear: weight '", w.param.name(), "' is not Q4: no row-group product");
  const int group = int(w.scaleGroupColumns());
  const int blocksPerScale = group / kBlock;
  const int scaleGroupBytes = int(quant::q4ScaleGroupBytes(uint64_t(group)));
  const int panels = int(w.panels());
  const int blocksPerPanel = int(w.columnsPerPanel() / kBlock);
  const int rows = int(w.rows);

  Var o("o"), t("t"), r("r"), g("g"), b("b"), pn("pn"), j("j"), p2("p"), k("k"), q("q");

  // Activations, once per call: int8 per token and block, and the zero point's share of every
  // dot product, -8 * sum(xq).
  BlockQuantizedActivations activations =
      quantizeActivationBlocks(p.x, kBlock, kActivationLevels, Int(8), "q4g_x", kBlock);
  Func xq = activations.xq, zeroShare("q4g_zero_share"), xScale("q4g_x_scale_2to112");
  RDom inBlock(0, kBlock, "q4g_x_col");
  zeroShare(b, t) = 0;
  zeroShare(b, t) += -w.zeroPoint() * cast<int32_t>(xq(inBlock, b, t));
  // The activation scales times the 2^112 that weightScaleOver2To112 leaves out, once per call:
  // inlined, the product costs a multiply per block in the loop.
  constexpr float k2To112 = 5.192296858534828e33f;
  xScale(b, t) = activations.xScale(b, t) * k2To112;
  // The pair sums widened by a multiply-add against ones (vpmaddwd): a Func in memory, so that
  // the simplifier cannot fold the multiply away.
  Func ones("q4g_ones");
  ones(j) = cast<int16_t>(1);

  // The weights of (row r of group g, block `block` of panel `panel`): byte i of chunk `chunk`
  // and the f16 scale.
  auto weightByte = [&](Expr chunk, Expr i, Expr panel, Expr block) {
    Expr offset = (block / blocksPerScale) * scaleGroupBytes +
                  (block % blocksPerScale) * (kBlock / 8) * kChunkBytes + chunk * kChunkBytes +
                  4 * r + i;
    return w.rowGroupByte(g, panel, offset);
  };
  // The f16 scale as an f32 of 2^-112 times its value: the f16's sign, exponent and mantissa
  // moved into the f32's fields, the high byte sign-extended so that one mask keeps the sign
  // and clears the exponent's top bits (Halide 14 converts float16 in software; scales are
  // finite). xScale carries the 2^112.
  auto weightScaleOver2To112 = [&](Expr panel, Expr block) {
    Expr low = (block / blocksPerScale) * scaleGroupBytes + kGroupRows * group / 2 + r;
    Expr high = cast<int32_t>(reinterpret<int8_t>(w.rowGroupByte(g, panel, low + kGroupRows)));
    Expr bits = (reinterpret<uint32_t>(high << 21) & cast<uint32_t>(Expr(uint64_t(0x8fe00000u)))) |
                (cast<uint32_t>(w.rowGroupByte(g, panel, low)) << 13);
    return reinterpret<float>(bits);
  };

  // The block products for (r, g, t) and block b of panel pn (block pn * blocksPerPanel + b of
  // the row); GEMV and GEMM each define their own Funcs, so that each has its own compute
  // levels (the select below keeps one per specialization). steps runs over the panels' blocks
  // in column order.
  // nibbles(q, p, r, k, ...) are the 32 lanes of nibble half k as vpmaddubsw and vpdpbusd take
  // them.
  struct Products {
    Func nibbles, scales, pairs, sum16, dot, acc;
    RDom pair, halves, widen, steps, quad;
  };
  auto products = [&](const std::string &name) {
    Products a{Func(name + "_nibbles"), Func(name + "_scales"), Func(name + "_pairs"),
               Func(name + "_sum16"), Func(name + "_dot"), Func(name + "_acc"),
               RDom(0, 2, name + "_pair"), RDom(0, kHalves, name + "_half"),
               RDom(0, 2, name + "_widen"), RDom(0, blocksPerPanel, 0, panels, name + "_block"),
               RDom(0, 4, 0, kHalves, name + "_quad")};
    Expr chunk = k / 2, high = k % 2;
    Expr byte = weightByte(chunk, 2 * p2 + q, pn, b);
    a.nibbles(q, p2, r, k, g, b, pn) = select(high == 0, byte & cast<uint8_t>(15), byte >> 4);
    a.scales(r, g, b, pn) = weightScaleOver2To112(pn, b);
    Expr rowBlock = pn * blocksPerPanel + b;
    if (vnni) {
      // quad.x: byte i of the row's 4 in a chunk (nibbles(i % 2, i / 2, ...)); quad.y: half k.
      Expr i = a.quad.x, half = a.quad.y;
      Expr column = (half / 2) * 8 + (half % 2) * 4 + i;
      a.dot(r, g, t, b, pn) = zeroShare(rowBlock, t);
      a.dot(r, g, t, b, pn) += cast<int32_t>(widening_mul(
          a.nibbles(i % 2, i / 2, r, half, g, b, pn), xq(column, rowBlock, t)));
    } else {
      Expr column = chunk * 8 + high * 4 + 2 * p2 + a.pair;
      a.pairs(p2, r, k, g, t, b, pn) = cast<int16_t>(0);
      // Saturating, so that the reduction is vpmaddubsw's (Halide cannot prove saturating_add
      // associative, hence atomic(true) below); the bound above keeps it exact. widening_mul,
      // not casts: Halide 21 proves a product of casts of a nibble cannot saturate, makes the
      // sum a plain add and no longer matches vpmaddubsw.
      a.pairs(p2, r, k, g, t, b, pn) = saturating_add(
          a.pairs(p2, r, k, g, t, b, pn),
          widening_mul(a.nibbles(a.pair, p2, r, k, g, b, pn), xq(column, rowBlock, t)));
      a.sum16(p2, r, g, t, b, pn) = cast<int16_t>(0);
      a.sum16(p2, r, g, t, b, pn) += a.pairs(p2, r, a.halves, g, t, b, pn);
      a.dot(r, g, t, b, pn) = zeroShare(rowBlock, t);
      a.dot(r, g, t, b, pn) +=
          cast<int32_t>(a.sum16(a.widen, r, g, t, b, pn)) * cast<int32_t>(ones(a.widen));
    }
    Expr block = a.steps.x, panel = a.steps.y;
    a.acc(r, g, t) = 0.0f;
    a.acc(r, g, t) += cast<float>(a.dot(r, g, t, block, panel)) *
                      (a.scales(r, g, block, panel) * xScale(panel * blocksPerPanel + block, t));
    return a;
  };
  auto rowOf = [&](const Products &a) { return a.acc(o % kGroupRows, o / kGroupRows, t); };

  Products gemv = products("q4g_gemv"), gemm = products("q4g_gemm"),
           pairGemm = products("q4g_gemm_pairs"), unpackedGemm = products("q4g_gemm_unpacked");
  const Expr gemmCondition = p.tokens >= kGemmFromTokens;
  const Expr pairCondition = p.tokens >= kPairTileTokens;
  const Expr unpackCondition = p.tokens >= unpackFromTokens;
  Expr total =
      select(unpackCondition, rowOf(unpackedGemm),
             select(gemmCondition, rowOf(gemm),
                    select(pairCondition, rowOf(pairGemm), rowOf(gemv))));
  if (p.bias)
    total = total + p.bias(o);
  out(o, t) = total;

  // --- schedule --------------------------------------------------------------------------
  zeroShare.compute_root().parallel(t);
  zeroShare.update().parallel(t);
  xScale.compute_root().parallel(t).vectorize(b, 8, TailStrategy::GuardWithIf);
  if (!vnni)
    ones.compute_root().bound(j, 0, 2);

  // Per block of an accumulator: the pair sums of the block's 8 nibble halves, their int16
  // total and the widened dot product, all in registers. A tile's groups are unrolled, or with
  // vectorGroups 2 taken in pairs, one 512-bit vector for 16 rows.
  auto scheduleBlockProducts = [&](Products &a, int tileGroups, int vectorGroups) {
    LoopLevel block = LoopLevel(a.acc, a.steps.x);
    if (vnni) { // 4 bytes x 8 rows per vpdpbusd, the halves unrolled
      Var gv("gv"), gu("gu");
      a.dot.compute_at(block);
      Stage update = a.dot.update();
      if (vectorGroups > 1) {
        a.dot.split(g, gu, gv, vectorGroups).reorder(r, gv, t, gu).vectorize(r).vectorize(gv);
        update.split(g, gu, gv, vectorGroups)
            .reorder(a.quad.x, r, gv, t, gu, a.quad.y)
            .atomic()
            .vectorize(a.quad.x)
            .vectorize(r)
            .vectorize(gv);
      } else {
        a.dot.vectorize(r);
        update.reorder(a.quad.x, r, t, g, a.quad.y).atomic().vectorize(a.quad.x).vectorize(r);
      }
      a.dot.unroll(t);
      update.unroll(t).unroll(a.quad.y);
      if (tileGroups > vectorGroups) {
        a.dot.unroll(vectorGroups > 1 ? gu : g);
        update.unroll(vectorGroups > 1 ? gu : g);
      }
      return;
    }
    a.dot.compute_at(block).vectorize(r).unroll(t);
    a.dot.update().reorder(a.widen, r, t).atomic().vectorize(a.widen).vectorize(r).unroll(t);
    a.sum16.compute_at(block).vectorize(p2).vectorize(r).unroll(t);
    a.sum16.update()
        .reorder(p2, r, a.halves, t)
        .vectorize(p2)
        .vectorize(r)
        .unroll(a.halves)
        .unroll(t);
    a.pairs.compute_at(block).vectorize(p2).vectorize(r).unroll(k).unroll(t);
    a.pairs.update()
        .reorder(a.pair, p2, r, k, t)
        .atomic(true)
        .vectorize(a.pair)
        .vectorize(p2)
        .vectorize(r)
        .unroll(k)
        .unroll(t);
  };
  // An accumulator tile (tileGroups groups, all their tokens unrolled) over every block of the
  // row.
  auto scheduleTile = [&](Products &a, LoopLevel tile, int tileGroups, int vectorGroups) {
    a.acc.compute_at(tile).bound(r, 0, kGroupRows);
    Stage update = a.acc.update();
    if (vectorGroups > 1) {
      Var gv("gv"), gu("gu");
      a.acc.split(g, gu, gv, vectorGroups).reorder(r, gv, t, gu).vectorize(r).vectorize(gv);
      update.split(g, gu, gv, vectorGroups)
          .reorder(r, gv, t, gu, a.steps.x, a.steps.y)
          .vectorize(r)
          .vectorize(gv);
      if (tileGroups > vectorGroups) {
        a.acc.unroll(gu);
        update.unroll(gu);
      }
    } else {
      a.acc.vectorize(r);
      update.reorder(r, t, g, a.steps.x, a.steps.y).vectorize(r);
      if (tileGroups > 1) {
        a.acc.unroll(g);
        update.unroll(g);
      }
    }
    a.acc.unroll(t);
    update.unroll(t);
    scheduleBlockProducts(a, tileGroups, vectorGroups);
  };

  // Rows split into groups of 8 (one vector); a partial last group only when rows % 8 != 0.
  const TailStrategy rowTail =
      rows % kGroupRows == 0 ? TailStrategy::RoundUp : TailStrategy::GuardWithIf;
  Var og("og"), oi("oi"), ogo("ogo"), ogi("ogi"), tb("tb"), ti("ti"), tbo("tbo"), tbi("tbi");
  Var ogio("ogio"), ogii("ogii");
  // GEMM: per task gemmGroupsPerTask groups for all tokens, in blocks of gemmTokenBlock tokens
  // (the task's weights and a token block's activations stay in L2), tiles of tileGroups groups
  // x tileTokens tokens, vectorGroups groups per vector. Returns the loop over the task's groups
  // (tiles of 1 group) or tiles of groups, and the tile's shape.
  struct GemmTile {
    Var groups;
    int tileGroups, vectorGroups;
  };
  auto scheduleGemm = [&](Stage specialization, Products &a, int tileGroups, int vectorGroups,
                          int tileTokens) -> GemmTile {
    // A tile of several groups: only where tasks hold whole tiles.
    const bool wholeTasks = rows % (kGroupRows * gemmGroupsPerTask) == 0;
    if (!wholeTasks)
      tileGroups = 1;
    while (gemmGroupsPerTask % tileGroups != 0)
      --tileGroups;
    if (tileGroups % vectorGroups != 0)
      vectorGroups = 1;
    specialization.split(o, og, oi, kGroupRows, rowTail)
        .split(t, tb, ti, tileTokens, TailStrategy::ShiftInwards)
        .split(og, ogo, ogi, gemmGroupsPerTask,
               wholeTasks ? TailStrategy::RoundUp : TailStrategy::GuardWithIf)
        .split(tb, tbo, tbi, gemmTokenBlock / tileTokens, TailStrategy::GuardWithIf);
    if (tileGroups == 1) {
      specialization.reorder(oi, ti, tbi, ogi, tbo, ogo).vectorize(oi).unroll(ti).parallel(ogo);
      scheduleTile(a, LoopLevel(out, tbi), 1, 1);
      return {ogi, 1, 1};
    }
    specialization.split(ogi, ogio, ogii, tileGroups, TailStrategy::RoundUp)
        .reorder(oi, ti, ogii, tbi, ogio, tbo, ogo)
        .vectorize(oi)
        .unroll(ti)
        .unroll(ogii)
        .parallel(ogo);
    scheduleTile(a, LoopLevel(out, tbi), tileGroups, vectorGroups);
    return {ogio, tileGroups, vectorGroups};
  };
  // The unpacked tile with AVX-512 VNNI (32 vector registers) holds `unpacked_tile_groups`
  // groups, so that each activation broadcast serves a vpdpbusd per vector of them. With 1 group
  // of 8 rows a block step needs 49 loads for its 32 vpdpbusds (63% of the instruction's peak
  // on Zen 4, which runs 2 vector loads a cycle); 2 groups: 66 loads for 64 (78%). With 2 groups
  // per 512-bit vector (`unpacked_vector_groups`), 4 groups take 48 loads for 64 zmm vpdpbusds
  // of 16 rows: Zen 5 runs zmm vpdpbusd at twice the ymm rate, Zen 4 at the same rate with half
  // the instructions (bench/RESULTS.md). AVX2's 16 registers hold one group's tile.
  const GemmTile unpackedTile =
      scheduleGemm(out.specialize(unpackCondition), unpackedGemm, vnni ? unpackedTileGroups : 1,
                   vnni ? unpackedVectorGroups : 1, kGemmTileTokens);
  for (auto [a, condition, tileTokens] :
       {std::tuple(&gemm, gemmCondition, kGemmTileTokens),
        std::tuple(&pairGemm, pairCondition, kPairTileTokens)}) {
    scheduleGemm(out.specialize(condition), *a, 1, 1, tileTokens);
    if (prefetchBlocks > 0)
      a->acc.update().prefetch(w.param, a->steps.x, a->steps.x, prefetchBlocks,
                               PrefetchBoundStrategy::NonFaulting);
  }
  // Long prompts: a group's nibbles and scales unpacked once per token block, for all its tiles;
  // the tile then reads each nibble half with one load, and its registers hold no unpacked
  // weights. A vector of several groups reads their halves from one load.
  if (unpackedTile.vectorGroups > 1)
    unpackedGemm.nibbles.reorder_storage(q, p2, r, g, k, b, pn);
  unpackedGemm.nibbles.compute_at(out, unpackedTile.groups)
      .bound(q, 0, 2)
      .bound(p2, 0, 2)
      .bound(r, 0, kGroupRows)
      .bound(k, 0, kHalves)
      .vectorize(q)
      .vectorize(p2)
      .vectorize(r)
      .unroll(k);
  unpackedGemm.scales.compute_at(out, unpackedTile.groups).bound(r, 0, kGroupRows).vectorize(r);

  // GEMV: per task gemvGroupsPerTask groups, each group's rows read once per token.
  if (panels == 1) {
    out.split(o, og, oi, kGroupRows, rowTail)
        .split(og, ogo, ogi, gemvGroupsPerTask, TailStrategy::GuardWithIf)
        .reorder(oi, t, ogi, ogo)
        .vectorize(oi)
        .parallel(ogo);
    scheduleTile(gemv, LoopLevel(out, t), 1, 1);
    return;
  }
  // GEMV over column panels (whole bands of rows): a task is one band, stored panel by panel,
  // and runs panel by panel over all its groups, so that it reads one sequential stream and a
  // panel's activations stay in L1 for all 64 rows.
  out.split(o, og, oi, kGroupRows, TailStrategy::RoundUp)
      .split(og, ogo, ogi, int(quant::kQ4BandGroups), TailStrategy::RoundUp)
      .reorder(oi, t, ogi, ogo)
      .vectorize(oi)
      .parallel(ogo);
  gemv.acc.compute_at(out, ogo).bound(r, 0, kGroupRows).vectorize(r);
  gemv.acc.update().reorder(r, gemv.steps.x, g, gemv.steps.y, t).vectorize(r);
  scheduleBlockProducts(gemv, 1, 1);
}

} // namespace loom::codegen::detail
