// Tests the PNG and audio loaders: patch order and values, positions, format conversions,
// padding, and the errors for wrong sizes, rates and corrupt files.
#include "loom/Error.h"
#include "loom/Runtime/Media.h"

#include <gtest/gtest.h>
#include <png.h>
#include <sndfile.h>

#include <cstdio>
#include <functional>
#include <fstream>
#include <unistd.h>

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

} // namespace

TEST(Media, PngPatchesInRasterOrder) {
  std::string path = tempPath("rgb.png");
  writePng(path, 96, 144, PNG_COLOR_TYPE_RGB, 8, rgbSample);
  loom::ImagePatches image = loom::loadImagePatches(path);
  EXPECT_EQ(image.path, path);
  EXPECT_EQ(image.columns, 2);
  EXPECT_EQ(image.rows, 3);
  ASSERT_EQ(image.count, 6);
  ASSERT_EQ(image.patchDim, 6912);
  ASSERT_EQ(image.patches.size(), 6u * 6912);
  EXPECT_EQ(image.positions,
            (std::vector<int32_t>{0, 0, 1, 0, 0, 1, 1, 1, 0, 2, 1, 2}));
  for (int p = 0; p < 6; ++p) {
    int column = p % 2, row = p / 2;
    for (int y = 0; y < 48; ++y)
      for (int x = 0; x < 48; ++x)
        for (int c = 0; c < 3; ++c) {
          float got = image.patches[static_cast<size_t>(p) * 6912 + (y * 48 + x) * 3 + c];
          float want = static_cast<float>(rgbSample(column * 48 + x, row * 48 + y, c)) / 255.0f;
          ASSERT_EQ(got, want) << "patch " << p << " y " << y << " x " << x << " c " << c;
        }
  }
  std::remove(path.c_str());
}

TEST(Media, PngFormatsBecome8BitRgb) {
  // Gray 8-bit: replicated into R, G, B.
  std::string gray = tempPath("gray.png");
  writePng(gray, 48, 48, PNG_COLOR_TYPE_GRAY, 8, [](int x, int y, int) { return x + y; });
  loom::ImagePatches g = loom::loadImagePatches(gray);
  ASSERT_EQ(g.count, 1);
  EXPECT_EQ(g.patches[(2 * 48 + 5) * 3 + 0], 7.0f / 255.0f);
  EXPECT_EQ(g.patches[(2 * 48 + 5) * 3 + 2], 7.0f / 255.0f);

  // RGBA 16-bit: the high byte of each sample, alpha dropped.
  std::string rgba = tempPath("rgba16.png");
  writePng(rgba, 48, 48, PNG_COLOR_TYPE_RGBA, 16,
           [](int x, int, int c) { return c == 3 ? 0 : ((x + c) << 8) | 0x7f; });
  loom::ImagePatches r = loom::loadImagePatches(rgba);
  EXPECT_EQ(r.patches[(0 * 48 + 10) * 3 + 0], 10.0f / 255.0f);
  EXPECT_EQ(r.patches[(0 * 48 + 10) * 3 + 2], 12.0f / 255.0f);

  // Palette.
  std::string pal = tempPath("palette.png");
  std::vector<png_color> colors = {{10, 20, 30}, {200, 100, 50}};
  writePng(pal, 48, 96, PNG_COLOR_TYPE_PALETTE, 8, [](int, int y, int) { return y >= 48; },
           colors);
  loom::ImagePatches p = loom::loadImagePatches(pal);
  ASSERT_EQ(p.count, 2);
  EXPECT_EQ(p.patches[0], 10.0f / 255.0f);
  EXPECT_EQ(p.patches[1], 20.0f / 255.0f);
  EXPECT_EQ(p.patches[6912 + 0], 200.0f / 255.0f);
  EXPECT_EQ(p.patches[6912 + 2], 50.0f / 255.0f);
  EXPECT_EQ(p.positions, (std::vector<int32_t>{0, 0, 0, 1}));
  for (const std::string &f : {gray, rgba, pal})
    std::remove(f.c_str());
}

TEST(Media, PngWrongSizeRefused) {
  std::string path = tempPath("odd.png");
  writePng(path, 100, 96, PNG_COLOR_TYPE_RGB, 8, rgbSample);
  std::string message = errorOf([&] { loom::loadImagePatches(path); });
  EXPECT_NE(message.find(path), std::string::npos) << message;
  EXPECT_NE(message.find("100x96"), std::string::npos) << message;
  EXPECT_NE(message.find("multiples of 48"), std::string::npos) << message;
  EXPECT_NE(message.find("resizing is not supported yet"), std::string::npos) << message;
  std::remove(path.c_str());
}

TEST(Media, CorruptPngRefused) {
  std::string good = tempPath("good.png");
  writePng(good, 48, 48, PNG_COLOR_TYPE_RGB, 8, rgbSample);
  std::ifstream in(good, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), {});
  in.close();
  // Truncated in the middle of the image data.
  std::string truncated = tempPath("truncated.png");
  std::ofstream(truncated, std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  std::string message = errorOf([&] { loom::loadImagePatches(truncated); });
  EXPECT_NE(message.find(truncated), std::string::npos) << message;
  EXPECT_NE(message.find("PNG"), std::string::npos) << message;
  // Damaged header chunk (bad CRC).
  std::string damaged = tempPath("damaged.png");
  std::string broken = bytes;
  broken[20] ^= 0x55;
  std::ofstream(damaged, std::ios::binary) << broken;
  message = errorOf([&] { loom::loadImagePatches(damaged); });
  EXPECT_NE(message.find(damaged), std::string::npos) << message;
  // Not a PNG at all, and a missing file.
  std::string text = tempPath("text.png");
  std::ofstream(text) << "hello, this is not an image";
  message = errorOf([&] { loom::loadImagePatches(text); });
  EXPECT_NE(message.find(text), std::string::npos) << message;
  EXPECT_NE(message.find("not a PNG"), std::string::npos) << message;
  std::string missing = tempPath("missing.png");
  message = errorOf([&] { loom::loadImagePatches(missing); });
  EXPECT_NE(message.find(missing), std::string::npos) << message;
  for (const std::string &f : {good, truncated, damaged, text})
    std::remove(f.c_str());
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

TEST(Media, WavWrongRateRefused) {
  std::string path = tempPath("cd.wav");
  writeWav(path, 44100, 1, SF_FORMAT_PCM_16, std::vector<short>(500, 3));
  std::string message = errorOf([&] { loom::loadAudioFrames(path); });
  EXPECT_NE(message.find(path), std::string::npos) << message;
  EXPECT_NE(message.find("44100"), std::string::npos) << message;
  EXPECT_NE(message.find("16000"), std::string::npos) << message;
  std::remove(path.c_str());
}

TEST(Media, CorruptAudioRefused) {
  std::string path = tempPath("junk.wav");
  std::ofstream(path) << "RIFF....WAVEnot really";
  std::string message = errorOf([&] { loom::loadAudioFrames(path); });
  EXPECT_NE(message.find(path), std::string::npos) << message;
  std::string missing = tempPath("missing.wav");
  message = errorOf([&] { loom::loadAudioFrames(missing); });
  EXPECT_NE(message.find(missing), std::string::npos) << message;
  std::remove(path.c_str());
}
