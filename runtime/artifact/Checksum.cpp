#include "loom/Checksum.h"

#include <xxhash.h>

namespace loom {

uint64_t artifactChecksum(const void *bytes, size_t size) { return XXH3_64bits(bytes, size); }

} // namespace loom
