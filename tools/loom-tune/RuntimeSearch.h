// The end-to-end choices of a model on this machine: kernel threads for prefill and for decode,
// huge pages or a mapped file, and a server's prefill chunk. Each configuration runs a synthetic
// prompt and a few decode steps through the runtime's C API; configurations take turns round by
// round and are compared by their medians.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <string>

namespace loom::tune {

struct RuntimeSearchOptions {
  std::string artifact;
  int64_t promptTokens = 256, decodeTokens = 16;
  int rounds = 3;       // at most; fewer when the time allowed runs out (at least one)
  int maxThreads = 1;   // thread counts tried: 1, 2, 4, ... up to this, and this
  // A chunk is chosen when its prefill rate is within this fraction of the best chunk's:
  // smaller chunks keep a server's other requests moving.
  double chunkTolerance = 0.05;
};

// The record's "runtime" section: the choices and what was measured for them.
nlohmann::ordered_json searchRuntime(const RuntimeSearchOptions &options, double secondsAllowed,
                                     const std::function<void(const std::string &)> &progress);

} // namespace loom::tune
