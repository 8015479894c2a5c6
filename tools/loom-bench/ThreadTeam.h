// A fixed team of worker threads for loom-bench's own probes (bandwidth, FMA peak): run(fn)
// calls fn(index, count) on `count` threads (the caller is index 0) and returns when all are
// done. Workers sleep on a condition variable between runs, so an idle team takes no CPU away
// from the kernels and libraries it is compared with.
#pragma once

#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace loom::bench {

class ThreadTeam {
public:
  explicit ThreadTeam(int count);
  ~ThreadTeam();
  ThreadTeam(const ThreadTeam &) = delete;
  ThreadTeam &operator=(const ThreadTeam &) = delete;

  int size() const { return count_; }
  void run(const std::function<void(int index, int count)> &fn);

private:
  void work(int index);
  int count_;
  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable wake_, done_;
  const std::function<void(int, int)> *job_ = nullptr;
  unsigned generation_ = 0;
  int pending_ = 0;
  bool stop_ = false;
};

} // namespace loom::bench
