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

// `what` says what declared the size: "PNG header", "video frame", ...
inline void checkImagePixels(const std::string &path, int64_t width, int64_t height,
                             const char *what) {
  if (width > 0 && height > 0 && width > kMaxImagePixels / height)
    fail(path, ": the ", what, " declares ", width, "x", height, " = ", width * height,
         " pixels, more than the limit of ", kMaxImagePixels, " (Pillow's MAX_IMAGE_PIXELS)");
}

inline void checkMediaSeconds(const std::string &path, int64_t samples, int64_t sampleRate,
                              const char *what) {
  if (sampleRate > 0 && samples > kMaxMediaSeconds * sampleRate)
    fail(path, ": the ", what, " holds ", samples, " samples at ", sampleRate, " Hz (",
         samples / sampleRate, " s), longer than the limit of ", kMaxMediaSeconds, " s");
}

} // namespace loom
