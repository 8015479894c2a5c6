// Tests the image and audio loaders: the resize rule, patch order and values, positions, PNG and
// JPEG conversions, EXIF orientation, resampling, padding, and one test per input error.
#include "loom/Error.h"
#include "loom/Runtime/ImageDecode.h"
#include "loom/Runtime/Media.h"

#include <gtest/gtest.h>
#include <png.h>
#include <sndfile.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <fstream>
#include <unistd.h>
#include <zlib.h>
// jpeglib.h needs FILE and size_t first.
#include <jpeglib.h>

namespace {

std::string tempPath(const std::string &name) {
  return ::testing::TempDir() + "/loom_media_" + std::to_string(::getpid()) + "_" + name;
}

// Writes a PNG; sample(x, y, channel) gives each sample (8- or 16-bit range).
void writePng(const std::string &path, int width, int height, int colorType, int bitDepth,
              const std::function<int(int, int, int)> &sample,
              const std::vector<png_color> &palette = {}) {
  FILE *file = std::fopen(path.c_str(), "wb");
  ASSERT_NE(file, nullptr);
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png_create_info_struct(png);
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, &info);
    std::fclose(file);
    FAIL() << "libpng write error";
  }
  png_init_io(png, file);
  png_set_IHDR(png, info, width, height, bitDepth, colorType, PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  if (colorType == PNG_COLOR_TYPE_PALETTE)
    png_set_PLTE(png, info, palette.data(), static_cast<int>(palette.size()));
  png_write_info(png, info);
  int channels = colorType == PNG_COLOR_TYPE_GRAY         ? 1
                 : colorType == PNG_COLOR_TYPE_GRAY_ALPHA ? 2
                 : colorType == PNG_COLOR_TYPE_RGB        ? 3
                 : colorType == PNG_COLOR_TYPE_RGBA       ? 4
                                                          : 1;
  int bytesPerSample = bitDepth == 16 ? 2 : 1;
  std::vector<uint8_t> row(static_cast<size_t>(width) * channels * bytesPerSample);
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x)
      for (int c = 0; c < channels; ++c) {
        int v = sample(x, y, c);
        size_t at = (static_cast<size_t>(x) * channels + c) * bytesPerSample;
        if (bytesPerSample == 2) {
          row[at] = static_cast<uint8_t>(v >> 8); // PNG is big-endian
          row[at + 1] = static_cast<uint8_t>(v & 0xff);
        } else {
          row[at] = static_cast<uint8_t>(v);
        }
      }
    png_write_row(png, row.data());
  }
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  std::fclose(file);
}

int rgbSample(int x, int y, int c) { return (x * 3 + y * 5 + c * 7) % 256; }

std::string errorOf(const std::function<void()> &body) {
  try {
    body();
  } catch (const loom::Error &e) {
    return e.what();
  }
  return "";
}


// Writes a baseline JPEG (quality 95) of sample(x, y, channel), with an EXIF APP1 segment
// holding `orientation` when it is not 0.
void writeJpeg(const std::string &path, int width, int height,
               const std::function<int(int, int, int)> &sample, int orientation = 0,
               bool bigEndianExif = false) {
  FILE *file = std::fopen(path.c_str(), "wb");
  ASSERT_NE(file, nullptr);
  jpeg_compress_struct info{};
  jpeg_error_mgr errors{};
  info.err = jpeg_std_error(&errors);
  jpeg_create_compress(&info);
  jpeg_stdio_dest(&info, file);
  info.image_width = width;
  info.image_height = height;
  info.input_components = 3;
  info.in_color_space = JCS_RGB;
  jpeg_set_defaults(&info);
  jpeg_set_quality(&info, 95, TRUE);
  jpeg_start_compress(&info, TRUE);
  if (orientation != 0) {
    // "Exif\0\0", a TIFF header, and IFD0 with one SHORT entry: tag 0x0112.
    std::vector<uint8_t> exif = {'E', 'x', 'i', 'f', 0, 0};
    auto put16 = [&](int v) {
      if (bigEndianExif) { exif.push_back(v >> 8); exif.push_back(v & 0xff); }
      else { exif.push_back(v & 0xff); exif.push_back(v >> 8); }
    };
    auto put32 = [&](int v) {
      if (bigEndianExif) { put16(v >> 16); put16(v & 0xffff); }
      else { put16(v & 0xffff); put16(v >> 16); }
    };
    exif.push_back(bigEndianExif ? 'M' : 'I');
    exif.push_back(bigEndianExif ? 'M' : 'I');
    put16(42);
    put32(8);      // IFD0 right after the header
    put16(1);      // one entry
    put16(0x0112); // orientation
    put16(3);      // SHORT
    put32(1);      // count
    put16(orientation);
    put16(0);
    put32(0);      // no next IFD
    jpeg_write_marker(&info, JPEG_APP0 + 1, exif.data(), static_cast<unsigned>(exif.size()));
  }
  std::vector<uint8_t> row(static_cast<size_t>(width) * 3);
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x)
      for (int c = 0; c < 3; ++c)
        row[static_cast<size_t>(x) * 3 + c] = static_cast<uint8_t>(sample(x, y, c));
    JSAMPROW rows[1] = {row.data()};
    jpeg_write_scanlines(&info, rows, 1);
  }
  jpeg_finish_compress(&info);
  jpeg_destroy_compress(&info);
  std::fclose(file);
}

std::string fileBytes(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

} // namespace

TEST(Media, ResizeRuleFollowsTheProcessor) {
  using Size = std::pair<int64_t, int64_t>;
  // MODEL.md's worked example, then downsampling, upsampling and mixed cases.
  EXPECT_EQ(loom::imageResizeTarget(896, 896, 280), (Size{768, 768}));
  EXPECT_EQ(loom::imageResizeTarget(451, 300, 70), (Size{480, 288}));
  EXPECT_EQ(loom::imageResizeTarget(600, 400, 280), (Size{960, 624}));
  EXPECT_EQ(loom::imageResizeTarget(144, 96, 280), (Size{960, 624}));
  EXPECT_EQ(loom::imageResizeTarget(512, 512, 1120), (Size{1584, 1584}));
  EXPECT_EQ(loom::imageResizeTarget(4000, 3000, 140), (Size{624, 480}));
  // Already the largest fitting size: unchanged.
  EXPECT_EQ(loom::imageResizeTarget(432, 336, 70), (Size{432, 336}));
  // A side that rounds to zero becomes 48; the other floor(ratio) * 48, capped at budget * 48.
  // (Values from transformers' get_aspect_ratio_preserving_size.)
  EXPECT_EQ(loom::imageResizeTarget(10000, 10, 70), (Size{3360, 48}));
  EXPECT_EQ(loom::imageResizeTarget(10, 10000, 70), (Size{48, 3360}));
  EXPECT_EQ(loom::imageResizeTarget(30000, 20, 1120), (Size{53760, 48}));
  // Every budget stays within budget patches.
  for (int64_t budget : loom::kImageTokenBudgets)
    for (auto [w, h] : {Size{1, 1}, Size{333, 777}, Size{1920, 1080}, Size{48, 48}}) {
      auto [tw, th] = loom::imageResizeTarget(w, h, budget);
      EXPECT_EQ(tw % 48, 0);
      EXPECT_EQ(th % 48, 0);
      EXPECT_LE((tw / 48) * (th / 48), budget) << w << "x" << h << " @" << budget;
    }
}

TEST(Media, PatchesInRasterOrderWithoutResize) {
  // 432x336 is its own target at 70 tokens: the pixels pass through untouched.
  std::string path = tempPath("rgb.png");
  writePng(path, 432, 336, PNG_COLOR_TYPE_RGB, 8, rgbSample);
  loom::ImagePatches image = loom::loadImagePatches(path, 70);
  EXPECT_EQ(image.path, path);
  EXPECT_EQ(image.width, 432);
  EXPECT_EQ(image.height, 336);
  EXPECT_EQ(image.columns, 9);
  EXPECT_EQ(image.rows, 7);
  ASSERT_EQ(image.count, 63);
  ASSERT_EQ(image.patchDim, 6912);
  ASSERT_EQ(image.patches.size(), 63u * 6912);
  const float reciprocal = static_cast<float>(1.0 / 255.0);
  for (int p = 0; p < 63; ++p) {
    int column = p % 9, row = p / 9;
    ASSERT_EQ(image.positions[p * 2], column);
    ASSERT_EQ(image.positions[p * 2 + 1], row);
    for (int y = 0; y < 48; ++y)
      for (int x = 0; x < 48; ++x)
        for (int c = 0; c < 3; ++c) {
          float got = image.patches[static_cast<size_t>(p) * 6912 + (y * 48 + x) * 3 + c];
          // The processor's rescale: level * float32(1/255), not level / 255.
          float want = static_cast<float>(rgbSample(column * 48 + x, row * 48 + y, c)) * reciprocal;
          ASSERT_EQ(got, want) << "patch " << p << " y " << y << " x " << x << " c " << c;
        }
  }
  std::remove(path.c_str());
}

TEST(Media, ResizedImageHasTheBudgetsGrid) {
  std::string path = tempPath("small.png");
  writePng(path, 96, 144, PNG_COLOR_TYPE_RGB, 8, rgbSample);
  loom::ImagePatches image = loom::loadImagePatches(path); // default budget 280
  EXPECT_EQ(image.width, 624);
  EXPECT_EQ(image.height, 960);
  EXPECT_EQ(image.count, 13 * 20);
  EXPECT_EQ(image.positions[2 * 13], 0); // first patch of the second row
  EXPECT_EQ(image.positions[2 * 13 + 1], 1);
  for (float v : image.patches)
    ASSERT_TRUE(v >= 0.0f && v <= 1.0f);
  std::remove(path.c_str());
}

TEST(Media, PngFormatsBecome8BitRgb) {
  // 384x384 is its own target at 70 tokens, so the decoded pixels are the patch values.
  const float r = static_cast<float>(1.0 / 255.0);
  auto at = [](int x, int y, int c) { return static_cast<size_t>((y * 48 + x) * 3 + c); };
  // Gray 8-bit: replicated into R, G, B.
  std::string gray = tempPath("gray.png");
  writePng(gray, 384, 384, PNG_COLOR_TYPE_GRAY, 8, [](int x, int y, int) { return (x + y) % 256; });
  loom::ImagePatches g = loom::loadImagePatches(gray, 70);
  ASSERT_EQ(g.count, 64);
  EXPECT_EQ(g.patches[at(5, 2, 0)], 7.0f * r);
  EXPECT_EQ(g.patches[at(5, 2, 2)], 7.0f * r);

  // RGBA 16-bit: the high byte of each sample, alpha dropped.
  std::string rgba = tempPath("rgba16.png");
  writePng(rgba, 384, 384, PNG_COLOR_TYPE_RGBA, 16,
           [](int x, int, int c) { return c == 3 ? 0 : (((x + c) % 256) << 8) | 0x7f; });
  loom::ImagePatches a = loom::loadImagePatches(rgba, 70);
  EXPECT_EQ(a.patches[at(10, 0, 0)], 10.0f * r);
  EXPECT_EQ(a.patches[at(10, 0, 2)], 12.0f * r);

  // Palette.
  std::string pal = tempPath("palette.png");
  std::vector<png_color> colors = {{10, 20, 30}, {200, 100, 50}};
  writePng(pal, 384, 384, PNG_COLOR_TYPE_PALETTE, 8, [](int, int y, int) { return y >= 48; },
           colors);
  loom::ImagePatches p = loom::loadImagePatches(pal, 70);
  ASSERT_EQ(p.count, 64);
  EXPECT_EQ(p.patches[0], 10.0f * r);
  EXPECT_EQ(p.patches[1], 20.0f * r);
  EXPECT_EQ(p.patches[8 * 6912 + 0], 200.0f * r); // first patch of the second row
  EXPECT_EQ(p.patches[8 * 6912 + 2], 50.0f * r);
  for (const std::string &f : {gray, rgba, pal})
    std::remove(f.c_str());
}

TEST(Media, JpegDecodedByContentNotExtension) {
  // A JPEG named .png: chosen by its signature. Lossy, so compared within JPEG's error.
  auto smooth = [](int x, int y, int c) {
    return static_cast<int>(128 + 100 * std::sin(0.03 * x + 0.02 * y + c));
  };
  std::string path = tempPath("photo.png");
  writeJpeg(path, 384, 384, smooth);
  loom::ImagePatches image = loom::loadImagePatches(path, 70);
  ASSERT_EQ(image.count, 64);
  double worst = 0;
  for (int y = 0; y < 48; ++y)
    for (int x = 0; x < 48; ++x)
      for (int c = 0; c < 3; ++c)
        worst = std::max(worst, std::abs(image.patches[(y * 48 + x) * 3 + c] * 255.0 -
                                         smooth(x, y, c)));
  EXPECT_LT(worst, 8.0); // quality 95, chroma subsampled
  loom::RgbImage decoded = loom::decodeImage(path);
  EXPECT_EQ(decoded.width, 384);
  std::remove(path.c_str());
}

TEST(Media, JpegExifOrientationApplied) {
  // The same picture with each orientation tag: decoding equals the untagged decode transformed.
  auto sample = [](int x, int y, int c) { return (x * 5 + y * 11 + c * 80) % 256; };
  std::string plain = tempPath("plain.jpg");
  writeJpeg(plain, 64, 40, sample);
  const loom::RgbImage upright = loom::decodeImage(plain);
  for (int orientation = 1; orientation <= 8; ++orientation)
    for (bool bigEndian : {false, true}) {
      std::string tagged = tempPath("exif" + std::to_string(orientation) + ".jpg");
      writeJpeg(tagged, 64, 40, sample, orientation, bigEndian);
      loom::RgbImage got = loom::decodeImage(tagged);
      loom::RgbImage want = loom::applyExifOrientation(upright, orientation);
      EXPECT_EQ(got.width, orientation >= 5 ? 40 : 64) << orientation;
      EXPECT_EQ(got.pixels, want.pixels) << "orientation " << orientation;
      std::remove(tagged.c_str());
    }
  std::remove(plain.c_str());
}

TEST(Media, ExifOrientationsMoveCornersAsPillow) {
  // A 3x2 image: pixel value = 10 * row + column (first channel).
  loom::RgbImage image;
  image.width = 3;
  image.height = 2;
  for (int r = 0; r < 2; ++r)
    for (int c = 0; c < 3; ++c)
      for (int k = 0; k < 3; ++k)
        image.pixels.push_back(static_cast<uint8_t>(10 * r + c));
  auto firstRow = [](const loom::RgbImage &im) {
    std::vector<int> row;
    for (int c = 0; c < im.width; ++c)
      row.push_back(im.pixels[static_cast<size_t>(c) * 3]);
    return row;
  };
  // Pillow's exif_transpose: 2 mirror, 3 rotate 180, 4 flip, 5 transpose, 6 rotate 270 (90 cw),
  // 7 transverse, 8 rotate 90 (90 ccw).
  EXPECT_EQ(firstRow(loom::applyExifOrientation(image, 1)), (std::vector<int>{0, 1, 2}));
  EXPECT_EQ(firstRow(loom::applyExifOrientation(image, 2)), (std::vector<int>{2, 1, 0}));
  EXPECT_EQ(firstRow(loom::applyExifOrientation(image, 3)), (std::vector<int>{12, 11, 10}));
  EXPECT_EQ(firstRow(loom::applyExifOrientation(image, 4)), (std::vector<int>{10, 11, 12}));
  EXPECT_EQ(firstRow(loom::applyExifOrientation(image, 5)), (std::vector<int>{0, 10}));
  EXPECT_EQ(firstRow(loom::applyExifOrientation(image, 6)), (std::vector<int>{10, 0}));
  EXPECT_EQ(firstRow(loom::applyExifOrientation(image, 7)), (std::vector<int>{12, 2}));
  EXPECT_EQ(firstRow(loom::applyExifOrientation(image, 8)), (std::vector<int>{2, 12}));
}

// ---- One test per image error -----------------------------------------------------------

TEST(MediaErrors, ImageMissingFile) {
  std::string missing = tempPath("missing.png");
  std::string message = errorOf([&] { loom::loadImagePatches(missing); });
  EXPECT_NE(message.find(missing), std::string::npos) << message;
  EXPECT_NE(message.find("cannot open image"), std::string::npos) << message;
}

TEST(MediaErrors, ImageUnknownFormat) {
  std::string text = tempPath("text.png");
  std::ofstream(text) << "hello, this is not an image";
  std::string message = errorOf([&] { loom::loadImagePatches(text); });
  EXPECT_NE(message.find(text), std::string::npos) << message;
  EXPECT_NE(message.find("expected a PNG or JPEG"), std::string::npos) << message;
  std::remove(text.c_str());
}

TEST(MediaErrors, ImageCorruptPng) {
  std::string good = tempPath("good.png");
  writePng(good, 48, 48, PNG_COLOR_TYPE_RGB, 8, rgbSample);
  std::string bytes = fileBytes(good);
  std::string truncated = tempPath("truncated.png");
  std::ofstream(truncated, std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  std::string message = errorOf([&] { loom::loadImagePatches(truncated); });
  EXPECT_NE(message.find(truncated), std::string::npos) << message;
  EXPECT_NE(message.find("corrupt or unreadable PNG"), std::string::npos) << message;
  for (const std::string &f : {good, truncated})
    std::remove(f.c_str());
}

TEST(MediaErrors, ImageCorruptJpegDoesNotExit) {
  // libjpeg's default error handler would exit the process; Loom's throws.
  std::string good = tempPath("good.jpg");
  writeJpeg(good, 96, 96, rgbSample);
  std::string bytes = fileBytes(good);
  std::string truncated = tempPath("truncated.jpg");
  std::ofstream(truncated, std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  std::string message = errorOf([&] { loom::loadImagePatches(truncated); });
  EXPECT_NE(message.find(truncated), std::string::npos) << message;
  EXPECT_NE(message.find("corrupt or unreadable JPEG"), std::string::npos) << message;
  std::string damaged = tempPath("damaged.jpg");
  std::ofstream(damaged, std::ios::binary) << bytes.substr(0, 3) << std::string(200, '\x55');
  message = errorOf([&] { loom::loadImagePatches(damaged); });
  EXPECT_NE(message.find("corrupt or unreadable JPEG"), std::string::npos) << message;
  for (const std::string &f : {good, truncated, damaged})
    std::remove(f.c_str());
}

// A PNG file's bytes with the IHDR chunk's width and height replaced (and its CRC made to match,
// so only the declared size is wrong).
std::string withPngSize(std::string bytes, uint32_t width, uint32_t height) {
  for (int i = 0; i < 4; ++i) { // big-endian
    bytes[16 + i] = static_cast<char>(width >> (24 - 8 * i));
    bytes[20 + i] = static_cast<char>(height >> (24 - 8 * i));
  }
  uint32_t crc = static_cast<uint32_t>(::crc32(0, reinterpret_cast<const Bytef *>(&bytes[12]), 17));
  for (int i = 0; i < 4; ++i)
    bytes[29 + i] = static_cast<char>(crc >> (24 - 8 * i));
  return bytes;
}

TEST(MediaErrors, ImageWithZeroSide) {
  // A PNG whose header says width 0.
  std::string good = tempPath("one.png");
  writePng(good, 48, 48, PNG_COLOR_TYPE_RGB, 8, rgbSample);
  std::string zero = tempPath("zero.png");
  std::ofstream(zero, std::ios::binary) << withPngSize(fileBytes(good), 0, 48);
  std::string message = errorOf([&] { loom::loadImagePatches(zero); });
  EXPECT_NE(message.find(zero), std::string::npos) << message;
  EXPECT_NE(message.find("width is zero"), std::string::npos) << message;
  for (const std::string &f : {good, zero})
    std::remove(f.c_str());
}

TEST(MediaErrors, ImageBadTokenBudget) {
  std::string path = tempPath("budget.png");
  writePng(path, 48, 48, PNG_COLOR_TYPE_RGB, 8, rgbSample);
  std::string message = errorOf([&] { loom::loadImagePatches(path, 100); });
  EXPECT_NE(message.find(path), std::string::npos) << message;
  EXPECT_NE(message.find("budget 100"), std::string::npos) << message;
  EXPECT_NE(message.find("70, 140, 280, 560, 1120"), std::string::npos) << message;
  message = errorOf([] { loom::checkImageTokenBudget(0, "--image-budget"); });
  EXPECT_NE(message.find("--image-budget"), std::string::npos) << message;
  std::remove(path.c_str());
}

namespace {
void writeWav(const std::string &path, int rate, int channels, int format,
              const std::vector<short> &samples) {
  SF_INFO info{};
  info.samplerate = rate;
  info.channels = channels;
  info.format = SF_FORMAT_WAV | format;
  SNDFILE *file = sf_open(path.c_str(), SFM_WRITE, &info);
  ASSERT_NE(file, nullptr) << sf_strerror(nullptr);
  ASSERT_EQ(sf_write_short(file, samples.data(), static_cast<sf_count_t>(samples.size())),
            static_cast<sf_count_t>(samples.size()));
  sf_close(file);
}
} // namespace

TEST(Media, WavFramesExactWithPadding) {
  std::string path = tempPath("mono.wav");
  std::vector<short> samples(1000);
  for (size_t i = 0; i < samples.size(); ++i)
    samples[i] = static_cast<short>(static_cast<int>(i) * 37 % 65536 - 32768);
  writeWav(path, 16000, 1, SF_FORMAT_PCM_16, samples);
  loom::AudioFrames audio = loom::loadAudioFrames(path);
  EXPECT_EQ(audio.samples, 1000);
  ASSERT_EQ(audio.count, 2);
  ASSERT_EQ(audio.frameSize, 640);
  ASSERT_EQ(audio.frames.size(), 1280u);
  for (size_t i = 0; i < 1280; ++i) {
    float want = i < 1000 ? static_cast<float>(samples[i]) / 32768.0f : 0.0f;
    ASSERT_EQ(audio.frames[i], want) << i;
  }
  std::remove(path.c_str());
}

TEST(Media, WavExactMultipleHasNoExtraFrame) {
  std::string path = tempPath("exact.wav");
  writeWav(path, 16000, 1, SF_FORMAT_PCM_16, std::vector<short>(1280, 1000));
  loom::AudioFrames audio = loom::loadAudioFrames(path);
  EXPECT_EQ(audio.count, 2);
  EXPECT_EQ(audio.frames.back(), 1000.0f / 32768.0f);
  std::remove(path.c_str());
}

TEST(Media, WavStereoAveraged) {
  std::string path = tempPath("stereo.wav");
  std::vector<short> interleaved;
  for (int i = 0; i < 700; ++i) {
    interleaved.push_back(static_cast<short>(i * 8));  // left
    interleaved.push_back(static_cast<short>(-i * 4)); // right
  }
  writeWav(path, 16000, 2, SF_FORMAT_PCM_16, interleaved);
  loom::AudioFrames audio = loom::loadAudioFrames(path);
  EXPECT_EQ(audio.samples, 700);
  ASSERT_EQ(audio.count, 2);
  for (int i = 0; i < 700; ++i)
    ASSERT_EQ(audio.frames[i], (i * 8 / 32768.0f + -i * 4 / 32768.0f) / 2.0f) << i;
  EXPECT_EQ(audio.frames[700], 0.0f);
  std::remove(path.c_str());
}

TEST(Media, OtherRatesResampledTo16k) {
  // A 1 kHz sine at 44.1 kHz stereo (same in both channels): after resampling, the samples are
  // the sine at 16 kHz (checked away from the edges, where the filter starts and stops).
  std::string path = tempPath("cd.wav");
  const int n = 44100;
  std::vector<short> interleaved;
  for (int i = 0; i < n; ++i) {
    short v = static_cast<short>(std::lround(16000 * std::sin(2 * M_PI * 1000.0 * i / 44100.0)));
    interleaved.push_back(v);
    interleaved.push_back(v);
  }
  writeWav(path, 44100, 2, SF_FORMAT_PCM_16, interleaved);
  loom::AudioFrames audio = loom::loadAudioFrames(path);
  EXPECT_EQ(audio.samples, 16000); // ceil(44100 * 16000 / 44100)
  ASSERT_EQ(audio.count, 25);
  double worst = 0;
  for (int i = 200; i < 15800; ++i)
    worst = std::max(worst, std::abs(audio.frames[i] -
                                     16000.0 / 32768.0 * std::sin(2 * M_PI * 1000.0 * i / 16000.0)));
  EXPECT_LT(worst, 2e-3);
  // 22050 Hz: ceil(1001 * 16000 / 22050) = 727 samples.
  std::string odd = tempPath("22k.wav");
  writeWav(odd, 22050, 1, SF_FORMAT_PCM_16, std::vector<short>(1001, 1000));
  EXPECT_EQ(loom::loadAudioFrames(odd).samples, 727);
  for (const std::string &f : {path, odd})
    std::remove(f.c_str());
}

TEST(Media, FlacAndOggRead) {
  std::vector<short> samples(3000);
  for (size_t i = 0; i < samples.size(); ++i)
    samples[i] = static_cast<short>(8000 * std::sin(0.05 * static_cast<double>(i)));
  for (int major : {SF_FORMAT_FLAC | SF_FORMAT_PCM_16, SF_FORMAT_OGG | SF_FORMAT_VORBIS}) {
    std::string path = tempPath(major & SF_FORMAT_FLAC ? "a.flac" : "a.ogg");
    SF_INFO info{};
    info.samplerate = 16000;
    info.channels = 1;
    info.format = major;
    SNDFILE *file = sf_open(path.c_str(), SFM_WRITE, &info);
    ASSERT_NE(file, nullptr) << sf_strerror(nullptr);
    sf_write_short(file, samples.data(), static_cast<sf_count_t>(samples.size()));
    sf_close(file);
    loom::AudioFrames audio = loom::loadAudioFrames(path);
    EXPECT_EQ(audio.samples, 3000) << path;
    double worst = 0;
    for (size_t i = 0; i < samples.size(); ++i)
      worst = std::max(worst, std::abs(audio.frames[i] - samples[i] / 32768.0));
    // FLAC is lossless; Vorbis is not.
    EXPECT_LE(worst, (major & SF_FORMAT_FLAC) ? 0.0 : 0.02) << path;
    std::remove(path.c_str());
  }
}

// ---- One test per audio error -----------------------------------------------------------

TEST(MediaErrors, AudioMissingFile) {
  std::string missing = tempPath("missing.wav");
  std::string message = errorOf([&] { loom::loadAudioFrames(missing); });
  EXPECT_NE(message.find(missing), std::string::npos) << message;
  EXPECT_NE(message.find("cannot read audio"), std::string::npos) << message;
}

TEST(MediaErrors, AudioUnsupportedFormat) {
  std::string path = tempPath("picture.wav");
  writePng(path, 48, 48, PNG_COLOR_TYPE_RGB, 8, rgbSample);
  std::string message = errorOf([&] { loom::loadAudioFrames(path); });
  EXPECT_NE(message.find(path), std::string::npos) << message;
  EXPECT_NE(message.find("expected a WAV, FLAC, Ogg"), std::string::npos) << message;
  std::string junk = tempPath("junk.wav");
  std::ofstream(junk) << "RIFF....WAVEnot really";
  message = errorOf([&] { loom::loadAudioFrames(junk); });
  EXPECT_NE(message.find(junk), std::string::npos) << message;
  for (const std::string &f : {path, junk})
    std::remove(f.c_str());
}

TEST(MediaErrors, AudioWithoutSamples) {
  std::string path = tempPath("empty.wav");
  writeWav(path, 16000, 1, SF_FORMAT_PCM_16, {});
  std::string message = errorOf([&] { loom::loadAudioFrames(path); });
  EXPECT_NE(message.find(path), std::string::npos) << message;
  EXPECT_NE(message.find("no samples"), std::string::npos) << message;
  std::remove(path.c_str());
}

// Found: a 194 KB PNG declaring 20000x20000 pixels took 1.3 GB before failing. The declared size
// is now refused from the header, before any pixel buffer exists.
TEST(MediaErrors, ImageDeclaringTooManyPixelsIsRefusedFromItsHeader) {
  std::string good = tempPath("small.png");
  writePng(good, 48, 48, PNG_COLOR_TYPE_RGB, 8, rgbSample);
  std::string huge = tempPath("huge.png");
  std::ofstream(huge, std::ios::binary) << withPngSize(fileBytes(good), 20000, 20000);
  std::string message = errorOf([&] { loom::loadImagePatches(huge); });
  EXPECT_NE(message.find(huge + ": the PNG header declares 20000x20000 = 400000000 pixels, more "
                                "than the limit of 89478485"), std::string::npos) << message;

  // The same for a JPEG: its SOF0 frame header declares 65000x65000.
  std::string jpeg = tempPath("small.jpg");
  writeJpeg(jpeg, 48, 48, rgbSample);
  std::string bytes = fileBytes(jpeg);
  const size_t sof = bytes.find("\xff\xc0");
  ASSERT_NE(sof, std::string::npos);
  for (size_t at : {sof + 5, sof + 7}) { // height, then width, big-endian
    bytes[at] = static_cast<char>(65000 >> 8);
    bytes[at + 1] = static_cast<char>(65000 & 0xff);
  }
  std::string hugeJpeg = tempPath("huge.jpg");
  std::ofstream(hugeJpeg, std::ios::binary) << bytes;
  message = errorOf([&] { loom::loadImagePatches(hugeJpeg); });
  EXPECT_NE(message.find(hugeJpeg + ": the JPEG header declares 65000x65000"), std::string::npos)
      << message;
  for (const std::string &f : {good, huge, jpeg, hugeJpeg})
    std::remove(f.c_str());
}

// Found: a 32 KB WAV declaring a 1 Hz sample rate grew to 2.1 GB while being resampled. Its
// duration is now refused from the header, before decoding.
TEST(MediaErrors, AudioLongerThanTheLimitIsRefusedFromItsHeader) {
  std::string path = tempPath("one-hertz.wav");
  writeWav(path, 1, 1, SF_FORMAT_PCM_16, std::vector<short>(16000, 100));
  std::string message = errorOf([&] { loom::loadAudioFrames(path); });
  EXPECT_NE(message.find(path + ": the audio header holds 16000 samples at 1 Hz (16000 s), "
                                "longer than the limit of 3600 s"), std::string::npos) << message;
  std::remove(path.c_str());
}

// Found by AudioDecodeFuzzer: the header's frame count was reserved as is, so a 94-byte FLAC
// claiming 3.2 G samples allocated 12.9 GB, and one claiming more than vector::max_size() threw
// std::length_error, which is not a loom::Error. Now each is read for what it holds.
TEST(MediaErrors, AudioHeadersThatOverstateTheirFramesAreNotTrusted) {
  for (const char *name : {"regression-flac-claims-3g-frames.flac",
                           "regression-flac-frames-past-vector-max.flac"}) {
    const std::string path = std::string(LOOM_SOURCE_DIR) + "/test/fuzz/seeds/audio/" + name;
    try {
      loom::loadAudioFrames(path);
    } catch (const loom::Error &error) {
      EXPECT_NE(std::string(error.what()).find(path), std::string::npos) << error.what();
    }
  }
}

// ---- In-memory sources: a file's bytes, decoded pixels, samples -------------------------
// Each must give exactly what the file gives (the file path is the one checked against the
// Hugging Face processor's goldens).

namespace {
void expectSamePatches(const loom::ImagePatches &got, const loom::ImagePatches &want,
                       const std::string &what) {
  EXPECT_EQ(got.width, want.width) << what;
  EXPECT_EQ(got.height, want.height) << what;
  EXPECT_EQ(got.positions, want.positions) << what;
  EXPECT_EQ(got.patches, want.patches) << what;
}

void expectSameFrames(const loom::AudioFrames &got, const loom::AudioFrames &want,
                      const std::string &what) {
  EXPECT_EQ(got.samples, want.samples) << what;
  EXPECT_EQ(got.count, want.count) << what;
  EXPECT_EQ(got.frames, want.frames) << what;
}
} // namespace

TEST(MediaFromMemory, ImageBytesAndPixelsGiveTheFilesPatches) {
  std::string png = tempPath("memory.png"), jpeg = tempPath("memory.jpg");
  writePng(png, 100, 60, PNG_COLOR_TYPE_RGB, 8, rgbSample);
  writeJpeg(jpeg, 64, 40, [](int x, int y, int c) { return (x * 5 + y * 11 + c * 80) % 256; },
            /*orientation=*/6);
  for (const std::string &path : {png, jpeg}) {
    const loom::ImagePatches file = loom::loadImagePatches(path, 70);
    const std::string bytes = fileBytes(path);
    expectSamePatches(loom::imagePatches(loom::decodeImageBytes(bytes.data(), bytes.size(), "b"),
                                         "b", 70),
                      file, path + " as bytes");
    const loom::RgbImage decoded = loom::decodeImage(path); // EXIF orientation applied
    expectSamePatches(loom::imagePatches(loom::imageFromPixels(decoded.pixels.data(),
                                                               decoded.width, decoded.height, "p"),
                                         "p", 70),
                      file, path + " as pixels");
    std::remove(path.c_str());
  }
}

TEST(MediaFromMemory, AudioBytesAndSamplesGiveTheFilesFrames) {
  // Stereo at 44.1 kHz: averaged and resampled in every form.
  std::vector<short> interleaved;
  for (int i = 0; i < 5000; ++i) {
    interleaved.push_back(static_cast<short>(9000 * std::sin(0.03 * i)));
    interleaved.push_back(static_cast<short>(-4000 * std::cos(0.07 * i)));
  }
  std::string wav = tempPath("memory.wav");
  writeWav(wav, 44100, 2, SF_FORMAT_PCM_16, interleaved);
  const loom::AudioFrames file = loom::loadAudioFrames(wav);
  const std::string bytes = fileBytes(wav);
  expectSameFrames(loom::loadAudioFramesFromBytes(bytes.data(), bytes.size(), "b"), file,
                   "WAV bytes");
  // libsndfile reads 16-bit PCM as s / 32768.
  std::vector<float> samples;
  for (short s : interleaved)
    samples.push_back(static_cast<float>(s) / 32768.0f);
  expectSameFrames(loom::audioFramesFromSamples(samples.data(), 5000, 2, 44100, "s"), file,
                   "samples");

  // FLAC seeks in its stream: the memory stream must support that too.
  std::string flac = tempPath("memory.flac");
  SF_INFO info{};
  info.samplerate = 16000;
  info.channels = 1;
  info.format = SF_FORMAT_FLAC | SF_FORMAT_PCM_16;
  SNDFILE *out = sf_open(flac.c_str(), SFM_WRITE, &info);
  ASSERT_NE(out, nullptr) << sf_strerror(nullptr);
  sf_write_short(out, interleaved.data(), 3000);
  sf_close(out);
  const std::string flacBytes = fileBytes(flac);
  expectSameFrames(loom::loadAudioFramesFromBytes(flacBytes.data(), flacBytes.size(), "f"),
                   loom::loadAudioFrames(flac), "FLAC bytes");
  for (const std::string &path : {wav, flac})
    std::remove(path.c_str());
}

// A model opened with lower limits (a server's) refuses larger media from their headers, in
// every form, and names the limit; media at the limit pass.
TEST(MediaErrors, LowerLimitsRefuseLargerMedia) {
  loom::MediaLimits limits;
  limits.maxImagePixels = 5999;
  limits.maxSeconds = 1;
  std::string png = tempPath("limit.png"), jpeg = tempPath("limit.jpg"), wav = tempPath("limit.wav");
  writePng(png, 100, 60, PNG_COLOR_TYPE_RGB, 8, rgbSample);
  writeJpeg(jpeg, 100, 60, [](int x, int y, int c) { return (x + y + c) % 256; });
  const std::string pngBytes = fileBytes(png);
  std::vector<short> twoSeconds(32000, 100);
  writeWav(wav, 16000, 1, SF_FORMAT_PCM_16, twoSeconds);
  const std::vector<float> samples(32000, 0.01f);
  const uint8_t pixels[100 * 60 * 3] = {};
  auto expectRefused = [](const std::function<void()> &body, const std::string &part) {
    const std::string message = errorOf(body);
    EXPECT_NE(message.find(part), std::string::npos) << message;
  };
  const std::string pixelLimit = "6000 pixels, more than the limit of 5999 (the model's max_image_pixels)";
  expectRefused([&] { loom::decodeImage(png, limits); }, pixelLimit);
  expectRefused([&] { loom::decodeImage(jpeg, limits); }, pixelLimit);
  expectRefused([&] { loom::decodeImageBytes(pngBytes.data(), pngBytes.size(), "b", limits); },
                pixelLimit);
  expectRefused([&] { loom::imageFromPixels(pixels, 100, 60, "p", limits); }, pixelLimit);
  const std::string secondLimit = "longer than the limit of 1 s (the model's max_media_seconds)";
  expectRefused([&] { loom::loadAudioFrames(wav, 640, 16000, limits); }, secondLimit);
  expectRefused([&] { loom::audioFramesFromSamples(samples.data(), 32000, 1, 16000, "s", 640,
                                                   16000, limits); },
                secondLimit);

  limits.maxImagePixels = 6000;
  limits.maxSeconds = 2;
  EXPECT_EQ(loom::decodeImage(png, limits).width, 100);
  EXPECT_EQ(loom::loadAudioFrames(wav, 640, 16000, limits).samples, 32000);
  for (const std::string &path : {png, jpeg, wav})
    std::remove(path.c_str());
}

TEST(MediaErrors, InMemoryInputsNamedInTheirErrors) {
  auto expectError = [](const std::function<void()> &body, const std::string &part) {
    const std::string message = errorOf(body);
    EXPECT_NE(message.find("images[3]"), std::string::npos) << message;
    EXPECT_NE(message.find(part), std::string::npos) << message;
  };
  const char name[] = "images[3]";
  expectError([&] { loom::decodeImageBytes("", 0, name); }, "no bytes");
  expectError([&] { loom::decodeImageBytes("GIF89a....", 10, name); }, "expected a PNG or JPEG");
  std::string png = tempPath("cut.png");
  writePng(png, 30, 30, PNG_COLOR_TYPE_RGB, 8, rgbSample);
  const std::string bytes = fileBytes(png);
  expectError([&] { loom::decodeImageBytes(bytes.data(), bytes.size() / 2, name); },
              "corrupt or unreadable PNG");
  std::remove(png.c_str());
  const uint8_t pixel[3] = {1, 2, 3};
  expectError([&] { loom::imageFromPixels(pixel, 0, 5, name); }, "both sides positive");
  expectError([&] { loom::imageFromPixels(pixel, 100000, 100000, name); }, "pixel array");

  expectError([&] { loom::loadAudioFramesFromBytes("RIFF", 4, name); }, "cannot read audio");
  expectError([&] { loom::loadAudioFramesFromBytes(nullptr, 0, name); }, "no bytes");
  const float nan[2] = {0.5f, std::nanf("")};
  expectError([&] { loom::audioFramesFromSamples(nan, 2, 1, 16000, name); }, "expected finite");
  expectError([&] { loom::audioFramesFromSamples(nan, 1, 0, 16000, name); }, "1 to 256 channels");
  expectError([&] { loom::audioFramesFromSamples(nan, 1, 1, 0, name); }, "positive sample rate");
  expectError([&] { loom::audioFramesFromSamples(nan, 0, 1, 16000, name); }, "no samples");
  // The length limit is checked before any sample is read.
  expectError([&] { loom::audioFramesFromSamples(nan, int64_t(1) << 40, 1, 16000, name); },
              "sample array");
}
