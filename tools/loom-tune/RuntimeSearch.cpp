#include "RuntimeSearch.h"

#include "loom/Error.h"
#include "loom/loom.h"

#include <algorithm>
#include <chrono>
#include <map>
#include <memory>
#include <sstream>
#include <vector>

namespace loom::tune {
namespace {

using nlohmann::ordered_json;
using Clock = std::chrono::steady_clock;

void check(loom_status status) {
  if (status != LOOM_OK)
    fail("runtime: ", loom_last_error());
}

using ModelPtr = std::unique_ptr<loom_model, void (*)(loom_model *)>;

ModelPtr openModel(const std::string &path, bool hugePages) {
  loom_model_options options;
  loom_model_options_init(&options);
  options.huge_page_copy = hugePages ? 1 : 0;
  loom_model *model = nullptr;
  check(loom_model_open_with(path.c_str(), &options, &model));
  return ModelPtr(model, loom_model_close);
}

struct Rates {
  double prefill = 0, decode = 0; // tokens per second
};

// One run: a fresh session prefills the prompt (in calls of `chunk` tokens; 0: one call) and
// decodes greedily.
Rates runOnce(loom_model *model, int threads, int64_t chunk, const RuntimeSearchOptions &options) {
  loom_session_options sessionOptions;
  loom_session_options_init(&sessionOptions);
  sessionOptions.threads = threads;
  loom_session *raw = nullptr;
  check(loom_session_create(model, &sessionOptions, &raw));
  std::unique_ptr<loom_session, void (*)(loom_session *)> session(raw, loom_session_destroy);
  const int32_t vocab = loom_model_vocab_size(model);
  std::vector<int32_t> ids(size_t(options.promptTokens));
  for (size_t i = 0; i < ids.size(); ++i)
    ids[i] = int32_t(1000 + (i * 7919) % 20000) % vocab; // ordinary text ids, none special
  std::vector<float> logits(static_cast<size_t>(vocab));
  const auto prefillStart = Clock::now();
  for (size_t at = 0; at < ids.size();) {
    const size_t n = chunk > 0 ? std::min(ids.size() - at, size_t(chunk)) : ids.size();
    const bool last = at + n == ids.size(); // as loom-serve: only the last chunk's logits
    check(loom_session_prefill(session.get(), ids.data() + at, n, nullptr, 0, 0,
                               last ? logits.data() : nullptr, last ? logits.size() : 0));
    at += n;
  }
  Rates rates;
  rates.prefill = double(ids.size()) /
                  std::chrono::duration<double>(Clock::now() - prefillStart).count();
  const auto decodeStart = Clock::now();
  for (int64_t i = 0; i < options.decodeTokens; ++i) {
    const int32_t token =
        int32_t(std::max_element(logits.begin(), logits.end()) - logits.begin());
    check(loom_session_decode(session.get(), token, logits.data(), logits.size()));
  }
  rates.decode = double(options.decodeTokens) /
                 std::chrono::duration<double>(Clock::now() - decodeStart).count();
  return rates;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

std::vector<int> threadCounts(int maxThreads) {
  std::vector<int> counts;
  for (int t = 1; t < maxThreads; t *= 2)
    counts.push_back(t);
  counts.push_back(maxThreads);
  return counts;
}

} // namespace

ordered_json searchRuntime(const RuntimeSearchOptions &requested, double secondsAllowed,
                           const std::function<void(const std::string &)> &progress) {
  const auto start = Clock::now();
  auto elapsed = [&] { return std::chrono::duration<double>(Clock::now() - start).count(); };
  // Threads and pages: every pair, round by round (both page settings loaded side by side).
  ModelPtr mapped = openModel(requested.artifact, false), huge = openModel(requested.artifact, true);
  // A short context takes a shorter prompt (the decode steps must fit after it).
  RuntimeSearchOptions options = requested;
  const int64_t context = loom_model_max_context(mapped.get());
  options.decodeTokens = std::min(options.decodeTokens, std::max<int64_t>(1, context / 4));
  options.promptTokens = std::min(options.promptTokens, context - options.decodeTokens);
  const std::vector<int> threads = threadCounts(options.maxThreads);
  std::map<std::pair<bool, int>, std::vector<Rates>> runs;
  for (int round = 0; round < options.rounds && (round == 0 || elapsed() < secondsAllowed * 0.7);
       ++round)
    for (bool hugePages : {false, true})
      for (int t : threads) {
        runs[{hugePages, t}].push_back(runOnce(hugePages ? huge.get() : mapped.get(), t, 0, options));
        std::ostringstream line;
        line << "  round " << round + 1 << ": " << (hugePages ? "huge pages" : "mapped") << ", "
             << t << " threads: prefill " << runs[{hugePages, t}].back().prefill
             << " tok/s, decode " << runs[{hugePages, t}].back().decode << " tok/s";
        progress(line.str());
      }
  auto medianOf = [&](bool hugePages, int t, double Rates::*rate) {
    std::vector<double> values;
    for (const Rates &r : runs[{hugePages, t}])
      values.push_back(r.*rate);
    return median(values);
  };
  // Huge pages where they decode faster (decode reads every weight per token); then each
  // phase's fastest thread count with that choice.
  double bestMapped = 0, bestHuge = 0;
  for (int t : threads) {
    bestMapped = std::max(bestMapped, medianOf(false, t, &Rates::decode));
    bestHuge = std::max(bestHuge, medianOf(true, t, &Rates::decode));
  }
  const bool hugePages = bestHuge > bestMapped;
  int prefillThreads = threads[0], decodeThreads = threads[0];
  for (int t : threads) {
    if (medianOf(hugePages, t, &Rates::prefill) > medianOf(hugePages, prefillThreads, &Rates::prefill))
      prefillThreads = t;
    if (medianOf(hugePages, t, &Rates::decode) > medianOf(hugePages, decodeThreads, &Rates::decode))
      decodeThreads = t;
  }
  ordered_json measured = ordered_json::array();
  for (bool pages : {false, true})
    for (int t : threads)
      measured.push_back({{"huge_pages", pages},
                          {"threads", t},
                          {"prefill_tok_s", medianOf(pages, t, &Rates::prefill)},
                          {"decode_tok_s", medianOf(pages, t, &Rates::decode)},
                          {"runs", runs[{pages, t}].size()}});
  mapped.reset();
  loom_model *model = hugePages ? huge.get() : nullptr;
  ModelPtr reopened(nullptr, loom_model_close);
  if (!model) {
    huge.reset();
    reopened = openModel(options.artifact, false);
    model = reopened.get();
  }

  // The prefill chunk: the smallest whose rate is within chunkTolerance of the best.
  std::vector<int64_t> chunks;
  for (int64_t c = 64; c < options.promptTokens; c *= 2)
    chunks.push_back(c);
  chunks.push_back(0); // the whole prompt
  std::map<int64_t, std::vector<double>> chunkRates;
  for (int round = 0; round < options.rounds && (round == 0 || elapsed() < secondsAllowed); ++round)
    for (int64_t c : chunks)
      chunkRates[c].push_back(runOnce(model, prefillThreads, c, options).prefill);
  double bestChunkRate = 0;
  for (int64_t c : chunks)
    bestChunkRate = std::max(bestChunkRate, median(chunkRates[c]));
  int64_t prefillChunk = 0;
  ordered_json chunkMeasured = ordered_json::object();
  for (int64_t c : chunks) {
    const double rate = median(chunkRates[c]);
    chunkMeasured[c == 0 ? "whole" : std::to_string(c)] = rate;
    std::ostringstream line;
    line << "  prefill in calls of " << (c == 0 ? "the whole prompt" : std::to_string(c))
         << ": " << rate << " tok/s";
    progress(line.str());
  }
  for (auto c = chunks.rbegin(); c != chunks.rend(); ++c)
    if (median(chunkRates[*c]) >= (1.0 - options.chunkTolerance) * bestChunkRate && *c != 0)
      prefillChunk = *c;
  if (prefillChunk == 0)
    prefillChunk = options.promptTokens; // no smaller chunk keeps up: as long as the prompt
  return {{"prefill_threads", prefillThreads},
          {"decode_threads", decodeThreads},
          {"huge_pages", hugePages},
          {"prefill_chunk", prefillChunk},
          {"prompt_tokens", options.promptTokens},
          {"decode_tokens", options.decodeTokens},
          {"measured", measured},
          {"prefill_chunk_tok_s", chunkMeasured},
          {"seconds", elapsed()}};
}

} // namespace loom::tune
