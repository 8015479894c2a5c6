// Tests that the writer packs int8 / int4 weights byte for byte as docs/ARTIFACT.md describes
// (checked against a reference quantizer written here from that description), that the
// dequantized values stay within half a step of the source, and that bad input is refused
// with a message naming the tensor.
#include "loom/Artifact.h"
#include "loom/Artifact/ArtifactWriter.h"
#include "loom/ArtifactFormat.h"
#include "loom/Error.h"
#include "loom/QuantLayout.h"
#include "ManifestEditing.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <functional>
#include <iterator>
#include <random>
#include <stdlib.h>

namespace loom {
namespace {

using Bytes = std::vector<uint8_t>;

// ---- Reference quantizer, from the documented layout --------------------------------------

// Q8: per row, s = max|w| / 127, q = round-half-even(w / s) in [-127, 127]; row = q bytes, s.
Bytes referenceQ8(const std::vector<float> &w, int64_t rows, int64_t cols) {
  Bytes out;
  for (int64_t r = 0; r < rows; ++r) {
    const float *row = &w[r * cols];
    float amax = 0;
    for (int64_t c = 0; c < cols; ++c)
      amax = std::max(amax, std::fabs(row[c]));
    float s = amax / 127.0f;
    for (int64_t c = 0; c < cols; ++c) {
      float q = s == 0 ? 0.0f : std::nearbyint(row[c] / s);
      q = std::min(127.0f, std::max(-127.0f, q));
      out.push_back(uint8_t(int8_t(q)));
    }
    uint8_t sb[4];
    std::memcpy(sb, &s, 4);
    out.insert(out.end(), sb, sb + 4);
  }
  return out;
}

// Q4 (group g): per group, m = first value of largest magnitude, s = f16(m / -8),
// q = clamp(round-half-even(w / s), -8, 7), nibble q + 8. Per 32 columns, 16 bytes: byte j has
// column j low, column j + 16 high. Row = all nibble bytes, then the f16 scales.
Bytes referenceQ4(const std::vector<float> &w, int64_t rows, int64_t cols, int64_t g) {
  Bytes out;
  for (int64_t r = 0; r < rows; ++r) {
    const float *row = &w[r * cols];
    Bytes nibbles(cols / 2, 0), scales;
    for (int64_t first = 0; first < cols; first += g) {
      float m = 0;
      for (int64_t c = first; c < first + g; ++c)
        if (std::fabs(row[c]) > std::fabs(m))
          m = row[c];
      _Float16 half = _Float16(m / -8.0f);
      float s = float(half);
      uint8_t hb[2];
      std::memcpy(hb, &half, 2);
      scales.insert(scales.end(), hb, hb + 2);
      for (int64_t c = first; c < first + g; ++c) {
        float q = s == 0 ? 0.0f : std::nearbyint(row[c] / s);
        q = std::min(7.0f, std::max(-8.0f, q));
        int nibble = int(q) + 8;
        int64_t block = c / 32, j = c % 32;
        if (j < 16)
          nibbles[block * 16 + j] |= uint8_t(nibble);
        else
          nibbles[block * 16 + j - 16] |= uint8_t(nibble << 4);
      }
    }
    out.insert(out.end(), nibbles.begin(), nibbles.end());
    out.insert(out.end(), scales.begin(), scales.end());
  }
  return out;
}

// Q4 in row groups (the CPU layout), from packed rows: per group of 8 rows (zero rows pad the
// last) and per scale group of g columns, g / 8 chunks of 32 bytes where byte 4r + i of chunk k
// holds row r's column 8k + i (low nibble) and 8k + 4 + i (high nibble); then the 8 rows' f16
// scales, low bytes of rows 0..7 then high bytes.
Bytes referenceQ4RowGroups(const Bytes &rowsBytes, int64_t rows, int64_t cols, int64_t g) {
  const int64_t rowBytes = cols / 2 + 2 * (cols / g);
  Bytes out;
  for (int64_t first = 0; first < rows; first += 8) {
    auto nibble = [&](int64_t r, int64_t c) -> int {
      if (first + r >= rows)
        return 0;
      const uint8_t *row = &rowsBytes[(first + r) * rowBytes];
      uint8_t byte = row[(c / 32) * 16 + c % 32 % 16];
      return c % 32 < 16 ? (byte & 15) : (byte >> 4);
    };
    auto scaleByte = [&](int64_t r, int64_t scaleGroup, int half) -> uint8_t {
      return first + r >= rows ? 0 : rowsBytes[(first + r) * rowBytes + cols / 2 + 2 * scaleGroup + half];
    };
    for (int64_t sg = 0; sg < cols / g; ++sg) {
      for (int64_t k = 0; k < g / 8; ++k)
        for (int64_t r = 0; r < 8; ++r)
          for (int64_t i = 0; i < 4; ++i) {
            int64_t c = sg * g + 8 * k + i;
            out.push_back(uint8_t(nibble(r, c) | (nibble(r, c + 4) << 4)));
          }
      for (int half = 0; half < 2; ++half)
        for (int64_t r = 0; r < 8; ++r)
          out.push_back(scaleByte(r, sg, half));
    }
  }
  return out;
}

// Q8 long rows in column panels, as QuantLayout.h describes them: per band of 64 rows, panel p
// holds the rows' int8 columns [p * panel, (p + 1) * panel) row after row, then the 64 scales.
Bytes referenceQ8Panels(const std::vector<float> &w, int64_t rows, int64_t cols, int64_t panel) {
  const Bytes packedRows = referenceQ8(w, rows, cols);
  const int64_t rowBytes = cols + 4;
  Bytes out;
  for (int64_t band = 0; band < rows / 64; ++band) {
    for (int64_t p = 0; p < cols / panel; ++p)
      for (int64_t r = band * 64; r < band * 64 + 64; ++r)
        out.insert(out.end(), packedRows.begin() + r * rowBytes + p * panel,
                   packedRows.begin() + r * rowBytes + (p + 1) * panel);
    for (int64_t r = band * 64; r < band * 64 + 64; ++r)
      out.insert(out.end(), packedRows.begin() + r * rowBytes + cols,
                 packedRows.begin() + (r + 1) * rowBytes);
  }
  return out;
}

// Long Q4 rows in column panels of `panel` columns (the CPU layout): per band of 64 rows, per
// panel, the row groups of the band's 64 rows restricted to the panel's columns.
Bytes referenceQ4Panels(const std::vector<float> &w, int64_t rows, int64_t cols, int64_t g,
                        int64_t panel) {
  Bytes out;
  std::vector<float> slice(64 * panel);
  for (int64_t band = 0; band < rows; band += 64)
    for (int64_t first = 0; first < cols; first += panel) {
      for (int64_t r = 0; r < 64; ++r)
        std::copy_n(&w[(band + r) * cols + first], panel, &slice[r * panel]);
      Bytes part = referenceQ4RowGroups(referenceQ4(slice, 64, panel, g), 64, panel, g);
      out.insert(out.end(), part.begin(), part.end());
    }
  return out;
}

// Dequantizes one element of a packed row (for the error bound check).
float dequantQ8(const uint8_t *row, int64_t cols, int64_t c) {
  float s;
  std::memcpy(&s, row + cols, 4);
  return float(int8_t(row[c])) * s;
}
float dequantQ4(const uint8_t *row, int64_t cols, int64_t g, int64_t c) {
  _Float16 half;
  std::memcpy(&half, row + cols / 2 + 2 * (c / g), 2);
  int64_t j = c % 32;
  uint8_t byte = row[(c / 32) * 16 + j % 16];
  int nibble = j < 16 ? (byte & 15) : (byte >> 4);
  return float(nibble - 8) * float(half);
}

uint16_t toBf16(float v) { // truncation is fine: the test compares against the bf16 it wrote
  uint32_t bits;
  std::memcpy(&bits, &v, 4);
  return uint16_t(bits >> 16);
}
float fromBf16(uint16_t b) {
  uint32_t bits = uint32_t(b) << 16;
  float v;
  std::memcpy(&v, &bits, 4);
  return v;
}

class QuantPackingTest : public ::testing::Test {
protected:
  static constexpr int64_t kRows = 5, kCols = 256;

  void SetUp() override {
    char pattern[] = "/tmp/loom-quant-test.XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    dir = pattern;
    source = dir + "/source.bin";
    artifact = dir + "/model.loom";
    // Rows with different character: random normal, all zero, a tie-heavy row of multiples of
    // 1/8 (w / s lands on .5 steps), one with a lone large negative value (the -8 level), one
    // with +1.0 and -1.0 in one group (the second clamps to level +7).
    std::mt19937 rng(7);
    std::normal_distribution<float> normal(0.0f, 0.02f);
    values.assign(kRows * kCols, 0.0f);
    for (int64_t c = 0; c < kCols; ++c) {
      values[0 * kCols + c] = normal(rng);
      values[1 * kCols + c] = 0.0f;
      values[2 * kCols + c] = float((c % 17) - 8) / 8.0f;
      values[3 * kCols + c] = normal(rng);
      values[4 * kCols + c] = normal(rng);
    }
    values[3 * kCols + 40] = -1.0f;
    values[4 * kCols + 200] = 1.0f;
    values[4 * kCols + 201] = -1.0f; // same group, opposite sign: clamped to q = +7
    // f32 copy at offset 0, bf16 copy after it; the bf16 values (exactly representable) are
    // what the bf16 tensors quantize.
    std::ofstream out(source, std::ios::binary);
    out.write(reinterpret_cast<const char *>(values.data()), std::streamsize(values.size() * 4));
    bf16Offset = values.size() * 4;
    for (float v : values) {
      uint16_t b = toBf16(v);
      out.write(reinterpret_cast<const char *>(&b), 2);
      bf16Values.push_back(fromBf16(b));
    }
  }
  void TearDown() override { std::system(("rm -rf '" + dir + "'").c_str()); }

  std::unique_ptr<fb::TensorT> quantized(const std::string &name, fb::Quantization q, int64_t group,
                                         fb::DType sourceDType) {
    auto t = std::make_unique<fb::TensorT>();
    t->name = name;
    t->dtype = fb::DType::U8;
    t->quantization = q;
    t->group_size = group;
    t->logical_shape = {kRows, kCols};
    int64_t rowBytes = q == fb::Quantization::Q8Row ? kCols + 4 : kCols / 2 + 2 * (kCols / group);
    t->shape = {kRows, rowBytes};
    setTensorSource(*t, {source, sourceDType == fb::DType::F32 ? 0 : bf16Offset, sourceDType});
    return t;
  }

  std::unique_ptr<fb::TensorT> rowGrouped(const std::string &name, int64_t group, fb::DType sourceDType) {
    auto t = quantized(name, fb::Quantization::Q4Group, group, sourceDType);
    t->row_group = 8;
    t->shape = {(kRows + 7) / 8, 8 * (kCols / 2 + 2 * (kCols / group))};
    return t;
  }

  // A q4g32 row-grouped tensor of random normal f32 rows from a source file of its own (the
  // caller sets its stored shape); `values` receives the rows.
  std::unique_ptr<fb::TensorT> largeQ4(const std::string &name, int64_t rows, int64_t cols,
                                       unsigned seed, std::vector<float> &values) {
    values.resize(rows * cols);
    std::mt19937 rng(seed);
    std::normal_distribution<float> normal(0.0f, 0.02f);
    for (float &v : values)
      v = normal(rng);
    const std::string file = dir + "/" + name + ".bin";
    std::ofstream(file, std::ios::binary)
        .write(reinterpret_cast<const char *>(values.data()), std::streamsize(values.size() * 4));
    auto t = std::make_unique<fb::TensorT>();
    t->name = name;
    t->dtype = fb::DType::U8;
    t->quantization = fb::Quantization::Q4Group;
    t->group_size = 32;
    t->row_group = 8;
    t->logical_shape = {rows, cols};
    setTensorSource(*t, {file, 0, fb::DType::F32});
    return t;
  }

  ArtifactContents contents() {
    ArtifactContents c;
    c.manifest.producer = "QuantPackingTest";
    c.manifest.config = std::make_unique<fb::ModelConfigT>();
    c.manifest.config->model_type = "gemma4_unified";
    c.manifest.target = std::make_unique<fb::TargetT>();
    c.manifest.target->name = "x86-64-v3";
    c.manifest.max_context = 16;
    c.kernelLibrary = {1, 2, 3};
    c.tokenizerJson = "{}";
    return c;
  }

  Bytes tensorBytes(const Artifact &a, uint32_t index) {
    ByteSpan span = a.tensorData(index);
    return Bytes(span.data, span.data + span.size);
  }

  std::string dir, source, artifact;
  uint64_t bf16Offset = 0;
  std::vector<float> values, bf16Values;
};

TEST_F(QuantPackingTest, PacksExactlyAsDocumented) {
  ArtifactContents c = contents();
  c.manifest.tensors.push_back(quantized("q8.f32", fb::Quantization::Q8Row, 0, fb::DType::F32));
  c.manifest.tensors.push_back(quantized("q8.bf16", fb::Quantization::Q8Row, 0, fb::DType::BF16));
  c.manifest.tensors.push_back(quantized("q4g32.f32", fb::Quantization::Q4Group, 32, fb::DType::F32));
  c.manifest.tensors.push_back(quantized("q4g128.bf16", fb::Quantization::Q4Group, 128, fb::DType::BF16));
  writeArtifact(std::move(c), artifact);
  auto a = Artifact::open(artifact);
  EXPECT_EQ(tensorBytes(*a, 0), referenceQ8(values, kRows, kCols));
  EXPECT_EQ(tensorBytes(*a, 1), referenceQ8(bf16Values, kRows, kCols));
  EXPECT_EQ(tensorBytes(*a, 2), referenceQ4(values, kRows, kCols, 32));
  EXPECT_EQ(tensorBytes(*a, 3), referenceQ4(bf16Values, kRows, kCols, 128));
  const fb::Tensor *t = a->manifest().tensors()->Get(3);
  EXPECT_EQ(t->quantization(), fb::Quantization::Q4Group);
  EXPECT_EQ(t->group_size(), 128);
  ASSERT_EQ(t->logical_shape()->size(), 2u);
  EXPECT_EQ(t->logical_shape()->Get(1), kCols);
}

TEST_F(QuantPackingTest, PacksQ4RowGroupsExactlyAsDocumented) {
  ArtifactContents c = contents();
  c.manifest.tensors.push_back(rowGrouped("q4g32.groups", 32, fb::DType::F32));
  c.manifest.tensors.push_back(rowGrouped("q4g128.groups", 128, fb::DType::BF16));
  writeArtifact(std::move(c), artifact);
  auto a = Artifact::open(artifact);
  EXPECT_EQ(tensorBytes(*a, 0),
            referenceQ4RowGroups(referenceQ4(values, kRows, kCols, 32), kRows, kCols, 32));
  EXPECT_EQ(tensorBytes(*a, 1),
            referenceQ4RowGroups(referenceQ4(bf16Values, kRows, kCols, 128), kRows, kCols, 128));
  EXPECT_EQ(a->manifest().tensors()->Get(0)->row_group(), 8);
}

TEST_F(QuantPackingTest, PacksQ4RowGroupsAcrossWriterChunks) {
  // 1029 rows of 2048 f32 columns: the writer's 4 MiB chunks hold 512 rows (64 groups), so the
  // tensor spans three chunks and ends in a group of 5 rows.
  const int64_t rows = 1029, cols = 2048;
  std::vector<float> big;
  auto t = largeQ4("big.groups", rows, cols, 3, big);
  t->shape = {(rows + 7) / 8, 8 * (cols / 2 + 2 * (cols / 32))};
  ArtifactContents c = contents();
  c.manifest.tensors.push_back(std::move(t));
  writeArtifact(std::move(c), artifact);
  auto a = Artifact::open(artifact);
  EXPECT_EQ(tensorBytes(*a, 0), referenceQ4RowGroups(referenceQ4(big, rows, cols, 32), rows, cols, 32));
}

TEST_F(QuantPackingTest, PacksLongQ4RowsInColumnPanels) {
  // 128 rows (2 bands) of 8448 f32 columns: 3 panels of 2816 columns; the writer's 4 MiB chunks
  // hold one band each.
  const int64_t rows = 128, cols = 8448, panel = 2816;
  ASSERT_EQ(quant::q4ColumnPanel(rows, cols, 32), uint64_t(panel));
  std::vector<float> big;
  auto t = largeQ4("long.panels", rows, cols, 5, big);
  t->column_panel = panel;
  t->shape = {rows / 64, cols / panel, 8, 8 * (panel / 2 + 2 * (panel / 32))};
  ArtifactContents c = contents();
  c.manifest.tensors.push_back(std::move(t));
  writeArtifact(std::move(c), artifact);
  auto a = Artifact::open(artifact);
  EXPECT_EQ(tensorBytes(*a, 0), referenceQ4Panels(big, rows, cols, 32, panel));
  EXPECT_EQ(a->manifest().tensors()->Get(0)->column_panel(), panel);
}

TEST_F(QuantPackingTest, PacksLongQ8RowsInColumnPanels) {
  // 128 rows (2 bands) of 8448 f32 columns: 3 panels of 2816 columns (11 blocks of 256).
  const int64_t rows = 128, cols = 8448, panel = 2816;
  ASSERT_EQ(quant::q8ColumnPanel(rows, cols), uint64_t(panel));
  std::vector<float> big;
  auto t = largeQ4("long.q8panels", rows, cols, 7, big);
  t->quantization = fb::Quantization::Q8Row;
  t->group_size = 0;
  t->row_group = 0;
  t->column_panel = panel;
  t->shape = {rows / 64, 64 * (cols + 4)};
  ArtifactContents c = contents();
  c.manifest.tensors.push_back(std::move(t));
  writeArtifact(std::move(c), artifact);
  auto a = Artifact::open(artifact);
  EXPECT_EQ(tensorBytes(*a, 0), referenceQ8Panels(big, rows, cols, panel));
  EXPECT_EQ(a->manifest().tensors()->Get(0)->column_panel(), panel);
}

TEST_F(QuantPackingTest, ColumnPanelsFollowTheDocumentedRule) {
  // The widest equal panels of whole scale groups up to 4096 columns, for rows in whole bands.
  EXPECT_EQ(quant::q4ColumnPanel(3840, 15360, 32), 3840u);  // Gemma 4 12B mlp down_proj
  EXPECT_EQ(quant::q4ColumnPanel(3840, 15360, 128), 3840u);
  EXPECT_EQ(quant::q4ColumnPanel(3840, 8192, 32), 4096u);   // full-attention o_proj
  EXPECT_EQ(quant::q4ColumnPanel(64, 4224, 128), 1408u);    // 2 panels would split a group
  EXPECT_EQ(quant::q4ColumnPanel(64, 4096, 32), 0u);        // short enough
  EXPECT_EQ(quant::q4ColumnPanel(3848, 15360, 32), 0u);     // not whole bands
  // Q8: whole activation blocks, 256 columns where they divide the row, else 32.
  EXPECT_EQ(quant::q8ColumnPanel(3840, 15360), 3840u);      // Gemma 4 12B mlp down_proj
  EXPECT_EQ(quant::q8ColumnPanel(3840, 8192), 4096u);       // full-attention o_proj
  EXPECT_EQ(quant::q8ColumnPanel(3840, 6912), 2304u);       // vision patch projection
  EXPECT_EQ(quant::q8ColumnPanel(64, 4160), 2080u);         // blocks of 32
  EXPECT_EQ(quant::q8ColumnPanel(64, 4100), 0u);            // no whole blocks of 32
  EXPECT_EQ(quant::q8ColumnPanel(64, 4096), 0u);            // short enough
  EXPECT_EQ(quant::q8ColumnPanel(3848, 15360), 0u);         // not whole bands
}

// Rewrites the artifact's manifest with `edit` applied (scalars only, so that its size stays)
// and returns what opening it says.
std::string reopenEdited(const std::string &artifact, const std::function<void(fb::ModelT &)> &edit) {
  std::ifstream in(artifact, std::ios::binary);
  Bytes bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  in.close();
  if (!test::editManifest(bytes, edit))
    return "the edit changed the manifest's size";
  std::ofstream(artifact, std::ios::binary).write(reinterpret_cast<const char *>(bytes.data()),
                                                  std::streamsize(bytes.size()));
  try {
    Artifact::open(artifact);
  } catch (const Error &e) {
    return e.what();
  }
  return "no error";
}

TEST_F(QuantPackingTest, ReaderRefusesAnUnknownRowGroup) {
  ArtifactContents c = contents();
  c.manifest.tensors.push_back(rowGrouped("w.groups", 32, fb::DType::F32));
  writeArtifact(std::move(c), artifact);
  std::string error = reopenEdited(artifact, [](fb::ModelT &m) { m.tensors[0]->row_group = 4; });
  EXPECT_NE(error.find("quantized tensor 'w.groups' has row_group 4, expected 0 or 8"),
            std::string::npos)
      << error;
}

TEST_F(QuantPackingTest, ReaderRefusesAColumnPanelOffTheRule) {
  ArtifactContents c = contents();
  c.manifest.tensors.push_back(rowGrouped("w.groups", 32, fb::DType::F32));
  writeArtifact(std::move(c), artifact);
  std::string error = reopenEdited(artifact, [](fb::ModelT &m) { m.tensors[0]->column_panel = 128; });
  EXPECT_NE(error.find("quantized tensor 'w.groups' (Q4Group [5, 256], row_group 8, group_size "
                       "32) has column_panel 128, expected 0"),
            std::string::npos)
      << error;
}

TEST_F(QuantPackingTest, ReaderRefusesAQ8ColumnPanelOffTheRule) {
  ArtifactContents c = contents();
  c.manifest.tensors.push_back(quantized("w.q8", fb::Quantization::Q8Row, 0, fb::DType::F32));
  writeArtifact(std::move(c), artifact);
  std::string error = reopenEdited(artifact, [](fb::ModelT &m) { m.tensors[0]->column_panel = 128; });
  EXPECT_NE(error.find("quantized tensor 'w.q8' (Q8Row [5, 256], row_group 0, group_size 0) has "
                       "column_panel 128, expected 0"),
            std::string::npos)
      << error;
}

TEST_F(QuantPackingTest, DequantizedValuesStayWithinHalfAStep) {
  ArtifactContents c = contents();
  c.manifest.tensors.push_back(quantized("q8", fb::Quantization::Q8Row, 0, fb::DType::F32));
  c.manifest.tensors.push_back(quantized("q4g32", fb::Quantization::Q4Group, 32, fb::DType::F32));
  writeArtifact(std::move(c), artifact);
  auto a = Artifact::open(artifact);
  Bytes q8 = tensorBytes(*a, 0), q4 = tensorBytes(*a, 1);
  const int64_t q8Row = kCols + 4, q4Row = kCols / 2 + 2 * (kCols / 32);
  for (int64_t r = 0; r < kRows; ++r) {
    float amax = 0;
    for (int64_t c = 0; c < kCols; ++c)
      amax = std::max(amax, std::fabs(values[r * kCols + c]));
    for (int64_t c = 0; c < kCols; ++c) {
      float w = values[r * kCols + c];
      float step8 = amax / 127.0f;
      EXPECT_LE(std::fabs(dequantQ8(&q8[r * q8Row], kCols, c) - w), 0.5f * step8 * 1.0001f + 1e-12f)
          << "q8 row " << r << " col " << c;
      float gmax = 0;
      for (int64_t k = c / 32 * 32; k < c / 32 * 32 + 32; ++k)
        gmax = std::max(gmax, std::fabs(values[r * kCols + k]));
      // Step gmax/8 (f16-rounded); +7 clamps the opposite extreme to one full step.
      EXPECT_LE(std::fabs(dequantQ4(&q4[r * q4Row], kCols, 32, c) - w), gmax / 8.0f * 1.002f + 1e-12f)
          << "q4 row " << r << " col " << c;
    }
  }
  // The extreme of a group is exact (level -8 of s = m / -8); an equal value of opposite sign
  // (row 4: +1.0 then -1.0) clamps to level +7.
  EXPECT_FLOAT_EQ(dequantQ4(&q4[3 * q4Row], kCols, 32, 40), -1.0f);
  EXPECT_FLOAT_EQ(dequantQ4(&q4[4 * q4Row], kCols, 32, 200), 1.0f);
  EXPECT_FLOAT_EQ(dequantQ4(&q4[4 * q4Row], kCols, 32, 201), -0.875f);
  // The zero row decodes to zeros.
  for (int64_t c = 0; c < kCols; ++c)
    EXPECT_EQ(dequantQ4(&q4[1 * q4Row], kCols, 32, c), 0.0f);
}

TEST_F(QuantPackingTest, RefusesNonFiniteWeightsNamingTensorAndRow) {
  values[2 * kCols + 9] = std::nanf("");
  std::ofstream(source, std::ios::binary | std::ios::in | std::ios::out)
      .write(reinterpret_cast<const char *>(values.data()), std::streamsize(values.size() * 4));
  ArtifactContents c = contents();
  c.manifest.tensors.push_back(quantized("bad.weight", fb::Quantization::Q8Row, 0, fb::DType::F32));
  try {
    writeArtifact(std::move(c), artifact);
    FAIL() << "expected an error";
  } catch (const Error &e) {
    EXPECT_NE(std::string(e.what()).find("tensor 'bad.weight' row 2: column 9"), std::string::npos)
        << e.what();
  }
  EXPECT_NE(::access(artifact.c_str(), F_OK), 0);
}

TEST_F(QuantPackingTest, RefusesInconsistentDescriptions) {
  auto expectError = [&](std::unique_ptr<fb::TensorT> t, const std::string &needle) {
    ArtifactContents c = contents();
    c.manifest.tensors.push_back(std::move(t));
    try {
      writeArtifact(std::move(c), artifact);
      ADD_FAILURE() << "expected an error containing: " << needle;
    } catch (const Error &e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  auto wrongShape = quantized("w.shape", fb::Quantization::Q8Row, 0, fb::DType::F32);
  wrongShape->shape = {kRows, kCols};
  expectError(std::move(wrongShape), "tensor 'w.shape': a Q8Row tensor must be U8 [5, 260]");
  auto badGroup = quantized("w.group", fb::Quantization::Q4Group, 32, fb::DType::F32);
  badGroup->group_size = 48;
  expectError(std::move(badGroup), "tensor 'w.group': group_size 48 must be a positive multiple of 32");
  auto groupedQ8 = quantized("w.q8groups", fb::Quantization::Q8Row, 0, fb::DType::F32);
  groupedQ8->row_group = 8;
  expectError(std::move(groupedQ8), "tensor 'w.q8groups': row_group 8 is only defined as 8 for Q4Group");
  auto groupedShape = rowGrouped("w.groupshape", 32, fb::DType::F32);
  groupedShape->shape = {kRows, kCols / 2 + 16};
  expectError(std::move(groupedShape), "tensor 'w.groupshape': a Q4Group tensor must be U8 [1, 1152]");
  auto shortPanels = rowGrouped("w.panels", 32, fb::DType::F32);
  shortPanels->column_panel = 128;
  expectError(std::move(shortPanels),
              "tensor 'w.panels': column_panel 128 for Q4Group, row_group 8 and 256 columns, "
              "expected 0");
  auto shortQ8Panels = quantized("w.q8panels", fb::Quantization::Q8Row, 0, fb::DType::F32);
  shortQ8Panels->column_panel = 128;
  expectError(std::move(shortQ8Panels),
              "tensor 'w.q8panels': column_panel 128 for Q8Row, row_group 0 and 256 columns, "
              "expected 0");
  auto intSource = quantized("w.int", fb::Quantization::Q8Row, 0, fb::DType::F32);
  intSource->source_dtype = fb::DType::I32;
  expectError(std::move(intSource), "cannot quantize I32");
}

} // namespace
} // namespace loom
