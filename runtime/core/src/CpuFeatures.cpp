#include "loom/Runtime/CpuFeatures.h"

#include "loom/Error.h"

#include <sched.h>
#include <string_view>
#include <thread>

namespace loom {
namespace {

// __builtin_cpu_supports needs string literals. The names are those both clang and GCC 12's
// libgcc (whose __cpu_model clang reads on Debian 12) know.
struct FeatureProbe {
  const char *name;
  bool (*probe)();
};

#if defined(__x86_64__) || defined(__i386__)
#define LOOM_FEATURE(n) {n, [] { return __builtin_cpu_supports(n) != 0; }}
const FeatureProbe kFeatures[] = {
    LOOM_FEATURE("cmov"),        LOOM_FEATURE("mmx"),          LOOM_FEATURE("popcnt"),
    LOOM_FEATURE("sse"),         LOOM_FEATURE("sse2"),         LOOM_FEATURE("sse3"),
    LOOM_FEATURE("ssse3"),       LOOM_FEATURE("sse4.1"),       LOOM_FEATURE("sse4.2"),
    LOOM_FEATURE("avx"),         LOOM_FEATURE("avx2"),         LOOM_FEATURE("sse4a"),
    LOOM_FEATURE("fma4"),        LOOM_FEATURE("xop"),          LOOM_FEATURE("fma"),
    LOOM_FEATURE("bmi"),         LOOM_FEATURE("bmi2"),         LOOM_FEATURE("aes"),
    LOOM_FEATURE("pclmul"),      LOOM_FEATURE("f16c"),         LOOM_FEATURE("avx512f"),
    LOOM_FEATURE("avx512vl"),    LOOM_FEATURE("avx512bw"),     LOOM_FEATURE("avx512dq"),
    LOOM_FEATURE("avx512cd"),    LOOM_FEATURE("avx512vbmi"),   LOOM_FEATURE("avx512ifma"),
    LOOM_FEATURE("avx512vpopcntdq"), LOOM_FEATURE("avx512vbmi2"),
    LOOM_FEATURE("gfni"),        LOOM_FEATURE("vpclmulqdq"),   LOOM_FEATURE("avx512vnni"),
    LOOM_FEATURE("avx512bitalg"), LOOM_FEATURE("avx512bf16"),  LOOM_FEATURE("avx512vp2intersect"),
    LOOM_FEATURE("avx512fp16"),  LOOM_FEATURE("avxvnni"),      LOOM_FEATURE("amx-tile"),
    LOOM_FEATURE("amx-int8"),    LOOM_FEATURE("amx-bf16"),     LOOM_FEATURE("lzcnt"),
    LOOM_FEATURE("movbe"),       LOOM_FEATURE("vaes"),
};
#undef LOOM_FEATURE
#else
const FeatureProbe kFeatures[] = {{"", [] { return false; }}};
#endif

} // namespace

std::optional<bool> cpuSupports(const std::string &feature) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
#endif
  for (const FeatureProbe &f : kFeatures)
    if (f.name[0] != '\0' && feature == f.name)
      return f.probe();
  return std::nullopt;
}

std::vector<std::string> knownCpuFeatures() {
  std::vector<std::string> names;
  for (const FeatureProbe &f : kFeatures)
    if (f.name[0] != '\0')
      names.emplace_back(f.name);
  return names;
}

std::vector<std::string> missingCpuFeatures(const std::vector<std::string> &required) {
  std::vector<std::string> missing;
  for (const std::string &feature : required)
    if (cpuSupports(feature) != std::optional<bool>(true))
      missing.push_back(feature);
  return missing;
}

void checkCpuFeatures(const std::vector<std::string> &required, const std::string &artifactName) {
  std::string missing, unknown;
  for (const std::string &feature : required) {
    std::optional<bool> has = cpuSupports(feature);
    if (!has)
      unknown += (unknown.empty() ? "" : ", ") + ("'" + feature + "'");
    else if (!*has)
      missing += (missing.empty() ? "" : ", ") + feature;
  }
  if (missing.empty() && unknown.empty())
    return;
  std::string message = artifactName + ": cannot run this artifact on this machine:";
  if (!missing.empty())
    message += " it was compiled for CPU features this CPU lacks: " + missing + ".";
  if (!unknown.empty())
    message += " it requires CPU features this runtime does not know: " + unknown + ".";
  message += " Recompile it for this machine's target.";
  throw Error(message);
}

int usableCpuCount() {
  cpu_set_t cpus;
  CPU_ZERO(&cpus);
  if (sched_getaffinity(0, sizeof cpus, &cpus) == 0 && CPU_COUNT(&cpus) > 0)
    return CPU_COUNT(&cpus);
  const unsigned online = std::thread::hardware_concurrency();
  return online > 0 ? int(online) : 1;
}

} // namespace loom
