// loom-model make --preset tiny|12b --seed N -o DIR [--layers L] [--window W] [--dtype bf16|f32]
//                  [--tokenizer-dir D]
// loom-model make --config CONFIG.json --seed N -o DIR [--dtype bf16|f32] [--tokenizer-dir D]
// Writes a synthetic Hugging Face gemma4_unified checkpoint: config.json, model.safetensors (or
// shards + model.safetensors.index.json), tokenizer.json and tokenizer_config.json.
// With --config, the model has that config.json's shape, and the file is the checkpoint's
// config.json byte for byte (Loom and any reference then read the same file; --layers and
// --window, which would make it lie, are refused).
// Everything is written into a staging folder next to DIR and moved into place at the end, so a
// failure leaves no half-written DIR.
#include "loom/Checkpoint/ConfigJson.h"
#include "loom/Checkpoint/SyntheticModel.h"
#include "loom/Error.h"

#include "loom/Tools/CliChecks.h"

#include <CLI/CLI.hpp>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <unistd.h>

namespace fs = std::filesystem;

namespace {

void copyFile(const fs::path &from, const fs::path &to) {
  std::error_code ec;
  if (!fs::is_regular_file(from, ec))
    loom::fail(from.string(), ": tokenizer file not found (set --tokenizer-dir)");
  fs::copy_file(from, to, fs::copy_options::overwrite_existing, ec);
  if (ec)
    loom::fail(to.string(), ": cannot copy from ", from.string(), ": ", ec.message());
}

std::string readConfigFile(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  if (!in)
    loom::fail(path, ": cannot read");
  return text.str();
}

void writeText(const fs::path &p, const std::string &text) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << text;
  out.close();
  if (!out)
    loom::fail(p.string(), ": cannot write");
}

// The checkpoint's config.json text: configFile's bytes, or the preset's as toConfigJson writes it.
int make(const std::string &preset, const std::string &configFile, uint64_t seed, const std::string &outDir,
         int64_t layers, int64_t window, const std::string &dtype, const std::string &tokenizerDir,
         unsigned threads) {
  loom::ModelConfig config = configFile.empty() ? loom::presetConfig(preset) : loom::parseModelConfig(configFile);
  if (layers)
    loom::setNumLayers(config, layers);
  if (window) {
    if (window < 0)
      loom::fail("--window: expected a positive sliding window, found ", window);
    config.slidingWindow = window;
  }
  loom::SyntheticOptions options;
  options.seed = seed;
  options.threads = threads;
  if (dtype == "bf16") {
    options.dtype = loom::DType::BF16;
    config.dtype = "bfloat16";
  } else if (dtype == "f32") {
    options.dtype = loom::DType::F32;
    config.dtype = "float32";
  } else {
    loom::fail("--dtype: expected bf16 or f32, found ", dtype);
  }
  const std::string configText =
      configFile.empty() ? loom::toConfigJson(config) /* validates */ : readConfigFile(configFile);

  // Tokenizer sources: DIR/tokenizer.json, or the Gemma 4 tokenizer the build unpacks.
  fs::path tokenizerJson, tokenizerConfig = LOOM_TOKENIZER_CONFIG_TEMPLATE;
  if (tokenizerDir.empty()) {
    tokenizerJson = LOOM_DEFAULT_TOKENIZER_JSON;
  } else {
    tokenizerJson = fs::path(tokenizerDir) / "tokenizer.json";
    if (fs::is_regular_file(fs::path(tokenizerDir) / "tokenizer_config.json"))
      tokenizerConfig = fs::path(tokenizerDir) / "tokenizer_config.json";
  }

  fs::path out = fs::absolute(outDir).lexically_normal();
  if (out.filename().empty())
    out = out.parent_path();
  std::error_code ec;
  if (fs::exists(out, ec) && !fs::is_directory(out, ec))
    loom::fail(out.string(), ": exists and is not a folder");
  if (fs::is_directory(out, ec) && !fs::is_empty(out, ec) && !fs::exists(out / "config.json", ec))
    loom::fail(out.string(), ": exists, is not empty and holds no config.json; refusing to replace it");
  fs::create_directories(out.parent_path(), ec);
  const fs::path staging = out.parent_path() / (out.filename().string() + ".partial-" + std::to_string(::getpid()));
  fs::remove_all(staging, ec);
  if (!fs::create_directory(staging, ec))
    loom::fail(staging.string(), ": cannot create the staging folder: ", ec.message());

  auto start = std::chrono::steady_clock::now();
  try {
    writeText(staging / "config.json", configText);
    copyFile(tokenizerJson, staging / "tokenizer.json");
    copyFile(tokenizerConfig, staging / "tokenizer_config.json");
    uint64_t bytes = loom::writeSyntheticWeights(staging.string(), config, options);
    // Move into place: the old folder (a previous model) is set aside, then removed.
    fs::path old;
    if (fs::exists(out, ec)) {
      old = out.parent_path() / (out.filename().string() + ".old-" + std::to_string(::getpid()));
      fs::rename(out, old);
    }
    fs::rename(staging, out);
    if (!old.empty())
      fs::remove_all(old, ec);
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::cout << "wrote " << out.string() << ": " << (configFile.empty() ? "preset " + preset : configFile) << ", " << config.numLayers << " layers, window "
              << config.slidingWindow << ", " << dtype << ", " << bytes << " bytes of weights in " << secs << " s\n";
  } catch (...) {
    fs::remove_all(staging, ec);
    throw;
  }
  return 0;
}

} // namespace

int main(int argc, char **argv) {
  CLI::App app{"loom-model: writes synthetic gemma4_unified checkpoints"};
  app.require_subcommand(1);
  CLI::App *mk = app.add_subcommand("make", "write a synthetic checkpoint folder");
  std::string preset, configFile, out, dtype = "bf16", tokenizerDir;
  uint64_t seed = 0;
  int64_t layers = 0, window = 0;
  unsigned threads = 2;
  CLI::Option *presetOption =
      mk->add_option("--preset", preset, "tiny or 12b")->check(CLI::IsMember({"tiny", "12b"}));
  CLI::Option *configOption =
      mk->add_option("--config", configFile,
                     "a Hugging Face config.json giving the shape instead of a preset; copied verbatim as the "
                     "checkpoint's config.json")
          ->check(CLI::ExistingFile)
          ->excludes(presetOption);
  mk->add_option("--seed", seed, "random seed")->required();
  mk->add_option("-o,--output", out, "output folder")->required();
  mk->add_option("--layers", layers, "override num_hidden_layers (layer types follow the HF rule)")
      ->check(loom::cli::integerAtLeast(1))
      ->excludes(configOption);
  mk->add_option("--window", window, "override sliding_window")
      ->check(loom::cli::integerAtLeast(1))
      ->excludes(configOption);
  mk->add_option("--dtype", dtype, "bf16 (default) or f32")->check(CLI::IsMember({"bf16", "f32"}));
  mk->add_option("--tokenizer-dir", tokenizerDir,
                 "folder with tokenizer.json (and optionally tokenizer_config.json); default: the Gemma 4 "
                 "tokenizer unpacked into the build tree");
  mk->add_option("--threads", threads, "generator threads")->check(CLI::Range(1u, 64u));
  CLI11_PARSE(app, argc, argv);
  if (preset.empty() && configFile.empty()) {
    std::cerr << "loom-model: error: make needs --preset or --config\n";
    return 1;
  }
  try {
    return make(preset, configFile, seed, out, layers, window, dtype, tokenizerDir, threads);
  } catch (const std::exception &e) {
    std::cerr << "loom-model: error: " << e.what() << "\n";
    return 1;
  }
}
