#include "loom/Checkpoint/ConfigJson.h"

#include "loom/Error.h"

#include <nlohmann/json.hpp>

#include <cmath>
#include <fstream>
#include <sstream>

namespace loom {
namespace {

// Far above any checkpoint (Gemma 4 12B has 48), and a bound on what parsing allocates per
// layer: a config claiming 2e11 layers ran the fuzzer out of memory.
constexpr int64_t kMaxLayers = 4096;

using json = nlohmann::json;

std::string typeName(const json &v) { return v.is_null() ? "null" : v.type_name(); }

// Reads fields of one JSON object, naming "section.field" in errors.
struct Section {
  const json *obj;
  std::string source;
  std::string prefix; // "text_config." or ""

  std::string name(const std::string &key) const { return prefix + key; }
  const json *get(const std::string &key) const {
    if (!obj)
      return nullptr;
    auto it = obj->find(key);
    return it == obj->end() ? nullptr : &*it;
  }
  [[noreturn]] void bad(const std::string &key, const std::string &expected, const std::string &found) const {
    fail(source, ": field '", name(key), "': expected ", expected, ", found ", found);
  }
  int64_t integer(const std::string &key, int64_t def) const {
    const json *v = get(key);
    if (!v)
      return def;
    if (!v->is_number_integer())
      bad(key, "an integer", v->dump());
    return v->get<int64_t>();
  }
  int64_t positive(const std::string &key, int64_t def) const {
    int64_t x = integer(key, def);
    if (x <= 0)
      bad(key, "a positive integer", std::to_string(x));
    return x;
  }
  double number(const std::string &key, double def) const {
    const json *v = get(key);
    if (!v)
      return def;
    if (!v->is_number())
      bad(key, "a number", v->dump());
    return v->get<double>();
  }
  bool boolean(const std::string &key, bool def) const {
    const json *v = get(key);
    if (!v)
      return def;
    if (!v->is_boolean())
      bad(key, "true or false", v->dump());
    return v->get<bool>();
  }
  // Returns def when absent; the JSON value otherwise (string or null).
  const json *stringOrNull(const std::string &key) const {
    const json *v = get(key);
    if (v && !v->is_string() && !v->is_null())
      bad(key, "a string or null", v->dump());
    return v;
  }
};

const char *layerTypeName(LayerKind k) { return k == LayerKind::Full ? "full_attention" : "sliding_attention"; }

RopeParameters parseRope(const Section &text, const json &ropeAll, const char *layerType) {
  std::string field = std::string("rope_parameters.") + layerType;
  auto it = ropeAll.find(layerType);
  if (it == ropeAll.end() || !it->is_object())
    fail(text.source, ": field '", text.name(field), "': expected an object with rope_type and rope_theta, found ",
         it == ropeAll.end() ? std::string("nothing") : it->dump());
  Section r{&*it, text.source, text.prefix + field + "."};
  RopeParameters p;
  const json *type = r.get("rope_type");
  if (!type || !type->is_string())
    r.bad("rope_type", "\"default\" or \"proportional\"", type ? type->dump() : "nothing");
  p.type = type->get<std::string>();
  if (p.type != "default" && p.type != "proportional")
    r.bad("rope_type", "\"default\" or \"proportional\"", type->dump());
  if (!r.get("rope_theta"))
    r.bad("rope_theta", "a positive number", "nothing");
  p.theta = r.number("rope_theta", 0);
  if (!(p.theta > 0))
    r.bad("rope_theta", "a positive number", r.get("rope_theta")->dump());
  p.partialRotaryFactor = r.number("partial_rotary_factor", 1.0);
  if (!(p.partialRotaryFactor > 0 && p.partialRotaryFactor <= 1))
    r.bad("partial_rotary_factor", "a number in (0, 1]", r.get("partial_rotary_factor")->dump());
  if (p.type == "default" && p.partialRotaryFactor != 1.0)
    r.bad("partial_rotary_factor", "1.0 (rope_type \"default\" rotates the whole head)",
          r.get("partial_rotary_factor")->dump());
  if (r.get("factor") && r.number("factor", 1.0) != 1.0)
    r.bad("factor", "1.0 (no rope scaling)", r.get("factor")->dump());
  for (auto &kv : it->items()) {
    const std::string &k = kv.key();
    if (k != "rope_type" && k != "rope_theta" && k != "partial_rotary_factor" && k != "factor")
      fail(text.source, ": field '", r.name(k), "': unsupported rope parameter (expected only rope_type, rope_theta, "
           "partial_rotary_factor, factor)");
  }
  return p;
}

// The attention shape of each layer kind, as transformers 5.23 resolves it
// (Gemma4UnifiedTextConfig.__post_init__ and HeterogeneousConfigMixin):
// * without per_layer_config (Google's published configs, toConfigJson), full layers take
//   global_head_dim (default 512) and, only with attention_k_eq_v, num_global_key_value_heads
//   (default: num_key_value_heads);
// * with the key per_layer_config (what save_pretrained writes; it leaves global_head_dim and
//   num_global_key_value_heads out, and transformers ignores them then, even when the key's value
//   is null), every layer takes its entry's head_dim / num_key_value_heads, or the global
//   head_dim / num_key_value_heads where its entry (or the entry's field) is absent.
// Loom compiles one shape per layer kind, so the layers of one kind must agree.
void readLayerShapes(const Section &t, ModelConfig &c) {
  const json *perLayer = t.get("per_layer_config");
  if (!perLayer) {
    c.globalHeadDim = t.positive("global_head_dim", 512);
    const json *g = t.get("num_global_key_value_heads");
    int64_t globalKvHeads = g && !g->is_null() ? t.positive("num_global_key_value_heads", 0) : 0;
    c.numGlobalKvHeads = c.attentionKEqV && globalKvHeads ? globalKvHeads : c.numKvHeads;
    return;
  }
  if (!perLayer->is_object() && !perLayer->is_null())
    t.bad("per_layer_config", "an object keyed by layer index, or null", perLayer->dump());
  const json noOverrides = json::object();
  if (perLayer->is_null())
    perLayer = &noOverrides;
  std::vector<int64_t> headDims(c.numLayers, c.headDim), kvHeads(c.numLayers, c.numKvHeads);
  std::vector<std::string> headDimFields(c.numLayers, "head_dim"), kvHeadFields(c.numLayers, "num_key_value_heads");
  for (auto &item : perLayer->items()) {
    const std::string &key = item.key();
    const std::string field = "per_layer_config." + key;
    // save_pretrained zero-pads the indices ("01" ... "10") so that they sort.
    bool digits = !key.empty() && key.size() <= 9 && key.find_first_not_of("0123456789") == std::string::npos;
    int64_t layer = digits ? std::stoll(key) : -1;
    if (layer < 0 || layer >= c.numLayers)
      t.bad(field, "a layer index in [0, " + std::to_string(c.numLayers) + ") (num_hidden_layers) as the key",
            "the key \"" + key + "\"");
    if (!item.value().is_object())
      t.bad(field, "an object of per-layer overrides", item.value().dump());
    Section entry{&item.value(), t.source, t.name(field) + "."};
    for (auto &overrideItem : item.value().items()) {
      const std::string &name = overrideItem.key();
      if (name == "head_dim") {
        headDims[layer] = entry.positive("head_dim", 0);
        headDimFields[layer] = field + ".head_dim";
      } else if (name == "num_key_value_heads") {
        kvHeads[layer] = entry.positive("num_key_value_heads", 0);
        kvHeadFields[layer] = field + ".num_key_value_heads";
      } else if (name == "skip") {
        if (!overrideItem.value().is_array() || !overrideItem.value().empty())
          entry.bad("skip", "[] (Loom runs every sub-layer)", overrideItem.value().dump());
      } else {
        entry.bad(name, "only head_dim and num_key_value_heads (the per-layer overrides Loom supports)",
                  "an override of '" + name + "'");
      }
    }
  }
  // The first layer of each kind sets the kind's shape; the others must match it.
  auto shapeOf = [&](LayerKind kind, int64_t &headDim, int64_t &kvHeadCount) {
    int64_t first = -1;
    for (int64_t i = 0; i < c.numLayers; ++i) {
      if (c.layerKinds[i] != kind)
        continue;
      if (first < 0) {
        first = i;
        headDim = headDims[i];
        kvHeadCount = kvHeads[i];
        continue;
      }
      const std::string sameAs = " (as layer " + std::to_string(first) + ": Loom compiles one shape per layer kind)";
      const std::string layer = " for layer " + std::to_string(i);
      if (headDims[i] != headDim)
        t.bad(headDimFields[i], std::to_string(headDim) + sameAs, std::to_string(headDims[i]) + layer);
      if (kvHeads[i] != kvHeadCount)
        t.bad(kvHeadFields[i], std::to_string(kvHeadCount) + sameAs, std::to_string(kvHeads[i]) + layer);
    }
  };
  shapeOf(LayerKind::Sliding, c.headDim, c.numKvHeads);
  shapeOf(LayerKind::Full, c.globalHeadDim, c.numGlobalKvHeads);
}

json ropeJson(const RopeParameters &p) {
  json j = json::object();
  j["rope_type"] = p.type;
  j["rope_theta"] = p.theta;
  if (p.type != "default" || p.partialRotaryFactor != 1.0)
    j["partial_rotary_factor"] = p.partialRotaryFactor;
  return j;
}

} // namespace

std::vector<LayerKind> defaultLayerKinds(int64_t numLayers) {
  std::vector<LayerKind> kinds;
  for (int64_t i = 0; i < numLayers; ++i)
    kinds.push_back((i + 1) % 6 == 0 ? LayerKind::Full : LayerKind::Sliding);
  if (!kinds.empty())
    kinds.back() = LayerKind::Full;
  return kinds;
}

void validateModelConfig(const ModelConfig &c, const std::string &source) {
  auto positive = [&](const char *field, int64_t v) {
    if (v <= 0)
      fail(source, ": field '", field, "': expected a positive integer, found ", v);
  };
  positive("text_config.vocab_size", c.vocabSize);
  positive("text_config.hidden_size", c.hiddenSize);
  positive("text_config.intermediate_size", c.intermediateSize);
  positive("text_config.num_hidden_layers", c.numLayers);
  if (c.numLayers > kMaxLayers)
    fail(source, ": field 'text_config.num_hidden_layers': expected at most ", kMaxLayers,
         ", found ", c.numLayers);
  positive("text_config.num_attention_heads", c.numHeads);
  positive("text_config.head_dim", c.headDim);
  positive("text_config.num_key_value_heads", c.numKvHeads);
  positive("text_config.global_head_dim", c.globalHeadDim);
  positive("text_config.num_global_key_value_heads", c.numGlobalKvHeads);
  positive("text_config.sliding_window", c.slidingWindow);
  positive("text_config.max_position_embeddings", c.maxPositionEmbeddings);
  if (c.headDim % 2 || c.globalHeadDim % 2)
    fail(source, ": field 'text_config.head_dim' / 'text_config.global_head_dim': expected even values (RoPE pairs), "
         "found ", c.headDim, " / ", c.globalHeadDim);
  if (c.numHeads % c.numKvHeads)
    fail(source, ": field 'text_config.num_key_value_heads': expected a divisor of num_attention_heads (",
         c.numHeads, "), found ", c.numKvHeads);
  if (c.numHeads % c.numGlobalKvHeads)
    fail(source, ": field 'text_config.num_global_key_value_heads': expected a divisor of num_attention_heads (",
         c.numHeads, "), found ", c.numGlobalKvHeads);
  if (!(c.rmsNormEps > 0))
    fail(source, ": field 'text_config.rms_norm_eps': expected a positive number, found ", c.rmsNormEps);
  if (!(c.finalLogitSoftcap >= 0))
    fail(source, ": field 'text_config.final_logit_softcapping': expected null or a positive number, found ",
         c.finalLogitSoftcap);
  if ((int64_t)c.layerKinds.size() != c.numLayers)
    fail(source, ": field 'text_config.layer_types': expected ", c.numLayers, " entries (num_hidden_layers), found ",
         c.layerKinds.size());
  if (c.layerKinds.back() != LayerKind::Full)
    fail(source, ": field 'text_config.layer_types': expected the last layer to be full_attention");
  for (auto [rope, field] : {std::pair{&c.slidingRope, "sliding_attention"}, std::pair{&c.fullRope, "full_attention"}}) {
    std::string f = std::string("text_config.rope_parameters.") + field;
    if (rope->type != "default" && rope->type != "proportional")
      fail(source, ": field '", f, ".rope_type': expected \"default\" or \"proportional\", found \"", rope->type, "\"");
    if (!(rope->theta > 0))
      fail(source, ": field '", f, ".rope_theta': expected a positive number, found ", rope->theta);
    if (!(rope->partialRotaryFactor > 0 && rope->partialRotaryFactor <= 1) ||
        (rope->type == "default" && rope->partialRotaryFactor != 1.0))
      fail(source, ": field '", f, ".partial_rotary_factor': expected ",
           rope->type == "default" ? "1.0 for rope_type default" : "a number in (0, 1]", ", found ",
           rope->partialRotaryFactor);
  }
  if (c.hasVision) {
    positive("vision_config.patch_size", c.patchSize);
    positive("vision_config.pooling_kernel_size", c.poolingKernelSize);
    positive("vision_config.mm_embed_dim", c.mmEmbedDim);
    positive("vision_config.mm_posemb_size", c.mmPosembSize);
    if (!(c.visionRmsNormEps > 0))
      fail(source, ": field 'vision_config.rms_norm_eps': expected a positive number, found ", c.visionRmsNormEps);
  }
  if (c.hasAudio) {
    positive("audio_config.audio_embed_dim", c.audioEmbedDim);
    if (!(c.audioRmsNormEps > 0))
      fail(source, ": field 'audio_config.rms_norm_eps': expected a positive number, found ", c.audioRmsNormEps);
  }
  if (c.dtype != "bfloat16" && c.dtype != "float16" && c.dtype != "float32")
    fail(source, ": field 'dtype': expected \"bfloat16\", \"float16\" or \"float32\", found \"", c.dtype, "\"");
}

ModelConfig parseModelConfigText(const std::string &text, const std::string &source) {
  json root;
  try {
    root = json::parse(text);
  } catch (const json::exception &e) {
    fail(source, ": not valid JSON: ", e.what());
  }
  if (!root.is_object())
    fail(source, ": expected a JSON object at the top level, found ", typeName(root));
  Section top{&root, source, ""};
  {
    const json *mt = top.get("model_type");
    if (!mt || !mt->is_string() || mt->get<std::string>() != "gemma4_unified")
      top.bad("model_type", "\"gemma4_unified\"", mt ? mt->dump() : "nothing");
  }
  const json *textJson = top.get("text_config");
  if (!textJson || !textJson->is_object())
    top.bad("text_config", "an object", textJson ? textJson->dump() : "nothing");
  Section t{textJson, source, "text_config."};
  ModelConfig c;

  // Defaults are those of Gemma4UnifiedTextConfig (not the 12B values).
  c.vocabSize = t.positive("vocab_size", 262144);
  c.hiddenSize = t.positive("hidden_size", 2304);
  c.intermediateSize = t.positive("intermediate_size", 9216);
  c.numLayers = t.positive("num_hidden_layers", 30);
  if (c.numLayers > kMaxLayers)
    t.bad("num_hidden_layers", "at most " + std::to_string(kMaxLayers), std::to_string(c.numLayers));
  c.numHeads = t.positive("num_attention_heads", 8);
  c.numKvHeads = t.positive("num_key_value_heads", 4);
  c.headDim = t.positive("head_dim", 256);
  c.attentionKEqV = t.boolean("attention_k_eq_v", false);
  c.slidingWindow = t.positive("sliding_window", 1024);
  c.maxPositionEmbeddings = t.positive("max_position_embeddings", 262144);
  c.rmsNormEps = t.number("rms_norm_eps", 1e-6);
  if (!(c.rmsNormEps > 0))
    t.bad("rms_norm_eps", "a positive number", t.get("rms_norm_eps")->dump());
  {
    const json *s = t.get("final_logit_softcapping");
    if (!s || s->is_null())
      c.finalLogitSoftcap = 0;
    else if (!s->is_number() || !(s->get<double>() > 0))
      t.bad("final_logit_softcapping", "null or a positive number", s->dump());
    else
      c.finalLogitSoftcap = s->get<double>();
  }
  {
    const json *a = t.stringOrNull("hidden_activation");
    if (a && (a->is_null() || a->get<std::string>() != "gelu_pytorch_tanh"))
      t.bad("hidden_activation", "\"gelu_pytorch_tanh\"", a->dump());
  }
  if (t.boolean("attention_bias", false))
    t.bad("attention_bias", "false", "true");
  if (int64_t n = t.integer("num_kv_shared_layers", 0))
    t.bad("num_kv_shared_layers", "0 (no KV sharing)", std::to_string(n));
  if (t.boolean("use_double_wide_mlp", false))
    t.bad("use_double_wide_mlp", "false", "true");
  if (const json *p = t.get("hidden_size_per_layer_input"); p && !p->is_null() && !(p->is_number_integer() && p->get<int64_t>() == 0))
    t.bad("hidden_size_per_layer_input", "0 or null (no per-layer embeddings)", p->dump());
  if (const json *m = t.get("enable_moe_block"); m && !(m->is_boolean() && !m->get<bool>()) && !m->is_null())
    t.bad("enable_moe_block", "false (no MoE)", m->dump());
  if (!t.boolean("tie_word_embeddings", true))
    t.bad("tie_word_embeddings", "true (the lm_head is embed_tokens)", "false");
  if (!top.boolean("tie_word_embeddings", true))
    top.bad("tie_word_embeddings", "true (the lm_head is embed_tokens)", "false");
  {
    const json *b = t.stringOrNull("use_bidirectional_attention");
    if (!b)
      c.bidirectionalVision = true; // Hugging Face default "vision"
    else if (b->is_null())
      c.bidirectionalVision = false;
    else if (b->get<std::string>() == "vision")
      c.bidirectionalVision = true;
    else
      t.bad("use_bidirectional_attention", "\"vision\" or null", b->dump());
  }
  {
    const json *lt = t.get("layer_types");
    if (!lt || lt->is_null()) {
      c.layerKinds = defaultLayerKinds(c.numLayers);
    } else {
      if (!lt->is_array())
        t.bad("layer_types", "a list of \"sliding_attention\" / \"full_attention\"", lt->dump());
      if ((int64_t)lt->size() != c.numLayers)
        t.bad("layer_types", std::to_string(c.numLayers) + " entries (num_hidden_layers)",
              std::to_string(lt->size()) + " entries");
      for (size_t i = 0; i < lt->size(); ++i) {
        const json &e = (*lt)[i];
        if (e == "sliding_attention")
          c.layerKinds.push_back(LayerKind::Sliding);
        else if (e == "full_attention")
          c.layerKinds.push_back(LayerKind::Full);
        else
          t.bad("layer_types[" + std::to_string(i) + "]", "\"sliding_attention\" or \"full_attention\"", e.dump());
      }
      c.layerKinds.back() = LayerKind::Full; // Hugging Face forces the last layer to full attention
    }
  }
  {
    const json *rp = t.get("rope_parameters");
    if (!rp || rp->is_null()) {
      c.slidingRope = {"default", 10000.0, 1.0};
      c.fullRope = {"proportional", 1000000.0, 0.25};
    } else {
      if (!rp->is_object())
        t.bad("rope_parameters", "an object keyed by layer type", rp->dump());
      bool hasSliding = false, hasFull = false;
      for (LayerKind k : c.layerKinds)
        (k == LayerKind::Full ? hasFull : hasSliding) = true;
      for (auto &kv : rp->items())
        if (kv.key() != "sliding_attention" && kv.key() != "full_attention")
          t.bad("rope_parameters." + kv.key(), "only the keys sliding_attention and full_attention", kv.value().dump());
      if (hasSliding || rp->contains("sliding_attention"))
        c.slidingRope = parseRope(t, *rp, "sliding_attention");
      if (hasFull || rp->contains("full_attention"))
        c.fullRope = parseRope(t, *rp, "full_attention");
    }
  }
  readLayerShapes(t, c);
  c.padTokenId = t.integer("pad_token_id", 0);
  c.bosTokenId = t.integer("bos_token_id", 2);
  {
    const json *e = t.get("eos_token_id");
    c.eosTokenIds.clear();
    if (!e)
      c.eosTokenIds = {1};
    else if (e->is_number_integer())
      c.eosTokenIds = {e->get<int64_t>()};
    else if (e->is_array()) {
      for (auto &x : *e) {
        if (!x.is_number_integer())
          t.bad("eos_token_id", "an integer or a list of integers", e->dump());
        c.eosTokenIds.push_back(x.get<int64_t>());
      }
    } else if (!e->is_null())
      t.bad("eos_token_id", "an integer or a list of integers", e->dump());
  }

  // vision_config
  const json *vj = top.get("vision_config");
  c.hasVision = vj && !vj->is_null();
  if (c.hasVision) {
    if (!vj->is_object())
      top.bad("vision_config", "an object or null", vj->dump());
    Section v{vj, source, "vision_config."};
    c.patchSize = v.positive("patch_size", 16);
    c.poolingKernelSize = v.positive("pooling_kernel_size", 3);
    c.mmEmbedDim = v.positive("mm_embed_dim", 3840);
    c.mmPosembSize = v.positive("mm_posemb_size", 1120);
    c.visionRmsNormEps = v.number("rms_norm_eps", 1e-6);
    if (!(c.visionRmsNormEps > 0))
      v.bad("rms_norm_eps", "a positive number", v.get("rms_norm_eps")->dump());
    int64_t proj = v.positive("output_proj_dims", 3840);
    if (proj != c.mmEmbedDim)
      v.bad("output_proj_dims", "mm_embed_dim (" + std::to_string(c.mmEmbedDim) + ")", std::to_string(proj));
    if (const json *mps = v.get("model_patch_size"))
      if (v.integer("model_patch_size", 0) != c.modelPatchSize())
        v.bad("model_patch_size", "patch_size * pooling_kernel_size = " + std::to_string(c.modelPatchSize()), mps->dump());
  }
  // audio_config
  const json *aj = top.get("audio_config");
  c.hasAudio = aj && !aj->is_null();
  if (c.hasAudio) {
    if (!aj->is_object())
      top.bad("audio_config", "an object or null", aj->dump());
    Section a{aj, source, "audio_config."};
    c.audioEmbedDim = a.positive("audio_embed_dim", 640);
    for (const char *alias : {"hidden_size", "output_proj_dims", "audio_samples_per_token"})
      if (a.get(alias) && a.positive(alias, 0) != c.audioEmbedDim)
        a.bad(alias, "audio_embed_dim (" + std::to_string(c.audioEmbedDim) + ")", a.get(alias)->dump());
    c.audioRmsNormEps = a.number("rms_norm_eps", 1e-6);
    if (!(c.audioRmsNormEps > 0))
      a.bad("rms_norm_eps", "a positive number", a.get("rms_norm_eps")->dump());
  }

  c.boiTokenId = top.integer("boi_token_id", 255999);
  c.eoiTokenId = top.integer("eoi_token_id", 258882);
  c.imageTokenId = top.integer("image_token_id", 258880);
  c.videoTokenId = top.integer("video_token_id", 258884);
  c.boaTokenId = top.integer("boa_token_id", 256000);
  c.eoaTokenId = top.integer("eoa_token_index", top.integer("eoa_token_id", 258883));
  c.audioTokenId = top.integer("audio_token_id", 258881);
  {
    const json *d = top.get("dtype");
    if (!d || d->is_null())
      d = top.get("torch_dtype");
    if (d && !d->is_null()) {
      if (!d->is_string())
        top.bad("dtype", "\"bfloat16\", \"float16\" or \"float32\"", d->dump());
      c.dtype = d->get<std::string>();
    }
  }
  validateModelConfig(c, source);
  return c;
}

ModelConfig parseModelConfig(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    fail(path, ": cannot open the model config (expected a Hugging Face config.json)");
  std::stringstream ss;
  ss << in.rdbuf();
  return parseModelConfigText(ss.str(), path);
}

std::string toConfigJson(const ModelConfig &c) {
  validateModelConfig(c, "toConfigJson");
  json text = json::object();
  text["model_type"] = "gemma4_unified_text";
  text["vocab_size"] = c.vocabSize;
  text["hidden_size"] = c.hiddenSize;
  text["intermediate_size"] = c.intermediateSize;
  text["num_hidden_layers"] = c.numLayers;
  text["num_attention_heads"] = c.numHeads;
  text["num_key_value_heads"] = c.numKvHeads;
  text["head_dim"] = c.headDim;
  text["global_head_dim"] = c.globalHeadDim;
  text["num_global_key_value_heads"] = c.numGlobalKvHeads;
  if (!c.attentionKEqV && c.numGlobalKvHeads != c.numKvHeads) {
    // transformers applies num_global_key_value_heads only with attention_k_eq_v: these full
    // layers are written as save_pretrained writes them (per_layer_config then rules alone).
    json perLayer = json::object();
    const size_t digits = std::to_string(c.numLayers - 1).size();
    for (int64_t i = 0; i < c.numLayers; ++i) {
      if (!c.isFull(i))
        continue;
      std::string index = std::to_string(i);
      perLayer[std::string(digits - index.size(), '0') + index] = {{"head_dim", c.globalHeadDim},
                                                                  {"num_key_value_heads", c.numGlobalKvHeads}};
    }
    text["per_layer_config"] = perLayer;
  }
  text["attention_k_eq_v"] = c.attentionKEqV;
  text["hidden_activation"] = "gelu_pytorch_tanh";
  text["max_position_embeddings"] = c.maxPositionEmbeddings;
  text["sliding_window"] = c.slidingWindow;
  json lt = json::array();
  for (LayerKind k : c.layerKinds)
    lt.push_back(layerTypeName(k));
  text["layer_types"] = lt;
  text["rope_parameters"] = {{"sliding_attention", ropeJson(c.slidingRope)}, {"full_attention", ropeJson(c.fullRope)}};
  text["rms_norm_eps"] = c.rmsNormEps;
  text["final_logit_softcapping"] = c.finalLogitSoftcap > 0 ? json(c.finalLogitSoftcap) : json(nullptr);
  text["use_bidirectional_attention"] = c.bidirectionalVision ? json("vision") : json(nullptr);
  text["attention_bias"] = false;
  text["attention_dropout"] = 0.0;
  text["num_kv_shared_layers"] = 0;
  text["use_double_wide_mlp"] = false;
  text["tie_word_embeddings"] = true;
  text["use_cache"] = true;
  text["initializer_range"] = 0.02;
  text["pad_token_id"] = c.padTokenId;
  text["bos_token_id"] = c.bosTokenId;
  text["eos_token_id"] = c.eosTokenIds.size() == 1 ? json(c.eosTokenIds[0]) : json(c.eosTokenIds);
  text["dtype"] = c.dtype;

  json root = json::object();
  root["architectures"] = json::array({"Gemma4UnifiedForConditionalGeneration"});
  root["model_type"] = "gemma4_unified";
  root["dtype"] = c.dtype;
  root["text_config"] = text;
  if (c.hasVision) {
    json v = json::object();
    v["model_type"] = "gemma4_unified_vision";
    v["patch_size"] = c.patchSize;
    v["pooling_kernel_size"] = c.poolingKernelSize;
    v["mm_embed_dim"] = c.mmEmbedDim;
    v["mm_posemb_size"] = c.mmPosembSize;
    v["output_proj_dims"] = c.mmEmbedDim;
    v["rms_norm_eps"] = c.visionRmsNormEps;
    v["initializer_range"] = 0.02;
    v["dtype"] = c.dtype;
    root["vision_config"] = v;
  } else {
    root["vision_config"] = nullptr;
  }
  if (c.hasAudio) {
    json a = json::object();
    a["model_type"] = "gemma4_unified_audio";
    a["audio_embed_dim"] = c.audioEmbedDim;
    a["rms_norm_eps"] = c.audioRmsNormEps;
    a["initializer_range"] = 0.02;
    a["dtype"] = c.dtype;
    root["audio_config"] = a;
  } else {
    root["audio_config"] = nullptr;
  }
  root["boi_token_id"] = c.boiTokenId;
  root["eoi_token_id"] = c.eoiTokenId;
  root["image_token_id"] = c.imageTokenId;
  root["video_token_id"] = c.videoTokenId;
  root["boa_token_id"] = c.boaTokenId;
  root["eoa_token_index"] = c.eoaTokenId;
  root["audio_token_id"] = c.audioTokenId;
  root["initializer_range"] = 0.02;
  root["tie_word_embeddings"] = true;
  root["transformers_version"] = "5.0.0";
  return root.dump(2) + "\n";
}

} // namespace loom
