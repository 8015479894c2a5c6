#include "loom/Driver/Compiler.h"

#include "loom/Artifact/ArtifactWriter.h"
#include "loom/Checkpoint/Checkpoint.h"
#include "loom/Codegen/KernelSpec.h"
#include "loom/Dialect/LoomDialect.h"
#include "loom/Driver/LowerToArtifact.h"
#include "loom/Error.h"
#include "loom/Import/Importer.h"
#include "loom/Passes/Passes.h"

#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Pass/PassManager.h"
#include "llvm/Support/raw_ostream.h"

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace loom {
namespace {

std::string printModule(mlir::ModuleOp module) {
  std::string text;
  llvm::raw_string_ostream os(text);
  module.print(os);
  return text;
}

std::string readFile(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    fail(path, ": cannot read the tokenizer (expected tokenizer.json next to config.json)");
  std::ostringstream contents;
  contents << in.rdbuf();
  return contents.str();
}

// Times a phase and reports it through options.log.
class PhaseTimer {
public:
  PhaseTimer(const CompileOptions &options, const char *name)
      : options_(options), name_(name), start_(std::chrono::steady_clock::now()) {}
  ~PhaseTimer() {
    if (!options_.log)
      return;
    double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    std::ostringstream line;
    line.precision(2);
    line << std::fixed << name_ << ": " << seconds << " s";
    options_.log(line.str());
  }

private:
  const CompileOptions &options_;
  const char *name_;
  std::chrono::steady_clock::time_point start_;
};

void runPasses(mlir::ModuleOp module, const std::function<void(mlir::OpPassManager &)> &add,
               const char *phase) {
  mlir::PassManager pm(module.getContext());
  add(pm);
  std::string diagnostics;
  mlir::ScopedDiagnosticHandler handler(module.getContext(), [&](mlir::Diagnostic &diag) {
    diagnostics += diag.str() + "\n";
    return mlir::success();
  });
  if (mlir::failed(pm.run(module)))
    fail("loom-compile: phase ", phase, " failed:\n", diagnostics);
}

} // namespace

std::optional<Phase> parsePhase(const std::string &name) {
  if (name == "import")
    return Phase::Import;
  if (name == "quantize")
    return Phase::Quantize;
  if (name == "plan")
    return Phase::Plan;
  if (name == "codegen")
    return Phase::Codegen;
  if (name == "serialize")
    return Phase::Serialize;
  return std::nullopt;
}

std::string compile(const CompileOptions &options) {
  if (options.weightType != "f32" && options.weightType != "bf16")
    fail("loom-compile: --quant=", options.weightType,
         " is not supported: expected f32 or bf16 (q8 and q4 arrive with the quantization passes)");
  if (options.maxContext <= 0)
    fail("loom-compile: --max-context must be positive, found ", options.maxContext);
  // Resolve the target first: an unsupported one is refused before any work.
  std::string halideTarget = codegen::halideTargetFor(options.target);

  mlir::MLIRContext context;
  context.loadDialect<LoomDialect>();

  std::optional<Checkpoint> checkpoint;
  mlir::OwningOpRef<mlir::ModuleOp> module;
  {
    PhaseTimer timer(options, "import");
    checkpoint.emplace(Checkpoint::open(options.checkpointDir));
    module = importCheckpoint(context, *checkpoint);
    if (mlir::failed(mlir::verify(*module)))
      fail("loom-compile: the imported module does not verify");
  }
  if (options.stopAfter == Phase::Import)
    return printModule(*module);

  {
    PhaseTimer timer(options, "quantize");
    runPasses(*module, [&](mlir::OpPassManager &pm) {
      pm.addPass(createLoomSetWeightType({options.weightType}));
    }, "quantize");
  }
  if (options.stopAfter == Phase::Quantize)
    return printModule(*module);

  {
    PhaseTimer timer(options, "plan");
    runPasses(*module, [](mlir::OpPassManager &pm) {
      pm.addPass(createLoomOutlineKernels());
      pm.addPass(createLoomPlanBuffers());
    }, "plan");
  }
  if (options.stopAfter == Phase::Plan)
    return printModule(*module);

  LoweredModel lowered = lowerToArtifact(*module, checkpoint->config(), options.maxContext);
  ArtifactContents contents;
  {
    PhaseTimer timer(options, "codegen");
    std::string workDir = options.workDir;
    bool ownWorkDir = workDir.empty();
    if (ownWorkDir) {
      std::string pattern =
          (std::filesystem::temp_directory_path() / "loom-compile-XXXXXX").string();
      if (!mkdtemp(pattern.data()))
        fail("loom-compile: cannot create a temporary directory under ",
             std::filesystem::temp_directory_path().string());
      workDir = pattern;
    }
    contents.kernelLibrary = codegen::buildKernelLibrary(lowered.kernels, halideTarget, workDir);
    if (ownWorkDir)
      std::filesystem::remove_all(workDir);
  }
  if (options.stopAfter == Phase::Codegen)
    return printModule(*module);

  {
    PhaseTimer timer(options, "serialize");
    contents.manifest = std::move(lowered.manifest);
    contents.manifest.producer = "loom-compile 0.1.0";
    contents.manifest.config = makeManifestConfig(checkpoint->config());
    auto target = std::make_unique<fb::TargetT>();
    target->name = codegen::resolveLoomTarget(options.target);
    target->halide_target = halideTarget;
    target->cpu_features = codegen::cpuFeaturesFor(options.target);
    contents.manifest.target = std::move(target);
    contents.tokenizerJson = readFile(options.checkpointDir + "/tokenizer.json");
    writeArtifact(std::move(contents), options.outputPath, options.log);
  }
  return {};
}

} // namespace loom
