#include "ThreadTeam.h"

namespace loom::bench {

ThreadTeam::ThreadTeam(int count) : count_(count < 1 ? 1 : count) {
  for (int i = 1; i < count_; ++i)
    workers_.emplace_back([this, i] { work(i); });
}

ThreadTeam::~ThreadTeam() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  for (std::thread &t : workers_)
    t.join();
}

void ThreadTeam::run(const std::function<void(int, int)> &fn) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    job_ = &fn;
    pending_ = count_ - 1;
    ++generation_;
  }
  wake_.notify_all();
  fn(0, count_);
  std::unique_lock<std::mutex> lock(mutex_);
  done_.wait(lock, [this] { return pending_ == 0; });
  job_ = nullptr;
}

void ThreadTeam::work(int index) {
  unsigned seen = 0;
  for (;;) {
    const std::function<void(int, int)> *job;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [&] { return stop_ || generation_ != seen; });
      if (stop_)
        return;
      seen = generation_;
      job = job_;
    }
    (*job)(index, count_);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (--pending_ == 0)
        done_.notify_one();
    }
  }
}

} // namespace loom::bench
