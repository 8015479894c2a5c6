// The Halide pipeline of each KernelSpec kind: algorithm + a plain schedule.
//
// Conventions: Halide dim 0 is the innermost (contiguous) one, so a row-major [T, N] tensor is
// the Halide buffer (n, t). Every extent except T is fixed by the spec and constrained on the
// buffers (with dense strides), so the generated code is specialised to the static shapes.
#include "Pipelines.h"
#include "AttentionCore.h"
#include "LinearSchedule.h"
#include "PipelineHelpers.h"
#include "WeightAccess.h"

#include "loom/Error.h"

#include <cmath>
#include <functional>

namespace loom::codegen::detail {
namespace {

using namespace Halide;

template <class... Ts> struct Overloaded : Ts... { using Ts::operator()...; };
template <class... Ts> Overloaded(Ts...) -> Overloaded<Ts...>;

KernelPipeline embedTokens(const EmbedTokens &p, ElementType et, int lanes) {
  ImageParam ids(Int(32), 1, "ids");
  WeightMatrix table = weightMatrix("table", et, p.vocab, p.width);
  constrain(ids, {kDynamic});
  Var w("w"), t("t");
  Func out("out"); // output buffer name in the metadata
  Expr row = clamp(ids(t), 0, checkedInt(p.vocab, "vocab") - 1);
  out(w, t) = table.at(row, w) * float(p.scale);
  constrain(out.output_buffer(), {p.width, kDynamic});
  scheduleRows(out, w, t, p.width, lanes);
  return {Pipeline(out), {ids, table.param}};
}

KernelPipeline rmsNorm(const RmsNorm &p, Type wt, int lanes) {
  ImageParam x(Float(32), 3, "x"), weight(wt, 1, "weight");
  constrain(x, {p.width, p.groups, kDynamic});
  constrain(weight, {p.width});
  Var w("w"), g("g"), t("t"), gt("gt");
  LaneSum sumSq = laneSum("rms_sumsq", p.width, lanes, {g, t}, [&](Expr i) {
    Expr v = x(i, g, t);
    return v * v;
  });
  Expr inv = 1.0f / sqrt(sumSq.total(g, t) / float(p.width) + float(p.eps));
  Func out("out"); // output buffer name in the metadata
  Expr y = x(w, g, t) * inv;
  out(w, g, t) = p.hasWeight ? y * widen(weight(w)) : y;
  constrain(out.output_buffer(), {p.width, p.groups, kDynamic});
  out.fuse(g, t, gt);
  scheduleRows(out, w, gt, p.width, lanes);
  sumSq.computeAt(out, gt);
  std::vector<Argument> args{x};
  if (p.hasWeight)
    args.push_back(weight);
  return {Pipeline(out), args};
}

KernelPipeline layerNorm(const LayerNorm &p, Type wt, int lanes) {
  ImageParam x(Float(32), 2, "x"), weight(wt, 1, "weight"), bias(wt, 1, "bias");
  constrain(x, {p.width, kDynamic});
  constrain(weight, {p.width});
  constrain(bias, {p.width});
  Var w("w"), t("t");
  const float n = float(p.width);
  LaneSum total;
  Func mean = layerNormMean("ln", [&](Expr i, Expr row) { return x(i, row); }, p.width, lanes, t, total);
  LaneSum sq = laneSum("ln_sqdev", p.width, lanes, {t}, [&](Expr i) {
    Expr dev = x(i, t) - mean(t);
    return dev * dev;
  });
  Expr rstd = 1.0f / sqrt(sq.total(t) / n + float(p.eps));
  Func out("out"); // output buffer name in the metadata
  out(w, t) = (x(w, t) - mean(t)) * rstd * widen(weight(w)) + widen(bias(w));
  constrain(out.output_buffer(), {p.width, kDynamic});
  scheduleRows(out, w, t, p.width, lanes);
  total.computeAt(out, t);
  mean.compute_at(out, t);
  sq.computeAt(out, t);
  return {Pipeline(out), {x, weight, bias}};
}

KernelPipeline linear(const Linear &p, ElementType et, const Target &target, const Tuning &tuning) {
  ImageParam x(Float(32), 2, "x"), bias(vectorWeightType(et), 1, "bias");
  WeightMatrix weight = weightMatrix("weight", et, p.out, p.in);
  constrain(x, {p.in, kDynamic});
  constrain(bias, {p.out});
  Func out("out"); // output buffer name in the metadata
  LinearProduct product;
  product.x = x;
  product.tokens = x.dim(1).extent();
  readWeights(product, weight);
  if (p.hasBias)
    product.bias = [&](Expr o) { return widen(bias(o)); };
  defineLinearProduct(out, product, target, tuning);
  constrain(out.output_buffer(), {p.out, kDynamic});
  std::vector<Argument> args{x, weight.param};
  if (p.hasBias)
    args.push_back(bias);
  return {Pipeline(out), args};
}

KernelPipeline rope(const Rope &p, int lanes) {
  if (p.headDim % 2 != 0 || p.rotatedPairs < 0 || p.rotatedPairs > p.headDim / 2)
    fail("rope: head_dim ", p.headDim, " must be even and rotated_pairs ", p.rotatedPairs,
         " at most head_dim/2");
  const int half = checkedInt(p.headDim / 2, "head_dim");
  ImageParam x(Float(32), 3, "x");
  Param<int32_t> startPos("start_pos");
  constrain(x, {p.headDim, p.heads, kDynamic});

  // invFreq in double, rounded to float; 0 (angle 0: pass through) beyond rotatedPairs.
  Buffer<float> invFreqTable(half, "rope_inv_freq_table");
  for (int j = 0; j < half; ++j)
    invFreqTable(j) =
        j < p.rotatedPairs ? float(std::pow(p.theta, -2.0 * double(j) / double(p.headDim))) : 0.0f;
  Var d("d"), h("h"), t("t"), j("j"), dh("dh"), dl("dl");
  Func invFreq("rope_inv_freq"), angle("rope_angle"), cosA("rope_cos"), sinA("rope_sin");
  invFreq(j) = invFreqTable(clamp(j, 0, half - 1));
  angle(j, t) = cast<float>(startPos + t) * invFreq(j);
  // cos/sin of the f32 angle, evaluated in double and rounded: accurate for large angles.
  cosA(j, t) = cast<float>(cos(cast<double>(angle(j, t))));
  sinA(j, t) = cast<float>(sin(cast<double>(angle(j, t))));

  Expr low = d < half;
  Expr pair = d % half;
  Expr x1 = x(pair, h, t), x2 = x(pair + half, h, t);
  Expr c = cosA(pair, t), s = sinA(pair, t);
  Func out("out"); // output buffer name in the metadata
  out(d, h, t) = select(low, x1 * c - x2 * s, x2 * c + x1 * s);
  constrain(out.output_buffer(), {p.headDim, p.heads, kDynamic});

  out.split(d, dh, dl, half).reorder(dl, dh, h, t).unroll(dh).parallel(t);
  if (half >= lanes)
    out.vectorize(dl, lanes, TailStrategy::ShiftInwards);
  cosA.compute_at(out, t);
  sinA.compute_at(out, t);
  return {Pipeline(out), {x, startPos}};
}

KernelPipeline attention(const Attention &p, int lanes, const Tuning &tuning) {
  if (p.qHeads <= 0 || p.kvHeads <= 0 || p.qHeads % p.kvHeads != 0)
    fail("attention: q_heads ", p.qHeads, " must be a positive multiple of kv_heads ", p.kvHeads);
  if (p.window < 0 || p.capacity < 0)
    fail("attention: window ", p.window, " and capacity ", p.capacity, " must be >= 0");
  const int capacity = checkedInt(p.capacity, "capacity");
  ImageParam q(Float(32), 3, "q"), k(Float(32), 3, "k"), v(Float(32), 3, "v");
  ImageParam blockIds(Int(32), 1, "block_ids");
  ImageParam cacheKeys(Float(32), 3, "cache_keys"), cacheValues(Float(32), 3, "cache_values");
  Param<int32_t> startPos("start_pos");
  constrain(q, {p.headDim, p.qHeads, kDynamic});
  constrain(k, {p.headDim, p.kvHeads, kDynamic});
  constrain(v, {p.headDim, p.kvHeads, kDynamic});
  constrain(blockIds, {kDynamic});
  constrain(cacheKeys, {p.headDim, p.kvHeads, capacity > 0 ? p.capacity : kDynamic});
  constrain(cacheValues, {p.headDim, p.kvHeads, capacity > 0 ? p.capacity : kDynamic});

  // Key index j in [0, nPast + T): j < nPast is position pastStart + j, read from the cache;
  // the rest are the call's own tokens.
  Expr T = q.dim(2).extent();
  Expr nPast = capacity > 0 ? clamp(startPos, 0, capacity) : Expr(0);
  Expr pastStart = startPos - nPast;
  Var d("d"), kvh("kvh"), j("j");
  Expr own = clamp(j - nPast, 0, T - 1);
  Func value("att_value");
  AttentionKeys keys;
  if (capacity > 0) {
    Expr slot = (pastStart + j) % capacity;
    keys.past = Func("att_key_past");
    keys.past(d, kvh, j) = cacheKeys(d, kvh, slot);
    keys.own = Func("att_key_own");
    keys.own(d, kvh, j) = k(d, kvh, min(j, T - 1)); // score tiles round up past the last
    keys.pastValue = Func("att_value_past");
    keys.pastValue(d, kvh, j) = cacheValues(d, kvh, slot);
    keys.ownValue = Func("att_value_own");
    keys.ownValue(d, kvh, j) = v(d, kvh, j);
  } else {
    keys.all = Func("att_key");
    keys.all(d, kvh, j) = k(d, kvh, own);
    value(d, kvh, j) = v(d, kvh, own);
  }

  Func out = attend(p, q, blockIds, keys, value, nPast, pastStart, startPos, lanes,
                    AttentionTiles::of(p, tuning));
  constrain(out.output_buffer(), {p.headDim, p.qHeads, kDynamic});
  // A prompt's first call has an empty cache: a specialization reads the call's own keys and
  // values only (no tile of past scores, no per-key choice in their join, no past value loop).
  if (capacity > 0)
    out.specialize(startPos == 0);
  return {Pipeline(out), {q, k, v, blockIds, startPos, cacheKeys, cacheValues}};
}

// out = gelu_tanh(gate) * up, element-wise.
KernelPipeline geglu(const GeGlu &p, int lanes) {
  ImageParam gate(Float(32), 2, "gate"), up(Float(32), 2, "up");
  constrain(gate, {p.width, kDynamic});
  constrain(up, {p.width, kDynamic});
  Var w("w"), t("t");
  Func out("out"); // output buffer name in the metadata
  out(w, t) = geluTanh(gate(w, t)) * up(w, t);
  constrain(out.output_buffer(), {p.width, kDynamic});
  scheduleRows(out, w, t, p.width, lanes);
  return {Pipeline(out), {gate, up}};
}

KernelPipeline add(const Add &p, int lanes) {
  ImageParam a(Float(32), 2, "a"), b(Float(32), 2, "b");
  constrain(a, {p.width, kDynamic});
  constrain(b, {p.width, kDynamic});
  Var w("w"), t("t");
  Func out("out"); // output buffer name in the metadata
  out(w, t) = a(w, t) + b(w, t);
  constrain(out.output_buffer(), {p.width, kDynamic});
  scheduleRows(out, w, t, p.width, lanes);
  return {Pipeline(out), {a, b}};
}

KernelPipeline scale(const Scale &p, Type wt, int lanes) {
  ImageParam x(Float(32), 2, "x"), scalar(wt, 1, "scalar");
  constrain(x, {p.width, kDynamic});
  constrain(scalar, {1});
  Var w("w"), t("t");
  Func out("out"); // output buffer name in the metadata
  out(w, t) = x(w, t) * widen(scalar(0));
  constrain(out.output_buffer(), {p.width, kDynamic});
  scheduleRows(out, w, t, p.width, lanes);
  return {Pipeline(out), {x, scalar}};
}

KernelPipeline softcap(const Softcap &p, int lanes) {
  ImageParam x(Float(32), 2, "x");
  constrain(x, {p.width, kDynamic});
  Var w("w"), t("t");
  const float cap = float(p.cap);
  Func out("out"); // output buffer name in the metadata
  out(w, t) = vectorTanh(x(w, t) / cap) * cap;
  constrain(out.output_buffer(), {p.width, kDynamic});
  scheduleRows(out, w, t, p.width, lanes);
  return {Pipeline(out), {x}};
}

KernelPipeline visionPositionAdd(const VisionPositionAdd &p, Type wt, int lanes) {
  ImageParam x(Float(32), 2, "x"), positions(Int(32), 2, "positions"), table(wt, 3, "table");
  constrain(x, {p.width, kDynamic});
  constrain(positions, {2, kDynamic});
  constrain(table, {p.width, 2, p.tableSize});
  const int last = checkedInt(p.tableSize, "table_size") - 1;
  Var w("w"), t("t");
  Expr column = positions(0, t), row = positions(1, t);
  Expr colTerm = select(column >= 0, widen(table(w, 0, clamp(column, 0, last))), 0.0f);
  Expr rowTerm = select(row >= 0, widen(table(w, 1, clamp(row, 0, last))), 0.0f);
  Func out("out"); // output buffer name in the metadata
  out(w, t) = x(w, t) + colTerm + rowTerm;
  constrain(out.output_buffer(), {p.width, kDynamic});
  scheduleRows(out, w, t, p.width, lanes);
  return {Pipeline(out), {x, positions, table}};
}

} // namespace

KernelPipeline buildPipeline(const KernelSpec &spec, const Target &target, const Tuning &tuning) {
  const int lanes = std::max(4, target.natural_vector_size(Float(32)));
  const Type wt = vectorWeightType(spec.weightType);
  const ElementType et = spec.weightType;
  return std::visit(Overloaded{
                        [&](const EmbedTokens &p) { return embedTokens(p, et, lanes); },
                        [&](const RmsNorm &p) { return rmsNorm(p, wt, lanes); },
                        [&](const LayerNorm &p) { return layerNorm(p, wt, lanes); },
                        [&](const Linear &p) { return linear(p, et, target, tuning); },
                        [&](const Rope &p) { return rope(p, lanes); },
                        [&](const Attention &p) { return attention(p, lanes, tuning); },
                        [&](const GeGlu &p) { return geglu(p, lanes); },
                        [&](const Add &p) { return add(p, lanes); },
                        [&](const Scale &p) { return scale(p, wt, lanes); },
                        [&](const Softcap &p) { return softcap(p, lanes); },
                        [&](const VisionPositionAdd &p) { return visionPositionAdd(p, wt, lanes); },
                        [&](const FusedLinear &) { return buildFusedPipeline(spec, target, tuning); },
                        [&](const GegluLinear &) { return buildFusedPipeline(spec, target, tuning); },
                        [&](const AttentionInput &) { return buildFusedPipeline(spec, target, tuning); },
                        [&](const RawKeyAttention &) { return buildFusedPipeline(spec, target, tuning); },
                        [&](const LinearResidual &) { return buildFusedPipeline(spec, target, tuning); },
                        [&](const PatchEmbed &) { return buildFusedPipeline(spec, target, tuning); },
                    },
                    spec.params);
}

} // namespace loom::codegen::detail
