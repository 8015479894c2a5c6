// Internal: small building blocks shared by the Halide pipelines (Pipelines.cpp,
// FusedPipelines.cpp). Private to loom_kernelgen (includes Halide.h).
#pragma once

#include <Halide.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace loom::codegen::detail {

inline constexpr int64_t kDynamic = -1; // the token count T: a run-time extent, min 0

// Widens bf16 (or any) weights to f32; f32 stays as it is.
Halide::Expr widen(Halide::Expr e);
// `value` as an int, or loom::Error naming `what` when it does not fit.
int checkedInt(int64_t value, const char *what);
// Constrains a buffer to a dense row-major layout. `extents` are innermost first; kDynamic marks
// the (outermost) run-time extent.
void constrain(Halide::OutputImageParam param, const std::vector<int64_t> &extents);
// The largest divisor of n that is at most limit (1 when there is none above 1).
int largestDivisorAtMost(int n, int limit);
// A balanced sum of terms (0 when empty), so that vector lane partials add in a shallow tree.
Halide::Expr treeSum(std::vector<Halide::Expr> terms);
// tanh(x) in vectorisable arithmetic (Halide 14's tanh called libm per element): an odd series
// for |x| < 0.25, else 1 - 2 / (exp(2|x|) + 1) with the sign of x; a few ulp of f32.
Halide::Expr vectorTanh(Halide::Expr x);
// GELU, tanh approximation (Gemma's gelu_pytorch_tanh), with vectorTanh.
Halide::Expr geluTanh(Halide::Expr x);
// Whether `target` has AVX-512 VNNI and BF16 (Loom's zen4 and sapphirerapids): Halide then
// makes sums of 4 u8 x s8 products vpdpbusd and sums of bf16 pairs vdpbf16ps.
bool hasAvx512DotProducts(const Halide::Target &target);
// Vectorises the innermost dim of an element-wise output and parallelises over rows.
void scheduleRows(Halide::Func f, Halide::Var inner, Halide::Var rows, int64_t width, int lanes);

// total(vars) = sum_{i < n} term(i), accumulated in `accumulator` (f32 unless asked) across
// `lanes` vector lanes (partial(l, vars) = sum over chunks of term(chunk * lanes + l)), then the
// lanes and the tail; total has the accumulator's type.
struct LaneSum {
  Halide::Func total, partial;
  Halide::Var lane;
  Halide::RDom chunk; // over the chunks of `lanes` terms (defined when hasPartial)
  bool hasPartial = false;

  // Computes the sum at `consumer`'s `at` loop, the lane partials vectorised.
  void computeAt(Halide::Func consumer, Halide::Var at);
};

LaneSum laneSum(const std::string &name, int64_t n, int lanes, const std::vector<Halide::Var> &vars,
                const std::function<Halide::Expr(Halide::Expr)> &term,
                Halide::Type accumulator = Halide::Float(32));

// mean(x(0..width), t) of a LayerNorm row, as f32: the sum is accumulated in f64. An f32 sum's
// rounding error grows with the row's mean, and centring divides it by the row's deviation: for
// the vision embedder's patch_ln1 (6912 pixels in [0, 1], mean ~0.5, deviation ~0.1) it shifted
// every normalised value by ~1e-5 (Hugging Face's cascade sum: ~1e-7), an error the patch
// projection sums coherently into every image token.
// `sum` receives the reduction, to be scheduled with LaneSum::computeAt.
Halide::Func layerNormMean(const std::string &name,
                           const std::function<Halide::Expr(Halide::Expr, Halide::Expr)> &x, int64_t width,
                           int lanes, Halide::Var t, LaneSum &sum);

} // namespace loom::codegen::detail
