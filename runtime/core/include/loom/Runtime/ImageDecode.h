// Image file decoding to 8-bit RGB, as the Hugging Face processor's loader (Pillow's
// Image.open + ImageOps.exif_transpose + convert("RGB")) sees the file.
#pragma once

#include "loom/Runtime/ImageResize.h"

#include <string>

namespace loom {

// Decodes a PNG (libpng) or JPEG (libjpeg-turbo), told apart by the file's first bytes.
// PNG: gray, gray+alpha, RGB, RGBA, palette, 1-16 bit; alpha dropped, 16-bit reduced to the high
// byte. JPEG: gray or YCbCr/RGB, with the EXIF orientation (tag 0x0112) applied.
// Throws loom::Error naming the file for a missing, unknown, corrupt or empty image.
RgbImage decodeImage(const std::string &path);

// Applies an EXIF orientation (1-8) to an image, as Pillow's exif_transpose does.
RgbImage applyExifOrientation(const RgbImage &image, int orientation);

} // namespace loom
