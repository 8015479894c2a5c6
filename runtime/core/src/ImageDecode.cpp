#include "loom/Runtime/ImageDecode.h"

#include "loom/Error.h"
#include "loom/Runtime/MediaLimits.h"

#include <cerrno>
#include <csetjmp>
#include <cstdio>
#include <cstring>
// jpeglib.h needs size_t and FILE declared first.
#include <jerror.h>
#include <jpeglib.h>
#include <png.h>

namespace loom {
namespace {

// ---- PNG ---------------------------------------------------------------------------------

struct PngErrorState {
  char message[512];
  char warning[256]; // the last warning: libpng says what is wrong there ("Image width is zero")
  bool tooManyPixels; // the header declares more than the limit: nothing was decoded
};

extern "C" void pngError(png_structp png, png_const_charp message) {
  auto *state = static_cast<PngErrorState *>(png_get_error_ptr(png));
  const char *text = message ? message : "unknown error";
  if (state->warning[0] != '\0')
    std::snprintf(state->message, sizeof state->message, "%s (%s)", text, state->warning);
  else
    std::snprintf(state->message, sizeof state->message, "%s", text);
  png_longjmp(png, 1);
}

extern "C" void pngWarning(png_structp png, png_const_charp message) {
  auto *state = static_cast<PngErrorState *>(png_get_error_ptr(png));
  std::snprintf(state->warning, sizeof state->warning, "%s", message ? message : "");
}

// Only trivially destructible locals live in this frame, so longjmp back to its setjmp is safe.
// Returns false with state.message set on a libpng error.
bool decodePng(std::FILE *file, const MediaLimits &limits, PngErrorState &state,
               png_uint_32 &width, png_uint_32 &height, std::vector<uint8_t> &pixels,
               std::vector<png_bytep> &rowPointers) {
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &state, pngError, pngWarning);
  if (png == nullptr) {
    std::snprintf(state.message, sizeof state.message, "out of memory");
    return false;
  }
  png_infop info = png_create_info_struct(png);
  if (info == nullptr) {
    png_destroy_read_struct(&png, nullptr, nullptr);
    std::snprintf(state.message, sizeof state.message, "out of memory");
    return false;
  }
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_read_struct(&png, &info, nullptr);
    return false;
  }
  png_init_io(png, file);
  png_set_user_limits(png, 1u << 16, 1u << 16);
  png_read_info(png, info);
  width = png_get_image_width(png, info);
  height = png_get_image_height(png, info);
  if (!limits.allowsPixels(width, height)) {
    state.tooManyPixels = true;
    png_destroy_read_struct(&png, &info, nullptr);
    return false;
  }
  int colorType = png_get_color_type(png, info);
  int bitDepth = png_get_bit_depth(png, info);
  if (colorType == PNG_COLOR_TYPE_PALETTE)
    png_set_palette_to_rgb(png);
  if (colorType == PNG_COLOR_TYPE_GRAY && bitDepth < 8)
    png_set_expand_gray_1_2_4_to_8(png);
  if (bitDepth == 16)
    png_set_strip_16(png);
  if (colorType & PNG_COLOR_MASK_ALPHA)
    png_set_strip_alpha(png);
  if (colorType == PNG_COLOR_TYPE_GRAY || colorType == PNG_COLOR_TYPE_GRAY_ALPHA)
    png_set_gray_to_rgb(png);
  png_set_interlace_handling(png);
  png_read_update_info(png, info);
  size_t rowBytes = png_get_rowbytes(png, info);
  if (rowBytes != static_cast<size_t>(width) * 3) {
    std::snprintf(state.message, sizeof state.message,
                  "unexpected row size %zu after conversion to 8-bit RGB", rowBytes);
    png_destroy_read_struct(&png, &info, nullptr);
    return false;
  }
  pixels.resize(rowBytes * height);
  rowPointers.resize(height);
  for (png_uint_32 y = 0; y < height; ++y)
    rowPointers[y] = pixels.data() + static_cast<size_t>(y) * rowBytes;
  png_read_image(png, rowPointers.data());
  png_read_end(png, nullptr);
  png_destroy_read_struct(&png, &info, nullptr);
  return true;
}

RgbImage readPng(const std::string &path, std::FILE *file, const MediaLimits &limits) {
  PngErrorState state{};
  png_uint_32 width = 0, height = 0;
  std::vector<uint8_t> pixels;
  std::vector<png_bytep> rowPointers;
  bool ok = decodePng(file, limits, state, width, height, pixels, rowPointers);
  if (state.tooManyPixels)
    checkImagePixels(path, width, height, "PNG header", limits);
  if (!ok)
    fail(path, ": corrupt or unreadable PNG: ", state.message);
  RgbImage image;
  image.width = width;
  image.height = height;
  image.pixels = std::move(pixels);
  return image;
}

// ---- EXIF orientation ----------------------------------------------------------------------

// The orientation tag (0x0112) of IFD0 in an APP1 "Exif" payload; 1 when absent or unreadable.
int exifOrientation(const uint8_t *data, size_t size) {
  if (size < 14 || std::memcmp(data, "Exif\0\0", 6) != 0)
    return 1;
  const uint8_t *tiff = data + 6;
  size_t length = size - 6;
  bool little = tiff[0] == 'I' && tiff[1] == 'I';
  bool big = tiff[0] == 'M' && tiff[1] == 'M';
  if (!little && !big)
    return 1;
  auto u16 = [&](size_t at) -> uint32_t {
    return little ? tiff[at] | (tiff[at + 1] << 8) : (tiff[at] << 8) | tiff[at + 1];
  };
  auto u32 = [&](size_t at) -> uint32_t {
    return little ? u16(at) | (u16(at + 2) << 16) : (u16(at) << 16) | u16(at + 2);
  };
  if (u16(2) != 42)
    return 1;
  size_t ifd = u32(4);
  if (ifd + 2 > length)
    return 1;
  uint32_t entries = u16(ifd);
  for (uint32_t e = 0; e < entries; ++e) {
    size_t at = ifd + 2 + static_cast<size_t>(e) * 12;
    if (at + 12 > length)
      return 1;
    if (u16(at) == 0x0112 && u16(at + 2) == 3 /* SHORT */) {
      uint32_t value = u16(at + 8);
      return value >= 1 && value <= 8 ? static_cast<int>(value) : 1;
    }
  }
  return 1;
}

// ---- JPEG ----------------------------------------------------------------------------------

struct JpegErrorState {
  jpeg_error_mgr manager;
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

extern "C" void jpegErrorExit(j_common_ptr info) {
  auto *state = reinterpret_cast<JpegErrorState *>(info->err);
  (*info->err->format_message)(info, state->message);
  std::longjmp(state->jump, 1);
}

// Warnings are quiet, except a truncated file: libjpeg would pad it with gray, while the
// reference (Pillow) refuses it.
extern "C" void jpegEmitMessage(j_common_ptr info, int level) {
  if (level == -1 && info->err->msg_code == JWRN_JPEG_EOF)
    jpegErrorExit(info);
}

// As decodePng: trivially destructible locals only between setjmp and longjmp.
bool decodeJpeg(std::FILE *file, const MediaLimits &limits, JpegErrorState &state,
                jpeg_decompress_struct &info,
                std::vector<uint8_t> &pixels, int64_t &width, int64_t &height, int &orientation,
                int &unsupportedColorSpace) {
  info.err = jpeg_std_error(&state.manager);
  state.manager.error_exit = jpegErrorExit;
  state.manager.emit_message = jpegEmitMessage;
  if (setjmp(state.jump)) {
    jpeg_destroy_decompress(&info);
    return false;
  }
  jpeg_create_decompress(&info);
  jpeg_stdio_src(&info, file);
  jpeg_save_markers(&info, JPEG_APP0 + 1, 0xffff);
  jpeg_read_header(&info, TRUE);
  width = info.image_width;
  height = info.image_height;
  if (!limits.allowsPixels(width, height)) {
    jpeg_destroy_decompress(&info);
    return true; // the caller refuses the declared size
  }
  for (jpeg_saved_marker_ptr marker = info.marker_list; marker != nullptr; marker = marker->next)
    if (marker->marker == JPEG_APP0 + 1) {
      orientation = exifOrientation(marker->data, marker->data_length);
      if (orientation != 1)
        break;
    }
  if (info.jpeg_color_space != JCS_GRAYSCALE && info.jpeg_color_space != JCS_YCbCr &&
      info.jpeg_color_space != JCS_RGB) {
    unsupportedColorSpace = static_cast<int>(info.jpeg_color_space);
    jpeg_destroy_decompress(&info);
    return true;
  }
  info.out_color_space = JCS_RGB; // gray is replicated, as Pillow's convert("RGB")
  jpeg_start_decompress(&info);
  width = info.output_width;
  height = info.output_height;
  const size_t stride = static_cast<size_t>(info.output_width) * 3;
  pixels.resize(stride * info.output_height);
  while (info.output_scanline < info.output_height) {
    JSAMPROW row = pixels.data() + stride * info.output_scanline;
    jpeg_read_scanlines(&info, &row, 1);
  }
  jpeg_finish_decompress(&info);
  jpeg_destroy_decompress(&info);
  return true;
}

RgbImage readJpeg(const std::string &path, std::FILE *file, const MediaLimits &limits) {
  JpegErrorState state{};
  jpeg_decompress_struct info{};
  std::vector<uint8_t> pixels;
  int64_t width = 0, height = 0;
  int orientation = 1;
  int unsupportedColorSpace = 0;
  bool ok = decodeJpeg(file, limits, state, info, pixels, width, height, orientation,
                       unsupportedColorSpace);
  if (!ok)
    fail(path, ": corrupt or unreadable JPEG: ", state.message);
  checkImagePixels(path, width, height, "JPEG header", limits);
  if (unsupportedColorSpace != 0)
    fail(path, ": JPEG color space ", unsupportedColorSpace,
         " (CMYK/YCCK) is not supported; expected a grayscale or color (YCbCr/RGB) JPEG");
  RgbImage image;
  image.width = width;
  image.height = height;
  image.pixels = std::move(pixels);
  return orientation == 1 ? image : applyExifOrientation(image, orientation);
}

} // namespace

RgbImage applyExifOrientation(const RgbImage &image, int orientation) {
  if (orientation <= 1 || orientation > 8)
    return image;
  const int64_t W = image.width, H = image.height;
  const bool swaps = orientation >= 5; // transposing orientations exchange width and height
  RgbImage out;
  out.width = swaps ? H : W;
  out.height = swaps ? W : H;
  out.pixels.resize(image.pixels.size());
  for (int64_t r = 0; r < out.height; ++r)
    for (int64_t c = 0; c < out.width; ++c) {
      int64_t sr = r, sc = c; // the source row and column
      switch (orientation) {
      case 2: sc = W - 1 - c; break;                  // mirror left-right
      case 3: sr = H - 1 - r; sc = W - 1 - c; break;  // rotate 180
      case 4: sr = H - 1 - r; break;                  // mirror top-bottom
      case 5: sr = c; sc = r; break;                  // transpose
      case 6: sr = H - 1 - c; sc = r; break;          // rotate 90 clockwise
      case 7: sr = H - 1 - c; sc = W - 1 - r; break;  // transverse
      case 8: sr = c; sc = W - 1 - r; break;          // rotate 90 counter-clockwise
      }
      const uint8_t *from = image.pixels.data() + (sr * W + sc) * 3;
      uint8_t *to = out.pixels.data() + (r * out.width + c) * 3;
      to[0] = from[0];
      to[1] = from[1];
      to[2] = from[2];
    }
  return out;
}

namespace {

// Decodes an open image stream; `name` stands for it in messages. Closes the stream.
RgbImage decodeImageStream(std::FILE *file, const std::string &name, const MediaLimits &limits) {
  unsigned char signature[8] = {};
  size_t got = std::fread(signature, 1, sizeof signature, file);
  std::rewind(file);
  RgbImage image;
  try {
    if (got == sizeof signature && png_sig_cmp(signature, 0, sizeof signature) == 0)
      image = readPng(name, file, limits);
    else if (got >= 3 && signature[0] == 0xff && signature[1] == 0xd8 && signature[2] == 0xff)
      image = readJpeg(name, file, limits);
    else
      fail(name, ": not an image Loom can read (expected a PNG or JPEG file; the first bytes "
                 "match neither signature)");
  } catch (...) {
    std::fclose(file);
    throw;
  }
  std::fclose(file);
  if (image.width == 0 || image.height == 0)
    fail(name, ": image is empty (", image.width, "x", image.height, " pixels)");
  return image;
}

} // namespace

RgbImage decodeImage(const std::string &path, const MediaLimits &limits) {
  std::FILE *file = std::fopen(path.c_str(), "rb");
  if (file == nullptr)
    fail(path, ": cannot open image: ", std::strerror(errno));
  return decodeImageStream(file, path, limits);
}

RgbImage decodeImageBytes(const void *data, size_t size, const std::string &name,
                          const MediaLimits &limits) {
  if (data == nullptr || size == 0)
    fail(name, ": image has no bytes; expected a PNG or JPEG file's contents");
  // A read-only stream over the caller's bytes: libpng and libjpeg read it as they read files.
  std::FILE *file = fmemopen(const_cast<void *>(data), size, "rb");
  if (file == nullptr)
    fail(name, ": cannot read image bytes: ", std::strerror(errno));
  return decodeImageStream(file, name, limits);
}

RgbImage imageFromPixels(const uint8_t *rgb, int64_t width, int64_t height,
                         const std::string &name, const MediaLimits &limits) {
  if (rgb == nullptr || width <= 0 || height <= 0)
    fail(name, ": image of ", width, "x", height, " pixels", rgb ? "" : " without data",
         "; expected RGB pixels with both sides positive");
  checkImagePixels(name, width, height, "pixel array", limits);
  RgbImage image;
  image.width = width;
  image.height = height;
  image.pixels.assign(rgb, rgb + static_cast<size_t>(width * height) * 3);
  return image;
}

} // namespace loom
