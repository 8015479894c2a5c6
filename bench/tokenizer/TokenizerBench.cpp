// Encode speed of the Gemma 4 tokenizer (unpacked from test/data/tokenizer/gemma4-tokenizer.json.xz), one
// thread, reported as bytes_per_second (MB/s) and tokens per second, on two large texts:
//   gemma4_cases   the texts of test/data/tokenizer/gemma4-cases.jsonl (many scripts, emoji,
//                  code, special tokens), one per line, repeated to 20 MiB;
//   debian_docs    a real English text: /usr/share/common-licenses/* and every
//                  /usr/share/doc/*/copyright, concatenated in sorted order.
// Results and the command line: bench/RESULTS.md.
#include "loom/Tokenizer/Tokenizer.h"

#include <benchmark/benchmark.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace {

const std::string kSource = LOOM_SOURCE_DIR;

const loom::Tokenizer &tokenizer() {
  static const loom::Tokenizer t =
      loom::Tokenizer::fromFile(std::string(LOOM_GEMMA4_TOKENIZER_JSON));
  return t;
}

std::string readFile(const std::filesystem::path &path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

const std::string &gemma4CasesText() {
  static const std::string text = [] {
    std::ifstream in(kSource + "/test/data/tokenizer/gemma4-cases.jsonl");
    std::string line, once;
    while (std::getline(in, line))
      if (!line.empty())
        once += nlohmann::json::parse(line).at("text").get<std::string>() + "\n";
    std::string out;
    while (!once.empty() && out.size() < (20u << 20))
      out += once;
    return out;
  }();
  return text;
}

const std::string &debianDocsText() {
  static const std::string text = [] {
    std::vector<std::filesystem::path> files;
    std::error_code ignored;
    for (const auto &entry :
         std::filesystem::directory_iterator("/usr/share/common-licenses", ignored))
      if (entry.is_regular_file())
        files.push_back(entry.path());
    for (const auto &entry : std::filesystem::directory_iterator("/usr/share/doc", ignored))
      if (std::filesystem::is_regular_file(entry.path() / "copyright"))
        files.push_back(entry.path() / "copyright");
    std::sort(files.begin(), files.end());
    std::string out;
    for (const auto &file : files)
      out += readFile(file);
    return out;
  }();
  return text;
}

void encode(benchmark::State &state, const std::string &text) {
  if (text.empty()) {
    state.SkipWithError("no text to encode");
    return;
  }
  const loom::Tokenizer &t = tokenizer();
  size_t tokens = 0;
  for (auto _ : state) {
    std::vector<int32_t> ids = t.encode(text);
    tokens = ids.size();
    benchmark::DoNotOptimize(ids.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
  state.counters["MiB"] = static_cast<double>(text.size()) / (1 << 20);
  state.counters["tokens"] = static_cast<double>(tokens);
  state.counters["tokens_per_s"] = benchmark::Counter(
      static_cast<double>(tokens) * state.iterations(), benchmark::Counter::kIsRate);
}

void BM_EncodeGemma4Cases(benchmark::State &state) { encode(state, gemma4CasesText()); }
void BM_EncodeDebianDocs(benchmark::State &state) { encode(state, debianDocsText()); }

BENCHMARK(BM_EncodeGemma4Cases)->Unit(benchmark::kMillisecond)->Iterations(3);
BENCHMARK(BM_EncodeDebianDocs)->Unit(benchmark::kMillisecond)->Iterations(3);

} // namespace

BENCHMARK_MAIN();
