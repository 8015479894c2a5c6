// The roofline plot of a loom-bench run: reads Google Benchmark's JSON output (the median
// aggregates of the gemv/gemm cases) and draws, per thread count, the measured bandwidth and
// FMA-peak roofs with each kernel as a point at (flops per weight byte, GFLOP/s), using gnuplot.
#pragma once

#include <string>

namespace loom::bench {

// Writes `pngPath` (and `pngPath`.gp / .dat beside it, the script and data it was drawn from).
// Throws loom::Error when the JSON has no cases, or gnuplot is missing or fails.
void plotRoofline(const std::string &benchmarkJsonPath, const std::string &pngPath);

} // namespace loom::bench
