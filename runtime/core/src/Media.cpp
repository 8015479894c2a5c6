#include "loom/Runtime/Media.h"

#include "loom/Error.h"

#include <cerrno>
#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <png.h>
#include <sndfile.h>

namespace loom {
namespace {

struct PngErrorState {
  char message[512];
};

extern "C" void pngError(png_structp png, png_const_charp message) {
  auto *state = static_cast<PngErrorState *>(png_get_error_ptr(png));
  std::snprintf(state->message, sizeof state->message, "%s", message ? message : "unknown error");
  png_longjmp(png, 1);
}

extern "C" void pngWarning(png_structp, png_const_charp) {}

struct PngHeader {
  png_uint_32 width = 0, height = 0;
};

// Only trivially destructible locals live in this frame, so longjmp back to its setjmp is safe.
// Returns false with state.message set on a libpng error. checkSize is called after the header
// is read and may return a message (static storage) to stop before any pixel is decoded.
bool decodePng(std::FILE *file, PngErrorState &state, PngHeader &header,
               std::vector<uint8_t> &pixels, std::vector<png_bytep> &rowPointers,
               int64_t patchSize, bool &badSize) {
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
  header.width = png_get_image_width(png, info);
  header.height = png_get_image_height(png, info);
  if (header.width % patchSize != 0 || header.height % patchSize != 0) {
    badSize = true;
    png_destroy_read_struct(&png, &info, nullptr);
    return true;
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
  if (rowBytes != static_cast<size_t>(header.width) * 3) {
    std::snprintf(state.message, sizeof state.message,
                  "unexpected row size %zu after conversion to 8-bit RGB", rowBytes);
    png_destroy_read_struct(&png, &info, nullptr);
    return false;
  }
  pixels.resize(rowBytes * header.height);
  rowPointers.resize(header.height);
  for (png_uint_32 y = 0; y < header.height; ++y)
    rowPointers[y] = pixels.data() + static_cast<size_t>(y) * rowBytes;
  png_read_image(png, rowPointers.data());
  png_read_end(png, nullptr);
  png_destroy_read_struct(&png, &info, nullptr);
  return true;
}

} // namespace

ImagePatches loadImagePatches(const std::string &path, int64_t patchSize) {
  if (patchSize <= 0)
    fail(path, ": invalid patch size ", patchSize);
  std::FILE *file = std::fopen(path.c_str(), "rb");
  if (file == nullptr)
    fail(path, ": cannot open image: ", std::strerror(errno));
  unsigned char signature[8] = {};
  size_t got = std::fread(signature, 1, sizeof signature, file);
  if (got != sizeof signature || png_sig_cmp(signature, 0, sizeof signature) != 0) {
    std::fclose(file);
    fail(path, ": not a PNG file (only PNG images are supported yet)");
  }
  std::rewind(file);
  PngErrorState state{};
  PngHeader header;
  std::vector<uint8_t> pixels;
  std::vector<png_bytep> rowPointers;
  bool badSize = false;
  bool ok = decodePng(file, state, header, pixels, rowPointers, patchSize, badSize);
  std::fclose(file);
  if (!ok)
    fail(path, ": corrupt or unreadable PNG: ", state.message);
  if (badSize)
    fail(path, ": image is ", header.width, "x", header.height, " pixels; both sides must be "
         "multiples of ", patchSize, " (resizing is not supported yet)");
  if (header.width == 0 || header.height == 0)
    fail(path, ": image is empty");

  ImagePatches out;
  out.path = path;
  out.width = header.width;
  out.height = header.height;
  out.patchSize = patchSize;
  out.columns = out.width / patchSize;
  out.rows = out.height / patchSize;
  out.count = out.columns * out.rows;
  out.patchDim = patchSize * patchSize * 3;
  out.patches.resize(static_cast<size_t>(out.count * out.patchDim));
  out.positions.resize(static_cast<size_t>(out.count * 2));
  const size_t stride = static_cast<size_t>(out.width) * 3;
  float *dst = out.patches.data();
  for (int64_t r = 0; r < out.rows; ++r) {
    for (int64_t c = 0; c < out.columns; ++c) {
      int64_t index = r * out.columns + c;
      out.positions[index * 2] = static_cast<int32_t>(c);
      out.positions[index * 2 + 1] = static_cast<int32_t>(r);
      for (int64_t y = 0; y < patchSize; ++y) {
        const uint8_t *src = pixels.data() + static_cast<size_t>(r * patchSize + y) * stride +
                             static_cast<size_t>(c * patchSize) * 3;
        for (int64_t x = 0; x < patchSize * 3; ++x)
          *dst++ = static_cast<float>(src[x]) / 255.0f;
      }
    }
  }
  return out;
}

AudioFrames loadAudioFrames(const std::string &path, int64_t frameSize, int64_t sampleRate) {
  if (frameSize <= 0)
    fail(path, ": invalid audio frame size ", frameSize);
  SF_INFO info;
  std::memset(&info, 0, sizeof info);
  SNDFILE *file = sf_open(path.c_str(), SFM_READ, &info);
  if (file == nullptr)
    fail(path, ": cannot read audio: ", sf_strerror(nullptr));
  if (info.samplerate != sampleRate) {
    int rate = info.samplerate;
    sf_close(file);
    fail(path, ": audio sample rate is ", rate, " Hz but the model expects ", sampleRate,
         " Hz (resampling is not supported yet)");
  }
  if (info.channels <= 0) {
    sf_close(file);
    fail(path, ": audio has no channels");
  }
  const int channels = info.channels;
  AudioFrames out;
  out.path = path;
  out.frameSize = frameSize;
  std::vector<float> mono;
  if (info.frames > 0)
    mono.reserve(static_cast<size_t>(info.frames));
  std::vector<float> chunk(static_cast<size_t>(4096) * channels);
  for (;;) {
    sf_count_t n = sf_readf_float(file, chunk.data(), 4096);
    if (n <= 0)
      break;
    for (sf_count_t i = 0; i < n; ++i) {
      float sum = 0.0f;
      for (int ch = 0; ch < channels; ++ch)
        sum += chunk[static_cast<size_t>(i) * channels + ch];
      mono.push_back(channels == 1 ? sum : sum / static_cast<float>(channels));
    }
  }
  int err = sf_error(file);
  std::string why = err ? sf_strerror(file) : "";
  sf_close(file);
  if (err != 0)
    fail(path, ": error while decoding audio: ", why);
  if (mono.empty())
    fail(path, ": audio has no samples");
  out.samples = static_cast<int64_t>(mono.size());
  out.count = (out.samples + frameSize - 1) / frameSize;
  out.frames.assign(static_cast<size_t>(out.count * frameSize), 0.0f);
  std::memcpy(out.frames.data(), mono.data(), mono.size() * sizeof(float));
  return out;
}

} // namespace loom
