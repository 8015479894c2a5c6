// Tests the .npy header layout and the streaming row writer.
#include "loom/Runtime/Npy.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <unistd.h>

namespace {
std::string readFile(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}
std::string tempPath(const char *name) {
  return ::testing::TempDir() + "/" + name + std::to_string(::getpid()) + ".npy";
}
} // namespace

TEST(Npy, HeaderFormat) {
  std::string h = loom::npyHeaderF32({3, 5});
  ASSERT_EQ(h.size() % 64, 0u);
  EXPECT_EQ(h.substr(0, 6), std::string("\x93NUMPY", 6));
  EXPECT_EQ(h[6], '\x01');
  EXPECT_EQ(h[7], '\x00');
  size_t len = static_cast<unsigned char>(h[8]) | (static_cast<unsigned char>(h[9]) << 8);
  EXPECT_EQ(len + 10, h.size());
  EXPECT_EQ(h.back(), '\n');
  std::string dict = h.substr(10);
  EXPECT_EQ(dict.rfind("{'descr': '<f4', 'fortran_order': False, 'shape': (3, 5), }", 0), 0u)
      << dict;
  EXPECT_EQ(dict.find_first_not_of(' ', 59), dict.size() - 1);
  EXPECT_NE(loom::npyHeaderF32({7}).find("'shape': (7,), }"), std::string::npos);
  EXPECT_NE(loom::npyHeaderF32({}).find("'shape': (), }"), std::string::npos);
  EXPECT_EQ(loom::npyHeaderF32({1, 2}, 200).size(), 256u);
}

TEST(Npy, WritesArray) {
  std::string path = tempPath("npy_array");
  const float data[6] = {1, 2, 3, 4, 5, 6};
  loom::writeNpyF32(path, data, {2, 3});
  std::string bytes = readFile(path);
  std::string header = loom::npyHeaderF32({2, 3});
  ASSERT_EQ(bytes.size(), header.size() + sizeof data);
  EXPECT_EQ(bytes.substr(0, header.size()), header);
  EXPECT_EQ(std::memcmp(bytes.data() + header.size(), data, sizeof data), 0);
  std::remove(path.c_str());
}

TEST(Npy, RowWriterRewritesShape) {
  std::string path = tempPath("npy_rows");
  const float row[4] = {0.5f, -1.0f, 2.0f, 3.0f};
  {
    loom::NpyRowWriter writer(path, 4);
    writer.append(row, 1);
    writer.append(row, 1);
    writer.append(row, 1);
    writer.close();
    EXPECT_EQ(writer.rows(), 3);
  }
  std::string bytes = readFile(path);
  size_t len = static_cast<unsigned char>(bytes[8]) | (static_cast<unsigned char>(bytes[9]) << 8);
  ASSERT_EQ((len + 10) % 64, 0u);
  EXPECT_NE(bytes.substr(0, len + 10).find("'shape': (3, 4), }"), std::string::npos);
  EXPECT_EQ(bytes[len + 9], '\n');
  ASSERT_EQ(bytes.size(), len + 10 + 3 * sizeof row);
  EXPECT_EQ(std::memcmp(bytes.data() + len + 10 + 2 * sizeof row, row, sizeof row), 0);
  std::remove(path.c_str());
}
