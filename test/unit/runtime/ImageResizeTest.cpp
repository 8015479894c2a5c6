// Tests the antialiased bicubic resize against a naive double-precision reference (the same
// filter without fixed-point arithmetic or the 8-bit intermediate), plus its invariants.
// Bit-exactness with the Hugging Face reference is checked by the preprocessing goldens.
#include "loom/Runtime/ImageResize.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

namespace {

loom::RgbImage pattern(int64_t width, int64_t height) {
  loom::RgbImage image;
  image.width = width;
  image.height = height;
  image.pixels.resize(static_cast<size_t>(width * height * 3));
  for (int64_t y = 0; y < height; ++y)
    for (int64_t x = 0; x < width; ++x)
      for (int c = 0; c < 3; ++c)
        image.pixels[static_cast<size_t>((y * width + x) * 3 + c)] = static_cast<uint8_t>(
            127.5 + 120 * std::sin(0.21 * x + 0.13 * y + 2.0 * c) * std::cos(0.05 * x * c - 0.07 * y));
  return image;
}

// One axis of the reference filter in doubles: Keys cubic (a = -0.5), support widened by the
// scale when shrinking, normalised weights, edges clipped.
std::vector<double> naiveAxis(const std::vector<double> &in, int64_t outSize) {
  const int64_t inSize = static_cast<int64_t>(in.size());
  const double scale = static_cast<double>(inSize) / outSize;
  const double stretch = std::max(scale, 1.0);
  const double support = 2.0 * stretch;
  std::vector<double> out(static_cast<size_t>(outSize));
  for (int64_t i = 0; i < outSize; ++i) {
    const double center = scale * (i + 0.5);
    double sum = 0, total = 0;
    for (int64_t j = static_cast<int64_t>(std::floor(center - support)); j <= center + support; ++j) {
      if (j < 0 || j >= inSize)
        continue;
      double x = std::abs((j + 0.5 - center) / stretch);
      double w = x < 1 ? (1.5 * x - 2.5) * x * x + 1 : x < 2 ? ((-0.5 * x + 2.5) * x - 4) * x + 2 : 0;
      sum += w * in[static_cast<size_t>(j)];
      total += w;
    }
    out[static_cast<size_t>(i)] = sum / total;
  }
  return out;
}

std::vector<double> naiveResize(const loom::RgbImage &image, int64_t width, int64_t height) {
  std::vector<double> rows(static_cast<size_t>(image.height * width * 3));
  for (int64_t y = 0; y < image.height; ++y)
    for (int c = 0; c < 3; ++c) {
      std::vector<double> line(static_cast<size_t>(image.width));
      for (int64_t x = 0; x < image.width; ++x)
        line[static_cast<size_t>(x)] = image.pixels[static_cast<size_t>((y * image.width + x) * 3 + c)];
      std::vector<double> resized = image.width == width ? line : naiveAxis(line, width);
      for (int64_t x = 0; x < width; ++x)
        rows[static_cast<size_t>((y * width + x) * 3 + c)] = resized[static_cast<size_t>(x)];
    }
  std::vector<double> out(static_cast<size_t>(height * width * 3));
  for (int64_t x = 0; x < width; ++x)
    for (int c = 0; c < 3; ++c) {
      std::vector<double> column(static_cast<size_t>(image.height));
      for (int64_t y = 0; y < image.height; ++y)
        column[static_cast<size_t>(y)] = rows[static_cast<size_t>((y * width + x) * 3 + c)];
      std::vector<double> resized = image.height == height ? column : naiveAxis(column, height);
      for (int64_t y = 0; y < height; ++y)
        out[static_cast<size_t>((y * width + x) * 3 + c)] = resized[static_cast<size_t>(y)];
    }
  return out;
}

} // namespace

TEST(ImageResize, AgreesWithNaiveFloatReference) {
  // Down, up, mixed, and extreme ratios. The fixed-point kernel rounds twice (after each pass),
  // the naive one never: within 1.5 levels everywhere, and most pixels equal after rounding
  // (measured 77-85%: the 8-bit intermediate moves the rest by one level).
  const int64_t sizes[][4] = {{451, 300, 480, 288}, {512, 512, 384, 384}, {120, 80, 336, 240},
                              {97, 13, 48, 48},     {300, 40, 960, 48},   {64, 64, 64, 48}};
  for (const auto &s : sizes) {
    loom::RgbImage in = pattern(s[0], s[1]);
    loom::RgbImage got = loom::resizeBicubicAntialiased(in, s[2], s[3]);
    ASSERT_EQ(got.width, s[2]);
    ASSERT_EQ(got.height, s[3]);
    std::vector<double> want = naiveResize(in, s[2], s[3]);
    double worst = 0;
    size_t equal = 0;
    for (size_t i = 0; i < want.size(); ++i) {
      double clamped = std::clamp(want[i], 0.0, 255.0);
      worst = std::max(worst, std::abs(got.pixels[i] - clamped));
      equal += got.pixels[i] == std::lround(clamped);
    }
    EXPECT_LE(worst, 1.5) << s[0] << "x" << s[1] << " -> " << s[2] << "x" << s[3];
    EXPECT_GE(static_cast<double>(equal) / want.size(), 0.7) << s[0] << "x" << s[1];
  }
}

TEST(ImageResize, ConstantStaysConstantAndSameSizeIsIdentity) {
  loom::RgbImage flat;
  flat.width = 77;
  flat.height = 31;
  flat.pixels.assign(77 * 31 * 3, 200);
  loom::RgbImage up = loom::resizeBicubicAntialiased(flat, 480, 96);
  loom::RgbImage down = loom::resizeBicubicAntialiased(flat, 48, 48);
  for (uint8_t v : up.pixels)
    ASSERT_EQ(v, 200);
  for (uint8_t v : down.pixels)
    ASSERT_EQ(v, 200);
  loom::RgbImage in = pattern(50, 40);
  EXPECT_EQ(loom::resizeBicubicAntialiased(in, 50, 40).pixels, in.pixels);
}

TEST(ImageResize, TapsAreNormalisedWithTheLargestPrecision) {
  for (auto [in, out] : {std::pair<int64_t, int64_t>{451, 480}, {600, 288}, {13, 48}, {1000, 48}}) {
    loom::ResampleTaps taps = loom::antialiasedBicubicTaps(in, out);
    ASSERT_EQ(taps.first.size(), static_cast<size_t>(out));
    int largest = 0;
    for (int64_t i = 0; i < out; ++i) {
      int sum = 0;
      ASSERT_GE(taps.first[i], 0);
      ASSERT_LE(taps.first[i] + taps.count[i], in);
      for (int64_t k = 0; k < taps.count[i]; ++k) {
        sum += taps.weights[i * taps.taps + k];
        largest = std::max(largest, static_cast<int>(taps.weights[i * taps.taps + k]));
      }
      // Each weight rounds separately: the sum is 2^precision up to the rounding of each.
      EXPECT_LE(std::abs(sum - (1 << taps.precision)), taps.count[i]) << in << "->" << out;
    }
    // One more bit would overflow int16 for the largest weight.
    EXPECT_LT(largest, 1 << 15);
    EXPECT_GE(2 * largest + 1, 1 << 15) << in << "->" << out;
  }
  EXPECT_DOUBLE_EQ(loom::keysCubic(0.0), 1.0);
  EXPECT_DOUBLE_EQ(loom::keysCubic(1.0), 0.0);
  EXPECT_DOUBLE_EQ(loom::keysCubic(0.5), 0.5625);
  EXPECT_DOUBLE_EQ(loom::keysCubic(-1.5), -0.0625);
  EXPECT_DOUBLE_EQ(loom::keysCubic(2.0), 0.0);
}
