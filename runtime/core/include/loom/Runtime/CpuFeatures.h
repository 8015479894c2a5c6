// The CPU features an artifact was compiled for (manifest.target.cpu_features, spelled as
// __builtin_cpu_supports spells them) checked against the running machine.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace loom {

// Whether this machine has `feature`; nullopt for a name the runtime does not know.
std::optional<bool> cpuSupports(const std::string &feature);

// Every feature name the runtime can check, in table order.
std::vector<std::string> knownCpuFeatures();

// The features of `required` this machine lacks or the runtime does not know, in order.
std::vector<std::string> missingCpuFeatures(const std::vector<std::string> &required);

// Throws loom::Error naming `artifactName`, every feature the machine lacks and every unknown
// feature name. Does nothing when all are present.
void checkCpuFeatures(const std::vector<std::string> &required, const std::string &artifactName);

// The CPUs this process may run on (its affinity mask), at least 1: more kernel threads than
// that only take turns on them.
int usableCpuCount();

} // namespace loom
