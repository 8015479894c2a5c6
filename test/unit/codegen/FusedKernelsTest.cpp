// FusedKernelsTest: builds one kernel library with the fused kinds (KernelSpec.h, "Fused
// kernels"), calls each `<symbol>_argv` and compares with naive double-precision references
// written from the KernelSpec.h contract (norms, projections, GeGLU, RoPE, attention).
#include "KernelCache.h"
#include "TestTarget.h"
#include "loom/Codegen/KernelSpec.h"

#include <HalideRuntime.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <memory>
#include <numeric>
#include <optional>
#include <random>

#include <dlfcn.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

using namespace loom::codegen;
namespace fs = std::filesystem;

namespace {

// ---- helpers ------------------------------------------------------------------------------

uint16_t toBf16(float f) { // round to nearest even
  uint32_t u;
  std::memcpy(&u, &f, 4);
  u += 0x7fff + ((u >> 16) & 1);
  return uint16_t(u >> 16);
}
float fromBf16(uint16_t b) {
  uint32_t u = uint32_t(b) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

std::vector<float> randomVector(size_t n, std::mt19937 &rng, float lo = -1.0f, float hi = 1.0f) {
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (float &x : v)
    x = dist(rng);
  return v;
}

// A weight tensor in f32 or bf16 storage, and the f32 values the kernel reads.
struct Weights {
  ElementType type;
  std::vector<float> values, f32;
  std::vector<uint16_t> bf16;
  Weights(ElementType t, const std::vector<float> &v) : type(t) {
    if (t == ElementType::BF16) {
      for (float x : v) {
        bf16.push_back(toBf16(x));
        values.push_back(fromBf16(bf16.back()));
      }
    } else {
      f32 = v;
      values = v;
    }
  }
  void *data() { return type == ElementType::BF16 ? (void *)bf16.data() : (void *)f32.data(); }
  halide_type_t htype() const {
    return type == ElementType::BF16 ? halide_type_t(halide_type_bfloat, 16)
                                     : halide_type_t(halide_type_float, 32);
  }
  double operator[](size_t i) const { return values[i]; }
};

// A halide_buffer_t over row-major data: dim 0 is the innermost (last) dim of `shape`.
struct Buf {
  halide_buffer_t buf{};
  std::vector<halide_dimension_t> dims;
  Buf(void *data, halide_type_t type, const std::vector<int64_t> &shape) : dims(shape.size()) {
    int32_t stride = 1;
    for (size_t i = 0; i < shape.size(); ++i) {
      int32_t extent = int32_t(shape[shape.size() - 1 - i]);
      dims[i] = halide_dimension_t(0, extent, stride);
      stride *= extent;
    }
    buf.host = static_cast<uint8_t *>(data);
    buf.type = type;
    buf.dimensions = int32_t(shape.size());
    buf.dim = dims.data();
  }
  Buf(Weights &w, const std::vector<int64_t> &shape) : Buf(w.data(), w.htype(), shape) {}
  Buf(const Buf &) = delete;
};
const halide_type_t kF32(halide_type_float, 32), kI32(halide_type_int, 32);

// max |got - want| <= rel * max(1, max |want|)
void expectClose(const std::vector<float> &got, const std::vector<double> &want,
                 const std::string &what, double rel = 1e-5) {
  ASSERT_EQ(got.size(), want.size()) << what;
  double scale = 1, worst = 0;
  size_t worstAt = 0;
  for (double w : want)
    scale = std::max(scale, std::fabs(w));
  for (size_t i = 0; i < got.size(); ++i) {
    double err = std::fabs(double(got[i]) - want[i]);
    if (!(err <= worst)) {
      worst = std::isnan(err) ? std::numeric_limits<double>::infinity() : err;
      worstAt = i;
    }
  }
  EXPECT_LE(worst, rel * scale) << what << ": worst at " << worstAt << " got " << got[worstAt]
                                << " want " << want[worstAt];
}

// ---- naive references (double) -------------------------------------------------------------

using Rows = std::vector<std::vector<double>>; // [T][width]

Rows rowsOf(const std::vector<float> &x, int64_t T, int64_t width) {
  Rows rows(T, std::vector<double>(width));
  for (int64_t t = 0; t < T; ++t)
    for (int64_t i = 0; i < width; ++i)
      rows[t][i] = x[t * width + i];
  return rows;
}

std::vector<double> rmsNorm(const std::vector<double> &x, const Weights *weight, double eps) {
  double ss = 0;
  for (double v : x)
    ss += v * v;
  double inv = 1.0 / std::sqrt(ss / double(x.size()) + eps);
  std::vector<double> y(x.size());
  for (size_t i = 0; i < x.size(); ++i)
    y[i] = x[i] * inv * (weight ? (*weight)[i] : 1.0);
  return y;
}

std::vector<double> layerNorm(const std::vector<double> &x, const Weights &weight,
                              const Weights &bias, double eps) {
  double mean = 0, var = 0;
  for (double v : x)
    mean += v;
  mean /= double(x.size());
  for (double v : x)
    var += (v - mean) * (v - mean);
  var /= double(x.size());
  std::vector<double> y(x.size());
  for (size_t i = 0; i < x.size(); ++i)
    y[i] = (x[i] - mean) / std::sqrt(var + eps) * weight[i] + bias[i];
  return y;
}

// y[o] = sum_i x[i] W[o][i]
std::vector<double> project(const std::vector<double> &x, const Weights &w, int64_t out) {
  std::vector<double> y(out, 0.0);
  for (int64_t o = 0; o < out; ++o)
    for (size_t i = 0; i < x.size(); ++i)
      y[o] += x[i] * w[o * x.size() + i];
  return y;
}

double geluTanh(double g) {
  return 0.5 * g * (1.0 + std::tanh(std::sqrt(2.0 / M_PI) * (g + 0.044715 * g * g * g)));
}

// The Rope kernel on one head vector at `position`.
std::vector<double> rope(const std::vector<double> &x, int64_t position, double theta,
                         int64_t rotatedPairs) {
  const size_t half = x.size() / 2;
  std::vector<double> y(x.size());
  for (size_t j = 0; j < half; ++j) {
    double invFreq =
        int64_t(j) < rotatedPairs ? double(float(std::pow(theta, -2.0 * double(j) / double(x.size())))) : 0.0;
    double angle = double(float(position) * float(invFreq));
    double c = std::cos(angle), s = std::sin(angle);
    y[j] = x[j] * c - x[j + half] * s;
    y[j + half] = x[j + half] * c + x[j] * s;
  }
  return y;
}

std::vector<double> slice(const std::vector<double> &v, size_t from, size_t count) {
  return std::vector<double>(v.begin() + from, v.begin() + from + count);
}

// ---- the library under test -----------------------------------------------------------------

constexpr ElementType F32 = ElementType::F32, BF16 = ElementType::BF16;
using NormKind = InputNorm::Kind;

std::vector<KernelSpec> testSpecs() {
  std::vector<KernelSpec> s;
  s.push_back({"fl_plain_two", F32, FusedLinear{37, {12, 5}, {}, false}});
  s.push_back({"fl_rms_bias_bf16", BF16, FusedLinear{40, {16}, {NormKind::Rms, true, 1e-6}, true}});
  s.push_back({"fl_rms_unscaled", F32, FusedLinear{24, {8, 8, 3}, {NormKind::Rms, false, 1e-6}, false}});
  s.push_back({"fl_layer_bias", F32, FusedLinear{30, {20}, {NormKind::Layer, true, 1e-5}, true}});
  s.push_back({"geglu_rms_bf16", BF16, GegluLinear{32, 24, {NormKind::Rms, true, 1e-6}}});
  s.push_back({"geglu_plain", F32, GegluLinear{19, 10, {}}});
  s.push_back({"geglu_wide", F32, GegluLinear{32, 64, {NormKind::Rms, true, 1e-6}}});
  s.push_back({"ai_sliding", F32,
               AttentionInput{48, 4, 2, 16, {NormKind::Rms, true, 1e-6}, true, false, 1e-6, 1e4, 8}});
  s.push_back({"ai_k_eq_v_bf16", BF16,
               AttentionInput{48, 4, 1, 32, {NormKind::Rms, true, 1e-6}, false, false, 1e-6, 1e6, 4}});
  s.push_back({"ai_raw_key", F32,
               AttentionInput{40, 4, 1, 32, {}, false, true, 1e-6, 1e6, 4}});
  s.push_back({"rka_full_mqa", F32, RawKeyAttention{{4, 1, 32, 0, 16, 1.0, false}, 1e-6, 1e6, 4}});
  s.push_back({"rka_window_gqa", BF16, RawKeyAttention{{4, 2, 16, 6, 6, 0.5, true}, 1e-6, 1e4, 8}});
  s.push_back({"lr_plain", F32, LinearResidual{37, 16, 1e-6, false}});
  s.push_back({"lr_scalar_bf16", BF16, LinearResidual{48, 24, 1e-6, true}});
  s.push_back({"lr_wide", F32, LinearResidual{40, 56, 1e-6, true}});
  s.push_back({"patch_embed", F32, PatchEmbed{27, 16, 8, 5, 1e-5, 1e-6}});
  return s;
}

std::string lastHalideError;
void recordHalideError(void *, const char *msg) { lastHalideError = msg; }

struct Library {
  std::vector<KernelSpec> specs;
  void *handle = nullptr;
};

Library &library() {
  static Library *lib = [] {
    auto *l = new Library;
    l->specs = testSpecs();
    std::vector<uint8_t> bytes = loom::testing::buildOrLoadCached(
        l->specs, halideTargetFor(loom::testing::testTarget()), LOOM_FUSED_TEST_CACHE);
    int fd = memfd_create("loom_fused_kernels", 0);
    if (fd < 0 || write(fd, bytes.data(), bytes.size()) != ssize_t(bytes.size()))
      std::abort();
    l->handle = dlopen(("/proc/self/fd/" + std::to_string(fd)).c_str(), RTLD_NOW | RTLD_LOCAL);
    close(fd);
    if (l->handle)
      if (auto set = reinterpret_cast<halide_error_handler_t (*)(halide_error_handler_t)>(
              dlsym(l->handle, "halide_set_error_handler")))
        set(recordHalideError);
    return l;
  }();
  return *lib;
}

using ArgvFn = int (*)(void **);

const KernelSpec &specOf(const std::string &symbol) {
  for (const KernelSpec &s : library().specs)
    if (s.symbol == symbol)
      return s;
  std::abort();
}

// Calls the kernel and checks it succeeded.
void call(const std::string &symbol, std::vector<void *> args) {
  ASSERT_NE(library().handle, nullptr);
  auto fn = reinterpret_cast<ArgvFn>(dlsym(library().handle, (symbol + "_argv").c_str()));
  ASSERT_NE(fn, nullptr) << symbol;
  ASSERT_EQ(args.size(), kernelArguments(specOf(symbol)).size()) << symbol;
  lastHalideError.clear();
  ASSERT_EQ(fn(args.data()), 0) << symbol << ": " << lastHalideError;
}

// The Halide metadata agrees with kernelArguments() (names, kinds, dims) for every fused kind.
TEST(FusedKernels, MetadataMatchesKernelArguments) {
  for (const KernelSpec &spec : library().specs) {
    auto meta = reinterpret_cast<const halide_filter_metadata_t *(*)()>(
        dlsym(library().handle, (spec.symbol + "_metadata").c_str()));
    ASSERT_NE(meta, nullptr) << spec.symbol;
    std::vector<KernelArgInfo> args = kernelArguments(spec);
    const halide_filter_metadata_t *m = meta();
    ASSERT_EQ(m->num_arguments, int(args.size())) << spec.symbol;
    for (size_t i = 0; i < args.size(); ++i) {
      std::string name = m->arguments[i].name;
      if (args[i].kind == KernelArgInfo::Kind::Output)
        name = name.substr(0, name.find('$'));
      EXPECT_EQ(name, args[i].name) << spec.symbol;
      EXPECT_EQ(m->arguments[i].dimensions, args[i].dims) << spec.symbol << " " << name;
    }
  }
}

// ---- fused_linear, geglu_linear, linear_residual ---------------------------------------------

// The input rows after the spec's input norm, and the norm's buffers for the call.
struct NormInput {
  Rows rows;
  std::optional<Weights> weight, bias;
};

NormInput normalizedInput(const std::vector<float> &x, int64_t T, int64_t width,
                          const InputNorm &norm, ElementType wt, std::mt19937 &rng) {
  NormInput n{rowsOf(x, T, width), {}, {}};
  if (norm.kind == NormKind::Layer || (norm.kind == NormKind::Rms && norm.hasWeight))
    n.weight.emplace(wt, randomVector(width, rng, 0.5f, 1.5f));
  if (norm.kind == NormKind::Layer)
    n.bias.emplace(wt, randomVector(width, rng));
  for (auto &row : n.rows) {
    if (norm.kind == NormKind::Rms)
      row = rmsNorm(row, n.weight ? &*n.weight : nullptr, norm.eps);
    else if (norm.kind == NormKind::Layer)
      row = layerNorm(row, *n.weight, *n.bias, norm.eps);
  }
  return n;
}

void testFusedLinear(const std::string &symbol, int64_t T) {
  auto p = std::get<FusedLinear>(specOf(symbol).params);
  ElementType wt = specOf(symbol).weightType;
  std::mt19937 rng(11);
  std::vector<float> x = randomVector(T * p.in, rng, -2, 2);
  NormInput input = normalizedInput(x, T, p.in, p.norm, wt, rng);
  std::vector<Weights> weights, biases;
  std::vector<std::vector<float>> outs;
  for (int64_t out : p.outs) {
    weights.emplace_back(wt, randomVector(out * p.in, rng));
    biases.emplace_back(wt, randomVector(out, rng));
    outs.emplace_back(T * out, -7.0f);
  }
  std::vector<std::unique_ptr<Buf>> bufs;
  auto add = [&](auto &&...args) {
    bufs.push_back(std::make_unique<Buf>(args...));
    return &bufs.back()->buf;
  };
  std::vector<void *> args{add(x.data(), kF32, std::vector<int64_t>{T, p.in})};
  if (input.weight)
    args.push_back(add(*input.weight, std::vector<int64_t>{p.in}));
  if (input.bias)
    args.push_back(add(*input.bias, std::vector<int64_t>{p.in}));
  for (size_t i = 0; i < p.outs.size(); ++i)
    args.push_back(add(weights[i], std::vector<int64_t>{p.outs[i], p.in}));
  if (p.hasBias)
    for (size_t i = 0; i < p.outs.size(); ++i)
      args.push_back(add(biases[i], std::vector<int64_t>{p.outs[i]}));
  for (size_t i = 0; i < p.outs.size(); ++i)
    args.push_back(add(outs[i].data(), kF32, std::vector<int64_t>{T, p.outs[i]}));
  call(symbol, args);
  for (size_t i = 0; i < p.outs.size(); ++i) {
    std::vector<double> want;
    for (int64_t t = 0; t < T; ++t) {
      std::vector<double> y = project(input.rows[t], weights[i], p.outs[i]);
      for (int64_t o = 0; o < p.outs[i]; ++o)
        want.push_back(y[o] + (p.hasBias ? biases[i][o] : 0.0));
    }
    expectClose(outs[i], want, symbol + " out" + std::to_string(i));
  }
}
TEST(FusedKernels, FusedLinearTwoWeights) { testFusedLinear("fl_plain_two", 3); }
TEST(FusedKernels, FusedLinearRmsNormBiasBf16) { testFusedLinear("fl_rms_bias_bf16", 5); }
TEST(FusedKernels, FusedLinearUnscaledRmsThreeWeights) { testFusedLinear("fl_rms_unscaled", 1); }
TEST(FusedKernels, FusedLinearLayerNormBias) { testFusedLinear("fl_layer_bias", 4); }
// A prefill-sized call takes the same code path per token.
TEST(FusedKernels, FusedLinearManyTokens) { testFusedLinear("fl_rms_unscaled", 70); }

void testGegluLinear(const std::string &symbol, int64_t T) {
  auto p = std::get<GegluLinear>(specOf(symbol).params);
  ElementType wt = specOf(symbol).weightType;
  std::mt19937 rng(12);
  std::vector<float> x = randomVector(T * p.in, rng, -2, 2);
  NormInput input = normalizedInput(x, T, p.in, p.norm, wt, rng);
  Weights gate(wt, randomVector(p.width * p.in, rng)), up(wt, randomVector(p.width * p.in, rng));
  std::vector<float> out(T * p.width, -7.0f);
  Buf bx(x.data(), kF32, {T, p.in}), bg(gate, {p.width, p.in}), bu(up, {p.width, p.in}),
      bo(out.data(), kF32, {T, p.width});
  std::unique_ptr<Buf> bn;
  std::vector<void *> args{&bx.buf};
  if (input.weight) {
    bn = std::make_unique<Buf>(*input.weight, std::vector<int64_t>{p.in});
    args.push_back(&bn->buf);
  }
  args.insert(args.end(), {&bg.buf, &bu.buf, &bo.buf});
  call(symbol, args);
  std::vector<double> want;
  for (int64_t t = 0; t < T; ++t) {
    std::vector<double> g = project(input.rows[t], gate, p.width), u = project(input.rows[t], up, p.width);
    for (int64_t o = 0; o < p.width; ++o)
      want.push_back(geluTanh(g[o]) * u[o]);
  }
  expectClose(out, want, symbol);
}
TEST(FusedKernels, GegluLinearRmsNormBf16) { testGegluLinear("geglu_rms_bf16", 3); }
TEST(FusedKernels, GegluLinearPlain) { testGegluLinear("geglu_plain", 2); }
// Prefill-sized calls of wide projections take the GEMM path of the linear product.
TEST(FusedKernels, GegluLinearManyTokens) { testGegluLinear("geglu_wide", 70); }

void testLinearResidual(const std::string &symbol, int64_t T) {
  auto p = std::get<LinearResidual>(specOf(symbol).params);
  ElementType wt = specOf(symbol).weightType;
  std::mt19937 rng(13);
  std::vector<float> x = randomVector(T * p.in, rng), residual = randomVector(T * p.out, rng, -3, 3);
  Weights weight(wt, randomVector(p.out * p.in, rng)), norm(wt, randomVector(p.out, rng, 0.5f, 1.5f)),
      scalar(wt, {0.375f});
  std::vector<float> out(T * p.out, -7.0f);
  Buf bx(x.data(), kF32, {T, p.in}), bw(weight, {p.out, p.in}), bn(norm, {p.out}),
      br(residual.data(), kF32, {T, p.out}), bs(scalar, {1}), bo(out.data(), kF32, {T, p.out});
  std::vector<void *> args{&bx.buf, &bw.buf, &bn.buf, &br.buf};
  if (p.hasScalar)
    args.push_back(&bs.buf);
  args.push_back(&bo.buf);
  call(symbol, args);
  Rows rows = rowsOf(x, T, p.in);
  std::vector<double> want;
  for (int64_t t = 0; t < T; ++t) {
    std::vector<double> y = rmsNorm(project(rows[t], weight, p.out), &norm, p.eps);
    for (int64_t o = 0; o < p.out; ++o)
      want.push_back((residual[t * p.out + o] + y[o]) * (p.hasScalar ? scalar[0] : 1.0));
  }
  expectClose(out, want, symbol);
}
TEST(FusedKernels, LinearResidual) { testLinearResidual("lr_plain", 3); }
TEST(FusedKernels, LinearResidualLayerScalarBf16) { testLinearResidual("lr_scalar_bf16", 2); }
TEST(FusedKernels, LinearResidualManyTokens) { testLinearResidual("lr_wide", 66); }

// ---- attention_input --------------------------------------------------------------------------

// Each token at its own position: consecutive ones in a call, scattered ones in a batched step.
void testAttentionInput(const std::string &symbol, std::vector<int32_t> positions) {
  const int64_t T = int64_t(positions.size());
  auto p = std::get<AttentionInput>(specOf(symbol).params);
  ElementType wt = specOf(symbol).weightType;
  std::mt19937 rng(14);
  const int64_t D = p.headDim, qOut = p.qHeads * D, kOut = p.kvHeads * D;
  std::vector<float> x = randomVector(T * p.in, rng, -2, 2);
  NormInput input = normalizedInput(x, T, p.in, p.norm, wt, rng);
  Weights wq(wt, randomVector(qOut * p.in, rng)), wk(wt, randomVector(kOut * p.in, rng)),
      wv(wt, randomVector(kOut * p.in, rng)), qn(wt, randomVector(D, rng, 0.5f, 1.5f)),
      kn(wt, randomVector(D, rng, 0.5f, 1.5f));
  std::vector<float> query(T * qOut, -7.0f), key(T * kOut, -7.0f), value(T * kOut, -7.0f);
  std::vector<std::unique_ptr<Buf>> bufs;
  auto add = [&](auto &&...args) {
    bufs.push_back(std::make_unique<Buf>(args...));
    return &bufs.back()->buf;
  };
  std::vector<void *> args{add(x.data(), kF32, std::vector<int64_t>{T, p.in})};
  if (input.weight)
    args.push_back(add(*input.weight, std::vector<int64_t>{p.in}));
  args.push_back(add(wq, std::vector<int64_t>{qOut, p.in}));
  args.push_back(add(wk, std::vector<int64_t>{kOut, p.in}));
  if (p.hasValueProjection)
    args.push_back(add(wv, std::vector<int64_t>{kOut, p.in}));
  args.push_back(add(qn, std::vector<int64_t>{D}));
  if (!p.rawKey)
    args.push_back(add(kn, std::vector<int64_t>{D}));
  args.push_back(add(positions.data(), kI32, std::vector<int64_t>{T}));
  args.push_back(add(query.data(), kF32, std::vector<int64_t>{T, p.qHeads, D}));
  args.push_back(add(key.data(), kF32, std::vector<int64_t>{T, p.kvHeads, D}));
  if (!p.rawKey)
    args.push_back(add(value.data(), kF32, std::vector<int64_t>{T, p.kvHeads, D}));
  call(symbol, args);

  std::vector<double> wantQ, wantK, wantV;
  for (int64_t t = 0; t < T; ++t) {
    std::vector<double> q = project(input.rows[t], wq, qOut), k = project(input.rows[t], wk, kOut);
    std::vector<double> v = p.hasValueProjection ? project(input.rows[t], wv, kOut) : k;
    for (int64_t h = 0; h < p.qHeads; ++h)
      for (double e : rope(rmsNorm(slice(q, h * D, D), &qn, p.headEps), positions[t], p.theta,
                                 p.rotatedPairs))
        wantQ.push_back(e);
    for (int64_t h = 0; h < p.kvHeads; ++h) {
      std::vector<double> raw = slice(k, h * D, D);
      std::vector<double> keyHead =
          p.rawKey ? raw : rope(rmsNorm(raw, &kn, p.headEps), positions[t], p.theta, p.rotatedPairs);
      wantK.insert(wantK.end(), keyHead.begin(), keyHead.end());
      std::vector<double> valueHead = rmsNorm(slice(v, h * D, D), nullptr, p.headEps);
      wantV.insert(wantV.end(), valueHead.begin(), valueHead.end());
    }
  }
  expectClose(query, wantQ, symbol + " query");
  expectClose(key, wantK, symbol + " key");
  if (!p.rawKey)
    expectClose(value, wantV, symbol + " value");
}
std::vector<int32_t> consecutive(int64_t T, int32_t start) {
  std::vector<int32_t> positions(size_t(T), 0);
  std::iota(positions.begin(), positions.end(), start);
  return positions;
}
TEST(FusedKernels, AttentionInputSliding) { testAttentionInput("ai_sliding", consecutive(3, 0)); }
TEST(FusedKernels, AttentionInputSlidingLatePosition) {
  testAttentionInput("ai_sliding", consecutive(2, 1000));
}
TEST(FusedKernels, AttentionInputKEqVBf16) { testAttentionInput("ai_k_eq_v_bf16", consecutive(4, 7)); }
TEST(FusedKernels, AttentionInputRawKey) { testAttentionInput("ai_raw_key", consecutive(3, 5)); }
TEST(FusedKernels, AttentionInputManyTokens) { testAttentionInput("ai_sliding", consecutive(70, 3)); }
// A batched decode step: one token of each sequence, each at its own position.
TEST(FusedKernels, AttentionInputBatchedPositions) {
  testAttentionInput("ai_sliding", {907, 3, 41, 0});
  testAttentionInput("ai_raw_key", {12, 5000, 6});
}

// ---- raw_key_attention --------------------------------------------------------------------------

// The call's own tokens follow `start` cached positions; block ids mark tokens 1..2 as one image.
void testRawKeyAttention(const std::string &symbol, int64_t T, int32_t start) {
  auto rp = std::get<RawKeyAttention>(specOf(symbol).params);
  const Attention &p = rp.attention;
  ElementType wt = specOf(symbol).weightType;
  std::mt19937 rng(15);
  const int64_t D = p.headDim, group = p.qHeads / p.kvHeads;
  std::vector<float> q = randomVector(T * p.qHeads * D, rng), raw = randomVector(T * p.kvHeads * D, rng);
  Weights kn(wt, randomVector(D, rng, 0.5f, 1.5f));
  // Raw keys of every position before `start` (slot = position % capacity).
  std::vector<std::vector<float>> pastRaw(start);
  std::vector<float> cache(p.capacity * p.kvHeads * D, 0.0f);
  for (int32_t pos = 0; pos < start; ++pos) {
    pastRaw[pos] = randomVector(p.kvHeads * D, rng);
    std::copy(pastRaw[pos].begin(), pastRaw[pos].end(),
              cache.begin() + (pos % p.capacity) * p.kvHeads * D);
  }
  std::vector<int32_t> blocks(T, -1);
  for (int64_t t = 1; t < std::min<int64_t>(T, 3); ++t)
    blocks[t] = 0;
  std::vector<float> out(T * p.qHeads * D, -7.0f);
  Buf bq(q.data(), kF32, {T, p.qHeads, D}), bk(raw.data(), kF32, {T, p.kvHeads, D}), bn(kn, {D}),
      bb(blocks.data(), kI32, {T}), bc(cache.data(), kF32, {p.capacity, p.kvHeads, D}),
      bo(out.data(), kF32, {T, p.qHeads, D});
  call(symbol, {&bq.buf, &bk.buf, &bn.buf, &bb.buf, &start, &bc.buf, &bo.buf});

  // Reference: K and V of every position from its raw key, then masked softmax attention.
  auto rawAt = [&](int64_t pos, int64_t kvh) {
    std::vector<double> r(D);
    for (int64_t d = 0; d < D; ++d)
      r[d] = pos < start ? pastRaw[pos][kvh * D + d] : raw[((pos - start) * p.kvHeads + kvh) * D + d];
    return r;
  };
  std::vector<double> want;
  for (int64_t t = 0; t < T; ++t) {
    int64_t queryPos = start + t;
    for (int64_t h = 0; h < p.qHeads; ++h) {
      int64_t kvh = h / group;
      std::vector<double> scores, acc(D, 0.0);
      std::vector<int64_t> positions;
      for (int64_t pos = 0; pos < start + T; ++pos) {
        bool cached = pos >= start - std::min<int64_t>(start, p.capacity);
        bool visible = pos <= queryPos || (p.imageBlocks && blocks[t] >= 0 && pos >= start &&
                                           blocks[pos - start] == blocks[t]);
        if (p.window > 0)
          visible = visible && pos > queryPos - p.window;
        if (!cached || !visible)
          continue;
        std::vector<double> k = rope(rmsNorm(rawAt(pos, kvh), &kn, rp.eps), pos, rp.theta, rp.rotatedPairs);
        double dot = 0;
        for (int64_t d = 0; d < D; ++d)
          dot += double(q[(t * p.qHeads + h) * D + d]) * k[d];
        scores.push_back(dot * p.scale);
        positions.push_back(pos);
      }
      double maxScore = *std::max_element(scores.begin(), scores.end()), denom = 0;
      for (double &s : scores)
        denom += (s = std::exp(s - maxScore));
      for (size_t i = 0; i < positions.size(); ++i) {
        std::vector<double> v = rmsNorm(rawAt(positions[i], kvh), nullptr, rp.eps);
        for (int64_t d = 0; d < D; ++d)
          acc[d] += scores[i] / denom * v[d];
      }
      want.insert(want.end(), acc.begin(), acc.end());
    }
  }
  expectClose(out, want, symbol);
}
TEST(FusedKernels, RawKeyAttentionPrefill) { testRawKeyAttention("rka_full_mqa", 4, 0); }
TEST(FusedKernels, RawKeyAttentionWithCache) { testRawKeyAttention("rka_full_mqa", 3, 9); }
TEST(FusedKernels, RawKeyAttentionDecodeStep) { testRawKeyAttention("rka_full_mqa", 1, 15); }
// A sliding window over a ring smaller than the context, GQA and image blocks.
TEST(FusedKernels, RawKeyAttentionWindowRing) { testRawKeyAttention("rka_window_gqa", 3, 11); }

// ---- patch_embed ------------------------------------------------------------------------------

TEST(FusedKernels, PatchEmbed) {
  const std::string symbol = "patch_embed";
  auto p = std::get<PatchEmbed>(specOf(symbol).params);
  std::mt19937 rng(16);
  const int64_t T = 4;
  std::vector<float> patches = randomVector(T * p.patchDim, rng, 0, 1);
  std::vector<int32_t> positions = {0, 0, 4, 1, 2, 3, -1, -1}; // (column, row); -1: padding
  Weights ln1w(F32, randomVector(p.patchDim, rng, 0.5f, 1.5f)), ln1b(F32, randomVector(p.patchDim, rng)),
      dense(F32, randomVector(p.width * p.patchDim, rng)), denseBias(F32, randomVector(p.width, rng)),
      ln2w(F32, randomVector(p.width, rng, 0.5f, 1.5f)), ln2b(F32, randomVector(p.width, rng)),
      table(F32, randomVector(p.tableSize * 2 * p.width, rng)),
      pnw(F32, randomVector(p.width, rng, 0.5f, 1.5f)), pnb(F32, randomVector(p.width, rng)),
      proj(F32, randomVector(p.outWidth * p.width, rng));
  std::vector<float> out(T * p.outWidth, -7.0f);
  Buf bp(patches.data(), kF32, {T, p.patchDim}), bpos(positions.data(), kI32, {T, 2}),
      b1w(ln1w, {p.patchDim}), b1b(ln1b, {p.patchDim}), bd(dense, {p.width, p.patchDim}),
      bdb(denseBias, {p.width}), b2w(ln2w, {p.width}), b2b(ln2b, {p.width}),
      bt(table, {p.tableSize, 2, p.width}), bnw(pnw, {p.width}), bnb(pnb, {p.width}),
      bproj(proj, {p.outWidth, p.width}), bo(out.data(), kF32, {T, p.outWidth});
  call(symbol, {&bp.buf, &bpos.buf, &b1w.buf, &b1b.buf, &bd.buf, &bdb.buf, &b2w.buf, &b2b.buf,
                &bt.buf, &bnw.buf, &bnb.buf, &bproj.buf, &bo.buf});
  Rows rows = rowsOf(patches, T, p.patchDim);
  std::vector<double> want;
  for (int64_t t = 0; t < T; ++t) {
    std::vector<double> d = project(layerNorm(rows[t], ln1w, ln1b, p.lnEps), dense, p.width);
    for (int64_t o = 0; o < p.width; ++o)
      d[o] += denseBias[o];
    std::vector<double> b = layerNorm(d, ln2w, ln2b, p.lnEps);
    int32_t column = positions[2 * t], row = positions[2 * t + 1];
    for (int64_t o = 0; o < p.width; ++o) {
      if (column >= 0)
        b[o] += table[(column * 2 + 0) * p.width + o];
      if (row >= 0)
        b[o] += table[(row * 2 + 1) * p.width + o];
    }
    std::vector<double> y = project(rmsNorm(layerNorm(b, pnw, pnb, p.lnEps), nullptr, p.rmsEps), proj, p.outWidth);
    want.insert(want.end(), y.begin(), y.end());
  }
  expectClose(out, want, symbol);
}

} // namespace
