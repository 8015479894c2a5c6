// Image file decoding to 8-bit RGB, as the Hugging Face processor's loader (Pillow's
// Image.open + ImageOps.exif_transpose + convert("RGB")) sees the file.
#pragma once

#include "loom/Runtime/ImageResize.h"
#include "loom/Runtime/MediaLimits.h"

#include <cstddef>
#include <cstdint>
#include <string>

namespace loom {

// Decodes a PNG (libpng) or JPEG (libjpeg-turbo), told apart by the file's first bytes.
// PNG: gray, gray+alpha, RGB, RGBA, palette, 1-16 bit; alpha dropped, 16-bit reduced to the high
// byte. JPEG: gray or YCbCr/RGB, with the EXIF orientation (tag 0x0112) applied.
// Throws loom::Error naming the file for a missing, unknown, corrupt or empty image, or one
// whose header declares more pixels than `limits` allow (checked before decoding).
RgbImage decodeImage(const std::string &path, const MediaLimits &limits = {});
// The same for a file's contents in memory; `name` stands for the file in messages.
RgbImage decodeImageBytes(const void *data, size_t size, const std::string &name,
                          const MediaLimits &limits = {});
// Copies width x height RGB pixels (row-major, 3 bytes each), checked against the pixel limit.
RgbImage imageFromPixels(const uint8_t *rgb, int64_t width, int64_t height,
                         const std::string &name, const MediaLimits &limits = {});

// Applies an EXIF orientation (1-8) to an image, as Pillow's exif_transpose does.
RgbImage applyExifOrientation(const RgbImage &image, int orientation);

} // namespace loom
