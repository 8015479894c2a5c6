// The search of one kernel's schedule parameters (a product's or an attention shape's) on this
// machine: each candidate is generated (buildKernelLibrary, as loom-compile does), loaded, and
// timed against the best so far at the token counts that matter (decode, a batched decode step,
// prefill; Workloads.h), the two run by turns and compared by their medians. Coordinate-wise:
// one parameter at a time, a few values around the best, the next parameter from the winner.
#pragma once

#include "ModelKernels.h"

#include "loom/AnonymousMemory.h"
#include "loom/Codegen/Tuning.h"

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace loom::tune {

struct SearchOptions {
  std::string target;                   // a resolved Loom CPU target
  codegen::CpuIdentity cpu;             // its caches bound the candidates (prunedBecause)
  std::vector<int64_t> tokens{1, 4, 512}; // T of the timed calls
  int threads = 1;
  int repetitions = 5;                  // timed turns of each library per comparison
  PageSize pages = PageSize::Small;     // of the weights
  double minGain = 0.03;                // a candidate must be this much faster to replace the best
};

struct SearchResult {
  codegen::ScheduleParameters defaults, best;
  std::map<int64_t, double> defaultSeconds, bestSeconds; // medians by T, measured side by side
  int candidates = 0;    // generated and timed
  bool complete = false; // every candidate was tried within the time allowed
};

// Searches `kernel`'s parameters from `base`'s for at most `secondsAllowed` (a candidate started
// is finished). `progress` receives one line per candidate.
SearchResult searchKernel(const ModelKernel &kernel, const codegen::Tuning &base,
                          const SearchOptions &options, double secondsAllowed,
                          const std::function<void(const std::string &)> &progress);

// The geometric mean over T of a / b: below 1, `a` is faster.
double relativeTime(const std::map<int64_t, double> &a, const std::map<int64_t, double> &b);

// Why `params` need not be timed for `key` on `cpu` with `threads` threads ("" when they must):
// a GEMM task whose weights (the data its comments say stay in L2) exceed the L2 cache, fewer
// tasks than threads, or more heads per attention task than a key/value head serves.
std::string prunedBecause(const codegen::TuningKey &key, const codegen::ScheduleParameters &params,
                          const codegen::CpuIdentity &cpu, int threads);

// The values tried for a parameter around `current`: a quarter, a half, twice and four times
// it (and 0 where the range allows it), kept in range and rounded to its multiple.
std::vector<int> candidateValues(const codegen::TunableParameter &parameter, int current);

} // namespace loom::tune
