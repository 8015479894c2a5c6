// Test helpers for .loom manifests: build a Value, and edit the manifest of a file in memory
// and seal it again (the preamble's manifest checksum recomputed), so that an edit reaches the
// reader's checks behind the checksum.
#pragma once

#include "loom/ArtifactFormat.h"
#include "loom/Checksum.h"
#include "loom/Schema/loom_generated.h"

#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <vector>

namespace loom::test {

inline std::unique_ptr<fb::ValueT> value(fb::ValueKind kind, uint32_t index, fb::DType dtype,
                                  std::vector<int64_t> shape, uint64_t offsetPerToken = 0) {
  auto v = std::make_unique<fb::ValueT>();
  v->kind = kind;
  v->index = index;
  v->dtype = dtype;
  v->shape = std::move(shape);
  v->offset_per_token = offsetPerToken;
  return v;
}


// Recomputes the preamble's manifest checksum of the whole file `bytes`.
inline void sealManifest(std::vector<uint8_t> &bytes) {
  ArtifactPreamble preamble;
  std::memcpy(&preamble, bytes.data(), sizeof(preamble));
  preamble.manifestChecksum =
      artifactChecksum(bytes.data() + preamble.manifestOffset, size_t(preamble.manifestSize));
  std::memcpy(bytes.data(), &preamble, sizeof(preamble));
}

// Re-packs the manifest of `bytes` after `edit` and seals it. Returns false, leaving `bytes`
// as they were, when the edit changed the manifest's size (only value edits keep it).
inline bool editManifest(std::vector<uint8_t> &bytes, const std::function<void(fb::ModelT &)> &edit) {
  ArtifactPreamble preamble;
  std::memcpy(&preamble, bytes.data(), sizeof(preamble));
  std::unique_ptr<fb::ModelT> model(fb::GetModel(bytes.data() + preamble.manifestOffset)->UnPack());
  edit(*model);
  flatbuffers::FlatBufferBuilder builder;
  builder.ForceDefaults(true); // as the writer: defaults stored, so value edits keep the size
  fb::FinishModelBuffer(builder, fb::Model::Pack(builder, model.get()));
  if (builder.GetSize() != preamble.manifestSize)
    return false;
  std::memcpy(bytes.data() + preamble.manifestOffset, builder.GetBufferPointer(), builder.GetSize());
  sealManifest(bytes);
  return true;
}

} // namespace loom::test
