// Tests the video loader on small checked-in clips (test/data/media, made by
// tools/golden/make_preprocess_media.sh): frame sampling, timestamps, per-frame resizing, the
// audio track, and one test per video error. Agreement with the Hugging Face video processor
// is checked by test/golden/preprocess.
#include "loom/Error.h"
#include "loom/Runtime/Media.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <functional>
#include <unistd.h>

namespace {

std::string media(const std::string &name) {
  return std::string(LOOM_SOURCE_DIR) + "/test/data/media/" + name;
}

std::string tempPath(const std::string &name) {
  return ::testing::TempDir() + "/loom_video_" + std::to_string(::getpid()) + "_" + name;
}

std::string errorOf(const std::function<void()> &body) {
  try {
    body();
  } catch (const loom::Error &e) {
    return e.what();
  }
  return "";
}

} // namespace

TEST(Video, FramesSampledUniformlyByIndex) {
  // 50 frames at 25 fps; 4 samples at i * 50 / 4.
  loom::VideoInput video = loom::loadVideo(media("testsrc_2s.mp4"), 70, 4);
  EXPECT_EQ(video.totalFrames, 50);
  EXPECT_DOUBLE_EQ(video.fps, 25.0);
  EXPECT_EQ(video.frameIndices, (std::vector<int64_t>{0, 12, 25, 37}));
  EXPECT_EQ(video.timestamps, (std::vector<double>{0.0, 0.48, 1.0, 1.48}));
  ASSERT_EQ(video.frames.size(), 4u);
  for (const loom::ImagePatches &frame : video.frames) {
    // 320x240 at 70 tokens: 432x336, 9x7 patches; video frames are level / 255.0f.
    EXPECT_EQ(frame.width, 432);
    EXPECT_EQ(frame.height, 336);
    EXPECT_EQ(frame.count, 63);
    for (float v : frame.patches)
      ASSERT_EQ(v, static_cast<float>(std::lround(v * 255.0)) / 255.0f);
  }
  // testsrc's frames differ (its counter and moving gradient).
  EXPECT_NE(video.frames[0].patches, video.frames[3].patches);
  // The 44.1 kHz stereo AAC track, as 16 kHz mono frames.
  ASSERT_TRUE(video.audio.has_value());
  EXPECT_GT(video.audio->samples, 31000);
  EXPECT_EQ(video.audio->count, (video.audio->samples + 639) / 640);
}

TEST(Video, DefaultsTake32FramesAt70Tokens) {
  loom::VideoInput video = loom::loadVideo(media("testsrc_2s.mp4"));
  ASSERT_EQ(video.frames.size(), 32u);
  EXPECT_EQ(video.frameIndices[1], 1);  // 1 * 50 / 32
  EXPECT_EQ(video.frameIndices[31], 48); // 31 * 50 / 32
  EXPECT_EQ(loom::videoTimestamp(video.timestamps[31]), "00:01");
}

TEST(Video, ShortSilentVideoKeepsEveryFrameAndHasNoAudio) {
  loom::VideoInput video = loom::loadVideo(media("testsrc_10frames_silent.mp4"), 140, 32);
  EXPECT_EQ(video.totalFrames, 10);
  EXPECT_EQ(video.frames.size(), 10u);
  EXPECT_EQ(video.frameIndices.back(), 9);
  EXPECT_FALSE(video.audio.has_value());
  // 96x64 at 140 tokens: factor sqrt(140 * 2304 / 6144) = 7.25 -> 672x432 (14x9 = 126 patches).
  EXPECT_EQ(video.frames[0].width, 672);
  EXPECT_EQ(video.frames[0].height, 432);
}

TEST(Video, TimestampsAsTheProcessorWritesThem) {
  EXPECT_EQ(loom::videoTimestamp(0.0), "00:00");
  EXPECT_EQ(loom::videoTimestamp(0.96), "00:00");
  EXPECT_EQ(loom::videoTimestamp(59.999), "00:59");
  EXPECT_EQ(loom::videoTimestamp(61.5), "01:01");
  EXPECT_EQ(loom::videoTimestamp(3599.0), "59:59");
  EXPECT_EQ(loom::videoTimestamp(3725.0), "62:05"); // minutes are not capped
}

// ---- One test per video error -----------------------------------------------------------

TEST(VideoErrors, MissingFile) {
  std::string missing = tempPath("missing.mp4");
  std::string message = errorOf([&] { loom::loadVideo(missing); });
  EXPECT_NE(message.find(missing), std::string::npos) << message;
  EXPECT_NE(message.find("cannot open video"), std::string::npos) << message;
}

TEST(VideoErrors, NoVideoStream) {
  std::string audioOnly = media("hello_16k.wav");
  std::string message = errorOf([&] { loom::loadVideo(audioOnly); });
  EXPECT_NE(message.find(audioOnly), std::string::npos) << message;
  EXPECT_NE(message.find("has no video stream"), std::string::npos) << message;
}

TEST(VideoErrors, CorruptVideo) {
  // The clip cut in half: its index (moov) is at the end, so nothing can be read.
  std::ifstream in(media("testsrc_2s.mp4"), std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), {});
  std::string truncated = tempPath("truncated.mp4");
  std::ofstream(truncated, std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  std::string message = errorOf([&] { loom::loadVideo(truncated); });
  EXPECT_NE(message.find(truncated), std::string::npos) << message;
  EXPECT_NE(message.find("expected a video file FFmpeg can read"), std::string::npos) << message;
  std::remove(truncated.c_str());
}

TEST(VideoErrors, BadFrameBudget) {
  std::string path = media("testsrc_2s.mp4");
  std::string message = errorOf([&] { loom::loadVideo(path, 64); });
  EXPECT_NE(message.find(path), std::string::npos) << message;
  EXPECT_NE(message.find("budget 64"), std::string::npos) << message;
}
