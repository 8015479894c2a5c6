#include "loom/Runtime/Npy.h"

#include "loom/Error.h"

#include <cerrno>
#include <cstring>

namespace loom {

std::string npyHeaderF32(const std::vector<int64_t> &shape, size_t minLength) {
  std::string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (";
  for (size_t i = 0; i < shape.size(); ++i) {
    dict += std::to_string(shape[i]);
    if (shape.size() == 1 || i + 1 < shape.size())
      dict += ",";
    if (i + 1 < shape.size())
      dict += " ";
  }
  dict += "), }";
  const size_t prefix = 10; // magic (6) + version (2) + header length (2)
  size_t total = prefix + dict.size() + 1;
  total = (total + 63) / 64 * 64;
  if (minLength > total)
    total = (minLength + 63) / 64 * 64;
  const size_t headerLength = total - prefix;
  if (headerLength > 65535)
    fail("npy: header too long");
  dict.append(headerLength - dict.size() - 1, ' ');
  dict += '\n';
  std::string out("\x93NUMPY", 6);
  out += '\x01';
  out += '\x00';
  out += static_cast<char>(headerLength & 0xff);
  out += static_cast<char>((headerLength >> 8) & 0xff);
  out += dict;
  return out;
}

void writeNpyF32(const std::string &path, const float *data, const std::vector<int64_t> &shape) {
  size_t count = 1;
  for (int64_t d : shape) {
    if (d < 0)
      fail(path, ": negative dimension ", d, " in .npy shape");
    count *= static_cast<size_t>(d);
  }
  std::FILE *file = std::fopen(path.c_str(), "wb");
  if (file == nullptr)
    fail(path, ": cannot write: ", std::strerror(errno));
  std::string header = npyHeaderF32(shape);
  bool ok = std::fwrite(header.data(), 1, header.size(), file) == header.size() &&
            (count == 0 || std::fwrite(data, sizeof(float), count, file) == count);
  ok = (std::fclose(file) == 0) && ok;
  if (!ok)
    fail(path, ": error writing .npy data");
}

NpyRowWriter::NpyRowWriter(const std::string &path, int64_t columns)
    : path_(path), columns_(columns) {
  file_ = std::fopen(path.c_str(), "wb");
  if (file_ == nullptr)
    fail(path, ": cannot write: ", std::strerror(errno));
  // Room for any row count: the final header is written over this one at close().
  std::string header = npyHeaderF32({int64_t{1} << 60, columns});
  headerLength_ = header.size();
  if (std::fwrite(header.data(), 1, header.size(), file_) != header.size())
    fail(path, ": error writing .npy header");
}

NpyRowWriter::~NpyRowWriter() {
  if (file_) {
    try {
      close();
    } catch (...) {
    }
  }
}

void NpyRowWriter::append(const float *rows, int64_t count) {
  if (file_ == nullptr)
    fail(path_, ": .npy writer already closed");
  size_t n = static_cast<size_t>(count * columns_);
  if (n != 0 && std::fwrite(rows, sizeof(float), n, file_) != n)
    fail(path_, ": error writing .npy data: ", std::strerror(errno));
  rows_ += count;
}

void NpyRowWriter::close() {
  if (file_ == nullptr)
    return;
  std::FILE *file = file_;
  file_ = nullptr;
  std::string header = npyHeaderF32({rows_, columns_}, headerLength_);
  bool ok = header.size() == headerLength_ && std::fseek(file, 0, SEEK_SET) == 0 &&
            std::fwrite(header.data(), 1, header.size(), file) == header.size();
  ok = (std::fclose(file) == 0) && ok;
  if (!ok)
    fail(path_, ": error finishing .npy file");
}

} // namespace loom
