// Internal: the masked softmax attention that the Attention and RawKeyAttention kernels share
// (Pipelines.cpp, FusedPipelines.cpp). Private to loom_kernelgen (includes Halide.h).
#pragma once

#include "loom/Codegen/KernelSpec.h"
#include "loom/Codegen/Tuning.h"

#include <Halide.h>

namespace loom::codegen::detail {

// The keys, key(d, kv head, j): either `all` over j in [0, nPast + T), or `past` over the
// cached j in [0, nPast) and `own` over the call's tokens u in [0, T) (key j = nPast + u), with
// the values split the same way (pastValue, ownValue; `all` takes attend's `value`). Split,
// each half's dot products and weighted values run in loops of their own, without a choice per
// key and chunk between cache and call (which LLVM leaves in the loop: 75 instructions for 8
// FMAs).
struct AttentionKeys {
  Halide::Func all;
  Halide::Func past, own;
  Halide::Func pastValue, ownValue;
};

// The schedule's tiles (tuning family "attention"). Accumulator vectors of a score tile (keys x
// query heads) and of a value tile (output vectors x query heads) stay in registers:
// independent FMA chains, each load of a query serving every key of the tile and each load of
// a key or value every head. Query heads per task where a key/value head serves several (GQA):
// each key and value is then read once for them. The defaults (tuning/defaults.json: 2 heads,
// 8 and 8 vectors) keep qHeads / 2 tasks for a decode step's one token, and fit AVX2's 16
// registers.
struct AttentionTiles {
  int headsPerTask = 0, scoreAccumulators = 0, valueAccumulators = 0;
  static AttentionTiles of(const Attention &p, const Tuning &tuning);
};

// out(d, h, t) = sum_j softmax_j(mask ? q(., h, t) . key(., h / group, j) * scale : -inf) *
// value(d, h / group, j) over the keys j in [0, nPast + T) (`value` with keys.all): the first nPast from the cache, at
// positions pastStart + j; the call's own T tokens after them. The mask is causal, within
// p.window when it is set, and bidirectional inside an image block (blockIds >= 0) when
// p.imageBlocks (a block is one run of consecutive tokens with one id). Only the keys in each
// query's visible range are computed. Scheduled: one task per (token, tiles.headsPerTask query
// heads of one key/value head, or the largest divisor of the group below it). The value tile
// changes the schedule only; the heads per task and the score tile change the code of the
// unrolled dot products and with it the last bits of a score (TunedKernelsTest).
Halide::Func attend(const Attention &p, Halide::ImageParam q, Halide::ImageParam blockIds,
                    const AttentionKeys &keys, Halide::Func value, Halide::Expr nPast,
                    Halide::Expr pastStart, Halide::Expr startPos, int lanes,
                    const AttentionTiles &tiles);

} // namespace loom::codegen::detail
