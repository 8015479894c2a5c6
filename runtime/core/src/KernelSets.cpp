#include "loom/Runtime/KernelSets.h"

#include "loom/Error.h"
#include "loom/Runtime/CpuFeatures.h"

namespace loom {
namespace {

std::vector<std::string> featuresOf(const fb::Target *target) {
  std::vector<std::string> features;
  if (target && target->cpu_features())
    for (const auto *feature : *target->cpu_features())
      features.push_back(feature->str());
  return features;
}

std::string nameOf(const fb::Target *target) {
  return target && target->name() ? target->name()->str() : "<unnamed>";
}

} // namespace

std::vector<KernelSetRef> kernelSets(const fb::Model &manifest) {
  std::vector<KernelSetRef> sets;
  if (manifest.kernel_sets() && manifest.kernel_sets()->size() > 0) {
    for (const fb::KernelSet *set : *manifest.kernel_sets())
      sets.push_back({set->target(), set->library_segment()});
  } else {
    sets.push_back({manifest.target(), manifest.kernel_library_segment()});
  }
  return sets;
}

size_t chooseKernelSet(const fb::Model &manifest, const std::string &artifactName) {
  const std::vector<KernelSetRef> sets = kernelSets(manifest);
  if (sets.size() == 1) {
    checkCpuFeatures(featuresOf(sets[0].target), artifactName);
    return 0;
  }
  std::string lacks;
  for (size_t i = sets.size(); i-- > 0;) {
    std::vector<std::string> missing = missingCpuFeatures(featuresOf(sets[i].target));
    if (missing.empty())
      return i;
    std::string list;
    for (const std::string &feature : missing)
      list += (list.empty() ? "" : ", ") + feature;
    lacks += (lacks.empty() ? "" : "; ") + nameOf(sets[i].target) + " needs " + list;
  }
  fail(artifactName, ": cannot run this artifact on this machine: none of its ", sets.size(),
       " kernel sets fits this CPU (", lacks, "). Recompile it for this machine's target.");
}

} // namespace loom
