// The matrix product over Q8 weights as integer dot products (Q4: Q4RowGroupLinear.h):
//   out(o, t) = rowScale(o) * sum over B-column blocks b of  xScale(b, t) * dot(o, t, b)
//   dot(o, t, b) = sum_{i in b} level(o, i) * xq(i, t)            (exact, in int32)
// where the activations are quantized on the fly to int16 per block of B columns
// (xq = round(x * 32767 / max|x_b|): error 2^-16 of the block's largest value, far below the
// weights' own) and the weight levels are the stored int8 values. B is 256 where the rows hold
// whole 256-column blocks (q8ActivationBlock), else 32. int16 x int16 products summed in pairs are
// one instruction (vpmaddwd on AVX2, vpdpwssd with VNNI) doing 16 multiply-adds per 256 bits,
// twice the f32 FMA, and the weights are never widened to f32: the q8 GEMV stops being
// compute-bound. Per block the int32 lanes are converted once and scaled into f32 accumulators.
// Private to loom_kernelgen (includes Halide.h).
#pragma once

#include "LinearSchedule.h"

#include <string>

namespace loom::codegen::detail {

// The activations of an integer product, quantized once per call (compute_root) per token and
// B-column block: xq(j, b, t) = round(x(Bb + j, t) * levels / m) as `type` and
// xScale(b, t) = m / levels (inline), m = max|x| over the block (xq = 0 for an all-zero block).
struct BlockQuantizedActivations {
  Halide::Func xq, xScale;
};
BlockQuantizedActivations quantizeActivationBlocks(Halide::Func x, int blockColumns, float levels,
                                                   Halide::Type type, const std::string &prefix,
                                                   int vectorLanes);

// True when defineQuantizedProduct handles `w` (Q8 and whole 32-column blocks).
bool hasIntegerProduct(const WeightMatrix &w);

// The columns per int16 activation scale of a Q8 product with `cols` columns: 256 where they
// are whole 256-column blocks, else 32.
int q8ActivationBlock(int64_t cols);

// Defines and schedules out(o, t) = p.x W^T (* p.rowScale) (+ p.bias) for Q8 `w`, with
// the contract of defineLinearProduct, except that the register-tiled GEMM runs from
// `gemm_from_tokens` tokens on (a GEMV below); `params` are the linear_q8 family's (Tuning.h).
void defineQuantizedProduct(Halide::Func out, const LinearProduct &p, const WeightMatrix &w,
                            const Halide::Target &target, const ScheduleParameters &params);

} // namespace loom::codegen::detail
