// Media inputs, preprocessed as the Hugging Face gemma4_unified processor does:
//
//  * Images (PNG, JPEG; chosen by content): RGB, EXIF orientation applied (JPEG), resized with
//    aspect ratio kept to the largest multiple-of-48 sides within the token budget (antialiased
//    bicubic, bit-exact with the reference's), scaled by float32(1/255), cut into 48x48 patches.
//    Prompt: <|image> + count x <|image|> + <image|>.
//  * Audio (WAV, FLAC, Ogg, ... via libsndfile): channels averaged to mono, resampled to 16 kHz
//    with soxr (high quality, what transformers' load_audio and librosa.load use), cut into
//    640-sample frames. Prompt: <|audio> + count x <|audio|> + <audio|>.
//  * Video (anything FFmpeg demuxes): up to 32 frames sampled uniformly by index, each an image
//    at 70 tokens (pixels / 255.0f: the video processor divides instead of multiplying), and
//    the first audio track as audio. Prompt, per frame, frames joined by one space:
//        "mm:ss <|image>" + count x <|video|> + "<image|>"
//    with mm:ss = videoTimestamp(timestamps[i]); the audio track, if the prompt uses it, goes
//    as audio. (transformers' processing_gemma4_unified.py, replace_video_token.)
#pragma once

#include "loom/Runtime/ImageResize.h"
#include "loom/Runtime/MediaLimits.h"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace loom {

struct ImagePatches {
  std::string path;
  int64_t width = 0, height = 0;       // pixels, after resizing
  int64_t columns = 0, rows = 0;       // patch grid
  int64_t patchSize = 0;               // 48
  int64_t patchDim = 0;                // patchSize^2 * 3
  int64_t count = 0;                   // columns * rows
  std::vector<float> patches;          // [count, patchDim]: (row, col, channel), channel fastest
  std::vector<int32_t> positions;      // [count, 2]: (column, row), patches in raster order
};

// The soft-token budgets the model supports, and the defaults for images and video frames.
inline constexpr int64_t kImageTokenBudgets[] = {70, 140, 280, 560, 1120};
inline constexpr int64_t kDefaultImageTokenBudget = 280;
inline constexpr int64_t kDefaultVideoFrameTokenBudget = 70;
inline constexpr int64_t kDefaultVideoMaxFrames = 32;
inline constexpr int64_t kAudioSampleRate = 16000; // the feature extractor's rate

// Throws unless tokenBudget is one of kImageTokenBudgets; `what` names the flag or file.
void checkImageTokenBudget(int64_t tokenBudget, const std::string &what);

// The resized (width, height) for an image of width x height pixels: the largest sides that are
// multiples of patchSize and keep the aspect ratio within tokenBudget patches (upsampling too).
// When one side would round to zero it becomes patchSize and the other
// min(floor(long / short) * patchSize, tokenBudget * patchSize).
std::pair<int64_t, int64_t> imageResizeTarget(int64_t width, int64_t height,
                                              int64_t tokenBudget, int64_t patchSize = 48);

// Decodes, resizes and patches an image file (PNG or JPEG, told apart by their signatures).
ImagePatches loadImagePatches(const std::string &path, int64_t tokenBudget = kDefaultImageTokenBudget,
                              int64_t patchSize = 48, const MediaLimits &limits = {});
// The same for an image already decoded (ImageDecode.h: from bytes in memory or from pixels);
// `name` stands for the file in messages.
ImagePatches imagePatches(const RgbImage &image, const std::string &name,
                          int64_t tokenBudget = kDefaultImageTokenBudget, int64_t patchSize = 48);

struct AudioFrames {
  std::string path;
  int64_t samples = 0;                 // mono samples at sampleRate, before padding
  int64_t frameSize = 0;               // 640
  int64_t count = 0;                   // ceil(samples / frameSize)
  std::vector<float> frames;           // [count, frameSize], zero-padded at the end
};

// Reads audio through libsndfile (float samples, libsndfile's normalisation), averages the
// channels to mono and resamples to sampleRate when the file's rate differs; the result has
// ceil(samples * sampleRate / fileRate) samples.
// Longer than `limits` allow (the header's claim, then what decodes) is refused.
AudioFrames loadAudioFrames(const std::string &path, int64_t frameSize = 640,
                            int64_t sampleRate = kAudioSampleRate, const MediaLimits &limits = {});
// The same for a file's contents in memory; `name` stands for the file in messages.
AudioFrames loadAudioFramesFromBytes(const void *data, size_t size, const std::string &name,
                                     int64_t frameSize = 640, int64_t sampleRate = kAudioSampleRate,
                                     const MediaLimits &limits = {});
// The same for decoded samples: `frames` x `channels` floats, interleaved, at `inputRate` Hz.
AudioFrames audioFramesFromSamples(const float *interleaved, int64_t frames, int64_t channels,
                                   int64_t inputRate, const std::string &name,
                                   int64_t frameSize = 640, int64_t sampleRate = kAudioSampleRate,
                                   const MediaLimits &limits = {});

struct VideoInput {
  std::string path;
  std::vector<ImagePatches> frames;    // the sampled frames, in order
  std::vector<int64_t> frameIndices;   // their indices among all the video's frames
  std::vector<double> timestamps;      // seconds: frameIndices[i] / fps
  double fps = 0;                      // frames / (end - start) of the video stream
  int64_t totalFrames = 0;             // frames in the video stream
  std::optional<AudioFrames> audio;    // the first audio track, if any
};

// Decodes a video: min(maxFrames, totalFrames) frames at indices i * totalFrames / n
// (i = 0..n-1, integer division), each resized at tokensPerFrame; plus the audio track at
// sampleRate in frames of audioFrameSize.
VideoInput loadVideo(const std::string &path, int64_t tokensPerFrame = kDefaultVideoFrameTokenBudget,
                     int64_t maxFrames = kDefaultVideoMaxFrames, int64_t patchSize = 48,
                     int64_t audioFrameSize = 640, int64_t sampleRate = kAudioSampleRate,
                     const MediaLimits &limits = {});

// "mm:ss" for a frame timestamp, as the processor writes it (whole minutes and seconds,
// truncated; minutes are not capped at 59).
std::string videoTimestamp(double seconds);

} // namespace loom
