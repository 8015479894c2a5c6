#include "Engine.h"

#include "ApiError.h"

#include <algorithm>
#include <cstddef>
#include <random>
#include <stdexcept>

namespace loom::serve {
namespace {

void check(loom_status status, const char *what) {
  if (status != LOOM_OK)
    throw std::runtime_error(std::string(what) + ": " + loom_last_error());
}

} // namespace

Engine::Engine(loom_model *model, EngineOptions options)
    : model_(model), options_(options), vocab_(loom_model_vocab_size(model)) {
  if (options_.slots < 1)
    throw std::runtime_error("the engine needs at least one slot");
  check(loom_model_special_tokens(model_, &special_), "special tokens");
  stopTokens_.resize(16);
  size_t count = 0;
  check(loom_model_stop_tokens(model_, stopTokens_.data(), stopTokens_.size(), &count),
        "stop tokens");
  stopTokens_.resize(count);
  check(loom_batch_create(model_, &batch_), "batched decode");
  slots_.resize(static_cast<size_t>(options_.slots));
  for (Slot &slot : slots_) {
    loom_session_options session;
    loom_session_options_init(&session);
    session.max_context = options_.context;
    session.threads = options_.threads;
    check(loom_session_create(model_, &session, &slot.session), "session");
    slot.engine = this;
    check(loom_session_set_prefill_yield(slot.session, &Engine::onPrefillYield, &slot),
          "prefill yield");
  }
  stats_.slots = slots_.size();
  thread_ = std::thread([this] { loop(); });
}

Engine::~Engine() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
  for (Slot &slot : slots_) {
    if (slot.job)
      slot.job->finish("", "the server is shutting down");
    loom_detokenizer_destroy(slot.detokenizer);
    loom_session_destroy(slot.session);
  }
  for (auto &job : queue_)
    job->finish("", "the server is shutting down");
  loom_batch_destroy(batch_);
}

bool Engine::submit(std::shared_ptr<Job> job) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    // Free slots take jobs at once; beyond them, queueLimit may wait.
    if (busy_ >= slots_.size() + options_.queueLimit) {
      ++stats_.rejected;
      return false;
    }
    ++stats_.requests;
    stats_.promptTokens += static_cast<uint64_t>(job->promptTokens());
    queue_.push_back(std::move(job));
    ++busy_;
    stats_.queued = queue_.size();
  }
  wake_.notify_all();
  return true;
}

EngineStats Engine::stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return stats_;
}

void Engine::admit(Slot &slot, const std::shared_ptr<Job> &job) {
  check(loom_session_reset(slot.session), "reset");
  const GenerationRequest &request = job->request();
  uint64_t seed = request.seed ? *request.seed : std::random_device{}();
  check(loom_session_set_seed(slot.session, seed), "seed");
  loom_detokenizer_destroy(slot.detokenizer);
  slot.detokenizer = nullptr;
  check(loom_detokenizer_create(model_, &slot.detokenizer), "detokenizer");
  slot.stops = std::make_unique<StopStrings>(request.stop);
  slot.prefilled = slot.mediaUsed = 0;
  slot.decoding = false;
  slot.logits.resize(static_cast<size_t>(vocab_));
  slot.started = Clock::now();
  slot.firstToken = false;
  slot.job = job;
}

namespace {
bool isPlaceholder(const loom_special_tokens &special, int32_t id) {
  return id == special.image || id == special.audio || id == special.video;
}
} // namespace

// Up to prefillChunk tokens, extended to the end of a media run it would cut.
size_t Engine::chunkEnd(const Slot &slot) const {
  const std::vector<int32_t> &ids = slot.job->request().promptIds;
  size_t end = std::min(ids.size(), slot.prefilled + static_cast<size_t>(options_.prefillChunk));
  while (end < ids.size() && isPlaceholder(special_, ids[end - 1]) && ids[end] == ids[end - 1])
    ++end;
  return end;
}

bool Engine::chunkHasMedia(const Slot &slot, size_t end) const {
  const std::vector<int32_t> &ids = slot.job->request().promptIds;
  return std::any_of(ids.begin() + static_cast<std::ptrdiff_t>(slot.prefilled),
                     ids.begin() + static_cast<std::ptrdiff_t>(end),
                     [&](int32_t id) { return isPlaceholder(special_, id); });
}

void Engine::prefillChunk(Slot &slot) {
  const GenerationRequest &request = slot.job->request();
  const std::vector<int32_t> &ids = request.promptIds;
  const size_t begin = slot.prefilled, end = chunkEnd(slot);
  // The media whose runs start in this chunk, in order.
  std::vector<loom_media> media;
  for (size_t i = begin; i < end; ++i)
    if (isPlaceholder(special_, ids[i]) && (i == 0 || ids[i - 1] != ids[i])) {
      const Medium &medium = request.media.at(slot.mediaUsed++);
      loom_media m;
      loom_media_init_bytes(&m, medium.kind, medium.bytes.data(), medium.bytes.size());
      m.path = medium.name.c_str();
      media.push_back(m);
    }
  // Only the prompt's last chunk needs logits (the others skip the LM head).
  const bool last = end == ids.size();
  check(loom_session_prefill(slot.session, ids.data() + begin, end - begin, media.data(),
                             media.size(), 0, last ? slot.logits.data() : nullptr,
                             last ? slot.logits.size() : 0),
        "prefill");
  slot.prefilled = end;
  slot.decoding = end == ids.size();
}

void Engine::finish(Slot &slot, const std::string &reason, const std::string &error) {
  if (error.empty()) {
    const char *text = nullptr;
    size_t length = 0;
    if (loom_detokenizer_finish(slot.detokenizer, &text, &length) == LOOM_OK)
      slot.job->emit(slot.stops->push(std::string(text, length)));
    slot.job->emit(slot.stops->finish());
  }
  slot.job->finish(slot.stops && slot.stops->stopped() ? "stop" : reason, error);
  slot.job.reset();
  slot.decoding = false;
  std::lock_guard<std::mutex> lock(mutex_);
  --busy_;
  stats_.active = activeSlots();
}

size_t Engine::activeSlots() const {
  return static_cast<size_t>(
      std::count_if(slots_.begin(), slots_.end(), [](const Slot &s) { return bool(s.job); }));
}

int32_t Engine::sampleNext(Slot &slot) {
  Job &job = *slot.job;
  const GenerationRequest &request = job.request();
  int32_t token = 0;
  check(loom_sample(slot.session, slot.logits.data(), slot.logits.size(), &request.sampling,
                    &token),
        "sample");
  job.countToken();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    ++stats_.generatedTokens;
    if (!slot.firstToken) {
      stats_.firstTokenSecondsSum +=
          std::chrono::duration<double>(Clock::now() - slot.started).count();
      ++stats_.firstTokenCount;
    }
  }
  slot.firstToken = true;
  if (std::find(stopTokens_.begin(), stopTokens_.end(), token) != stopTokens_.end()) {
    finish(slot, "stop");
    return -1;
  }
  const char *text = nullptr;
  size_t length = 0;
  check(loom_detokenizer_push(slot.detokenizer, token, &text, &length), "detokenize");
  job.emit(slot.stops->push(std::string(text, length)));
  if (slot.stops->stopped()) {
    finish(slot, "stop");
    return -1;
  }
  if (job.completionTokens() >= request.maxTokens ||
      loom_session_position(slot.session) >= options_.context) {
    finish(slot, "length");
    return -1;
  }
  return token;
}

void Engine::loop() {
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [&] {
        return stopping_ || !queue_.empty() ||
               std::any_of(slots_.begin(), slots_.end(), [](const Slot &s) { return s.job; });
      });
      if (stopping_)
        return;
    }
    round(nullptr);
  }
}

void Engine::round(Slot *busy) {
  admitWaiting();
  for (Slot &slot : slots_)
    if (&slot != busy && slot.job && slot.job->cancelled())
      finish(slot, "", "cancelled");

  // One chunk of the longest-waiting prompt. Inside a yield, not one with media: that would
  // nest one long prefill in another.
  Slot *prefilling = nullptr;
  for (Slot &slot : slots_)
    if (&slot != busy && slot.job && !slot.decoding &&
        (!prefilling || slot.started < prefilling->started) &&
        !(busy && chunkHasMedia(slot, chunkEnd(slot))))
      prefilling = &slot;
  if (prefilling)
    try {
      prefillChunk(*prefilling);
    } catch (const std::exception &e) {
      finish(*prefilling, "", e.what());
    }
  decodeStep(); // the busy slot is prefilling, so it is not among the decoding
}

void Engine::admitWaiting() {
  std::unique_lock<std::mutex> lock(mutex_);
  for (Slot &slot : slots_)
    if (!slot.job && !queue_.empty()) {
      std::shared_ptr<Job> job = std::move(queue_.front());
      queue_.pop_front();
      lock.unlock();
      std::string refused;
      if (job->cancelled())
        refused = "cancelled";
      else
        try {
          admit(slot, job);
        } catch (const std::exception &e) {
          refused = e.what();
        }
      lock.lock();
      if (!refused.empty()) {
        job->finish("", refused);
        --busy_;
      }
    }
  stats_.queued = queue_.size();
  stats_.active = activeSlots();
}

// One batched decode step of every decoding job.
void Engine::decodeStep() {
  stepSessions_.clear();
  stepTokens_.clear();
  stepSlots_.clear();
  for (Slot &slot : slots_) {
    if (!slot.job || !slot.decoding)
      continue;
    try {
      const int32_t token = sampleNext(slot);
      if (token >= 0) {
        stepSessions_.push_back(slot.session);
        stepTokens_.push_back(token);
        stepSlots_.push_back(&slot);
      }
    } catch (const std::exception &e) {
      finish(slot, "", e.what());
    }
  }
  if (stepSessions_.empty())
    return;
  stepLogits_.resize(stepSessions_.size() * static_cast<size_t>(vocab_));
  const auto start = Clock::now();
  if (loom_batch_decode(batch_, stepSessions_.data(), stepTokens_.data(), stepSessions_.size(),
                        stepLogits_.data(), stepLogits_.size()) != LOOM_OK) {
    const std::string error = loom_last_error();
    for (Slot *slot : stepSlots_)
      finish(*slot, "", error);
    return;
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stats_.decodeSeconds += std::chrono::duration<double>(Clock::now() - start).count();
    stats_.decodeTokens += stepSessions_.size();
  }
  for (size_t i = 0; i < stepSlots_.size(); ++i)
    std::copy_n(stepLogits_.data() + i * static_cast<size_t>(vocab_), vocab_,
                stepSlots_[i]->logits.data());
}

void Engine::onPrefillYield(void *slot) {
  Slot &busy = *static_cast<Slot *>(slot);
  busy.engine->yieldDuringPrefill(busy);
}

// Between the dispatches of a prefill, the other jobs get a round once the prefill has run
// as long as the last such round took (and at least options_.prefillYield): a long media
// prefill and the others share the time about equally, and a short request's first token does
// not wait for a whole image.
void Engine::yieldDuringPrefill(Slot &busy) {
  const auto now = Clock::now();
  if (inYield_ || now < nextYield_)
    return;
  bool others = std::any_of(slots_.begin(), slots_.end(),
                            [&](const Slot &s) { return &s != &busy && s.job; });
  if (!others) {
    std::lock_guard<std::mutex> lock(mutex_);
    others = !queue_.empty();
  }
  if (!others)
    return;
  inYield_ = true;
  try {
    round(&busy);
  } catch (...) {
    // round() ends a failing job itself; nothing here may fail the prefill that yielded.
  }
  inYield_ = false;
  const auto end = Clock::now();
  nextYield_ = end + std::max<Clock::duration>(options_.prefillYield, end - now);
}

} // namespace loom::serve
