// loom-bench: measures Loom's generated kernels against oneDNN, OpenBLAS and the machine's
// measured limits (Google Benchmark, JSON out), or an artifact end to end. See README.md.
#include "BatchDecode.h"
#include "EndToEnd.h"
#include "KernelHarness.h"
#include "LinearBenchmarks.h"
#include "RooflinePlot.h"
#include "Shapes.h"

#include "loom/Codegen/Tuning.h"
#include "loom/Error.h"

#include <CLI/CLI.hpp>
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>
#include <thread>

#include <sys/wait.h>
#include <unistd.h>

namespace {

bool hasFlag(int argc, char **argv, const char *prefix) {
  for (int i = 1; i < argc; ++i)
    if (std::strncmp(argv[i], prefix, std::strlen(prefix)) == 0)
      return true;
  return false;
}

// OpenMP (oneDNN) and OpenBLAS worker threads spin after each call by default; on a machine
// with few cores, a spinning pool of one library steals the cores of the next in the
// interleaved A, B, A, B runs. Both read these settings when loaded, so set them and re-exec.
void reexecWithQuietPools(char **argv) {
  if (std::getenv("LOOM_BENCH_ENV_SET"))
    return;
  setenv("LOOM_BENCH_ENV_SET", "1", 1);
  setenv("OMP_WAIT_POLICY", "PASSIVE", 0);
  setenv("OPENBLAS_THREAD_TIMEOUT", "4", 0);
  execv("/proc/self/exe", argv);
  // If the re-exec fails, run on with the libraries' defaults.
}

// Halide's thread pool never gives back a worker it has started, so cases at one thread count
// would run on two once a two-thread case has run in the same process. Each count therefore
// runs in a child process of its own with HL_NUM_THREADS set; the JSON output and the plot get
// the count in their names (gemv.json -> gemv.t1.json).
int runEachThreadCount(char **argv, const std::vector<int> &counts, const std::string &jsonOut,
                       const std::string &plotPath) {
  auto withCount = [](const std::string &path, int n, const char *extension) {
    std::string base = path;
    if (base.size() > std::strlen(extension) &&
        base.compare(base.size() - std::strlen(extension), std::string::npos, extension) == 0)
      base.resize(base.size() - std::strlen(extension));
    return base + ".t" + std::to_string(n) + extension;
  };
  for (int n : counts) {
    std::vector<std::string> args{argv[0]};
    for (int i = 1; argv[i]; ++i) {
      std::string a = argv[i];
      const bool takesValue = a == "--threads" || a == "--plot";
      if (takesValue || a.rfind("--threads=", 0) == 0 || a.rfind("--plot=", 0) == 0 ||
          a.rfind("--benchmark_out=", 0) == 0) {
        i += takesValue && argv[i + 1] ? 1 : 0;
        continue;
      }
      args.push_back(a);
    }
    args.push_back("--threads=" + std::to_string(n));
    if (!jsonOut.empty())
      args.push_back("--benchmark_out=" + withCount(jsonOut, n, ".json"));
    if (!plotPath.empty())
      args.push_back("--plot=" + withCount(plotPath, n, ".png"));
    std::vector<char *> childArgv;
    for (std::string &a : args)
      childArgv.push_back(a.data());
    childArgv.push_back(nullptr);
    std::fprintf(stderr, "loom-bench: %d thread(s), in a process of its own\n", n);
    std::fflush(stderr);
    const pid_t child = fork();
    if (child < 0)
      loom::fail("cannot start a process for --threads ", n);
    if (child == 0) {
      setenv("HL_NUM_THREADS", std::to_string(n).c_str(), 1);
      execv("/proc/self/exe", childArgv.data());
      _exit(127);
    }
    int status = 0;
    waitpid(child, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
      return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
  }
  return 0;
}

std::vector<std::string> splitList(const std::string &list) {
  std::vector<std::string> items;
  std::stringstream in(list);
  std::string item;
  while (std::getline(in, item, ','))
    if (!item.empty())
      items.push_back(item);
  return items;
}

} // namespace

int main(int argc, char **argv) {
  reexecWithQuietPools(argv);
  // Defaults for Google Benchmark's own flags (the command line still wins): 10 repetitions
  // (median, min and max are reported per case) and the JSON file the plot is drawn from.
  std::vector<std::string> extra;
  std::string plotPath;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a.rfind("--plot=", 0) == 0)
      plotPath = a.substr(7);
    else if (a == "--plot" && i + 1 < argc)
      plotPath = argv[i + 1];
  }
  if (!hasFlag(argc, argv, "--benchmark_repetitions"))
    extra.push_back("--benchmark_repetitions=10");
  if (!plotPath.empty() && !hasFlag(argc, argv, "--benchmark_out=")) {
    extra.push_back("--benchmark_out=" + plotPath + ".json");
    extra.push_back("--benchmark_out_format=json");
  }
  std::string jsonOut;
  for (int i = 1; i < argc; ++i)
    if (std::strncmp(argv[i], "--benchmark_out=", 16) == 0)
      jsonOut = argv[i] + 16;
  if (jsonOut.empty() && !plotPath.empty())
    jsonOut = plotPath + ".json";
  const bool userMinTime = hasFlag(argc, argv, "--benchmark_min_time");
  std::vector<char *> args(argv, argv + argc);
  for (std::string &e : extra)
    args.push_back(e.data());
  int count = int(args.size());
  args.push_back(nullptr);
  benchmark::Initialize(&count, args.data());

  CLI::App app{"loom-bench: Loom's generated kernels against oneDNN, OpenBLAS and the measured "
               "bandwidth/FMA rooflines (Google Benchmark flags --benchmark_* apply), or an "
               "artifact end to end (--e2e)"};
  std::string artifact, e2e, target = "host", weights = "bf16,f32", threadList, mode = "all";
  std::string e2eOut;
  int64_t tokens = 512;
  bool lmHead = false, noReferences = false;
  loom::bench::EndToEndOptions e2eOptions;
  app.add_option("--artifact", artifact, "Benchmark the linear kernels at this artifact's shapes and target");
  app.add_option("--target", target, "Kernel target: host, x86-64-v3, x86-64-v4, zen4, sapphirerapids");
  app.add_option("--weights", weights, "Weight types of the 12B cases: f32,bf16,q8,q4g32,q4g128");
  app.add_option("--threads", threadList, "Thread counts, comma-separated (default: 1 and all cores)");
  app.add_option("--mode", mode, "gemv, gemm or all")->check(CLI::IsMember({"gemv", "gemm", "all"}));
  app.add_option("--tokens", tokens, "T of the gemm (prefill) cases")->check(CLI::PositiveNumber);
  app.add_flag("--lm-head", lmHead, "Include the 12B lm_head [3840 -> 262144] gemv (2 GB of bf16)");
  app.add_flag("--no-references", noReferences, "Skip oneDNN and OpenBLAS (probes only)");
  app.add_option("--plot", plotPath, "Write a roofline plot (PNG, gnuplot) of the results");
  app.add_option("--e2e", e2e, "End-to-end mode: prefill/decode tokens per second and TTFT of an artifact");
  app.add_option("--prompt-tokens", e2eOptions.promptTokens, "--e2e: prompt length")->check(CLI::PositiveNumber);
  app.add_option("--decode-tokens", e2eOptions.decodeTokens, "--e2e: decoded tokens")->check(CLI::PositiveNumber);
  app.add_option("--warmup", e2eOptions.warmup, "--e2e: warm-up runs")->check(CLI::NonNegativeNumber);
  app.add_option("--repetitions", e2eOptions.repetitions, "--e2e: measured runs")->check(CLI::PositiveNumber);
  app.add_option("--e2e-threads", e2eOptions.threads, "--e2e: kernel threads (0: all cores)")->check(CLI::NonNegativeNumber);
  app.add_option("--e2e-out", e2eOut, "--e2e: write the results as JSON here");
  app.add_option("--prefill-chunk", e2eOptions.prefillChunk,
                 "--e2e: prefill the prompt in calls of at most this many tokens (0: one call)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--image", e2eOptions.image,
                 "--e2e image mode: the prompt is this image (PNG/JPEG) and --question-tokens "
                 "text tokens; the time to first token is split into its phases");
  app.add_option("--image-budget", e2eOptions.imageBudget,
                 "--e2e --image: soft tokens of the image (70, 140, 280, 560 or 1120)");
  app.add_option("--question-tokens", e2eOptions.questionTokens,
                 "--e2e --image: text tokens after the image")
      ->check(CLI::PositiveNumber);
  loom::bench::BatchDecodeOptions batchOptions;
  std::string batchDecode, streamList;
  app.add_option("--batch-decode", batchDecode,
                 "Batched-decode mode: aggregate decode tokens/s of concurrent streams of an "
                 "artifact, stepped together and one by one");
  app.add_option("--streams", streamList, "--batch-decode: stream counts (default 1,2,4,8)");
  std::string tuningPath;
  app.add_option("--tuning", tuningPath,
                 "Linear cases: generate the kernels with this loom-tune record's parameters "
                 "(a record of another target or CPU is used with a warning)");
  bool hugePages = false;
  app.add_flag("--huge-pages", hugePages,
               "2 MiB transparent huge pages: --e2e reads the artifact into them instead of "
               "mapping it; gemv puts its weights in them (the bandwidth probe tries both page "
               "sizes either way)");
  try {
    app.parse(count, args.data());
  } catch (const CLI::ParseError &e) {
    return app.exit(e);
  }

  try {
    if (!batchDecode.empty()) {
      batchOptions.artifact = batchDecode;
      if (!streamList.empty()) {
        batchOptions.streams.clear();
        for (const std::string &s : splitList(streamList))
          batchOptions.streams.push_back(std::stoi(s));
      }
      if (app.count("--prompt-tokens"))
        batchOptions.promptTokens = e2eOptions.promptTokens;
      if (app.count("--decode-tokens"))
        batchOptions.decodeTokens = e2eOptions.decodeTokens;
      if (app.count("--warmup"))
        batchOptions.warmup = e2eOptions.warmup;
      if (app.count("--repetitions"))
        batchOptions.repetitions = e2eOptions.repetitions;
      batchOptions.threads = e2eOptions.threads;
      nlohmann::json result = loom::bench::runBatchDecode(batchOptions);
      if (!e2eOut.empty()) {
        std::ofstream out(e2eOut);
        out << result.dump(2) << "\n";
        if (!out.flush())
          loom::fail("--e2e-out: cannot write ", e2eOut);
      }
      return 0;
    }
    if (!e2e.empty()) {
      e2eOptions.artifact = e2e;
      e2eOptions.hugePages = hugePages;
      nlohmann::json result = e2eOptions.image.empty() ? loom::bench::runEndToEnd(e2eOptions)
                                                        : loom::bench::runImageEndToEnd(e2eOptions);
      if (!e2eOut.empty()) {
        std::ofstream out(e2eOut);
        out << result.dump(2) << "\n";
        if (!out.flush())
          loom::fail("--e2e-out: cannot write ", e2eOut);
      }
      return 0;
    }

    std::vector<loom::bench::LinearShape> shapes;
    if (!artifact.empty()) {
      std::string artifactTarget;
      shapes = loom::bench::artifactLinears(artifact, artifactTarget);
      if (!artifactTarget.empty() && !app.count("--target"))
        target = artifactTarget;
    } else {
      for (const std::string &w : splitList(weights))
        for (loom::bench::LinearShape s : loom::bench::gemma12bLinears(lmHead)) {
          s.weights = loom::bench::parseWeightType(w);
          shapes.push_back(s);
        }
    }
    loom::bench::LinearBenchOptions options;
    const int cores = int(std::max(1u, std::thread::hardware_concurrency()));
    if (threadList.empty()) {
      options.threads = {1};
      if (cores > 1)
        options.threads.push_back(cores);
    } else {
      for (const std::string &t : splitList(threadList)) {
        int n = std::atoi(t.c_str());
        if (n < 1)
          loom::fail("--threads: '", t, "' is not a positive thread count");
        options.threads.push_back(n);
      }
    }
    if (options.threads.size() > 1)
      return runEachThreadCount(argv, options.threads, jsonOut, plotPath);
    // One count per process: Halide's pool reads HL_NUM_THREADS when the kernels first run.
    setenv("HL_NUM_THREADS", std::to_string(options.threads[0]).c_str(), 1);
    options.gemv = mode != "gemm";
    options.gemm = mode != "gemv";
    options.prefillTokens = tokens;
    options.setMinTime = !userMinTime;
    options.references = !noReferences;
    options.weightPages = hugePages ? loom::PageSize::Huge : loom::PageSize::Small;

    std::fprintf(stderr, "loom-bench: generating %zu linear kernels for target %s...\n",
                 loom::bench::linearKernelSpecs(shapes).size(), target.c_str());
    std::optional<loom::codegen::Tuning> tuning;
    if (!tuningPath.empty()) {
      std::vector<std::string> warnings;
      tuning = loom::codegen::Tuning::fromRecord(
          loom::codegen::Tuning::readRecordFile(tuningPath), tuningPath,
          loom::codegen::resolveLoomTarget(target), loom::codegen::CpuIdentity::host(),
          loom::codegen::TuningMismatch::Warn, warnings);
      for (const std::string &warning : warnings)
        std::fprintf(stderr, "loom-bench: warning: %s\n", warning.c_str());
    }
    auto kernels = std::make_shared<loom::bench::KernelHarness>(
        loom::bench::linearKernelSpecs(shapes), target, tuning ? &*tuning : nullptr);
    std::fprintf(stderr, "loom-bench: built in %.1f s\n", kernels->buildSeconds());
    loom::bench::registerLinearBenchmarks(shapes, options, kernels);
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    if (!plotPath.empty()) {
      loom::bench::plotRoofline(jsonOut, plotPath);
      std::fprintf(stderr, "loom-bench: wrote %s\n", plotPath.c_str());
    }
  } catch (const loom::Error &e) {
    std::fprintf(stderr, "loom-bench: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
