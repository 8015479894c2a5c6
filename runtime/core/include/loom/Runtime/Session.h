// A conversation with a model: its KV cache, the position reached, the scratch arena and a
// seeded sampler. Not thread-safe; use one session per thread (sessions may share a Model).
//
// prefill(ids, media): embed_text on the ids (placeholder ids replaced by pad), each maximal run
// of image (audio) placeholders filled in order by the next image (audio) through embed_image
// (embed_audio), block ids (-1, or 0, 1, 2.. per run of image/video placeholders), then the
// decoder at the current position and lm_head on the last row (or on every row).
// decode(token): the same for one text token.
#pragma once

#include "loom/Runtime/Executor.h"
#include "loom/Runtime/Media.h"
#include "loom/Runtime/Model.h"
#include "loom/Runtime/Sampler.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace loom {

struct SessionOptions {
  int64_t maxContext = 0; // 0: the artifact's max_context; larger values are refused
  int threads = 0;        // 0: the kernel runtime's default
  uint64_t seed = 0;
};

enum class MediaKind { Image = 1, Audio = 2 };

struct MediaInput {
  MediaKind kind = MediaKind::Image;
  std::string path;
};

// Soft tokens `path` gives (patches or frames), as the prompt must reserve for it.
int64_t mediaTokenCount(const Model &model, const MediaInput &media);

class Session {
public:
  Session(std::shared_ptr<const Model> model, const SessionOptions &options = {});
  ~Session();
  Session(const Session &) = delete;
  Session &operator=(const Session &) = delete;

  // logits receives vocab floats, or ids.size() * vocab when allLogits (row-major [T, vocab]).
  void prefill(const std::vector<int32_t> &ids, const std::vector<MediaInput> &media,
               bool allLogits, float *logits);
  // Same with media already loaded (images and audios each in prompt order).
  void prefill(const std::vector<int32_t> &ids, const std::vector<ImagePatches> &images,
               const std::vector<AudioFrames> &audios, bool allLogits, float *logits);
  void decode(int32_t token, float *logits);

  int32_t sample(const float *logits, const SamplingParams &params) {
    return sampler_.sample(logits, static_cast<size_t>(model_->vocabSize()), params);
  }
  Sampler &sampler() { return sampler_; }

  // Forgets the conversation: position 0 and a zeroed KV cache.
  void reset();

  const Model &model() const { return *model_; }
  int64_t position() const { return position_; }
  int64_t maxContext() const { return maxContext_; }

private:
  void ensureCapacity(int64_t tokens);
  void checkRoom(int64_t tokens) const;
  Executor *executor(const char *name);

  std::shared_ptr<const Model> model_;
  int64_t maxContext_ = 0;
  int64_t position_ = 0;
  Sampler sampler_;
  ExecutionState state_;
  std::vector<std::pair<void *, size_t>> mappings_; // munmap on destruction
  uint64_t maxArenaBytesPerToken_ = 0;
  int64_t capacity_ = 0; // tokens the buffers below hold
  std::vector<int32_t> ids_, blockIds_;
  std::vector<float> hidden_, decoded_, media_;
  std::unique_ptr<Executor> embedText_, embedImage_, embedAudio_, decoder_, lmHead_;
};

} // namespace loom
