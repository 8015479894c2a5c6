#include "PipelineHelpers.h"

#include "loom/Error.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace loom::codegen::detail {

using namespace Halide;

Expr widen(Expr e) { return e.type() == Float(32) ? e : cast<float>(e); }

int largestDivisorAtMost(int n, int limit) {
  for (int d = std::min(n, limit); d > 1; --d)
    if (n % d == 0)
      return d;
  return 1;
}

Expr treeSum(std::vector<Expr> terms) {
  while (terms.size() > 1) {
    std::vector<Expr> next;
    for (size_t i = 0; i + 1 < terms.size(); i += 2)
      next.push_back(terms[i] + terms[i + 1]);
    if (terms.size() % 2)
      next.push_back(terms.back());
    terms.swap(next);
  }
  return terms.empty() ? Expr(0.0f) : terms[0];
}

int checkedInt(int64_t value, const char *what) {
  if (value < 0 || value > std::numeric_limits<int32_t>::max())
    fail("kernel spec: ", what, " = ", value, " is out of range");
  return int(value);
}

void constrain(OutputImageParam param, const std::vector<int64_t> &extents) {
  int64_t stride = 1;
  for (size_t i = 0; i < extents.size(); ++i) {
    Internal::Dimension dim = param.dim(int(i));
    dim.set_stride(Expr(int(stride)));
    if (extents[i] == kDynamic)
      dim.set_min(0);
    else
      dim.set_bounds(0, checkedInt(extents[i], "extent"));
    stride *= std::max<int64_t>(extents[i], 1);
    if (i + 1 < extents.size())
      checkedInt(stride, "stride");
  }
}

void scheduleRows(Func f, Var inner, Var rows, int64_t width, int lanes) {
  if (width >= lanes)
    f.vectorize(inner, lanes, TailStrategy::ShiftInwards);
  f.parallel(rows);
}

void LaneSum::computeAt(Func consumer, Var at) {
  total.compute_at(consumer, at);
  if (hasPartial) {
    partial.compute_at(consumer, at).vectorize(lane);
    partial.update().vectorize(lane);
  }
}

LaneSum laneSum(const std::string &name, int64_t n, int lanes, const std::vector<Var> &vars,
                const std::function<Expr(Expr)> &term, Type accumulator) {
  LaneSum s;
  s.total = Func(name);
  s.lane = Var(name + "_l");
  const int chunks = checkedInt(n / lanes, "reduction length");
  const int tail = int(n % lanes);
  auto accumulated = [&](Expr e) { return e.type() == accumulator ? e : cast(accumulator, e); };
  Expr acc = cast(accumulator, 0);
  if (chunks > 0) {
    s.hasPartial = true;
    s.partial = Func(name + "_lanes");
    std::vector<Expr> pargs{s.lane};
    pargs.insert(pargs.end(), vars.begin(), vars.end());
    s.partial(pargs) = cast(accumulator, 0);
    s.chunk = RDom(0, chunks, name + "_r");
    s.partial(pargs) += accumulated(term(s.chunk.x * lanes + s.lane));
    RDom lr(0, lanes, name + "_lr");
    std::vector<Expr> largs{lr.x};
    largs.insert(largs.end(), vars.begin(), vars.end());
    acc = sum(s.partial(largs), name + "_lanesum");
  }
  if (tail > 0) {
    RDom rt(chunks * lanes, tail, name + "_rt");
    acc = acc + sum(accumulated(term(rt.x)), name + "_tail");
  }
  std::vector<Expr> targs(vars.begin(), vars.end());
  s.total(targs) = acc;
  return s;
}

Func layerNormMean(const std::string &name, const std::function<Expr(Expr, Expr)> &x, int64_t width, int lanes,
                   Var t, LaneSum &sum) {
  sum = laneSum(name + "_sum", width, lanes, {t}, [&](Expr k) { return x(k, t); }, Float(64));
  Func mean(name + "_mean");
  mean(t) = cast<float>(Expr(sum.total(t)) / Expr(double(width)));
  return mean;
}

Expr vectorTanh(Expr x) {
  Expr magnitude = abs(x), x2 = x * x;
  // tanh's series to x^9; the next term is below 1e-8 of tanh(x) for |x| < 0.25.
  Expr series =
      x * (1.0f + x2 * (-1.0f / 3 + x2 * (2.0f / 15 + x2 * (-17.0f / 315 + x2 * (62.0f / 2835)))));
  // exp's argument capped where tanh is 1 in f32 (tanh(20) = 1 - 8e-18).
  Expr large = 1.0f - 2.0f / (exp(min(2.0f * magnitude, 40.0f)) + 1.0f);
  return select(magnitude < 0.25f, series, select(x < 0.0f, -large, large));
}

bool hasAvx512DotProducts(const Target &target) {
  return target.has_feature(Target::AVX512_Zen4) || target.has_feature(Target::AVX512_Zen5) ||
         target.has_feature(Target::AVX512_SapphireRapids);
}

Expr geluTanh(Expr x) {
  const float beta = float(std::sqrt(2.0 / M_PI)), kappa = 0.044715f;
  return 0.5f * x * (1.0f + vectorTanh(beta * (x + kappa * x * x * x)));
}

} // namespace loom::codegen::detail
