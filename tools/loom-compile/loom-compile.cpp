// loom-compile: a Hugging Face gemma4_unified checkpoint folder in, a .loom artifact out.
#include "loom/Driver/Compiler.h"
#include "loom/Error.h"

#include <CLI/CLI.hpp>

#include <iostream>
#include <sys/resource.h>

int main(int argc, char **argv) {
  CLI::App app{"loom-compile: compiles a Hugging Face gemma4_unified checkpoint to a .loom artifact"};
  loom::CompileOptions options;
  std::string phase = "serialize";
  bool quiet = false;
  app.add_option("checkpoint", options.checkpointDir, "checkpoint folder (config.json, safetensors, tokenizer.json)")
      ->required();
  app.add_option("-o,--output", options.outputPath, "the .loom file to write");
  app.add_option("--target", options.target,
                 "x86-64 | x86-64-avx512 | x86-64-avx512-vnni-bf16 | host")
      ->capture_default_str();
  app.add_option("--quant", options.weightType, "weight storage: f32 | bf16")->capture_default_str();
  app.add_option("--max-context", options.maxContext, "KV cache slots of each full layer")
      ->capture_default_str();
  app.add_option("--compile-to", phase, "stop after import | quantize | plan | codegen and print the IR")
      ->capture_default_str();
  app.add_option("--work-dir", options.workDir, "keep intermediate kernel objects here");
  app.add_flag("-q,--quiet", quiet, "no progress lines");
  CLI11_PARSE(app, argc, argv);

  auto stopAfter = loom::parsePhase(phase);
  if (!stopAfter) {
    std::cerr << "loom-compile: error: --compile-to=" << phase
              << " is not a phase: expected import, quantize, plan, codegen or serialize\n";
    return 1;
  }
  options.stopAfter = *stopAfter;
  if (options.stopAfter == loom::Phase::Serialize && options.outputPath.empty()) {
    std::cerr << "loom-compile: error: -o FILE.loom is required\n";
    return 1;
  }
  if (!quiet)
    options.log = [](const std::string &line) { std::cerr << "loom-compile: " << line << "\n"; };
  try {
    std::string ir = loom::compile(options);
    std::cout << ir;
  } catch (const loom::Error &error) {
    std::cerr << "loom-compile: error: " << error.what() << "\n";
    return 1;
  }
  if (!quiet) {
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    std::cerr << "loom-compile: peak memory " << usage.ru_maxrss / 1024 << " MiB\n";
  }
  return 0;
}
