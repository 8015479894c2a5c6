// Streaming reader and writer for the safetensors format:
//   8-byte little-endian header length N, N bytes of JSON header, then the data region.
// The header maps each tensor name to {dtype, shape, data_offsets [begin, end)} relative to the
// data region; "__metadata__" holds string->string metadata.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace loom {

enum class DType { BF16, F16, F32 };

const char *dtypeName(DType dtype);       // "BF16", "F16", "F32" (safetensors spelling)
size_t dtypeSize(DType dtype);            // bytes per element
bool parseDType(const std::string &name, DType &out); // safetensors spelling; false if unsupported

struct SafetensorsEntry {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  uint64_t offset = 0; // absolute offset of the data in the file
  uint64_t bytes = 0;
};

class SafetensorsFile {
public:
  // Reads and validates the header only (never the tensor data). Throws loom::Error naming the
  // file, the tensor and what was expected.
  static SafetensorsFile open(const std::string &path);

  const std::string &path() const { return path_; }
  uint64_t fileSize() const { return fileSize_; }
  uint64_t dataOffset() const { return dataOffset_; } // 8 + header length
  const std::vector<SafetensorsEntry> &entries() const { return entries_; } // in header order
  const std::map<std::string, std::string> &metadata() const { return metadata_; }
  const SafetensorsEntry *find(const std::string &name) const;

  // pread `bytes` bytes starting `byteOffset` bytes into the tensor's data. Throws on a range
  // outside the tensor or a short read.
  void read(const SafetensorsEntry &entry, uint64_t byteOffset, void *dst, size_t bytes) const;
  // Reads a whole tensor; dst must hold entry.bytes bytes.
  void read(const std::string &name, void *dst) const;

private:
  struct Fd;
  std::string path_;
  std::shared_ptr<Fd> fd_;
  uint64_t fileSize_ = 0, dataOffset_ = 0;
  std::vector<SafetensorsEntry> entries_;
  std::map<std::string, size_t> index_;
  std::map<std::string, std::string> metadata_;
};

// Fills `bytes` bytes of the tensor's data starting at `byteOffset` (a multiple of the element size).
using TensorFiller = std::function<void(uint64_t byteOffset, void *dst, size_t bytes)>;

struct TensorToWrite {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  TensorFiller fill;
};

// Writes a safetensors file with bounded memory: the header (offsets computed up front, in the
// given order, padded to 8 bytes), then each tensor's data in chunks of about `chunkBytes`
// produced by its filler; filling the next chunk overlaps writing the previous one.
// Writes path + ".tmp" and renames it to path on success; removes the .tmp on failure.
// Returns the file size.
uint64_t writeSafetensors(const std::string &path, const std::vector<TensorToWrite> &tensors,
                          const std::map<std::string, std::string> &metadata = {{"format", "pt"}},
                          size_t chunkBytes = 16u << 20);

} // namespace loom
