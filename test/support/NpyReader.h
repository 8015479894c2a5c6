// Reads the float32 C-order .npy files that loom-run --logits-out writes, for the test programs
// that compare logits (golden-check, loom-accuracy).
#pragma once

#include <cstdint>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace loom::test {

struct Npy {
  std::vector<int64_t> shape;
  std::vector<float> data;
};

// False with `error` naming the file and the problem when it is not such a file.
inline bool readNpy(const std::string &path, Npy &out, std::string &error) {
  std::ifstream in(path, std::ios::binary);
  char magic[8];
  if (!in.read(magic, 8) || std::memcmp(magic, "\x93NUMPY", 6) != 0) {
    error = path + ": not a .npy file";
    return false;
  }
  uint32_t headerLength = 0;
  if (magic[6] == 1) {
    uint16_t length16 = 0;
    in.read(reinterpret_cast<char *>(&length16), 2);
    headerLength = length16;
  } else {
    in.read(reinterpret_cast<char *>(&headerLength), 4);
  }
  std::string header(headerLength, '\0');
  in.read(header.data(), headerLength);
  if (header.find("'<f4'") == std::string::npos || header.find("'fortran_order': False") == std::string::npos) {
    error = path + ": expected little-endian float32 in C order, header: " + header;
    return false;
  }
  auto open = header.find('('), close = header.find(')');
  std::stringstream dims(header.substr(open + 1, close - open - 1));
  std::string dim;
  int64_t count = 1;
  while (std::getline(dims, dim, ','))
    if (dim.find_first_not_of(' ') != std::string::npos) {
      out.shape.push_back(std::stoll(dim));
      count *= out.shape.back();
    }
  out.data.resize(count);
  if (!in.read(reinterpret_cast<char *>(out.data.data()), count * sizeof(float))) {
    error = path + ": truncated data";
    return false;
  }
  return true;
}

} // namespace loom::test
