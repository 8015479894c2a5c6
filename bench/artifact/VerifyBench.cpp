// What checking an artifact's checksums costs: XXH3 over every segment (Artifact::
// verifyAllSegments, `--verify`) against reading the same mapped bytes once (a sum of 64-bit
// words, the memory-bandwidth reference), both from the page cache, in one run.
//
//   bench-artifact-verify MODEL.loom [--benchmark_repetitions=5 ...]
#include "loom/Artifact.h"
#include "loom/Schema/loom_generated.h"

#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstring>
#include <memory>

namespace {

std::shared_ptr<const loom::Artifact> artifact;

uint64_t segmentBytes() {
  uint64_t total = 0;
  for (const loom::fb::Segment *segment : *artifact->manifest().segments())
    total += segment->size();
  return total;
}

void VerifyAllSegments(benchmark::State &state) {
  for (auto _ : state)
    artifact->verifyAllSegments();
  state.SetBytesProcessed(int64_t(state.iterations() * segmentBytes()));
}

void ReadAllSegments(benchmark::State &state) {
  for (auto _ : state) {
    uint64_t sum = 0;
    for (uint32_t i = 0; i < artifact->manifest().segments()->size(); ++i) {
      const loom::ByteSpan bytes = artifact->segment(i);
      const uint64_t words = bytes.size / 8;
      for (uint64_t w = 0; w < words; ++w) {
        uint64_t word;
        std::memcpy(&word, bytes.data + w * 8, 8);
        sum += word;
      }
    }
    benchmark::DoNotOptimize(sum);
  }
  state.SetBytesProcessed(int64_t(state.iterations() * segmentBytes()));
}

} // namespace

int main(int argc, char **argv) {
  benchmark::Initialize(&argc, argv);
  if (argc != 2) {
    std::fprintf(stderr, "usage: bench-artifact-verify MODEL.loom [benchmark flags]\n");
    return 2;
  }
  artifact = loom::Artifact::open(argv[1]);
  benchmark::RegisterBenchmark("ReadAllSegments", ReadAllSegments)->Unit(benchmark::kMillisecond)->UseRealTime();
  benchmark::RegisterBenchmark("VerifyAllSegments", VerifyAllSegments)->Unit(benchmark::kMillisecond)->UseRealTime();
  benchmark::RunSpecifiedBenchmarks();
  return 0;
}
