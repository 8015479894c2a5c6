// What a .loom artifact holds, as the JSON document `loom-inspect --json` prints (its fields:
// docs/INTERFACES.md): versions, target, kernel sets (and the one this CPU runs), config,
// segments, tensors, kernels, entry points, the KV cache plan and the planned memory. Also the
// Python package's Model.info.
#pragma once

#include "loom/Artifact.h"

#include <nlohmann/json.hpp>

#include <cstdint>

namespace loom {

// `tokens`: the token count the planned arena is sized for (1: a decode step).
nlohmann::ordered_json describeArtifact(const Artifact &artifact, int64_t tokens = 1);

} // namespace loom
