// A verified, memory-mapped .loom artifact. open() checks everything before returning:
// preamble magic and format version, file size against the preamble (truncation), the
// FlatBuffers verifier, and the bounds and alignment of every segment, tensor and value.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

namespace loom {
namespace fb {
struct Model;
}

struct ByteSpan {
  const uint8_t *data = nullptr;
  uint64_t size = 0;
};

class Artifact {
public:
  // Throws loom::Error naming the file and what is wrong.
  static std::shared_ptr<const Artifact> open(const std::string &path);
  ~Artifact();

  const std::string &path() const { return path_; }
  const fb::Model &manifest() const { return *manifest_; }
  ByteSpan segment(uint32_t index) const;
  ByteSpan tensorData(uint32_t tensorIndex) const;
  uint64_t fileSize() const { return size_; }

private:
  Artifact() = default;
  std::string path_;
  const uint8_t *base_ = nullptr;
  uint64_t size_ = 0;
  const fb::Model *manifest_ = nullptr;
};

} // namespace loom
