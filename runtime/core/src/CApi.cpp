// The C API (runtime/include/loom/loom.h) over the C++ runtime. Every entry point catches
// everything: no exception crosses the C boundary.
#include "loom/loom.h"

#include "loom/Error.h"
#include "loom/Runtime/ChatTemplate.h"
#include "loom/Runtime/DecodeBatch.h"
#include "loom/Runtime/Session.h"

#include <cstdint>
#include <cstring>
#include <new>
#include <string>
#include <vector>

static_assert(LOOM_MAX_KERNEL_THREADS == loom::kMaxKernelThreads, "loom.h and Session.h disagree");

struct loom_model {
  std::shared_ptr<const loom::Model> model;
};

struct loom_session {
  std::unique_ptr<loom::Session> session;
};

struct loom_batch {
  std::unique_ptr<loom::DecodeBatch> batch;
};

struct loom_detokenizer {
  loom::StreamingDecoder decoder;
  std::string text;
};

namespace {

thread_local std::string lastError;

loom_status setError(loom_status status, std::string message) {
  lastError = std::move(message);
  return status;
}

template <typename F>
loom_status guarded(loom_status onError, F &&body) {
  try {
    lastError.clear();
    return body();
  } catch (const loom::Error &e) {
    return setError(onError, e.what());
  } catch (const std::bad_alloc &) {
    return setError(LOOM_ERROR_OUT_OF_MEMORY, "out of memory");
  } catch (const std::exception &e) {
    return setError(LOOM_ERROR_INTERNAL, std::string("internal error: ") + e.what());
  } catch (...) {
    return setError(LOOM_ERROR_INTERNAL, "internal error: unknown exception");
  }
}

loom_status invalid(const char *message) {
  return setError(LOOM_ERROR_INVALID_ARGUMENT, message);
}

} // namespace

extern "C" {

uint32_t loom_api_version(void) { return LOOM_API_VERSION; }

const char *loom_last_error(void) { return lastError.c_str(); }

loom_status loom_model_open(const char *path, loom_model **model) {
  loom_model_options options;
  loom_model_options_init(&options);
  return loom_model_open_with(path, &options, model);
}

void loom_model_options_init(loom_model_options *options) {
  if (options)
    *options = loom_model_options{0};
}

loom_status loom_model_open_with(const char *path, const loom_model_options *options,
                                 loom_model **model) {
  if (path == nullptr || options == nullptr || model == nullptr)
    return invalid("loom_model_open_with: path, options and model must not be null");
  *model = nullptr;
  if (options->huge_page_copy < LOOM_HUGE_PAGES_AS_TUNED || options->huge_page_copy > 1)
    return invalid(("loom_model_open_with: huge_page_copy must be 0, 1 or "
                    "LOOM_HUGE_PAGES_AS_TUNED, got " +
                    std::to_string(options->huge_page_copy))
                       .c_str());
  return guarded(LOOM_ERROR_MODEL, [&] {
    auto handle = std::make_unique<loom_model>();
    loom::MediaLimits limits;
    if (options->max_image_pixels != 0)
      limits.maxImagePixels = options->max_image_pixels;
    if (options->max_media_seconds != 0)
      limits.maxSeconds = options->max_media_seconds;
    const loom::ArtifactMemory memory =
        options->huge_page_copy == LOOM_HUGE_PAGES_AS_TUNED ? loom::ArtifactMemory::AsTuned
        : options->huge_page_copy                           ? loom::ArtifactMemory::HugePageCopy
                                                            : loom::ArtifactMemory::Mapped;
    handle->model = loom::Model::open(path, memory, limits);
    *model = handle.release();
    return LOOM_OK;
  });
}

loom_status loom_model_verify(const loom_model *model) {
  if (model == nullptr)
    return invalid("loom_model_verify: model must not be null");
  return guarded(LOOM_ERROR_MODEL, [&] {
    model->model->artifact().verifyAllSegments();
    return LOOM_OK;
  });
}

void loom_model_close(loom_model *model) { delete model; }

loom_status loom_model_get_tuning(const loom_model *model, loom_model_tuning *tuning) {
  if (model == nullptr || tuning == nullptr)
    return invalid("loom_model_get_tuning: model and tuning must not be null");
  const loom::TunedRuntime &t = model->model->tunedRuntime();
  *tuning = loom_model_tuning{t.tuned ? 1 : 0, t.prefillThreads, t.decodeThreads,
                              t.hugePages ? 1 : 0, t.prefillChunk};
  return LOOM_OK;
}

int32_t loom_model_vocab_size(const loom_model *model) {
  return model ? static_cast<int32_t>(model->model->vocabSize()) : 0;
}

int64_t loom_model_hidden_size(const loom_model *model) {
  return model ? model->model->hiddenSize() : 0;
}

int64_t loom_model_max_context(const loom_model *model) {
  return model ? model->model->maxContext() : 0;
}

loom_status loom_model_special_tokens(const loom_model *model, loom_special_tokens *tokens) {
  if (model == nullptr || tokens == nullptr)
    return invalid("loom_model_special_tokens: model and tokens must not be null");
  const loom::SpecialTokens &t = model->model->tokens();
  std::memset(tokens, 0, sizeof *tokens);
  tokens->pad = t.pad;
  tokens->bos = t.bos;
  tokens->image = t.image;
  tokens->audio = t.audio;
  tokens->video = t.video;
  tokens->boi = t.boi;
  tokens->eoi = t.eoi;
  tokens->boa = t.boa;
  tokens->eoa = t.eoa;
  for (int32_t id : t.eos)
    if (tokens->eos_count < 16)
      tokens->eos[tokens->eos_count++] = id;
  return LOOM_OK;
}

loom_status loom_model_stop_tokens(const loom_model *model, int32_t *ids, size_t capacity,
                                   size_t *count) {
  if (model == nullptr || count == nullptr || (ids == nullptr && capacity != 0))
    return invalid("loom_model_stop_tokens: null argument");
  return guarded(LOOM_ERROR_INTERNAL, [&] {
    std::vector<int32_t> stops =
        loom::chat::stopTokens(model->model->tokenizer(), model->model->tokens().eos);
    *count = stops.size();
    if (stops.size() > capacity)
      return setError(LOOM_ERROR_BUFFER_TOO_SMALL,
                      "loom_model_stop_tokens: " + std::to_string(stops.size()) +
                          " ids do not fit in " + std::to_string(capacity));
    if (!stops.empty())
      std::memcpy(ids, stops.data(), stops.size() * sizeof(int32_t));
    return LOOM_OK;
  });
}

loom_status loom_tokenize(const loom_model *model, const char *text, size_t length, int add_bos,
                          int32_t *ids, size_t capacity, size_t *count) {
  if (model == nullptr || (text == nullptr && length != 0) || count == nullptr ||
      (ids == nullptr && capacity != 0))
    return invalid("loom_tokenize: null argument");
  return guarded(LOOM_ERROR_INVALID_ARGUMENT, [&] {
    std::vector<int32_t> out =
        model->model->tokenizer().encode(std::string_view(text ? text : "", length), add_bos != 0);
    *count = out.size();
    if (out.size() > capacity)
      return setError(LOOM_ERROR_BUFFER_TOO_SMALL,
                      "loom_tokenize: " + std::to_string(out.size()) + " ids do not fit in " +
                          std::to_string(capacity));
    if (!out.empty())
      std::memcpy(ids, out.data(), out.size() * sizeof(int32_t));
    return LOOM_OK;
  });
}

loom_status loom_detokenize(const loom_model *model, const int32_t *ids, size_t count, char *text,
                            size_t capacity, size_t *length) {
  if (model == nullptr || (ids == nullptr && count != 0) || length == nullptr ||
      (text == nullptr && capacity != 0))
    return invalid("loom_detokenize: null argument");
  return guarded(LOOM_ERROR_INVALID_ARGUMENT, [&] {
    std::string out = model->model->tokenizer().decode(std::vector<int32_t>(ids, ids + count));
    *length = out.size();
    if (out.size() >= capacity)
      return setError(LOOM_ERROR_BUFFER_TOO_SMALL,
                      "loom_detokenize: " + std::to_string(out.size() + 1) +
                          " bytes do not fit in " + std::to_string(capacity));
    std::memcpy(text, out.data(), out.size());
    text[out.size()] = '\0';
    return LOOM_OK;
  });
}

loom_status loom_token_id(const loom_model *model, const char *piece, int32_t *id) {
  if (model == nullptr || piece == nullptr || id == nullptr)
    return invalid("loom_token_id: null argument");
  return guarded(LOOM_ERROR_INVALID_ARGUMENT, [&] {
    std::optional<int32_t> found = model->model->tokenizer().tokenId(piece);
    if (!found)
      return setError(LOOM_ERROR_INVALID_ARGUMENT,
                      std::string("no token '") + piece + "' in the vocabulary");
    *id = *found;
    return LOOM_OK;
  });
}

loom_status loom_detokenizer_create(const loom_model *model, loom_detokenizer **detokenizer) {
  if (model == nullptr || detokenizer == nullptr)
    return invalid("loom_detokenizer_create: null argument");
  *detokenizer = nullptr;
  return guarded(LOOM_ERROR_INTERNAL, [&] {
    *detokenizer = new loom_detokenizer{loom::StreamingDecoder(model->model->tokenizer()), {}};
    return LOOM_OK;
  });
}

loom_status loom_detokenizer_push(loom_detokenizer *detokenizer, int32_t id, const char **text,
                                  size_t *length) {
  if (detokenizer == nullptr || text == nullptr || length == nullptr)
    return invalid("loom_detokenizer_push: null argument");
  return guarded(LOOM_ERROR_INVALID_ARGUMENT, [&] {
    detokenizer->text = detokenizer->decoder.push(id);
    *text = detokenizer->text.c_str();
    *length = detokenizer->text.size();
    return LOOM_OK;
  });
}

loom_status loom_detokenizer_finish(loom_detokenizer *detokenizer, const char **text,
                                    size_t *length) {
  if (detokenizer == nullptr || text == nullptr || length == nullptr)
    return invalid("loom_detokenizer_finish: null argument");
  return guarded(LOOM_ERROR_INVALID_ARGUMENT, [&] {
    detokenizer->text = detokenizer->decoder.finish();
    *text = detokenizer->text.c_str();
    *length = detokenizer->text.size();
    return LOOM_OK;
  });
}

void loom_detokenizer_destroy(loom_detokenizer *detokenizer) { delete detokenizer; }

namespace {
const char *defaultMediaName(const loom::MediaInput &media) {
  const bool image = media.kind == loom::MediaKind::Image;
  switch (media.source) {
  case loom::MediaSource::Bytes:
    return image ? "image bytes" : "audio bytes";
  case loom::MediaSource::Pixels:
    return "image pixels";
  case loom::MediaSource::Samples:
    return "audio samples";
  default:
    return "media";
  }
}

// A C caller may store any int in an enum field, and in C++ loading an enum outside its
// enumerators' range is undefined: read the field as the int it holds.
static_assert(sizeof(loom_media_kind) == sizeof(int) && sizeof(loom_media_source) == sizeof(int),
              "C enums are ints on this ABI");
int enumField(const void *field) {
  int value = 0;
  std::memcpy(&value, field, sizeof value);
  return value;
}

// False for an unknown kind or source, or a file without a path.
bool toMedia(const loom_media &in, loom::MediaInput &out) {
  const int kind = enumField(&in.kind);
  if (kind != LOOM_MEDIA_IMAGE && kind != LOOM_MEDIA_AUDIO && kind != LOOM_MEDIA_VIDEO)
    return false;
  out.kind = kind == LOOM_MEDIA_IMAGE   ? loom::MediaKind::Image
             : kind == LOOM_MEDIA_AUDIO ? loom::MediaKind::Audio
                                        : loom::MediaKind::Video;
  switch (enumField(&in.source)) {
  case LOOM_MEDIA_FILE:
    if (in.path == nullptr)
      return false;
    out.source = loom::MediaSource::File;
    break;
  case LOOM_MEDIA_BYTES:
    out.source = loom::MediaSource::Bytes;
    out.bytes = in.data;
    out.byteCount = in.size;
    break;
  case LOOM_MEDIA_PIXELS:
    out.source = loom::MediaSource::Pixels;
    out.pixels = in.pixels;
    out.width = in.width;
    out.height = in.height;
    break;
  case LOOM_MEDIA_SAMPLES:
    out.source = loom::MediaSource::Samples;
    out.samples = in.samples;
    out.sampleFrames = in.frames > static_cast<size_t>(INT64_MAX) ? INT64_MAX
                                                                  : static_cast<int64_t>(in.frames);
    out.channels = in.channels;
    out.sampleRate = in.sample_rate;
    break;
  default:
    return false;
  }
  out.path = in.path ? in.path : defaultMediaName(out);
  out.tokenBudget = in.token_budget;
  out.maxFrames = in.max_frames;
  out.videoAudio = in.video_audio != 0;
  return true;
}
} // namespace

void loom_media_init(loom_media *media, loom_media_kind kind, const char *path) {
  if (media) {
    *media = loom_media{};
    media->kind = kind;
    media->path = path;
    media->video_audio = 1;
    media->source = LOOM_MEDIA_FILE;
  }
}

void loom_media_init_bytes(loom_media *media, loom_media_kind kind, const void *data,
                           size_t size) {
  loom_media_init(media, kind, nullptr);
  if (media) {
    media->source = LOOM_MEDIA_BYTES;
    media->data = data;
    media->size = size;
  }
}

void loom_media_init_pixels(loom_media *media, const uint8_t *pixels, int32_t width,
                            int32_t height) {
  loom_media_init(media, LOOM_MEDIA_IMAGE, nullptr);
  if (media) {
    media->source = LOOM_MEDIA_PIXELS;
    media->pixels = pixels;
    media->width = width;
    media->height = height;
  }
}

void loom_media_init_samples(loom_media *media, const float *samples, size_t frames,
                             int32_t channels, int32_t sample_rate) {
  loom_media_init(media, LOOM_MEDIA_AUDIO, nullptr);
  if (media) {
    media->source = LOOM_MEDIA_SAMPLES;
    media->samples = samples;
    media->frames = frames;
    media->channels = channels;
    media->sample_rate = sample_rate;
  }
}

loom_status loom_media_token_count(const loom_model *model, const loom_media *media,
                                   size_t *count) {
  loom::MediaInput input;
  if (model == nullptr || media == nullptr || count == nullptr || !toMedia(*media, input))
    return invalid("loom_media_token_count: null argument, unknown media kind or source, or a file without a path");
  return guarded(LOOM_ERROR_MODEL, [&] {
    *count = static_cast<size_t>(loom::mediaTokenCount(*model->model, input));
    return LOOM_OK;
  });
}

loom_status loom_media_prompt(const loom_model *model, const loom_media *media, char *text,
                              size_t capacity, size_t *length) {
  loom::MediaInput input;
  if (model == nullptr || media == nullptr || length == nullptr ||
      (text == nullptr && capacity != 0) || !toMedia(*media, input))
    return invalid("loom_media_prompt: null argument, unknown media kind or source, or a file without a path");
  return guarded(LOOM_ERROR_MODEL, [&] {
    std::string out = loom::mediaPromptText(*model->model, input);
    *length = out.size();
    if (out.size() >= capacity)
      return setError(LOOM_ERROR_BUFFER_TOO_SMALL,
                      "loom_media_prompt: " + std::to_string(out.size() + 1) +
                          " bytes do not fit in " + std::to_string(capacity));
    std::memcpy(text, out.data(), out.size());
    text[out.size()] = '\0';
    return LOOM_OK;
  });
}

void loom_session_options_init(loom_session_options *options) {
  if (options) {
    options->max_context = 0;
    options->threads = 0;
    options->seed = 0;
  }
}

loom_status loom_session_create(loom_model *model, const loom_session_options *options,
                                loom_session **session) {
  if (model == nullptr || session == nullptr)
    return invalid("loom_session_create: model and session must not be null");
  *session = nullptr;
  return guarded(LOOM_ERROR_INVALID_ARGUMENT, [&] {
    loom::SessionOptions opts;
    if (options) {
      opts.maxContext = options->max_context;
      opts.threads = options->threads;
      opts.seed = options->seed;
    }
    auto handle = std::make_unique<loom_session>();
    handle->session = std::make_unique<loom::Session>(model->model, opts);
    *session = handle.release();
    return LOOM_OK;
  });
}

void loom_session_destroy(loom_session *session) { delete session; }

loom_status loom_session_prefill(loom_session *session, const int32_t *ids, size_t n,
                                 const loom_media *media, size_t n_media, int all_logits,
                                 float *logits, size_t logits_capacity) {
  if (session == nullptr || (ids == nullptr && n != 0) || (media == nullptr && n_media != 0))
    return invalid("loom_session_prefill: null argument");
  if (logits == nullptr && all_logits)
    return invalid("loom_session_prefill: all_logits without a logits buffer");
  const size_t vocab = static_cast<size_t>(session->session->model().vocabSize());
  const size_t needed = (all_logits ? n : 1) * vocab;
  if (logits != nullptr && logits_capacity < needed)
    return setError(LOOM_ERROR_BUFFER_TOO_SMALL,
                    "loom_session_prefill: the logits buffer holds " +
                        std::to_string(logits_capacity) + " floats but " +
                        std::to_string(needed) + " are needed");
  std::vector<loom::MediaInput> inputs(n_media);
  for (size_t i = 0; i < n_media; ++i)
    if (!toMedia(media[i], inputs[i]))
      return invalid("loom_session_prefill: media entry with an unknown kind or source, or a file without a path");
  return guarded(LOOM_ERROR_RUNTIME, [&] {
    session->session->prefill(std::vector<int32_t>(ids, ids + n), inputs, all_logits != 0,
                              logits);
    return LOOM_OK;
  });
}

loom_status loom_session_decode(loom_session *session, int32_t token, float *logits,
                                size_t logits_capacity) {
  if (session == nullptr || logits == nullptr)
    return invalid("loom_session_decode: null argument");
  const size_t vocab = static_cast<size_t>(session->session->model().vocabSize());
  if (logits_capacity < vocab)
    return setError(LOOM_ERROR_BUFFER_TOO_SMALL,
                    "loom_session_decode: the logits buffer holds " +
                        std::to_string(logits_capacity) + " floats but " +
                        std::to_string(vocab) + " are needed");
  return guarded(LOOM_ERROR_RUNTIME, [&] {
    session->session->decode(token, logits);
    return LOOM_OK;
  });
}

loom_status loom_batch_create(loom_model *model, loom_batch **batch) {
  if (model == nullptr || batch == nullptr)
    return invalid("loom_batch_create: null argument");
  *batch = nullptr;
  return guarded(LOOM_ERROR_MODEL, [&] {
    auto made = std::make_unique<loom_batch>();
    made->batch = std::make_unique<loom::DecodeBatch>(model->model);
    *batch = made.release();
    return LOOM_OK;
  });
}

void loom_batch_destroy(loom_batch *batch) { delete batch; }

loom_status loom_batch_decode(loom_batch *batch, loom_session *const *sessions,
                              const int32_t *tokens, size_t n, float *logits,
                              size_t logits_capacity) {
  if (batch == nullptr || sessions == nullptr || tokens == nullptr || logits == nullptr || n == 0)
    return invalid("loom_batch_decode: null argument or no sessions");
  std::vector<loom::Session *> members(n);
  for (size_t i = 0; i < n; ++i) {
    if (sessions[i] == nullptr)
      return setError(LOOM_ERROR_INVALID_ARGUMENT,
                      "loom_batch_decode: session " + std::to_string(i) + " is null");
    members[i] = sessions[i]->session.get();
  }
  const size_t vocab = static_cast<size_t>(members[0]->model().vocabSize());
  if (logits_capacity / vocab < n)
    return setError(LOOM_ERROR_BUFFER_TOO_SMALL,
                    "loom_batch_decode: the logits buffer holds " +
                        std::to_string(logits_capacity) + " floats but " +
                        std::to_string(n) + " x " + std::to_string(vocab) + " are needed");
  return guarded(LOOM_ERROR_RUNTIME, [&] {
    batch->batch->decode(members, std::vector<int32_t>(tokens, tokens + n), logits);
    return LOOM_OK;
  });
}

int64_t loom_session_position(const loom_session *session) {
  return session ? session->session->position() : 0;
}

loom_status loom_session_reset(loom_session *session) {
  if (session == nullptr)
    return invalid("loom_session_reset: null session");
  return guarded(LOOM_ERROR_RUNTIME, [&] {
    session->session->reset();
    return LOOM_OK;
  });
}

loom_status loom_session_set_prefill_yield(loom_session *session, loom_prefill_yield yield,
                                           void *user) {
  if (session == nullptr)
    return invalid("loom_session_set_prefill_yield: null session");
  if (yield)
    session->session->setPrefillYield([yield, user] { yield(user); });
  else
    session->session->setPrefillYield(nullptr);
  return LOOM_OK;
}

loom_status loom_session_set_seed(loom_session *session, uint64_t seed) {
  if (session == nullptr)
    return invalid("loom_session_set_seed: null session");
  session->session->sampler().reseed(seed);
  return LOOM_OK;
}

void loom_sampling_init(loom_sampling *sampling) {
  if (sampling) {
    sampling->temperature = 1.0f;
    sampling->top_k = 64;
    sampling->top_p = 0.95f;
    sampling->greedy = 0;
  }
}

loom_status loom_sample(loom_session *session, const float *logits, size_t n,
                        const loom_sampling *sampling, int32_t *token) {
  if (session == nullptr || logits == nullptr || sampling == nullptr || token == nullptr)
    return invalid("loom_sample: null argument");
  return guarded(LOOM_ERROR_INVALID_ARGUMENT, [&] {
    loom::SamplingParams params;
    params.temperature = sampling->temperature;
    params.topK = sampling->top_k;
    params.topP = sampling->top_p;
    params.greedy = sampling->greedy != 0;
    *token = session->session->sampler().sample(logits, n, params);
    return LOOM_OK;
  });
}

} // extern "C"
