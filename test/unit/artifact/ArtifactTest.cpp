// Tests that writeArtifact lays out and converts exactly, that it is atomic, and that
// Artifact::open refuses every kind of bad file with a message naming what is wrong.
#include "loom/Artifact.h"
#include "loom/Artifact/ArtifactWriter.h"
#include "loom/ArtifactFormat.h"
#include "loom/Checksum.h"
#include "loom/Error.h"
#include "ManifestEditing.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <fstream>
#include <functional>
#include <sys/wait.h>
#include <iterator>
#include <limits>
#include <stdlib.h>
#include <unistd.h>

namespace loom {
namespace {

using Bytes = std::vector<uint8_t>;
constexpr int64_t kTokens = int64_t(fb::DimSymbol::Tokens);

Bytes readFile(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(in), {});
}

void writeFile(const std::string &path, const Bytes &bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char *>(bytes.data()), std::streamsize(bytes.size()));
}

template <typename T> void append(Bytes &bytes, const std::vector<T> &values) {
  const uint8_t *p = reinterpret_cast<const uint8_t *>(values.data());
  bytes.insert(bytes.end(), p, p + values.size() * sizeof(T));
}

uint32_t floatBits(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, 4);
  return bits;
}

float bitsFloat(uint32_t bits) {
  float value;
  std::memcpy(&value, &bits, 4);
  return value;
}

using test::value;

// Source values. The f32 -> bf16 inputs exercise round-to-nearest-even, ties, NaN, overflow.
const std::vector<uint16_t> kBf16Values = {0x3f80, 0xc000, 0x0001, 0x7f80, 0xff80, 0x8000}; // 1, -2, denorm, inf, -inf, -0
const std::vector<float> kF32Plain = {0.5f, -1.25f, 3.0e38f, 1e-40f};
const std::vector<float> kF32ToRound = {
    1.0f,
    bitsFloat(0x3f808000), // 1 + 2^-8: tie between 1.0 and 1+2^-7 -> even: 1.0 (0x3f80)
    bitsFloat(0x3f818000), // 1 + 3*2^-8: tie -> even: 0x3f82
    bitsFloat(0x3f808001), // just above the tie -> 0x3f81
    bitsFloat(0x7f7fffff), // FLT_MAX rounds to +inf
    std::numeric_limits<float>::quiet_NaN()};
const std::vector<uint16_t> kF16Values = {0x3c00, 0xc000, 0x0001, 0x7c00, 0x3555, 0x7bff, 0x8000, 0x0400};

class ArtifactTest : public ::testing::Test {
protected:
  void SetUp() override {
    char pattern[] = "/tmp/loom-artifact-test.XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    dir = pattern;
    source = dir + "/source.bin";
    artifact = dir + "/model.loom";
    // Layout of the raw source: 3 junk bytes, bf16 values, f32 values, f32 values to round, f16.
    Bytes bytes = {0xde, 0xad, 0xbe};
    bf16Offset = bytes.size();
    append(bytes, kBf16Values);
    f32Offset = bytes.size();
    append(bytes, kF32Plain);
    roundOffset = bytes.size();
    append(bytes, kF32ToRound);
    f16Offset = bytes.size();
    append(bytes, kF16Values);
    writeFile(source, bytes);
  }

  void TearDown() override {
    if (!dir.empty())
      std::system(("rm -rf '" + dir + "'").c_str());
  }

  std::unique_ptr<fb::TensorT> tensor(const std::string &name, fb::DType dtype, std::vector<int64_t> shape,
                                      uint64_t offset, fb::DType sourceDType) {
    auto t = std::make_unique<fb::TensorT>();
    t->name = name;
    t->dtype = dtype;
    t->shape = std::move(shape);
    setTensorSource(*t, {source, offset, sourceDType});
    return t;
  }

  ArtifactContents contents() {
    ArtifactContents c;
    fb::ModelT &m = c.manifest;
    m.producer = "ArtifactTest";
    m.config = std::make_unique<fb::ModelConfigT>();
    m.config->model_type = "gemma4_unified";
    m.config->hidden_size = 4;
    m.config->num_layers = 2;
    m.config->layer_kinds = {fb::LayerKind::Sliding, fb::LayerKind::Full};
    m.target = std::make_unique<fb::TargetT>();
    m.target->name = "x86-64-v4";
    m.target->halide_target = "x86-64-linux-avx512";
    m.target->cpu_features = {"avx512f", "avx512bw"};
    m.max_context = 16;
    m.weight_dtype = fb::DType::BF16;
    // 0: bf16 -> f32; 1: bf16 copy; 2: f32 copy; 3: f32 -> bf16; 4: f16 -> f32.
    m.tensors.push_back(tensor("a.bf16_to_f32", fb::DType::F32, {2, 3}, bf16Offset, fb::DType::BF16));
    m.tensors.push_back(tensor("b.bf16_copy", fb::DType::BF16, {6}, bf16Offset, fb::DType::BF16));
    m.tensors.push_back(tensor("c.f32_copy", fb::DType::F32, {4}, f32Offset, fb::DType::F32));
    m.tensors.push_back(tensor("d.f32_to_bf16", fb::DType::BF16, {3, 2}, roundOffset, fb::DType::F32));
    m.tensors.push_back(tensor("e.f16_to_f32", fb::DType::F32, {8}, f16Offset, fb::DType::F16));
    for (const char *symbol : {"loom_linear_0", "loom_attention_0"}) {
      auto k = std::make_unique<fb::KernelT>();
      k->symbol = symbol;
      k->kind = "linear";
      k->description = "test kernel";
      m.kernels.push_back(std::move(k));
    }
    for (auto [kind, capacity] : {std::pair{fb::LayerKind::Sliding, 4}, std::pair{fb::LayerKind::Full, 16}}) {
      auto layer = std::make_unique<fb::KvCacheLayerT>();
      layer->kind = kind;
      layer->capacity = capacity;
      layer->kv_heads = 2;
      layer->head_dim = 8;
      layer->dtype = fb::DType::BF16;
      m.kv_cache.push_back(std::move(layer));
    }
    auto entry = std::make_unique<fb::EntryPointT>();
    entry->name = "decoder";
    entry->arena_bytes_per_token = 80; // f32[4] = 16 + bf16[2,8] keys 32 + values 32
    entry->inputs.push_back(value(fb::ValueKind::Input, 0, fb::DType::I32, {kTokens}));
    entry->outputs.push_back(value(fb::ValueKind::Output, 0, fb::DType::F32, {kTokens, 4}));
    fb::DispatchT dispatch;
    dispatch.kernel = 0;
    dispatch.args.push_back(value(fb::ValueKind::Input, 0, fb::DType::I32, {kTokens}));
    dispatch.args.push_back(value(fb::ValueKind::Weight, 0, fb::DType::F32, {2, 3}));
    dispatch.args.push_back(value(fb::ValueKind::KvKeys, 0, fb::DType::BF16, {4, 2, 8}));
    dispatch.args.push_back(value(fb::ValueKind::KvValues, 1, fb::DType::BF16, {16, 2, 8}));
    dispatch.args.push_back(value(fb::ValueKind::StartPosition, 0, fb::DType::I32, {}));
    dispatch.args.push_back(value(fb::ValueKind::Arena, 0, fb::DType::F32, {kTokens, 4}, 0));
    dispatch.args.push_back(value(fb::ValueKind::Output, 0, fb::DType::F32, {kTokens, 4}));
    entry->commands.emplace_back();
    entry->commands.back().Set(std::move(dispatch));
    fb::KvWriteT write;
    write.layer = 0;
    write.keys = value(fb::ValueKind::Arena, 0, fb::DType::BF16, {kTokens, 2, 8}, 16);
    write.values = value(fb::ValueKind::Arena, 0, fb::DType::BF16, {kTokens, 2, 8}, 48);
    entry->commands.emplace_back();
    entry->commands.back().Set(std::move(write));
    m.entry_points.push_back(std::move(entry));
    for (int i = 0; i < 5000; ++i)
      c.kernelLibrary.push_back(uint8_t(i * 7));
    c.tokenizerJson = R"({"model":{"type":"BPE"},"added_tokens":[]})";
    return c;
  }

  void writeGood() { writeArtifact(contents(), artifact); }

  // Re-packs the manifest of `artifact` after `edit`; only values change, so the size holds.
  void patchManifest(const std::function<void(fb::ModelT &)> &edit) {
    Bytes bytes = readFile(artifact);
    ASSERT_TRUE(test::editManifest(bytes, edit)) << "the edit changed the manifest's size";
    writeFile(artifact, bytes);
  }

  // Writes `bytes` as the artifact with its manifest sealed (ManifestEditing.h).
  void writeSealed(Bytes bytes) {
    test::sealManifest(bytes);
    writeFile(artifact, bytes);
  }

  void patchPreamble(const std::function<void(ArtifactPreamble &)> &edit) {
    Bytes bytes = readFile(artifact);
    ArtifactPreamble preamble;
    std::memcpy(&preamble, bytes.data(), sizeof(preamble));
    edit(preamble);
    std::memcpy(bytes.data(), &preamble, sizeof(preamble));
    writeFile(artifact, bytes);
  }

  // The reader's message for `artifact`, the same whether the file is mapped or copied.
  std::string openError() {
    std::string messages[2];
    const ArtifactMemory memories[2] = {ArtifactMemory::Mapped, ArtifactMemory::HugePageCopy};
    for (int i = 0; i < 2; ++i) {
      messages[i] = "<opened without error>";
      try {
        Artifact::open(artifact, memories[i]);
      } catch (const Error &error) {
        messages[i] = error.what();
      }
    }
    EXPECT_EQ(messages[0], messages[1]) << "mapped and huge-page copy disagree";
    return messages[0];
  }

  std::vector<std::string> dirEntries() {
    std::vector<std::string> names;
    DIR *d = opendir(dir.c_str());
    while (dirent *e = readdir(d))
      if (std::string(e->d_name) != "." && std::string(e->d_name) != "..")
        names.push_back(e->d_name);
    closedir(d);
    std::sort(names.begin(), names.end());
    return names;
  }

  std::string dir, source, artifact;
  uint64_t bf16Offset = 0, f32Offset = 0, roundOffset = 0, f16Offset = 0;
};

#define EXPECT_OPEN_ERROR(...)                                                                     \
  do {                                                                                             \
    std::string message = openError();                                                             \
    for (const char *part : {__VA_ARGS__})                                                         \
      EXPECT_NE(message.find(part), std::string::npos) << "missing '" << part << "' in: " << message; \
    EXPECT_NE(message.find(artifact), std::string::npos) << "the path is not named: " << message;  \
  } while (0)

template <typename T> std::vector<T> asVector(ByteSpan span) {
  std::vector<T> out(span.size / sizeof(T));
  std::memcpy(out.data(), span.data, out.size() * sizeof(T));
  return out;
}

TEST_F(ArtifactTest, RoundTripsBytesAndConversions) {
  std::vector<std::string> messages;
  writeArtifact(contents(), artifact, [&](const std::string &m) { messages.push_back(m); });
  ASSERT_FALSE(messages.empty());
  EXPECT_NE(messages.back().find("wrote " + artifact), std::string::npos);
  EXPECT_EQ(dirEntries(), (std::vector<std::string>{"model.loom", "source.bin"}));

  auto a = Artifact::open(artifact);
  const fb::Model &m = a->manifest();
  EXPECT_EQ(m.format_version(), kArtifactFormatVersion);
  EXPECT_EQ(m.min_runtime_version(), kRuntimeVersion);
  EXPECT_EQ(m.producer()->str(), "ArtifactTest");
  EXPECT_EQ(m.target()->cpu_features()->size(), 2u);
  ASSERT_EQ(m.segments()->size(), 3u);
  EXPECT_EQ(m.segments()->Get(0)->name()->str(), "weights");
  EXPECT_EQ(m.segments()->Get(m.kernel_library_segment())->name()->str(), "kernels");
  EXPECT_EQ(m.segments()->Get(m.tokenizer_segment())->name()->str(), "tokenizer");
  for (auto s : *m.segments())
    EXPECT_EQ(s->offset() % kSegmentAlignment, 0u);
  EXPECT_EQ(a->fileSize(), readFile(artifact).size());

  // Tensors: aligned, sizes, data.
  ASSERT_EQ(m.tensors()->size(), 5u);
  for (uint32_t i = 0; i < 5; ++i) {
    EXPECT_EQ(m.tensors()->Get(i)->offset() % kTensorAlignment, 0u);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(a->tensorData(i).data) % kTensorAlignment, 0u);
  }
  EXPECT_EQ(m.tensors()->Get(0)->size(), 24u);
  EXPECT_EQ(m.tensors()->Get(0)->source_file()->str(), source);
  EXPECT_EQ(m.tensors()->Get(0)->source_offset(), bf16Offset);
  EXPECT_EQ(m.tensors()->Get(0)->source_dtype(), fb::DType::BF16);

  std::vector<uint32_t> a0 = asVector<uint32_t>(a->tensorData(0));
  ASSERT_EQ(a0.size(), 6u);
  for (size_t i = 0; i < 6; ++i)
    EXPECT_EQ(a0[i], uint32_t(kBf16Values[i]) << 16) << i; // bf16 -> f32 is exact
  EXPECT_EQ(asVector<uint16_t>(a->tensorData(1)), kBf16Values);
  std::vector<float> c = asVector<float>(a->tensorData(2));
  ASSERT_EQ(c.size(), kF32Plain.size());
  for (size_t i = 0; i < c.size(); ++i)
    EXPECT_EQ(floatBits(c[i]), floatBits(kF32Plain[i]));
  std::vector<uint16_t> d = asVector<uint16_t>(a->tensorData(3));
  ASSERT_EQ(d.size(), 6u);
  EXPECT_EQ(d[0], 0x3f80);
  EXPECT_EQ(d[1], 0x3f80); // tie, rounds down to even
  EXPECT_EQ(d[2], 0x3f82); // tie, rounds up to even
  EXPECT_EQ(d[3], 0x3f81); // above the tie
  EXPECT_EQ(d[4], 0x7f80); // overflow -> inf
  EXPECT_EQ(d[5] & 0x7f80, 0x7f80);
  EXPECT_NE(d[5] & 0x007f, 0); // still NaN
  std::vector<float> e = asVector<float>(a->tensorData(4));
  ASSERT_EQ(e.size(), 8u);
  EXPECT_EQ(e[0], 1.0f);
  EXPECT_EQ(e[1], -2.0f);
  EXPECT_EQ(e[2], std::ldexp(1.0f, -24)); // smallest f16 subnormal
  EXPECT_TRUE(std::isinf(e[3]) && e[3] > 0);
  EXPECT_EQ(e[4], 0.333251953125f);
  EXPECT_EQ(e[5], 65504.0f);
  EXPECT_EQ(floatBits(e[6]), 0x80000000u);
  EXPECT_EQ(e[7], std::ldexp(1.0f, -14)); // smallest normal

  // Kernel library and tokenizer, verbatim.
  ArtifactContents expected = contents();
  ByteSpan kernels = a->segment(m.kernel_library_segment());
  EXPECT_EQ(Bytes(kernels.data, kernels.data + kernels.size), expected.kernelLibrary);
  ByteSpan tokenizer = a->segment(m.tokenizer_segment());
  EXPECT_EQ(std::string(reinterpret_cast<const char *>(tokenizer.data), tokenizer.size), expected.tokenizerJson);

  // Entry point program survives.
  ASSERT_EQ(m.entry_points()->size(), 1u);
  auto entry = m.entry_points()->Get(0);
  EXPECT_EQ(entry->name()->str(), "decoder");
  ASSERT_EQ(entry->commands()->size(), 2u);
  EXPECT_EQ(entry->commands_type()->GetEnum<fb::Command>(0), fb::Command::Dispatch);
  auto write = static_cast<const fb::KvWrite *>(entry->commands()->Get(1));
  EXPECT_EQ(write->values()->offset_per_token(), 48u);

  EXPECT_THROW(a->segment(3), Error);
  EXPECT_THROW(a->tensorData(5), Error);
}

TEST_F(ArtifactTest, HugePageCopyHoldsTheFileAlignedToHugePages) {
  writeArtifact(contents(), artifact, [](const std::string &) {});
  auto mapped = Artifact::open(artifact);
  auto copy = Artifact::open(artifact, ArtifactMemory::HugePageCopy);
  const Bytes file = readFile(artifact);
  ASSERT_EQ(copy->fileSize(), file.size());
  const fb::Model &m = copy->manifest();
  ByteSpan first = copy->segment(0);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(first.data - m.segments()->Get(0)->offset()) % (2u << 20), 0u)
      << "the copy starts on a 2 MiB boundary";
  for (uint32_t i = 0; i < m.segments()->size(); ++i) {
    ByteSpan a = mapped->segment(i), b = copy->segment(i);
    ASSERT_EQ(a.size, b.size);
    EXPECT_NE(a.data, b.data);
    EXPECT_EQ(Bytes(a.data, a.data + a.size), Bytes(b.data, b.data + b.size)) << "segment " << i;
  }
  for (uint32_t i = 0; i < m.tensors()->size(); ++i) {
    const fb::Tensor *tensor = m.tensors()->Get(i);
    const uint64_t at = m.segments()->Get(tensor->segment())->offset() + tensor->offset();
    ByteSpan b = copy->tensorData(i);
    EXPECT_EQ(Bytes(b.data, b.data + b.size), Bytes(file.begin() + at, file.begin() + at + b.size))
        << "tensor " << i;
  }
}

TEST_F(ArtifactTest, StreamsTensorsLargerThanOneChunk) {
  // 3M bf16 elements (6 MB) -> f32 (12 MB): several 4 MB reads with a partial last one.
  const size_t count = 3'000'001;
  std::vector<uint16_t> values(count);
  for (size_t i = 0; i < count; ++i)
    values[i] = uint16_t(0x3f80 + (i % 97));
  Bytes bytes = {0x01};
  append(bytes, values);
  std::string big = dir + "/big.bin";
  writeFile(big, bytes);
  ArtifactContents c = contents();
  auto t = std::make_unique<fb::TensorT>();
  t->name = "big";
  t->dtype = fb::DType::F32;
  t->shape = {int64_t(count)};
  setTensorSource(*t, {big, 1, fb::DType::BF16});
  c.manifest.tensors.push_back(std::move(t));
  writeArtifact(std::move(c), artifact);
  auto a = Artifact::open(artifact);
  ByteSpan data = a->tensorData(5);
  ASSERT_EQ(data.size, count * 4);
  for (size_t i = 0; i < count; i += 4099) {
    uint32_t word;
    std::memcpy(&word, data.data + 4 * i, 4);
    ASSERT_EQ(word, uint32_t(values[i]) << 16) << i;
  }
  uint32_t last;
  std::memcpy(&last, data.data + 4 * (count - 1), 4);
  EXPECT_EQ(last, uint32_t(values[count - 1]) << 16);
}

// --- writer failures: never a file at the path, never a temporary left behind ---------------

TEST_F(ArtifactTest, MissingSourceLeavesNoFile) {
  ArtifactContents c = contents();
  c.manifest.tensors[2]->source_file = dir + "/nope.safetensors";
  try {
    writeArtifact(std::move(c), artifact);
    FAIL() << "no error";
  } catch (const Error &error) {
    EXPECT_NE(std::string(error.what()).find("nope.safetensors"), std::string::npos) << error.what();
    EXPECT_NE(std::string(error.what()).find("c.f32_copy"), std::string::npos) << error.what();
  }
  EXPECT_EQ(dirEntries(), (std::vector<std::string>{"source.bin"}));
}

TEST_F(ArtifactTest, ShortSourceLeavesNoFile) {
  ArtifactContents c = contents();
  c.manifest.tensors[4]->source_offset = f16Offset + 2; // last element runs past the end
  try {
    writeArtifact(std::move(c), artifact);
    FAIL() << "no error";
  } catch (const Error &error) {
    std::string message = error.what();
    EXPECT_NE(message.find("is too short for tensor 'e.f16_to_f32'"), std::string::npos) << message;
    EXPECT_NE(message.find(source), std::string::npos) << message;
  }
  EXPECT_EQ(dirEntries(), (std::vector<std::string>{"source.bin"}));
}

TEST_F(ArtifactTest, UnsupportedConversionIsRefused) {
  ArtifactContents c = contents();
  c.manifest.tensors[1]->dtype = fb::DType::F16;
  try {
    writeArtifact(std::move(c), artifact);
    FAIL() << "no error";
  } catch (const Error &error) {
    std::string message = error.what();
    EXPECT_NE(message.find("cannot convert BF16 to F16"), std::string::npos) << message;
    EXPECT_NE(message.find("b.bf16_copy"), std::string::npos) << message;
  }
  EXPECT_EQ(dirEntries(), (std::vector<std::string>{"source.bin"}));
}

TEST_F(ArtifactTest, ManifestThatDoesNotVerifyIsNotWritten) {
  ArtifactContents c = contents();
  c.manifest.entry_points[0]->commands[0].AsDispatch()->kernel = 9;
  try {
    writeArtifact(std::move(c), artifact);
    FAIL() << "no error";
  } catch (const Error &error) {
    std::string message = error.what();
    EXPECT_NE(message.find("refusing to write " + artifact), std::string::npos) << message;
    EXPECT_NE(message.find("kernel index 9 out of range"), std::string::npos) << message;
  }
  EXPECT_EQ(dirEntries(), (std::vector<std::string>{"source.bin"}));
}

TEST_F(ArtifactTest, FailedWriteLeavesExistingArtifactUntouched) {
  writeGood();
  Bytes before = readFile(artifact);
  ArtifactContents c = contents();
  c.manifest.producer = "second";
  c.manifest.tensors[0]->source_file = dir + "/missing.bin";
  EXPECT_THROW(writeArtifact(std::move(c), artifact), Error);
  EXPECT_EQ(readFile(artifact), before);
  EXPECT_EQ(dirEntries(), (std::vector<std::string>{"model.loom", "source.bin"}));
  EXPECT_EQ(Artifact::open(artifact)->manifest().producer()->str(), "ArtifactTest");
}

TEST_F(ArtifactTest, SuccessfulWriteReplacesExistingArtifact) {
  writeGood();
  auto old = Artifact::open(artifact); // a reader holding the old file keeps a valid mapping
  ArtifactContents c = contents();
  c.manifest.producer = "second";
  writeArtifact(std::move(c), artifact);
  EXPECT_EQ(Artifact::open(artifact)->manifest().producer()->str(), "second");
  EXPECT_EQ(old->manifest().producer()->str(), "ArtifactTest");
  EXPECT_EQ(asVector<uint16_t>(old->tensorData(1)), kBf16Values);
}

// --- reader verification, in the order open() checks ------------------------------------------

TEST_F(ArtifactTest, RefusesMissingFile) {
  EXPECT_OPEN_ERROR("cannot open");
}

TEST_F(ArtifactTest, RefusesFileShorterThanPreamble) {
  writeFile(artifact, Bytes(10, 0));
  EXPECT_OPEN_ERROR("file is 10 bytes, shorter than the 64-byte .loom preamble");
  writeFile(artifact, Bytes());
  EXPECT_OPEN_ERROR("file is 0 bytes");
}

TEST_F(ArtifactTest, RefusesBadMagic) {
  writeGood();
  Bytes bytes = readFile(artifact);
  bytes[0] = 'X';
  writeFile(artifact, bytes);
  EXPECT_OPEN_ERROR("not a .loom artifact", "expected 'LOOMART\\x00'", "found 'XOOMART\\x00'");
  writeFile(artifact, Bytes(100, 'a')); // a foreign file
  EXPECT_OPEN_ERROR("not a .loom artifact");
}

TEST_F(ArtifactTest, RefusesOtherFormatVersion) {
  writeGood();
  patchPreamble([](ArtifactPreamble &p) { p.formatVersion = kArtifactFormatVersion + 1; });
  const std::string expected = "unsupported .loom format version: found " +
                               std::to_string(kArtifactFormatVersion + 1) +
                               ", this runtime supports version " +
                               std::to_string(kArtifactFormatVersion);
  EXPECT_OPEN_ERROR(expected.c_str());
  // Version 1 had no checksums: its files are refused rather than run unchecked.
  patchPreamble([](ArtifactPreamble &p) { p.formatVersion = 1; });
  EXPECT_OPEN_ERROR("found 1", "recompile the model");
}

TEST_F(ArtifactTest, RefusesTruncatedFile) {
  writeGood();
  Bytes bytes = readFile(artifact);
  size_t size = bytes.size();
  bytes.pop_back();
  writeFile(artifact, bytes);
  std::string expected = "truncated: expected " + std::to_string(size) + " bytes, found " + std::to_string(size - 1);
  EXPECT_OPEN_ERROR(expected.c_str());
  bytes.resize(2000); // cut inside the manifest: still a truncation error, not a verifier one
  writeFile(artifact, bytes);
  EXPECT_OPEN_ERROR("truncated: expected");
}

TEST_F(ArtifactTest, RefusesTrailingBytes) {
  writeGood();
  Bytes bytes = readFile(artifact);
  bytes.push_back(0);
  writeFile(artifact, bytes);
  EXPECT_OPEN_ERROR("size mismatch: expected");
}

TEST_F(ArtifactTest, RefusesManifestRangeOutsideFile) {
  writeGood();
  patchPreamble([](ArtifactPreamble &p) { p.manifestSize = p.fileSize; });
  EXPECT_OPEN_ERROR("manifest range [64, +", "is invalid");
  writeGood();
  patchPreamble([](ArtifactPreamble &p) { p.manifestOffset = 8; });
  EXPECT_OPEN_ERROR("manifest range [8, +");
  writeGood();
  patchPreamble([](ArtifactPreamble &p) { p.manifestOffset = ~0ull - 4; });
  EXPECT_OPEN_ERROR("manifest range");
}

TEST_F(ArtifactTest, RefusesWrongFileIdentifier) {
  writeGood();
  Bytes bytes = readFile(artifact);
  std::memcpy(bytes.data() + 64 + 4, "ABCD", 4);
  writeSealed(bytes);
  EXPECT_OPEN_ERROR("manifest file identifier: expected 'LOOM', found 'ABCD'");
}

TEST_F(ArtifactTest, RefusesCorruptManifest) {
  writeGood();
  Bytes bytes = readFile(artifact);
  uint32_t root = 0x7ffffff0; // root table offset far outside the manifest
  std::memcpy(bytes.data() + 64, &root, 4);
  writeSealed(bytes);
  EXPECT_OPEN_ERROR("manifest is corrupt: FlatBuffers verification");
}

TEST_F(ArtifactTest, EveryManifestByteFlipFailsTheChecksum) {
  writeGood();
  Bytes good = readFile(artifact);
  ArtifactPreamble preamble;
  std::memcpy(&preamble, good.data(), sizeof(preamble));
  int fd = ::open(artifact.c_str(), O_WRONLY);
  ASSERT_GE(fd, 0);
  for (uint64_t i = 0; i < preamble.manifestSize; ++i) {
    const uint64_t at = preamble.manifestOffset + i;
    const uint8_t flipped = good[at] ^ 0xa5;
    ASSERT_EQ(::pwrite(fd, &flipped, 1, off_t(at)), 1);
    try {
      Artifact::open(artifact);
      ADD_FAILURE() << "flip of manifest byte " << i << " opened";
    } catch (const Error &error) {
      ASSERT_NE(std::string(error.what()).find("manifest checksum mismatch"), std::string::npos)
          << error.what();
    }
    ASSERT_EQ(::pwrite(fd, &good[at], 1, off_t(at)), 1);
  }
  ::close(fd);
}

TEST_F(ArtifactTest, EveryManifestByteFlipIsRefusedOrHarmless) {
  // With the checksum made to match, flipping any single byte of the manifest must either be
  // refused with loom::Error or still describe a file whose every tensor lies inside it; never
  // a crash (run under ASan in CI).
  writeGood();
  Bytes good = readFile(artifact);
  ArtifactPreamble preamble;
  std::memcpy(&preamble, good.data(), sizeof(preamble));
  const uint8_t *manifest = good.data() + preamble.manifestOffset;
  int refused = 0;
  int fd = ::open(artifact.c_str(), O_WRONLY);
  ASSERT_GE(fd, 0);
  for (uint64_t i = 0; i < preamble.manifestSize; ++i) {
    const uint64_t at = preamble.manifestOffset + i;
    const uint8_t original = good[at];
    good[at] ^= 0xa5;
    ArtifactPreamble sealed = preamble;
    sealed.manifestChecksum = artifactChecksum(manifest, size_t(preamble.manifestSize));
    ASSERT_EQ(::pwrite(fd, &good[at], 1, off_t(at)), 1);
    ASSERT_EQ(::pwrite(fd, &sealed, sizeof(sealed), 0), ssize_t(sizeof(sealed)));
    good[at] = original;
    try {
      auto a = Artifact::open(artifact);
      const fb::Model &m = a->manifest();
      for (auto segment : *m.segments())
        ASSERT_LE(segment->offset() + segment->size(), a->fileSize());
      for (uint32_t t = 0; t < m.tensors()->size(); ++t) {
        ByteSpan span = a->tensorData(t);
        ByteSpan segment = a->segment(m.tensors()->Get(t)->segment());
        ASSERT_GE(span.data, segment.data);
        ASSERT_LE(span.data + span.size, segment.data + segment.size);
      }
    } catch (const Error &) {
      ++refused;
    }
    ASSERT_EQ(::pwrite(fd, &good[at], 1, off_t(at)), 1);
  }
  ::close(fd);
  EXPECT_GT(refused, int(preamble.manifestSize / 4));
}

TEST_F(ArtifactTest, SegmentChecksumsFindFlippedBytes) {
  writeGood();
  Artifact::open(artifact)->verifyAllSegments();
  Bytes good = readFile(artifact);
  auto opened = Artifact::open(artifact);
  const auto *segments = opened->manifest().segments();
  for (uint32_t s = 0; s < segments->size(); ++s) {
    const fb::Segment *segment = segments->Get(s);
    if (segment->size() == 0)
      continue;
    Bytes bytes = good;
    bytes[segment->offset() + segment->size() / 2] ^= 0x10;
    writeFile(artifact, bytes);
    auto corrupt = Artifact::open(artifact); // the manifest is intact
    for (uint32_t other = 0; other < segments->size(); ++other)
      if (other != s)
        corrupt->verifySegment(other);
    try {
      corrupt->verifyAllSegments();
      ADD_FAILURE() << "segment " << s << " verified";
    } catch (const Error &error) {
      const std::string expected =
          "segment " + std::to_string(s) + " '" + segment->name()->str() + "'";
      EXPECT_NE(std::string(error.what()).find(expected), std::string::npos) << error.what();
      EXPECT_NE(std::string(error.what()).find("is corrupt"), std::string::npos) << error.what();
      EXPECT_NE(std::string(error.what()).find(artifact), std::string::npos) << error.what();
    }
  }
}

// Found by ArtifactFuzzer: a shape vector of int64 at 4 mod 8 passed the FlatBuffers verifier
// and was read with misaligned loads. The reproducer predates format version 2; lifted to it
// (preamble and manifest version, manifest checksum), it reaches the check.
TEST_F(ArtifactTest, RefusesMisalignedInt64Vector) {
  Bytes bytes = readFile(std::string(LOOM_SOURCE_DIR) +
                         "/test/fuzz/seeds/artifact/regression-misaligned-int64-vector-v1.loom");
  ArtifactPreamble preamble;
  std::memcpy(&preamble, bytes.data(), sizeof(preamble));
  preamble.formatVersion = kArtifactFormatVersion;
  std::memcpy(bytes.data(), &preamble, sizeof(preamble));
  auto *table = reinterpret_cast<const flatbuffers::Table *>(
      fb::GetModel(bytes.data() + preamble.manifestOffset));
  const flatbuffers::voffset_t field = table->GetOptionalFieldOffset(fb::Model::VT_FORMAT_VERSION);
  ASSERT_NE(field, 0);
  const uint32_t version = kArtifactFormatVersion;
  std::memcpy(const_cast<uint8_t *>(reinterpret_cast<const uint8_t *>(table)) + field, &version,
              sizeof(version));
  writeSealed(bytes);
  EXPECT_OPEN_ERROR("is a vector of 64-bit integers at an offset that is not a multiple of 8");
}

// Strings reach error messages, JSON (loom-inspect --json) and dlsym (kernel symbols).
TEST_F(ArtifactTest, RefusesStringsThatAreNotUtf8OrHoldNul) {
  writeGood();
  patchManifest([](fb::ModelT &m) { m.producer[3] = char(0xff); });
  EXPECT_OPEN_ERROR("manifest field 'producer' is not UTF-8 text without NUL (byte 3 of 12");
  writeGood();
  patchManifest([](fb::ModelT &m) { m.tensors[1]->name[0] = char(0xc0); }); // overlong lead
  EXPECT_OPEN_ERROR("manifest field 'tensors[1].name' is not UTF-8");
  writeGood();
  // Found: a symbol with a NUL passed, and dlsym then found the raw function, not its _argv.
  patchManifest([](fb::ModelT &m) { m.kernels[0]->symbol.back() = '\0'; });
  EXPECT_OPEN_ERROR("manifest field 'kernels[0].symbol' is not UTF-8 text without NUL (byte 12");
  writeGood();
  patchManifest([](fb::ModelT &m) { m.kernels[1]->symbol[4] = '-'; });
  EXPECT_OPEN_ERROR("kernel 1 symbol 'loom-attention_0' is not a C identifier");
  writeGood();
  patchManifest([](fb::ModelT &m) { m.entry_points[0]->name = "d\xc3\xa9oder"; });
  Artifact::open(artifact); // well-formed UTF-8 is fine
}

TEST_F(ArtifactTest, RefusesManifestVersionMismatch) {
  writeGood();
  patchManifest([](fb::ModelT &m) { m.format_version = 7; });
  const std::string expected =
      "manifest format_version is 7, expected " + std::to_string(kArtifactFormatVersion);
  EXPECT_OPEN_ERROR(expected.c_str());
}

TEST_F(ArtifactTest, RefusesNewerMinRuntimeVersion) {
  writeGood();
  patchManifest([](fb::ModelT &m) { m.min_runtime_version = kRuntimeVersion + 1; });
  const std::string expected = "requires runtime version " + std::to_string(kRuntimeVersion + 1) +
                               " or newer, this runtime is version " + std::to_string(kRuntimeVersion);
  EXPECT_OPEN_ERROR(expected.c_str());
}

TEST_F(ArtifactTest, RefusesMisalignedSegment) {
  writeGood();
  patchManifest([](fb::ModelT &m) { m.segments[1]->offset += 64; });
  EXPECT_OPEN_ERROR("segment 1 'kernels' offset", "is not a multiple of 4096");
}

TEST_F(ArtifactTest, RefusesSegmentOutsideFile) {
  writeGood();
  patchManifest([](fb::ModelT &m) { m.segments[2]->size += 5000; });
  EXPECT_OPEN_ERROR("segment 2 'tokenizer'", "is outside the file of");
  writeGood();
  patchManifest([](fb::ModelT &m) { m.segments[2]->offset = ~0ull - 4095; });
  EXPECT_OPEN_ERROR("segment 2 'tokenizer'", "is outside the file of");
}

TEST_F(ArtifactTest, RefusesSegmentOverlappingManifestOrAnother) {
  writeGood();
  patchManifest([](fb::ModelT &m) { m.segments[0]->offset = 0; });
  EXPECT_OPEN_ERROR("segment 0 'weights' offset 0 overlaps the preamble and manifest");
  writeGood();
  patchManifest([](fb::ModelT &m) { m.segments[1]->offset = m.segments[0]->offset; });
  EXPECT_OPEN_ERROR("segment 1 'kernels' overlaps segment 0 'weights'");
}

TEST_F(ArtifactTest, RefusesTensorOutsideItsSegment) {
  writeGood();
  patchManifest([](fb::ModelT &m) { m.tensors[1]->offset = alignUp(m.segments[0]->size, 64) + 4096; });
  EXPECT_OPEN_ERROR("tensor 'b.bf16_copy'", "is outside its segment 'weights'");
  writeGood();
  patchManifest([](fb::ModelT &m) { m.tensors[1]->offset = alignUp(m.segments[0]->size, 64); });
  EXPECT_OPEN_ERROR("tensor 'b.bf16_copy'", "is outside its segment 'weights'");
  writeGood(); // the last tensor straddles the end of a shrunk segment
  patchManifest([](fb::ModelT &m) { m.segments[0]->size -= 1; });
  EXPECT_OPEN_ERROR("tensor 'e.f16_to_f32' [", "is outside its segment 'weights' of");
}

TEST_F(ArtifactTest, RefusesMisalignedTensor) {
  writeGood();
  patchManifest([](fb::ModelT &m) { m.tensors[0]->offset += 4; });
  EXPECT_OPEN_ERROR("tensor 'a.bf16_to_f32' offset", "is not a multiple of 64");
}

TEST_F(ArtifactTest, RefusesTensorSizeThatDisagreesWithShape) {
  writeGood();
  patchManifest([](fb::ModelT &m) { m.tensors[0]->size -= 4; });
  EXPECT_OPEN_ERROR("tensor 'a.bf16_to_f32' size is 20 bytes, expected 24 ([2, 3] x F32)");
  writeGood();
  patchManifest([](fb::ModelT &m) { m.tensors[0]->dtype = fb::DType::BF16; });
  EXPECT_OPEN_ERROR("tensor 'a.bf16_to_f32' size is 24 bytes, expected 12");
  writeGood();
  patchManifest([](fb::ModelT &m) { m.tensors[0]->dtype = fb::DType(42); });
  EXPECT_OPEN_ERROR("tensor 'a.bf16_to_f32' has unknown dtype 42");
}

TEST_F(ArtifactTest, RefusesTensorSegmentIndexOutOfRange) {
  writeGood();
  patchManifest([](fb::ModelT &m) { m.tensors[3]->segment = 7; });
  EXPECT_OPEN_ERROR("tensor 'd.f32_to_bf16' segment index 7 out of range (3 segments)");
}

TEST_F(ArtifactTest, RefusesBadKernelLibraryAndTokenizerSegment) {
  writeGood();
  patchManifest([](fb::ModelT &m) { m.kernel_library_segment = 3; });
  EXPECT_OPEN_ERROR("kernel_library_segment is 3, out of range (3 segments)");
  writeGood();
  patchManifest([](fb::ModelT &m) { m.tokenizer_segment = 99; });
  EXPECT_OPEN_ERROR("tokenizer_segment is 99, out of range (3 segments)");
}

TEST_F(ArtifactTest, RefusesBadKernelSets) {
  writeGood();
  patchManifest([](fb::ModelT &m) { m.kernel_sets[0]->library_segment = 9; });
  EXPECT_OPEN_ERROR("kernel_sets[0].library_segment is 9, out of range (3 segments)");
  writeGood();
  patchManifest([](fb::ModelT &m) { m.kernel_sets[0]->library_segment = 2; });
  EXPECT_OPEN_ERROR("kernel_sets[0] is not the manifest's target and kernel_library_segment");
}

fb::DispatchT &dispatchOf(fb::ModelT &m) { return *m.entry_points[0]->commands[0].AsDispatch(); }
fb::KvWriteT &kvWriteOf(fb::ModelT &m) { return *m.entry_points[0]->commands[1].AsKvWrite(); }

TEST_F(ArtifactTest, RefusesWeightValueOutOfRangeOrMismatched) {
  writeGood();
  patchManifest([](fb::ModelT &m) { dispatchOf(m).args[1]->index = 9; });
  EXPECT_OPEN_ERROR("entry point 'decoder' command 0 (Dispatch of 'loom_linear_0') arg 1",
                    "Weight tensor index 9 out of range (5 tensors)");
  writeGood();
  patchManifest([](fb::ModelT &m) { dispatchOf(m).args[1]->dtype = fb::DType::BF16; });
  EXPECT_OPEN_ERROR("Weight is BF16 [2, 3] but tensor 'a.bf16_to_f32' is F32 [2, 3]");
  writeGood();
  patchManifest([](fb::ModelT &m) { dispatchOf(m).args[1]->shape = {3, 2}; });
  EXPECT_OPEN_ERROR("Weight is F32 [3, 2] but tensor 'a.bf16_to_f32' is F32 [2, 3]");
}

TEST_F(ArtifactTest, RefusesKvValueOutOfRangeOrMismatched) {
  writeGood();
  patchManifest([](fb::ModelT &m) { dispatchOf(m).args[2]->index = 5; });
  EXPECT_OPEN_ERROR("arg 2: kv_cache layer index 5 out of range (2 layers)");
  writeGood();
  patchManifest([](fb::ModelT &m) { dispatchOf(m).args[3]->shape = {4, 2, 8}; });
  EXPECT_OPEN_ERROR("KvValues is BF16 [4, 2, 8] but kv_cache layer 1 is BF16 [16, 2, 8]");
}

TEST_F(ArtifactTest, RefusesTokenPositionsOfAnotherTypeOrShape) {
  writeGood();
  patchManifest([](fb::ModelT &m) { dispatchOf(m).args[5]->kind = fb::ValueKind::TokenPositions; });
  EXPECT_OPEN_ERROR("arg 5: TokenPositions is F32 [Tokens, 4], expected I32 [Tokens]");
  writeGood();
  patchManifest([](fb::ModelT &m) {
    dispatchOf(m).args[5]->kind = fb::ValueKind::TokenPositions;
    dispatchOf(m).args[5]->dtype = fb::DType::I32;
  });
  EXPECT_OPEN_ERROR("arg 5: TokenPositions is I32 [Tokens, 4], expected I32 [Tokens]");
}

TEST_F(ArtifactTest, RefusesDispatchKernelOutOfRange) {
  writeGood();
  patchManifest([](fb::ModelT &m) { dispatchOf(m).kernel = 2; });
  EXPECT_OPEN_ERROR("entry point 'decoder' command 0 (Dispatch): kernel index 2 out of range (2 kernels)");
}

TEST_F(ArtifactTest, RefusesKvWriteLayerOutOfRangeOrMismatched) {
  writeGood();
  patchManifest([](fb::ModelT &m) { kvWriteOf(m).layer = 2; });
  EXPECT_OPEN_ERROR("command 1 (KvWrite): kv_cache layer index 2 out of range (2 layers)");
  writeGood();
  patchManifest([](fb::ModelT &m) { kvWriteOf(m).keys->dtype = fb::DType::F32; });
  EXPECT_OPEN_ERROR("KvWrite layer 0) keys is F32 [Tokens, 2, 8], expected BF16 [Tokens, 2, 8]");
}

// A keys-only layer (k_eq_v, the raw k cached once): its KvWrite has no values.
TEST_F(ArtifactTest, AcceptsKeysOnlyLayerWrittenWithoutValues) {
  ArtifactContents c = contents();
  c.manifest.kv_cache[0]->keys_only = true;
  c.manifest.entry_points[0]->commands[1].AsKvWrite()->values.reset();
  writeArtifact(std::move(c), artifact);
  auto opened = Artifact::open(artifact);
  EXPECT_TRUE(opened->manifest().kv_cache()->Get(0)->keys_only());
  EXPECT_FALSE(opened->manifest().kv_cache()->Get(1)->keys_only());
}

TEST_F(ArtifactTest, RefusesValuesOfAKeysOnlyLayer) {
  writeGood();
  patchManifest([](fb::ModelT &m) { m.kv_cache[0]->keys_only = true; });
  EXPECT_OPEN_ERROR("(KvWrite layer 0) writes values but kv_cache layer 0 caches keys only (keys_only)");
  writeGood();
  patchManifest([](fb::ModelT &m) { m.kv_cache[1]->keys_only = true; });
  EXPECT_OPEN_ERROR("arg 3: reads KvValues of kv_cache layer 1, which caches keys only (keys_only)");
}

TEST_F(ArtifactTest, RefusesKvWriteWithoutValuesForKeysAndValuesLayer) {
  ArtifactContents c = contents();
  c.manifest.entry_points[0]->commands[1].AsKvWrite()->values.reset();
  try {
    writeArtifact(std::move(c), artifact);
    ADD_FAILURE() << "an artifact whose KvWrite lacks values was written";
  } catch (const Error &error) {
    EXPECT_NE(std::string(error.what()).find("(KvWrite layer 0) has no values"), std::string::npos)
        << error.what();
  }
}

TEST_F(ArtifactTest, RefusesArenaValueBeyondArena) {
  writeGood();
  patchManifest([](fb::ModelT &m) { kvWriteOf(m).values->offset_per_token = 64; });
  EXPECT_OPEN_ERROR("values: arena value at 64 + 32 bytes per token exceeds the entry point's arena of 80");
}

TEST_F(ArtifactTest, RefusesInputOutputSlotOutOfRange) {
  writeGood();
  patchManifest([](fb::ModelT &m) { dispatchOf(m).args[0]->index = 1; });
  EXPECT_OPEN_ERROR("arg 0: Input slot 1 out of range (1 inputs)");
  writeGood();
  patchManifest([](fb::ModelT &m) { dispatchOf(m).args[6]->index = 3; });
  EXPECT_OPEN_ERROR("arg 6: Output slot 3 out of range (1 outputs)");
}

} // namespace
} // namespace loom
