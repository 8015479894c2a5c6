// loom-compile's pipeline: import -> quantize -> plan -> codegen -> serialize.
#pragma once

#include <functional>
#include <optional>
#include <string>

namespace loom {

// Phases in order; --compile-to stops after one and prints its IR.
enum class Phase { Import, Quantize, Plan, Codegen, Serialize };
std::optional<Phase> parsePhase(const std::string &name);

struct CompileOptions {
  std::string checkpointDir;
  std::string outputPath;
  std::string target = "host";      // x86-64 | x86-64-avx512 | x86-64-avx512-vnni-bf16 | host
  std::string weightType = "f32";   // --quant: f32 | bf16
  int64_t maxContext = 8192;        // slots of each full layer's KV cache
  Phase stopAfter = Phase::Serialize;
  std::string workDir;              // intermediate kernel objects; a temp dir when empty
  std::function<void(const std::string &)> log; // progress, one line per phase
};

// Runs the pipeline. With stopAfter before Codegen, returns the IR text of that phase instead
// of writing an artifact. Throws loom::Error for bad input or an unsupported target.
std::string compile(const CompileOptions &options);

} // namespace loom
