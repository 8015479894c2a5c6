#include "loom/Driver/Compiler.h"

#include "loom/Artifact/ArtifactWriter.h"
#include "loom/Checkpoint/Checkpoint.h"
#include "loom/Codegen/KernelSpec.h"
#include "loom/CodegenCuda/CudaCodegen.h"
#include "loom/Dialect/LoomDialect.h"
#include "loom/Dialect/LoomOps.h"
#include "loom/Driver/LowerToArtifact.h"
#include "loom/Driver/ModuleConfig.h"
#include "loom/Error.h"
#include "loom/Import/Importer.h"
#include "loom/Passes/Passes.h"

#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Parser/Parser.h"
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

// The tuning of each CPU kernel set (cpuTargets' order): a --tuning record applies to the set of
// the target it was made for, the others keep the defaults; a record for none of them is
// refused or, with --tuning-mismatch=warn, used for all. Read and checked before any work.
std::vector<codegen::Tuning> tuningsFor(const CompileOptions &options,
                                        const std::vector<std::string> &cpuTargets) {
  std::vector<codegen::Tuning> tunings;
  if (options.tuningPath.empty()) {
    for (const std::string &target : cpuTargets)
      tunings.push_back(codegen::Tuning::defaults(target));
    return tunings;
  }
  const std::string text = codegen::Tuning::readRecordFile(options.tuningPath);
  const std::string recordTarget = codegen::Tuning::recordTarget(text);
  const bool recordTargetCompiled = llvm::is_contained(cpuTargets, recordTarget);
  const codegen::CpuIdentity host = codegen::CpuIdentity::host();
  for (const std::string &target : cpuTargets) {
    if (recordTargetCompiled && target != recordTarget) {
      tunings.push_back(codegen::Tuning::defaults(target));
      continue;
    }
    std::vector<std::string> warnings;
    tunings.push_back(codegen::Tuning::fromRecord(text, options.tuningPath, target, host,
                                                  options.tuningMismatch, warnings));
    for (const std::string &warning : warnings)
      if (options.log)
        options.log("warning: " + warning);
  }
  return tunings;
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

// The fuse phase: graph-level fusion before outlining (passes/include/loom/Passes/Passes.td).
void addFusePasses(mlir::OpPassManager &pm) {
  pm.addPass(createLoomCacheRawKeys());
  pm.addPass(createLoomFuseGeglu());
  pm.addPass(createLoomFuseProjections());
  pm.addPass(createLoomFuseAttentionInput());
  pm.addPass(createLoomFuseResidual());
  pm.addPass(createLoomFuseVisionEmbed());
  pm.addPass(createLoomFoldNorms());
}

void addPlanPasses(mlir::OpPassManager &pm) {
  pm.addPass(createLoomOutlineKernels());
  pm.addPass(createLoomPlanBuffers());
}

// The pass arguments (flag names) `add` puts in a pipeline.
std::vector<std::string> passNames(const std::function<void(mlir::OpPassManager &)> &add) {
  mlir::OpPassManager pm(mlir::ModuleOp::getOperationName());
  add(pm);
  std::vector<std::string> names;
  for (mlir::Pass &pass : pm.getPasses())
    names.push_back(pass.getArgument().str());
  return names;
}

void runPasses(mlir::ModuleOp module, const std::function<void(mlir::OpPassManager &)> &add,
               const char *phase, const CompileOptions &options) {
  mlir::PassManager pm(module.getContext());
  add(pm);
  // --dump-after: the IR after the named pass, through options.dump.
  std::string dumped;
  llvm::raw_string_ostream dumpStream(dumped);
  if (!options.dumpAfter.empty())
    pm.enableIRPrinting(
        [](mlir::Pass *, mlir::Operation *) { return false; },
        [&](mlir::Pass *pass, mlir::Operation *) { return pass->getArgument() == options.dumpAfter; },
        /*printModuleScope=*/false, /*printAfterOnlyOnChange=*/false,
        /*printAfterOnlyOnFailure=*/false, dumpStream);
  std::string diagnostics;
  mlir::ScopedDiagnosticHandler handler(module.getContext(), [&](mlir::Diagnostic &diag) {
    diagnostics += diag.str() + "\n";
    return mlir::success();
  });
  mlir::LogicalResult result = pm.run(module);
  if (!dumped.empty() && options.dump)
    options.dump(dumped);
  if (mlir::failed(result))
    fail("phase ", phase, " failed:\n", diagnostics);
}

// "plan: 17 kernels; dispatches per call: embed_text 1, decoder 21, ..." for the progress log.
std::string programSummary(mlir::ModuleOp module) {
  std::ostringstream line;
  line << "program: " << llvm::range_size(module.getOps<KernelOp>()) << " kernels; dispatches per call:";
  const char *separator = " ";
  for (auto func : module.getOps<mlir::func::FuncOp>()) {
    if (!func->hasAttr(kEntryAttr))
      continue;
    line << separator << func.getSymName().str() << " "
         << llvm::range_size(func.getBody().getOps<DispatchOp>());
    separator = ", ";
  }
  return line.str();
}

mlir::OwningOpRef<mlir::ModuleOp> loadModule(mlir::MLIRContext &context, const std::string &path) {
  std::string diagnostics;
  mlir::ScopedDiagnosticHandler handler(&context, [&](mlir::Diagnostic &diag) {
    diagnostics += diag.str() + "\n";
    return mlir::success();
  });
  auto module = mlir::parseSourceFile<mlir::ModuleOp>(path, &context);
  if (!module)
    fail(path, ": cannot read a loom module from it (expected IR written by loom-compile "
         "--compile-to):\n", diagnostics);
  return module;
}

} // namespace

std::optional<Phase> parsePhase(const std::string &name) {
  if (name == "import")
    return Phase::Import;
  if (name == "fuse")
    return Phase::Fuse;
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

const char *phaseName(Phase phase) {
  switch (phase) {
  case Phase::Import:
    return "import";
  case Phase::Fuse:
    return "fuse";
  case Phase::Quantize:
    return "quantize";
  case Phase::Plan:
    return "plan";
  case Phase::Codegen:
    return "codegen";
  case Phase::Serialize:
    return "serialize";
  }
  return "?";
}

std::string compile(const CompileOptions &options) {
  const bool quantized = options.weightType == "q8" || options.weightType == "q4g32" ||
                         options.weightType == "q4g128";
  if (options.weightType != "f32" && options.weightType != "bf16" && !quantized)
    fail("--quant=", options.weightType,
         " is not supported: expected f32, bf16, q8, q4g32 or q4g128");
  if (options.embeddingQuant != "q8" && options.embeddingQuant != "q4g32" &&
      options.embeddingQuant != "q4g128" && options.embeddingQuant != "keep")
    fail("--quant-embedding=", options.embeddingQuant,
         " is not supported: expected q8, q4g32, q4g128 or keep");
  if (options.maxContext <= 0)
    fail("--max-context must be positive, found ", options.maxContext);
  // Resolve the target first: an unsupported one is refused before any work. CUDA targets
  // ("cuda:sm_90a") generate CUDA kernels (compiler/codegen_cuda) instead of Halide ones.
  const bool cuda = codegen::cuda::isCudaTarget(options.target);
  std::vector<std::string> cpuTargets; // least to most capable: one kernel set each
  if (cuda) {
    codegen::cuda::cudaTargetFor(options.target);
    if (!codegen::cuda::cudaCodegenAvailable())
      fail("--target=", options.target, ": this loom-compile was built without the CUDA toolkit "
           "(NVRTC), so it cannot generate GPU kernels");
  } else {
    cpuTargets = codegen::resolveLoomTargets(options.target);
  }
  if (cuda && !options.tuningPath.empty())
    fail("--tuning: tuning records are for CPU targets; --target=", options.target, " is a GPU");
  const std::vector<codegen::Tuning> tunings = tuningsFor(options, cpuTargets);

  mlir::MLIRContext context;
  context.loadDialect<LoomDialect>();

  // The quantize phase (the quantization passes decide what runs in it).
  auto addQuantizePasses = [&](mlir::OpPassManager &pm) {
      // Quantized modes: matrices int8/int4 (loom-quantize-weights), everything else f32.
      pm.addPass(createLoomSetWeightType({quantized ? "f32" : options.weightType}));
      if (quantized)
        pm.addPass(createLoomQuantizeWeights({options.weightType, options.embeddingQuant}));
  };
  // The CUDA kernel generator has no fused kinds yet: CUDA targets compile the unfused graph.
  const bool fuse = options.fuse && !cuda;
  if (!options.dumpAfter.empty()) {
    std::vector<std::string> names = passNames([&](mlir::OpPassManager &pm) {
      if (fuse)
        addFusePasses(pm);
      addQuantizePasses(pm);
      addPlanPasses(pm);
    });
    if (!llvm::is_contained(names, options.dumpAfter)) {
      std::string list;
      for (const std::string &name : names)
        list += (list.empty() ? "" : ", ") + name;
      fail("--dump-after=", options.dumpAfter, " is not a pass of this pipeline: expected one of ",
           list);
    }
  }
  if (options.resumeAfter && *options.resumeAfter >= options.stopAfter)
    fail("--compile-from=", phaseName(*options.resumeAfter), " must name a phase before --compile-to=",
         phaseName(options.stopAfter));
  if (options.resumeAfter && *options.resumeAfter > Phase::Plan)
    fail("--compile-from=", phaseName(*options.resumeAfter),
         ": resuming works from the IR after import, fuse, quantize or plan");
  // Phases after the one --compile-from resumes from run; the others were run before.
  auto runs = [&](Phase phase) { return !options.resumeAfter || phase > *options.resumeAfter; };

  mlir::OwningOpRef<mlir::ModuleOp> module;
  ModelConfig config;
  std::string checkpointDir;
  if (options.resumeAfter) {
    PhaseTimer timer(options, "load");
    module = loadModule(context, options.checkpointDir);
    if (mlir::failed(mlir::verify(*module)))
      fail(options.checkpointDir, ": the module does not verify");
    config = modelConfigOf(*module, options.checkpointDir);
    checkpointDir = checkpointDirOf(*module, options.checkpointDir);
  } else {
    PhaseTimer timer(options, "import");
    Checkpoint checkpoint = Checkpoint::open(options.checkpointDir);
    module = importCheckpoint(context, checkpoint);
    config = checkpoint.config();
    checkpointDir = options.checkpointDir;
    attachModelConfig(*module, config, checkpointDir);
    if (mlir::failed(mlir::verify(*module)))
      fail("the imported module does not verify");
  }
  if (options.stopAfter == Phase::Import)
    return printModule(*module);

  if (runs(Phase::Fuse)) {
    PhaseTimer timer(options, "fuse");
    if (fuse)
      runPasses(*module, addFusePasses, "fuse", options);
    else if (options.fuse && options.log)
      options.log("fuse: skipped: the CUDA kernel generator has no fused kernels yet");
  }
  if (options.stopAfter == Phase::Fuse)
    return printModule(*module);

  if (runs(Phase::Quantize)) {
    PhaseTimer timer(options, "quantize");
    runPasses(*module, addQuantizePasses, "quantize", options);
  }
  if (options.stopAfter == Phase::Quantize)
    return printModule(*module);

  if (runs(Phase::Plan)) {
    {
      PhaseTimer timer(options, "plan");
      runPasses(*module, addPlanPasses, "plan", options);
    }
    if (options.log)
      options.log(programSummary(*module));
  }
  if (options.stopAfter == Phase::Plan)
    return printModule(*module);

  LoweredModel lowered = lowerToArtifact(*module, config, options.maxContext,
                                         cuda ? WeightLayout::Cuda : WeightLayout::Cpu);
  ArtifactContents contents;
  std::vector<std::vector<uint8_t>> cpuLibraries; // one per cpuTargets entry
  {
    PhaseTimer timer(options, "codegen");
    std::string workDir = options.workDir;
    bool ownWorkDir = workDir.empty();
    if (ownWorkDir) {
      std::string pattern =
          (std::filesystem::temp_directory_path() / "loom-compile-XXXXXX").string();
      if (!mkdtemp(pattern.data()))
        fail("cannot create a temporary directory under ",
             std::filesystem::temp_directory_path().string());
      workDir = pattern;
    }
    if (cuda)
      contents.kernelLibrary = codegen::cuda::buildCudaKernelBundle(lowered.kernels, options.target);
    for (size_t i = 0; i < cpuTargets.size(); ++i) {
      const std::string &target = cpuTargets[i];
      if (options.log && cpuTargets.size() > 1)
        options.log("codegen: kernels for " + target);
      const std::string targetDir = workDir + "/" + target;
      std::filesystem::create_directories(targetDir);
      cpuLibraries.push_back(codegen::buildKernelLibrary(
          lowered.kernels, codegen::halideTargetFor(target), targetDir, &tunings[i]));
    }
    if (ownWorkDir)
      std::filesystem::remove_all(workDir);
  }
  if (options.stopAfter == Phase::Codegen)
    return printModule(*module);

  {
    PhaseTimer timer(options, "serialize");
    contents.manifest = std::move(lowered.manifest);
    contents.manifest.producer = "loom-compile 0.1.0";
    contents.manifest.config = makeManifestConfig(config);
    auto manifestTarget = [&](size_t set) {
      const codegen::CpuTarget &cpu = codegen::cpuTarget(cpuTargets[set]);
      auto target = std::make_unique<fb::TargetT>();
      target->name = cpu.name;
      target->halide_target = cpu.halideTarget;
      target->cpu_features = cpu.cpuFeatures;
      target->tuning = tunings[set].recordText();
      if (const codegen::RuntimeChoices &choices = tunings[set].runtimeChoices(); choices.tuned) {
        target->runtime_tuning = std::make_unique<fb::RuntimeTuningT>();
        target->runtime_tuning->prefill_threads = choices.prefillThreads;
        target->runtime_tuning->decode_threads = choices.decodeThreads;
        target->runtime_tuning->huge_pages = choices.hugePages;
        target->runtime_tuning->prefill_chunk = choices.prefillChunk;
      }
      return target;
    };
    if (cuda) {
      contents.manifest.target = std::make_unique<fb::TargetT>();
      contents.manifest.target->name = options.target;
    } else {
      contents.manifest.target = manifestTarget(0);
      contents.kernelLibrary = std::move(cpuLibraries[0]);
      for (size_t i = 1; i < cpuTargets.size(); ++i)
        contents.extraKernelSets.push_back(
            {manifestTarget(i), std::move(cpuLibraries[i])});
    }
    contents.tokenizerJson = readFile(checkpointDir + "/tokenizer.json");
    writeArtifact(std::move(contents), options.outputPath, options.log);
  }
  return {};
}

} // namespace loom
