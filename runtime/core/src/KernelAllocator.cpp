#include "KernelAllocator.h"

#include <atomic>
#include <cstdlib>

namespace loom::kernel_heap {
namespace {

constexpr size_t kAlignment = 128;   // halide_malloc's alignment on x86
constexpr size_t kHeader = kAlignment; // the block's capacity lives just before the pointer
constexpr int kCachedBlocks = 16;    // per thread

std::atomic<uint64_t> systemCalls{0};

struct Block {
  void *base = nullptr;
  size_t capacity = 0;
};

// Freed blocks of one thread. Blocks are returned to the C library when the thread exits.
struct ThreadCache {
  Block blocks[kCachedBlocks];
  int count = 0;
  ~ThreadCache() {
    for (int i = 0; i < count; ++i)
      std::free(blocks[i].base);
  }
};
thread_local ThreadCache cache;

size_t roundUpToPowerOfTwo(size_t n) {
  size_t p = 256;
  while (p < n)
    p <<= 1;
  return p;
}

} // namespace

void *allocate(void *, size_t bytes) {
  // The smallest cached block that fits (capacities are powers of two).
  int best = -1;
  for (int i = 0; i < cache.count; ++i)
    if (cache.blocks[i].capacity >= bytes &&
        (best < 0 || cache.blocks[i].capacity < cache.blocks[best].capacity))
      best = i;
  void *base;
  size_t capacity;
  if (best >= 0) {
    base = cache.blocks[best].base;
    capacity = cache.blocks[best].capacity;
    cache.blocks[best] = cache.blocks[--cache.count];
  } else {
    capacity = roundUpToPowerOfTwo(bytes);
    base = std::aligned_alloc(kAlignment, kHeader + capacity);
    if (base == nullptr)
      return nullptr; // Halide reports the failed allocation
    systemCalls.fetch_add(1, std::memory_order_relaxed);
  }
  *static_cast<size_t *>(base) = capacity;
  return static_cast<uint8_t *>(base) + kHeader;
}

void release(void *, void *block) {
  if (block == nullptr)
    return;
  void *base = static_cast<uint8_t *>(block) - kHeader;
  const size_t capacity = *static_cast<size_t *>(base);
  if (cache.count == kCachedBlocks) {
    // Full: drop the smallest cached block (or this one if it is smaller).
    int smallest = 0;
    for (int i = 1; i < kCachedBlocks; ++i)
      if (cache.blocks[i].capacity < cache.blocks[smallest].capacity)
        smallest = i;
    if (cache.blocks[smallest].capacity >= capacity) {
      std::free(base);
      return;
    }
    std::free(cache.blocks[smallest].base);
    cache.blocks[smallest] = cache.blocks[--cache.count];
  }
  cache.blocks[cache.count++] = {base, capacity};
}

uint64_t systemAllocations() { return systemCalls.load(std::memory_order_relaxed); }

} // namespace loom::kernel_heap
