// loom-bench's own measurements of the machine's limits, the denominators of every "% of
// roofline". Each is the best of several ways of reaching the limit, because a probe that reads
// low flatters every percentage measured against it:
// - bandwidth: a streaming read of a buffer much larger than the last-level cache, in 4 KiB
//   and in 2 MiB pages, with 1, 2 or 4 streams per thread and 256- or 512-bit loads;
// - compute: independent chains of one multiply-add instruction on registers, in each form a
//   kernel may use on this CPU (the FMA in 256 and 512 bits; for int16 products vpmaddwd and
//   AVX-512 VNNI's vpdpwssd; for int8 products vpmaddubsw and vpdpbusd).
#pragma once

#include "ThreadTeam.h"

#include "loom/AnonymousMemory.h"

#include <cstdint>
#include <string>
#include <vector>

namespace loom::bench {

class BandwidthProbe {
public:
  // Two buffers of `bytes` (rounded up to 2 MiB), one in small and one in huge pages, each
  // filled once so that it is resident.
  explicit BandwidthProbe(uint64_t bytes);
  uint64_t bytes() const { return bytes_; }
  // Times every read shape `rounds` times on the team and keeps the fastest for read().
  void calibrate(ThreadTeam &team, int rounds = 2);
  // Reads one buffer once in the chosen shape, split over the team; returns the seconds.
  double read(ThreadTeam &team);
  // The chosen shape, e.g. "2 MiB pages, 2 streams/thread, 512-bit loads".
  std::string shape() const;

  struct Shape {
    bool hugePages;
    int streams;
    bool wideLoads;
  };

private:
  double read(ThreadTeam &team, const Shape &shape);
  uint64_t bytes_ = 0;
  AnonymousMemory small_, huge_;
  Shape chosen_{false, 1, false};
  volatile float sink_ = 0;
};

// The product kinds whose peaks make up a roofline (also array indices: kProductKinds).
enum class ProductKind { F32Fma, Int16Dot, Int8Dot };
inline constexpr int kProductKinds = 3;

struct ComputePeak {
  double opsPerSecond = 0; // a multiply-add counted as 2 operations
  std::string instruction; // the form that reached it, e.g. "vpdpbusd zmm"
};

// Times `iterations` x 10 independent chains per thread of every form of `product` this CPU
// has and returns the fastest.
ComputePeak computePeak(ThreadTeam &team, ProductKind product, uint64_t iterations);

} // namespace loom::bench
