#include "ProductSearch.h"

#include "BenchMatrices.h"
#include "KernelHarness.h"

#include "loom/Error.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <memory>
#include <set>
#include <sstream>

namespace loom::tune {
namespace {

using bench::DenseBuffer;
using bench::KernelEntry;
using bench::KernelHarness;
using codegen::ProductKey;
using codegen::ScheduleParameters;
using Clock = std::chrono::steady_clock;

constexpr const char *kSymbol = "tuned_linear";
// Cold copies of a small matrix would number thousands while the caches hold it anyway.
constexpr size_t kMaxWeightCopies = 64;

// One product's inputs: weight copies enough to leave the caches cold where a call reads each
// weight once (T < kColdTokens, as loom-bench), activations for the largest T, outputs.
class ProductInputs {
public:
  ProductInputs(const ProductKey &key, const SearchOptions &options) : key_(key) {
    const uint64_t bytes = bench::matrixBytes(key.weights, key.out, key.in);
    const size_t copies = std::min(kMaxWeightCopies,
                                   size_t(std::max<uint64_t>(1, bench::kColdFootprint / bytes)));
    for (size_t c = 0; c < copies; ++c) {
      matrices_.push_back(
          bench::makeMatrix(key.weights, key.out, key.in, 17 + c, false, options.pages));
      weights_.push_back(std::make_unique<DenseBuffer>(
          matrices_.back().stored.data(), bench::storedHalideType(key.weights),
          bench::storedShape(key.weights, key.out, key.in)));
    }
    const int64_t maxTokens = *std::max_element(options.tokens.begin(), options.tokens.end());
    bench::FastRandom rng(5);
    x_.resize(size_t(maxTokens * key.in));
    for (float &v : x_)
      v = rng.uniform();
    y_.resize(size_t(maxTokens * key.out));
  }

  // Seconds of one timed turn at T tokens: a call per weight copy below kColdTokens (each copy
  // cold when its turn comes), else one call on the first copy.
  double time(KernelEntry entry, int64_t tokens) {
    const halide_type_t f32(halide_type_float, 32);
    DenseBuffer x(x_.data(), f32, {tokens, key_.in}), y(y_.data(), f32, {tokens, key_.out});
    const size_t calls = tokens < bench::kColdTokens ? weights_.size() : 1;
    const auto start = Clock::now();
    for (size_t c = 0; c < calls; ++c) {
      void *args[] = {&x.buffer, &weights_[c]->buffer, &y.buffer};
      bench::callKernel(entry, args, key_.str());
    }
    return std::chrono::duration<double>(Clock::now() - start).count() / double(calls);
  }

private:
  ProductKey key_;
  std::vector<bench::Matrix> matrices_;
  std::vector<std::unique_ptr<DenseBuffer>> weights_;
  std::vector<float> x_, y_;
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// A candidate generated and loaded.
struct Variant {
  ScheduleParameters params;
  std::shared_ptr<KernelHarness> kernels;
  KernelEntry entry = nullptr;
};

Variant build(const ProductKey &key, const codegen::Tuning &base, const ScheduleParameters &params,
              const SearchOptions &options) {
  const codegen::Tuning tuning = base.with(key, params);
  codegen::KernelSpec spec{kSymbol, key.weights, codegen::Linear{key.in, key.out, false}};
  Variant v{params, std::make_shared<KernelHarness>(std::vector<codegen::KernelSpec>{spec},
                                                    options.target, &tuning),
            nullptr};
  v.kernels->setThreads(options.threads);
  v.entry = v.kernels->entry(kSymbol);
  return v;
}

// The medians of `a` and `b` by T, timed by turns (a, b, a, b, ...) after one warm-up each.
std::pair<std::map<int64_t, double>, std::map<int64_t, double>>
timeSideBySide(ProductInputs &inputs, const Variant &a, const Variant &b,
               const SearchOptions &options) {
  std::map<int64_t, double> medianA, medianB;
  for (int64_t tokens : options.tokens) {
    inputs.time(a.entry, tokens);
    inputs.time(b.entry, tokens);
    std::vector<double> timesA, timesB;
    for (int r = 0; r < options.repetitions; ++r) {
      timesA.push_back(inputs.time(a.entry, tokens));
      timesB.push_back(inputs.time(b.entry, tokens));
    }
    medianA[tokens] = median(timesA);
    medianB[tokens] = median(timesB);
  }
  return {medianA, medianB};
}

std::string paramsText(const ScheduleParameters &params) {
  std::string text;
  for (const auto &[name, value] : params)
    text += (text.empty() ? "" : " ") + name + "=" + std::to_string(value);
  return text;
}

} // namespace

double relativeTime(const std::map<int64_t, double> &a, const std::map<int64_t, double> &b) {
  double logSum = 0;
  for (const auto &[tokens, seconds] : a)
    logSum += std::log(seconds / b.at(tokens));
  return std::exp(logSum / double(a.size()));
}

std::string prunedBecause(const ProductKey &key, const ScheduleParameters &params,
                          const codegen::CpuIdentity &cpu, int threads) {
  const std::string family = key.family();
  int64_t taskBytes = 0, tasks = 0; // of the GEMM path
  if (family == "linear_f32") {
    taskBytes = int64_t(params.at("gemm_task_rows")) * params.at("gemm_depth") * 4;
    tasks = (key.out + params.at("gemm_task_rows") - 1) / params.at("gemm_task_rows");
  } else if (family == "linear_q8") {
    taskBytes = int64_t(params.at("gemm_task_rows")) * (key.in + 4);
    tasks = (key.out + params.at("gemm_task_rows") - 1) / params.at("gemm_task_rows");
  } else {
    const int64_t rows = 8 * int64_t(params.at("gemm_groups_per_task"));
    taskBytes = rows * (key.in / 2 + 2 * (key.in / 32));
    tasks = (key.out + rows - 1) / rows;
  }
  std::ostringstream why;
  if (cpu.l2Bytes > 0 && taskBytes > cpu.l2Bytes)
    why << "a GEMM task's " << taskBytes / 1024 << " KiB exceed the L2's " << cpu.l2Bytes / 1024
        << " KiB";
  else if (tasks < threads && key.out >= 64 * threads)
    why << "GEMM tasks (" << tasks << ") fewer than threads (" << threads << ")";
  return why.str();
}

std::vector<int> candidateValues(const codegen::TunableParameter &parameter, int current) {
  std::set<int> values;
  auto add = [&](int64_t v) {
    v = std::clamp<int64_t>(v, parameter.min, parameter.max);
    v = v / parameter.multipleOf * parameter.multipleOf;
    if (v >= parameter.min && v != current)
      values.insert(int(v));
  };
  for (int64_t v : {int64_t(current) / 4, int64_t(current) / 2, int64_t(current) * 2,
                    int64_t(current) * 4})
    add(v);
  if (parameter.min == 0)
    add(0);
  return {values.begin(), values.end()};
}

SearchResult searchProduct(const ProductKey &key, const codegen::Tuning &base,
                           const SearchOptions &options, double secondsAllowed,
                           const std::function<void(const std::string &)> &progress) {
  const auto start = Clock::now();
  auto elapsed = [&] { return std::chrono::duration<double>(Clock::now() - start).count(); };
  SearchResult result;
  result.defaults = base.parameters(key);
  ProductInputs inputs(key, options);
  // The defaults stay loaded for the final comparison, the best so far changes with each win.
  const Variant defaults = build(key, base, result.defaults, options);
  Variant best = defaults;
  bool outOfTime = false;
  for (const codegen::TunableParameter &parameter :
       codegen::tunableParameters(key.family())) {
    for (int value : candidateValues(parameter, best.params.at(parameter.name))) {
      if (elapsed() >= secondsAllowed) {
        outOfTime = true;
        break;
      }
      ScheduleParameters params = best.params;
      params[parameter.name] = value;
      if (const std::string why = prunedBecause(key, params, options.cpu, options.threads);
          !why.empty()) {
        progress("  " + parameter.name + "=" + std::to_string(value) + ": skipped, " + why);
        continue;
      }
      Variant candidate = build(key, base, params, options);
      ++result.candidates;
      auto [candidateTimes, bestTimes] = timeSideBySide(inputs, candidate, best, options);
      const double relative = relativeTime(candidateTimes, bestTimes);
      const bool wins = relative < 1.0 - options.minGain;
      std::ostringstream line;
      line << "  " << parameter.name << "=" << value << ": " << relative << "x the time of "
           << paramsText(best.params) << (wins ? "  (new best)" : "");
      progress(line.str());
      if (wins)
        best = std::move(candidate);
    }
    if (outOfTime)
      break;
  }
  result.complete = !outOfTime;
  result.best = best.params;
  // The record's figures: the best against the defaults, side by side. A best that is not
  // faster there after all (its win was noise) gives way to the defaults.
  std::tie(result.bestSeconds, result.defaultSeconds) =
      timeSideBySide(inputs, best, defaults, options);
  if (result.best != result.defaults &&
      relativeTime(result.bestSeconds, result.defaultSeconds) >= 1.0) {
    progress("  " + paramsText(result.best) + " is not faster than the defaults side by side: "
             "the defaults are kept");
    result.best = result.defaults;
    result.bestSeconds = result.defaultSeconds;
  }
  return result;
}

} // namespace loom::tune
