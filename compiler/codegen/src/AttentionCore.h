// Internal: the masked softmax attention that the Attention and RawKeyAttention kernels share
// (Pipelines.cpp, FusedPipelines.cpp). Private to loom_kernelgen (includes Halide.h).
#pragma once

#include "loom/Codegen/KernelSpec.h"

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

// out(d, h, t) = sum_j softmax_j(mask ? q(., h, t) . key(., h / group, j) * scale : -inf) *
// value(d, h / group, j) over the keys j in [0, nPast + T) (`value` with keys.all): the first nPast from the cache, at
// positions pastStart + j; the call's own T tokens after them. The mask is causal, within
// p.window when it is set, and bidirectional inside an image block (blockIds >= 0) when
// p.imageBlocks (a block is one run of consecutive tokens with one id). Only the keys in each
// query's visible range are computed. Scheduled: one task per (token, two query heads of one
// key/value head where the group allows, else one).
Halide::Func attend(const Attention &p, Halide::ImageParam q, Halide::ImageParam blockIds,
                    const AttentionKeys &keys, Halide::Func value, Halide::Expr nPast,
                    Halide::Expr pastStart, Halide::Expr startPos, int lanes);

} // namespace loom::codegen::detail
