// The checksum of .loom manifests and segments: XXH3-64 (libxxhash), which hashes at memory
// bandwidth, so verifying a segment costs about as much as reading it once.
#pragma once

#include <cstddef>
#include <cstdint>

namespace loom {

uint64_t artifactChecksum(const void *bytes, size_t size);

} // namespace loom
