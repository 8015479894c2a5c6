#include "EndToEnd.h"

#include "Probes.h"
#include "ThreadTeam.h"

#include "loom/Artifact.h"
#include "loom/Error.h"
#include "loom/Schema/loom_generated.h"
#include "loom/Runtime/Model.h"
#include "loom/Runtime/Session.h"
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

// The products a matrix is made of, by its stored format: f32 FMAs (f32, bf16), int16
// multiply-adds (q8: int16 activations) or int8 ones (q4: int8 activations).
int productOf(const fb::Tensor &t) {
  switch (t.quantization()) {
  case fb::Quantization::Q8Row:
    return int(ProductKind::Int16Dot);
  case fb::Quantization::Q4Group:
    return int(ProductKind::Int8Dot);
  default:
    return int(ProductKind::F32Fma);
  }
}

// What one decode step and a prefill cost, from the manifest: the bytes of every weight the text
// path reads (the tied embedding is read whole by the lm_head) and the flops of the projections
// (by the instruction that computes them) and attention.
struct ModelCost {
  uint64_t decodeBytes = 0;          // weight bytes read per decoded token
  double matrixParams[kProductKinds] = {}; // decoder projection parameters (per token: 2 ops each)
  double lmHeadParams = 0;           // vocab x hidden
  int lmHeadProduct = int(ProductKind::F32Fma);
  double visionParams[kProductKinds] = {}; // the patch embedder's matrices (per patch: 2 ops each)
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
      const auto *shape = t->logical_shape() && t->logical_shape()->size() ? t->logical_shape() : t->shape();
      const bool matrix = shape && shape->size() == 2;
      const double params = matrix ? double(shape->Get(0)) * double(shape->Get(1)) : 0;
      if (isMediaTensor(name)) {
        if (matrix && name.find("vision") != std::string::npos)
          cost.visionParams[productOf(*t)] += params;
        continue;
      }
      cost.decodeBytes += t->size();
      if (!matrix)
        continue;
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

// A prefill's operations and the seconds they take at the peaks (GOP/s, by product): each
// matrix at the peak of its product, attention at the FMA peak, the lm_head for one row.
struct PrefillBound {
  double ops = 0, seconds = 0;
};
PrefillBound prefillBound(const ModelCost &cost, int64_t tokens, int64_t patches,
                          const double (&peaks)[kProductKinds]) {
  PrefillBound b;
  auto add = [&](double ops, double peakGops) {
    b.ops += ops;
    b.seconds += ops / peakGops / 1e9;
  };
  add(2.0 * cost.lmHeadParams, peaks[cost.lmHeadProduct]);
  add(cost.attentionFlops(tokens), peaks[int(ProductKind::F32Fma)]);
  for (int k = 0; k < kProductKinds; ++k) {
    add(2.0 * cost.matrixParams[k] * double(tokens), peaks[k]);
    add(2.0 * cost.visionParams[k] * double(patches), peaks[k]);
  }
  return b;
}

nlohmann::json stats(const std::vector<double> &v) {
  return nlohmann::json{{"median", percentile(v, 0.5)},
                        {"p95", percentile(v, 0.95)},
                        {"p05", percentile(v, 0.05)},
                        {"min", *std::min_element(v.begin(), v.end())},
                        {"max", *std::max_element(v.begin(), v.end())},
                        {"values", v}};
}

int resolveThreads(int requested) {
  return requested > 0 ? requested : int(std::max(1u, std::thread::hardware_concurrency()));
}

// Ordinary text ids for synthetic prompts (no special tokens, no media placeholders).
int32_t syntheticTextId(int64_t i, int64_t vocab) {
  return int32_t((1000 + (i * 7919) % 20000) % vocab);
}

// The compute peaks (GOP/s) measured between repetitions: one sample per repetition and kind,
// and the instruction form that reached the last.
struct PeakSamples {
  std::vector<double> gops[kProductKinds];
  std::string forms[kProductKinds];

  void measure(ThreadTeam &team, bool keep) {
    for (int k = 0; k < kProductKinds; ++k) {
      const ComputePeak peak = computePeak(team, ProductKind(k), 4'000'000);
      forms[k] = peak.instruction;
      if (keep)
        gops[k].push_back(peak.opsPerSecond / 1e9);
    }
  }
  void medians(double (&out)[kProductKinds]) const {
    for (int k = 0; k < kProductKinds; ++k)
      out[k] = percentile(gops[k], 0.5);
  }
  // JSON fields: the samples of each peak and the instruction forms.
  void addTo(nlohmann::json &out) const {
    out["probe_peak_GFLOPs"] = stats(gops[int(ProductKind::F32Fma)]);
    out["probe_int16_peak_GOPs"] = stats(gops[int(ProductKind::Int16Dot)]);
    out["probe_int8_peak_GOPs"] = stats(gops[int(ProductKind::Int8Dot)]);
    out["probe_peak_instructions"] = {{"f32", forms[int(ProductKind::F32Fma)]},
                                      {"int16", forms[int(ProductKind::Int16Dot)]},
                                      {"int8", forms[int(ProductKind::Int8Dot)]}};
  }
};

} // namespace

nlohmann::json runEndToEnd(const EndToEndOptions &o) {
  if (o.promptTokens < 1 || o.decodeTokens < 1 || o.repetitions < 1 || o.warmup < 0)
    fail("--e2e: --prompt-tokens and --decode-tokens must be >= 1, --repetitions >= 1, --warmup >= 0");
  const ModelCost cost = modelCost(o.artifact);
  const int threads = resolveThreads(o.threads);

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
    prompt[size_t(i)] = i == 0 && special.bos >= 0 ? special.bos : syntheticTextId(i, vocab);
  std::vector<float> logits(static_cast<size_t>(vocab));
  loom_sampling greedy;
  loom_sampling_init(&greedy);
  greedy.greedy = 1;

  ThreadTeam team(threads);
  // The probe takes the best of its read shapes, huge pages among them even when the artifact is
  // mapped: a roofline is the best the machine can do.
  BandwidthProbe probe(512ull << 20);
  probe.calibrate(team);
  std::vector<double> prefillTps, decodeTps, ttft, bandwidth;
  PeakSamples peakSamples;
  for (int rep = 0; rep < o.warmup + o.repetitions; ++rep) {
    loom_session_options options;
    loom_session_options_init(&options);
    options.threads = threads;
    options.max_context = o.promptTokens + o.decodeTokens;
    loom_session *session = nullptr;
    check(loom_session_create(model, &options, &session), "session");
    std::unique_ptr<loom_session, void (*)(loom_session *)> guard(session, loom_session_destroy);
    auto start = Clock::now();
    // In calls of at most prefillChunk tokens (0: one call), as a server feeds a long prompt.
    const size_t chunk = o.prefillChunk > 0 ? size_t(o.prefillChunk) : prompt.size();
    for (size_t at = 0; at < prompt.size(); at += chunk) {
      const size_t n = std::min(chunk, prompt.size() - at);
      const bool last = at + n == prompt.size(); // as loom-serve: only the last chunk's logits
      check(loom_session_prefill(session, prompt.data() + at, n, nullptr, 0, 0,
                                 last ? logits.data() : nullptr, last ? logits.size() : 0),
            "prefill");
    }
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
    peakSamples.measure(team, rep >= o.warmup);
    if (rep < o.warmup)
      continue;
    prefillTps.push_back(double(o.promptTokens) / prefillSeconds);
    ttft.push_back(prefillSeconds);
    decodeTps.push_back(double(o.decodeTokens) / decodeSeconds);
    bandwidth.push_back(bw);
  }

  const double bwMedian = percentile(bandwidth, 0.5);
  const double decodeRoofline = bwMedian * 1e9 / double(cost.decodeBytes);
  // Prefill's compute roofline: each matrix's ops at the peak of the instruction its product
  // uses, attention at the FMA peak.
  double peaks[kProductKinds];
  peakSamples.medians(peaks);
  const PrefillBound bound = prefillBound(cost, o.promptTokens, 0, peaks);
  const double prefillFlops = bound.ops;
  const double prefillRoofline = double(o.promptTokens) / bound.seconds;
  nlohmann::json out = {
      {"artifact", o.artifact},
      {"threads", threads},
      {"prompt_tokens", o.promptTokens},
      {"prefill_chunk", o.prefillChunk},
      {"decode_tokens", o.decodeTokens},
      {"warmup", o.warmup},
      {"repetitions", o.repetitions},
      {"prefill_tokens_per_s", stats(prefillTps)},
      {"decode_tokens_per_s", stats(decodeTps)},
      {"ttft_s", stats(ttft)},
      {"probe_bandwidth_GBps", stats(bandwidth)},
      {"probe_bandwidth_shape", probe.shape()},
      {"decode_bytes_per_token", cost.decodeBytes},
      {"decode_roofline_tokens_per_s", decodeRoofline},
      {"decode_roofline_pct", 100.0 * percentile(decodeTps, 0.5) / decodeRoofline},
      {"prefill_flops", prefillFlops},
      {"prefill_roofline_tokens_per_s", prefillRoofline},
      {"prefill_roofline_pct", 100.0 * percentile(prefillTps, 0.5) / prefillRoofline},
  };
  peakSamples.addTo(out);
  std::printf("loom-bench e2e %s: %d threads, %lld prompt + %lld decoded tokens, %d warm-up + %d "
              "repetitions%s\n",
              o.artifact.c_str(), threads, (long long)o.promptTokens, (long long)o.decodeTokens,
              o.warmup, o.repetitions,
              o.prefillChunk > 0
                  ? (", prefill in chunks of " + std::to_string(o.prefillChunk) + " tokens").c_str()
                  : "");
  std::printf("  prefill  %10.2f tok/s median  (slowest 5%%: %.2f)   roofline %.2f tok/s at "
              "%.1f GFLOP/s (f32, %s), %.1f (int16, %s), %.1f GOP/s (int8, %s): %.1f%%\n",
              percentile(prefillTps, 0.5), percentile(prefillTps, 0.05), prefillRoofline,
              peaks[int(ProductKind::F32Fma)], peakSamples.forms[int(ProductKind::F32Fma)].c_str(),
              peaks[int(ProductKind::Int16Dot)], peakSamples.forms[int(ProductKind::Int16Dot)].c_str(),
              peaks[int(ProductKind::Int8Dot)], peakSamples.forms[int(ProductKind::Int8Dot)].c_str(),
              out["prefill_roofline_pct"].get<double>());
  std::printf("  TTFT     %10.4f s median      (p95 %.4f)\n", percentile(ttft, 0.5), percentile(ttft, 0.95));
  std::printf("  decode   %10.2f tok/s median  (slowest 5%%: %.2f)   roofline %.2f tok/s = %.2f GB/s / %.3f GB: %.1f%%\n",
              percentile(decodeTps, 0.5), percentile(decodeTps, 0.05), decodeRoofline, bwMedian,
              double(cost.decodeBytes) / 1e9, out["decode_roofline_pct"].get<double>());
  std::printf("  bandwidth probe: %s (the fastest of its shapes)\n", probe.shape().c_str());
  return out;
}

nlohmann::json runImageEndToEnd(const EndToEndOptions &o) {
  if (o.questionTokens < 1 || o.repetitions < 1 || o.warmup < 0)
    fail("--e2e --image: --question-tokens must be >= 1, --repetitions >= 1, --warmup >= 0");
  const ModelCost cost = modelCost(o.artifact);
  const int threads = resolveThreads(o.threads);
  std::shared_ptr<const Model> model =
      Model::open(o.artifact, o.hugePages ? ArtifactMemory::HugePageCopy : ArtifactMemory::Mapped);
  const SpecialTokens &special = model->tokens();
  if (special.image < 0 || special.boi < 0 || special.eoi < 0)
    fail(o.artifact, ": the model has no image tokens (config image_token_id, boi_token_id, "
                     "eoi_token_id); --image needs a vision model");
  MediaInput input;
  input.kind = MediaKind::Image;
  input.path = o.image;
  input.tokenBudget = o.imageBudget;
  const int64_t patches = mediaTokenCount(*model, input);
  // bos, <|image> + patches x <|image|> + <image|>, then the question's ordinary text ids.
  std::vector<int32_t> ids{special.bos, special.boi};
  ids.insert(ids.end(), size_t(patches), special.image);
  ids.push_back(special.eoi);
  for (int64_t i = 0; i < o.questionTokens; ++i)
    ids.push_back(syntheticTextId(i, model->vocabSize()));
  const int64_t T = int64_t(ids.size());
  if (T > model->maxContext())
    fail(o.artifact, ": the image prompt's ", T, " tokens exceed the artifact's max_context ",
         model->maxContext());
  std::vector<float> logits(size_t(model->vocabSize()));
  SamplingParams greedy;
  greedy.greedy = true;

  ThreadTeam team(threads);
  std::vector<double> load, embedText, embedImage, decoder, lmHead, sample, ttft;
  PeakSamples peakSamples;
  for (int rep = 0; rep < o.warmup + o.repetitions; ++rep) {
    SessionOptions options;
    options.maxContext = T;
    options.threads = threads;
    Session session(model, options);
    auto start = Clock::now();
    PromptMedia media;
    loadPromptMedia(*model, {input}, media);
    const double loadSeconds = since(start);
    session.prefill(ids, media, false, logits.data());
    auto sampleStart = Clock::now();
    session.sample(logits.data(), greedy);
    const double sampleSeconds = since(sampleStart);
    const double total = since(start);
    const PrefillTimes &times = session.lastPrefillTimes();
    peakSamples.measure(team, rep >= o.warmup);
    if (rep < o.warmup)
      continue;
    load.push_back(loadSeconds);
    embedText.push_back(times.embedText);
    embedImage.push_back(times.embedMedia);
    decoder.push_back(times.decoder);
    lmHead.push_back(times.lmHead);
    sample.push_back(sampleSeconds);
    ttft.push_back(total);
  }
  double peaks[kProductKinds];
  peakSamples.medians(peaks);
  // The compute bound of the model's part: patch embedding, decoder and lm_head.
  const PrefillBound bound = prefillBound(cost, T, patches, peaks);
  std::vector<double> modelSeconds;
  for (size_t i = 0; i < ttft.size(); ++i)
    modelSeconds.push_back(embedText[i] + embedImage[i] + decoder[i] + lmHead[i]);
  const double modelMedian = percentile(modelSeconds, 0.5);
  nlohmann::json out = {
      {"artifact", o.artifact},
      {"image", o.image},
      {"image_tokens", patches},
      {"prompt_tokens", T},
      {"threads", threads},
      {"warmup", o.warmup},
      {"repetitions", o.repetitions},
      {"ttft_s", stats(ttft)},
      {"image_decode_resize_s", stats(load)},
      {"embed_text_s", stats(embedText)},
      {"patch_embed_s", stats(embedImage)},
      {"decoder_s", stats(decoder)},
      {"lm_head_s", stats(lmHead)},
      {"sample_s", stats(sample)},
      {"prefill_ops", bound.ops},
      {"prefill_bound_s", bound.seconds},
      {"prefill_roofline_pct", 100.0 * bound.seconds / modelMedian},
  };
  peakSamples.addTo(out);
  std::printf("loom-bench e2e %s: %d threads, image %s (%lld soft tokens) + %lld question tokens "
              "= %lld prompt tokens, %d warm-up + %d repetitions\n",
              o.artifact.c_str(), threads, o.image.c_str(), (long long)patches,
              (long long)o.questionTokens, (long long)T, o.warmup, o.repetitions);
  std::printf("  TTFT                  %8.4f s median (p95 %.4f)\n", percentile(ttft, 0.5),
              percentile(ttft, 0.95));
  auto phase = [&](const char *name, const std::vector<double> &v) {
    std::printf("    %-20s%8.4f s  %5.1f%%\n", name, percentile(v, 0.5),
                100.0 * percentile(v, 0.5) / percentile(ttft, 0.5));
  };
  phase("decode + resize", load);
  phase("text embedding", embedText);
  phase("patch embedding", embedImage);
  phase("decoder layers", decoder);
  phase("lm_head", lmHead);
  phase("sampling", sample);
  std::printf("  model part %.4f s = %.1f tok/s; compute bound %.4f s: %.1f%% of the roofline\n",
              modelMedian, double(T) / modelMedian, bound.seconds,
              out["prefill_roofline_pct"].get<double>());
  return out;
}

} // namespace loom::bench
