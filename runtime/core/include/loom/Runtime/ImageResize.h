// The image resampling filter of Gemma 4's preprocessing: separable bicubic (Keys, a = -0.5)
// with antialiasing, on 8-bit RGB, computed exactly as PyTorch's uint8 CPU kernel
// (torch.nn.functional.interpolate(mode="bicubic", antialias=True) on a uint8 tensor, which is
// what torchvision.transforms.v2.functional.resize runs for the Hugging Face image processor).
// That kernel is Pillow's fixed-point ImagingResample: double-precision filter weights,
// normalised per output pixel, quantised to int16 with a shared precision; integer sums rounded
// and clamped to 0..255; the horizontal pass first, its 8-bit result fed to the vertical pass.
// Matching it bit for bit makes Loom's pixels identical to the reference's.
#pragma once

#include <cstdint>
#include <vector>

namespace loom {

// Interleaved 8-bit RGB, rows top to bottom.
struct RgbImage {
  int64_t width = 0, height = 0;
  std::vector<uint8_t> pixels; // [height, width, 3]
};

// The taps of one resampling axis: output i reads inputs first[i] .. first[i] + count[i] - 1
// with integer weights weights[i * taps + k], scaled by 2^precision.
struct ResampleTaps {
  int64_t inputSize = 0, outputSize = 0;
  int64_t taps = 0; // weights per output (the widest support)
  unsigned precision = 0;
  std::vector<int64_t> first, count;
  std::vector<int16_t> weights;
};

// The antialiased bicubic taps for resizing one axis from inputSize to outputSize samples.
ResampleTaps antialiasedBicubicTaps(int64_t inputSize, int64_t outputSize);

// The bicubic kernel (Keys, a = -0.5) that the taps sample.
double keysCubic(double x);

// Resizes to width x height; returns the input unchanged when the size already matches.
RgbImage resizeBicubicAntialiased(const RgbImage &image, int64_t width, int64_t height);

} // namespace loom
