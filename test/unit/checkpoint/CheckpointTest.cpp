#include "TestUtil.h"

#include "loom/Checkpoint/Checkpoint.h"
#include "loom/Checkpoint/ConfigJson.h"
#include "loom/Checkpoint/SyntheticModel.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>

using namespace loom;
using namespace loom::test;
using ::testing::HasSubstr;
namespace fs = std::filesystem;

namespace {

// Writes config.json and the synthetic weights of `c` into dir.
void makeModel(const std::string &dir, const ModelConfig &c, uint64_t maxShard = 5000000000ull) {
  writeFile(dir + "/config.json", toConfigJson(c));
  SyntheticOptions o;
  o.seed = 3;
  o.maxShardBytes = maxShard;
  writeSyntheticWeights(dir, c, o);
}

// Rewrites dir/model.safetensors with the synthetic tensors of `c`, edited by `edit`.
template <typename Edit> void rewriteWeights(const std::string &dir, const ModelConfig &c, Edit edit) {
  std::vector<TensorToWrite> tensors;
  for (const TensorSpec &s : expectedTensors(c))
    tensors.push_back({s.name, DType::BF16, s.shape, nullptr});
  edit(tensors);
  writeSafetensors(dir + "/model.safetensors", tensors);
}

} // namespace

TEST(Checkpoint, OpensGeneratedModel) {
  TempDir dir;
  ModelConfig c = smallConfig();
  makeModel(dir.path, c);
  Checkpoint ck = Checkpoint::open(dir.path);
  auto specs = expectedTensors(c);
  ASSERT_EQ(ck.tensors().size(), specs.size());
  for (size_t i = 0; i < specs.size(); ++i) {
    EXPECT_EQ(ck.tensors()[i].name, specs[i].name);
    EXPECT_EQ(ck.tensors()[i].shape, specs[i].shape);
    EXPECT_EQ(ck.tensors()[i].dtype, DType::BF16);
  }
  EXPECT_EQ(ck.config().hiddenSize, 64);
  // Aliases resolve to the same tensor.
  const TensorLocation &a = ck.lookup("model.embed_vision.multimodal_embedder.embedding_projection.weight");
  EXPECT_EQ(a.name, "model.embed_vision.embedding_projection.weight");
  EXPECT_EQ(&ck.lookup("model.embed_vision.patch_ln1.weight"), &ck.lookup("model.vision_embedder.patch_ln1.weight"));
  EXPECT_THAT(errorOf([&] { ck.lookup("lm_head.weight"); }), HasSubstr("lm_head.weight"));

  // Data matches the generator.
  const TensorLocation &e = ck.lookup("model.language_model.layers.1.layer_scalar");
  uint16_t raw;
  ck.read(e.name, 0, &raw, 2);
  float want;
  syntheticValues(c, specs[0 + 0] /*unused*/, 0, 0, 0, &want); // no-op call: count 0
  for (auto &s : specs)
    if (s.name == e.name)
      syntheticValues(c, s, 3, 0, 1, &want);
  EXPECT_EQ(raw, floatToBf16(want));
  EXPECT_GE(bf16ToFloat(raw), 0.5f);
  EXPECT_LE(bf16ToFloat(raw), 1.0f);
}

TEST(Checkpoint, MissingTensor) {
  TempDir dir;
  ModelConfig c = smallConfig();
  makeModel(dir.path, c);
  rewriteWeights(dir.path, c, [](std::vector<TensorToWrite> &t) {
    t.erase(std::remove_if(t.begin(), t.end(), [](auto &x) { return x.name == "model.language_model.layers.2.mlp.up_proj.weight"; }), t.end());
  });
  std::string e = errorOf([&] { Checkpoint::open(dir.path); });
  EXPECT_THAT(e, HasSubstr("'model.language_model.layers.2.mlp.up_proj.weight'"));
  EXPECT_THAT(e, HasSubstr("missing"));
  EXPECT_THAT(e, HasSubstr("[128, 64]"));
}

TEST(Checkpoint, RenamedTensorIsExtraAndMissing) {
  TempDir dir;
  ModelConfig c = smallConfig();
  makeModel(dir.path, c);
  rewriteWeights(dir.path, c, [](std::vector<TensorToWrite> &t) {
    for (auto &x : t)
      if (x.name == "model.language_model.norm.weight")
        x.name = "model.language_model.final_norm.weight";
  });
  std::string e = errorOf([&] { Checkpoint::open(dir.path); });
  EXPECT_THAT(e, HasSubstr("model.language_model.norm.weight"));
  EXPECT_THAT(e, HasSubstr("missing"));

  // An extra tensor on top of the full set.
  rewriteWeights(dir.path, c, [](std::vector<TensorToWrite> &t) {
    t.push_back({"lm_head.weight", DType::BF16, {512, 64}, nullptr});
  });
  e = errorOf([&] { Checkpoint::open(dir.path); });
  EXPECT_THAT(e, HasSubstr("model.safetensors: tensor 'lm_head.weight': unexpected"));

  // A v_proj on a k_eq_v full layer is unexpected too.
  rewriteWeights(dir.path, c, [](std::vector<TensorToWrite> &t) {
    t.push_back({"model.language_model.layers.3.self_attn.v_proj.weight", DType::BF16, {32, 64}, nullptr});
  });
  EXPECT_THAT(errorOf([&] { Checkpoint::open(dir.path); }), HasSubstr("layers.3.self_attn.v_proj.weight': unexpected"));
}

TEST(Checkpoint, WrongShape) {
  TempDir dir;
  ModelConfig c = smallConfig();
  makeModel(dir.path, c);
  rewriteWeights(dir.path, c, [](std::vector<TensorToWrite> &t) {
    for (auto &x : t)
      if (x.name == "model.language_model.layers.0.self_attn.k_proj.weight")
        x.shape = {64, 64};
  });
  std::string e = errorOf([&] { Checkpoint::open(dir.path); });
  EXPECT_THAT(e, HasSubstr("model.safetensors: tensor 'model.language_model.layers.0.self_attn.k_proj.weight': "
                           "expected shape [32, 64], found [64, 64]"));
}

TEST(Checkpoint, VisionAliasSpelling) {
  TempDir dir;
  ModelConfig c = smallConfig();
  makeModel(dir.path, c);
  rewriteWeights(dir.path, c, [](std::vector<TensorToWrite> &t) {
    for (auto &x : t) {
      if (x.name.rfind("model.vision_embedder.", 0) == 0)
        x.name = "model.embed_vision." + x.name.substr(std::string("model.vision_embedder.").size());
      else if (x.name == "model.embed_vision.embedding_projection.weight")
        x.name = "model.embed_vision.multimodal_embedder.embedding_projection.weight";
    }
  });
  Checkpoint ck = Checkpoint::open(dir.path);
  const TensorLocation &t = ck.lookup("model.vision_embedder.pos_embedding");
  EXPECT_EQ(t.storedName, "model.embed_vision.pos_embedding");
  EXPECT_EQ(t.shape, (std::vector<int64_t>{16, 2, 48}));
  EXPECT_EQ(ck.lookup("model.embed_vision.embedding_projection.weight").storedName,
            "model.embed_vision.multimodal_embedder.embedding_projection.weight");

  // Both spellings at once is refused.
  rewriteWeights(dir.path, c, [](std::vector<TensorToWrite> &t) {
    t.push_back({"model.embed_vision.pos_embedding", DType::BF16, {16, 2, 48}, nullptr});
  });
  EXPECT_THAT(errorOf([&] { Checkpoint::open(dir.path); }), HasSubstr("stored twice"));
}

TEST(Checkpoint, NoVisionNoAudio) {
  TempDir dir;
  ModelConfig c = smallConfig();
  c.hasVision = c.hasAudio = false;
  makeModel(dir.path, c);
  Checkpoint ck = Checkpoint::open(dir.path);
  EXPECT_EQ(ck.tensors().size(), 3u * 14 + 13 + 2);
}

TEST(Checkpoint, ShardedIndex) {
  TempDir dir;
  ModelConfig c = smallConfig();
  // Shards of at most 40 KB -> several files plus the index.
  makeModel(dir.path, c, 40000);
  EXPECT_FALSE(fs::exists(dir / "model.safetensors"));
  ASSERT_TRUE(fs::exists(dir / "model.safetensors.index.json"));
  Checkpoint ck = Checkpoint::open(dir.path);
  EXPECT_GT(ck.files().size(), 1u);
  EXPECT_EQ(ck.tensors().size(), expectedTensors(c).size());
  auto index = nlohmann::json::parse(readFile(dir / "model.safetensors.index.json"));
  EXPECT_EQ(index["weight_map"].size(), expectedTensors(c).size());
}

TEST(Checkpoint, HandWrittenTwoShardIndex) {
  TempDir dir;
  ModelConfig c = smallConfig();
  writeFile(dir / "config.json", toConfigJson(c));
  auto specs = expectedTensors(c);
  std::vector<TensorToWrite> a, b;
  nlohmann::json map = nlohmann::json::object();
  for (size_t i = 0; i < specs.size(); ++i) {
    bool first = i < specs.size() / 2;
    (first ? a : b).push_back({specs[i].name, DType::F32, specs[i].shape, nullptr});
    map[specs[i].name] = first ? "model-00001-of-00002.safetensors" : "model-00002-of-00002.safetensors";
  }
  writeSafetensors(dir / "model-00001-of-00002.safetensors", a);
  writeSafetensors(dir / "model-00002-of-00002.safetensors", b);
  nlohmann::json index = {{"metadata", {{"total_size", 0}}}, {"weight_map", map}};
  writeFile(dir / "model.safetensors.index.json", index.dump());
  Checkpoint ck = Checkpoint::open(dir.path);
  EXPECT_EQ(ck.files().size(), 2u);
  EXPECT_THAT(ck.lookup("model.language_model.norm.weight").file, HasSubstr("model-00002-of-00002.safetensors"));
  EXPECT_THAT(ck.lookup(specs[0].name).file, HasSubstr("model-00001-of-00002.safetensors"));
  EXPECT_EQ(ck.lookup(specs[0].name).dtype, DType::F32);

  // The index naming the wrong shard for a tensor is refused.
  map[specs[0].name] = "model-00002-of-00002.safetensors";
  writeFile(dir / "model.safetensors.index.json", nlohmann::json({{"weight_map", map}}).dump());
  std::string e = errorOf([&] { Checkpoint::open(dir.path); });
  EXPECT_THAT(e, HasSubstr(specs[0].name));

  // A shard named by the index but absent.
  map[specs[0].name] = "model-00003-of-00002.safetensors";
  writeFile(dir / "model.safetensors.index.json", nlohmann::json({{"weight_map", map}}).dump());
  EXPECT_THAT(errorOf([&] { Checkpoint::open(dir.path); }), HasSubstr("model-00003-of-00002.safetensors"));
}

TEST(Checkpoint, MissingFiles) {
  TempDir dir;
  EXPECT_THAT(errorOf([&] { Checkpoint::open(dir.path); }), HasSubstr("config.json"));
  writeFile(dir / "config.json", toConfigJson(smallConfig()));
  EXPECT_THAT(errorOf([&] { Checkpoint::open(dir.path); }), HasSubstr("model.safetensors"));
}
