// See KernelThreadPool.h. A loop is published by bumping `generation_` after its fields are
// set; workers spin on the counter (with pause) for kSpin, then sleep on a condition variable.
// The wake-up cannot be lost: the caller bumps the counter and then reads `sleepers_`, a worker
// counts itself in `sleepers_` and then re-reads the counter under the mutex (both sequentially
// consistent), so one of the two sees the other.
#include "loom/Runtime/KernelThreadPool.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <dlfcn.h>
#include <mutex>
#include <pthread.h>
#include <sched.h>
#include <system_error>
#include <thread>
#include <vector>

namespace loom::kernel_pool {
namespace {

// How long an idle worker spins before it sleeps: longer than the host work between two
// kernels of a decode step, short enough not to burn a core between requests.
constexpr auto kSpin = std::chrono::milliseconds(2);

thread_local bool insideLoop = false;

inline void pause() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#else
  std::this_thread::yield();
#endif
}

int defaultThreads() {
  if (const char *env = std::getenv("HL_NUM_THREADS")) {
    int n = std::atoi(env);
    if (n > 0)
      return n;
  }
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0)
    return std::max(1, CPU_COUNT(&set));
  return std::max(1u, std::thread::hardware_concurrency());
}

class Pool {
public:
  ~Pool() { stopWorkers(); }

  void setThreads(int threads) {
    std::lock_guard<std::mutex> call(callMutex_);
    threads = std::max(1, threads);
    if (threads == threads_.load())
      return;
    stopWorkers();
    threads_.store(threads);
  }

  int threads() const { return threads_.load(); }

  int run(void *userContext, Task task, int min, int size, uint8_t *closure) {
    // Checked first: the thread running a loop holds callMutex_ and must not try it again; a
    // forked child has none of the workers (and maybe a mutex held by a thread it lacks).
    if (insideLoop || forkedChild_ || threads_.load() == 1 || size == 1)
      return serial(userContext, task, min, size, closure);
    std::unique_lock<std::mutex> call(callMutex_, std::try_to_lock);
    if (!call.owns_lock())
      return serial(userContext, task, min, size, closure);
    if (workers_.size() + 1 != size_t(threads_.load()))
      startWorkers();
    task_ = task;
    userContext_ = userContext;
    closure_ = closure;
    min_ = min;
    size_ = size;
    next_.store(0, std::memory_order_relaxed);
    error_.store(0, std::memory_order_relaxed);
    active_.store(int(workers_.size()), std::memory_order_relaxed);
    generation_.fetch_add(1); // publishes the fields above
    if (sleepers_.load() > 0) {
      std::lock_guard<std::mutex> lock(mutex_);
      wake_.notify_all();
    }
    insideLoop = true;
    share();
    insideLoop = false;
    while (active_.load(std::memory_order_acquire) != 0) // the job's fields stay valid until then
      pause();
    return error_.load(std::memory_order_relaxed);
  }

  // pthread_atfork's child handler: the workers did not survive the fork, so their thread
  // objects are abandoned (never joined) and every later loop runs on its caller.
  void afterFork() {
    forkedChild_ = true;
    new std::vector<std::thread>(std::move(workers_)); // leaked on purpose
    workers_.clear();
  }

private:
  static int serial(void *userContext, Task task, int min, int size, uint8_t *closure) {
    const bool outer = !insideLoop;
    insideLoop = true;
    int result = 0;
    for (int i = min; i < min + size && result == 0; ++i)
      result = task(userContext, i, closure);
    if (outer)
      insideLoop = false;
    return result;
  }

  // Takes indices until none is left; the first failure stops the others taking more.
  void share() {
    for (;;) {
      const int i = next_.fetch_add(1, std::memory_order_relaxed);
      if (i >= size_)
        return;
      if (int result = task_(userContext_, min_ + i, closure_); result != 0) {
        int none = 0;
        error_.compare_exchange_strong(none, result);
        next_.store(size_, std::memory_order_relaxed);
      }
    }
  }

  void work(uint64_t seen) {
    insideLoop = true; // a worker's nested loops run serially
    for (;;) {
      const auto spinUntil = std::chrono::steady_clock::now() + kSpin;
      uint64_t now = generation_.load();
      for (int polls = 0; now == seen; ++polls) {
        pause();
        if (polls % 256 == 255 && std::chrono::steady_clock::now() > spinUntil)
          break;
        now = generation_.load();
      }
      if (now == seen) {
        std::unique_lock<std::mutex> lock(mutex_);
        sleepers_.fetch_add(1);
        wake_.wait(lock, [&] { return stop_ || generation_.load() != seen; });
        sleepers_.fetch_sub(1);
        if (stop_)
          return;
        now = generation_.load();
      }
      seen = now;
      share();
      active_.fetch_sub(1, std::memory_order_release);
    }
  }

  void startWorkers() {
    stopWorkers();
    stop_ = false;
    const uint64_t seen = generation_.load();
    // Threads the system will not start (a process or memory limit) leave the loop to those
    // that did: this runs inside a kernel call, where an exception would end the process.
    for (int i = 1; i < threads_.load(); ++i) {
      try {
        workers_.emplace_back([this, seen] { work(seen); });
      } catch (const std::system_error &) {
        threads_.store(int(workers_.size()) + 1);
        break;
      }
    }
  }

  void stopWorkers() {
    if (workers_.empty())
      return;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
      wake_.notify_all();
    }
    // Spinning workers see stop_ once they give up spinning and take the mutex.
    for (std::thread &worker : workers_)
      worker.join();
    workers_.clear();
  }

  bool forkedChild_ = false;
  std::mutex callMutex_; // one loop at a time; guards workers_
  std::atomic<int> threads_{defaultThreads()};
  std::vector<std::thread> workers_;

  std::mutex mutex_; // guards stop_ and the sleeping
  std::condition_variable wake_;
  bool stop_ = false;
  std::atomic<int> sleepers_{0};
  std::atomic<uint64_t> generation_{0};

  // The current loop, written before generation_ is bumped.
  Task task_ = nullptr;
  void *userContext_ = nullptr;
  uint8_t *closure_ = nullptr;
  int min_ = 0, size_ = 0;
  std::atomic<int> next_{0}, error_{0}, active_{0};
};

Pool &pool() {
  static Pool instance;
  static const bool forkHandled = [] {
    pthread_atfork(nullptr, nullptr, [] { pool().afterFork(); });
    return true;
  }();
  (void)forkHandled;
  return instance;
}

extern "C" int loomKernelParallelFor(void *userContext, Task task, int min, int size,
                                     uint8_t *closure) {
  return parallelFor(userContext, task, min, size, closure);
}

} // namespace

int parallelFor(void *userContext, Task task, int min, int size, uint8_t *closure) {
  if (size <= 0)
    return 0;
  return pool().run(userContext, task, min, size, closure);
}

void setThreads(int threads) { pool().setThreads(threads); }

int threads() { return pool().threads(); }

bool install(void *handle) {
  using ParFor = int (*)(void *, Task, int, int, uint8_t *);
  auto set = reinterpret_cast<ParFor (*)(ParFor)>(dlsym(handle, "halide_set_custom_do_par_for"));
  if (set == nullptr)
    return false;
  set(loomKernelParallelFor);
  return true;
}

} // namespace loom::kernel_pool
