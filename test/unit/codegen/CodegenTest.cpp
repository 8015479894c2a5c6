// CodegenTest: builds one kernel library with small specs of every kind, dlopens it, calls each
// `<symbol>_argv` and compares with naive double-precision references written from KernelSpec.h.
#include "KernelCache.h"
#include "TestTarget.h"
#include "loom/Codegen/KernelSpec.h"
#include "loom/Error.h"

#include <HalideRuntime.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <elf.h>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <map>
#include <memory>
#include <random>

#include <dlfcn.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/mman.h>
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

// A weight tensor: f32 or bf16 storage plus the f32 values the kernel sees after widening.
struct Weights {
  ElementType type;
  std::vector<float> values;   // widened values (reference input)
  std::vector<float> f32;      // storage when F32
  std::vector<uint16_t> bf16;  // storage when BF16
  void *data() { return type == ElementType::BF16 ? (void *)bf16.data() : (void *)f32.data(); }
  halide_type_t htype() const {
    return type == ElementType::BF16 ? halide_type_t(halide_type_bfloat, 16)
                                     : halide_type_t(halide_type_float, 32);
  }
};

std::vector<float> randomVector(size_t n, std::mt19937 &rng, float lo = -1.0f, float hi = 1.0f) {
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (float &x : v)
    x = dist(rng);
  return v;
}

Weights makeWeights(ElementType type, std::vector<float> values) {
  Weights w{type, {}, {}, {}};
  if (type == ElementType::BF16) {
    for (float v : values) {
      w.bf16.push_back(toBf16(v));
      w.values.push_back(fromBf16(w.bf16.back()));
    }
  } else {
    w.f32 = values;
    w.values = values;
  }
  return w;
}

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
  Buf(const Buf &) = delete;
  Buf &operator=(const Buf &) = delete;
};
const halide_type_t kF32(halide_type_float, 32), kI32(halide_type_int, 32);

using ArgvFn = int (*)(void **);

// Halide's default error handler prints and aborts; the test records the message instead.
std::string lastHalideError;
void recordHalideError(void *, const char *msg) { lastHalideError = msg; }

double maxAbs(const std::vector<double> &v) {
  double m = 0;
  for (double x : v)
    m = std::max(m, std::fabs(x));
  return m;
}

// max |got - want| <= 1e-5 * max(1, max |want|)
void expectClose(const std::vector<float> &got, const std::vector<double> &want,
                 const std::string &what, double rel = 1e-5) {
  ASSERT_EQ(got.size(), want.size()) << what;
  double tol = rel * std::max(1.0, maxAbs(want)), worst = 0;
  size_t worstAt = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    double err = std::fabs(double(got[i]) - want[i]);
    if (!(err <= worst) || std::isnan(err)) {
      worst = std::isnan(err) ? std::numeric_limits<double>::infinity() : err;
      worstAt = i;
    }
  }
  EXPECT_LE(worst, tol) << what << ": worst at " << worstAt << " got " << got[worstAt] << " want "
                        << want[worstAt];
}

// ---- the library under test -----------------------------------------------------------------

constexpr ElementType F32 = ElementType::F32, BF16 = ElementType::BF16;

std::vector<KernelSpec> testSpecs() {
  std::vector<KernelSpec> s;
  s.push_back({"embed_f32", F32, EmbedTokens{10, 20, 2.5}});
  s.push_back({"embed_bf16", BF16, EmbedTokens{7, 37, 0.5}});
  s.push_back({"rms_w_f32", F32, RmsNorm{3, 40, true, 1e-6}});
  s.push_back({"rms_w_bf16", BF16, RmsNorm{2, 37, true, 1e-6}});
  s.push_back({"rms_plain", F32, RmsNorm{4, 5, false, 1e-5}});
  s.push_back({"ln_f32", F32, LayerNorm{37, 1e-5}});
  s.push_back({"ln_bf16", BF16, LayerNorm{24, 1e-6}});
  s.push_back({"ln_pixels", F32, LayerNorm{6912, 1e-5}}); // the vision embedder's patch_ln1
  s.push_back({"linear_f32_bias", F32, Linear{37, 12, true}});
  s.push_back({"linear_bf16", BF16, Linear{64, 24, false}});
  s.push_back({"linear_bf16_bias_odd", BF16, Linear{5, 3, true}});
  // The GEMM path (T >= 64, out >= one register tile of rows): one weight panel (in <= 256),
  // a last task of rows reaching past the matrix (100 rows in tasks of 96, 136 in tasks of 128),
  // token tiles that do not divide T; three whole panels of 256 inputs; two panels and 9 inputs
  // after them (521 is prime).
  s.push_back({"linear_gemm_f32_bias", F32, Linear{200, 100, true}});
  s.push_back({"linear_gemm_bf16", BF16, Linear{96, 48, false}});
  s.push_back({"linear_gemm_panels_bf16", BF16, Linear{768, 136, false}});
  s.push_back({"linear_gemm_rest_f32_bias", F32, Linear{521, 40, true}});
  s.push_back({"rope_default", F32, Rope{3, 16, 10000.0, 8}});
  s.push_back({"rope_proportional", F32, Rope{2, 32, 1e6, 4}});
  s.push_back({"att_sliding_partial", F32, Attention{4, 2, 16, 8, 8, 0.25}});
  s.push_back({"att_sliding_wrapped", F32, Attention{4, 2, 16, 6, 6, 0.25}});
  s.push_back({"att_full_mqa", F32, Attention{4, 1, 8, 0, 32, 1.0}});
  s.push_back({"att_image_block", F32, Attention{4, 2, 20, 0, 16, 0.3}});
  s.push_back({"att_image_block_causal", F32, Attention{4, 2, 20, 0, 16, 0.3, false}});
  s.push_back({"att_no_cache", F32, Attention{2, 2, 12, 0, 0, 0.5}});
  s.push_back({"att_long_window_block", F32, Attention{4, 2, 16, 12, 12, 0.25}});
  s.push_back({"geglu", F32, GeGlu{37}});
  s.push_back({"add", F32, Add{37}});
  s.push_back({"scale_f32", F32, Scale{20}});
  s.push_back({"scale_bf16", BF16, Scale{20}});
  s.push_back({"softcap", F32, Softcap{37, 30.0}});
  s.push_back({"vpa_f32", F32, VisionPositionAdd{20, 5}});
  s.push_back({"vpa_bf16", BF16, VisionPositionAdd{19, 6}});
  s.push_back({"linear_12b_mlp", BF16, Linear{3840, 15360, false}}); // Gemma-4-12B-shaped

  return s;
}

struct Library {
  std::vector<KernelSpec> specs;
  std::vector<uint8_t> bytes;
  void *handle = nullptr;
  double buildSeconds = 0;
};

Library &library() {
  static Library *lib = [] {
    auto *l = new Library;
    l->specs = testSpecs();
    l->bytes = loom::testing::buildOrLoadCached(
        l->specs, halideTargetFor(loom::testing::testTarget()), LOOM_CODEGEN_TEST_CACHE, &l->buildSeconds);
    int fd = memfd_create("loom_kernels", 0);
    if (fd < 0 || write(fd, l->bytes.data(), l->bytes.size()) != ssize_t(l->bytes.size()))
      std::abort();
    std::string path = "/proc/self/fd/" + std::to_string(fd);
    l->handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!l->handle)
      std::fprintf(stderr, "dlopen: %s\n", dlerror());
    close(fd);
    if (l->handle) {
      using SetHandler = halide_error_handler_t (*)(halide_error_handler_t);
      auto set = reinterpret_cast<SetHandler>(dlsym(l->handle, "halide_set_error_handler"));
      if (set)
        set(recordHalideError);
    }
    return l;
  }();
  return *lib;
}

ArgvFn kernel(const std::string &symbol) {
  void *handle = library().handle;
  if (!handle)
    return nullptr;
  return reinterpret_cast<ArgvFn>(dlsym(handle, (symbol + "_argv").c_str()));
}

#define GET_KERNEL(var, symbol)                                                                \
  ArgvFn var = kernel(symbol);                                                                 \
  ASSERT_NE(var, nullptr) << symbol << "_argv not found"

const KernelSpec &specOf(const std::string &symbol) {
  for (const KernelSpec &s : library().specs)
    if (s.symbol == symbol)
      return s;
  std::abort();
}

// ---- library-level checks -------------------------------------------------------------------

TEST(Codegen, LibraryIsPicSharedObjectWithEveryEntryPoint) {
  Library &lib = library();
  ASSERT_NE(lib.handle, nullptr);
  ASSERT_GT(lib.bytes.size(), sizeof(Elf64_Ehdr));
  const auto *eh = reinterpret_cast<const Elf64_Ehdr *>(lib.bytes.data());
  EXPECT_EQ(eh->e_type, ET_DYN);
  // No text relocations (the objects are PIC; lld would have refused otherwise) and only the
  // C runtime libraries as dependencies.
  const auto *ph = reinterpret_cast<const Elf64_Phdr *>(lib.bytes.data() + eh->e_phoff);
  bool sawDynamic = false;
  for (int i = 0; i < eh->e_phnum; ++i) {
    if (ph[i].p_type != PT_DYNAMIC)
      continue;
    sawDynamic = true;
    const auto *dyn = reinterpret_cast<const Elf64_Dyn *>(lib.bytes.data() + ph[i].p_offset);
    for (; dyn->d_tag != DT_NULL; ++dyn) {
      EXPECT_NE(dyn->d_tag, DT_TEXTREL);
      if (dyn->d_tag == DT_FLAGS)
        EXPECT_EQ(dyn->d_un.d_val & DF_TEXTREL, 0u);
    }
  }
  EXPECT_TRUE(sawDynamic);
  for (const KernelSpec &spec : lib.specs)
    EXPECT_NE(kernel(spec.symbol), nullptr) << spec.symbol;
  EXPECT_NE(dlsym(lib.handle, "halide_set_num_threads"), nullptr);
  EXPECT_NE(dlsym(lib.handle, "halide_set_error_handler"), nullptr);
  // Closures and the runtime's C++ internals stay local.
  EXPECT_EQ(dlsym(lib.handle, "_ZN6Halide7Runtime8Internal10work_queueE"), nullptr);
  EXPECT_LT(lib.buildSeconds, 60.0);
}

// The Halide metadata of each kernel matches kernelArguments() (names, kinds, types, dims).
TEST(Codegen, MetadataMatchesKernelArguments) {
  for (const KernelSpec &spec : library().specs) {
    auto meta = reinterpret_cast<const halide_filter_metadata_t *(*)()>(
        dlsym(library().handle, (spec.symbol + "_metadata").c_str()));
    ASSERT_NE(meta, nullptr) << spec.symbol;
    std::vector<KernelArgInfo> args = kernelArguments(spec);
    const halide_filter_metadata_t *m = meta();
    ASSERT_EQ(m->num_arguments, int(args.size())) << spec.symbol;
    for (size_t i = 0; i < args.size(); ++i) {
      const halide_filter_argument_t &a = m->arguments[i];
      // Halide makes Func names unique in the process, so outputs may read "out$N".
      std::string name = a.name;
      if (args[i].kind == KernelArgInfo::Kind::Output)
        name = name.substr(0, name.find('$'));
      EXPECT_EQ(name, args[i].name) << spec.symbol;
      int kind = args[i].kind == KernelArgInfo::Kind::Scalar   ? halide_argument_kind_input_scalar
                 : args[i].kind == KernelArgInfo::Kind::Input ? halide_argument_kind_input_buffer
                                                              : halide_argument_kind_output_buffer;
      EXPECT_EQ(a.kind, kind) << spec.symbol << " " << a.name;
      EXPECT_EQ(a.dimensions, args[i].dims) << spec.symbol << " " << a.name;
      halide_type_t want = args[i].dtype == KernelArgInfo::DType::F32 ? kF32
                           : args[i].dtype == KernelArgInfo::DType::I32
                               ? kI32
                               : halide_type_t(halide_type_bfloat, 16);
      EXPECT_TRUE(a.type == want) << spec.symbol << " " << a.name;
    }
  }
}

// ---- element-wise and normalisation kernels --------------------------------------------------

void testEmbed(const std::string &symbol) {
  GET_KERNEL(fn, symbol);
  auto p = std::get<EmbedTokens>(specOf(symbol).params);
  std::mt19937 rng(1);
  Weights table = makeWeights(specOf(symbol).weightType, randomVector(p.vocab * p.width, rng));
  std::vector<int32_t> ids = {3, 0, int32_t(p.vocab - 1), 3};
  int64_t T = ids.size();
  std::vector<float> out(T * p.width, -7);
  Buf bIds(ids.data(), kI32, {T}), bTable(table.data(), table.htype(), {p.vocab, p.width}),
      bOut(out.data(), kF32, {T, p.width});
  void *args[] = {&bIds.buf, &bTable.buf, &bOut.buf};
  ASSERT_EQ(fn(args), 0);
  std::vector<double> want;
  for (int64_t t = 0; t < T; ++t)
    for (int64_t w = 0; w < p.width; ++w)
      want.push_back(double(table.values[ids[t] * p.width + w]) * p.scale);
  expectClose(out, want, symbol);
}
TEST(Codegen, EmbedTokensF32) { testEmbed("embed_f32"); }
TEST(Codegen, EmbedTokensBf16) { testEmbed("embed_bf16"); }

void testRms(const std::string &symbol) {
  GET_KERNEL(fn, symbol);
  auto p = std::get<RmsNorm>(specOf(symbol).params);
  std::mt19937 rng(2);
  const int64_t T = 3;
  std::vector<float> x = randomVector(T * p.groups * p.width, rng, -3, 3);
  Weights weight = makeWeights(specOf(symbol).weightType, randomVector(p.width, rng, 0.5, 1.5));
  std::vector<float> out(x.size());
  Buf bx(x.data(), kF32, {T, p.groups, p.width}), bw(weight.data(), weight.htype(), {p.width}),
      bo(out.data(), kF32, {T, p.groups, p.width});
  std::vector<void *> args{&bx.buf};
  if (p.hasWeight)
    args.push_back(&bw.buf);
  args.push_back(&bo.buf);
  ASSERT_EQ(fn(args.data()), 0);
  std::vector<double> want;
  for (int64_t r = 0; r < T * p.groups; ++r) {
    double ss = 0;
    for (int64_t w = 0; w < p.width; ++w)
      ss += double(x[r * p.width + w]) * x[r * p.width + w];
    double inv = 1.0 / std::sqrt(ss / p.width + p.eps);
    for (int64_t w = 0; w < p.width; ++w)
      want.push_back(x[r * p.width + w] * inv * (p.hasWeight ? weight.values[w] : 1.0));
  }
  expectClose(out, want, symbol);
}
TEST(Codegen, RmsNormF32) { testRms("rms_w_f32"); }
TEST(Codegen, RmsNormBf16) { testRms("rms_w_bf16"); }
TEST(Codegen, RmsNormNoWeight) { testRms("rms_plain"); }

void testLayerNorm(const std::string &symbol) {
  GET_KERNEL(fn, symbol);
  auto p = std::get<LayerNorm>(specOf(symbol).params);
  std::mt19937 rng(3);
  const int64_t T = 4;
  std::vector<float> x = randomVector(T * p.width, rng, -2, 4);
  ElementType wt = specOf(symbol).weightType;
  Weights weight = makeWeights(wt, randomVector(p.width, rng)), bias = makeWeights(wt, randomVector(p.width, rng));
  std::vector<float> out(x.size());
  Buf bx(x.data(), kF32, {T, p.width}), bw(weight.data(), weight.htype(), {p.width}),
      bb(bias.data(), bias.htype(), {p.width}), bo(out.data(), kF32, {T, p.width});
  void *args[] = {&bx.buf, &bw.buf, &bb.buf, &bo.buf};
  ASSERT_EQ(fn(args), 0);
  std::vector<double> want;
  for (int64_t t = 0; t < T; ++t) {
    double mean = 0, var = 0;
    for (int64_t w = 0; w < p.width; ++w)
      mean += x[t * p.width + w];
    mean /= p.width;
    for (int64_t w = 0; w < p.width; ++w)
      var += (x[t * p.width + w] - mean) * (x[t * p.width + w] - mean);
    var /= p.width;
    for (int64_t w = 0; w < p.width; ++w)
      want.push_back((x[t * p.width + w] - mean) / std::sqrt(var + p.eps) * weight.values[w] +
                     bias.values[w]);
  }
  expectClose(out, want, symbol);
}
TEST(Codegen, LayerNormF32) { testLayerNorm("ln_f32"); }
TEST(Codegen, LayerNormBf16) { testLayerNorm("ln_bf16"); }

// Rows like the vision embedder's patch_ln1 input (issue 18): 6912 pixel levels * (1/255) in a
// narrow band, mean ~0.47 and deviation ~0.05. Centring divides the mean's rounding error by the
// deviation and adds it to every value of the row alike, which the patch projection then sums
// coherently: a mean summed in f32 put ~1e-5 there, Hugging Face's ~1e-7.
TEST(Codegen, LayerNormCentresPixelRowsAccurately) {
  GET_KERNEL(fn, "ln_pixels");
  const int64_t width = std::get<LayerNorm>(specOf("ln_pixels").params).width, T = 4;
  std::mt19937 rng(18);
  std::uniform_int_distribution<int> level(100, 140);
  std::vector<float> x(T * width);
  for (float &v : x)
    v = float(level(rng)) * (1.0f / 255.0f);
  Weights weight = makeWeights(F32, std::vector<float>(width, 1.0f)),
          bias = makeWeights(F32, std::vector<float>(width, 0.0f));
  std::vector<float> out(x.size());
  Buf bx(x.data(), kF32, {T, width}), bw(weight.data(), kF32, {width}), bb(bias.data(), kF32, {width}),
      bo(out.data(), kF32, {T, width});
  void *args[] = {&bx.buf, &bw.buf, &bb.buf, &bo.buf};
  ASSERT_EQ(fn(args), 0);
  std::vector<double> want;
  for (int64_t t = 0; t < T; ++t) {
    double mean = 0, var = 0;
    for (int64_t w = 0; w < width; ++w)
      mean += x[t * width + w];
    mean /= double(width);
    for (int64_t w = 0; w < width; ++w)
      var += (x[t * width + w] - mean) * (x[t * width + w] - mean);
    var /= double(width);
    for (int64_t w = 0; w < width; ++w)
      want.push_back((x[t * width + w] - mean) / std::sqrt(var + 1e-5));
    // The shift common to the row: the mean's error over the deviation (f32 rounding of a mean
    // of 0.47 over a deviation of 0.05 is at most ~7e-7).
    double shift = 0;
    for (int64_t w = 0; w < width; ++w)
      shift += double(out[t * width + w]) - want[t * width + w];
    EXPECT_LE(std::fabs(shift / double(width)), 1e-6) << "row " << t;
  }
  expectClose(out, want, "ln_pixels", 3e-6);
}

void testLinear(const std::string &symbol, int64_t T) {
  GET_KERNEL(fn, symbol);
  auto p = std::get<Linear>(specOf(symbol).params);
  std::mt19937 rng(4);
  std::vector<float> x = randomVector(T * p.in, rng);
  ElementType wt = specOf(symbol).weightType;
  Weights weight = makeWeights(wt, randomVector(p.out * p.in, rng)), bias = makeWeights(wt, randomVector(p.out, rng));
  std::vector<float> out(T * p.out);
  Buf bx(x.data(), kF32, {T, p.in}), bw(weight.data(), weight.htype(), {p.out, p.in}),
      bb(bias.data(), bias.htype(), {p.out}), bo(out.data(), kF32, {T, p.out});
  std::vector<void *> args{&bx.buf, &bw.buf};
  if (p.hasBias)
    args.push_back(&bb.buf);
  args.push_back(&bo.buf);
  ASSERT_EQ(fn(args.data()), 0);
  std::vector<double> want;
  for (int64_t t = 0; t < T; ++t)
    for (int64_t o = 0; o < p.out; ++o) {
      double acc = p.hasBias ? bias.values[o] : 0.0;
      for (int64_t i = 0; i < p.in; ++i)
        acc += double(x[t * p.in + i]) * weight.values[o * p.in + i];
      want.push_back(acc);
    }
  expectClose(out, want, symbol + " T=" + std::to_string(T));
}
TEST(Codegen, LinearF32Bias) {
  testLinear("linear_f32_bias", 1);
  testLinear("linear_f32_bias", 5);
  testLinear("linear_f32_bias", 70); // fewer rows than a GEMM tile: the GEMV schedule
}
TEST(Codegen, LinearBf16) {
  testLinear("linear_bf16", 1);
  testLinear("linear_bf16", 7);
}
TEST(Codegen, LinearBf16ShortRowsWithBias) { testLinear("linear_bf16_bias_odd", 3); }
// T picks the schedule at run time: GEMV below 64 tokens, GEMM tiles from 64 on.
TEST(Codegen, LinearGemvAndGemmPathsF32Bias) {
  for (int64_t T : {1, 2, 63, 64, 65, 100, 130})
    testLinear("linear_gemm_f32_bias", T);
}
TEST(Codegen, LinearGemvAndGemmPathsBf16) {
  for (int64_t T : {1, 63, 64, 128, 129})
    testLinear("linear_gemm_bf16", T);
}
TEST(Codegen, LinearGemmPanels) {
  for (int64_t T : {3, 64, 66, 67, 131})
    testLinear("linear_gemm_panels_bf16", T);
  for (int64_t T : {2, 64, 71})
    testLinear("linear_gemm_rest_f32_bias", T);
}

void testRope(const std::string &symbol, int32_t startPos) {
  GET_KERNEL(fn, symbol);
  auto p = std::get<Rope>(specOf(symbol).params);
  std::mt19937 rng(5);
  const int64_t T = 3, half = p.headDim / 2;
  std::vector<float> x = randomVector(T * p.heads * p.headDim, rng);
  std::vector<float> out(x.size());
  Buf bx(x.data(), kF32, {T, p.heads, p.headDim}), bo(out.data(), kF32, {T, p.heads, p.headDim});
  void *args[] = {&bx.buf, &startPos, &bo.buf};
  ASSERT_EQ(fn(args), 0);
  std::vector<double> want(x.size());
  for (int64_t t = 0; t < T; ++t)
    for (int64_t h = 0; h < p.heads; ++h)
      for (int64_t j = 0; j < half; ++j) {
        float inv = j < p.rotatedPairs ? float(std::pow(p.theta, -2.0 * j / p.headDim)) : 0.0f;
        float angle = float(startPos + t) * inv; // f32 product, per the header
        double c = std::cos(double(angle)), s = std::sin(double(angle));
        int64_t base = (t * p.heads + h) * p.headDim;
        double x1 = x[base + j], x2 = x[base + j + half];
        want[base + j] = x1 * c - x2 * s;
        want[base + j + half] = x2 * c + x1 * s;
      }
  expectClose(out, want, symbol + " start=" + std::to_string(startPos));
  for (int64_t t = 0; t < T; ++t) // pass-through pairs are bit-exact
    for (int64_t h = 0; h < p.heads; ++h)
      for (int64_t j = p.rotatedPairs; j < half; ++j) {
        int64_t base = (t * p.heads + h) * p.headDim;
        EXPECT_EQ(out[base + j], x[base + j]);
        EXPECT_EQ(out[base + j + half], x[base + j + half]);
      }
}
TEST(Codegen, RopeDefault) {
  testRope("rope_default", 0);
  testRope("rope_default", 7);
  testRope("rope_default", 100000);
}
TEST(Codegen, RopeProportional) {
  testRope("rope_proportional", 5);
  testRope("rope_proportional", 131000);
}

// ---- attention --------------------------------------------------------------------------------

struct AttentionCase {
  std::string symbol;
  int32_t startPos;
  std::vector<int32_t> blockIds; // size T
};

void testAttention(const AttentionCase &c) {
  GET_KERNEL(fn, c.symbol);
  auto p = std::get<Attention>(specOf(c.symbol).params);
  std::mt19937 rng(6);
  const int64_t T = c.blockIds.size(), D = p.headDim, cap = p.capacity;
  std::vector<float> q = randomVector(T * p.qHeads * D, rng, -2, 2);
  std::vector<float> k = randomVector(T * p.kvHeads * D, rng, -2, 2);
  std::vector<float> v = randomVector(T * p.kvHeads * D, rng);
  // The ring cache: every position before startPos that is still in it, at slot pos % capacity;
  // the rest of the slots hold NaN, which must never be read.
  const float nan = std::numeric_limits<float>::quiet_NaN();
  std::vector<float> ck(std::max<int64_t>(cap, 1) * p.kvHeads * D, nan), cv = ck;
  std::map<int64_t, std::pair<std::vector<float>, std::vector<float>>> past; // pos -> (k, v)
  for (int64_t pos = std::max<int64_t>(0, c.startPos - cap); pos < c.startPos; ++pos) {
    auto pk = randomVector(p.kvHeads * D, rng, -2, 2), pv = randomVector(p.kvHeads * D, rng);
    std::copy(pk.begin(), pk.end(), ck.begin() + (pos % cap) * p.kvHeads * D);
    std::copy(pv.begin(), pv.end(), cv.begin() + (pos % cap) * p.kvHeads * D);
    past[pos] = {pk, pv};
  }
  std::vector<float> out(T * p.qHeads * D, -1);
  std::vector<int32_t> ids = c.blockIds;
  int32_t startPos = c.startPos;
  Buf bq(q.data(), kF32, {T, p.qHeads, D}), bk(k.data(), kF32, {T, p.kvHeads, D}),
      bv(v.data(), kF32, {T, p.kvHeads, D}), bids(ids.data(), kI32, {T}),
      bck(ck.data(), kF32, {cap, p.kvHeads, D}), bcv(cv.data(), kF32, {cap, p.kvHeads, D}),
      bo(out.data(), kF32, {T, p.qHeads, D});
  void *args[] = {&bq.buf, &bk.buf, &bv.buf, &bids.buf, &startPos, &bck.buf, &bcv.buf, &bo.buf};
  ASSERT_EQ(fn(args), 0);

  // Reference: every key position the call knows about, with the header's visibility rule.
  std::vector<double> want(out.size());
  const int64_t group = p.qHeads / p.kvHeads;
  int visibleLater = 0;
  for (int64_t t = 0; t < T; ++t)
    for (int64_t h = 0; h < p.qHeads; ++h) {
      const int64_t kvh = h / group, qpos = c.startPos + t;
      std::vector<std::pair<double, const float *>> keys; // score, value row
      for (int64_t pos = std::max<int64_t>(0, c.startPos - cap); pos < c.startPos + T; ++pos) {
        bool own = pos >= c.startPos;
        bool vis = pos <= qpos ||
                   (p.imageBlocks && ids[t] >= 0 && own && ids[pos - c.startPos] == ids[t]);
        if (p.window > 0)
          vis = vis && pos > qpos - p.window;
        if (!vis)
          continue;
        if (pos > qpos && h == 0)
          ++visibleLater;
        const float *kr = own ? &k[((pos - c.startPos) * p.kvHeads + kvh) * D]
                              : &past[pos].first[kvh * D];
        const float *vr = own ? &v[((pos - c.startPos) * p.kvHeads + kvh) * D]
                              : &past[pos].second[kvh * D];
        double dot = 0;
        for (int64_t d = 0; d < D; ++d)
          dot += double(q[(t * p.qHeads + h) * D + d]) * kr[d];
        keys.push_back({dot * p.scale, vr});
      }
      double mx = -1e300, den = 0;
      for (auto &kv : keys)
        mx = std::max(mx, kv.first);
      for (auto &kv : keys)
        den += std::exp(kv.first - mx);
      for (int64_t d = 0; d < D; ++d) {
        double acc = 0;
        for (auto &kv : keys)
          acc += std::exp(kv.first - mx) / den * kv.second[d];
        want[(t * p.qHeads + h) * D + d] = acc;
      }
    }
  expectClose(out, want, c.symbol);
  bool anyBlock = std::any_of(ids.begin(), ids.end(), [](int32_t b) { return b >= 0; });
  if (anyBlock)
    EXPECT_EQ(visibleLater > 0, p.imageBlocks) << "image blocks make later tokens visible";
}

// capacity == window == 8, positions 0..4 cached (slots 5..7 empty), startPos + T = 11 > 8.
TEST(Codegen, AttentionSlidingPartlyFilledCacheGqa) {
  testAttention({"att_sliding_partial", 5, std::vector<int32_t>(6, -1)});
}
// capacity == window == 6, positions 3..8 cached at slots 3,4,5,0,1,2 (wrapped).
TEST(Codegen, AttentionSlidingWrappedCache) {
  testAttention({"att_sliding_wrapped", 9, std::vector<int32_t>(4, -1)});
  testAttention({"att_sliding_wrapped", 2, std::vector<int32_t>(7, -1)}); // own tokens wrap
}
TEST(Codegen, AttentionFullMqa) {
  testAttention({"att_full_mqa", 3, std::vector<int32_t>(5, -1)});
  testAttention({"att_full_mqa", 0, std::vector<int32_t>(1, -1)});
  testAttention({"att_full_mqa", 17, std::vector<int32_t>(1, -1)}); // decode step
}
// Tokens 1..3 form image block 7: token 1 sees tokens 2 and 3; token 5 is a one-token block.
TEST(Codegen, AttentionImageBlock) {
  testAttention({"att_image_block", 2, {-1, 7, 7, 7, -1, 3}});
}
// Gemma 4's full layers ignore image blocks: the same ids stay causal.
TEST(Codegen, AttentionImageBlockIgnoredOnCausalLayers) {
  testAttention({"att_image_block_causal", 2, {-1, 7, 7, 7, -1, 3}});
}
TEST(Codegen, AttentionWithoutCacheBidirectional) {
  testAttention({"att_no_cache", 0, {0, 0, 0, 0, 0}});
}
// 37 tokens after 5 cached, a window of 12 and an image block of 9 (tokens 10..18): most tiles
// of 8 keys lie wholly before a query's window or after its last visible key and are skipped;
// the block's tokens see keys up to its end, past their own position.
TEST(Codegen, AttentionLongPromptSkipsKeysOutsideTheVisibleRange) {
  std::vector<int32_t> ids(37, -1);
  std::fill(ids.begin() + 10, ids.begin() + 19, 4);
  testAttention({"att_long_window_block", 5, ids});
}

// A prompt's first call (startPos 0) on kernels with a cache takes their empty-cache
// specialization: the window, image blocks and the visible range over the call's own keys.
TEST(Codegen, AttentionFirstCallWithACache) {
  testAttention({"att_sliding_partial", 0, std::vector<int32_t>(11, -1)});
  testAttention({"att_image_block", 0, {-1, 7, 7, 7, -1, 3}});
  std::vector<int32_t> ids(37, -1);
  std::fill(ids.begin() + 10, ids.begin() + 19, 4);
  testAttention({"att_long_window_block", 0, ids});
}

// ---- the rest ---------------------------------------------------------------------------------

TEST(Codegen, GeGlu) {
  GET_KERNEL(fn, "geglu");
  const int64_t T = 3, W = 37;
  std::mt19937 rng(7);
  std::vector<float> gate = randomVector(T * W, rng, -5, 5), up = randomVector(T * W, rng), out(T * W);
  Buf bg(gate.data(), kF32, {T, W}), bu(up.data(), kF32, {T, W}), bo(out.data(), kF32, {T, W});
  void *args[] = {&bg.buf, &bu.buf, &bo.buf};
  ASSERT_EQ(fn(args), 0);
  std::vector<double> want;
  for (int64_t i = 0; i < T * W; ++i) {
    double g = gate[i];
    want.push_back(0.5 * g * (1 + std::tanh(std::sqrt(2 / M_PI) * (g + 0.044715 * g * g * g))) * up[i]);
  }
  expectClose(out, want, "geglu");
}

TEST(Codegen, Add) {
  GET_KERNEL(fn, "add");
  const int64_t T = 5, W = 37;
  std::mt19937 rng(8);
  std::vector<float> a = randomVector(T * W, rng), b = randomVector(T * W, rng), out(T * W);
  Buf ba(a.data(), kF32, {T, W}), bb(b.data(), kF32, {T, W}), bo(out.data(), kF32, {T, W});
  void *args[] = {&ba.buf, &bb.buf, &bo.buf};
  ASSERT_EQ(fn(args), 0);
  std::vector<double> want;
  for (int64_t i = 0; i < T * W; ++i)
    want.push_back(double(a[i]) + b[i]);
  expectClose(out, want, "add");
}

void testScale(const std::string &symbol) {
  GET_KERNEL(fn, symbol);
  const int64_t T = 2, W = 20;
  std::mt19937 rng(9);
  std::vector<float> x = randomVector(T * W, rng), out(T * W);
  Weights s = makeWeights(specOf(symbol).weightType, {3.7f});
  Buf bx(x.data(), kF32, {T, W}), bs(s.data(), s.htype(), {1}), bo(out.data(), kF32, {T, W});
  void *args[] = {&bx.buf, &bs.buf, &bo.buf};
  ASSERT_EQ(fn(args), 0);
  std::vector<double> want;
  for (float v : x)
    want.push_back(double(v) * s.values[0]);
  expectClose(out, want, symbol);
}
TEST(Codegen, ScaleF32) { testScale("scale_f32"); }
TEST(Codegen, ScaleBf16) { testScale("scale_bf16"); }

TEST(Codegen, Softcap) {
  GET_KERNEL(fn, "softcap");
  const int64_t T = 3, W = 37;
  std::mt19937 rng(10);
  std::vector<float> x = randomVector(T * W, rng, -100, 100), out(T * W);
  Buf bx(x.data(), kF32, {T, W}), bo(out.data(), kF32, {T, W});
  void *args[] = {&bx.buf, &bo.buf};
  ASSERT_EQ(fn(args), 0);
  std::vector<double> want;
  for (float v : x)
    want.push_back(30.0 * std::tanh(v / 30.0));
  expectClose(out, want, "softcap");
}

// tanh is computed from exp in the kernels (PipelineHelpers.h vectorTanh): relative accuracy
// on a fine grid through zero, across the series / exp branch at |x / cap| = 0.25, and far out.
TEST(Codegen, SoftcapIsAccurateAcrossItsBranches) {
  GET_KERNEL(fn, "softcap");
  const int64_t W = 37, T = 80;
  std::vector<float> x(T * W), out(T * W);
  for (int64_t i = 0; i < T * W; ++i)
    x[i] = float(i - T * W / 2) * 0.0125f; // -18.5 .. 18.5: x / 30 crosses +-0.25 at +-7.5
  x[0] = -1e4f, x[1] = 1e4f, x[2] = 1e-30f;
  Buf bx(x.data(), kF32, {T, W}), bo(out.data(), kF32, {T, W});
  void *args[] = {&bx.buf, &bo.buf};
  ASSERT_EQ(fn(args), 0);
  for (int64_t i = 0; i < T * W; ++i) {
    double want = 30.0 * std::tanh(double(x[i]) / 30.0);
    ASSERT_NEAR(out[i], want, 1e-6 * std::fabs(want) + 1e-35) << "softcap(" << x[i] << ")";
  }
}

void testVisionPositionAdd(const std::string &symbol) {
  GET_KERNEL(fn, symbol);
  auto p = std::get<VisionPositionAdd>(specOf(symbol).params);
  std::mt19937 rng(11);
  std::vector<int32_t> pos = {0, 0, 2, 1, -1, 3, int32_t(p.tableSize - 1), -1, -1, -1};
  const int64_t T = pos.size() / 2;
  std::vector<float> x = randomVector(T * p.width, rng), out(x.size());
  Weights table = makeWeights(specOf(symbol).weightType, randomVector(p.tableSize * 2 * p.width, rng));
  Buf bx(x.data(), kF32, {T, p.width}), bp(pos.data(), kI32, {T, 2}),
      bt(table.data(), table.htype(), {p.tableSize, 2, p.width}), bo(out.data(), kF32, {T, p.width});
  void *args[] = {&bx.buf, &bp.buf, &bt.buf, &bo.buf};
  ASSERT_EQ(fn(args), 0);
  std::vector<double> want;
  for (int64_t t = 0; t < T; ++t)
    for (int64_t w = 0; w < p.width; ++w) {
      double acc = x[t * p.width + w];
      if (pos[2 * t] >= 0)
        acc += table.values[(pos[2 * t] * 2 + 0) * p.width + w];
      if (pos[2 * t + 1] >= 0)
        acc += table.values[(pos[2 * t + 1] * 2 + 1) * p.width + w];
      want.push_back(acc);
    }
  expectClose(out, want, symbol);
}
TEST(Codegen, VisionPositionAddF32) { testVisionPositionAdd("vpa_f32"); }
TEST(Codegen, VisionPositionAddBf16) { testVisionPositionAdd("vpa_bf16"); }

// A wrong-shaped buffer is rejected with an error code, not a crash.
TEST(Codegen, WrongShapeIsAnError) {
  GET_KERNEL(fn, "add");
  std::vector<float> a(2 * 36), out(2 * 36);
  Buf ba(a.data(), kF32, {2, 36}), bo(out.data(), kF32, {2, 36});
  void *args[] = {&ba.buf, &ba.buf, &bo.buf};
  lastHalideError.clear();
  EXPECT_NE(fn(args), 0);
  EXPECT_NE(lastHalideError.find("Input buffer a"), std::string::npos) << lastHalideError;
}

// [1, 3840] x [15360, 3840] (bf16) must take well under a second; spot-check some outputs.
TEST(Codegen, LinearGemmaShapeIsFast) {
  GET_KERNEL(fn, "linear_12b_mlp");
  const int64_t in = 3840, out = 15360;
  std::mt19937 rng(12);
  std::vector<float> x = randomVector(in, rng), y(out);
  std::vector<uint16_t> w(out * in);
  for (size_t i = 0; i < w.size(); ++i)
    w[i] = toBf16(float(int(i % 251) - 125) / 128.0f);
  Buf bx(x.data(), kF32, {1, in}), bw(w.data(), halide_type_t(halide_type_bfloat, 16), {out, in}),
      by(y.data(), kF32, {1, out});
  void *args[] = {&bx.buf, &bw.buf, &by.buf};
  ASSERT_EQ(fn(args), 0); // warm-up (thread pool start, page faults)
  auto start = std::chrono::steady_clock::now();
  ASSERT_EQ(fn(args), 0);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("linear [1,3840]x[15360,3840] bf16: %.1f ms\n", seconds * 1e3);
  EXPECT_LT(seconds, 0.5);
  for (int64_t o : {int64_t(0), int64_t(1), int64_t(4097), out - 1}) {
    double acc = 0;
    for (int64_t i = 0; i < in; ++i)
      acc += double(x[i]) * fromBf16(w[o * in + i]);
    EXPECT_NEAR(y[o], acc, 1e-5 * std::max(1.0, std::fabs(acc))) << o;
  }
}

// ---- targets, names, errors ---------------------------------------------------------------------

TEST(CodegenTargets, Mapping) {
  EXPECT_EQ(halideTargetFor("x86-64-v3"), "x86-64-linux-avx-avx2-f16c-fma-sse41");
  EXPECT_EQ(halideTargetFor("x86-64-v4"),
            "x86-64-linux-avx-avx2-f16c-fma-sse41-avx512-avx512_skylake");
  EXPECT_NE(halideTargetFor("zen4").find("avx512_zen4"), std::string::npos);
  EXPECT_EQ(halideTargetFor("zen4").find("sapphirerapids"), std::string::npos);
  // Zen 4 has AVX-512 VNNI and BF16 but neither AVX-VNNI nor AVX512-FP16.
  std::vector<std::string> zen4 = cpuFeaturesFor("zen4");
  for (const char *has : {"avx512vnni", "avx512bf16", "avx512f", "avx2", "fma", "f16c"})
    EXPECT_NE(std::find(zen4.begin(), zen4.end(), has), zen4.end()) << has;
  for (const char *lacks : {"avxvnni", "avx512fp16"})
    EXPECT_EQ(std::find(zen4.begin(), zen4.end(), lacks), zen4.end()) << lacks;
  std::vector<std::string> spr = cpuFeaturesFor("sapphirerapids");
  for (const char *has : {"avxvnni", "avx512fp16", "avx512vnni"})
    EXPECT_NE(std::find(spr.begin(), spr.end(), has), spr.end()) << has;
  // Each target's features include the one before it: the list is least to most capable.
  const std::vector<CpuTarget> &all = cpuTargets();
  ASSERT_EQ(all.size(), 4u);
  EXPECT_EQ(all.front().name, "x86-64-v3");
  for (size_t i = 1; i < all.size(); ++i)
    for (const std::string &f : all[0].cpuFeatures)
      EXPECT_NE(std::find(all[i].cpuFeatures.begin(), all[i].cpuFeatures.end(), f),
                all[i].cpuFeatures.end()) << all[i].name << " " << f;
}

TEST(CodegenTargets, CMakeListMatches) {
  std::string names;
  for (const CpuTarget &t : cpuTargets())
    names += (names.empty() ? "" : ",") + t.name;
  EXPECT_EQ(names, LOOM_CPU_TARGET_LIST) << "compiler/codegen/CMakeLists.txt's LOOM_CPU_TARGETS";
}

TEST(CodegenTargets, AliasesAndHost) {
  EXPECT_EQ(resolveLoomTarget("x86-64"), "x86-64-v3");
  EXPECT_EQ(resolveLoomTarget("x86-64-avx512"), "x86-64-v4");
  EXPECT_EQ(cpuFeaturesFor("x86-64"), cpuFeaturesFor("x86-64-v3"));
  // host is the most capable target this CPU runs.
  const std::string host = resolveLoomTarget("host");
  EXPECT_TRUE(cpuCanRun(cpuTarget(host)));
  const std::vector<CpuTarget> &all = cpuTargets();
  auto at = std::find_if(all.begin(), all.end(), [&](const CpuTarget &t) { return t.name == host; });
  ASSERT_NE(at, all.end());
  for (auto later = at + 1; later != all.end(); ++later)
    EXPECT_FALSE(cpuCanRun(*later)) << later->name;
  EXPECT_EQ(halideTargetFor("host"), halideTargetFor(host));
}

TEST(CodegenTargets, Lists) {
  EXPECT_EQ(resolveLoomTargets("zen4,x86-64-v3,zen4"),
            (std::vector<std::string>{"x86-64-v3", "zen4"}));
  EXPECT_EQ(resolveLoomTargets("portable"),
            (std::vector<std::string>{"x86-64-v3", "x86-64-v4", "zen4"}));
  EXPECT_EQ(resolveLoomTargets("x86-64"), (std::vector<std::string>{"x86-64-v3"}));
  EXPECT_THROW(resolveLoomTargets("zen4,,x86-64-v3"), loom::Error);
  EXPECT_THROW(resolveLoomTargets("zen4,portable"), loom::Error);
  EXPECT_THROW(resolveLoomTargets(""), loom::Error);
}

TEST(CodegenTargets, UnknownTargetIsAnError) {
  try {
    halideTargetFor("riscv");
    FAIL() << "no error";
  } catch (const loom::Error &e) {
    EXPECT_NE(std::string(e.what()).find("x86-64-v3, x86-64-v4, zen4, sapphirerapids"),
              std::string::npos) << e.what();
  }
  try {
    cpuTarget("x86-64-avx512-vnni-bf16");
    FAIL() << "no error";
  } catch (const loom::Error &e) {
    EXPECT_NE(std::string(e.what()).find("use 'zen4'"), std::string::npos) << e.what();
  }
  EXPECT_THROW(cpuFeaturesFor("x86-64-avx9000"), loom::Error);
  KernelSpec add{"k_add", F32, Add{16}};
  auto dir = (fs::temp_directory_path() / "loom-codegen-bad-target").string();
  EXPECT_THROW(buildKernelLibrary({add}, "not-a-target", dir), loom::Error);
  EXPECT_THROW(buildKernelLibrary({add}, "arm-64-linux", dir), loom::Error);
  EXPECT_THROW(buildKernelLibrary({add, add}, halideTargetFor("x86-64-v3"), dir), loom::Error);
  fs::remove_all(dir);
}

TEST(CodegenTargets, LinkerFailureIsAnError) {
  KernelSpec add{"k_add", F32, Add{16}};
  auto dir = (fs::temp_directory_path() / ("loom-codegen-bad-linker-" + std::to_string(getpid()))).string();
  setenv("LOOM_LINKER", "/bin/false", 1);
  EXPECT_THROW(buildKernelLibrary({add}, halideTargetFor("x86-64-v3"), dir), loom::Error);
  unsetenv("LOOM_LINKER");
  EXPECT_FALSE(fs::exists(dir + "/kernels.so"));
  EXPECT_FALSE(fs::exists(dir + "/kernels.so.tmp"));
  fs::remove_all(dir);
}

// Every target generates and links (it need not run on this CPU).
TEST(CodegenTargets, EveryTargetBuilds) {
  std::vector<KernelSpec> specs{{"lin", BF16, Linear{64, 32, false}},
                                {"att", F32, Attention{4, 2, 32, 8, 8, 0.125}},
                                {"rope", F32, Rope{2, 32, 1e6, 4}}};
  for (const CpuTarget &t : cpuTargets()) {
    auto dir = (fs::temp_directory_path() / ("loom-codegen-" + t.name + std::to_string(getpid()))).string();
    std::vector<uint8_t> so = buildKernelLibrary(specs, t.halideTarget, dir);
    EXPECT_GT(so.size(), 1000u) << t.name;
    fs::remove_all(dir);
  }
}

TEST(CodegenNames, DescribeAndKind) {
  KernelSpec lin{"x", BF16, Linear{64, 128, false}};
  EXPECT_EQ(describe(lin), "linear in=64 out=128 bias=0 weights=bf16");
  EXPECT_EQ(kindName(lin), "linear");
  KernelSpec rms{"y", F32, RmsNorm{8, 256, true, 1e-6}};
  EXPECT_EQ(kindName(rms), "rms_norm");
  EXPECT_EQ(describe(rms), "rms_norm groups=8 width=256 weight=1 eps=1e-06 weights=f32");
  EXPECT_EQ(kindName(KernelSpec{"z", F32, VisionPositionAdd{1, 1}}), "vision_position_add");
  EXPECT_EQ(kindName(KernelSpec{"z", F32, EmbedTokens{1, 1, 1}}), "embed_tokens");
}

} // namespace
