// KernelThreadPoolTest: the pool that runs the kernels' parallel loops (KernelThreadPool.h) runs
// every index of every loop exactly once, on several threads, returns a task's failure, and
// runs nested and concurrent loops without deadlock.
#include "loom/Runtime/KernelThreadPool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <sys/wait.h>
#include <unistd.h>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

namespace loom {
namespace {

struct Counts {
  std::vector<std::atomic<int>> perIndex;
  explicit Counts(int n) : perIndex(size_t(n)) {}
};

int countIndex(void *, int index, uint8_t *closure) {
  reinterpret_cast<Counts *>(closure)->perIndex[size_t(index)].fetch_add(1);
  return 0;
}

class KernelThreadPoolTest : public ::testing::Test {
protected:
  void TearDown() override { kernel_pool::setThreads(2); }
};

TEST_F(KernelThreadPoolTest, RunsEveryIndexOnceForEveryLoop) {
  for (int threads : {1, 2, 3}) {
    kernel_pool::setThreads(threads);
    ASSERT_EQ(kernel_pool::threads(), threads);
    Counts counts(1000);
    for (int loop = 0; loop < 300; ++loop)
      ASSERT_EQ(kernel_pool::parallelFor(nullptr, countIndex, 0, 1000,
                                         reinterpret_cast<uint8_t *>(&counts)),
                0);
    for (size_t i = 0; i < counts.perIndex.size(); ++i)
      ASSERT_EQ(counts.perIndex[i].load(), 300) << "index " << i << ", " << threads << " threads";
  }
}

TEST_F(KernelThreadPoolTest, HonoursTheLoopsMinimum) {
  kernel_pool::setThreads(2);
  Counts counts(20);
  ASSERT_EQ(kernel_pool::parallelFor(nullptr, countIndex, 5, 10, reinterpret_cast<uint8_t *>(&counts)), 0);
  for (int i = 0; i < 20; ++i)
    EXPECT_EQ(counts.perIndex[size_t(i)].load(), i >= 5 && i < 15 ? 1 : 0) << i;
}

TEST_F(KernelThreadPoolTest, UsesMoreThanTheCallingThread) {
  kernel_pool::setThreads(2);
  // Each task waits (up to 5 s, so that a busy machine cannot fail it) until two threads have
  // entered tasks: a pool that ran the loop on its caller alone would time out.
  struct Seen {
    std::mutex mutex;
    std::set<std::thread::id> ids;
  } seen;
  auto record = [](void *, int, uint8_t *closure) -> int {
    auto *s = reinterpret_cast<Seen *>(closure);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    for (;;) {
      {
        std::lock_guard<std::mutex> lock(s->mutex);
        s->ids.insert(std::this_thread::get_id());
        if (s->ids.size() >= 2)
          return 0;
      }
      if (std::chrono::steady_clock::now() > deadline)
        return 0;
      std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
  };
  ASSERT_EQ(kernel_pool::parallelFor(nullptr, record, 0, 8, reinterpret_cast<uint8_t *>(&seen)), 0);
  EXPECT_EQ(seen.ids.size(), 2u);
}

TEST_F(KernelThreadPoolTest, ReturnsTheFailureOfATask) {
  kernel_pool::setThreads(2);
  auto failAtSeven = [](void *, int index, uint8_t *) -> int { return index == 7 ? -12 : 0; };
  EXPECT_EQ(kernel_pool::parallelFor(nullptr, failAtSeven, 0, 100, nullptr), -12);
  // The pool stays usable after a failed loop.
  Counts counts(50);
  EXPECT_EQ(kernel_pool::parallelFor(nullptr, countIndex, 0, 50, reinterpret_cast<uint8_t *>(&counts)), 0);
  for (auto &c : counts.perIndex)
    EXPECT_EQ(c.load(), 1);
}

TEST_F(KernelThreadPoolTest, NestedAndConcurrentLoopsComplete) {
  kernel_pool::setThreads(2);
  // Each outer index runs an inner loop of 10 (serially, on the thread that runs it).
  Counts inner(16 * 10);
  auto outer = [](void *, int index, uint8_t *closure) -> int {
    auto *c = reinterpret_cast<Counts *>(closure);
    struct Slice {
      Counts *counts;
      int base;
    } slice{c, index * 10};
    auto one = [](void *, int i, uint8_t *s) -> int {
      auto *sl = reinterpret_cast<Slice *>(s);
      sl->counts->perIndex[size_t(sl->base + i)].fetch_add(1);
      return 0;
    };
    return kernel_pool::parallelFor(nullptr, one, 0, 10, reinterpret_cast<uint8_t *>(&slice));
  };
  ASSERT_EQ(kernel_pool::parallelFor(nullptr, outer, 0, 16, reinterpret_cast<uint8_t *>(&inner)), 0);
  for (auto &c : inner.perIndex)
    EXPECT_EQ(c.load(), 1);

  // Two threads starting loops at once: one runs on the pool, the other alone; both complete.
  Counts a(500), b(500);
  auto loops = [](Counts *c) {
    for (int loop = 0; loop < 200; ++loop)
      kernel_pool::parallelFor(nullptr, countIndex, 0, 500, reinterpret_cast<uint8_t *>(c));
  };
  std::thread first(loops, &a), second(loops, &b);
  first.join();
  second.join();
  for (size_t i = 0; i < 500; ++i) {
    EXPECT_EQ(a.perIndex[i].load(), 200);
    EXPECT_EQ(b.perIndex[i].load(), 200);
  }
}

TEST_F(KernelThreadPoolTest, AForkedChildRunsItsLoopsAlone) {
  kernel_pool::setThreads(2);
  Counts before(100);
  ASSERT_EQ(kernel_pool::parallelFor(nullptr, countIndex, 0, 100, reinterpret_cast<uint8_t *>(&before)), 0);
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) { // the workers are gone here: the loop must still complete
    Counts counts(100);
    int rc = kernel_pool::parallelFor(nullptr, countIndex, 0, 100, reinterpret_cast<uint8_t *>(&counts));
    bool all = rc == 0;
    for (auto &c : counts.perIndex)
      all = all && c.load() == 1;
    _exit(all ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
}

} // namespace
} // namespace loom
