// loom-kernelgen: one generated kernel's assembly (or lowered statement, or object file), or
// a library of every kernel family for one target, or the list of CPU targets.
//
//   loom-kernelgen --kind linear --in 3840 --out 15360 --weights bf16 --target zen4 \
//       --emit asm -o kernel.s
//   loom-kernelgen --all-families --target zen4 -o zen4.so
//   loom-kernelgen --list-targets
#include "KernelFamilies.h"

#include "loom/Codegen/KernelSpec.h"
#include "loom/Codegen/Tuning.h"
#include "loom/Error.h"

#include <CLI/CLI.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <optional>
#include <unistd.h>

using namespace loom::codegen;

int main(int argc, char **argv) {
  CLI::App app{"loom-kernelgen: generate one Loom kernel and write its assembly, lowered "
               "statement or object file"};
  std::string kind, weights = "f32", target = "host", emit = "asm", output = "-", symbol = "kernel";
  int64_t in = 0, out = 0, width = 0, groups = 1, qHeads = 0, kvHeads = 0, headDim = 0,
          window = 0, capacity = 0, vocab = 0, heads = 0, rotatedPairs = -1;
  double eps = 1e-6, scale = 1.0, cap = 30.0, theta = 10000.0;
  bool bias = false, noWeight = false, causalOnly = false, allFamilies = false, listTargets = false;
  app.add_flag("--list-targets", listTargets,
               "print each CPU target: name, Halide target, CPU features, and whether this CPU "
               "runs it");
  app.add_flag("--all-families", allFamilies,
               "build every kernel family (each weight type, 12B shapes) for --target into one "
               "shared library at -o");
  app.add_option("--kind", kind, "linear, attention, rms_norm, embed_tokens, rope, geglu, softcap, add")
      ->check(CLI::IsMember({"linear", "attention", "rms_norm", "embed_tokens", "rope", "geglu",
                             "softcap", "add"}));
  app.add_option("--weights", weights, "Weight type: f32, bf16, q8, q4g32, q4g128");
  app.add_option("--target", target,
                 "Loom CPU target: x86-64-v3, x86-64-v4, zen4, sapphirerapids, "
                 "host");
  app.add_option("--emit", emit, "asm, stmt or obj")->check(CLI::IsMember({"asm", "stmt", "obj"}));
  app.add_option("-o,--output", output, "Output file ('-': stdout; not for obj)");
  app.add_option("--symbol", symbol, "The kernel's function name");
  app.add_option("--in", in, "linear: input features");
  app.add_option("--out", out, "linear: output features");
  app.add_flag("--bias", bias, "linear: with a bias");
  app.add_option("--width", width, "rms_norm/geglu/softcap/add/embed_tokens: row width");
  app.add_option("--groups", groups, "rms_norm: groups per token");
  app.add_flag("--no-weight", noWeight, "rms_norm: without a scale");
  app.add_option("--eps", eps, "rms_norm: epsilon");
  app.add_option("--vocab", vocab, "embed_tokens: rows of the table");
  app.add_option("--scale", scale, "embed_tokens/attention: scale");
  app.add_option("--cap", cap, "softcap: cap");
  app.add_option("--heads", heads, "rope: heads");
  app.add_option("--theta", theta, "rope: theta");
  app.add_option("--rotated-pairs", rotatedPairs, "rope: rotated pairs (default head_dim / 2)");
  app.add_option("--q-heads", qHeads, "attention: query heads");
  app.add_option("--kv-heads", kvHeads, "attention: key/value heads");
  app.add_option("--head-dim", headDim, "attention/rope: head dimension");
  app.add_option("--window", window, "attention: sliding window (0: none)");
  app.add_option("--capacity", capacity, "attention: KV cache slots");
  app.add_flag("--causal-only", causalOnly, "attention: no bidirectional image blocks");
  std::string tuningPath;
  app.add_option("--tuning", tuningPath,
                 "a loom-tune record (docs/TUNING.md) whose parameters the kernel takes; one made "
                 "for another target or CPU is used with a warning");
  CLI11_PARSE(app, argc, argv);

  try {
    if (listTargets) {
      for (const CpuTarget &t : cpuTargets()) {
        std::cout << t.name << " " << t.halideTarget << " ";
        for (size_t i = 0; i < t.cpuFeatures.size(); ++i)
          std::cout << (i ? "," : "") << t.cpuFeatures[i];
        std::cout << (cpuCanRun(t) ? " runs-here" : " not-here") << "\n";
      }
      return 0;
    }
    if (allFamilies) {
      if (output == "-")
        loom::fail("--all-families needs -o FILE.so");
      char work[] = "/tmp/loom-kernelgen-XXXXXX";
      if (!mkdtemp(work))
        loom::fail("cannot create a temporary directory in /tmp");
      std::vector<uint8_t> library;
      try {
        library = buildKernelLibrary(loom::kernelgen::allKernelFamilies(), halideTargetFor(target), work);
      } catch (...) {
        std::filesystem::remove_all(work);
        throw;
      }
      std::filesystem::remove_all(work);
      std::ofstream out(output, std::ios::binary);
      out.write(reinterpret_cast<const char *>(library.data()), std::streamsize(library.size()));
      if (!out.flush())
        loom::fail(output, ": cannot write");
      return 0;
    }
    if (kind.empty())
      loom::fail("--kind is required (or --all-families, or --list-targets)");
    ElementType type;
    try {
      type = loom::codegen::parseElementType(weights);
    } catch (const loom::Error &e) {
      loom::fail("--weights: ", e.what());
    }
    auto need = [](int64_t value, const char *flag) {
      if (value <= 0)
        loom::fail(flag, " must be given and positive");
    };
    KernelSpec spec{symbol, type, Add{0}};
    if (kind == "linear") {
      need(in, "--in");
      need(out, "--out");
      spec.params = Linear{in, out, bias};
    } else if (kind == "attention") {
      need(qHeads, "--q-heads");
      need(kvHeads, "--kv-heads");
      need(headDim, "--head-dim");
      spec.params = Attention{qHeads, kvHeads, headDim, window, capacity, scale, !causalOnly};
    } else if (kind == "rms_norm") {
      need(width, "--width");
      spec.params = RmsNorm{groups, width, !noWeight, eps};
    } else if (kind == "embed_tokens") {
      need(vocab, "--vocab");
      need(width, "--width");
      spec.params = EmbedTokens{vocab, width, scale};
    } else if (kind == "rope") {
      need(heads, "--heads");
      need(headDim, "--head-dim");
      spec.params = Rope{heads, headDim, theta, rotatedPairs < 0 ? headDim / 2 : rotatedPairs};
    } else if (kind == "geglu") {
      need(width, "--width");
      spec.params = GeGlu{width};
    } else if (kind == "softcap") {
      need(width, "--width");
      spec.params = Softcap{width, cap};
    } else {
      need(width, "--width");
      spec.params = Add{width};
    }
    const KernelOutput what = emit == "asm" ? KernelOutput::Assembly
                              : emit == "stmt" ? KernelOutput::LoweredStmt
                                               : KernelOutput::Object;
    if (output == "-" && what == KernelOutput::Object)
      loom::fail("--emit obj needs -o FILE");
    const std::string halideTarget = halideTargetFor(target);
    std::optional<Tuning> tuning;
    if (!tuningPath.empty()) {
      std::vector<std::string> warnings;
      tuning = Tuning::fromRecord(Tuning::readRecordFile(tuningPath), tuningPath,
                                  resolveLoomTarget(target), CpuIdentity::host(),
                                  TuningMismatch::Warn, warnings);
      for (const std::string &warning : warnings)
        std::fprintf(stderr, "loom-kernelgen: warning: %s\n", warning.c_str());
    }
    const Tuning *parameters = tuning ? &*tuning : nullptr;
    if (output != "-") {
      emitKernel(spec, halideTarget, what, output, parameters);
      return 0;
    }
    char path[] = "/tmp/loom-kernelgen-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0)
      loom::fail("cannot create a temporary file in /tmp");
    close(fd);
    try {
      emitKernel(spec, halideTarget, what, path, parameters);
    } catch (...) {
      std::remove(path);
      throw;
    }
    std::ifstream text(path);
    std::cout << std::string(std::istreambuf_iterator<char>(text), {});
    std::remove(path);
  } catch (const loom::Error &e) {
    std::fprintf(stderr, "loom-kernelgen: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
