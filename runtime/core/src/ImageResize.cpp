#include "loom/Runtime/ImageResize.h"

#include <algorithm>
#include <cmath>

// The weights must round exactly as the reference's: no fused multiply-adds.
#pragma STDC FP_CONTRACT OFF

namespace loom {

double keysCubic(double x) {
  constexpr double a = -0.5;
  x = std::abs(x);
  if (x < 1.0)
    return ((a + 2) * x - (a + 3)) * x * x + 1;
  if (x < 2.0)
    return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a;
  return 0.0;
}

ResampleTaps antialiasedBicubicTaps(int64_t inputSize, int64_t outputSize) {
  ResampleTaps taps;
  taps.inputSize = inputSize;
  taps.outputSize = outputSize;
  const double scale = static_cast<double>(inputSize) / static_cast<double>(outputSize);
  // Downsampling widens the kernel by the scale (that is the antialiasing); upsampling keeps
  // the plain 4-tap support.
  const double support = scale >= 1.0 ? 2.0 * scale : 2.0;
  const double inverseScale = scale >= 1.0 ? 1.0 / scale : 1.0;
  taps.taps = static_cast<int64_t>(std::ceil(support)) * 2 + 1;
  taps.first.resize(static_cast<size_t>(outputSize));
  taps.count.resize(static_cast<size_t>(outputSize));
  std::vector<double> weights(static_cast<size_t>(outputSize * taps.taps), 0.0);
  double largest = 0.0;
  for (int64_t i = 0; i < outputSize; ++i) {
    const double center = scale * (static_cast<double>(i) + 0.5);
    int64_t first = std::max(static_cast<int64_t>(center - support + 0.5), int64_t{0});
    int64_t count = std::min(static_cast<int64_t>(center + support + 0.5), inputSize) - first;
    count = std::clamp(count, int64_t{0}, taps.taps);
    double *w = weights.data() + i * taps.taps;
    double total = 0.0;
    for (int64_t j = 0; j < count; ++j) {
      w[j] = keysCubic((static_cast<double>(j + first) - center + 0.5) * inverseScale);
      total += w[j];
    }
    if (total != 0.0)
      for (int64_t j = 0; j < count; ++j) {
        w[j] /= total;
        largest = std::max(largest, w[j]);
      }
    taps.first[static_cast<size_t>(i)] = first;
    taps.count[static_cast<size_t>(i)] = count;
  }
  // The most fractional bits for which the largest weight still fits in an int16.
  unsigned precision = 0;
  for (; precision < 22; ++precision) {
    int next = static_cast<int>(0.5 + largest * static_cast<double>(1 << (precision + 1)));
    if (next >= (1 << 15))
      break;
  }
  taps.precision = precision;
  taps.weights.resize(weights.size());
  for (size_t k = 0; k < weights.size(); ++k) {
    double v = weights[k] * static_cast<double>(1 << precision);
    taps.weights[k] = static_cast<int16_t>(v < 0 ? static_cast<int>(-0.5 + v)
                                                 : static_cast<int>(0.5 + v));
  }
  return taps;
}

namespace {

uint8_t roundAndClamp(int32_t sum, unsigned precision) {
  int32_t value = sum >> precision; // arithmetic shift: floors, as the reference does
  return static_cast<uint8_t>(std::clamp(value, 0, 255));
}

RgbImage resizeRows(const RgbImage &in, const ResampleTaps &taps) {
  RgbImage out;
  out.width = taps.outputSize;
  out.height = in.height;
  out.pixels.resize(static_cast<size_t>(out.width * out.height * 3));
  const int32_t half = 1 << (taps.precision - 1);
  for (int64_t y = 0; y < in.height; ++y) {
    const uint8_t *src = in.pixels.data() + y * in.width * 3;
    uint8_t *dst = out.pixels.data() + y * out.width * 3;
    for (int64_t x = 0; x < out.width; ++x) {
      const int16_t *w = taps.weights.data() + x * taps.taps;
      const uint8_t *from = src + taps.first[static_cast<size_t>(x)] * 3;
      int32_t sum[3] = {half, half, half};
      for (int64_t k = 0; k < taps.count[static_cast<size_t>(x)]; ++k)
        for (int c = 0; c < 3; ++c)
          sum[c] += static_cast<int32_t>(from[k * 3 + c]) * w[k];
      for (int c = 0; c < 3; ++c)
        dst[x * 3 + c] = roundAndClamp(sum[c], taps.precision);
    }
  }
  return out;
}

RgbImage resizeColumns(const RgbImage &in, const ResampleTaps &taps) {
  RgbImage out;
  out.width = in.width;
  out.height = taps.outputSize;
  out.pixels.resize(static_cast<size_t>(out.width * out.height * 3));
  const int32_t half = 1 << (taps.precision - 1);
  const int64_t stride = in.width * 3;
  std::vector<int32_t> sums(static_cast<size_t>(stride));
  for (int64_t y = 0; y < out.height; ++y) {
    const int16_t *w = taps.weights.data() + y * taps.taps;
    const uint8_t *from = in.pixels.data() + taps.first[static_cast<size_t>(y)] * stride;
    std::fill(sums.begin(), sums.end(), half);
    for (int64_t k = 0; k < taps.count[static_cast<size_t>(y)]; ++k) {
      const uint8_t *row = from + k * stride;
      for (int64_t i = 0; i < stride; ++i)
        sums[static_cast<size_t>(i)] += static_cast<int32_t>(row[i]) * w[k];
    }
    uint8_t *dst = out.pixels.data() + y * stride;
    for (int64_t i = 0; i < stride; ++i)
      dst[i] = roundAndClamp(sums[static_cast<size_t>(i)], taps.precision);
  }
  return out;
}

} // namespace

RgbImage resizeBicubicAntialiased(const RgbImage &image, int64_t width, int64_t height) {
  RgbImage current = image;
  if (width != image.width)
    current = resizeRows(current, antialiasedBicubicTaps(image.width, width));
  if (height != image.height)
    current = resizeColumns(current, antialiasedBicubicTaps(image.height, height));
  return current;
}

} // namespace loom
