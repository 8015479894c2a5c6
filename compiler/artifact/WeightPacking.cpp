// Row quantizers for the packed weight layouts: see WeightPacking.h and QuantLayout.h.
#include "loom/Artifact/WeightPacking.h"

#include "loom/Error.h"
#include "loom/QuantLayout.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

namespace loom {
namespace {

void checkFinite(const float *row, uint64_t cols, const std::string &what) {
  for (uint64_t c = 0; c < cols; ++c)
    if (!std::isfinite(row[c]))
      fail(what, ": column ", c, " holds ", row[c], "; only finite weights can be quantized");
}

// Round half to even (the default FP rounding mode), as an integer.
long roundEven(float value) { return std::lrint(value); }

} // namespace

void packQ8Row(const float *row, uint64_t cols, uint8_t *out, const std::string &what) {
  checkFinite(row, cols, what);
  float absMax = 0.0f;
  for (uint64_t c = 0; c < cols; ++c)
    absMax = std::max(absMax, std::fabs(row[c]));
  const float scale = absMax / 127.0f;
  for (uint64_t c = 0; c < cols; ++c) {
    long q = scale == 0.0f ? 0 : std::clamp(roundEven(row[c] / scale), -127L, 127L);
    out[c] = uint8_t(int8_t(q));
  }
  std::memcpy(out + quant::q8ScaleOffset(cols), &scale, sizeof scale);
}

void packQ4Row(const float *row, uint64_t cols, uint64_t group, uint8_t *out,
               const std::string &what) {
  if (group == 0 || group % quant::kQ4BlockColumns != 0 || cols % group != 0)
    fail(what, ": ", cols, " columns cannot be split in q4 groups of ", group);
  checkFinite(row, cols, what);
  std::memset(out, 0, quant::q4RowBytes(cols, group));
  uint8_t *scales = out + quant::q4ScaleOffset(cols);
  for (uint64_t first = 0; first < cols; first += group) {
    float extreme = 0.0f;
    for (uint64_t c = first; c < first + group; ++c)
      if (std::fabs(row[c]) > std::fabs(extreme))
        extreme = row[c];
    const float exact = extreme / -8.0f;
    if (std::fabs(exact) > 65504.0f)
      fail(what, ": the q4 scale ", exact, " of columns [", first, ", ", first + group,
           ") exceeds the f16 range");
    const _Float16 stored = _Float16(exact);
    const float scale = float(stored);
    std::memcpy(scales + 2 * (first / group), &stored, 2);
    for (uint64_t c = first; c < first + group; ++c) {
      long q = scale == 0.0f ? 0 : std::clamp(roundEven(row[c] / scale), -8L, 7L);
      uint8_t nibble = uint8_t(q + 8);
      uint8_t &byte = out[quant::q4ByteOf(c)];
      byte |= quant::q4HighNibble(c) ? uint8_t(nibble << 4) : nibble;
    }
  }
}

void groupQ4Rows(const uint8_t *packedRows, uint64_t count, uint64_t cols, uint64_t group,
                 uint8_t *out) {
  if (count == 0 || count > quant::kQ4GroupRows)
    fail("q4 row group of ", count, " rows: expected 1 to ", quant::kQ4GroupRows);
  const uint64_t rowBytes = quant::q4RowBytes(cols, group);
  std::memset(out, 0, quant::q4GroupBytes(cols, group));
  for (uint64_t r = 0; r < count; ++r) {
    const uint8_t *row = packedRows + r * rowBytes;
    for (uint64_t c = 0; c < cols; ++c) {
      uint8_t byte = row[quant::q4ByteOf(c)];
      uint8_t nibble = quant::q4HighNibble(c) ? uint8_t(byte >> 4) : uint8_t(byte & 15);
      out[quant::q4GroupByteOf(r, c, group)] |=
          quant::q4GroupHighNibble(c) ? uint8_t(nibble << 4) : nibble;
    }
    for (uint64_t c = 0; c < cols; c += group) {
      const uint8_t *scale = row + quant::q4ScaleOffset(cols) + 2 * (c / group);
      out[quant::q4GroupScaleByteOf(r, c, group)] = scale[0];
      out[quant::q4GroupScaleByteOf(r, c, group) + quant::kQ4GroupRows] = scale[1];
    }
  }
}

void panelQ4Bands(uint8_t *groups, uint64_t bands, uint64_t cols, uint64_t group, uint64_t panel) {
  if (panel == 0 || panel % group != 0 || cols % panel != 0)
    fail("q4 column panel of ", panel, " columns: expected a multiple of the group ", group,
         " dividing ", cols, " columns");
  // Scale groups are stored in column order, so a panel of a group is one contiguous slice.
  const uint64_t groupBytes = quant::q4GroupBytes(cols, group);
  const uint64_t sliceBytes = quant::q4GroupBytes(panel, group);
  std::vector<uint8_t> band(quant::kQ4BandGroups * groupBytes);
  for (uint8_t *in = groups; in < groups + bands * band.size(); in += band.size()) {
    for (uint64_t p = 0; p < cols / panel; ++p)
      for (uint64_t g = 0; g < quant::kQ4BandGroups; ++g)
        std::memcpy(band.data() + (p * quant::kQ4BandGroups + g) * sliceBytes,
                    in + g * groupBytes + p * sliceBytes, sliceBytes);
    std::memcpy(in, band.data(), band.size());
  }
}

void panelQ8Bands(uint8_t *packedRows, uint64_t bands, uint64_t cols, uint64_t panel) {
  if (panel == 0 || cols % panel != 0)
    fail("q8 column panel of ", panel, " columns: expected a width dividing ", cols, " columns");
  const uint64_t rowBytes = quant::q8RowBytes(cols);
  std::vector<uint8_t> band(quant::kQ8BandRows * rowBytes);
  for (uint8_t *in = packedRows; in < packedRows + bands * band.size(); in += band.size()) {
    for (uint64_t r = 0; r < quant::kQ8BandRows; ++r) {
      const uint8_t *row = in + r * rowBytes;
      for (uint64_t c = 0; c < cols; c += panel)
        std::memcpy(band.data() + quant::q8BandByteOf(r, c, panel), row + c, panel);
      std::memcpy(band.data() + quant::q8BandScaleByteOf(r, cols), row + quant::q8ScaleOffset(cols), 4);
    }
    std::memcpy(in, band.data(), band.size());
  }
}

} // namespace loom
