// Writing float32 NumPy .npy files (format 1.0): magic, version, header dict padded with spaces
// to a multiple of 64 bytes and ended by '\n', then the raw little-endian data.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

namespace loom {

// The full header (magic .. '\n') for a C-order '<f4' array of `shape`. Its length is a
// multiple of 64 and at least minLength (rounded up to 64).
std::string npyHeaderF32(const std::vector<int64_t> &shape, size_t minLength = 0);

void writeNpyF32(const std::string &path, const float *data, const std::vector<int64_t> &shape);

// Streams rows of a [rows, columns] float32 array whose row count is known only at the end.
class NpyRowWriter {
public:
  NpyRowWriter(const std::string &path, int64_t columns);
  ~NpyRowWriter();
  NpyRowWriter(const NpyRowWriter &) = delete;
  NpyRowWriter &operator=(const NpyRowWriter &) = delete;
  void append(const float *rows, int64_t count);
  void close(); // rewrites the header with the final row count; throws loom::Error on I/O errors
  int64_t rows() const { return rows_; }

private:
  std::string path_;
  std::FILE *file_ = nullptr;
  int64_t columns_ = 0, rows_ = 0;
  size_t headerLength_ = 0;
};

} // namespace loom
