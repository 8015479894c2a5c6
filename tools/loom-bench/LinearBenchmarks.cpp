#include "LinearBenchmarks.h"

#include "Probes.h"
#include "BenchMatrices.h"
#include "References.h"

#include "loom/Artifact/WeightPacking.h"
#include "loom/Error.h"
#include "loom/QuantLayout.h"

#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <functional>
#include <optional>

namespace loom::bench {
namespace {

using codegen::ElementType;
using Clock = std::chrono::steady_clock;

constexpr uint64_t kProbeBytes = 512ull << 20; // 16x the 32 MiB L3 of the measuring machine
constexpr int kHotCalls = 8;
constexpr int kStreamPasses = 2;

double since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

struct Reference {
  std::string name;
  std::function<void()> run;
};

// Everything one case needs, made on first use and kept while the case runs (one at a time:
// the set-up of a 2 GB lm_head is not repeated per repetition, and cases do not pile up).
struct CaseData {
  std::string key;
  std::vector<Matrix> copies;
  std::vector<float> x, y, yRef, bias;
  std::vector<uint16_t> xBf16, biasBf16;
  std::vector<int8_t> xS8; // the activations as oneDNN's int8 matmul takes them
  std::vector<std::unique_ptr<DenseBuffer>> xBuf, wBufs, bBuf, yBuf;
  std::unique_ptr<OneDnnMatmul> oneDnn;
  const void *oneDnnX = nullptr; // its activations: x, xBf16 or xS8
  std::string oneDnnLabel, blasLabel;
  Precision refPrecision = Precision::F32;
  std::vector<float> refWeightsF32; // oneDNN f32 weights when its bf16 path is unavailable
  double maxRelError = 0;
  size_t next = 0;
};

CaseData &caseData(const LinearShape &shape, int64_t tokens, bool references, PageSize pages,
                   KernelEntry entry, const std::string &symbol) {
  static std::unique_ptr<CaseData> current;
  const std::string key = symbol + "/" + std::to_string(tokens) + "/" + std::to_string(references) +
                          (pages == PageSize::Huge ? "/huge" : "");
  if (current && current->key == key)
    return *current;
  current.reset(); // free the previous case before allocating this one
  auto d = std::make_unique<CaseData>();
  d->key = key;
  const uint64_t bytes = matrixBytes(shape.weights, shape.out, shape.in);
  const size_t copies =
      tokens < kColdTokens ? size_t(std::max<uint64_t>(1, kColdFootprint / bytes)) : 1;
  for (size_t c = 0; c < copies; ++c)
    d->copies.push_back(
        makeMatrix(shape.weights, shape.out, shape.in, 17 + c, references && c == 0, pages));
  FastRandom rng(5);
  d->x.resize(size_t(tokens * shape.in));
  for (float &v : d->x)
    v = rng.uniform();
  d->bias.resize(size_t(shape.out));
  for (float &v : d->bias)
    v = rng.uniform();
  d->y.assign(size_t(tokens * shape.out), 0.0f);
  d->yRef.assign(size_t(tokens * shape.out), 0.0f);
  halide_type_t f32(halide_type_float, 32);
  d->xBuf.push_back(std::make_unique<DenseBuffer>(d->x.data(), f32, std::vector<int64_t>{tokens, shape.in}));
  d->yBuf.push_back(std::make_unique<DenseBuffer>(d->y.data(), f32, std::vector<int64_t>{tokens, shape.out}));
  // A bias is f32 except for bf16 weights; the values only matter for the cross-check below.
  const bool bf16Bias = shape.weights == ElementType::BF16;
  if (bf16Bias) {
    d->biasBf16.resize(d->bias.size());
    for (size_t i = 0; i < d->bias.size(); ++i) {
      d->biasBf16[i] = toBf16(d->bias[i]);
      d->bias[i] = fromBf16(d->biasBf16[i]);
    }
  }
  d->bBuf.push_back(std::make_unique<DenseBuffer>(
      bf16Bias ? static_cast<void *>(d->biasBf16.data()) : static_cast<void *>(d->bias.data()),
      bf16Bias ? halide_type_t(halide_type_bfloat, 16) : f32, std::vector<int64_t>{shape.out}));
  for (Matrix &m : d->copies)
    d->wBufs.push_back(std::make_unique<DenseBuffer>(m.stored.data(), storedHalideType(shape.weights),
                                                     storedShape(shape.weights, shape.out, shape.in)));

  // Cross-check ours against a double-precision reference on a few outputs: a benchmark of a
  // wrong kernel is worthless.
  {
    std::vector<void *> args{&d->xBuf[0]->buffer, &d->wBufs[0]->buffer};
    if (shape.hasBias)
      args.push_back(&d->bBuf[0]->buffer);
    args.push_back(&d->yBuf[0]->buffer);
    callKernel(entry, args.data(), symbol);
    if (references) {
      const std::vector<float> &w = d->copies[0].f32;
      for (int64_t t : {int64_t(0), tokens - 1})
        for (int64_t o : {int64_t(0), shape.out / 2, shape.out - 1}) {
          double acc = shape.hasBias ? d->bias[size_t(o)] : 0.0, mag = 0;
          for (int64_t i = 0; i < shape.in; ++i) {
            double term = double(d->x[size_t(t * shape.in + i)]) * w[size_t(o * shape.in + i)];
            acc += term;
            mag += std::fabs(term);
          }
          double err = std::fabs(double(d->y[size_t(t * shape.out + o)]) - acc) / std::max(mag, 1e-30);
          d->maxRelError = std::max(d->maxRelError, err);
        }
    }
  }
  if (references && (shape.weights == ElementType::F32 || shape.weights == ElementType::BF16)) {
    d->refPrecision = shape.weights == ElementType::BF16 ? Precision::BF16 : Precision::F32;
    if (d->refPrecision == Precision::BF16) {
      d->xBf16.resize(d->x.size());
      for (size_t i = 0; i < d->x.size(); ++i)
        d->xBf16[i] = toBf16(d->x[i]);
    }
    d->blasLabel = d->refPrecision == Precision::BF16 ? "openblas_f32_widened" : "openblas_f32";
    if (oneDnnSupports(d->refPrecision)) {
      const void *w = d->refPrecision == Precision::BF16 ? static_cast<const void *>(d->copies[0].bf16.data())
                                                        : static_cast<const void *>(d->copies[0].f32.data());
      d->oneDnn = std::make_unique<OneDnnMatmul>(tokens, shape.in, shape.out, d->refPrecision, w);
      d->oneDnnLabel = d->refPrecision == Precision::BF16 ? "onednn_bf16" : "onednn_f32";
      d->oneDnnX = d->refPrecision == Precision::BF16 ? static_cast<const void *>(d->xBf16.data())
                                                     : static_cast<const void *>(d->x.data());
    } else {
      // oneDNN 2.6 has no bf16 matmul without AVX-512: compare with its f32 matmul on the
      // same (widened) weights, and say so in the counter name.
      d->oneDnn = std::make_unique<OneDnnMatmul>(tokens, shape.in, shape.out, Precision::F32,
                                                 d->copies[0].f32.data());
      d->oneDnnLabel = "onednn_f32_widened";
      d->oneDnnX = d->x.data();
    }
  }
  // Integer weights in a prefill: oneDNN's int8 matmul on the same levels, the activations
  // quantized to int8 once, outside the timing (ours quantize theirs inside it). Not for the
  // GEMV, whose reference is the bandwidth (oneDNN would read one copy, from the cache).
  if (references && tokens > 1 && !d->copies[0].levels.empty() && oneDnnSupports(Precision::S8)) {
    float absMax = 0.0f;
    for (float v : d->x)
      absMax = std::max(absMax, std::fabs(v));
    const float toLevels = absMax > 0.0f ? 127.0f / absMax : 0.0f;
    d->xS8.resize(d->x.size());
    for (size_t i = 0; i < d->x.size(); ++i)
      d->xS8[i] = int8_t(std::lrint(d->x[i] * toLevels));
    d->oneDnn = std::make_unique<OneDnnMatmul>(tokens, shape.in, shape.out, Precision::S8,
                                               d->copies[0].levels.data());
    d->oneDnnLabel = "onednn_s8";
    d->oneDnnX = d->xS8.data();
  }
  current = std::move(d);
  return *current;
}

// A GEMM's compute roofline: the peak of the products it is made of (FMAs for f32 and bf16,
// int16 multiply-adds for q8, int8 ones for q4), in the fastest form this CPU has.
ProductKind productOf(ElementType weights) {
  switch (weights) {
  case ElementType::Q8:
    return ProductKind::Int16Dot;
  case ElementType::Q4G32:
  case ElementType::Q4G128:
    return ProductKind::Int8Dot;
  default:
    return ProductKind::F32Fma;
  }
}

void runCase(benchmark::State &state, const LinearShape &shape, int64_t tokens, int threads,
             const LinearBenchOptions &options, const std::shared_ptr<KernelHarness> &kernels) {
  const bool references = options.references;
  const std::string symbol = linearSymbol(shape);
  KernelEntry entry = kernels->entry(symbol);
  CaseData &d = caseData(shape, tokens, references, options.weightPages, entry, symbol);
  kernels->setThreads(threads);
  setReferenceThreads(threads);
  ThreadTeam team(threads);
  static std::unique_ptr<BandwidthProbe> probe;
  const bool gemv = tokens == 1;
  if (gemv && !probe) {
    probe = std::make_unique<BandwidthProbe>(kProbeBytes);
    probe->calibrate(team);
  }
  const uint64_t weightBytes = matrixBytes(shape.weights, shape.out, shape.in);
  const double flops = 2.0 * double(tokens) * double(shape.in) * double(shape.out);
  // 7-20 ms of the peak probe per gemm iteration: the compute roofline, measured next to each
  // call.
  const uint64_t peakIterations = 4'000'000;

  std::vector<Reference> refs;
  double peakOpsSum = 0; // per iteration, the best form's rate
  std::string peakForm;
  if (gemv)
    refs.push_back({"bandwidth_probe", [&] { probe->read(team); }});
  else
    refs.push_back({"compute_peak", [&] {
                      const ComputePeak peak =
                          computePeak(team, productOf(shape.weights), peakIterations);
                      peakOpsSum += peak.opsPerSecond;
                      peakForm = peak.instruction;
                    }});
  if (!d.blasLabel.empty())
    refs.push_back({d.blasLabel, [&] {
                      openBlasLinear(tokens, shape.in, shape.out, d.x.data(), d.copies[0].f32.data(),
                                     d.yRef.data());
                    }});
  if (d.oneDnn)
    refs.push_back({d.oneDnnLabel, [&] { d.oneDnn->run(d.oneDnnX, d.yRef.data()); }});
  std::vector<double> refSeconds(refs.size(), 0.0);
  double ourSeconds = 0;
  std::vector<void *> args;
  for (auto _ : state) {
    const size_t copy = d.next++ % d.wBufs.size();
    args = {&d.xBuf[0]->buffer, &d.wBufs[copy]->buffer};
    if (shape.hasBias)
      args.push_back(&d.bBuf[0]->buffer);
    args.push_back(&d.yBuf[0]->buffer);
    auto start = Clock::now();
    callKernel(entry, args.data(), symbol);
    const double ours = since(start);
    state.SetIterationTime(ours);
    ourSeconds += ours;
    for (size_t r = 0; r < refs.size(); ++r) {
      start = Clock::now();
      refs[r].run();
      refSeconds[r] += since(start);
    }
  }
  const double n = double(state.iterations());
  state.counters["GBps"] = double(weightBytes) * n / ourSeconds / 1e9;
  state.counters["GFLOPs"] = flops * n / ourSeconds / 1e9;
  for (size_t r = 0; r < refs.size(); ++r) {
    const double perCall = refSeconds[r] / n;
    if (refs[r].name == "bandwidth_probe") {
      const double probeGBps = double(probe->bytes()) / perCall / 1e9;
      state.counters["probe_GBps"] = probeGBps;
      state.counters["roofline_pct"] = 100.0 * (double(weightBytes) * n / ourSeconds / 1e9) / probeGBps;
    } else if (refs[r].name == "compute_peak") {
      const double peakGops = peakOpsSum / n / 1e9;
      state.counters["peak_GFLOPs"] = peakGops;
      state.counters["roofline_pct"] = 100.0 * (flops * n / ourSeconds / 1e9) / peakGops;
    } else {
      state.counters[refs[r].name + "_GFLOPs"] = flops / perCall / 1e9;
      state.counters["vs_" + refs[r].name] = refSeconds[r] / ourSeconds;
    }
  }
  if (gemv) {
    // Back to back over every copy, as decode runs its GEMVs (each matrix cold, the threads
    // already awake), then the probe: the streaming rate without a cold start per call.
    double passSeconds = 0, passProbeSeconds = 0;
    for (int pass = 0; pass < kStreamPasses; ++pass) {
      auto start = Clock::now();
      for (auto &w : d.wBufs) {
        args[1] = &w->buffer;
        callKernel(entry, args.data(), symbol);
      }
      passSeconds += since(start);
      start = Clock::now();
      probe->read(team);
      passProbeSeconds += since(start);
    }
    const double streamGBps = double(weightBytes) * double(d.wBufs.size()) * kStreamPasses / passSeconds / 1e9;
    const double passProbeGBps = double(probe->bytes()) * kStreamPasses / passProbeSeconds / 1e9;
    state.counters["stream_GBps"] = streamGBps;
    state.counters["stream_roofline_pct"] = 100.0 * streamGBps / passProbeGBps;
    // The same copy back to back, its weights left in cache by the call before (the last-level
    // cache holds attn_q's q8 and q4 matrices): the kernel's compute ceiling on this machine.
    // A GEMV whose hot rate is near the probe cannot stream at the probe's rate.
    callKernel(entry, args.data(), symbol);
    const auto start = Clock::now();
    for (int i = 0; i < kHotCalls; ++i)
      callKernel(entry, args.data(), symbol);
    state.counters["hot_GBps"] = double(weightBytes) * kHotCalls / since(start) / 1e9;
  }
  if (references)
    state.counters["max_rel_err"] = d.maxRelError;
  std::string label = kernels->target();
  if (!peakForm.empty())
    label += ", peak: " + peakForm;
  if (gemv)
    label += ", probe: " + probe->shape();
  state.SetLabel(label);
}

double statMin(const std::vector<double> &v) { return *std::min_element(v.begin(), v.end()); }
double statMax(const std::vector<double> &v) { return *std::max_element(v.begin(), v.end()); }

} // namespace

std::string linearSymbol(const LinearShape &shape) {
  return "linear_" + std::to_string(shape.in) + "x" + std::to_string(shape.out) +
         (shape.hasBias ? "_bias_" : "_") + weightTypeName(shape.weights);
}

std::vector<codegen::KernelSpec> linearKernelSpecs(const std::vector<LinearShape> &shapes) {
  std::vector<codegen::KernelSpec> specs;
  std::vector<std::string> seen;
  for (const LinearShape &shape : shapes) {
    std::string symbol = linearSymbol(shape);
    if (std::find(seen.begin(), seen.end(), symbol) != seen.end())
      continue;
    seen.push_back(symbol);
    specs.push_back({symbol, shape.weights, codegen::Linear{shape.in, shape.out, shape.hasBias}});
  }
  return specs;
}

void registerLinearBenchmarks(const std::vector<LinearShape> &shapes,
                              const LinearBenchOptions &options,
                              std::shared_ptr<KernelHarness> kernels) {
  for (const LinearShape &shape : shapes)
    for (int threads : options.threads) {
      const std::string suffix = "/" + shape.name + "/" + weightTypeName(shape.weights);
      if (options.gemv) {
        auto *b = benchmark::RegisterBenchmark(
            ("gemv" + suffix + "/threads:" + std::to_string(threads)).c_str(),
            [=](benchmark::State &state) { runCase(state, shape, 1, threads, options, kernels); });
        b->UseManualTime()->Unit(benchmark::kMillisecond);
        b->ComputeStatistics("min", statMin)->ComputeStatistics("max", statMax);
        if (options.setMinTime)
          b->MinTime(options.gemvMinSeconds);
      }
      if (options.gemm && shape.out < 100000) { // the lm_head is not run over a prompt
        const int64_t T = options.prefillTokens;
        auto *b = benchmark::RegisterBenchmark(
            ("gemm" + suffix + "/T:" + std::to_string(T) + "/threads:" + std::to_string(threads)).c_str(),
            [=](benchmark::State &state) { runCase(state, shape, T, threads, options, kernels); });
        b->UseManualTime()->Unit(benchmark::kMillisecond);
        b->ComputeStatistics("min", statMin)->ComputeStatistics("max", statMax);
        if (options.setMinTime)
          b->MinTime(options.gemmMinSeconds);
      }
    }
}

} // namespace loom::bench
