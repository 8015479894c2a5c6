// The fixed-size preamble that starts every .loom file, shared by writer and reader.
// Layout: preamble (64 bytes) | FlatBuffer manifest (schemas/loom.fbs) | 4096-aligned segments.
#pragma once

#include <cstdint>

namespace loom {

inline constexpr char kArtifactMagic[8] = {'L', 'O', 'O', 'M', 'A', 'R', 'T', '\0'};
// Bumped on any incompatible change of the preamble or manifest; see docs/ARTIFACT.md.
// 2: XXH3-64 checksums of the manifest (preamble) and of every segment (Segment.checksum).
inline constexpr uint32_t kArtifactFormatVersion = 2;
// 2: KvCacheLayer.keys_only (k_eq_v layers caching the raw k once). The compiler asks for a
// version only when it uses what that version added, so other artifacts still run on 1.
// 3: Tensor.row_group (Q4 matrices of CPU targets stored in groups of 8 rows).
// 4: Tensor.column_panel (long Q4 rows of CPU targets stored in column panels).
// 5: column panels for long Q8 rows too.
// 6: ValueKind.TokenPositions (kernels that read each token's position, batched per step).
inline constexpr uint32_t kRuntimeVersion = 6;
inline constexpr uint32_t kKeysOnlyKvRuntimeVersion = 2;
inline constexpr uint32_t kRowGroupRuntimeVersion = 3;
inline constexpr uint32_t kColumnPanelRuntimeVersion = 4;
inline constexpr uint32_t kQ8ColumnPanelRuntimeVersion = 5;
inline constexpr uint32_t kTokenPositionsRuntimeVersion = 6;
inline constexpr uint64_t kSegmentAlignment = 4096;
inline constexpr uint64_t kTensorAlignment = 64;

struct ArtifactPreamble {
  char magic[8];
  uint32_t formatVersion;
  uint32_t reserved;
  uint64_t manifestOffset; // always sizeof(ArtifactPreamble)
  uint64_t manifestSize;
  uint64_t fileSize;       // whole file, to detect truncation before anything else is read
  uint64_t manifestChecksum; // XXH3-64 of the manifest's bytes (loom/Checksum.h)
  uint8_t padding[16];
};
static_assert(sizeof(ArtifactPreamble) == 64, "the preamble is 64 bytes on disk");

inline uint64_t alignUp(uint64_t value, uint64_t alignment) {
  return (value + alignment - 1) / alignment * alignment;
}

} // namespace loom
