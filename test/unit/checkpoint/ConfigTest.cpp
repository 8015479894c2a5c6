#include "TestUtil.h"

#include "loom/Checkpoint/ConfigJson.h"
#include "loom/Checkpoint/SyntheticModel.h"
#include "loom/Checkpoint/TensorSpec.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

using namespace loom;
using namespace loom::test;
using ::testing::HasSubstr;
using json = nlohmann::json;

namespace {

void expectSameRope(const RopeParameters &a, const RopeParameters &b) {
  EXPECT_EQ(a.type, b.type);
  EXPECT_EQ(a.theta, b.theta);
  EXPECT_EQ(a.partialRotaryFactor, b.partialRotaryFactor);
}

void expectSameConfig(const ModelConfig &a, const ModelConfig &b) {
  EXPECT_EQ(a.vocabSize, b.vocabSize);
  EXPECT_EQ(a.hiddenSize, b.hiddenSize);
  EXPECT_EQ(a.intermediateSize, b.intermediateSize);
  EXPECT_EQ(a.numLayers, b.numLayers);
  EXPECT_EQ(a.numHeads, b.numHeads);
  EXPECT_EQ(a.headDim, b.headDim);
  EXPECT_EQ(a.numKvHeads, b.numKvHeads);
  EXPECT_EQ(a.globalHeadDim, b.globalHeadDim);
  EXPECT_EQ(a.numGlobalKvHeads, b.numGlobalKvHeads);
  EXPECT_EQ(a.attentionKEqV, b.attentionKEqV);
  EXPECT_EQ(a.slidingWindow, b.slidingWindow);
  EXPECT_EQ(a.maxPositionEmbeddings, b.maxPositionEmbeddings);
  EXPECT_EQ(a.rmsNormEps, b.rmsNormEps);
  EXPECT_EQ(a.finalLogitSoftcap, b.finalLogitSoftcap);
  EXPECT_EQ(a.layerKinds, b.layerKinds);
  expectSameRope(a.slidingRope, b.slidingRope);
  expectSameRope(a.fullRope, b.fullRope);
  EXPECT_EQ(a.bidirectionalVision, b.bidirectionalVision);
  EXPECT_EQ(a.padTokenId, b.padTokenId);
  EXPECT_EQ(a.bosTokenId, b.bosTokenId);
  EXPECT_EQ(a.eosTokenIds, b.eosTokenIds);
  EXPECT_EQ(a.hasVision, b.hasVision);
  if (a.hasVision && b.hasVision) {
    EXPECT_EQ(a.patchSize, b.patchSize);
    EXPECT_EQ(a.poolingKernelSize, b.poolingKernelSize);
    EXPECT_EQ(a.mmEmbedDim, b.mmEmbedDim);
    EXPECT_EQ(a.mmPosembSize, b.mmPosembSize);
    EXPECT_EQ(a.visionRmsNormEps, b.visionRmsNormEps);
  }
  EXPECT_EQ(a.hasAudio, b.hasAudio);
  if (a.hasAudio && b.hasAudio) {
    EXPECT_EQ(a.audioEmbedDim, b.audioEmbedDim);
    EXPECT_EQ(a.audioRmsNormEps, b.audioRmsNormEps);
  }
  EXPECT_EQ(a.boiTokenId, b.boiTokenId);
  EXPECT_EQ(a.eoiTokenId, b.eoiTokenId);
  EXPECT_EQ(a.imageTokenId, b.imageTokenId);
  EXPECT_EQ(a.boaTokenId, b.boaTokenId);
  EXPECT_EQ(a.eoaTokenId, b.eoaTokenId);
  EXPECT_EQ(a.audioTokenId, b.audioTokenId);
  EXPECT_EQ(a.videoTokenId, b.videoTokenId);
  EXPECT_EQ(a.dtype, b.dtype);
}

// The tiny preset as JSON, edited by `edit`, then parsed; returns the error text.
template <typename Edit> std::string refusal(Edit edit) {
  json j = json::parse(toConfigJson(presetConfig("tiny")));
  edit(j);
  return errorOf([&] { parseModelConfigText(j.dump(), "cfg/config.json"); });
}

} // namespace

TEST(ModelConfig, RoundTripPresets) {
  for (const char *preset : {"tiny", "12b"}) {
    ModelConfig c = presetConfig(preset);
    ModelConfig back = parseModelConfigText(toConfigJson(c), "roundtrip");
    expectSameConfig(c, back);
    EXPECT_EQ(toConfigJson(back), toConfigJson(c));
  }
}

TEST(ModelConfig, RoundTripVariants) {
  ModelConfig c = presetConfig("tiny");
  c.hasVision = false;
  c.hasAudio = false;
  c.finalLogitSoftcap = 0;
  c.bidirectionalVision = false;
  c.eosTokenIds = {1, 106, 50};
  c.attentionKEqV = false;
  c.numGlobalKvHeads = c.numKvHeads;
  c.layerKinds = {LayerKind::Full, LayerKind::Sliding, LayerKind::Full, LayerKind::Full};
  c.dtype = "float32";
  ModelConfig back = parseModelConfigText(toConfigJson(c), "roundtrip");
  expectSameConfig(c, back);
}

TEST(ModelConfig, TwelveBPreset) {
  ModelConfig c = presetConfig("12b");
  EXPECT_EQ(c.numLayers, 48);
  for (int i = 0; i < 48; ++i)
    EXPECT_EQ(c.isFull(i), (i + 1) % 6 == 0) << i;
  auto specs = expectedTensors(c);
  EXPECT_EQ(specs.size(), 677u); // 666 text + 11 multimodal (MODEL.md section 1)
  int64_t params = 0;
  for (auto &s : specs)
    params += numElements(s.shape);
  EXPECT_NEAR((double)params, 11.95e9, 0.05e9);
}

TEST(ModelConfig, TinyPreset) {
  ModelConfig c = presetConfig("tiny");
  ASSERT_EQ(c.layerKinds.size(), 4u);
  EXPECT_EQ(c.layerKinds, (std::vector<LayerKind>{LayerKind::Sliding, LayerKind::Sliding, LayerKind::Sliding,
                                                  LayerKind::Full}));
  setNumLayers(c, 7);
  EXPECT_EQ(c.layerKinds[5], LayerKind::Full);
  EXPECT_EQ(c.layerKinds[6], LayerKind::Full);
  EXPECT_EQ(c.layerKinds[4], LayerKind::Sliding);
}

TEST(ModelConfig, HuggingFaceDefaults) {
  // A minimal config: every absent field takes the Gemma4UnifiedTextConfig default.
  ModelConfig c = parseModelConfigText(R"({"model_type":"gemma4_unified","text_config":{}})", "min");
  EXPECT_EQ(c.hiddenSize, 2304);
  EXPECT_EQ(c.intermediateSize, 9216);
  EXPECT_EQ(c.numLayers, 30);
  EXPECT_EQ(c.numHeads, 8);
  EXPECT_EQ(c.numKvHeads, 4);
  EXPECT_EQ(c.headDim, 256);
  EXPECT_EQ(c.globalHeadDim, 512);
  EXPECT_FALSE(c.attentionKEqV);
  EXPECT_EQ(c.numGlobalKvHeads, 4); // no k_eq_v: full layers keep num_key_value_heads
  EXPECT_EQ(c.finalLogitSoftcap, 0);
  EXPECT_TRUE(c.bidirectionalVision);
  EXPECT_FALSE(c.hasVision);
  EXPECT_FALSE(c.hasAudio);
  EXPECT_EQ(c.slidingRope.type, "default");
  EXPECT_EQ(c.fullRope.type, "proportional");
  EXPECT_EQ(c.fullRope.partialRotaryFactor, 0.25);
  EXPECT_EQ(c.fullRope.theta, 1e6);
  for (int i = 0; i < 30; ++i)
    EXPECT_EQ(c.isFull(i), (i + 1) % 6 == 0 || i == 29);

  ModelConfig v = parseModelConfigText(
      R"({"model_type":"gemma4_unified","text_config":{"attention_k_eq_v":true,"num_global_key_value_heads":1},
          "vision_config":{},"audio_config":{}})", "min");
  EXPECT_EQ(v.numGlobalKvHeads, 1);
  EXPECT_TRUE(v.hasVision);
  EXPECT_EQ(v.mmEmbedDim, 3840);
  EXPECT_TRUE(v.hasAudio);
  EXPECT_EQ(v.audioEmbedDim, 640);
}

TEST(ModelConfig, LastLayerForcedFull) {
  json j = json::parse(toConfigJson(presetConfig("tiny")));
  j["text_config"]["layer_types"] = {"sliding_attention", "full_attention", "sliding_attention", "sliding_attention"};
  ModelConfig c = parseModelConfigText(j.dump(), "x");
  EXPECT_TRUE(c.isFull(1));
  EXPECT_TRUE(c.isFull(3));
}

// config.json files written by transformers' save_pretrained (tools/golden/make_configs.py): the
// full layers' shape is only in per_layer_config. Each layer must get the head_dim and KV head
// count that transformers itself resolves from the file (layers.json beside it).
TEST(ModelConfig, SavePretrainedConfigs) {
  for (const char *name : {"tiny-varied", "keqv-mqa"}) {
    SCOPED_TRACE(name);
    const std::string folder = std::string(LOOM_SOURCE_DIR) + "/test/data/configs/" + name;
    ModelConfig c;
    ASSERT_EQ(errorOf([&] { c = parseModelConfig(folder + "/config.json"); }), "");
    json expected = json::parse(readFile(folder + "/layers.json"));
    ASSERT_EQ((int64_t)expected["layers"].size(), c.numLayers);
    for (int64_t i = 0; i < c.numLayers; ++i) {
      const json &layer = expected["layers"][i];
      EXPECT_EQ(c.isFull(i), layer["type"] == "full_attention") << "layer " << i;
      EXPECT_EQ(c.layerHeadDim(i), layer["head_dim"].get<int64_t>()) << "layer " << i;
      EXPECT_EQ(c.layerKvHeads(i), layer["num_key_value_heads"].get<int64_t>()) << "layer " << i;
    }
  }
  // The rest of tiny-varied, as make_configs.py asks for it.
  ModelConfig c = parseModelConfig(std::string(LOOM_SOURCE_DIR) + "/test/data/configs/tiny-varied/config.json");
  EXPECT_FALSE(c.attentionKEqV);
  EXPECT_TRUE(c.layerHasValueProjection(1));
  EXPECT_EQ(c.hiddenSize, 160);
  EXPECT_EQ(c.numHeads, 5);
  EXPECT_EQ(c.slidingWindow, 24);
  EXPECT_EQ(c.rmsNormEps, 1e-5);
  EXPECT_EQ(c.visionRmsNormEps, 1e-5);
  EXPECT_EQ(c.audioRmsNormEps, 1e-5);
  EXPECT_EQ(c.finalLogitSoftcap, 0);
  EXPECT_EQ(c.mmEmbedDim, 96);
  expectSameRope(c.slidingRope, {"default", 5e4, 1.0});
  expectSameRope(c.fullRope, {"proportional", 2.5e5, 0.5});
}

// transformers 5.23's rules for the full layers' shape (checked against Gemma4UnifiedTextConfig):
// with the key per_layer_config, global_head_dim and num_global_key_value_heads are ignored.
TEST(ModelConfig, PerLayerConfigRules) {
  auto parse = [](const std::string &textConfig) {
    return parseModelConfigText(R"({"model_type":"gemma4_unified","text_config":{"num_hidden_layers":4,)" +
                                    textConfig + "}}",
                                "cfg/config.json");
  };
  // Without per_layer_config: global_head_dim (default 512); num_global_key_value_heads only with k_eq_v.
  ModelConfig c = parse(R"("head_dim":32,"num_key_value_heads":4,"num_global_key_value_heads":2)");
  EXPECT_EQ(c.globalHeadDim, 512);
  EXPECT_EQ(c.numGlobalKvHeads, 4);
  c = parse(R"("attention_k_eq_v":true,"global_head_dim":64,"num_global_key_value_heads":2)");
  EXPECT_EQ(c.globalHeadDim, 64);
  EXPECT_EQ(c.numGlobalKvHeads, 2);
  // per_layer_config null or {}: every layer has the global shape, whatever global_head_dim says.
  for (const char *empty : {"null", "{}"}) {
    c = parse(std::string(R"("head_dim":32,"num_key_value_heads":4,"global_head_dim":64,"per_layer_config":)") + empty);
    EXPECT_EQ(c.globalHeadDim, 32) << empty;
    EXPECT_EQ(c.numGlobalKvHeads, 4) << empty;
  }
  // Entries apply to full layers whatever attention_k_eq_v says, and may name sliding layers too.
  c = parse(R"("head_dim":32,"num_key_value_heads":4,
               "per_layer_config":{"0":{"head_dim":16},"1":{"head_dim":16},"2":{"head_dim":16,"num_key_value_heads":4},
                                   "3":{"head_dim":80,"num_key_value_heads":1}})");
  EXPECT_EQ(c.headDim, 16);
  EXPECT_EQ(c.numKvHeads, 4);
  EXPECT_EQ(c.globalHeadDim, 80);
  EXPECT_EQ(c.numGlobalKvHeads, 1);
  EXPECT_FALSE(c.attentionKEqV);

  // What Loom cannot compile, or transformers cannot read, is refused by field.
  struct Refusal {
    const char *textConfig, *field, *expected;
  };
  for (const Refusal &r : std::initializer_list<Refusal>{
           {R"("per_layer_config":{"1":{"head_dim":16}})", "text_config.per_layer_config.1.head_dim",
            "expected 256 (as layer 0: Loom compiles one shape per layer kind), found 16 for layer 1"},
           {R"("layer_types":["full_attention","sliding_attention","full_attention","full_attention"],
               "per_layer_config":{"2":{"num_key_value_heads":1}})",
            "text_config.per_layer_config.2.num_key_value_heads", "expected 4 (as layer 0"},
           {R"("per_layer_config":{"3":{"head_dim":64},"full_attention":{}})",
            "text_config.per_layer_config.full_attention",
            "expected a layer index in [0, 4)"},
           {R"("per_layer_config":{"4":{"head_dim":64}})", "text_config.per_layer_config.4", "expected a layer index"},
           {R"("per_layer_config":{"3":{"intermediate_size":64}})", "text_config.per_layer_config.3.intermediate_size",
            "expected only head_dim and num_key_value_heads"},
           {R"("per_layer_config":{"3":{"head_dim":0}})", "text_config.per_layer_config.3.head_dim",
            "expected a positive integer"},
           {R"("per_layer_config":{"3":{"skip":["mlp"]}})", "text_config.per_layer_config.3.skip", "expected []"},
           {R"("per_layer_config":[64])", "text_config.per_layer_config", "expected an object keyed by layer index"},
       }) {
    std::string err = errorOf([&] { parse(r.textConfig); });
    EXPECT_THAT(err, HasSubstr("cfg/config.json")) << r.textConfig;
    EXPECT_THAT(err, HasSubstr(r.field)) << r.textConfig;
    EXPECT_THAT(err, HasSubstr(r.expected)) << r.textConfig;
  }
}

// Full layers with their own KV head count but no k_eq_v: num_global_key_value_heads cannot say
// it, so toConfigJson writes per_layer_config as save_pretrained does.
TEST(ModelConfig, RoundTripFullLayerKvHeadsWithoutKEqV) {
  ModelConfig c = presetConfig("tiny");
  c.attentionKEqV = false;
  c.numGlobalKvHeads = 1; // sliding layers keep 2
  setNumLayers(c, 12);
  json j = json::parse(toConfigJson(c));
  EXPECT_EQ(j["text_config"]["per_layer_config"], json::parse(R"({"05":{"head_dim":32,"num_key_value_heads":1},
                                                                  "11":{"head_dim":32,"num_key_value_heads":1}})"));
  ModelConfig back = parseModelConfigText(j.dump(), "roundtrip");
  expectSameConfig(c, back);
  EXPECT_EQ(toConfigJson(back), toConfigJson(c));
}

TEST(ModelConfig, Refusals) {
  struct Case {
    std::string field;
    std::function<void(json &)> edit;
  };
  std::vector<Case> cases = {
      {"model_type", [](json &j) { j["model_type"] = "gemma4"; }},
      {"text_config", [](json &j) { j.erase("text_config"); }},
      {"hidden_activation", [](json &j) { j["text_config"]["hidden_activation"] = "gelu"; }},
      {"attention_bias", [](json &j) { j["text_config"]["attention_bias"] = true; }},
      {"num_kv_shared_layers", [](json &j) { j["text_config"]["num_kv_shared_layers"] = 2; }},
      {"use_double_wide_mlp", [](json &j) { j["text_config"]["use_double_wide_mlp"] = true; }},
      {"rope_type", [](json &j) { j["text_config"]["rope_parameters"]["full_attention"]["rope_type"] = "yarn"; }},
      {"factor", [](json &j) { j["text_config"]["rope_parameters"]["full_attention"]["factor"] = 8.0; }},
      {"rope_theta", [](json &j) { j["text_config"]["rope_parameters"]["sliding_attention"].erase("rope_theta"); }},
      {"rope_parameters.full_attention", [](json &j) { j["text_config"]["rope_parameters"].erase("full_attention"); }},
      {"use_bidirectional_attention", [](json &j) { j["text_config"]["use_bidirectional_attention"] = "all"; }},
      {"layer_types", [](json &j) { j["text_config"]["layer_types"].push_back("full_attention"); }},
      {"layer_types[1]", [](json &j) { j["text_config"]["layer_types"][1] = "chunked_attention"; }},
      {"hidden_size", [](json &j) { j["text_config"]["hidden_size"] = 0; }},
      // Found by ConfigJsonFuzzer: without layer_types, 2e11 default layer kinds were allocated.
      {"num_hidden_layers", [](json &j) {
         j["text_config"]["num_hidden_layers"] = 222222222222;
         j["text_config"].erase("layer_types");
       }},
      {"intermediate_size", [](json &j) { j["text_config"]["intermediate_size"] = -5; }},
      {"vocab_size", [](json &j) { j["text_config"]["vocab_size"] = "big"; }},
      {"num_key_value_heads", [](json &j) { j["text_config"]["num_key_value_heads"] = 3; }},
      {"num_global_key_value_heads", [](json &j) { j["text_config"]["num_global_key_value_heads"] = 3; }},
      {"sliding_window", [](json &j) { j["text_config"]["sliding_window"] = 0; }},
      {"tie_word_embeddings", [](json &j) { j["text_config"]["tie_word_embeddings"] = false; }},
      {"vision_config.output_proj_dims", [](json &j) { j["vision_config"]["output_proj_dims"] = 64; }},
      {"vision_config.mm_embed_dim", [](json &j) { j["vision_config"]["mm_embed_dim"] = 0; }},
      {"audio_config.audio_embed_dim", [](json &j) { j["audio_config"]["audio_embed_dim"] = -1; }},
      {"audio_config.hidden_size", [](json &j) { j["audio_config"]["hidden_size"] = 320; }},
      {"rms_norm_eps", [](json &j) { j["text_config"]["rms_norm_eps"] = 0; }},
      {"final_logit_softcapping", [](json &j) { j["text_config"]["final_logit_softcapping"] = -1; }},
      {"hidden_size_per_layer_input", [](json &j) { j["text_config"]["hidden_size_per_layer_input"] = 256; }},
      {"partial_rotary_factor",
       [](json &j) { j["text_config"]["rope_parameters"]["sliding_attention"]["partial_rotary_factor"] = 0.5; }},
  };
  for (auto &c : cases) {
    std::string err = refusal(c.edit);
    EXPECT_THAT(err, HasSubstr(c.field)) << "case " << c.field;
    EXPECT_THAT(err, HasSubstr("cfg/config.json")) << "case " << c.field;
    EXPECT_THAT(err, HasSubstr("expected")) << "case " << c.field;
  }
}

TEST(ModelConfig, MissingAndBadFile) {
  TempDir dir;
  EXPECT_THAT(errorOf([&] { parseModelConfig(dir / "config.json"); }), HasSubstr("config.json"));
  writeFile(dir / "config.json", "{ not json");
  EXPECT_THAT(errorOf([&] { parseModelConfig(dir / "config.json"); }), HasSubstr("not valid JSON"));
}

TEST(ModelConfig, ToConfigJsonRefusesInvalid) {
  ModelConfig c = presetConfig("tiny");
  c.numKvHeads = 3;
  EXPECT_THAT(errorOf([&] { toConfigJson(c); }), HasSubstr("num_key_value_heads"));
}

TEST(TensorSpec, TinyShapes) {
  ModelConfig c = presetConfig("tiny");
  auto specs = expectedTensors(c);
  // 3 sliding x 14 + 1 full x 13 + embed + norm + 11 multimodal
  EXPECT_EQ(specs.size(), 3u * 14 + 13 + 2 + 11);
  auto get = [&](const std::string &n) {
    for (auto &s : specs)
      if (s.name == n)
        return s;
    ADD_FAILURE() << n;
    return TensorSpec{};
  };
  EXPECT_EQ(get("model.language_model.layers.0.self_attn.q_proj.weight").shape, (std::vector<int64_t>{64, 64}));
  EXPECT_EQ(get("model.language_model.layers.0.self_attn.v_proj.weight").shape, (std::vector<int64_t>{32, 64}));
  EXPECT_EQ(get("model.language_model.layers.3.self_attn.q_proj.weight").shape, (std::vector<int64_t>{128, 64}));
  EXPECT_EQ(get("model.language_model.layers.3.self_attn.k_proj.weight").shape, (std::vector<int64_t>{32, 64}));
  EXPECT_EQ(get("model.language_model.layers.3.self_attn.o_proj.weight").shape, (std::vector<int64_t>{64, 128}));
  EXPECT_EQ(get("model.language_model.layers.3.layer_scalar").shape, (std::vector<int64_t>{1}));
  EXPECT_EQ(get("model.vision_embedder.patch_dense.weight").shape, (std::vector<int64_t>{48, 6912}));
  EXPECT_EQ(get("model.vision_embedder.pos_embedding").shape, (std::vector<int64_t>{1120, 2, 48}));
  EXPECT_EQ(get("model.embed_vision.embedding_projection.weight").shape, (std::vector<int64_t>{64, 48}));
  EXPECT_EQ(get("model.embed_audio.embedding_projection.weight").shape, (std::vector<int64_t>{64, 640}));
  for (auto &s : specs) {
    EXPECT_EQ(s.name.find("layers.3.self_attn.v_proj"), std::string::npos);
    EXPECT_EQ(s.name.find("lm_head"), std::string::npos);
  }
}

TEST(Synthetic, Bf16Rounding) {
  EXPECT_EQ(floatToBf16(1.0f), 0x3f80);
  EXPECT_EQ(floatToBf16(bf16ToFloat(0x3f81)), 0x3f81);
  // 1 + 2^-8 is halfway between 0x3f80 and 0x3f81: ties to even
  EXPECT_EQ(floatToBf16(1.0f + 1.0f / 256), 0x3f80);
  EXPECT_EQ(floatToBf16(1.0f + 3.0f / 256), 0x3f82);
}

TEST(Synthetic, DeterministicAndOrderIndependent) {
  ModelConfig c = presetConfig("tiny");
  auto specs = expectedTensors(c);
  const TensorSpec &embed = specs[0];
  std::vector<float> all(1000), part(500);
  syntheticValues(c, embed, 7, 0, 1000, all.data());
  syntheticValues(c, embed, 7, 500, 500, part.data());
  for (int i = 0; i < 500; ++i)
    EXPECT_EQ(all[500 + i], part[i]);
  std::vector<float> other(1000);
  syntheticValues(c, embed, 8, 0, 1000, other.data());
  EXPECT_NE(all, other);
  // embed_tokens std ~ 3/sqrt(64) = 0.375
  double s2 = 0;
  std::vector<float> big(100000);
  syntheticValues(c, embed, 1, 0, big.size(), big.data());
  for (float v : big)
    s2 += v * v;
  EXPECT_NEAR(std::sqrt(s2 / big.size()), 0.375, 0.01);
}
