// Google Benchmark cases for generated linear kernels, each run interleaved with its references
// inside every iteration (ours, reference 1, reference 2, ..., then again), so that a ratio is
// taken between runs a few milliseconds apart on the same, possibly noisy, machine.
//
//   gemv/<shape>/<weights>/threads:<n>  T = 1 (decode): references are loom-bench's bandwidth
//       probe (the roofline: roofline_pct = our GB/s / the probe's GB/s), OpenBLAS gemv and
//       oneDNN matmul at the same precision where they exist.
//   gemm/<shape>/<weights>/T:<t>/threads:<n>  prefill: references are oneDNN matmul and
//       OpenBLAS gemm; roofline_pct = our GFLOP/s / the FMA probe's GFLOP/s.
// The benchmark's time is ours; counters carry the rest (GB/s, GFLOP/s, vs_<ref> = ref time /
// our time, so > 1 means we are faster), and repetitions add median, min and max of each.
#pragma once

#include "KernelHarness.h"
#include "Shapes.h"

#include "loom/AnonymousMemory.h"

#include <memory>
#include <string>
#include <vector>

namespace loom::bench {

struct LinearBenchOptions {
  std::vector<int> threads;        // thread counts to measure at (e.g. 1 and all cores)
  bool gemv = true, gemm = true;
  int64_t prefillTokens = 512;     // T of the gemm cases
  double gemvMinSeconds = 0.2;     // per repetition; ignored when --benchmark_min_time is given
  double gemmMinSeconds = 0.5;
  bool setMinTime = true;
  bool references = true;          // oneDNN/OpenBLAS (off: probes only)
  PageSize weightPages = PageSize::Small; // of the GEMV weights and the bandwidth probe
};

// The kernels the cases need (one per shape), to build into one library first.
std::vector<codegen::KernelSpec> linearKernelSpecs(const std::vector<LinearShape> &shapes);

// Registers the cases with Google Benchmark. `kernels` must hold linearKernelSpecs(shapes) and
// outlive benchmark::RunSpecifiedBenchmarks().
void registerLinearBenchmarks(const std::vector<LinearShape> &shapes,
                              const LinearBenchOptions &options,
                              std::shared_ptr<KernelHarness> kernels);

// The kernel symbol of a shape ("linear_3840x15360_bf16").
std::string linearSymbol(const LinearShape &shape);

} // namespace loom::bench
