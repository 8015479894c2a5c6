#include "KernelSearch.h"

#include "KernelHarness.h"
#include "Workloads.h"

#include "loom/Error.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <memory>
#include <set>
#include <sstream>

namespace loom::tune {
namespace {

using bench::KernelEntry;
using bench::KernelHarness;
using codegen::ProductKey;
using codegen::ScheduleParameters;
using Clock = std::chrono::steady_clock;

constexpr const char *kSymbol = "tuned_kernel";

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

Variant build(const ModelKernel &kernel, const codegen::Tuning &base,
              const ScheduleParameters &params, const SearchOptions &options) {
  const codegen::Tuning tuning = base.with(kernel.key, params);
  codegen::KernelSpec spec = kernel.timed;
  spec.symbol = kSymbol;
  Variant v{params, std::make_shared<KernelHarness>(std::vector<codegen::KernelSpec>{spec},
                                                    options.target, &tuning),
            nullptr};
  v.kernels->setThreads(options.threads);
  v.entry = v.kernels->entry(kSymbol);
  return v;
}

// The medians of `a` and `b` by T, timed by turns (a, b, a, b, ...) after one warm-up each.
std::pair<std::map<int64_t, double>, std::map<int64_t, double>>
timeSideBySide(Workload &inputs, const Variant &a, const Variant &b,
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

// Whether a switch point ("..._from_tokens") at `value` sends every timed token count down the
// same path as at `current`: then its timings could not differ.
bool sameSwitchAtTimedTokens(const std::string &name, int value, int current,
                             const std::vector<int64_t> &tokens) {
  const std::string suffix = "_from_tokens";
  const bool switchPoint = name.size() > suffix.size() &&
                           name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
  if (!switchPoint)
    return false;
  return std::all_of(tokens.begin(), tokens.end(),
                     [&](int64_t t) { return (t >= value) == (t >= current); });
}

// Why the q4 unpacked tile's parameters change no timed call: they shape the AVX-512 VNNI
// tile only, from unpack_from_tokens tokens on (empty: they do).
std::string unpackedTileUnused(const std::string &name, const ScheduleParameters &params,
                               const SearchOptions &options) {
  if (name.rfind("unpacked_", 0) != 0)
    return "";
  const std::vector<std::string> features = codegen::cpuFeaturesFor(options.target);
  if (std::find(features.begin(), features.end(), "avx512vnni") == features.end())
    return options.target + " has no AVX-512 VNNI tile";
  const int from = params.at("unpack_from_tokens");
  if (std::none_of(options.tokens.begin(), options.tokens.end(),
                   [&](int64_t t) { return t >= from; }))
    return "no timed call reaches the unpacked tile";
  return "";
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

std::string prunedBecause(const codegen::TuningKey &tuningKey, const ScheduleParameters &params,
                          const codegen::CpuIdentity &cpu, int threads) {
  std::ostringstream why;
  if (const auto *attention = std::get_if<codegen::AttentionKey>(&tuningKey)) {
    const int64_t group = attention->qHeads / attention->kvHeads;
    if (params.at("heads_per_task") > group)
      why << "a key/value head serves " << group << " query heads";
    return why.str();
  }
  const ProductKey &key = std::get<ProductKey>(tuningKey);
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

SearchResult searchKernel(const ModelKernel &kernel, const codegen::Tuning &base,
                          const SearchOptions &options, double secondsAllowed,
                          const std::function<void(const std::string &)> &progress) {
  const auto start = Clock::now();
  auto elapsed = [&] { return std::chrono::duration<double>(Clock::now() - start).count(); };
  SearchResult result;
  result.defaults = base.parameters(kernel.key);
  const std::unique_ptr<Workload> inputs = makeWorkload(
      kernel.timed, *std::max_element(options.tokens.begin(), options.tokens.end()),
      options.pages);
  // The defaults stay loaded for the final comparison, the best so far changes with each win.
  const Variant defaults = build(kernel, base, result.defaults, options);
  Variant best = defaults;
  bool outOfTime = false;
  for (const codegen::TunableParameter &parameter :
       codegen::tunableParameters(codegen::keyFamily(kernel.key))) {
    for (int value : candidateValues(parameter, best.params.at(parameter.name))) {
      if (elapsed() >= secondsAllowed) {
        outOfTime = true;
        break;
      }
      ScheduleParameters params = best.params;
      params[parameter.name] = value;
      if (sameSwitchAtTimedTokens(parameter.name, value, best.params.at(parameter.name),
                                  options.tokens)) {
        progress("  " + parameter.name + "=" + std::to_string(value) +
                 ": skipped, the timed token counts take the same paths");
        continue;
      }
      std::string why = unpackedTileUnused(parameter.name, params, options);
      if (why.empty())
        why = prunedBecause(kernel.key, params, options.cpu, options.threads);
      if (!why.empty()) {
        progress("  " + parameter.name + "=" + std::to_string(value) + ": skipped, " + why);
        continue;
      }
      Variant candidate = build(kernel, base, params, options);
      ++result.candidates;
      auto [candidateTimes, bestTimes] = timeSideBySide(*inputs, candidate, best, options);
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
  // The record's figures: the best against the defaults, side by side. A best that does not
  // win there by the margin a candidate needs (its wins were noise, or several small ones
  // that do not add up) gives way to the defaults.
  std::tie(result.bestSeconds, result.defaultSeconds) =
      timeSideBySide(*inputs, best, defaults, options);
  if (result.best != result.defaults &&
      relativeTime(result.bestSeconds, result.defaultSeconds) > 1.0 - options.minGain) {
    progress("  " + paramsText(result.best) + " is not faster than the defaults side by side: "
             "the defaults are kept");
    result.best = result.defaults;
    result.bestSeconds = result.defaultSeconds;
  }
  return result;
}

} // namespace loom::tune
