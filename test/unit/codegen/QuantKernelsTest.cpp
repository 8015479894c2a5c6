// QuantKernelsTest: the generated linear and embedding kernels read int8 and int4 weights
// packed by the artifact writer (loom/Artifact/WeightPacking.h; int4 in the CPU targets' row
// groups) and compute what a naive double-precision reference computes from the dequantized
// values (and, for the linear kernels, the int16 / int8 activations their integer products
// multiply); the dequantization here is written from the documented layouts (docs/ARTIFACT.md),
// not from the kernel's helpers.
#include "TestTarget.h"
#include "loom/Artifact/WeightPacking.h"
#include "loom/Codegen/KernelSpec.h"
#include "loom/QuantLayout.h"

#include <HalideRuntime.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <random>

#include <dlfcn.h>
#include <sys/mman.h>
#include <unistd.h>

using namespace loom::codegen;

namespace {

using ArgvFn = int (*)(void **);

std::string lastHalideError;
void recordHalideError(void *, const char *msg) { lastHalideError = msg; }

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
};
const halide_type_t kF32(halide_type_float, 32), kI32(halide_type_int, 32), kU8(halide_type_uint, 8);

int64_t groupOf(ElementType t) { return t == ElementType::Q4G32 ? 32 : t == ElementType::Q4G128 ? 128 : 0; }
int64_t rowBytes(ElementType t, int64_t cols) {
  return t == ElementType::Q8 ? cols + 4 : cols / 2 + 2 * (cols / groupOf(t));
}
// Long rows: columns per panel (QuantLayout.h's rules), 0 for whole rows.
int64_t panelOf(ElementType t, int64_t rows, int64_t cols) {
  return t == ElementType::Q8 ? int64_t(loom::quant::q8ColumnPanel(rows, cols))
                              : int64_t(loom::quant::q4ColumnPanel(rows, cols, groupOf(t)));
}
// The stored shape: Q8 one packed row per row, long rows as [bands of 64 rows, a band's bytes];
// Q4 groups of 8 rows (zero rows pad the last), with long rows as [bands of 64 rows, panels,
// 8 groups, a group's bytes of one panel].
std::vector<int64_t> storedShape(ElementType t, int64_t rows, int64_t cols) {
  if (t == ElementType::Q8)
    return panelOf(t, rows, cols) ? std::vector<int64_t>{rows / 64, 64 * rowBytes(t, cols)}
                                  : std::vector<int64_t>{rows, rowBytes(t, cols)};
  if (int64_t panel = panelOf(t, rows, cols))
    return {rows / 64, cols / panel, 8, 8 * rowBytes(t, panel)};
  return {(rows + 7) / 8, 8 * rowBytes(t, cols)};
}

// A [rows, cols] matrix packed by the writer's quantizer, and its values as the docs define them.
struct Packed {
  std::vector<uint8_t> bytes;
  std::vector<double> values; // dequantized, [rows * cols]
};

Packed pack(ElementType type, int64_t rows, int64_t cols, std::mt19937 &rng) {
  std::normal_distribution<float> normal(0.0f, 0.05f);
  Packed p;
  const int64_t rb = rowBytes(type, cols);
  std::vector<uint8_t> plain(((rows + 7) / 8) * 8 * rb);
  std::vector<float> row(cols);
  for (int64_t r = 0; r < rows; ++r) {
    for (float &v : row)
      v = normal(rng);
    uint8_t *out = &plain[r * rb];
    if (type == ElementType::Q8)
      loom::packQ8Row(row.data(), cols, out, "test");
    else
      loom::packQ4Row(row.data(), cols, groupOf(type), out, "test");
  }
  if (type == ElementType::Q8) {
    // Long rows: per band of 64 rows, panel p holds the rows' columns [p * P, (p + 1) * P) row
    // after row, then come the 64 rows' f32 scales.
    p.bytes.assign(plain.begin(), plain.begin() + rows * rb);
    const int64_t panel = panelOf(type, rows, cols);
    if (panel)
      loom::panelQ8Bands(p.bytes.data(), uint64_t(rows / 64), uint64_t(cols), uint64_t(panel));
    for (int64_t r = 0; r < rows; ++r) {
      const uint8_t *bandStart = &p.bytes[r / 64 * 64 * rb];
      float s;
      std::memcpy(&s, panel ? bandStart + 64 * cols + 4 * (r % 64) : &p.bytes[r * rb + cols], 4);
      for (int64_t c = 0; c < cols; ++c) {
        uint8_t code = panel ? bandStart[c / panel * 64 * panel + r % 64 * panel + c % panel]
                             : p.bytes[r * rb + c];
        p.values.push_back(double(int8_t(code)) * s);
      }
    }
    return p;
  }
  // Q4 row groups: per scale group of G columns, G / 8 chunks of 32 bytes (byte 4r + i of chunk
  // k: column 8k + i low, 8k + 4 + i high), then the 8 rows' f16 scales, low bytes then high.
  // Long rows: each band of 64 rows holds that layout of its 8 groups panel by panel.
  const int64_t group = groupOf(type), scaleGroupBytes = 8 * (group / 2 + 2);
  const int64_t panel = panelOf(type, rows, cols), width = panel ? panel : cols;
  const int64_t panelGroupBytes = 8 * rowBytes(type, width), panels = cols / width;
  p.bytes.resize(plain.size());
  for (int64_t first = 0; first < rows; first += 8)
    loom::groupQ4Rows(&plain[first * rb], uint64_t(std::min<int64_t>(8, rows - first)),
                      uint64_t(cols), uint64_t(group), &p.bytes[first * rb]);
  if (panel)
    loom::panelQ4Bands(p.bytes.data(), uint64_t(rows / 64), uint64_t(cols), uint64_t(group),
                       uint64_t(panel));
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) {
      const int64_t slice = panel ? ((r / 64 * panels + c / width) * 8 + r / 8 % 8) : r / 8;
      const uint8_t *sg = &p.bytes[slice * panelGroupBytes] + (c % width / group) * scaleGroupBytes;
      uint16_t bits = uint16_t(sg[4 * group + r % 8] | (sg[4 * group + 8 + r % 8] << 8));
      _Float16 s;
      std::memcpy(&s, &bits, 2);
      uint8_t byte = sg[(c % group) / 8 * 32 + 4 * (r % 8) + c % 4];
      int nibble = c % 8 < 4 ? (byte & 0xf) : (byte >> 4);
      p.values.push_back(double(nibble - 8) * double(float(s)));
    }
  }
  return p;
}

struct Library {
  std::vector<KernelSpec> specs;
  void *handle = nullptr;
};

Library &library() {
  static Library *lib = [] {
    auto *l = new Library;
    for (ElementType t : {ElementType::Q8, ElementType::Q4G32, ElementType::Q4G128}) {
      std::string n = t == ElementType::Q8 ? "q8" : t == ElementType::Q4G32 ? "q4g32" : "q4g128";
      l->specs.push_back({"linear_" + n, t, Linear{256, 24, true}});
      l->specs.push_back({"embed_" + n, t, EmbedTokens{11, 128, 2.5}});
    }
    l->specs.push_back({"linear_q8_odd", ElementType::Q8, Linear{37, 5, false}});
    l->specs.push_back({"linear_q4g32_wide", ElementType::Q4G32, Linear{512, 128, true}});
    l->specs.push_back({"linear_q8_wide", ElementType::Q8, Linear{384, 192, false}});
    l->specs.push_back({"linear_q4g32_tiny_k", ElementType::Q4G32, Linear{64, 32, false}});
    l->specs.push_back({"linear_q4g128_odd_rows", ElementType::Q4G128, Linear{256, 13, true}});
    l->specs.push_back({"linear_q8_tiny_audio", ElementType::Q8, Linear{640, 64, false}});
    // Rows of whole 256-column activation blocks, past the GEMM threshold of rows, and rows
    // longer than kShortRowBytes (the 8-row GEMV tile) with a partial last tile.
    l->specs.push_back({"linear_q8_wide_blocks", ElementType::Q8, Linear{768, 64, true}});
    l->specs.push_back({"linear_q8_long_rows", ElementType::Q8, Linear{8448, 10, false}});
    // Q4 rows long enough for column panels (3 of 2816 columns), in 2 and 1 bands of 64 rows.
    l->specs.push_back({"linear_q4g32_panels", ElementType::Q4G32, Linear{8448, 128, true}});
    // Q8 long rows in column panels: 3 panels of 11 blocks of 256, and 2 of 65 blocks of 32.
    l->specs.push_back({"linear_q8_panels", ElementType::Q8, Linear{8448, 128, true}});
    l->specs.push_back({"linear_q8_panels_narrow_blocks", ElementType::Q8, Linear{4160, 64, false}});
    l->specs.push_back({"linear_q4g128_panels", ElementType::Q4G128, Linear{8448, 64, false}});
    char work[] = "/tmp/loom-quant-kernels.XXXXXX";
    if (!mkdtemp(work))
      std::abort();
    std::vector<uint8_t> bytes = buildKernelLibrary(l->specs, halideTargetFor(loom::testing::testTarget()), work);
    std::filesystem::remove_all(work);
    int fd = memfd_create("loom_quant_kernels", 0);
    if (fd < 0 || write(fd, bytes.data(), bytes.size()) != ssize_t(bytes.size()))
      std::abort();
    l->handle = dlopen(("/proc/self/fd/" + std::to_string(fd)).c_str(), RTLD_NOW | RTLD_LOCAL);
    close(fd);
    if (l->handle) {
      using SetHandler = halide_error_handler_t (*)(halide_error_handler_t);
      if (auto set = reinterpret_cast<SetHandler>(dlsym(l->handle, "halide_set_error_handler")))
        set(recordHalideError);
    }
    return l;
  }();
  return *lib;
}

ArgvFn kernel(const std::string &symbol) {
  return library().handle ? reinterpret_cast<ArgvFn>(dlsym(library().handle, (symbol + "_argv").c_str()))
                          : nullptr;
}

void expectClose(const std::vector<float> &got, const std::vector<double> &want, const std::string &what) {
  ASSERT_EQ(got.size(), want.size());
  double scale = 1;
  for (double w : want)
    scale = std::max(scale, std::fabs(w));
  for (size_t i = 0; i < got.size(); ++i)
    ASSERT_NEAR(got[i], want[i], 1e-5 * scale) << what << " at " << i;
}

// What the integer products of quantized weights multiply: per token and block of B columns,
// q = round-half-even(x * f32(L / m)) with m = max|x| over the block, standing for
// q * (m * f32(1 / L)). Q8 (QuantizedLinear.h): int16, L = 32767, B = 256 where the row holds
// whole 256-column blocks, else 32. Q4 (Q4RowGroupLinear.h): int8, L = 127, B = 32. x unchanged
// where the columns are not whole 32-column blocks (the f32 path).
std::vector<double> integerProductActivations(const std::vector<float> &x, int64_t in, ElementType type) {
  std::vector<double> seen(x.begin(), x.end());
  if (in % 32 != 0)
    return seen;
  const bool q8 = type == ElementType::Q8;
  const float levels = q8 ? 32767.0f : 127.0f;
  const size_t width = q8 && in % 256 == 0 ? 256 : 32;
  for (size_t block = 0; block < x.size(); block += width) {
    float m = 0;
    for (size_t i = block; i < block + width; ++i)
      m = std::max(m, std::fabs(x[i]));
    const float inverse = m > 0 ? levels / m : 0.0f, scale = m * (1.0f / levels);
    for (size_t i = block; i < block + width; ++i)
      seen[i] = double(std::nearbyint(x[i] * inverse)) * double(scale);
  }
  return seen;
}

const KernelSpec &specOf(const std::string &symbol) {
  for (const KernelSpec &s : library().specs)
    if (s.symbol == symbol)
      return s;
  std::abort();
}

TEST(QuantKernels, ArgumentsDeclareOnePackedU8Matrix) {
  for (const KernelSpec &spec : library().specs) {
    auto meta = reinterpret_cast<const halide_filter_metadata_t *(*)()>(
        dlsym(library().handle, (spec.symbol + "_metadata").c_str()));
    ASSERT_NE(meta, nullptr) << spec.symbol;
    std::vector<KernelArgInfo> args = kernelArguments(spec);
    const halide_filter_metadata_t *m = meta();
    ASSERT_EQ(m->num_arguments, int(args.size())) << spec.symbol;
    for (size_t i = 0; i < args.size(); ++i) {
      if (args[i].kind == KernelArgInfo::Kind::Output) // Halide may rename output buffers
        continue;
      EXPECT_EQ(args[i].name, m->arguments[i].name) << spec.symbol;
      bool matrix = args[i].name == "weight" || args[i].name == "table";
      EXPECT_EQ(args[i].dtype == KernelArgInfo::DType::U8, matrix) << spec.symbol << " " << args[i].name;
      if (matrix)
        EXPECT_TRUE(m->arguments[i].type == kU8) << spec.symbol;
      if (args[i].name == "bias") // vector weights stay f32 in the quantized modes
        EXPECT_TRUE(m->arguments[i].type == kF32) << spec.symbol;
    }
  }
}

TEST(QuantKernels, LinearMatchesDequantizedReference) {
  std::mt19937 rng(11);
  for (const char *symbol : {"linear_q4g32_wide", "linear_q8_wide", "linear_q8", "linear_q4g32",
                             "linear_q4g128", "linear_q8_odd", "linear_q4g32_tiny_k",
                             "linear_q8_tiny_audio", "linear_q4g128_odd_rows",
                             "linear_q8_wide_blocks", "linear_q8_long_rows",
                             "linear_q8_panels", "linear_q8_panels_narrow_blocks",
                             "linear_q4g32_panels", "linear_q4g128_panels"}) {
    const KernelSpec &spec = specOf(symbol);
    const auto &p = std::get<Linear>(spec.params);
    Packed w = pack(spec.weightType, p.out, p.in, rng);
    // q4: the GEMV for 1 token; 2 and 3 in tiles of 2 tokens (the last one shifted); tiles of 4
    // from 4 (one tile), 9 (a shifted last tile) and 70 (two token blocks of 64, unpacking the
    // nibbles per block). q8: the GEMV below 8 tokens, the tiled GEMM at 9 and 70.
    for (int64_t T : {1, 2, 3, 4, 9, 70}) {
      std::vector<float> x(T * p.in), bias(p.out), out(T * p.out, -1.0f);
      std::normal_distribution<float> normal(0.0f, 1.0f);
      for (float &v : x)
        v = normal(rng);
      for (float &v : bias)
        v = normal(rng);
      std::vector<double> want(T * p.out);
      const std::vector<double> seen = integerProductActivations(x, p.in, spec.weightType);
      for (int64_t t = 0; t < T; ++t)
        for (int64_t o = 0; o < p.out; ++o) {
          double acc = p.hasBias ? bias[o] : 0.0;
          for (int64_t i = 0; i < p.in; ++i)
            acc += seen[t * p.in + i] * w.values[o * p.in + i];
          want[t * p.out + o] = acc;
        }
      Buf bx(x.data(), kF32, {T, p.in}), bw(w.bytes.data(), kU8, storedShape(spec.weightType, p.out, p.in)),
          bb(bias.data(), kF32, {p.out}), bo(out.data(), kF32, {T, p.out});
      std::vector<void *> argv{&bx.buf, &bw.buf};
      if (p.hasBias)
        argv.push_back(&bb.buf);
      argv.push_back(&bo.buf);
      ArgvFn fn = kernel(symbol);
      ASSERT_NE(fn, nullptr) << symbol;
      ASSERT_EQ(fn(argv.data()), 0) << symbol << ": " << lastHalideError;
      expectClose(out, want, std::string(symbol) + " T=" + std::to_string(T));
    }
  }
}

TEST(QuantKernels, EmbeddingGatherMatchesDequantizedReference) {
  std::mt19937 rng(12);
  for (const char *symbol : {"embed_q8", "embed_q4g32", "embed_q4g128"}) {
    const KernelSpec &spec = specOf(symbol);
    const auto &p = std::get<EmbedTokens>(spec.params);
    Packed table = pack(spec.weightType, p.vocab, p.width, rng);
    std::vector<int32_t> ids{3, 0, 10, 3, 7};
    const int64_t T = int64_t(ids.size());
    std::vector<float> out(T * p.width, -1.0f);
    std::vector<double> want(T * p.width);
    for (int64_t t = 0; t < T; ++t)
      for (int64_t w = 0; w < p.width; ++w)
        want[t * p.width + w] = table.values[ids[t] * p.width + w] * float(p.scale);
    Buf bi(ids.data(), kI32, {T}), bt(table.bytes.data(), kU8, storedShape(spec.weightType, p.vocab, p.width)),
        bo(out.data(), kF32, {T, p.width});
    std::vector<void *> argv{&bi.buf, &bt.buf, &bo.buf};
    ArgvFn fn = kernel(symbol);
    ASSERT_NE(fn, nullptr) << symbol;
    ASSERT_EQ(fn(argv.data()), 0) << symbol << ": " << lastHalideError;
    expectClose(out, want, symbol);
  }
}

} // namespace
