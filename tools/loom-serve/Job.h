// One request's generation, shared by the HTTP thread that answers it and the engine that runs
// it: the engine emits text and finishes it; the HTTP thread waits for what is new, and cancels
// the job when its client goes away (the engine frees the slot at its next step).
#pragma once

#include "OpenAiRequest.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>

namespace loom::serve {

class Job {
public:
  explicit Job(GenerationRequest request) : request_(std::move(request)) {}
  const GenerationRequest &request() const { return request_; }

  struct Update {
    std::string text;         // new text since the last update
    bool finished = false;
    std::string finishReason; // "stop" or "length" once finished
    std::string error;        // set when the engine failed the job
  };
  // Waits up to `timeout` for new text or the end; false when there was neither.
  bool wait(Update &update, std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> lock(mutex_);
    cv_.wait_for(lock, timeout, [&] { return !pending_.empty() || finished_; });
    if (pending_.empty() && !finished_)
      return false;
    update.text.swap(pending_);
    pending_.clear();
    update.finished = finished_;
    update.finishReason = reason_;
    update.error = error_;
    return true;
  }
  void cancel() { cancelled_ = true; }
  bool cancelled() const { return cancelled_; }
  int64_t completionTokens() const { return completionTokens_; }
  int64_t promptTokens() const { return static_cast<int64_t>(request_.promptIds.size()); }

  // The engine's side.
  void emit(const std::string &text) {
    if (text.empty())
      return;
    std::lock_guard<std::mutex> lock(mutex_);
    pending_ += text;
    cv_.notify_all();
  }
  void countToken() { ++completionTokens_; }
  void finish(std::string reason, std::string error = "") {
    std::lock_guard<std::mutex> lock(mutex_);
    finished_ = true;
    reason_ = std::move(reason);
    error_ = std::move(error);
    cv_.notify_all();
  }

private:
  GenerationRequest request_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::string pending_;
  bool finished_ = false;
  std::string reason_, error_;
  std::atomic<bool> cancelled_{false};
  std::atomic<int64_t> completionTokens_{0};
};

} // namespace loom::serve
