// Loom's media loaders against the Hugging Face processors on real photographs, recordings and
// a video (goldens made by tools/golden/make_preprocess_goldens.py; tolerances stated in
// tools/golden/README.md):
//  * images and video frames: bit-exact (every pixel value identical; tolerance 0);
//  * audio: bit-exact (resampled or not), except Ogg Vorbis: |loom - hf| <= kVorbisTolerance.
#include "loom/Runtime/Media.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <string>

namespace {

using nlohmann::json;

// Vorbis decoding is floating point, and Debian's libvorbis and the one inside the soundfile
// wheel are different builds (measured 6e-8 at most: see tools/golden/README.md).
constexpr double kVorbisTolerance = 1e-6;

json readGolden(const std::string &name) {
  std::ifstream in(std::string(LOOM_SOURCE_DIR) + "/test/golden/preprocess/" + name);
  EXPECT_TRUE(in.good()) << name;
  return json::parse(in);
}

std::string source(const json &file) { return std::string(LOOM_SOURCE_DIR) + "/" + file.get<std::string>(); }

// FNV-1a 64 of the 8-bit levels, as the golden script computes it.
std::string levelHash(const std::vector<uint8_t> &levels) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (uint8_t b : levels)
    h = (h ^ b) * 0x100000001b3ull;
  char text[17];
  std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(h));
  return text;
}

enum class Scaling { Multiply, Divide };

// Loom's floats back to levels, checking each is exactly the level scaled as the reference does.
std::vector<uint8_t> levelsOf(const loom::ImagePatches &image, Scaling scaling) {
  std::vector<uint8_t> levels(image.patches.size());
  const float reciprocal = static_cast<float>(1.0 / 255.0);
  for (size_t i = 0; i < levels.size(); ++i) {
    long level = std::lround(image.patches[i] * 255.0);
    EXPECT_TRUE(level >= 0 && level <= 255) << i;
    levels[i] = static_cast<uint8_t>(level);
    float expected = scaling == Scaling::Multiply ? static_cast<float>(level) * reciprocal
                                                  : static_cast<float>(level) / 255.0f;
    if (image.patches[i] != expected) {
      ADD_FAILURE() << image.path << ": value " << i << " is " << image.patches[i]
                    << ", not level " << level << " scaled as the reference";
      break;
    }
  }
  return levels;
}

// Sizes, positions and every pixel against one golden patch set (tolerance 0).
void expectPatchesMatch(const loom::ImagePatches &got, const json &want, Scaling scaling,
                        const std::string &label) {
  ASSERT_EQ(got.count, want["count"].get<int64_t>()) << label;
  EXPECT_EQ(got.positions, want["positions"].get<std::vector<int32_t>>()) << label;
  std::vector<uint8_t> levels = levelsOf(got, scaling);
  const auto sums = want["patch_level_sums"].get<std::vector<int64_t>>();
  int64_t worstSum = 0;
  for (int64_t p = 0; p < got.count; ++p) {
    int64_t sum = 0;
    for (int64_t k = 0; k < got.patchDim; ++k)
      sum += levels[static_cast<size_t>(p * got.patchDim + k)];
    worstSum = std::max(worstSum, std::abs(sum - sums[static_cast<size_t>(p)]));
  }
  EXPECT_EQ(worstSum, 0) << label << ": largest per-patch level-sum difference";
  if (want.contains("sample_patch")) {
    const int64_t p = want["sample_patch"].get<int64_t>();
    const auto sample = want["sample_patch_levels"].get<std::vector<int>>();
    int worst = 0;
    for (int64_t k = 0; k < got.patchDim; ++k)
      worst = std::max(worst, std::abs(levels[static_cast<size_t>(p * got.patchDim + k)] -
                                       sample[static_cast<size_t>(k)]));
    EXPECT_EQ(worst, 0) << label << ": largest pixel difference in patch " << p << " (levels)";
  }
  EXPECT_EQ(levelHash(levels), want["level_hash_fnv1a64"].get<std::string>())
      << label << ": not every pixel is identical";
}

// Counts, every frame's sum and peak, and the sample frames, within `tolerance`.
void expectAudioMatches(const loom::AudioFrames &got, const json &want, double tolerance,
                        const std::string &label) {
  ASSERT_EQ(got.samples, want["samples"].get<int64_t>()) << label;
  ASSERT_EQ(got.count, want["count"].get<int64_t>()) << label;
  ASSERT_EQ(got.frameSize, 640);
  const auto sums = want["frame_sums"].get<std::vector<double>>();
  const auto peaks = want["frame_max_abs"].get<std::vector<double>>();
  double worstSum = 0, worstPeak = 0, worstSample = 0;
  for (int64_t f = 0; f < got.count; ++f) {
    double sum = 0, peak = 0;
    for (int64_t k = 0; k < 640; ++k) {
      double v = got.frames[static_cast<size_t>(f * 640 + k)];
      sum += v;
      peak = std::max(peak, std::abs(v));
    }
    worstSum = std::max(worstSum, std::abs(sum - sums[static_cast<size_t>(f)]));
    worstPeak = std::max(worstPeak, std::abs(peak - peaks[static_cast<size_t>(f)]));
  }
  const auto frames = want["sample_frames"].get<std::vector<int64_t>>();
  const auto values = want["sample_frame_values"].get<std::vector<std::vector<double>>>();
  for (size_t i = 0; i < frames.size(); ++i)
    for (int64_t k = 0; k < 640; ++k)
      worstSample = std::max(worstSample,
                             std::abs(got.frames[static_cast<size_t>(frames[i] * 640 + k)] -
                                      values[i][static_cast<size_t>(k)]));
  std::printf("%s: max |loom - hf| sample %.3g, frame peak %.3g, frame sum %.3g\n", label.c_str(),
              worstSample, worstPeak, worstSum);
  EXPECT_LE(worstSample, tolerance) << label;
  EXPECT_LE(worstPeak, tolerance) << label;
  EXPECT_LE(worstSum, tolerance * 640) << label;
}

TEST(PreprocessGolden, ImagesMatchTheImageProcessor) {
  const json golden = readGolden("images.json");
  ASSERT_GE(golden["cases"].size(), 6u);
  for (const json &c : golden["cases"]) {
    const std::string label = c["file"].get<std::string>() + " @" + std::to_string(c["budget"].get<int>());
    loom::ImagePatches got = loom::loadImagePatches(source(c["file"]), c["budget"].get<int64_t>());
    EXPECT_EQ(got.width, c["width"].get<int64_t>()) << label;
    EXPECT_EQ(got.height, c["height"].get<int64_t>()) << label;
    EXPECT_EQ(got.columns, c["columns"].get<int64_t>()) << label;
    EXPECT_EQ(got.rows, c["rows"].get<int64_t>()) << label;
    expectPatchesMatch(got, c, Scaling::Multiply, label);
  }
}

TEST(PreprocessGolden, AudioMatchesTheFeatureExtractor) {
  const json golden = readGolden("audio.json");
  ASSERT_GE(golden["cases"].size(), 3u);
  for (const json &c : golden["cases"]) {
    const std::string file = c["file"].get<std::string>();
    const bool vorbis = file.size() > 4 && file.substr(file.size() - 4) == ".ogg";
    loom::AudioFrames got = loom::loadAudioFrames(source(c["file"]));
    expectAudioMatches(got, c, vorbis ? kVorbisTolerance : 0.0, file);
  }
}

TEST(PreprocessGolden, VideoMatchesTheVideoProcessor) {
  const json golden = readGolden("video.json");
  ASSERT_GE(golden["cases"].size(), 1u);
  for (const json &c : golden["cases"]) {
    const std::string label = c["file"].get<std::string>();
    loom::VideoInput got = loom::loadVideo(source(c["file"]), c["budget"].get<int64_t>(),
                                           c["max_frames"].get<int64_t>());
    EXPECT_EQ(got.totalFrames, c["total_frames"].get<int64_t>()) << label;
    EXPECT_DOUBLE_EQ(got.fps, c["fps"].get<double>()) << label;
    const json &frames = c["frames"];
    ASSERT_EQ(got.frames.size(), frames.size()) << label;
    const auto stamps = c["timestamps"].get<std::vector<std::string>>();
    for (size_t f = 0; f < frames.size(); ++f) {
      const std::string frameLabel = label + " frame " + std::to_string(f);
      EXPECT_EQ(got.frameIndices[f], frames[f]["index"].get<int64_t>()) << frameLabel;
      EXPECT_DOUBLE_EQ(got.timestamps[f], frames[f]["seconds"].get<double>()) << frameLabel;
      EXPECT_EQ(loom::videoTimestamp(got.timestamps[f]), stamps[f]) << frameLabel;
      EXPECT_EQ(got.frames[f].width, c["width"].get<int64_t>()) << frameLabel;
      EXPECT_EQ(got.frames[f].height, c["height"].get<int64_t>()) << frameLabel;
      expectPatchesMatch(got.frames[f], frames[f], Scaling::Divide, frameLabel);
    }
    ASSERT_TRUE(got.audio.has_value()) << label;
    expectAudioMatches(*got.audio, c["audio"], 0.0, label + " audio track");
  }
}

} // namespace
