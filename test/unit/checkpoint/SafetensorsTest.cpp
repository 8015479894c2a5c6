#include "TestUtil.h"

#include "loom/Checkpoint/Safetensors.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cstring>
#include <filesystem>

using namespace loom;
using namespace loom::test;
using ::testing::HasSubstr;

namespace {

// A raw safetensors file with the given header JSON and `dataBytes` zero bytes of data.
std::string rawFile(const std::string &header, size_t dataBytes, uint64_t lengthOverride = 0) {
  uint64_t n = lengthOverride ? lengthOverride : header.size();
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i)
    out[i] = (char)(n >> (8 * i));
  return out + header + std::string(dataBytes, '\0');
}

std::string openError(const std::string &path) {
  return errorOf([&] { SafetensorsFile::open(path); });
}

} // namespace

TEST(Safetensors, WriteThenRead) {
  TempDir dir;
  const std::string path = dir / "a.safetensors";
  std::vector<TensorToWrite> tensors;
  tensors.push_back({"f32", DType::F32, {3, 5}, [](uint64_t off, void *dst, size_t bytes) {
                       float *f = static_cast<float *>(dst);
                       for (size_t i = 0; i < bytes / 4; ++i)
                         f[i] = float(off / 4 + i);
                     }});
  tensors.push_back({"bf16", DType::BF16, {1000}, [](uint64_t off, void *dst, size_t bytes) {
                       uint16_t *h = static_cast<uint16_t *>(dst);
                       for (size_t i = 0; i < bytes / 2; ++i)
                         h[i] = (uint16_t)(off / 2 + i);
                     }});
  tensors.push_back({"scalar", DType::F16, {}, nullptr});
  tensors.push_back({"empty", DType::F32, {0, 4}, nullptr});
  // Tiny chunks so every tensor is produced in several pieces.
  uint64_t size = writeSafetensors(path, tensors, {{"format", "pt"}}, 24);
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
  EXPECT_EQ(size, std::filesystem::file_size(path));

  SafetensorsFile f = SafetensorsFile::open(path);
  ASSERT_EQ(f.entries().size(), 4u);
  EXPECT_EQ(f.metadata().at("format"), "pt");
  EXPECT_EQ(f.dataOffset() % 8, 0u);
  const SafetensorsEntry *a = f.find("f32");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->dtype, DType::F32);
  EXPECT_EQ(a->shape, (std::vector<int64_t>{3, 5}));
  EXPECT_EQ(a->bytes, 60u);
  EXPECT_EQ(a->offset, f.dataOffset());
  std::vector<float> fv(15);
  f.read("f32", fv.data());
  for (int i = 0; i < 15; ++i)
    EXPECT_EQ(fv[i], float(i));
  const SafetensorsEntry *b = f.find("bf16");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->offset, f.dataOffset() + 60);
  uint16_t part[10];
  f.read(*b, 2 * 990, part, sizeof part);
  for (int i = 0; i < 10; ++i)
    EXPECT_EQ(part[i], 990 + i);
  EXPECT_THAT(errorOf([&] { f.read(*b, 2 * 995, part, sizeof part); }), HasSubstr("outside"));
  EXPECT_EQ(f.find("scalar")->bytes, 2u);
  EXPECT_EQ(f.find("empty")->bytes, 0u);
}

TEST(Safetensors, FailedWriteLeavesNothing) {
  TempDir dir;
  const std::string path = dir / "b.safetensors";
  std::vector<TensorToWrite> tensors;
  tensors.push_back({"x", DType::F32, {1 << 16}, [](uint64_t off, void *, size_t) {
                       if (off > 0)
                         fail("generator failed");
                     }});
  EXPECT_THAT(errorOf([&] { writeSafetensors(path, tensors, {}, 4096); }), HasSubstr("generator failed"));
  EXPECT_FALSE(std::filesystem::exists(path));
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
}

TEST(Safetensors, Refusals) {
  TempDir dir;
  const std::string p = dir / "m.safetensors";
  const std::string good = R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";

  writeFile(p, "abc");
  EXPECT_THAT(openError(p), HasSubstr("truncated"));

  writeFile(p, rawFile(good, 8, 1 << 20));
  EXPECT_THAT(openError(p), HasSubstr("header length 1048576 exceeds the file size"));

  writeFile(p, rawFile("{\"t\": [", 8));
  EXPECT_THAT(openError(p), HasSubstr("not valid JSON"));

  writeFile(p, rawFile(good, 4)); // data cut short
  std::string e = openError(p);
  EXPECT_THAT(e, HasSubstr("m.safetensors: tensor 't': data_offsets [0,8) exceed the data region of 4 bytes"));

  writeFile(p, rawFile(R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[0,6]}})", 8));
  EXPECT_THAT(openError(p), HasSubstr("expected 8"));

  writeFile(p, rawFile(R"({"t":{"dtype":"I64","shape":[2],"data_offsets":[0,16]}})", 16));
  e = openError(p);
  EXPECT_THAT(e, HasSubstr("tensor 't'"));
  EXPECT_THAT(e, HasSubstr("unsupported dtype \"I64\""));

  writeFile(p, rawFile(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},
                           "b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})", 12));
  e = openError(p);
  EXPECT_THAT(e, HasSubstr("overlap"));
  EXPECT_THAT(e, HasSubstr("'a'"));
  EXPECT_THAT(e, HasSubstr("'b'"));

  writeFile(p, rawFile(R"({"t":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", 8));
  EXPECT_THAT(openError(p), HasSubstr("shape"));

  writeFile(p, rawFile(R"({"t":{"dtype":"F32","shape":[2]}})", 8));
  EXPECT_THAT(openError(p), HasSubstr("data_offsets"));

  EXPECT_THAT(openError(dir / "absent.safetensors"), HasSubstr("absent.safetensors"));

  // __metadata__ is ignored; the good file opens.
  writeFile(p, rawFile(R"({"__metadata__":{"format":"pt"},"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 8));
  EXPECT_EQ(SafetensorsFile::open(p).entries().size(), 1u);
}
