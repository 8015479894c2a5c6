// A conversation with a model: its KV cache, the position reached, the scratch arena and a
// seeded sampler. Not thread-safe; use one session per thread (sessions may share a Model).
//
// prefill(ids, media): embed_text on the ids (placeholder ids replaced by pad), each maximal run
// of image (audio) placeholders filled in order by the next image (audio) through embed_image
// (embed_audio), each maximal run of video placeholders by the next video frame through
// embed_image, block ids (-1, or 0, 1, 2.. per run of image/video placeholders: one vision
// block per image and per video frame), then the decoder at the current position and lm_head
// on the last row (or on every row). Calls continue the conversation: the KV cache and the
// position are kept until reset().
// decode(token): the same for one text token.
#pragma once

#include "loom/Runtime/Executor.h"
#include "loom/Runtime/Media.h"
#include "loom/Runtime/Model.h"
#include "loom/Runtime/Sampler.h"

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace loom {

// The most kernel threads a session takes (more are refused rather than left to fail to start).
inline constexpr int kMaxKernelThreads = 256;

struct SessionOptions {
  int64_t maxContext = 0; // 0: the artifact's max_context; larger values are refused
  int threads = 0;        // 0: the artifact's tuned threads per phase (prefill, decode) where
                          // it has them (Model::tunedRuntime), else the kernel runtime's
                          // default; at most kMaxKernelThreads; more than the CPUs this process
                          // may use run as that many (CpuFeatures.h)
  uint64_t seed = 0;
};

enum class MediaKind { Image = 1, Audio = 2, Video = 3 };

// Where a medium comes from: a file, or memory the caller keeps alive during the call.
enum class MediaSource {
  File,    // path
  Bytes,   // a file's contents: PNG/JPEG, or WAV/FLAC/Ogg
  Pixels,  // an image's RGB pixels
  Samples, // audio samples
};

struct MediaInput {
  MediaKind kind = MediaKind::Image;
  std::string path;        // File: the file; otherwise the name messages give it
  int64_t tokenBudget = 0; // soft tokens per image / video frame (Media.h's budgets); 0: default
  int64_t maxFrames = 0;   // video: frames sampled at most; 0: kDefaultVideoMaxFrames
  bool videoAudio = true;  // video: its audio track, when it has one, follows the frames
  MediaSource source = MediaSource::File;
  const void *bytes = nullptr;      // Bytes
  size_t byteCount = 0;
  const uint8_t *pixels = nullptr;  // Pixels: height x width x 3, row-major
  int64_t width = 0, height = 0;
  const float *samples = nullptr;   // Samples: sampleFrames x channels, interleaved
  int64_t sampleFrames = 0, channels = 0, sampleRate = 0;
};

// Media loaded for one prompt, each kind in prompt order: a video adds its frames to
// videoFrames and (videoAudio) its audio track to audios at its place.
struct PromptMedia {
  std::vector<ImagePatches> images;
  std::vector<AudioFrames> audios;
  std::vector<ImagePatches> videoFrames;
};

// Loads `media` (in prompt order) for `model`; appends to `into`. Throws loom::Error naming the
// file (or the budget) on bad input, including a video without frames.
void loadPromptMedia(const Model &model, const std::vector<MediaInput> &media, PromptMedia &into);

// The prompt text a media item's marker expands to, as the processor writes it
// (ChatTemplate.h: imageExpansion / audioExpansion / videoExpansion + the audio track).
std::string mediaPromptText(const Model &model, const MediaInput &media);

// Soft tokens `path` gives (patches, frames, or all of a video's frame and audio tokens).
int64_t mediaTokenCount(const Model &model, const MediaInput &media);

// Where a prefill's time went, in seconds (loom-bench's image mode reports it).
struct PrefillTimes {
  double embedText = 0;  // the text embedding of every position
  double embedMedia = 0; // the patch and audio-frame embedders
  double decoder = 0;    // the decoder layers
  double lmHead = 0;     // the final norm, lm_head and softcap of the logits' rows
};

class Session {
public:
  Session(std::shared_ptr<const Model> model, const SessionOptions &options = {});
  ~Session();
  Session(const Session &) = delete;
  Session &operator=(const Session &) = delete;

  // logits receives vocab floats, or ids.size() * vocab when allLogits (row-major [T, vocab]);
  // null (without allLogits) skips the LM head: a chunk of a longer prompt needs no logits.
  void prefill(const std::vector<int32_t> &ids, const std::vector<MediaInput> &media,
               bool allLogits, float *logits);
  // Same with media already loaded (each kind in prompt order).
  void prefill(const std::vector<int32_t> &ids, const PromptMedia &media, bool allLogits,
               float *logits);
  void prefill(const std::vector<int32_t> &ids, const std::vector<ImagePatches> &images,
               const std::vector<AudioFrames> &audios, bool allLogits, float *logits);
  void decode(int32_t token, float *logits);

  int32_t sample(const float *logits, const SamplingParams &params) {
    return sampler_.sample(logits, static_cast<size_t>(model_->vocabSize()), params);
  }
  Sampler &sampler() { return sampler_; }

  // Forgets the conversation: position 0 and a zeroed KV cache.
  void reset();

  // Called on the prefilling thread between the kernel dispatches of this session's prefills,
  // so that a caller serving several sessions can step the others while a long prompt is
  // prefilled (an image's soft tokens attend to each other both ways and go in one call). It may
  // use other sessions of the model, not this one (that fails). Empty: none.
  void setPrefillYield(std::function<void()> yield) { prefillYield_ = std::move(yield); }

  const Model &model() const { return *model_; }
  int64_t position() const { return position_; }
  const PrefillTimes &lastPrefillTimes() const { return prefillTimes_; }
  int64_t maxContext() const { return maxContext_; }

private:
  friend class DecodeBatch; // steps this session's state within a batch
  struct RunScope;          // marks a prefill or decode under way
  void ensureCapacity(int64_t tokens);
  void checkRoom(int64_t tokens) const;
  Executor *executor(const char *name);
  // The kernel threads of a prefill or decode call: the artifact's tuned ones when the
  // session left threads to it (0 each: keep the runtime's count).
  void usePrefillThreads() const;
  void useDecodeThreads() const;

  std::shared_ptr<const Model> model_;
  int64_t maxContext_ = 0;
  int64_t position_ = 0;
  Sampler sampler_;
  ExecutionState state_;
  std::function<void()> prefillYield_;
  int prefillThreads_ = 0, decodeThreads_ = 0; // 0: leave the kernel pool's count
  PrefillTimes prefillTimes_;
  bool running_ = false; // a prefill or decode is under way (its yield must not re-enter)
  std::vector<std::pair<void *, size_t>> mappings_; // munmap on destruction
  uint64_t maxArenaBytesPerToken_ = 0;
  int64_t capacity_ = 0; // tokens the buffers below hold
  std::vector<int32_t> ids_, blockIds_;
  std::vector<float> hidden_, decoded_, media_;
  std::unique_ptr<Executor> embedText_, embedImage_, embedAudio_, decoder_, lmHead_;
};

} // namespace loom
