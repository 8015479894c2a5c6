#include "BatchDecode.h"

#include "loom/Error.h"
#include "loom/loom.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <thread>

namespace loom::bench {
namespace {

using Clock = std::chrono::steady_clock;

void check(loom_status status, const char *what) {
  if (status != LOOM_OK)
    fail(what, ": ", loom_last_error());
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

int32_t argmax(const float *logits, int32_t vocab) {
  return int32_t(std::max_element(logits, logits + vocab) - logits);
}

struct Streams {
  std::vector<loom_session *> sessions;
  std::vector<int32_t> next; // each stream's next token
  ~Streams() {
    for (loom_session *s : sessions)
      loom_session_destroy(s);
  }
};

// `count` sessions, each prefilled with its own synthetic prompt.
void openStreams(loom_model *model, int count, int64_t promptTokens, int64_t context, int threads,
                 Streams &out) {
  const int32_t vocab = loom_model_vocab_size(model);
  std::vector<float> logits(static_cast<size_t>(vocab));
  for (int s = 0; s < count; ++s) {
    loom_session_options options;
    loom_session_options_init(&options);
    options.threads = threads;
    options.max_context = context;
    loom_session *session = nullptr;
    check(loom_session_create(model, &options, &session), "session");
    out.sessions.push_back(session);
    std::vector<int32_t> prompt(static_cast<size_t>(promptTokens));
    for (int64_t i = 0; i < promptTokens; ++i)
      prompt[size_t(i)] = int32_t(1000 + (i * 7919 + s * 104729) % 20000) % vocab;
    check(loom_session_prefill(session, prompt.data(), prompt.size(), nullptr, 0, 0,
                               logits.data(), logits.size()),
          "prefill");
    out.next.push_back(argmax(logits.data(), vocab));
  }
}

// Aggregate tokens/s of `steps` greedy steps of every stream.
double decode(loom_model *model, loom_batch *batch, Streams &streams, int64_t steps) {
  const int32_t vocab = loom_model_vocab_size(model);
  const size_t n = streams.sessions.size();
  std::vector<float> logits(n * size_t(vocab));
  const auto start = Clock::now();
  for (int64_t step = 0; step < steps; ++step) {
    if (batch) {
      check(loom_batch_decode(batch, streams.sessions.data(), streams.next.data(), n,
                              logits.data(), logits.size()),
            "batched decode");
    } else {
      for (size_t s = 0; s < n; ++s)
        check(loom_session_decode(streams.sessions[s], streams.next[s],
                                  logits.data() + s * size_t(vocab), size_t(vocab)),
              "decode");
    }
    for (size_t s = 0; s < n; ++s)
      streams.next[s] = argmax(logits.data() + s * size_t(vocab), vocab);
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  return double(n) * double(steps) / seconds;
}

} // namespace

nlohmann::json runBatchDecode(const BatchDecodeOptions &o) {
  if (o.streams.empty() || o.promptTokens < 1 || o.decodeTokens < 1 || o.repetitions < 1 ||
      o.warmup < 0)
    fail("--batch-decode: --streams must list counts >= 1, --prompt-tokens and --decode-tokens "
         "must be >= 1, --repetitions >= 1, --warmup >= 0");
  for (int s : o.streams)
    if (s < 1)
      fail("--streams: ", s, " is not a stream count >= 1");
  const int threads =
      o.threads > 0 ? o.threads : int(std::max(1u, std::thread::hardware_concurrency()));
  loom_model *model = nullptr;
  check(loom_model_open(o.artifact.c_str(), &model), o.artifact.c_str());
  std::unique_ptr<loom_model, void (*)(loom_model *)> modelGuard(model, loom_model_close);
  const int64_t context = o.promptTokens + o.decodeTokens * (o.warmup + o.repetitions) + 1;
  if (context > loom_model_max_context(model))
    fail(o.artifact, ": ", context, " positions exceed the artifact's max_context ",
         loom_model_max_context(model));
  loom_batch *batch = nullptr;
  check(loom_batch_create(model, &batch), "batch");
  std::unique_ptr<loom_batch, void (*)(loom_batch *)> batchGuard(batch, loom_batch_destroy);

  // One set of streams per count and way, so that every run continues at the same positions.
  std::vector<Streams> batched(o.streams.size()), oneByOne(o.streams.size());
  for (size_t i = 0; i < o.streams.size(); ++i) {
    openStreams(model, o.streams[i], o.promptTokens, context, threads, batched[i]);
    openStreams(model, o.streams[i], o.promptTokens, context, threads, oneByOne[i]);
  }
  std::vector<std::vector<double>> batchedTps(o.streams.size()), oneByOneTps(o.streams.size());
  for (int rep = 0; rep < o.warmup + o.repetitions; ++rep)
    for (size_t i = 0; i < o.streams.size(); ++i) {
      const double b = decode(model, batch, batched[i], o.decodeTokens);
      const double s = decode(model, nullptr, oneByOne[i], o.decodeTokens);
      if (rep >= o.warmup) {
        batchedTps[i].push_back(b);
        oneByOneTps[i].push_back(s);
      }
    }

  // One stream's tokens/s: the one-by-one rate of 1 stream, or of the first count listed (its
  // streams decode one at a time, one token per call, as a lone stream does).
  const size_t oneStream =
      size_t(std::find(o.streams.begin(), o.streams.end(), 1) - o.streams.begin());
  const double single = median(oneByOneTps[oneStream < o.streams.size() ? oneStream : 0]);
  nlohmann::json rows = nlohmann::json::array();
  std::printf("loom-bench batch-decode %s: %d threads, %lld-token prompts, %lld steps x %d "
              "repetitions (+%d warm-up)\n",
              o.artifact.c_str(), threads, (long long)o.promptTokens, (long long)o.decodeTokens,
              o.repetitions, o.warmup);
  std::printf("  streams   batched tok/s   one-by-one tok/s   batched/one-by-one   batched/1 stream\n");
  for (size_t i = 0; i < o.streams.size(); ++i) {
    const double b = median(batchedTps[i]), s = median(oneByOneTps[i]);
    std::printf("  %7d %15.2f %18.2f %20.2f %18.2f\n", o.streams[i], b, s, b / s, b / single);
    rows.push_back({{"streams", o.streams[i]},
                    {"batched_tokens_per_s", b},
                    {"one_by_one_tokens_per_s", s},
                    {"batched_over_one_by_one", b / s},
                    {"batched_over_one_stream", b / single},
                    {"batched_values", batchedTps[i]},
                    {"one_by_one_values", oneByOneTps[i]}});
  }
  return {{"artifact", o.artifact},       {"threads", threads},
          {"prompt_tokens", o.promptTokens}, {"decode_tokens", o.decodeTokens},
          {"warmup", o.warmup},           {"repetitions", o.repetitions},
          {"one_stream_tokens_per_s", single}, {"rows", rows}};
}

} // namespace loom::bench
