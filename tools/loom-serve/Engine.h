// Continuous batching: one thread runs every request on one loaded model. A request waits in a
// bounded queue for a slot (a session and its KV cache, as many as --parallel and --kv-budget
// allow), is prefilled in chunks (never splitting an image or audio run), and then decodes
// with every other decoding request in one batched step (loom_batch_decode), so each weight is
// read once per step for all of them. A prompt's chunks alternate with the others' decode
// steps, so a long prompt does not stall them; within a chunk that must go in one call (an
// image's soft tokens), the others get rounds between its kernel dispatches
// (loom_session_set_prefill_yield). A cancelled job frees its slot at the next step.
#pragma once

#include "Job.h"
#include "StopStrings.h"

#include "loom/loom.h"

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace loom::serve {

struct EngineOptions {
  int slots = 4;             // sessions decoding at once
  size_t queueLimit = 64;    // jobs waiting when every slot is busy; more are refused
  int64_t prefillChunk = 256; // prompt tokens per prefill call
  int threads = 0;           // kernel threads (0: the runtime's default)
  int64_t context = 0;       // each session's max_context
  // The least time a prefill runs between two rounds of the others inside it (0: a round at
  // every kernel dispatch when anyone else is waiting).
  std::chrono::milliseconds prefillYield{20};
};

// What /metrics reports.
struct EngineStats {
  uint64_t requests = 0, rejected = 0, promptTokens = 0, generatedTokens = 0;
  size_t queued = 0, active = 0, slots = 0;
  double firstTokenSecondsSum = 0;
  uint64_t firstTokenCount = 0;
  double decodeSeconds = 0; // time in batched decode steps
  uint64_t decodeTokens = 0; // tokens those steps produced
};

class Engine {
public:
  Engine(loom_model *model, EngineOptions options);
  ~Engine();
  Engine(const Engine &) = delete;
  Engine &operator=(const Engine &) = delete;

  // Queues a job; false when the queue is full.
  bool submit(std::shared_ptr<Job> job);
  EngineStats stats() const;

private:
  using Clock = std::chrono::steady_clock;
  struct Slot {
    Engine *engine = nullptr;
    loom_session *session = nullptr;
    loom_detokenizer *detokenizer = nullptr;
    std::shared_ptr<Job> job; // null: free
    std::unique_ptr<StopStrings> stops;
    size_t prefilled = 0, mediaUsed = 0;
    bool decoding = false;
    std::vector<float> logits; // the last position's
    Clock::time_point started;
    bool firstToken = false;
  };

  void loop();
  // One round: admit waiting jobs, drop cancelled ones, prefill one chunk, step every decoding
  // job. `busy`: the slot whose prefill yielded to this round, left alone.
  void round(Slot *busy);
  void admitWaiting();
  void admit(Slot &slot, const std::shared_ptr<Job> &job);
  // Where the slot's next prefill chunk ends, and whether it holds media.
  size_t chunkEnd(const Slot &slot) const;
  bool chunkHasMedia(const Slot &slot, size_t end) const;
  void prefillChunk(Slot &slot);
  void decodeStep();
  static void onPrefillYield(void *slot);
  void yieldDuringPrefill(Slot &busy);
  // Samples the slot's next token; returns it when the job goes on, -1 when it finished.
  int32_t sampleNext(Slot &slot);
  void finish(Slot &slot, const std::string &reason, const std::string &error = "");
  size_t activeSlots() const; // under mutex_

  loom_model *model_;
  EngineOptions options_;
  int32_t vocab_;
  loom_special_tokens special_;
  std::vector<int32_t> stopTokens_;
  loom_batch *batch_ = nullptr;
  std::vector<Slot> slots_;

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::shared_ptr<Job>> queue_;
  EngineStats stats_;
  size_t busy_ = 0; // jobs accepted and not finished (queued or in a slot)
  bool stopping_ = false;
  // The engine thread's own: a round running inside a prefill's yield, and when the next may.
  bool inYield_ = false;
  Clock::time_point nextYield_;
  std::vector<loom_session *> stepSessions_;
  std::vector<int32_t> stepTokens_;
  std::vector<Slot *> stepSlots_;
  std::vector<float> stepLogits_;
  std::thread thread_;
};

} // namespace loom::serve
