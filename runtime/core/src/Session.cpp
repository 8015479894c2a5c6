#include "loom/DTypeSize.h"
#include "loom/Runtime/Session.h"

#include "loom/Error.h"
#include "loom/Schema/loom_generated.h"

#include <algorithm>
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

} // namespace

int64_t mediaTokenCount(const Model &model, const MediaInput &media) {
  if (media.kind == MediaKind::Image)
    return loadImagePatches(media.path, model.patchSize()).count;
  if (media.kind == MediaKind::Audio)
    return loadAudioFrames(media.path, model.audioFrameSize()).count;
  fail(media.path, ": unknown media kind ", static_cast<int>(media.kind));
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
  if (options.threads < 0)
    fail("session: threads must not be negative, got ", options.threads);
  if (options.threads > 0)
    model_->kernels().setNumThreads(options.threads);

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
      kv.values = mapZeroed(bytes, "the KV cache");
      mappings_.emplace_back(kv.values, bytes);
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

void Session::reset() {
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
  std::vector<ImagePatches> images;
  std::vector<AudioFrames> audios;
  for (const MediaInput &m : media) {
    if (m.kind == MediaKind::Image)
      images.push_back(loadImagePatches(m.path, model_->patchSize()));
    else if (m.kind == MediaKind::Audio)
      audios.push_back(loadAudioFrames(m.path, model_->audioFrameSize()));
    else
      fail(m.path, ": unknown media kind ", static_cast<int>(m.kind));
  }
  prefill(ids, images, audios, allLogits, logits);
}

void Session::prefill(const std::vector<int32_t> &ids, const std::vector<ImagePatches> &images,
                      const std::vector<AudioFrames> &audios, bool allLogits, float *logits) {
  const std::string &path = model_->path();
  const int64_t T = static_cast<int64_t>(ids.size());
  if (T == 0)
    fail("prefill: the prompt has no tokens");
  if (logits == nullptr)
    fail("prefill: no logits buffer");
  const int64_t vocab = model_->vocabSize();
  for (int64_t i = 0; i < T; ++i)
    if (ids[i] < 0 || ids[i] >= vocab)
      fail("prefill: token id ", ids[i], " at index ", i, " is out of range [0, ", vocab, ")");
  checkRoom(T);

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
  if (!videoRuns.empty())
    fail("prefill: the prompt has ", videoRuns.size(), " run(s) of video tokens (id ", tok.video,
         ") but video input is not supported yet");
  auto checkMedia = [&](const char *kind, const char *unit, const std::vector<Run> &runs,
                        size_t given, auto countOf, auto pathOf, const Executor *executor) {
    if (!runs.empty() && executor == nullptr)
      fail(path, ": the prompt has ", kind, " tokens but the model has no embed_", kind,
           " entry point");
    if (runs.size() != given)
      fail("prefill: the prompt has ", runs.size(), " run(s) of ", kind, " tokens but ", given,
           " ", kind, given == 1 ? "" : "s", " were given");
    for (size_t k = 0; k < runs.size(); ++k)
      if (countOf(k) != runs[k].length)
        fail("prompt has ", runs[k].length, " ", kind, " tokens in run ", k + 1, " but ", kind,
             " ", pathOf(k), " gives ", countOf(k), " ", unit);
  };
  checkMedia(
      "image", "patches", imageRuns, images.size(), [&](size_t k) { return images[k].count; },
      [&](size_t k) { return images[k].path; }, embedImage_.get());
  checkMedia(
      "audio", "frames", audioRuns, audios.size(), [&](size_t k) { return audios[k].count; },
      [&](size_t k) { return audios[k].path; }, embedAudio_.get());
  for (const ImagePatches &image : images)
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
  // Block ids: one per maximal run of image/video tokens, in order (video runs are refused above).
  for (size_t k = 0; k < imageRuns.size(); ++k)
    std::fill_n(blockIds_.begin() + imageRuns[k].start, imageRuns[k].length,
                static_cast<int32_t>(k));

  const auto start = static_cast<int32_t>(position_);
  {
    const void *in[] = {ids_.data()};
    void *out[] = {hidden_.data()};
    embedText_->run(T, start, in, out, state_);
  }
  for (size_t k = 0; k < imageRuns.size(); ++k) {
    const void *in[] = {images[k].patches.data(), images[k].positions.data()};
    void *out[] = {media_.data()};
    embedImage_->run(imageRuns[k].length, start, in, out, state_);
    std::memcpy(hidden_.data() + imageRuns[k].start * hidden, media_.data(),
                sizeof(float) * imageRuns[k].length * hidden);
  }
  for (size_t k = 0; k < audioRuns.size(); ++k) {
    const void *in[] = {audios[k].frames.data()};
    void *out[] = {media_.data()};
    embedAudio_->run(audioRuns[k].length, start, in, out, state_);
    std::memcpy(hidden_.data() + audioRuns[k].start * hidden, media_.data(),
                sizeof(float) * audioRuns[k].length * hidden);
  }
  {
    const void *in[] = {hidden_.data(), blockIds_.data()};
    void *out[] = {decoded_.data()};
    decoder_->run(T, start, in, out, state_);
  }
  {
    const int64_t rows = allLogits ? T : 1;
    const void *in[] = {decoded_.data() + (T - rows) * hidden};
    void *out[] = {logits};
    lmHead_->run(rows, start, in, out, state_);
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
