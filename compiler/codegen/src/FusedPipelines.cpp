// The Halide pipelines of the fused kernel kinds (KernelSpec.h, "Fused kernels").
//
// Each is assembled from the pieces the unfused kernels use, with the same f32 expressions in
// the same order: input norms, the projection GEMM/GEMV (the Linear kernel's own
// defineLinearProduct, LinearSchedule.h, weights read through WeightAccess.h), per-head norms,
// RoPE and attention. What a fused kernel needs whole before the next step (a normalised input row, a
// projection before its post-norm) is computed at root inside the kernel, never written to the
// arena. Conventions as Pipelines.cpp: Halide dim 0 is the innermost one; T is the only
// run-time extent.
#include "AttentionCore.h"
#include "LinearSchedule.h"
#include "PipelineHelpers.h"
#include "Pipelines.h"
#include "WeightAccess.h"

#include "loom/Error.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <optional>

namespace loom::codegen::detail {
namespace {

using namespace Halide;

// ---- building blocks ---------------------------------------------------------------------

// rows(i, t) = x(i, t): an input buffer as a Func (inlined).
Func rowsOf(ImageParam x, const std::string &name) {
  Var i(name + "_i"), t(name + "_t");
  Func rows(name);
  rows(i, t) = x(i, t);
  return rows;
}

// A [T, width] stage computed once per call, rows in parallel.
void computeRowsAtRoot(Func f, Var i, Var t, int64_t width, int lanes) {
  f.compute_root();
  scheduleRows(f, i, t, width, lanes);
}

// The RmsNorm kernel over rows of `width`: x * (mean(x^2) + eps)^-0.5 (* weight).
Func rmsNormRows(const std::string &name, Func x, int64_t width, double eps,
                 std::optional<ImageParam> weight, int lanes) {
  Var i(name + "_i"), t(name + "_t");
  LaneSum sumSq = laneSum(name + "_sumsq", width, lanes, {t}, [&](Expr k) {
    Expr v = x(k, t);
    return v * v;
  });
  Expr inv = 1.0f / sqrt(sumSq.total(t) / float(width) + float(eps));
  Expr y = x(i, t) * inv;
  Func rows(name);
  rows(i, t) = weight ? y * widen((*weight)(i)) : y;
  computeRowsAtRoot(rows, i, t, width, lanes);
  sumSq.computeAt(rows, t);
  return rows;
}

// The LayerNorm kernel over rows of `width`: (x - mean) * rstd * weight + bias, biased variance.
Func layerNormRows(const std::string &name, Func x, int64_t width, double eps, ImageParam weight,
                   ImageParam bias, int lanes) {
  Var i(name + "_i"), t(name + "_t");
  const float n = float(width);
  LaneSum total;
  Func mean = layerNormMean(name, [&](Expr k, Expr row) { return x(k, row); }, width, lanes, t, total);
  LaneSum sq = laneSum(name + "_sqdev", width, lanes, {t}, [&](Expr k) {
    Expr dev = x(k, t) - mean(t);
    return dev * dev;
  });
  Expr rstd = 1.0f / sqrt(sq.total(t) / n + float(eps));
  Func rows(name);
  rows(i, t) = (x(i, t) - mean(t)) * rstd * widen(weight(i)) + widen(bias(i));
  computeRowsAtRoot(rows, i, t, width, lanes);
  total.computeAt(rows, t);
  mean.compute_at(rows, t);
  sq.computeAt(rows, t);
  return rows;
}

// x's rows after the kernel's input norm, and the norm's weight arguments in kernel order.
struct NormedInput {
  Func rows;
  std::vector<Argument> args;
};

NormedInput normalizeInput(ImageParam x, const InputNorm &norm, int64_t width, Type vectorType,
                           int lanes) {
  NormedInput normed;
  Func rows = rowsOf(x, "x_rows");
  switch (norm.kind) {
  case InputNorm::Kind::None:
    normed.rows = rows;
    break;
  case InputNorm::Kind::Rms: {
    std::optional<ImageParam> weight;
    if (norm.hasWeight) {
      weight = ImageParam(vectorType, 1, "norm_weight");
      constrain(*weight, {width});
      normed.args.push_back(*weight);
    }
    normed.rows = rmsNormRows("input_norm", rows, width, norm.eps, weight, lanes);
    break;
  }
  case InputNorm::Kind::Layer: {
    ImageParam weight(vectorType, 1, "norm_weight"), bias(vectorType, 1, "norm_bias");
    constrain(weight, {width});
    constrain(bias, {width});
    normed.args = {weight, bias};
    normed.rows = layerNormRows("input_norm", rows, width, norm.eps, weight, bias, lanes);
    break;
  }
  }
  return normed;
}

// The Linear kernel's product on `rows`: out(o, t) = rows W^T (+ bias), defined and scheduled
// by defineLinearProduct (GEMV for decode, GEMM for prefill) for `tokens` (T) tokens.
void defineProjection(Func out, Func rows, const WeightMatrix &weight, const Target &target,
                      const Tuning &tuning, std::function<Expr(Expr)> bias, Expr tokens) {
  LinearProduct product;
  product.x = rows;
  readWeights(product, weight);
  product.bias = std::move(bias);
  product.tokens = tokens;
  defineLinearProduct(out, product, target, tuning);
}

// A projection as a stage computed once per call: proj(o, t) = rows W^T (+ bias).
Func projectAtRoot(const std::string &name, Func rows, const WeightMatrix &weight, Expr tokens,
                   const Target &target, const Tuning &tuning,
                   std::function<Expr(Expr)> bias = nullptr) {
  Func proj(name);
  defineProjection(proj, rows, weight, target, tuning, std::move(bias), tokens);
  proj.compute_root();
  return proj;
}

// RoPE angles of the Rope kernel: cos/sin of float(position) * invFreq[j], evaluated in double
// and rounded; invFreq = float(theta^(-2j/headDim)) for j < rotatedPairs. The table holds the
// rotated pairs only: the others pass through (cos 1, sin 0, as the Rope kernel's angle 0), and
// libm's double cos and sin of them would be most of the work where few pairs rotate (Gemma 4's
// full layers rotate 64 of 256, and their attention evaluates the table for every cached key).
struct RopeTable {
  Func cosA, sinA; // (j, row), j < rotatedPairs: row's position is positionOf(row)
  int rotatedPairs = 0;
  // With positions tabulated: true when every row's position is in the compile-time table, the
  // condition to specialize cosA and sinA on.
  Expr tabulated;
};

// The most bytes of compile-time cos/sin tables a kernel embeds.
constexpr int64_t kMaxRopeTableBytes = 16ll << 20;

// tabulatedPositions > 0 (with allTabulated: every position below it): the angles of positions
// [0, tabulatedPositions) come from tables computed here with the same f32 angle and double
// cos/sin, so the kernel reads what it would compute, without libm per call.
RopeTable ropeTable(const std::string &name, int64_t headDim, double theta, int64_t rotatedPairs,
                    const std::function<Expr(Expr)> &positionOf, int64_t tabulatedPositions = 0,
                    Expr allTabulated = Expr()) {
  if (headDim % 2 != 0 || rotatedPairs < 0 || rotatedPairs > headDim / 2)
    fail("rope: head_dim ", headDim, " must be even and rotated_pairs ", rotatedPairs,
         " at most head_dim/2");
  const int half = checkedInt(headDim / 2, "head_dim");
  Buffer<float> invFreqTable(half, name + "_inv_freq_table");
  for (int j = 0; j < half; ++j)
    invFreqTable(j) =
        j < rotatedPairs ? float(std::pow(theta, -2.0 * double(j) / double(headDim))) : 0.0f;
  Var j(name + "_j"), row(name + "_row");
  Func invFreq(name + "_inv_freq"), angle(name + "_angle");
  invFreq(j) = invFreqTable(clamp(j, 0, half - 1));
  angle(j, row) = cast<float>(positionOf(row)) * invFreq(j);
  RopeTable table{Func(name + "_cos"), Func(name + "_sin"), int(rotatedPairs), Expr()};
  Expr cosA = cast<float>(cos(cast<double>(angle(j, row))));
  Expr sinA = cast<float>(sin(cast<double>(angle(j, row))));
  const int64_t tableBytes = 2 * 4 * rotatedPairs * tabulatedPositions;
  if (rotatedPairs > 0 && tabulatedPositions > 0 && tableBytes <= kMaxRopeTableBytes) {
    const int positions = checkedInt(tabulatedPositions, "rope table positions");
    Buffer<float> cosTable(int(rotatedPairs), positions, name + "_cos_table");
    Buffer<float> sinTable(int(rotatedPairs), positions, name + "_sin_table");
    for (int pos = 0; pos < positions; ++pos)
      for (int pair = 0; pair < rotatedPairs; ++pair) {
        const float a = float(pos) * invFreqTable(pair);
        cosTable(pair, pos) = float(std::cos(double(a)));
        sinTable(pair, pos) = float(std::sin(double(a)));
      }
    Expr pair = clamp(j, 0, int(rotatedPairs) - 1);
    Expr pos = clamp(positionOf(row), 0, positions - 1);
    cosA = select(allTabulated, cosTable(pair, pos), cosA);
    sinA = select(allTabulated, sinTable(pair, pos), sinA);
    table.tabulated = allTabulated;
  }
  table.cosA(j, row) = cosA;
  table.sinA(j, row) = sinA;
  return table;
}

// The Rope kernel's rotation of x(d, h, row): pair (j, j + half).
Expr rotate(Func x, const RopeTable &table, int64_t headDim, Expr d, Expr h, Expr row) {
  const int half = int(headDim / 2);
  Expr pair = d % half;
  Expr x1 = x(pair, h, row), x2 = x(pair + half, h, row);
  Expr rotates = pair < table.rotatedPairs;
  Expr tablePair = clamp(pair, 0, std::max(table.rotatedPairs - 1, 0));
  Expr c = select(rotates, table.cosA(tablePair, row), 1.0f);
  Expr s = select(rotates, table.sinA(tablePair, row), 0.0f);
  return select(d < half, x1 * c - x2 * s, x2 * c + x1 * s);
}

// Per-head RmsNorm of proj(h * headDim + d, t): normed(d, h, t), computed at root.
Func headNorm(const std::string &name, Func proj, int64_t headDim, double eps,
              std::optional<ImageParam> weight, int lanes) {
  Var d(name + "_d"), h(name + "_h"), t(name + "_t");
  const int dim = checkedInt(headDim, "head_dim");
  LaneSum sumSq = laneSum(name + "_sumsq", headDim, lanes, {h, t}, [&](Expr k) {
    Expr v = proj(h * dim + k, t);
    return v * v;
  });
  Expr inv = 1.0f / sqrt(sumSq.total(h, t) / float(headDim) + float(eps));
  Expr y = proj(h * dim + d, t) * inv;
  Func normed(name);
  normed(d, h, t) = weight ? y * widen((*weight)(d)) : y;
  normed.compute_root().parallel(t);
  if (headDim >= lanes)
    normed.vectorize(d, lanes, TailStrategy::ShiftInwards);
  sumSq.computeAt(normed, h);
  return normed;
}

// ---- the kinds ---------------------------------------------------------------------------

KernelPipeline fusedLinear(const FusedLinear &p, ElementType et, const Target &target, const Tuning &tuning, int lanes) {
  if (p.outs.empty())
    fail("fused_linear: needs at least one weight");
  const Type vt = vectorWeightType(et);
  ImageParam x(Float(32), 2, "x");
  constrain(x, {p.in, kDynamic});
  NormedInput input = normalizeInput(x, p.norm, p.in, vt, lanes);
  std::vector<Argument> args{x};
  args.insert(args.end(), input.args.begin(), input.args.end());
  std::vector<WeightMatrix> weights;
  std::vector<ImageParam> biases;
  for (size_t i = 0; i < p.outs.size(); ++i) {
    weights.push_back(weightMatrix("weight" + std::to_string(i), et, p.outs[i], p.in));
    args.push_back(weights.back().param);
  }
  if (p.hasBias)
    for (size_t i = 0; i < p.outs.size(); ++i) {
      biases.emplace_back(vt, 1, "bias" + std::to_string(i));
      constrain(biases.back(), {p.outs[i]});
      args.push_back(biases.back());
    }
  std::vector<Func> outputs;
  for (size_t i = 0; i < p.outs.size(); ++i) {
    Func out("out" + std::to_string(i)); // output buffer name in the metadata
    std::function<Expr(Expr)> bias;
    if (p.hasBias)
      bias = [param = biases[i]](Expr o) { return widen(param(o)); };
    defineProjection(out, input.rows, weights[i], target, tuning, bias, x.dim(1).extent());
    constrain(out.output_buffer(), {p.outs[i], kDynamic});
    outputs.push_back(out);
  }
  return {Pipeline(outputs), args};
}

KernelPipeline gegluLinear(const GegluLinear &p, ElementType et, const Target &target, const Tuning &tuning, int lanes) {
  if (p.norm.kind == InputNorm::Kind::Layer)
    fail("geglu_linear: the input norm must be an RMSNorm");
  ImageParam x(Float(32), 2, "x");
  constrain(x, {p.in, kDynamic});
  NormedInput input = normalizeInput(x, p.norm, p.in, vectorWeightType(et), lanes);
  WeightMatrix gateWeight = weightMatrix("gate_weight", et, p.width, p.in);
  WeightMatrix upWeight = weightMatrix("up_weight", et, p.width, p.in);
  Expr tokens = x.dim(1).extent();
  Func gate = projectAtRoot("gate_proj", input.rows, gateWeight, tokens, target, tuning);
  Func up = projectAtRoot("up_proj", input.rows, upWeight, tokens, target, tuning);
  // The GeGlu kernel's expression on the two projections.
  Var o("o"), t("t");
  Func out("out"); // output buffer name in the metadata
  out(o, t) = geluTanh(gate(o, t)) * up(o, t);
  constrain(out.output_buffer(), {p.width, kDynamic});
  scheduleRows(out, o, t, p.width, lanes);
  std::vector<Argument> args{x};
  args.insert(args.end(), input.args.begin(), input.args.end());
  args.push_back(gateWeight.param);
  args.push_back(upWeight.param);
  return {Pipeline(out), args};
}

KernelPipeline attentionInput(const AttentionInput &p, ElementType et, const Target &target, const Tuning &tuning,
                              int lanes) {
  if (p.norm.kind == InputNorm::Kind::Layer)
    fail("attention_input: the input norm must be an RMSNorm");
  if (p.qHeads <= 0 || p.kvHeads <= 0 || p.qHeads % p.kvHeads != 0)
    fail("attention_input: q_heads ", p.qHeads, " must be a positive multiple of kv_heads ",
         p.kvHeads);
  if (p.rawKey && p.hasValueProjection)
    fail("attention_input: a raw key has no value projection");
  const Type vt = vectorWeightType(et);
  ImageParam x(Float(32), 2, "x");
  constrain(x, {p.in, kDynamic});
  NormedInput input = normalizeInput(x, p.norm, p.in, vt, lanes);
  WeightMatrix qWeight = weightMatrix("q_weight", et, p.qHeads * p.headDim, p.in);
  WeightMatrix kWeight = weightMatrix("k_weight", et, p.kvHeads * p.headDim, p.in);
  std::optional<WeightMatrix> vWeight;
  if (p.hasValueProjection)
    vWeight = weightMatrix("v_weight", et, p.kvHeads * p.headDim, p.in);
  ImageParam qNorm(vt, 1, "q_norm_weight"), kNorm(vt, 1, "k_norm_weight");
  constrain(qNorm, {p.headDim});
  constrain(kNorm, {p.headDim});
  // Each token's own position: a batched decode step holds one token of each sequence.
  ImageParam positions(Int(32), 1, "positions");
  constrain(positions, {kDynamic});

  Expr tokens = x.dim(1).extent();
  Func qProj = projectAtRoot("q_proj", input.rows, qWeight, tokens, target, tuning);
  Func kProj = projectAtRoot("k_proj", input.rows, kWeight, tokens, target, tuning);
  RopeTable table = ropeTable("rope", p.headDim, p.theta, p.rotatedPairs,
                              [&](Expr t) { return positions(t); });
  const int half = checkedInt(p.headDim / 2, "head_dim");
  const int dim = checkedInt(p.headDim, "head_dim");
  Var d("d"), h("h"), t("t"), dh("dh"), dl("dl");
  // Query and key: the Rope kernel's rotation and schedule over the head-normalised projection.
  auto rotated = [&](const std::string &name, Func normed, int64_t heads) {
    Func out(name); // output buffer name in the metadata
    out(d, h, t) = rotate(normed, table, p.headDim, d, h, t);
    constrain(out.output_buffer(), {p.headDim, heads, kDynamic});
    out.split(d, dh, dl, half).reorder(dl, dh, h, t).unroll(dh).parallel(t);
    if (half >= lanes)
      out.vectorize(dl, lanes, TailStrategy::ShiftInwards);
    return out;
  };
  Func query = rotated("query", headNorm("q_normed", qProj, p.headDim, p.headEps, qNorm, lanes),
                       p.qHeads);
  std::vector<Func> outputs{query};
  if (p.rawKey) {
    Func key("key"); // output buffer name in the metadata
    key(d, h, t) = kProj(h * dim + d, t);
    constrain(key.output_buffer(), {p.headDim, p.kvHeads, kDynamic});
    scheduleRows(key, d, t, p.headDim, lanes);
    outputs.push_back(key);
  } else {
    outputs.push_back(rotated(
        "key", headNorm("k_normed", kProj, p.headDim, p.headEps, kNorm, lanes), p.kvHeads));
    // The value: its own projection, or the raw k on k_eq_v layers; unscaled head norm.
    Func vProj = vWeight ? projectAtRoot("v_proj", input.rows, *vWeight, tokens, target, tuning) : kProj;
    LaneSum sumSq = laneSum("v_sumsq", p.headDim, lanes, {h, t}, [&](Expr k) {
      Expr v = vProj(h * dim + k, t);
      return v * v;
    });
    Expr inv = 1.0f / sqrt(sumSq.total(h, t) / float(p.headDim) + float(p.headEps));
    Func value("value"); // output buffer name in the metadata
    value(d, h, t) = vProj(h * dim + d, t) * inv;
    constrain(value.output_buffer(), {p.headDim, p.kvHeads, kDynamic});
    scheduleRows(value, d, t, p.headDim, lanes);
    sumSq.computeAt(value, h);
    outputs.push_back(value);
  }
  table.cosA.compute_root();
  table.sinA.compute_root();

  std::vector<Argument> args{x};
  args.insert(args.end(), input.args.begin(), input.args.end());
  args.push_back(qWeight.param);
  args.push_back(kWeight.param);
  if (vWeight)
    args.push_back(vWeight->param);
  args.push_back(qNorm);
  if (!p.rawKey)
    args.push_back(kNorm);
  args.push_back(positions);
  return {Pipeline(outputs), args};
}

KernelPipeline rawKeyAttention(const RawKeyAttention &rp, ElementType et, int lanes,
                               const Tuning &tuning) {
  const Attention &p = rp.attention;
  if (p.qHeads <= 0 || p.kvHeads <= 0 || p.qHeads % p.kvHeads != 0)
    fail("raw_key_attention: q_heads ", p.qHeads, " must be a positive multiple of kv_heads ",
         p.kvHeads);
  if (p.window < 0 || p.capacity < 0)
    fail("raw_key_attention: window ", p.window, " and capacity ", p.capacity, " must be >= 0");
  const int capacity = checkedInt(p.capacity, "capacity");
  ImageParam q(Float(32), 3, "q"), rawK(Float(32), 3, "raw_k");
  ImageParam kNorm(vectorWeightType(et), 1, "k_norm_weight"), blockIds(Int(32), 1, "block_ids");
  ImageParam cacheKeys(Float(32), 3, "cache_keys");
  Param<int32_t> startPos("start_pos");
  constrain(q, {p.headDim, p.qHeads, kDynamic});
  constrain(rawK, {p.headDim, p.kvHeads, kDynamic});
  constrain(kNorm, {p.headDim});
  constrain(blockIds, {kDynamic});
  constrain(cacheKeys, {p.headDim, p.kvHeads, capacity > 0 ? p.capacity : kDynamic});

  Expr T = q.dim(2).extent();
  Expr nPast = capacity > 0 ? clamp(startPos, 0, capacity) : Expr(0);
  Expr pastStart = startPos - nPast;
  Var d("raw_d"), kvh("raw_kvh"), j("raw_j");
  Expr own = clamp(j - nPast, 0, T - 1);
  Func raw("att_raw");
  if (capacity > 0)
    raw(d, kvh, j) = select(j < nPast, cacheKeys(d, kvh, (pastStart + j) % capacity),
                            rawK(d, kvh, own));
  else
    raw(d, kvh, j) = rawK(d, kvh, own);

  // K = rope(k_norm(raw)) and V = v_norm(raw): the RmsNorm and Rope kernels' expressions, per
  // key at its own position, once per call for every key the attention reads.
  LaneSum sumSq = laneSum("att_raw_sumsq", p.headDim, lanes, {kvh, j}, [&](Expr i) {
    Expr v = raw(i, kvh, j);
    return v * v;
  });
  Func inv("att_raw_inv");
  inv(kvh, j) = 1.0f / sqrt(sumSq.total(kvh, j) / float(p.headDim) + float(rp.eps));
  Func keyNormed("att_key_normed"), key("att_key"), value("att_value");
  keyNormed(d, kvh, j) = raw(d, kvh, j) * inv(kvh, j) * widen(kNorm(d));
  // The keys' positions are below startPos + T; with a cache at least that long, in the table.
  RopeTable table = ropeTable("rope", p.headDim, rp.theta, rp.rotatedPairs,
                              [&](Expr row) { return pastStart + row; }, capacity,
                              startPos + T <= capacity);
  key(d, kvh, j) = rotate(keyNormed, table, p.headDim, d, kvh, j);
  value(d, kvh, j) = raw(d, kvh, j) * inv(kvh, j);

  Func out = attend(p, q, blockIds, AttentionKeys{key, {}, {}}, value, nPast, pastStart, startPos,
                    lanes, AttentionTiles::of(p, tuning));
  constrain(out.output_buffer(), {p.headDim, p.qHeads, kDynamic});

  inv.compute_root().parallel(j);
  sumSq.computeAt(inv, j);
  for (Func f : {table.cosA, table.sinA}) {
    f.compute_root();
    if (table.tabulated.defined())
      f.specialize(table.tabulated);
  }
  for (Func f : {key, value}) {
    f.compute_root().parallel(j);
    if (p.headDim >= lanes)
      f.vectorize(d, lanes, TailStrategy::ShiftInwards);
  }
  return {Pipeline(out), {q, rawK, kNorm, blockIds, startPos, cacheKeys}};
}

KernelPipeline linearResidual(const LinearResidual &p, ElementType et, const Target &target, const Tuning &tuning,
                              int lanes) {
  const Type vt = vectorWeightType(et);
  ImageParam x(Float(32), 2, "x"), normWeight(vt, 1, "norm_weight");
  ImageParam residual(Float(32), 2, "residual"), scalar(vt, 1, "scalar");
  WeightMatrix weight = weightMatrix("weight", et, p.out, p.in);
  constrain(x, {p.in, kDynamic});
  constrain(normWeight, {p.out});
  constrain(residual, {p.out, kDynamic});
  constrain(scalar, {1});
  Func proj = projectAtRoot("proj", x, weight, x.dim(1).extent(), target, tuning);
  // The RmsNorm, Add and Scale kernels' expressions on the projected row.
  Var o("o"), t("t");
  LaneSum sumSq = laneSum("post_sumsq", p.out, lanes, {t}, [&](Expr k) {
    Expr v = proj(k, t);
    return v * v;
  });
  Expr inv = 1.0f / sqrt(sumSq.total(t) / float(p.out) + float(p.eps));
  Expr y = residual(o, t) + proj(o, t) * inv * widen(normWeight(o));
  Func out("out"); // output buffer name in the metadata
  out(o, t) = p.hasScalar ? y * widen(scalar(0)) : y;
  constrain(out.output_buffer(), {p.out, kDynamic});
  scheduleRows(out, o, t, p.out, lanes);
  sumSq.computeAt(out, t);
  std::vector<Argument> args{x, weight.param, normWeight, residual};
  if (p.hasScalar)
    args.push_back(scalar);
  return {Pipeline(out), args};
}

KernelPipeline patchEmbed(const PatchEmbed &p, ElementType et, const Target &target, const Tuning &tuning, int lanes) {
  const Type vt = vectorWeightType(et);
  ImageParam patches(Float(32), 2, "patches"), positions(Int(32), 2, "positions");
  ImageParam ln1Weight(vt, 1, "ln1_weight"), ln1Bias(vt, 1, "ln1_bias");
  ImageParam denseBias(vt, 1, "dense_bias"), ln2Weight(vt, 1, "ln2_weight"),
      ln2Bias(vt, 1, "ln2_bias");
  ImageParam table(vt, 3, "position_table");
  ImageParam posNormWeight(vt, 1, "pos_norm_weight"), posNormBias(vt, 1, "pos_norm_bias");
  WeightMatrix dense = weightMatrix("dense_weight", et, p.width, p.patchDim);
  WeightMatrix projection = weightMatrix("projection_weight", et, p.outWidth, p.width);
  constrain(patches, {p.patchDim, kDynamic});
  constrain(positions, {2, kDynamic});
  for (ImageParam *param : {&ln1Weight, &ln1Bias})
    constrain(*param, {p.patchDim});
  for (ImageParam *param : {&denseBias, &ln2Weight, &ln2Bias, &posNormWeight, &posNormBias})
    constrain(*param, {p.width});
  constrain(table, {p.width, 2, p.tableSize});

  Func ln1 = layerNormRows("ln1", rowsOf(patches, "patch_rows"), p.patchDim, p.lnEps, ln1Weight,
                           ln1Bias, lanes);
  Func denseOut = projectAtRoot("dense", ln1, dense, patches.dim(1).extent(), target, tuning,
                                [&](Expr o) { return widen(denseBias(o)); });
  Var o("o"), t("t");
  Func ln2 = layerNormRows("ln2", denseOut, p.width, p.lnEps, ln2Weight, ln2Bias, lanes);
  // The VisionPositionAdd kernel's expression.
  const int last = checkedInt(p.tableSize, "table_size") - 1;
  Expr column = positions(0, t), row = positions(1, t);
  Expr colTerm = select(column >= 0, widen(table(o, 0, clamp(column, 0, last))), 0.0f);
  Expr rowTerm = select(row >= 0, widen(table(o, 1, clamp(row, 0, last))), 0.0f);
  Func placed("placed");
  placed(o, t) = ln2(o, t) + colTerm + rowTerm;
  computeRowsAtRoot(placed, o, t, p.width, lanes);
  Func posNorm = layerNormRows("pos_norm", placed, p.width, p.lnEps, posNormWeight, posNormBias,
                               lanes);
  Func rms = rmsNormRows("pre_projection_norm", posNorm, p.width, p.rmsEps, std::nullopt, lanes);
  Func out("out"); // output buffer name in the metadata
  defineProjection(out, rms, projection, target, tuning, nullptr, patches.dim(1).extent());
  constrain(out.output_buffer(), {p.outWidth, kDynamic});
  return {Pipeline(out),
          {patches, positions, ln1Weight, ln1Bias, dense.param, denseBias, ln2Weight, ln2Bias,
           table, posNormWeight, posNormBias, projection.param}};
}

template <class... Ts> struct Overloaded : Ts... { using Ts::operator()...; };
template <class... Ts> Overloaded(Ts...) -> Overloaded<Ts...>;

} // namespace

KernelPipeline buildFusedPipeline(const KernelSpec &spec, const Target &target,
                                  const Tuning &tuning) {
  const int lanes = std::max(4, target.natural_vector_size(Float(32)));
  const ElementType et = spec.weightType;
  return std::visit(
      Overloaded{
          [&](const FusedLinear &p) { return fusedLinear(p, et, target, tuning, lanes); },
          [&](const GegluLinear &p) { return gegluLinear(p, et, target, tuning, lanes); },
          [&](const AttentionInput &p) { return attentionInput(p, et, target, tuning, lanes); },
          [&](const RawKeyAttention &p) { return rawKeyAttention(p, et, lanes, tuning); },
          [&](const LinearResidual &p) { return linearResidual(p, et, target, tuning, lanes); },
          [&](const PatchEmbed &p) { return patchEmbed(p, et, target, tuning, lanes); },
          [&](const auto &) -> KernelPipeline {
            fail("buildFusedPipeline: kernel ", spec.symbol, " (", kindName(spec),
                 ") is not a fused kind");
          },
      },
      spec.params);
}

} // namespace loom::codegen::detail
