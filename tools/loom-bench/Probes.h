// loom-bench's own measurements of the machine's limits, the denominators of every "% of
// roofline": a streaming-read bandwidth probe over a buffer much larger than the last-level
// cache, an FMA-throughput probe (independent vfmadd231ps chains on registers) and the same for
// the integer multiply-adds of the quantized kernels.
#pragma once

#include "ThreadTeam.h"

#include "loom/AnonymousMemory.h"

#include <cstddef>
#include <cstdint>
#include <memory>

namespace loom::bench {

class BandwidthProbe {
public:
  // A buffer of `bytes` (rounded up to 4 KiB) in `pages`, filled once so they are resident.
  explicit BandwidthProbe(uint64_t bytes, PageSize pages = PageSize::Small);
  uint64_t bytes() const { return bytes_; }
  // Reads the whole buffer once with 256-bit loads split over the team; returns the seconds.
  double read(ThreadTeam &team);

private:
  uint64_t bytes_ = 0;
  AnonymousMemory memory_;
  volatile float sink_ = 0;
};

// Runs `iterations` x 10 independent 8-lane FMA chains per thread; returns the seconds. Each
// iteration is 10 * 8 * 2 = 160 flops per thread.
double fmaPeak(ThreadTeam &team, uint64_t iterations);
constexpr double kFmaProbeFlopsPerIteration = 160.0;

// The integer multiply-adds of the quantized kernels, as 10 independent chains of 256-bit
// instructions per thread; return the seconds. vpmaddubsw (u8 x s8, the q4 products): 32
// products per instruction, 10 * 32 * 2 = 640 ops per iteration; vpmaddwd (int16, the q8
// products): 16 products, 320 ops.
double int8DotPeak(ThreadTeam &team, uint64_t iterations);
constexpr double kInt8ProbeOpsPerIteration = 640.0;
double int16DotPeak(ThreadTeam &team, uint64_t iterations);
constexpr double kInt16ProbeOpsPerIteration = 320.0;

} // namespace loom::bench
