// Aggregate decode speed of concurrent streams (loom-bench --batch-decode): S sessions of an
// artifact, each prefilled with a short prompt, decode greedily (a) stepped together by
// loom_batch_decode and (b) stepped one after another by loom_session_decode, for each S in
// the list, the stream counts and the two ways interleaved within every repetition. Reports
// the median aggregate tokens/s of each, batched / one-by-one, and each against one stream.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace loom::bench {

struct BatchDecodeOptions {
  std::string artifact;
  std::vector<int> streams = {1, 2, 4, 8};
  int64_t promptTokens = 16;
  int64_t decodeTokens = 16; // steps per stream and repetition
  int warmup = 1;
  int repetitions = 5;
  int threads = 0; // 0: all cores
};

// Runs the measurement, prints a table and returns it as JSON. Throws loom::Error.
nlohmann::json runBatchDecode(const BatchDecodeOptions &options);

} // namespace loom::bench
