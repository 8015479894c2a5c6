// The matrix product over Q8 / Q4 weights as integer dot products:
//   out(o, t) = sum over 32-column blocks b of  wScale(o, b) * xScale(b, t) * dot(o, t, b)
//   dot(o, t, b) = sum_{i in b} level(o, i) * xq(i, t)            (exact, in int32)
// where the activations are quantized on the fly to int16 per block of 32 columns
// (xq = round(x * 32767 / max|x_b|): relative error 2^-16, far below the weights' own) and the
// weight levels are the stored int8 / int4 values. int16 x int16 products summed in pairs are
// one instruction (vpmaddwd on AVX2, vpdpwssd with VNNI) doing 16 multiply-adds per 256 bits,
// twice the f32 FMA, and the weights are never widened to f32: the q4/q8 GEMV stops being
// compute-bound. Per block the int32 lanes are converted once and scaled into f32 accumulators.
// Private to loom_kernelgen (includes Halide.h).
#pragma once

#include "LinearSchedule.h"

namespace loom::codegen::detail {

// True when defineQuantizedProduct handles `w` (Q8 or Q4 and whole 32-column blocks).
bool hasIntegerProduct(const WeightMatrix &w);

// Defines and schedules out(o, t) = p.x W^T (* p.rowScale) (+ p.bias) for quantized `w`, with
// the same contract as defineLinearProduct (GEMV schedule for T < kGemmMinTokens, register-tiled
// GEMM otherwise).
void defineQuantizedProduct(Halide::Func out, const LinearProduct &p, const WeightMatrix &w,
                            const Halide::Target &target);

} // namespace loom::codegen::detail
