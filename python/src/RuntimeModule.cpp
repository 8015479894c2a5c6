// loom._runtime: the runtime's C API (runtime/include/loom/loom.h) for Python, plus the chat
// template and the standalone tokenizer. python/loom/ builds the public API on it. Every call
// that computes releases the GIL; a session serialises its own calls with a mutex, so two
// threads may share one only by taking turns, while two sessions run at once.
#include "ArtifactDescription.h"
#include "loom/Artifact.h"
#include "loom/Error.h"
#include "loom/Runtime/ChatTemplate.h"
#include "loom/Schema/loom_generated.h"
#include "loom/Tokenizer/Tokenizer.h"
#include "loom/loom.h"

#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/pair.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <algorithm>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace nb = nanobind;
using namespace nb::literals;

namespace {

// A failed C API call, raised in Python as loom.LoomError with the runtime's message.
struct LoomFailure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

void check(loom_status status) {
  if (status != LOOM_OK)
    throw LoomFailure(loom_last_error()[0] ? loom_last_error() : "the Loom runtime failed");
}

using FloatArray = nb::ndarray<nb::numpy, float>;
using IdArray = nb::ndarray<nb::numpy, int32_t, nb::ndim<1>>;
using IdInput = nb::ndarray<const int32_t, nb::ndim<1>, nb::c_contig, nb::device::cpu>;

// A NumPy float32 array of `shape` that owns its memory; the runtime writes into it directly.
FloatArray newFloatArray(std::vector<size_t> shape, float *&data) {
  size_t count = 1;
  for (size_t dim : shape)
    count *= dim;
  data = new float[count];
  nb::capsule owner(data, [](void *p) noexcept { delete[] static_cast<float *>(p); });
  return FloatArray(data, shape.size(), shape.data(), owner);
}

IdArray newIdArray(const std::vector<int32_t> &ids) {
  auto *data = new int32_t[ids.size()];
  std::copy(ids.begin(), ids.end(), data);
  nb::capsule owner(data, [](void *p) noexcept { delete[] static_cast<int32_t *>(p); });
  size_t shape[1] = {ids.size()};
  return IdArray(data, 1, shape, owner);
}

// The loaded artifact, shared by the Model object and its sessions: closed when the last goes.
struct ModelHandle {
  loom_model *model = nullptr;
  std::string path;
  ~ModelHandle() { loom_model_close(model); }
};

class Media;

class Model {
public:
  Model(const std::string &path, bool hugePages, int64_t maxImagePixels, int32_t maxMediaSeconds)
      : handle_(std::make_shared<ModelHandle>()) {
    handle_->path = path;
    loom_model_options options;
    loom_model_options_init(&options);
    options.huge_page_copy = hugePages ? 1 : 0;
    options.max_image_pixels = maxImagePixels;
    options.max_media_seconds = maxMediaSeconds;
    loom_status status;
    {
      nb::gil_scoped_release release;
      status = loom_model_open_with(path.c_str(), &options, &handle_->model);
    }
    check(status);
  }

  const std::shared_ptr<ModelHandle> &handle() const { return handle_; }
  loom_model *get() const { return handle_->model; }
  const std::string &path() const { return handle_->path; }
  int32_t vocabSize() const { return loom_model_vocab_size(get()); }
  int64_t hiddenSize() const { return loom_model_hidden_size(get()); }
  int64_t maxContext() const { return loom_model_max_context(get()); }

  void verify() const {
    loom_status status;
    {
      nb::gil_scoped_release release;
      status = loom_model_verify(get());
    }
    check(status);
  }

  nb::dict specialTokens() const {
    loom_special_tokens t;
    check(loom_model_special_tokens(get(), &t));
    nb::dict out;
    out["pad"] = t.pad;
    out["bos"] = t.bos;
    out["image"] = t.image;
    out["audio"] = t.audio;
    out["video"] = t.video;
    out["boi"] = t.boi;
    out["eoi"] = t.eoi;
    out["boa"] = t.boa;
    out["eoa"] = t.eoa;
    out["eos"] = std::vector<int32_t>(t.eos, t.eos + t.eos_count);
    return out;
  }

  std::vector<int32_t> stopTokens() const {
    std::vector<int32_t> ids(8);
    size_t count = 0;
    loom_status status = loom_model_stop_tokens(get(), ids.data(), ids.size(), &count);
    if (status == LOOM_ERROR_BUFFER_TOO_SMALL) {
      ids.resize(count);
      status = loom_model_stop_tokens(get(), ids.data(), ids.size(), &count);
    }
    check(status);
    ids.resize(count);
    return ids;
  }

  IdArray tokenize(const std::string &text, bool addBos) const {
    std::vector<int32_t> ids(text.size() + 2);
    size_t count = 0;
    loom_status status;
    {
      nb::gil_scoped_release release;
      status = loom_tokenize(get(), text.data(), text.size(), addBos ? 1 : 0, ids.data(),
                             ids.size(), &count);
      if (status == LOOM_ERROR_BUFFER_TOO_SMALL) {
        ids.resize(count);
        status = loom_tokenize(get(), text.data(), text.size(), addBos ? 1 : 0, ids.data(),
                               ids.size(), &count);
      }
    }
    check(status);
    ids.resize(count);
    return newIdArray(ids);
  }

  std::string detokenize(const IdInput &ids) const {
    std::string text(ids.size() * 8 + 16, '\0');
    size_t length = 0;
    loom_status status =
        loom_detokenize(get(), ids.data(), ids.size(), text.data(), text.size(), &length);
    if (status == LOOM_ERROR_BUFFER_TOO_SMALL) {
      text.resize(length + 1);
      status = loom_detokenize(get(), ids.data(), ids.size(), text.data(), text.size(), &length);
    }
    check(status);
    text.resize(length);
    return text;
  }

  int32_t tokenId(const std::string &piece) const {
    int32_t id = -1;
    check(loom_token_id(get(), piece.c_str(), &id));
    return id;
  }

  int64_t mediaTokenCount(const Media &media) const;
  std::string mediaPrompt(const Media &media) const;

  // loom-inspect --json's document, as JSON text.
  std::string describe() const {
    try {
      return loom::describeArtifact(*loom::Artifact::open(path()))
          .dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
    } catch (const loom::Error &e) {
      throw LoomFailure(e.what());
    }
  }

private:
  std::shared_ptr<ModelHandle> handle_;
};

// One image, audio or video: a file, or bytes / pixels / samples that this object keeps alive
// (the runtime reads them during the call that takes the medium).
class Media {
public:
  static Media file(int kind, const std::string &path, int32_t tokenBudget, int32_t maxFrames,
                    bool videoAudio) {
    Media m(kind, path);
    loom_media_init(&m.media_, static_cast<loom_media_kind>(kind), nullptr);
    m.media_.token_budget = tokenBudget;
    m.media_.max_frames = maxFrames;
    m.media_.video_audio = videoAudio ? 1 : 0;
    return m.named();
  }

  static Media bytes(int kind, nb::bytes data, const std::string &name, int32_t tokenBudget) {
    Media m(kind, name);
    loom_media_init_bytes(&m.media_, static_cast<loom_media_kind>(kind), data.c_str(),
                          data.size());
    m.media_.token_budget = tokenBudget;
    m.bytes_ = data;
    return m.named();
  }

  using PixelArray = nb::ndarray<const uint8_t, nb::shape<-1, -1, 3>, nb::c_contig, nb::device::cpu>;
  using SampleArray = nb::ndarray<const float, nb::ndim<2>, nb::c_contig, nb::device::cpu>;

  static Media pixels(PixelArray rgb, const std::string &name, int32_t tokenBudget) {
    Media m(LOOM_MEDIA_IMAGE, name);
    if (rgb.shape(0) > INT32_MAX || rgb.shape(1) > INT32_MAX)
      throw nb::value_error((name + ": the image is too large").c_str());
    loom_media_init_pixels(&m.media_, rgb.data(), static_cast<int32_t>(rgb.shape(1)),
                           static_cast<int32_t>(rgb.shape(0)));
    m.media_.token_budget = tokenBudget;
    m.pixels_ = rgb;
    return m.named();
  }

  static Media samples(SampleArray frames, int32_t sampleRate, const std::string &name) {
    Media m(LOOM_MEDIA_AUDIO, name);
    if (frames.shape(1) > INT32_MAX)
      throw nb::value_error((name + ": too many channels").c_str());
    loom_media_init_samples(&m.media_, frames.data(), frames.shape(0),
                            static_cast<int32_t>(frames.shape(1)), sampleRate);
    m.samples_ = frames;
    return m.named();
  }

  const loom_media &get() const { return media_; }
  int kind() const { return media_.kind; }
  const std::string &name() const { return name_; }

private:
  Media(int kind, std::string name) : name_(std::move(name)) {
    if (kind != LOOM_MEDIA_IMAGE && kind != LOOM_MEDIA_AUDIO && kind != LOOM_MEDIA_VIDEO)
      throw nb::value_error(("unknown media kind " + std::to_string(kind)).c_str());
  }
  // The path (or name) points into this object's string: set last, after any copy.
  Media &named() {
    media_.path = name_.c_str();
    return *this;
  }

  loom_media media_{};
  std::string name_;
  // What the in-memory sources point into (ndarrays hold a reference to their owner).
  nb::object bytes_;
  PixelArray pixels_;
  SampleArray samples_;

public:
  Media(const Media &other)
      : media_(other.media_), name_(other.name_), bytes_(other.bytes_), pixels_(other.pixels_),
        samples_(other.samples_) {
    media_.path = name_.c_str();
  }
  Media &operator=(const Media &) = delete;
};

int64_t Model::mediaTokenCount(const Media &media) const {
  size_t count = 0;
  loom_status status;
  {
    nb::gil_scoped_release release;
    status = loom_media_token_count(get(), &media.get(), &count);
  }
  check(status);
  return static_cast<int64_t>(count);
}

std::string Model::mediaPrompt(const Media &media) const {
  std::string text(4096, '\0');
  size_t length = 0;
  loom_status status;
  {
    nb::gil_scoped_release release;
    status = loom_media_prompt(get(), &media.get(), text.data(), text.size(), &length);
    if (status == LOOM_ERROR_BUFFER_TOO_SMALL) {
      text.resize(length + 1);
      status = loom_media_prompt(get(), &media.get(), text.data(), text.size(), &length);
    }
  }
  check(status);
  text.resize(length);
  return text;
}

class Session {
public:
  Session(const Model &model, int64_t maxContext, int32_t threads, uint64_t seed)
      : model_(model.handle()) {
    loom_session_options options;
    loom_session_options_init(&options);
    options.max_context = maxContext;
    options.threads = threads;
    options.seed = seed;
    check(loom_session_create(model_->model, &options, &session_));
  }
  ~Session() { loom_session_destroy(session_); }
  Session(const Session &) = delete;
  Session &operator=(const Session &) = delete;

  FloatArray prefill(const IdInput &ids, const std::vector<Media> &media, bool allLogits) {
    const size_t vocab = static_cast<size_t>(loom_model_vocab_size(model_->model));
    const size_t n = ids.size();
    float *logits = nullptr;
    FloatArray out = allLogits ? newFloatArray({n, vocab}, logits) : newFloatArray({vocab}, logits);
    std::vector<loom_media> items;
    for (const Media &m : media)
      items.push_back(m.get());
    loom_status status;
    {
      nb::gil_scoped_release release;
      std::lock_guard<std::mutex> lock(mutex_);
      status = loom_session_prefill(session_, ids.data(), n, items.data(), items.size(),
                                    allLogits ? 1 : 0, logits, allLogits ? n * vocab : vocab);
    }
    check(status);
    return out;
  }

  FloatArray decode(int32_t token) {
    const size_t vocab = static_cast<size_t>(loom_model_vocab_size(model_->model));
    float *logits = nullptr;
    FloatArray out = newFloatArray({vocab}, logits);
    loom_status status;
    {
      nb::gil_scoped_release release;
      std::lock_guard<std::mutex> lock(mutex_);
      status = loom_session_decode(session_, token, logits, vocab);
    }
    check(status);
    return out;
  }

  int32_t sample(nb::ndarray<const float, nb::ndim<1>, nb::c_contig, nb::device::cpu> logits,
                 float temperature, int32_t topK, float topP, bool greedy) {
    loom_sampling sampling;
    loom_sampling_init(&sampling);
    sampling.temperature = temperature;
    sampling.top_k = topK;
    sampling.top_p = topP;
    sampling.greedy = greedy ? 1 : 0;
    int32_t token = -1;
    std::lock_guard<std::mutex> lock(mutex_);
    check(loom_sample(session_, logits.data(), logits.size(), &sampling, &token));
    return token;
  }

  void setSeed(uint64_t seed) {
    std::lock_guard<std::mutex> lock(mutex_);
    check(loom_session_set_seed(session_, seed));
  }

  int64_t position() const { return loom_session_position(session_); }

  void reset() {
    std::lock_guard<std::mutex> lock(mutex_);
    check(loom_session_reset(session_));
  }

private:
  friend class Batch;
  std::shared_ptr<ModelHandle> model_;
  loom_session *session_ = nullptr;
  std::mutex mutex_;
};

// Decode steps of several sessions run as one (loom_batch_decode).
class Batch {
public:
  explicit Batch(const Model &model) : model_(model.handle()) {
    check(loom_batch_create(model_->model, &batch_));
  }
  ~Batch() { loom_batch_destroy(batch_); }
  Batch(const Batch &) = delete;
  Batch &operator=(const Batch &) = delete;

  FloatArray step(const std::vector<Session *> &sessions, const IdInput &tokens) {
    if (sessions.size() != tokens.size())
      throw nb::value_error(("Batch.step: " + std::to_string(sessions.size()) + " sessions but " +
                             std::to_string(tokens.size()) + " tokens")
                                .c_str());
    const size_t vocab = static_cast<size_t>(loom_model_vocab_size(model_->model));
    const size_t n = sessions.size();
    float *logits = nullptr;
    FloatArray out = newFloatArray({n, vocab}, logits);
    std::vector<loom_session *> members;
    for (Session *s : sessions)
      members.push_back(s ? s->session_ : nullptr);
    // Each session takes one call at a time: hold them all, in one order (no deadlock), once
    // each (a repeated session is refused by the runtime).
    std::vector<Session *> order(sessions.begin(), sessions.end());
    std::sort(order.begin(), order.end());
    order.erase(std::unique(order.begin(), order.end()), order.end());
    loom_status status;
    {
      nb::gil_scoped_release release;
      std::lock_guard<std::mutex> lock(mutex_);
      std::vector<std::unique_lock<std::mutex>> held;
      for (Session *s : order)
        if (s)
          held.emplace_back(s->mutex_);
      status = loom_batch_decode(batch_, members.data(), tokens.data(), n, logits, n * vocab);
    }
    check(status);
    return out;
  }

private:
  std::shared_ptr<ModelHandle> model_;
  loom_batch *batch_ = nullptr;
  std::mutex mutex_;
};

class Detokenizer {
public:
  explicit Detokenizer(const Model &model) : model_(model.handle()) {
    check(loom_detokenizer_create(model_->model, &detokenizer_));
  }
  ~Detokenizer() { loom_detokenizer_destroy(detokenizer_); }
  Detokenizer(const Detokenizer &) = delete;
  Detokenizer &operator=(const Detokenizer &) = delete;

  std::string push(int32_t id) {
    const char *text = nullptr;
    size_t length = 0;
    check(loom_detokenizer_push(detokenizer_, id, &text, &length));
    return std::string(text, length);
  }

  std::string finish() {
    const char *text = nullptr;
    size_t length = 0;
    check(loom_detokenizer_finish(detokenizer_, &text, &length));
    return std::string(text, length);
  }

private:
  std::shared_ptr<ModelHandle> model_;
  loom_detokenizer *detokenizer_ = nullptr;
};

// A tokenizer.json file, or the tokenizer inside a .loom artifact (its checksum verified).
loom::Tokenizer loadTokenizer(const std::string &path) {
  const bool artifact = path.size() >= 5 && path.compare(path.size() - 5, 5, ".loom") == 0;
  if (!artifact)
    return loom::Tokenizer::fromFile(path);
  auto file = loom::Artifact::open(path);
  const uint32_t segment = file->manifest().tokenizer_segment();
  file->verifySegment(segment);
  loom::ByteSpan bytes = file->segment(segment);
  return loom::Tokenizer::fromJson(
      std::string_view(reinterpret_cast<const char *>(bytes.data), bytes.size),
      path + " (tokenizer segment)");
}

loom::chat::PartKind partKind(const std::string &kind) {
  if (kind == "text")
    return loom::chat::PartKind::Text;
  if (kind == "image")
    return loom::chat::PartKind::Image;
  if (kind == "audio")
    return loom::chat::PartKind::Audio;
  if (kind == "video")
    return loom::chat::PartKind::Video;
  throw nb::value_error(("unknown content part type '" + kind +
                         "'; expected text, image, audio or video")
                            .c_str());
}

using Parts = std::vector<std::pair<std::string, std::string>>; // (kind, text)

loom::chat::ChatMessage message(const std::string &role, const Parts &parts) {
  loom::chat::ChatMessage out{role, {}};
  for (const auto &[kind, text] : parts)
    out.content.push_back({partKind(kind), text});
  return out;
}

} // namespace

NB_MODULE(_runtime, m) {
  m.doc() = "Loom's runtime (the C API of loom/loom.h); use the loom package, not this module.";
  static nb::exception<LoomFailure> loomError(m, "LoomError", PyExc_RuntimeError);
  // The C++ parts bound directly (tokenizer, chat template) throw loom::Error.
  nb::register_exception_translator([](const std::exception_ptr &p, void *) {
    try {
      std::rethrow_exception(p);
    } catch (const loom::Error &e) {
      PyErr_SetString(loomError.ptr(), e.what());
    }
  });
  m.attr("API_VERSION") = LOOM_API_VERSION;
  m.def("api_version", &loom_api_version);
  m.attr("IMAGE") = static_cast<int>(LOOM_MEDIA_IMAGE);
  m.attr("AUDIO") = static_cast<int>(LOOM_MEDIA_AUDIO);
  m.attr("VIDEO") = static_cast<int>(LOOM_MEDIA_VIDEO);

  nb::class_<Model>(m, "Model")
      .def(nb::init<const std::string &, bool, int64_t, int32_t>(), "path"_a,
           "huge_pages"_a = false, "max_image_pixels"_a = 0, "max_media_seconds"_a = 0)
      .def_prop_ro("path", &Model::path)
      .def_prop_ro("vocab_size", &Model::vocabSize)
      .def_prop_ro("hidden_size", &Model::hiddenSize)
      .def_prop_ro("max_context", &Model::maxContext)
      .def("verify", &Model::verify)
      .def("special_tokens", &Model::specialTokens)
      .def("stop_tokens", &Model::stopTokens)
      .def("tokenize", &Model::tokenize, "text"_a, "add_bos"_a = false)
      .def("detokenize", &Model::detokenize, "ids"_a)
      .def("token_id", &Model::tokenId, "piece"_a)
      .def("media_token_count", &Model::mediaTokenCount, "media"_a)
      .def("media_prompt", &Model::mediaPrompt, "media"_a)
      .def("describe", &Model::describe);

  nb::class_<Media>(m, "Media")
      .def_static("file", &Media::file, "kind"_a, "path"_a, "token_budget"_a = 0,
                  "max_frames"_a = 0, "video_audio"_a = true)
      .def_static("bytes", &Media::bytes, "kind"_a, "data"_a, "name"_a, "token_budget"_a = 0)
      .def_static("pixels", &Media::pixels, "rgb"_a, "name"_a, "token_budget"_a = 0)
      .def_static("samples", &Media::samples, "frames"_a, "sample_rate"_a, "name"_a)
      .def_prop_ro("kind", &Media::kind)
      .def_prop_ro("name", &Media::name);

  nb::class_<Session>(m, "Session")
      .def(nb::init<const Model &, int64_t, int32_t, uint64_t>(), "model"_a,
           "max_context"_a = 0, "threads"_a = 0, "seed"_a = 0)
      .def("prefill", &Session::prefill, "ids"_a, "media"_a, "all_logits"_a = false)
      .def("decode", &Session::decode, "token"_a)
      .def("sample", &Session::sample, "logits"_a, "temperature"_a, "top_k"_a, "top_p"_a,
           "greedy"_a)
      .def("set_seed", &Session::setSeed, "seed"_a)
      .def_prop_ro("position", &Session::position)
      .def("reset", &Session::reset);

  nb::class_<Batch>(m, "Batch")
      .def(nb::init<const Model &>(), "model"_a)
      .def("step", &Batch::step, "sessions"_a, "tokens"_a);

  nb::class_<Detokenizer>(m, "Detokenizer")
      .def(nb::init<const Model &>(), "model"_a)
      .def("push", &Detokenizer::push, "id"_a)
      .def("finish", &Detokenizer::finish);

  nb::class_<loom::Tokenizer>(m, "Tokenizer")
      .def("__init__", [](loom::Tokenizer *self, const std::string &path) {
        new (self) loom::Tokenizer(loadTokenizer(path));
      }, "path"_a)
      .def("encode", [](const loom::Tokenizer &t, const std::string &text, bool addBos) {
        return newIdArray(t.encode(text, addBos));
      }, "text"_a, "add_bos"_a = false)
      .def("decode", [](const loom::Tokenizer &t, const std::vector<int32_t> &ids,
                        bool skipSpecial) { return t.decode(ids, skipSpecial); },
           "ids"_a, "skip_special_tokens"_a = false)
      .def("token_id", [](const loom::Tokenizer &t, const std::string &piece) -> nb::object {
        auto id = t.tokenId(piece);
        return id ? nb::object(nb::int_(*id)) : nb::none();
      }, "piece"_a)
      .def("piece", &loom::Tokenizer::tokenPiece, "id"_a)
      .def_prop_ro("vocab_size", &loom::Tokenizer::vocabSize)
      .def_prop_ro("bos_id", &loom::Tokenizer::bosId);

  // Gemma 4's chat template (loom/Runtime/ChatTemplate.h): messages are (role, [(kind, text)]).
  m.attr("IMAGE_MARKER") = std::string(loom::chat::kImageMarker);
  m.attr("AUDIO_MARKER") = std::string(loom::chat::kAudioMarker);
  m.attr("VIDEO_MARKER") = std::string(loom::chat::kVideoMarker);
  m.attr("END_OF_MODEL_TURN") = std::string(loom::chat::kEndOfModelTurn);
  m.def("render_chat", [](const std::vector<std::pair<std::string, Parts>> &messages,
                          bool thinking, bool addGenerationPrompt) {
    std::vector<loom::chat::ChatMessage> converted;
    for (const auto &[role, parts] : messages)
      converted.push_back(message(role, parts));
    return loom::chat::render(converted, {thinking, addGenerationPrompt});
  }, "messages"_a, "thinking"_a = false, "add_generation_prompt"_a = true);
  m.def("begin_conversation", [](bool hasSystem, const std::string &system, bool thinking) {
    return loom::chat::beginConversation(hasSystem, system, thinking);
  }, "has_system"_a, "system"_a, "thinking"_a);
  m.def("turn", [](const std::string &role, const Parts &parts) {
    return loom::chat::turn(message(role, parts));
  }, "role"_a, "parts"_a);
  m.def("generation_prompt", &loom::chat::generationPrompt, "thinking"_a);
}
