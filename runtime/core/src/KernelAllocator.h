// The heap of the kernels' scratch buffers (Halide's halide_malloc/halide_free, installed with
// halide_set_custom_malloc/free when a kernel library is loaded). Kernels allocate scratch
// whose size depends on the call (attention scores over the keys in the cache, GEMM blocks),
// once or more per call; with the C library's malloc that is dozens of malloc/free pairs per
// decoded token. This heap keeps freed blocks in a small per-thread cache, sized in powers of
// two, so that steady-state decode reuses them and calls malloc only when a request outgrows
// every cached block (a growing context crosses a power of two).
#pragma once

#include <cstddef>
#include <cstdint>

namespace loom::kernel_heap {

// halide_malloc_t / halide_free_t signatures. Blocks are 128-byte aligned, as Halide expects.
void *allocate(void *userContext, size_t bytes);
void release(void *userContext, void *block);

// Calls to the C library's allocator so far (all threads); for tests and measurements.
uint64_t systemAllocations();

} // namespace loom::kernel_heap
