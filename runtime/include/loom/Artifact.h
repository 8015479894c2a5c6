// A verified, memory-mapped .loom artifact. open() checks everything before returning:
// preamble magic and format version, file size against the preamble (truncation), the
// manifest's checksum, the FlatBuffers verifier, every string (UTF-8, no NUL), and the bounds
// and alignment of every segment, tensor and value. Segment checksums are checked on demand
// (verifySegment): the runtime checks what it executes or parses at every load, the weights
// only when asked (`--verify`), since that reads the whole file.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

namespace loom {
namespace fb {
struct Model;
}
class AnonymousMemory;

struct ByteSpan {
  const uint8_t *data = nullptr;
  uint64_t size = 0;
};

// Where an artifact's bytes live once opened.
enum class ArtifactMemory {
  // The file mapped read-only: instant open, pages shared with the page cache, 4 KiB pages.
  Mapped,
  // The file read into anonymous memory that asks for 2 MiB transparent huge pages
  // (madvise): decode reads every weight once per token, and 4 KiB pages cost it a TLB miss
  // every 4 KiB. Without transparent huge pages the copy still works, with small pages.
  HugePageCopy,
  // Model::open only: HugePageCopy where the kernel set this CPU runs was tuned with huge pages
  // (loom-tune, RuntimeTuning), else Mapped.
  AsTuned,
};

class Artifact {
public:
  // Throws loom::Error naming the file and what is wrong.
  static std::shared_ptr<const Artifact> open(const std::string &path,
                                              ArtifactMemory memory = ArtifactMemory::Mapped);
  ~Artifact();

  const std::string &path() const { return path_; }
  const fb::Model &manifest() const { return *manifest_; }
  ByteSpan segment(uint32_t index) const;
  ByteSpan tensorData(uint32_t tensorIndex) const;
  // Throws loom::Error naming the segment when its bytes do not match its checksum.
  void verifySegment(uint32_t index) const;
  void verifyAllSegments() const;
  uint64_t fileSize() const { return size_; }
  // Whether the file was read into anonymous (huge page) memory rather than mapped.
  bool isHugePageCopy() const { return copy_ != nullptr; }

private:
  Artifact() = default;
  std::string path_;
  void *mapping_ = nullptr;                // ArtifactMemory::Mapped
  std::unique_ptr<AnonymousMemory> copy_; // ArtifactMemory::HugePageCopy
  const uint8_t *base_ = nullptr;
  uint64_t size_ = 0;
  const fb::Model *manifest_ = nullptr;
};

} // namespace loom
