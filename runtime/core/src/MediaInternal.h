// Steps shared by the image, audio and video loaders (Media.h).
#pragma once

#include "loom/Runtime/ImageResize.h"
#include "loom/Runtime/Media.h"

#include <string>
#include <vector>

namespace loom::media {

// How pixel levels become floats. The image processor multiplies by float32(1/255); the video
// processor's fused normalisation divides by 255.0f. They differ in the last bit for some levels.
enum class PixelScaling { MultiplyByReciprocal, DivideBy255 };

// Resizes by the budget rule, scales to [0, 1] and cuts into patches.
ImagePatches patchesFromImage(const RgbImage &image, const std::string &path,
                              int64_t tokenBudget, int64_t patchSize, PixelScaling scaling);

// Resamples mono audio from inputRate to outputRate with soxr (high quality) and pads or trims
// the result to ceil(samples * outputRate / inputRate), as transformers' load_audio does.
std::vector<float> resampleMono(const std::vector<float> &samples, int64_t inputRate,
                                int64_t outputRate, const std::string &path);

// Zero-pads mono samples to whole frames.
AudioFrames framesFromMono(const std::vector<float> &mono, const std::string &path,
                           int64_t frameSize);

} // namespace loom::media
