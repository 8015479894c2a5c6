// loom-compile's pipeline: import -> fuse -> quantize -> plan -> codegen -> serialize.
#pragma once

#include "loom/Codegen/Tuning.h"

#include <functional>
#include <optional>
#include <string>

namespace loom {

// Phases in order; --compile-to stops after one and prints its IR, --compile-from resumes from
// the IR printed after one.
enum class Phase { Import, Fuse, Quantize, Plan, Codegen, Serialize };
std::optional<Phase> parsePhase(const std::string &name);
const char *phaseName(Phase phase);

struct CompileOptions {
  std::string checkpointDir;
  std::string outputPath;
  // A CPU target (x86-64-v3, x86-64-v4, zen4, sapphirerapids, host), a
  // comma-separated list of them or "portable" (one kernel set each), or one cuda:sm_XX.
  std::string target = "host";
  std::string weightType = "f32";   // --quant: f32 | bf16 | q8 | q4g32 | q4g128
  std::string embeddingQuant = "q8"; // --quant-embedding (quantized modes): q8 | q4g32 | q4g128 | keep
  int64_t maxContext = 8192;        // slots of each full layer's KV cache
  Phase stopAfter = Phase::Serialize;
  // --compile-from: `checkpointDir` is then the .mlir file written after this phase (it carries
  // the model config and the checkpoint folder, ModuleConfig.h); the later phases run.
  std::optional<Phase> resumeAfter;
  bool fuse = true;                 // --no-fuse: the fuse phase runs no passes
  std::string dumpAfter;            // --dump-after: a pass argument, e.g. loom-fuse-geglu
  std::function<void(const std::string &)> dump; // receives the IR after `dumpAfter`
  std::string workDir;              // intermediate kernel objects; a temp dir when empty
  // --tuning: a loom-tune record (docs/TUNING.md) for the kernel set of its target; empty: the
  // checked-in defaults. --tuning-mismatch: a record made for another target or CPU model than
  // this compile's is refused, or used with a warning through `log`.
  std::string tuningPath;
  codegen::TuningMismatch tuningMismatch = codegen::TuningMismatch::Refuse;
  std::function<void(const std::string &)> log; // progress, one line per phase
};

// Runs the pipeline. With stopAfter before Codegen, returns the IR text of that phase instead
// of writing an artifact. Throws loom::Error for bad input or an unsupported target.
std::string compile(const CompileOptions &options);

} // namespace loom
