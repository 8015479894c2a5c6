#include "loom/DTypeSize.h"
#include "loom/Runtime/Session.h"

#include "loom/Runtime/CpuFeatures.h"
#include "loom/Runtime/ChatTemplate.h"
#include "loom/Runtime/ImageDecode.h"

#include "loom/Error.h"
#include "loom/Schema/loom_generated.h"

#include <algorithm>
#include <chrono>
#include <climits>
#include <cstring>
#include <sys/mman.h>

namespace loom {
namespace {

// Zero-filled memory committed only when touched: a full-context KV cache costs what is used.
uint8_t *mapZeroed(uint64_t bytes, const std::string &what) {
  void *p = mmap(nullptr, bytes ? bytes : 1, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED)
    fail("cannot reserve ", bytes, " bytes for ", what, ": ", std::strerror(errno));
  return static_cast<uint8_t *>(p);
}

struct Run {
  int64_t start, length;
};

// Seconds since the last lap (or construction).
class PrefillPhaseClock {
public:
  double lap() {
    const auto now = std::chrono::steady_clock::now();
    const double seconds = std::chrono::duration<double>(now - last_).count();
    last_ = now;
    return seconds;
  }

private:
  std::chrono::steady_clock::time_point last_ = std::chrono::steady_clock::now();
};

int64_t budgetOf(const MediaInput &m, int64_t fallback) {
  const int64_t budget = m.tokenBudget > 0 ? m.tokenBudget : fallback;
  checkImageTokenBudget(budget, m.path);
  return budget;
}

ImagePatches loadImage(const Model &model, const MediaInput &m) {
  const int64_t budget = budgetOf(m, kDefaultImageTokenBudget);
  switch (m.source) {
  case MediaSource::File:
    return loadImagePatches(m.path, budget, model.patchSize(), model.mediaLimits());
  case MediaSource::Bytes:
    return imagePatches(decodeImageBytes(m.bytes, m.byteCount, m.path, model.mediaLimits()),
                        m.path, budget,
                        model.patchSize());
  case MediaSource::Pixels:
    return imagePatches(imageFromPixels(m.pixels, m.width, m.height, m.path, model.mediaLimits()),
                        m.path, budget,
                        model.patchSize());
  case MediaSource::Samples:
    break;
  }
  fail(m.path, ": an image is given as a file, its bytes or RGB pixels, not as audio samples");
}

AudioFrames loadAudio(const Model &model, const MediaInput &m) {
  switch (m.source) {
  case MediaSource::File:
    return loadAudioFrames(m.path, model.audioFrameSize(), kAudioSampleRate, model.mediaLimits());
  case MediaSource::Bytes:
    return loadAudioFramesFromBytes(m.bytes, m.byteCount, m.path, model.audioFrameSize(),
                                    kAudioSampleRate, model.mediaLimits());
  case MediaSource::Samples:
    return audioFramesFromSamples(m.samples, m.sampleFrames, m.channels, m.sampleRate, m.path,
                                  model.audioFrameSize(), kAudioSampleRate, model.mediaLimits());
  case MediaSource::Pixels:
    break;
  }
  fail(m.path, ": audio is given as a file, its bytes or samples, not as pixels");
}

VideoInput loadVideoFor(const Model &model, const MediaInput &m) {
  if (m.maxFrames < 0)
    fail(m.path, ": the number of video frames must be positive, got ", m.maxFrames);
  VideoInput video = loadVideo(m.path, budgetOf(m, kDefaultVideoFrameTokenBudget),
                               m.maxFrames > 0 ? m.maxFrames : kDefaultVideoMaxFrames,
                               model.patchSize(), model.audioFrameSize(), kAudioSampleRate,
                               model.mediaLimits());
  if (video.frames.empty())
    fail(m.path, ": the video has no frames: expected at least one decodable video frame");
  if (video.timestamps.size() != video.frames.size())
    fail(m.path, ": the video loader gave ", video.frames.size(), " frames but ",
         video.timestamps.size(), " timestamps");
  for (const ImagePatches &frame : video.frames)
    if (frame.count != video.frames.front().count)
      fail(m.path, ": video frames of different sizes (", video.frames.front().count, " and ",
           frame.count, " patches)");
  return video;
}

} // namespace

void loadPromptMedia(const Model &model, const std::vector<MediaInput> &media, PromptMedia &into) {
  for (const MediaInput &m : media) {
    if (m.kind == MediaKind::Image) {
      into.images.push_back(loadImage(model, m));
    } else if (m.kind == MediaKind::Audio) {
      into.audios.push_back(loadAudio(model, m));
    } else if (m.kind == MediaKind::Video) {
      if (m.source != MediaSource::File)
        fail(m.path, ": a video must be given as a file; expected a path");
      VideoInput video = loadVideoFor(model, m);
      for (ImagePatches &frame : video.frames)
        into.videoFrames.push_back(std::move(frame));
      if (m.videoAudio && video.audio)
        into.audios.push_back(std::move(*video.audio));
    } else {
      fail(m.path, ": unknown media kind ", static_cast<int>(m.kind));
    }
  }
}

std::string mediaPromptText(const Model &model, const MediaInput &media) {
  if (media.kind == MediaKind::Video) {
    // The processor's replace_video_token; the audio track, when used, right after the frames
    // (apply_chat_template with load_audio_from_video puts an audio item after each video).
    VideoInput video = loadVideoFor(model, media);
    std::vector<std::string> timestamps;
    for (double seconds : video.timestamps)
      timestamps.push_back(videoTimestamp(seconds));
    std::string text = chat::videoExpansion(timestamps, video.frames.front().count);
    if (media.videoAudio && video.audio)
      text += chat::audioExpansion(video.audio->count);
    return text;
  }
  PromptMedia loaded;
  loadPromptMedia(model, {media}, loaded);
  if (media.kind == MediaKind::Image)
    return chat::imageExpansion(loaded.images.at(0).count);
  return chat::audioExpansion(loaded.audios.at(0).count);
}

int64_t mediaTokenCount(const Model &model, const MediaInput &media) {
  PromptMedia loaded;
  loadPromptMedia(model, {media}, loaded);
  int64_t count = 0;
  for (const ImagePatches &image : loaded.images)
    count += image.count;
  for (const AudioFrames &audio : loaded.audios)
    count += audio.count;
  for (const ImagePatches &frame : loaded.videoFrames)
    count += frame.count;
  return count;
}

Session::Session(std::shared_ptr<const Model> model, const SessionOptions &options)
    : model_(std::move(model)), sampler_(options.seed) {
  if (!model_)
    fail("session: no model");
  const std::string &path = model_->path();
  maxContext_ = model_->maxContext();
  if (options.maxContext < 0)
    fail("session: max_context must not be negative, got ", options.maxContext);
  if (options.maxContext > 0) {
    if (options.maxContext > model_->maxContext())
      fail(path, ": a max_context of ", options.maxContext,
           " was asked for but the artifact was compiled for at most ", model_->maxContext());
    maxContext_ = options.maxContext;
  }
  if (maxContext_ > INT32_MAX)
    maxContext_ = INT32_MAX;
  if (options.threads < 0 || options.threads > kMaxKernelThreads)
    fail("session: threads must be in [0, ", kMaxKernelThreads, "], got ", options.threads);
  if (options.threads > 0)
    model_->kernels().setNumThreads(std::min(options.threads, usableCpuCount()));
  if (options.threads == 0 && model_->tunedRuntime().tuned) {
    prefillThreads_ = std::min(model_->tunedRuntime().prefillThreads, usableCpuCount());
    decodeThreads_ = std::min(model_->tunedRuntime().decodeThreads, usableCpuCount());
  }

  const auto *layers = model_->manifest().kv_cache();
  if (layers)
    for (uint32_t i = 0; i < layers->size(); ++i) {
      const fb::KvCacheLayer *layer = layers->Get(i);
      ExecutionState::KvLayer kv;
      kv.capacity = layer->capacity();
      kv.dtype = static_cast<int>(layer->dtype());
      uint64_t element = dtypeSize(layer->dtype());
      if (kv.capacity <= 0 || layer->kv_heads() <= 0 || layer->head_dim() <= 0 || element == 0)
        fail(path, ": KV cache layer ", i, " has an invalid shape or dtype");
      kv.rowBytes = static_cast<uint64_t>(layer->kv_heads() * layer->head_dim()) * element;
      uint64_t bytes = kv.rowBytes * static_cast<uint64_t>(kv.capacity);
      kv.keys = mapZeroed(bytes, "the KV cache");
      mappings_.emplace_back(kv.keys, bytes);
      if (!layer->keys_only()) { // a keys-only layer caches the raw k once: no values
        kv.values = mapZeroed(bytes, "the KV cache");
        mappings_.emplace_back(kv.values, bytes);
      }
      state_.kv.push_back(kv);
    }

  auto make = [&](const char *name) -> std::unique_ptr<Executor> {
    const fb::EntryPoint *entry = model_->entry(name);
    if (entry == nullptr)
      return nullptr;
    auto executor = std::make_unique<Executor>(*model_, *entry);
    maxArenaBytesPerToken_ = std::max(maxArenaBytesPerToken_, executor->arenaBytesPerToken());
    return executor;
  };
  embedText_ = make("embed_text");
  embedImage_ = make("embed_image");
  embedAudio_ = make("embed_audio");
  decoder_ = make("decoder");
  lmHead_ = make("lm_head");
  if (!embedText_ || !decoder_ || !lmHead_)
    fail(path, ": the artifact lacks one of the entry points embed_text, decoder, lm_head");

  // The runtime's buffers must match what each entry declares, per token.
  const uint64_t hidden = static_cast<uint64_t>(model_->hiddenSize()) * 4;
  auto expect = [&](const Executor *executor, bool output, size_t slot, uint64_t bytes,
                    const char *what) {
    if (executor == nullptr)
      return;
    size_t count = output ? executor->outputCount() : executor->inputCount();
    if (slot >= count)
      fail(path, ": entry '", executor->name(), "' declares no ", output ? "output " : "input ",
           slot, " (", what, ")");
    uint64_t declared = output ? executor->outputBytes(slot, 1) : executor->inputBytes(slot, 1);
    if (declared != bytes)
      fail(path, ": entry '", executor->name(), "' ", output ? "output " : "input ", slot,
           " holds ", declared, " bytes per token but the runtime passes ", what, " of ", bytes);
  };
  expect(embedText_.get(), false, 0, 4, "token ids i32 [T]");
  expect(embedText_.get(), true, 0, hidden, "hidden f32 [T, hidden_size]");
  expect(embedImage_.get(), false, 0, static_cast<uint64_t>(model_->patchDim()) * 4,
         "patches f32 [T, patch_dim]");
  expect(embedImage_.get(), false, 1, 8, "positions i32 [T, 2]");
  expect(embedImage_.get(), true, 0, hidden, "hidden f32 [T, hidden_size]");
  expect(embedAudio_.get(), false, 0, static_cast<uint64_t>(model_->audioFrameSize()) * 4,
         "frames f32 [T, frame]");
  expect(embedAudio_.get(), true, 0, hidden, "hidden f32 [T, hidden_size]");
  expect(decoder_.get(), false, 0, hidden, "hidden f32 [T, hidden_size]");
  expect(decoder_.get(), false, 1, 4, "block ids i32 [T]");
  expect(decoder_.get(), true, 0, hidden, "hidden f32 [T, hidden_size]");
  expect(lmHead_.get(), false, 0, hidden, "hidden f32 [T, hidden_size]");
  expect(lmHead_.get(), true, 0, static_cast<uint64_t>(model_->vocabSize()) * 4,
         "logits f32 [T, vocab_size]");
}

Session::~Session() {
  for (auto &[address, bytes] : mappings_)
    munmap(address, bytes ? bytes : 1);
  if (state_.arena)
    munmap(state_.arena, state_.arenaBytes ? state_.arenaBytes : 1);
}

// Refuses a call on a session from inside its own run (its prefill yield), and installs the
// yield for a prefill.
struct Session::RunScope {
  Session &session;
  RunScope(Session &s, const char *what, bool yields) : session(s) {
    if (s.running_)
      fail(what, ": the session is in the middle of a prefill (called from its own prefill "
                 "yield, which may use other sessions only)");
    s.running_ = true;
    if (yields)
      s.state_.betweenDispatches = s.prefillYield_;
  }
  ~RunScope() {
    session.running_ = false;
    session.state_.betweenDispatches = nullptr;
  }
};

void Session::usePrefillThreads() const {
  if (prefillThreads_ > 0)
    model_->kernels().setNumThreads(prefillThreads_);
}

void Session::useDecodeThreads() const {
  if (decodeThreads_ > 0)
    model_->kernels().setNumThreads(decodeThreads_);
}

void Session::reset() {
  RunScope scope(*this, "reset", false);
  position_ = 0;
  for (auto &[address, bytes] : mappings_)
    if (bytes)
      madvise(address, bytes, MADV_DONTNEED); // anonymous private memory reads back as zeros
}

void Session::ensureCapacity(int64_t tokens) {
  if (tokens <= capacity_)
    return;
  const uint64_t hidden = static_cast<uint64_t>(model_->hiddenSize());
  ids_.resize(tokens);
  blockIds_.resize(tokens);
  hidden_.resize(tokens * hidden);
  decoded_.resize(tokens * hidden);
  media_.resize(tokens * hidden);
  uint64_t arenaBytes = maxArenaBytesPerToken_ * static_cast<uint64_t>(tokens);
  uint8_t *arena = mapZeroed(arenaBytes, "the scratch arena");
  if (state_.arena)
    munmap(state_.arena, state_.arenaBytes ? state_.arenaBytes : 1);
  state_.arena = arena;
  state_.arenaBytes = arenaBytes;
  state_.arenaTokens = tokens;
  ++state_.arenaGeneration;
  capacity_ = tokens;
}

void Session::checkRoom(int64_t tokens) const {
  if (position_ + tokens > maxContext_) {
    if (tokens == 1)
      fail(model_->path(), ": the context is full: position ", position_,
           " reached max_context ", maxContext_);
    fail(model_->path(), ": ", tokens, " tokens at position ", position_,
         " would exceed max_context ", maxContext_);
  }
}

void Session::prefill(const std::vector<int32_t> &ids, const std::vector<MediaInput> &media,
                      bool allLogits, float *logits) {
  PromptMedia loaded;
  loadPromptMedia(*model_, media, loaded);
  prefill(ids, loaded, allLogits, logits);
}

void Session::prefill(const std::vector<int32_t> &ids, const std::vector<ImagePatches> &images,
                      const std::vector<AudioFrames> &audios, bool allLogits, float *logits) {
  PromptMedia media;
  media.images = images;
  media.audios = audios;
  prefill(ids, media, allLogits, logits);
}

void Session::prefill(const std::vector<int32_t> &ids, const PromptMedia &media, bool allLogits,
                      float *logits) {
  const std::string &path = model_->path();
  const std::vector<ImagePatches> &images = media.images, &frames = media.videoFrames;
  const std::vector<AudioFrames> &audios = media.audios;
  const int64_t T = static_cast<int64_t>(ids.size());
  if (T == 0)
    fail("prefill: the prompt has no tokens");
  if (logits == nullptr && allLogits)
    fail("prefill: every position's logits asked for, but no logits buffer");
  const int64_t vocab = model_->vocabSize();
  for (int64_t i = 0; i < T; ++i)
    if (ids[i] < 0 || ids[i] >= vocab)
      fail("prefill: token id ", ids[i], " at index ", i, " is out of range [0, ", vocab, ")");
  checkRoom(T);
  RunScope scope(*this, "prefill", true);
  usePrefillThreads();

  const SpecialTokens &tok = model_->tokens();
  std::vector<Run> imageRuns, audioRuns, videoRuns;
  for (int64_t i = 0; i < T;) {
    int32_t id = ids[i];
    int64_t j = i + 1;
    if (id == tok.image || id == tok.audio || id == tok.video) {
      while (j < T && ids[j] == id)
        ++j;
      Run run{i, j - i};
      (id == tok.image ? imageRuns : id == tok.audio ? audioRuns : videoRuns).push_back(run);
    }
    i = j;
  }
  // kind: the placeholder tokens; input: what fills one run; entry: the embedding entry point.
  auto checkMedia = [&](const char *kind, const char *input, const char *unit, const char *entry,
                        const std::vector<Run> &runs, size_t given, auto countOf, auto pathOf,
                        const Executor *executor) {
    if (!runs.empty() && executor == nullptr)
      fail(path, ": the prompt has ", kind, " tokens but the model has no ", entry,
           " entry point");
    if (runs.size() != given) {
      // Name the first input left without a run.
      std::string extra = given > runs.size() ? std::string(" (") + pathOf(runs.size()) +
                                                    " has no run of " + kind + " tokens)"
                                              : "";
      fail("prefill: the prompt has ", runs.size(), " run(s) of ", kind, " tokens but ", given,
           " ", input, given == 1 ? " was" : "s were", " given", extra);
    }
    for (size_t k = 0; k < runs.size(); ++k)
      if (countOf(k) != runs[k].length)
        fail("prompt has ", runs[k].length, " ", kind, " tokens in run ", k + 1, " but ", input,
             " ", pathOf(k), " gives ", countOf(k), " ", unit);
  };
  checkMedia(
      "image", "image", "patches", "embed_image", imageRuns, images.size(),
      [&](size_t k) { return images[k].count; }, [&](size_t k) { return images[k].path; },
      embedImage_.get());
  checkMedia(
      "audio", "audio", "frames", "embed_audio", audioRuns, audios.size(),
      [&](size_t k) { return audios[k].count; }, [&](size_t k) { return audios[k].path; },
      embedAudio_.get());
  checkMedia(
      "video", "video frame", "patches", "embed_image", videoRuns, frames.size(),
      [&](size_t k) { return frames[k].count; },
      [&](size_t k) { return frames[k].path + " #" + std::to_string(k + 1); }, embedImage_.get());
  for (const std::vector<ImagePatches> *list : {&images, &frames})
    for (const ImagePatches &image : *list)
      if (image.patchDim != model_->patchDim())
        fail(image.path, ": patches of ", image.patchDim, " values but the model takes ",
             model_->patchDim());
  for (const AudioFrames &audio : audios)
    if (audio.frameSize != model_->audioFrameSize())
      fail(audio.path, ": frames of ", audio.frameSize, " samples but the model takes ",
           model_->audioFrameSize());

  ensureCapacity(T);
  const int64_t hidden = model_->hiddenSize();
  for (int64_t i = 0; i < T; ++i) {
    int32_t id = ids[i];
    bool placeholder = id == tok.image || id == tok.audio || id == tok.video;
    ids_[i] = placeholder ? tok.pad : id;
    blockIds_[i] = -1;
  }
  // Block ids: one per maximal run of image or video tokens (an image, a video frame), numbered
  // in prompt order.
  {
    std::vector<Run> visionRuns = imageRuns;
    visionRuns.insert(visionRuns.end(), videoRuns.begin(), videoRuns.end());
    std::sort(visionRuns.begin(), visionRuns.end(),
              [](const Run &a, const Run &b) { return a.start < b.start; });
    for (size_t k = 0; k < visionRuns.size(); ++k)
      std::fill_n(blockIds_.begin() + visionRuns[k].start, visionRuns[k].length,
                  static_cast<int32_t>(k));
  }

  const auto start = static_cast<int32_t>(position_);
  PrefillPhaseClock clock;
  {
    const void *in[] = {ids_.data()};
    void *out[] = {hidden_.data()};
    embedText_->run(T, start, in, out, state_);
  }
  prefillTimes_.embedText = clock.lap();
  for (size_t k = 0; k < imageRuns.size(); ++k) {
    const void *in[] = {images[k].patches.data(), images[k].positions.data()};
    void *out[] = {media_.data()};
    embedImage_->run(imageRuns[k].length, start, in, out, state_);
    std::memcpy(hidden_.data() + imageRuns[k].start * hidden, media_.data(),
                sizeof(float) * imageRuns[k].length * hidden);
  }
  for (size_t k = 0; k < videoRuns.size(); ++k) {
    const void *in[] = {frames[k].patches.data(), frames[k].positions.data()};
    void *out[] = {media_.data()};
    embedImage_->run(videoRuns[k].length, start, in, out, state_);
    std::memcpy(hidden_.data() + videoRuns[k].start * hidden, media_.data(),
                sizeof(float) * videoRuns[k].length * hidden);
  }
  for (size_t k = 0; k < audioRuns.size(); ++k) {
    const void *in[] = {audios[k].frames.data()};
    void *out[] = {media_.data()};
    embedAudio_->run(audioRuns[k].length, start, in, out, state_);
    std::memcpy(hidden_.data() + audioRuns[k].start * hidden, media_.data(),
                sizeof(float) * audioRuns[k].length * hidden);
  }
  prefillTimes_.embedMedia = clock.lap();
  {
    const void *in[] = {hidden_.data(), blockIds_.data()};
    void *out[] = {decoded_.data()};
    decoder_->run(T, start, in, out, state_);
  }
  prefillTimes_.decoder = clock.lap();
  prefillTimes_.lmHead = 0;
  if (logits != nullptr) {
    const int64_t rows = allLogits ? T : 1;
    const void *in[] = {decoded_.data() + (T - rows) * hidden};
    void *out[] = {logits};
    lmHead_->run(rows, start, in, out, state_);
    prefillTimes_.lmHead = clock.lap();
  }
  position_ += T;
}

void Session::decode(int32_t token, float *logits) {
  const int64_t vocab = model_->vocabSize();
  if (token < 0 || token >= vocab)
    fail("decode: token id ", token, " is out of range [0, ", vocab, ")");
  if (logits == nullptr)
    fail("decode: no logits buffer");
  checkRoom(1);
  RunScope scope(*this, "decode", false);
  useDecodeThreads();
  ensureCapacity(1);
  const SpecialTokens &tok = model_->tokens();
  ids_[0] = (token == tok.image || token == tok.audio || token == tok.video) ? tok.pad : token;
  blockIds_[0] = -1;
  const auto start = static_cast<int32_t>(position_);
  const void *textIn[] = {ids_.data()};
  void *textOut[] = {hidden_.data()};
  embedText_->run(1, start, textIn, textOut, state_);
  const void *decoderIn[] = {hidden_.data(), blockIds_.data()};
  void *decoderOut[] = {decoded_.data()};
  decoder_->run(1, start, decoderIn, decoderOut, state_);
  const void *headIn[] = {decoded_.data()};
  void *headOut[] = {logits};
  lmHead_->run(1, start, headIn, headOut, state_);
  ++position_;
}

} // namespace loom
