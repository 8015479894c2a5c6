// What a media file may declare, checked before it is decoded: a file of a few kilobytes can
// declare a 65535x65535 image or hours of sound, and decoding it would take gigabytes before
// any later check (prompt length, context) could refuse it.
#pragma once

#include "loom/Error.h"

#include <cstdint>
#include <string>

namespace loom {

inline constexpr int64_t kMaxImagePixels = 89'478'485; // Pillow's Image.MAX_IMAGE_PIXELS
inline constexpr int64_t kMaxMediaSeconds = 3600;      // audio, and audio tracks of videos

// The limits in force for a model: the defaults above, or lower ones its opener chose (a server
// that takes media from strangers: loom_model_options).
struct MediaLimits {
  int64_t maxImagePixels = kMaxImagePixels;
  int64_t maxSeconds = kMaxMediaSeconds;

  bool allowsPixels(int64_t width, int64_t height) const {
    return width <= 0 || height <= 0 || width <= maxImagePixels / height;
  }
};

// `what` says what declared the size: "PNG header", "video frame", ...
inline void checkImagePixels(const std::string &path, int64_t width, int64_t height,
                             const char *what, const MediaLimits &limits = {}) {
  if (!limits.allowsPixels(width, height))
    fail(path, ": the ", what, " declares ", width, "x", height, " = ", width * height,
         " pixels, more than the limit of ", limits.maxImagePixels,
         limits.maxImagePixels == kMaxImagePixels ? " (Pillow's MAX_IMAGE_PIXELS)"
                                                  : " (the model's max_image_pixels)");
}

inline void checkMediaSeconds(const std::string &path, int64_t samples, int64_t sampleRate,
                              const char *what, const MediaLimits &limits = {}) {
  if (sampleRate > 0 && samples > limits.maxSeconds * sampleRate)
    fail(path, ": the ", what, " holds ", samples, " samples at ", sampleRate, " Hz (",
         samples / sampleRate, " s), longer than the limit of ", limits.maxSeconds, " s",
         limits.maxSeconds == kMaxMediaSeconds ? "" : " (the model's max_media_seconds)");
}

} // namespace loom
