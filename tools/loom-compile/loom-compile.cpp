// loom-compile: a Hugging Face gemma4_unified checkpoint folder in, a .loom artifact out.
#include "loom/Driver/Compiler.h"
#include "loom/Error.h"

#include <CLI/CLI.hpp>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <sys/resource.h>

int main(int argc, char **argv) {
  CLI::App app{"loom-compile: compiles a Hugging Face gemma4_unified checkpoint to a .loom artifact"};
  loom::CompileOptions options;
  std::string phase = "serialize", resumePhase;
  bool quiet = false, noFuse = false;
  app.add_option("checkpoint", options.checkpointDir,
                 "checkpoint folder (config.json, safetensors, tokenizer.json); with --compile-from, "
                 "the .mlir file to resume from")
      ->required();
  app.add_option("-o,--output", options.outputPath, "the .loom file to write");
  app.add_option("--target", options.target,
                 "CPU: x86-64-v3 | x86-64-v4 | zen4 | sapphirerapids | host, "
                 "a comma-separated list of them (one kernel set each; the runtime runs the best "
                 "one the CPU has) or portable (x86-64-v3,x86-64-v4,zen4); GPU: cuda:sm_80 | "
                 "cuda:sm_90a")
      ->capture_default_str();
  app.add_option("--quant", options.weightType, "weight storage: f32 | bf16 | q8 | q4g32 | q4g128")
      ->capture_default_str();
  app.add_option("--quant-embedding", options.embeddingQuant,
                 "with --quant=q8|q4*: the (tied) embedding table's scheme: q8 | q4g32 | q4g128 | keep")
      ->capture_default_str();
  app.add_option("--max-context", options.maxContext, "KV cache slots of each full layer")
      ->capture_default_str();
  app.add_option("--compile-to", phase,
                 "stop after import | fuse | quantize | plan | codegen and print the IR (to -o FILE "
                 "when given)")
      ->capture_default_str();
  app.add_option("--compile-from", resumePhase,
                 "resume from IR printed after import | fuse | quantize | plan (the positional "
                 "argument is then that .mlir file)");
  app.add_option("--dump-after", options.dumpAfter,
                 "print the IR after this pass (e.g. loom-fuse-geglu) to stdout");
  app.add_flag("--no-fuse", noFuse, "compile the unfused graph (the fuse phase runs no passes)");
  app.add_option("--work-dir", options.workDir, "keep intermediate kernel objects here");
  std::string tuningMismatch = "refuse";
  app.add_option("--tuning", options.tuningPath,
                 "a loom-tune record (tuning.json): the schedule parameters of its target's "
                 "kernels (docs/TUNING.md); default: the checked-in defaults");
  app.add_option("--tuning-mismatch", tuningMismatch,
                 "a --tuning record made for another target or CPU model: refuse | warn (use it)")
      ->check(CLI::IsMember({"refuse", "warn"}))
      ->capture_default_str();
  app.add_flag("-q,--quiet", quiet, "no progress lines");
  CLI11_PARSE(app, argc, argv);

  auto stopAfter = loom::parsePhase(phase);
  if (!stopAfter) {
    std::cerr << "loom-compile: error: --compile-to=" << phase
              << " is not a phase: expected import, fuse, quantize, plan, codegen or serialize\n";
    return 1;
  }
  options.stopAfter = *stopAfter;
  if (!resumePhase.empty()) {
    options.resumeAfter = loom::parsePhase(resumePhase);
    if (!options.resumeAfter) {
      std::cerr << "loom-compile: error: --compile-from=" << resumePhase
                << " is not a phase: expected import, fuse, quantize or plan\n";
      return 1;
    }
  }
  options.fuse = !noFuse;
  options.tuningMismatch = tuningMismatch == "warn" ? loom::codegen::TuningMismatch::Warn
                                                    : loom::codegen::TuningMismatch::Refuse;
  options.dump = [](const std::string &ir) { std::cout << ir << std::flush; };
  if (options.stopAfter == loom::Phase::Serialize && options.outputPath.empty()) {
    std::cerr << "loom-compile: error: -o FILE.loom is required\n";
    return 1;
  }
  if (!quiet)
    options.log = [](const std::string &line) { std::cerr << "loom-compile: " << line << "\n"; };
  try {
    std::string ir = loom::compile(options);
    if (options.stopAfter != loom::Phase::Serialize && !options.outputPath.empty()) {
      // The IR of --compile-to goes to -o: written whole, then renamed.
      std::string tmp = options.outputPath + ".tmp";
      std::ofstream out(tmp, std::ios::binary);
      if (!(out << ir) || !out.flush() || std::rename(tmp.c_str(), options.outputPath.c_str()) != 0) {
        std::remove(tmp.c_str());
        throw loom::Error(options.outputPath + ": cannot write the IR");
      }
    } else {
      std::cout << ir;
    }
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
