// Loom's CPU targets: each is the exact set of CPU features its code may use (the Halide 21
// target string that makes LLVM emit nothing outside it, and the same set in
// __builtin_cpu_supports spelling for the manifest and the runtime's check).
#include "loom/Codegen/KernelSpec.h"
#include "loom/Error.h"
#include "loom/Runtime/CpuFeatures.h"

#include <algorithm>
#include <sstream>

namespace loom::codegen {
namespace {

// x86-64-v3 (AVX2, FMA, F16C, BMI1/2, LZCNT, MOVBE). Halide's AVX2 targets compile with
// LLVM's -mcpu=haswell, whose extra features (AES, PCLMUL, RDRND, ...) no kernel uses: the ISA
// audit (tools/loom-isa-audit) fails a kernel that does.
const std::vector<std::string> kV3 = {"sse3", "ssse3", "sse4.1", "sse4.2", "popcnt", "avx",
                                      "avx2", "fma",   "f16c",   "bmi",    "bmi2",   "lzcnt",
                                      "movbe"};
const std::vector<std::string> kV4 = {"avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl"};
// What LLVM's -mcpu=znver4 adds to x86-64-v4 (AMD Zen 4: no AVX-VNNI, no AVX512-FP16).
const std::vector<std::string> kZen4 = {"avx512ifma",   "avx512vbmi",      "avx512vbmi2",
                                        "avx512vnni",   "avx512bf16",      "avx512bitalg",
                                        "avx512vpopcntdq", "gfni",         "vaes",
                                        "vpclmulqdq"};

std::vector<std::string> concat(std::initializer_list<std::vector<std::string>> parts) {
  std::vector<std::string> all;
  for (const std::vector<std::string> &part : parts)
    all.insert(all.end(), part.begin(), part.end());
  return all;
}

constexpr const char *kHalideV3 = "x86-64-linux-avx-avx2-f16c-fma-sse41";

// Least to most capable: `host` takes the last one the CPU can run.
const std::vector<CpuTarget> &targetTable() {
  static const std::vector<CpuTarget> table = {
      {"x86-64-v3", kHalideV3, kV3},
      {"x86-64-v4", std::string(kHalideV3) + "-avx512-avx512_skylake", concat({kV3, kV4})},
      // Halide: avx512_zen4 -> LLVM -mcpu=znver4.
      {"zen4", std::string(kHalideV3) + "-avx512-avx512_skylake-avx512_cannonlake-avx512_zen4",
       concat({kV3, kV4, kZen4})},
      // Halide: avx512_sapphirerapids -> LLVM -mcpu=sapphirerapids, which adds AVX-VNNI and
      // AVX512-FP16 to Zen 4's set (and AMX, which LLVM never emits on its own).
      {"sapphirerapids",
       std::string(kHalideV3) +
           "-avxvnni-avx512-avx512_skylake-avx512_cannonlake-avx512_sapphirerapids",
       concat({kV3, kV4, kZen4, {"avxvnni", "avx512fp16"}})},
  };
  return table;
}

// Old names: the two that meant one exact feature set stay as aliases; the third compiled for
// the whole Sapphire Rapids CPU while it promised only AVX-512 VNNI/BF16, so it is refused.
const char *aliasOf(const std::string &name) {
  if (name == "x86-64")
    return "x86-64-v3";
  if (name == "x86-64-avx512")
    return "x86-64-v4";
  return nullptr;
}

std::string targetNames() {
  std::string names;
  for (const CpuTarget &t : targetTable())
    names += t.name + ", ";
  return names + "host, portable";
}

} // namespace

const std::vector<CpuTarget> &cpuTargets() { return targetTable(); }

const CpuTarget &cpuTarget(const std::string &name) {
  if (name == "host")
    return cpuTarget(resolveLoomTarget(name));
  const std::string canonical = aliasOf(name) ? aliasOf(name) : name;
  for (const CpuTarget &t : targetTable())
    if (t.name == canonical)
      return t;
  if (name == "x86-64-avx512-vnni-bf16")
    fail("CPU target 'x86-64-avx512-vnni-bf16' is no longer accepted: it compiled for the whole "
         "Sapphire Rapids CPU (AVX512-FP16, AVX-VNNI), which AMD Zen 4 lacks; use 'zen4' "
         "(AVX-512 VNNI/BF16 without those) or 'sapphirerapids'");
  fail("unknown CPU target '", name, "'; supported targets: ", targetNames());
}

bool cpuCanRun(const CpuTarget &target) { return missingCpuFeatures(target.cpuFeatures).empty(); }

std::string resolveLoomTarget(const std::string &loomTarget) {
  if (loomTarget != "host")
    return cpuTarget(loomTarget).name;
  const std::vector<CpuTarget> &table = targetTable();
  for (auto t = table.rbegin(); t != table.rend(); ++t)
    if (cpuCanRun(*t))
      return t->name;
  fail("target 'host': this CPU lacks part of x86-64-v3 (AVX2, FMA, F16C, BMI1/2, LZCNT, MOVBE), "
       "which every Loom CPU target needs");
}

std::vector<std::string> resolveLoomTargets(const std::string &list) {
  if (list == "portable")
    return {"x86-64-v3", "x86-64-v4", "zen4"};
  std::vector<std::string> names;
  std::istringstream items(list);
  std::string item;
  while (std::getline(items, item, ',')) {
    if (item.empty())
      fail("target list '", list, "' has an empty entry");
    if (item == "portable")
      fail("target list '", list, "': 'portable' stands alone");
    names.push_back(resolveLoomTarget(item));
  }
  if (names.empty())
    fail("empty target list");
  // Least to most capable, each once: the runtime takes the last set its CPU can run.
  auto rank = [](const std::string &name) {
    const std::vector<CpuTarget> &table = targetTable();
    return std::find_if(table.begin(), table.end(),
                        [&](const CpuTarget &t) { return t.name == name; }) -
           table.begin();
  };
  std::sort(names.begin(), names.end(),
            [&](const std::string &a, const std::string &b) { return rank(a) < rank(b); });
  names.erase(std::unique(names.begin(), names.end()), names.end());
  return names;
}

std::string halideTargetFor(const std::string &loomTarget) {
  return cpuTarget(loomTarget).halideTarget;
}

std::string loomTargetForHalide(const std::string &halideTarget) {
  for (const CpuTarget &t : targetTable())
    if (t.halideTarget == halideTarget)
      return t.name;
  return "";
}

std::vector<std::string> cpuFeaturesFor(const std::string &loomTarget) {
  return cpuTarget(loomTarget).cpuFeatures;
}

} // namespace loom::codegen
