#include "EndToEnd.h"

#include "Probes.h"
#include "ThreadTeam.h"

#include "loom/Artifact.h"
#include "loom/Error.h"
#include "loom/Schema/loom_generated.h"
#include "loom/loom.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <thread>
#include <vector>

namespace loom::bench {
namespace {

using Clock = std::chrono::steady_clock;
double since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

void check(loom_status status, const char *what) {
  if (status != LOOM_OK)
    fail(what, ": ", loom_last_error());
}

double percentile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  const double at = q * double(v.size() - 1);
  const size_t lo = size_t(at), hi = std::min(v.size() - 1, lo + 1);
  return v[lo] + (v[hi] - v[lo]) * (at - double(lo));
}

bool isMediaTensor(const std::string &name) {
  return name.find("vision") != std::string::npos || name.find("audio") != std::string::npos;
}

// The instruction a matrix's product multiplies with, by its stored format: f32 FMAs (f32,
// bf16), vpmaddwd (q8: int16 activations) or vpmaddubsw (q4: int8 activations).
enum Product { kFmaProduct, kInt16Product, kInt8Product, kProducts };

Product productOf(const fb::Tensor &t) {
  switch (t.quantization()) {
  case fb::Quantization::Q8Row:
    return kInt16Product;
  case fb::Quantization::Q4Group:
    return kInt8Product;
  default:
    return kFmaProduct;
  }
}

// What one decode step and a prefill cost, from the manifest: the bytes of every weight the text
// path reads (the tied embedding is read whole by the lm_head) and the flops of the projections
// (by the instruction that computes them) and attention.
struct ModelCost {
  uint64_t decodeBytes = 0;          // weight bytes read per decoded token
  double matrixParams[kProducts] = {}; // decoder projection parameters (per token: 2 ops each)
  double lmHeadParams = 0;           // vocab x hidden
  Product lmHeadProduct = kFmaProduct;
  double attentionFlops(int64_t tokens) const {
    double total = 0;
    for (const Layer &l : layers) {
      double pairs = 0; // visible (query, key) pairs of a causal prompt from position 0
      for (int64_t t = 0; t < tokens; ++t)
        pairs += double(l.window > 0 ? std::min<int64_t>(t + 1, l.window) : t + 1);
      total += 4.0 * double(l.heads * l.headDim) * pairs; // q.k and p.v
    }
    return total;
  }
  struct Layer {
    int64_t heads, headDim, window;
  };
  std::vector<Layer> layers;
};

ModelCost modelCost(const std::string &path) {
  std::shared_ptr<const Artifact> artifact = Artifact::open(path);
  const fb::Model &m = artifact->manifest();
  ModelCost cost;
  if (m.tensors())
    for (const fb::Tensor *t : *m.tensors()) {
      const std::string name = t->name() ? t->name()->str() : "";
      if (isMediaTensor(name))
        continue;
      cost.decodeBytes += t->size();
      const auto *shape = t->logical_shape() && t->logical_shape()->size() ? t->logical_shape() : t->shape();
      if (!shape || shape->size() != 2)
        continue;
      const double params = double(shape->Get(0)) * double(shape->Get(1));
      if (name.find("embed_tokens") != std::string::npos) {
        cost.lmHeadParams = params;
        cost.lmHeadProduct = productOf(*t);
      } else {
        cost.matrixParams[productOf(*t)] += params;
      }
    }
  const fb::ModelConfig *c = m.config();
  if (c && c->layer_kinds())
    for (auto kind : *c->layer_kinds()) {
      const bool full = static_cast<fb::LayerKind>(kind) == fb::LayerKind::Full;
      cost.layers.push_back({c->num_heads(), full ? c->global_head_dim() : c->head_dim(),
                             full ? 0 : c->sliding_window()});
    }
  return cost;
}

} // namespace

nlohmann::json runEndToEnd(const EndToEndOptions &o) {
  if (o.promptTokens < 1 || o.decodeTokens < 1 || o.repetitions < 1 || o.warmup < 0)
    fail("--e2e: --prompt-tokens and --decode-tokens must be >= 1, --repetitions >= 1, --warmup >= 0");
  const ModelCost cost = modelCost(o.artifact);
  const int threads = o.threads > 0 ? o.threads : int(std::max(1u, std::thread::hardware_concurrency()));

  loom_model *model = nullptr;
  loom_model_options modelOptions;
  loom_model_options_init(&modelOptions);
  modelOptions.huge_page_copy = o.hugePages ? 1 : 0;
  check(loom_model_open_with(o.artifact.c_str(), &modelOptions, &model), o.artifact.c_str());
  std::unique_ptr<loom_model, void (*)(loom_model *)> modelGuard(model, loom_model_close);
  const int32_t vocab = loom_model_vocab_size(model);
  const int64_t context = loom_model_max_context(model);
  if (o.promptTokens + o.decodeTokens > context)
    fail(o.artifact, ": ", o.promptTokens, " prompt + ", o.decodeTokens,
         " decoded tokens exceed the artifact's max_context ", context);
  loom_special_tokens special;
  check(loom_model_special_tokens(model, &special), "special tokens");

  // A fixed synthetic prompt of ordinary text ids (no media placeholders).
  std::vector<int32_t> prompt(size_t(o.promptTokens));
  for (int64_t i = 0; i < o.promptTokens; ++i)
    prompt[size_t(i)] = i == 0 && special.bos >= 0 ? special.bos : int32_t(1000 + (i * 7919) % 20000) % vocab;
  std::vector<float> logits(static_cast<size_t>(vocab));
  loom_sampling greedy;
  loom_sampling_init(&greedy);
  greedy.greedy = 1;

  ThreadTeam team(threads);
  BandwidthProbe probe(512ull << 20, o.hugePages ? PageSize::Huge : PageSize::Small);
  std::vector<double> prefillTps, decodeTps, ttft, bandwidth, peak, int16Peak, int8Peak;
  for (int rep = 0; rep < o.warmup + o.repetitions; ++rep) {
    loom_session_options options;
    loom_session_options_init(&options);
    options.threads = threads;
    options.max_context = o.promptTokens + o.decodeTokens;
    loom_session *session = nullptr;
    check(loom_session_create(model, &options, &session), "session");
    std::unique_ptr<loom_session, void (*)(loom_session *)> guard(session, loom_session_destroy);
    auto start = Clock::now();
    check(loom_session_prefill(session, prompt.data(), prompt.size(), nullptr, 0, 0, logits.data(),
                               logits.size()),
          "prefill");
    int32_t token = 0;
    check(loom_sample(session, logits.data(), logits.size(), &greedy, &token), "sample");
    const double prefillSeconds = since(start);
    start = Clock::now();
    for (int64_t i = 0; i < o.decodeTokens; ++i) {
      check(loom_session_decode(session, token, logits.data(), logits.size()), "decode");
      check(loom_sample(session, logits.data(), logits.size(), &greedy, &token), "sample");
    }
    const double decodeSeconds = since(start);
    // The rooflines, measured between repetitions on the same threads.
    const double bw = double(probe.bytes()) / probe.read(team) / 1e9;
    const uint64_t fmaIterations = 4'000'000;
    const double pk = kFmaProbeFlopsPerIteration * double(fmaIterations) * threads /
                      fmaPeak(team, fmaIterations) / 1e9;
    const double int16Pk = kInt16ProbeOpsPerIteration * double(fmaIterations) * threads /
                           int16DotPeak(team, fmaIterations) / 1e9;
    const double int8Pk = kInt8ProbeOpsPerIteration * double(fmaIterations) * threads /
                          int8DotPeak(team, fmaIterations) / 1e9;
    if (rep < o.warmup)
      continue;
    prefillTps.push_back(double(o.promptTokens) / prefillSeconds);
    ttft.push_back(prefillSeconds);
    decodeTps.push_back(double(o.decodeTokens) / decodeSeconds);
    bandwidth.push_back(bw);
    peak.push_back(pk);
    int16Peak.push_back(int16Pk);
    int8Peak.push_back(int8Pk);
  }

  const double bwMedian = percentile(bandwidth, 0.5), peakMedian = percentile(peak, 0.5);
  const double decodeRoofline = bwMedian * 1e9 / double(cost.decodeBytes);
  // Prefill's compute roofline: each matrix's ops at the peak of the instruction its product
  // uses, attention at the FMA peak.
  const double peaks[kProducts] = {peakMedian, percentile(int16Peak, 0.5),
                                   percentile(int8Peak, 0.5)};
  const double tokens = double(o.promptTokens);
  double prefillFlops = 2.0 * cost.lmHeadParams + cost.attentionFlops(o.promptTokens);
  double prefillSeconds = (2.0 * cost.lmHeadParams / peaks[cost.lmHeadProduct] +
                           cost.attentionFlops(o.promptTokens) / peakMedian) / 1e9;
  for (int k = 0; k < kProducts; ++k) {
    prefillFlops += 2.0 * cost.matrixParams[k] * tokens;
    prefillSeconds += 2.0 * cost.matrixParams[k] * tokens / peaks[k] / 1e9;
  }
  const double prefillRoofline = tokens / prefillSeconds;
  auto stats = [](const std::vector<double> &v) {
    return nlohmann::json{{"median", percentile(v, 0.5)},
                          {"p95", percentile(v, 0.95)},
                          {"p05", percentile(v, 0.05)},
                          {"min", *std::min_element(v.begin(), v.end())},
                          {"max", *std::max_element(v.begin(), v.end())},
                          {"values", v}};
  };
  nlohmann::json out = {
      {"artifact", o.artifact},
      {"threads", threads},
      {"prompt_tokens", o.promptTokens},
      {"decode_tokens", o.decodeTokens},
      {"warmup", o.warmup},
      {"repetitions", o.repetitions},
      {"prefill_tokens_per_s", stats(prefillTps)},
      {"decode_tokens_per_s", stats(decodeTps)},
      {"ttft_s", stats(ttft)},
      {"probe_bandwidth_GBps", stats(bandwidth)},
      {"probe_peak_GFLOPs", stats(peak)},
      {"probe_int16_peak_GOPs", stats(int16Peak)},
      {"probe_int8_peak_GOPs", stats(int8Peak)},
      {"decode_bytes_per_token", cost.decodeBytes},
      {"decode_roofline_tokens_per_s", decodeRoofline},
      {"decode_roofline_pct", 100.0 * percentile(decodeTps, 0.5) / decodeRoofline},
      {"prefill_flops", prefillFlops},
      {"prefill_roofline_tokens_per_s", prefillRoofline},
      {"prefill_roofline_pct", 100.0 * percentile(prefillTps, 0.5) / prefillRoofline},
  };
  std::printf("loom-bench e2e %s: %d threads, %lld prompt + %lld decoded tokens, %d warm-up + %d "
              "repetitions\n",
              o.artifact.c_str(), threads, (long long)o.promptTokens, (long long)o.decodeTokens,
              o.warmup, o.repetitions);
  std::printf("  prefill  %10.2f tok/s median  (slowest 5%%: %.2f)   roofline %.2f tok/s at "
              "%.1f GFLOP/s (f32 FMA), %.1f (int16), %.1f GOP/s (int8): %.1f%%\n",
              percentile(prefillTps, 0.5), percentile(prefillTps, 0.05), prefillRoofline, peakMedian,
              peaks[kInt16Product], peaks[kInt8Product], out["prefill_roofline_pct"].get<double>());
  std::printf("  TTFT     %10.4f s median      (p95 %.4f)\n", percentile(ttft, 0.5), percentile(ttft, 0.95));
  std::printf("  decode   %10.2f tok/s median  (slowest 5%%: %.2f)   roofline %.2f tok/s = %.2f GB/s / %.3f GB: %.1f%%\n",
              percentile(decodeTps, 0.5), percentile(decodeTps, 0.05), decodeRoofline, bwMedian,
              double(cost.decodeBytes) / 1e9, out["decode_roofline_pct"].get<double>());
  return out;
}

} // namespace loom::bench
