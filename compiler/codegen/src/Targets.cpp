// Loom target names -> Halide target strings and the CPU features the runtime must check.
#include "loom/Codegen/KernelSpec.h"
#include "loom/Error.h"

namespace loom::codegen {
namespace {

struct TargetInfo {
  const char *loomName;
  const char *halideTarget;
  std::vector<std::string> cpuFeatures;
};

const std::vector<TargetInfo> &targets() {
  static const std::vector<TargetInfo> table = {
      {"x86-64", "x86-64-linux-avx-avx2-f16c-fma-sse41", {"avx2", "fma"}},
      {"x86-64-avx512", "x86-64-linux-avx-avx2-f16c-fma-sse41-avx512-avx512_skylake",
       {"avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512dq"}},
      // Halide 14: avx512_cannonlake adds IFMA+VBMI, avx512_sapphirerapids adds VNNI+BF16.
      {"x86-64-avx512-vnni-bf16",
       "x86-64-linux-avx-avx2-f16c-fma-sse41-avx512-avx512_skylake-avx512_cannonlake-"
       "avx512_sapphirerapids",
       {"avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512ifma",
        "avx512vbmi", "avx512vnni", "avx512bf16"}},
  };
  return table;
}

bool cpuHas(const std::string &feature) {
  __builtin_cpu_init();
#define LOOM_CPU_FEATURE(name)                                                                 \
  if (feature == #name)                                                                        \
    return __builtin_cpu_supports(#name);
  LOOM_CPU_FEATURE(avx2)
  LOOM_CPU_FEATURE(fma)
  LOOM_CPU_FEATURE(avx512f)
  LOOM_CPU_FEATURE(avx512bw)
  LOOM_CPU_FEATURE(avx512vl)
  LOOM_CPU_FEATURE(avx512dq)
  LOOM_CPU_FEATURE(avx512ifma)
  LOOM_CPU_FEATURE(avx512vbmi)
  LOOM_CPU_FEATURE(avx512vnni)
  LOOM_CPU_FEATURE(avx512bf16)
#undef LOOM_CPU_FEATURE
  return false;
}

const TargetInfo &lookup(const std::string &loomTarget) {
  std::string name = resolveLoomTarget(loomTarget);
  for (const TargetInfo &info : targets())
    if (name == info.loomName)
      return info;
  std::string supported;
  for (const TargetInfo &info : targets())
    supported += std::string(info.loomName) + ", ";
  fail("unknown CPU target '", loomTarget, "'; supported targets: ", supported, "host");
}

} // namespace

std::string resolveLoomTarget(const std::string &loomTarget) {
  if (loomTarget != "host")
    return loomTarget;
  std::string best;
  for (const TargetInfo &info : targets()) {
    bool ok = true;
    for (const std::string &feature : info.cpuFeatures)
      ok = ok && cpuHas(feature);
    if (ok)
      best = info.loomName;
  }
  if (best.empty())
    fail("target 'host': this CPU lacks AVX2/FMA, which every Loom CPU target needs");
  return best;
}

std::string halideTargetFor(const std::string &loomTarget) { return lookup(loomTarget).halideTarget; }

std::vector<std::string> cpuFeaturesFor(const std::string &loomTarget) {
  return lookup(loomTarget).cpuFeatures;
}

} // namespace loom::codegen
