// The matrix product over Q4 weights stored in row groups (QuantLayout.h, the CPU layout):
//   out(o, t) = sum over 32-column blocks b of  wScale(o, b) * xScale(b, t) * dot(o, t, b)
//   dot(o, t, b) = sum_{c in b} (nibble(o, c) - 8) * xq(c, t)               (exact, in int32)
// with the activations quantized on the fly to int8 per block of 32 columns
// (xq = round(x * 127 / max|x_b|), as ggml's Q8_0 does for its Q4_0 products). A 32-byte load
// holds 4 bytes of each of a row group's 8 rows, so each u8 x s8 multiply-add (vpmaddubsw,
// 32 products into 16-bit pairs; nibble x int8 pairs cannot saturate) serves 8 rows against one
// broadcast of 4 activations, and the per-block scaling is one vector operation per 8 rows.
// Private to loom_kernelgen (includes Halide.h).
#pragma once

#include "LinearSchedule.h"

namespace loom::codegen::detail {

// Defines and schedules out(o, t) = p.x W^T (+ p.bias) for `w` of type Q4G32 or Q4G128, with the
// contract of defineLinearProduct, except that the register-tiled GEMM runs from 4 tokens on (a
// GEMV below); `params` are the linear_q4 family's (Tuning.h).
void defineQ4RowGroupProduct(Halide::Func out, const LinearProduct &p, const WeightMatrix &w,
                             const Halide::Target &target, const ScheduleParameters &params);

} // namespace loom::codegen::detail
