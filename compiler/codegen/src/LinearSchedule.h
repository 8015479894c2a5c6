// The matrix product at the heart of every linear kernel (and of fused projections):
// out(o, t) = sum_i x(i, t) * w(o, i) (+ bias(o)), defined and scheduled for the target, with
// the schedule chosen at run time from the token count T (Halide specialize()):
//   T < gemm_from_tokens   GEMV path (decode): a few weight rows per step, each row read once
//                          per call as a few long sequential streams, x held in L1, 2 vector
//                          accumulators per row; tasks of whole row blocks (no false sharing:
//                          each task writes its own rows).
//   T >= gemm_from_tokens  GEMM path (prefill): an outer product vectorised over output rows.
//                          A task owns a block of rows for all tokens; per panel of inputs it
//                          packs its weights (f32, rows innermost, kept in L2) and runs a
//                          register tile (by default 6 tokens x 2 vectors of rows) over the
//                          panel, with broadcast activations (LinearSchedule.cpp).
// Private to loom_kernelgen (includes Halide.h).
#pragma once

#include "WeightAccess.h"
#include "loom/Codegen/Tuning.h"

#include <Halide.h>

#include <functional>
#include <optional>
#include <string>

namespace loom::codegen::detail {

// GEMV: weight rows of at most this many bytes are read one at a time, so that a task's rows
// are one sequential stream (loom-bench, Zen 4, one thread: 3840-column bf16 rows 54% of the
// bandwidth alone vs 40% four at a time); longer rows go several at a time, sharing each
// activation load (15360-column bf16 rows: 51% vs 31% alone).
constexpr int64_t kShortRowBytes = 8192;

struct LinearProduct {
  Halide::Func x; // f32 [T, in] (Halide (i, t)): an input buffer, or a stage of a fused kernel
  std::function<Halide::Expr(Halide::Expr o, Halide::Expr i)> weight; // f32 value of w[o][i]
  std::function<Halide::Expr(Halide::Expr o)> bias;            // empty: no bias
  int64_t in = 0, out = 0;
  // T, the number of tokens (x's extent): required, since the GEMM path's definition needs it
  // before the output buffer exists.
  Halide::Expr tokens;
  // When set, `weight` returns the unscaled level and every output row is multiplied by
  // rowScale(o) once after the sum (Q8's per-row scale: one multiply per output, not per weight).
  std::function<Halide::Expr(Halide::Expr o)> rowScale;
  // Set for quantized weights that an integer dot product handles (Q8: QuantizedLinear.h, Q4:
  // Q4RowGroupLinear.h): the product then reads the stored levels and scales directly.
  std::optional<WeightMatrix> integerWeights;
  // Bytes of one stored weight row (readWeights sets it); 0: f32 rows of `in` values.
  int64_t rowBytes = 0;
  // BF16 weights as stored, w[o][i] as a bfloat16 (readWeights sets it): the GEMV of AVX-512
  // BF16 targets multiplies them with vdpbf16ps. Empty for other weights.
  std::function<Halide::Expr(Halide::Expr o, Halide::Expr i)> bf16Weight;
  // The stored weights' type (readWeights sets it): with in and out, the product's tuning key.
  ElementType weightType = ElementType::F32;
};

// Sets p.weight, p.in, p.out and the format-specific fields (Q8: the level and a per-row
// scale; the integer product) for reading `w`. Every product over a stored weight matrix should
// use this rather than w.at(), so that the quantized formats get the fast form.
void readWeights(LinearProduct &p, const WeightMatrix &w);

// Defines `out(o, t)` (a Func named by the caller; its output buffer must be constrained to
// [T, out] by the caller) and schedules it and its intermediates for `target`, with the
// parameters `tuning` gives the product (Tuning.h).
void defineLinearProduct(Halide::Func out, const LinearProduct &p, const Halide::Target &target,
                         const Tuning &tuning);

} // namespace loom::codegen::detail
