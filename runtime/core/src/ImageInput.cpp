#include "MediaInternal.h"

#include "loom/Error.h"
#include "loom/Runtime/ImageDecode.h"

#include <algorithm>
#include <cmath>

namespace loom {

void checkImageTokenBudget(int64_t tokenBudget, const std::string &what) {
  for (int64_t allowed : kImageTokenBudgets)
    if (tokenBudget == allowed)
      return;
  fail(what, ": image token budget ", tokenBudget, " is not supported; expected one of 70, 140, "
       "280, 560, 1120");
}

// Mirrors get_aspect_ratio_preserving_size of transformers' image_processing_gemma4_unified.py,
// in the same double-precision steps.
std::pair<int64_t, int64_t> imageResizeTarget(int64_t width, int64_t height, int64_t tokenBudget,
                                              int64_t patchSize) {
  const double targetPixels = static_cast<double>(tokenBudget * patchSize * patchSize);
  const double factor = std::sqrt(targetPixels / static_cast<double>(width * height));
  const double side = static_cast<double>(patchSize);
  int64_t targetHeight = static_cast<int64_t>(std::floor(factor * height / side)) * patchSize;
  int64_t targetWidth = static_cast<int64_t>(std::floor(factor * width / side)) * patchSize;
  if (targetHeight == 0 && targetWidth == 0)
    fail("image of ", width, "x", height, " pixels: resizing to the ", tokenBudget,
         "-token budget gives a 0x0 image");
  const int64_t longestSide = tokenBudget * patchSize;
  if (targetHeight == 0) {
    targetHeight = patchSize;
    targetWidth = std::min(static_cast<int64_t>(std::floor(static_cast<double>(width) /
                                                           static_cast<double>(height))) *
                               patchSize,
                           longestSide);
  } else if (targetWidth == 0) {
    targetWidth = patchSize;
    targetHeight = std::min(static_cast<int64_t>(std::floor(static_cast<double>(height) /
                                                            static_cast<double>(width))) *
                                patchSize,
                            longestSide);
  }
  return {targetWidth, targetHeight};
}

namespace media {

ImagePatches patchesFromImage(const RgbImage &image, const std::string &path,
                              int64_t tokenBudget, int64_t patchSize, PixelScaling scaling) {
  if (patchSize <= 0)
    fail(path, ": invalid patch size ", patchSize);
  auto [width, height] = imageResizeTarget(image.width, image.height, tokenBudget, patchSize);
  const RgbImage resized = resizeBicubicAntialiased(image, width, height);

  // The 256 possible pixel values, as the reference computes them in float32.
  float levels[256];
  const float reciprocal = static_cast<float>(1.0 / 255.0);
  for (int v = 0; v < 256; ++v)
    levels[v] = scaling == PixelScaling::MultiplyByReciprocal
                    ? static_cast<float>(v) * reciprocal
                    : static_cast<float>(v) / 255.0f;

  ImagePatches out;
  out.path = path;
  out.width = width;
  out.height = height;
  out.patchSize = patchSize;
  out.columns = width / patchSize;
  out.rows = height / patchSize;
  out.count = out.columns * out.rows;
  out.patchDim = patchSize * patchSize * 3;
  out.patches.resize(static_cast<size_t>(out.count * out.patchDim));
  out.positions.resize(static_cast<size_t>(out.count * 2));
  const size_t stride = static_cast<size_t>(width) * 3;
  float *dst = out.patches.data();
  for (int64_t r = 0; r < out.rows; ++r) {
    for (int64_t c = 0; c < out.columns; ++c) {
      int64_t index = r * out.columns + c;
      out.positions[index * 2] = static_cast<int32_t>(c);
      out.positions[index * 2 + 1] = static_cast<int32_t>(r);
      for (int64_t y = 0; y < patchSize; ++y) {
        const uint8_t *src = resized.pixels.data() + static_cast<size_t>(r * patchSize + y) * stride +
                             static_cast<size_t>(c * patchSize) * 3;
        for (int64_t x = 0; x < patchSize * 3; ++x)
          *dst++ = levels[src[x]];
      }
    }
  }
  return out;
}

} // namespace media

ImagePatches loadImagePatches(const std::string &path, int64_t tokenBudget, int64_t patchSize,
                              const MediaLimits &limits) {
  checkImageTokenBudget(tokenBudget, path);
  return imagePatches(decodeImage(path, limits), path, tokenBudget, patchSize);
}

ImagePatches imagePatches(const RgbImage &image, const std::string &name, int64_t tokenBudget,
                          int64_t patchSize) {
  checkImageTokenBudget(tokenBudget, name);
  return media::patchesFromImage(image, name, tokenBudget, patchSize,
                                 media::PixelScaling::MultiplyByReciprocal);
}

} // namespace loom
