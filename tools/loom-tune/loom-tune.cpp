// loom-tune: searches the schedule parameters of a model's matrix products and attention
// kernels on this machine and writes them as a tuning record for `loom-compile --tuning`
// (docs/TUNING.md).
//
//   loom-tune MODEL.loom --target=host --budget 10 -o tuning.json
//   loom-tune CHECKPOINT --quant=q4g32 -o tuning.json      (compiled first, to find its kernels)
#include "KernelSearch.h"
#include "ModelKernels.h"
#include "RuntimeSearch.h"

#include "loom/Codegen/KernelSpec.h"
#include "loom/Codegen/Tuning.h"
#include "loom/Driver/Compiler.h"
#include "loom/Error.h"
#include "loom/Runtime/CpuFeatures.h"

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include <unistd.h>

namespace {

using nlohmann::ordered_json;
using namespace loom;

ordered_json cpuJson(const codegen::CpuIdentity &cpu) {
  return {{"vendor", cpu.vendor},     {"model_name", cpu.modelName}, {"family", cpu.family},
          {"model", cpu.model},       {"cores", cpu.cores},          {"l1d_bytes", cpu.l1dBytes},
          {"l2_bytes", cpu.l2Bytes},  {"l3_bytes", cpu.l3Bytes}};
}

ordered_json millisecondsJson(const std::map<int64_t, double> &seconds) {
  ordered_json ms;
  for (const auto &[tokens, s] : seconds)
    ms[std::to_string(tokens)] = s * 1e3;
  return ms;
}

void writeAtomically(const std::string &path, const std::string &text) {
  const std::string tmp = path + ".tmp";
  std::ofstream out(tmp, std::ios::binary);
  if (!(out << text) || !out.flush() || (out.close(), std::rename(tmp.c_str(), path.c_str())) != 0) {
    std::remove(tmp.c_str());
    fail(path, ": cannot write the tuning record");
  }
}

// INPUT as an artifact: itself, or a checkpoint compiled to a temporary one (removed with
// this object).
class InputArtifact {
public:
  InputArtifact(const std::string &input, const std::string &quant, const std::string &target) {
    if (!std::filesystem::is_directory(input)) {
      path_ = input;
      return;
    }
    dir_ = std::filesystem::temp_directory_path() / ("loom-tune-" + std::to_string(getpid()));
    std::filesystem::create_directories(dir_);
    CompileOptions options;
    options.checkpointDir = input;
    options.outputPath = (dir_ / "model.loom").string();
    options.target = target;
    options.weightType = quant;
    options.maxContext = 4096; // enough for the runtime phase's prompts
    std::cerr << "loom-tune: compiling " << input << " (--quant=" << quant << ")\n";
    try {
      compile(options);
    } catch (...) {
      std::filesystem::remove_all(dir_);
      throw;
    }
    path_ = options.outputPath;
  }
  ~InputArtifact() {
    if (!dir_.empty())
      std::filesystem::remove_all(dir_);
  }
  InputArtifact(const InputArtifact &) = delete;
  InputArtifact &operator=(const InputArtifact &) = delete;
  const std::string &path() const { return path_; }

private:
  std::filesystem::path dir_;
  std::string path_;
};

std::vector<int64_t> parseTokenCounts(const std::string &list) {
  std::vector<int64_t> counts;
  std::istringstream items(list);
  for (std::string item; std::getline(items, item, ',');) {
    try {
      size_t used = 0;
      counts.push_back(std::stoll(item, &used));
      if (used != item.size())
        throw std::invalid_argument(item);
    } catch (const std::exception &) {
      fail("--tokens: '", item, "' is not a token count");
    }
    if (counts.back() <= 0)
      fail("--tokens: token counts must be positive");
  }
  if (counts.empty())
    fail("--tokens: no token counts");
  return counts;
}

// Resuming `path`: `record` (a fresh one) gets the kernels it completed and its end-to-end
// choices. The old record is checked as loom-compile checks one, for this target and CPU.
void resume(ordered_json &record, const std::string &path, const codegen::CpuIdentity &cpu) {
  const std::string text = codegen::Tuning::readRecordFile(path);
  std::vector<std::string> warnings;
  codegen::Tuning::fromRecord(text, path, record["target"], cpu, codegen::TuningMismatch::Refuse,
                              warnings);
  const ordered_json previous = ordered_json::parse(text);
  for (const auto &[key, entry] : previous["kernels"].items())
    if (entry.value("complete", false))
      record["kernels"][key] = entry;
  if (previous.contains("runtime"))
    record["runtime"] = previous["runtime"];
  std::cerr << "loom-tune: resuming " << path << ": " << record["kernels"].size()
            << " kernels done" << (record.contains("runtime") ? ", end-to-end choices done" : "")
            << "\n";
}

// A kernel's record entry: the chosen parameters and the figures behind them.
ordered_json kernelEntry(const tune::SearchResult &found) {
  return {{"params", ordered_json(found.best)},
          {"complete", found.complete},
          {"candidates", found.candidates},
          {"default_ms", millisecondsJson(found.defaultSeconds)},
          {"tuned_ms", millisecondsJson(found.bestSeconds)},
          {"speedup", 1.0 / tune::relativeTime(found.bestSeconds, found.defaultSeconds)}};
}

void printLine(const std::string &line) { std::cerr << line << "\n"; }

} // namespace

int main(int argc, char **argv) {
  CLI::App app{"loom-tune: tunes a model's kernel schedules on this machine (docs/TUNING.md)"};
  std::string input, output, target = "host", quant = "q4g32", tokensList = "1,4,512", only;
  double budgetMinutes = 10;
  int threads = loom::usableCpuCount();
  int repetitions = 5;
  bool hugePages = false, restart = false, noRuntime = false;
  tune::RuntimeSearchOptions runtimeOptions;
  app.add_option("model", input, "a .loom artifact, or a checkpoint folder (compiled first)")
      ->required();
  app.add_option("-o,--output", output, "the tuning record to write (resumed when it exists)")
      ->required();
  app.add_option("--target", target, "the CPU target to tune for: host or a target name")
      ->capture_default_str();
  app.add_option("--budget", budgetMinutes, "minutes of search in all (shared by the kernels)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--threads", threads, "threads the kernels run on")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--tokens", tokensList,
                 "token counts each candidate is timed at (decode, batched decode, prefill)")
      ->capture_default_str();
  app.add_option("--repetitions", repetitions, "timed turns per comparison (medians)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--quant", quant, "checkpoint input: the weight type to compile it with")
      ->capture_default_str();
  app.add_option("--only", only,
                 "search only the kernels whose key contains this text (e.g. 'attention')");
  app.add_flag("--huge-pages", hugePages, "weights in 2 MiB pages, as loom-run --huge-pages");
  app.add_flag("--restart", restart, "ignore an existing record at -o instead of resuming it");
  app.add_flag("--no-runtime", noRuntime,
               "skip the end-to-end choices (threads per phase, huge pages, prefill chunk)");
  app.add_option("--prompt-tokens", runtimeOptions.promptTokens,
                 "end-to-end choices: the synthetic prompt's tokens")
      ->check(CLI::Range(int64_t(1), int64_t(4000)))
      ->capture_default_str();
  app.add_option("--decode-tokens", runtimeOptions.decodeTokens,
                 "end-to-end choices: decode steps after the prompt")
      ->check(CLI::Range(int64_t(1), int64_t(1000)))
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  try {
    const auto start = std::chrono::steady_clock::now();
    tune::SearchOptions options;
    options.target = codegen::resolveLoomTarget(target);
    options.threads = threads;
    options.repetitions = repetitions;
    options.pages = hugePages ? PageSize::Huge : PageSize::Small;
    options.tokens = parseTokenCounts(tokensList);
    if (!codegen::cpuCanRun(codegen::cpuTarget(options.target)))
      fail("--target=", options.target, ": this CPU cannot run its kernels, so cannot time them");

    const codegen::CpuIdentity cpu = codegen::CpuIdentity::host();
    options.cpu = cpu;
    ordered_json record = {{"format", "loom-tuning"},
                           {"version", 1},
                           {"target", options.target},
                           {"cpu", cpuJson(cpu)},
                           {"producer", "loom-tune 0.1.0"},
                           {"model", input},
                           {"threads", threads},
                           {"tokens", options.tokens},
                           {"kernels", ordered_json::object()}};
    if (!restart && std::filesystem::exists(output))
      resume(record, output, cpu);

    const InputArtifact artifact(input, quant, target);
    const std::vector<tune::ModelKernel> kernels = tune::modelKernels(artifact.path());
    const codegen::Tuning defaults = codegen::Tuning::defaults(options.target);
    const double budget = budgetMinutes * 60;
    auto elapsed = [&] {
      return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    };
    std::vector<tune::ModelKernel> todo;
    size_t matching = 0;
    for (const tune::ModelKernel &kernel : kernels) {
      const std::string key = codegen::keyText(kernel.key);
      if (key.find(only) == std::string::npos)
        continue;
      ++matching;
      if (!record["kernels"].contains(key))
        todo.push_back(kernel);
    }
    if (matching == 0)
      fail("--only '", only, "': no kernel of ", input, " has it in its key (the first is '",
           codegen::keyText(kernels.front().key), "')");
    std::cerr << "loom-tune: " << kernels.size() << " kernels, " << todo.size()
              << " to search, target " << options.target << ", " << threads << " threads, on "
              << cpu.describe() << "\n";
    // The end-to-end choices first, on the input's kernels, with a quarter of the budget.
    if (!noRuntime && !record.contains("runtime")) {
      std::cerr << "[runtime] threads per phase, huge pages, prefill chunk (" << int(budget / 4)
                << " s)\n";
      runtimeOptions.artifact = artifact.path();
      runtimeOptions.maxThreads = threads;
      record["runtime"] = tune::searchRuntime(runtimeOptions, budget / 4, printLine);
      std::cerr << "  chosen: prefill " << record["runtime"]["prefill_threads"] << " threads, decode "
                << record["runtime"]["decode_threads"] << ", huge pages "
                << record["runtime"]["huge_pages"] << ", prefill chunk "
                << record["runtime"]["prefill_chunk"] << "\n";
      writeAtomically(output, record.dump(2) + "\n");
    }
    for (size_t i = 0; i < todo.size(); ++i) {
      const std::string key = codegen::keyText(todo[i].key);
      const double allowed = std::max(0.0, (budget - elapsed()) / double(todo.size() - i));
      std::cerr << "[" << i + 1 << "/" << todo.size() << "] " << key << " (" << int(allowed)
                << " s)\n";
      const tune::SearchResult found =
          tune::searchKernel(todo[i], defaults, options, allowed, printLine);
      record["kernels"][key] = kernelEntry(found);
      std::cerr << "  best: " << record["kernels"][key]["params"].dump() << ", "
                << record["kernels"][key]["speedup"].get<double>()
                << "x the defaults' speed (geometric mean over T)"
                << (found.complete ? "" : "; search cut short by the budget") << "\n";
      writeAtomically(output, record.dump(2) + "\n");
    }
    writeAtomically(output, record.dump(2) + "\n");
    std::cerr << "loom-tune: wrote " << output << " in " << int(elapsed()) << " s\n";
  } catch (const loom::Error &e) {
    std::fprintf(stderr, "loom-tune: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
