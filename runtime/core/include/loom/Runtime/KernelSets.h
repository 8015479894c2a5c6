// The kernel sets of an artifact (manifest.kernel_sets, or the one `target` of artifacts made
// before them) and the one this CPU runs.
#pragma once

#include "loom/Schema/loom_generated.h"

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace loom {

struct KernelSetRef {
  const fb::Target *target;
  uint32_t librarySegment;
};

// Least to most capable, as the manifest lists them.
std::vector<KernelSetRef> kernelSets(const fb::Model &manifest);

// The index in kernelSets(manifest) of the set this CPU runs: the last one whose every
// cpu_feature it has. Throws loom::Error naming `artifactName` and what each set lacks.
size_t chooseKernelSet(const fb::Model &manifest, const std::string &artifactName);

} // namespace loom
