// KernelAllocatorTest: the kernels' scratch heap (runtime/core/src/KernelAllocator.h) reuses
// freed blocks, so a steady stream of same-sized (or slowly growing) requests stops calling the
// C library's allocator, and every block is 128-byte aligned and usable.
#include "KernelAllocator.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <thread>
#include <vector>

namespace {

using namespace loom::kernel_heap;

TEST(KernelAllocator, BlocksAreAlignedAndWritable) {
  for (size_t bytes : {size_t(1), size_t(100), size_t(4096), size_t(1) << 20}) {
    void *p = allocate(nullptr, bytes);
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % 128, 0u) << bytes;
    std::memset(p, 0xab, bytes);
    release(nullptr, p);
  }
}

TEST(KernelAllocator, SteadyStateCallsNoSystemAllocator) {
  // A decode step's pattern: a few buffers per call, the attention scores growing by one key
  // per step.
  auto step = [](size_t keys) {
    void *scores = allocate(nullptr, keys * 4);
    void *tile = allocate(nullptr, 16 * 48 * 64 * 4);
    void *small = allocate(nullptr, 256);
    release(nullptr, small);
    release(nullptr, tile);
    release(nullptr, scores);
  };
  for (size_t keys = 1000; keys < 1010; ++keys) // warm-up
    step(keys);
  const uint64_t before = systemAllocations();
  for (size_t keys = 1010; keys < 1020; ++keys) // stays within the cached 4 KiB block
    step(keys);
  EXPECT_EQ(systemAllocations(), before);
  step(5000); // outgrows it: one new block
  EXPECT_EQ(systemAllocations(), before + 1);
}

TEST(KernelAllocator, EachThreadKeepsItsOwnCache) {
  std::thread worker([] {
    void *p = allocate(nullptr, 1000);
    release(nullptr, p);
    const uint64_t before = systemAllocations();
    void *q = allocate(nullptr, 900);
    EXPECT_EQ(systemAllocations(), before); // reused within this thread
    release(nullptr, q);
  });
  worker.join();
}

TEST(KernelAllocator, ReleaseOfNullIsIgnored) { release(nullptr, nullptr); }

} // namespace
