#include "BenchMatrices.h"

#include "loom/Artifact/WeightPacking.h"
#include "loom/QuantLayout.h"

#include <cmath>
#include <cstring>

namespace loom::bench {

using codegen::ElementType;

uint16_t toBf16(float f) {
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

Matrix makeMatrix(ElementType type, int64_t rows, int64_t cols, uint64_t seed, bool keepF32,
                  PageSize pages) {
  Matrix m{AnonymousMemory(matrixBytes(type, rows, cols), pages, "loom-bench weights"), {}, {}, {}};
  FastRandom rng(seed);
  const uint64_t n = uint64_t(rows) * uint64_t(cols);
  if (keepF32)
    m.f32.resize(n);
  if (keepF32 && type != ElementType::F32 && type != ElementType::BF16)
    m.levels.resize(n);
  const float scale = 1.0f / std::sqrt(float(cols));
  switch (type) {
  case ElementType::F32: {
    auto *w = reinterpret_cast<float *>(m.stored.data());
    for (uint64_t i = 0; i < n; ++i)
      w[i] = rng.uniform() * scale;
    if (keepF32)
      std::memcpy(m.f32.data(), w, n * 4);
    break;
  }
  case ElementType::BF16: {
    auto *w = reinterpret_cast<uint16_t *>(m.stored.data());
    for (uint64_t i = 0; i < n; ++i)
      w[i] = toBf16(rng.uniform() * scale);
    if (keepF32) {
      m.bf16.assign(w, w + n);
      for (uint64_t i = 0; i < n; ++i)
        m.f32[i] = fromBf16(w[i]);
    }
    break;
  }
  case ElementType::Q8: {
    const uint64_t rowBytes = quant::q8RowBytes(uint64_t(cols));
    for (int64_t r = 0; r < rows; ++r) {
      uint8_t *row = m.stored.data() + uint64_t(r) * rowBytes;
      const float s = scale / 127.0f;
      for (int64_t c = 0; c < cols; ++c) {
        int8_t q = int8_t(int(rng.next() % 255) - 127);
        std::memcpy(row + c, &q, 1);
        if (keepF32) {
          m.f32[uint64_t(r) * uint64_t(cols) + uint64_t(c)] = float(q) * s;
          m.levels[uint64_t(r) * uint64_t(cols) + uint64_t(c)] = q;
        }
      }
      std::memcpy(row + quant::q8ScaleOffset(uint64_t(cols)), &s, 4);
    }
    // Long rows: each band of rows rearranged into its column panels, as the writer does.
    if (uint64_t panel = quant::q8ColumnPanel(uint64_t(rows), uint64_t(cols)))
      panelQ8Bands(m.stored.data(), uint64_t(rows) / quant::kQ8BandRows, uint64_t(cols), panel);
    break;
  }
  case ElementType::Q4G32:
  case ElementType::Q4G128: {
    // Random nibbles in the CPU row-group layout, every scale f16 0.0078125 (0x2000).
    const uint64_t group = type == ElementType::Q4G32 ? 32 : 128;
    const uint64_t groupBytes = quant::q4GroupBytes(uint64_t(cols), group);
    for (uint64_t i = 0; i < m.stored.size(); ++i)
      m.stored.data()[i] = uint8_t(rng.next());
    for (int64_t r = 0; r < rows; ++r) {
      uint8_t *rowGroup = m.stored.data() + uint64_t(r) / quant::kQ4GroupRows * groupBytes;
      const uint64_t inGroup = uint64_t(r) % quant::kQ4GroupRows;
      for (uint64_t c = 0; c < uint64_t(cols); c += group) {
        rowGroup[quant::q4GroupScaleByteOf(inGroup, c, group)] = 0x00;
        rowGroup[quant::q4GroupScaleByteOf(inGroup, c, group) + quant::kQ4GroupRows] = 0x20;
      }
      if (keepF32)
        for (uint64_t c = 0; c < uint64_t(cols); ++c) {
          uint8_t byte = rowGroup[quant::q4GroupByteOf(inGroup, c, group)];
          int q = int(quant::q4GroupHighNibble(c) ? byte >> 4 : byte & 15) - 8;
          m.f32[uint64_t(r) * uint64_t(cols) + c] = float(q) * 0.0078125f;
          m.levels[uint64_t(r) * uint64_t(cols) + c] = int8_t(q);
        }
    }
    // Long rows: each band of row groups rearranged into its column panels, as the writer does.
    if (uint64_t panel = quant::q4ColumnPanel(uint64_t(rows), uint64_t(cols), group))
      panelQ4Bands(m.stored.data(), uint64_t(rows) / quant::kQ4BandRows, uint64_t(cols), group,
                   panel);
    break;
  }
  }
  return m;
}

halide_type_t storedHalideType(ElementType type) {
  switch (type) {
  case ElementType::F32:
    return halide_type_t(halide_type_float, 32);
  case ElementType::BF16:
    return halide_type_t(halide_type_bfloat, 16);
  default:
    return halide_type_t(halide_type_uint, 8);
  }
}

std::vector<int64_t> storedShape(ElementType type, int64_t rows, int64_t cols) {
  if (type == ElementType::F32 || type == ElementType::BF16)
    return {rows, cols};
  if (type == ElementType::Q4G32 || type == ElementType::Q4G128) {
    const uint64_t group = type == ElementType::Q4G32 ? 32 : 128;
    return quant::q4RowGroupShape(uint64_t(rows), uint64_t(cols), group,
                                  quant::q4ColumnPanel(uint64_t(rows), uint64_t(cols), group));
  }
  if (type == ElementType::Q8)
    return quant::q8Shape(uint64_t(rows), uint64_t(cols),
                          quant::q8ColumnPanel(uint64_t(rows), uint64_t(cols)));
  return {rows, int64_t(matrixBytes(type, rows, cols) / uint64_t(rows))};
}


} // namespace loom::bench
