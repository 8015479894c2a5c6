#include "ArtifactDescription.h"

#include "loom/DTypeSize.h"
#include "loom/Cuda/KernelBundle.h"
#include "loom/Error.h"
#include "loom/Runtime/KernelSets.h"
#include "loom/Schema/loom_generated.h"

#include <algorithm>
#include <iomanip>
#include <map>
#include <sstream>

namespace loom {

using nlohmann::ordered_json;

namespace {

std::string text(const flatbuffers::String *s) { return s ? s->str() : std::string(); }

ordered_json shapeJson(const flatbuffers::Vector<int64_t> *shape) {
  ordered_json out = ordered_json::array();
  if (shape)
    for (int64_t dim : *shape)
      out.push_back(dim == int64_t(fb::DimSymbol::Tokens) ? ordered_json("Tokens") : ordered_json(dim));
  return out;
}

ordered_json valueJson(const fb::Value *value) {
  ordered_json out;
  out["kind"] = fb::EnumNameValueKind(value->kind());
  out["index"] = value->index();
  if (value->kind() == fb::ValueKind::Arena)
    out["offset_per_token"] = value->offset_per_token();
  out["dtype"] = fb::EnumNameDType(value->dtype());
  out["shape"] = shapeJson(value->shape());
  return out;
}

ordered_json targetJson(const fb::Target *target) {
  ordered_json json;
  json["name"] = target ? text(target->name()) : "";
  json["halide_target"] = target ? text(target->halide_target()) : "";
  json["cpu_features"] = ordered_json::array();
  if (target && target->cpu_features())
    for (auto feature : *target->cpu_features())
      json["cpu_features"].push_back(feature->str());
  // The loom-tune record the kernels were generated with ("defaults": none).
  const std::string tuning = target ? text(target->tuning()) : "";
  json["tuning"] = tuning.empty() ? ordered_json("defaults")
                                  : ordered_json::parse(tuning, nullptr, /*allow_exceptions=*/false);
  if (json["tuning"].is_discarded())
    json["tuning"] = "unreadable (not JSON): " + tuning.substr(0, 80);
  // The end-to-end choices the runtime takes from it (null: none).
  json["runtime_tuning"] = nullptr;
  if (const fb::RuntimeTuning *runtime = target ? target->runtime_tuning() : nullptr)
    json["runtime_tuning"] = {{"prefill_threads", runtime->prefill_threads()},
                              {"decode_threads", runtime->decode_threads()},
                              {"huge_pages", runtime->huge_pages()},
                              {"prefill_chunk", runtime->prefill_chunk()}};
  return json;
}

std::string checksumText(uint64_t checksum) {
  std::ostringstream out;
  out << "xxh3:" << std::hex << std::setw(16) << std::setfill('0') << checksum;
  return out.str();
}

} // namespace

ordered_json describeArtifact(const Artifact &artifact, int64_t tokens) {
  const fb::Model &m = artifact.manifest();
  ordered_json doc;
  doc["file"] = artifact.path();
  doc["file_size"] = artifact.fileSize();
  doc["format_version"] = m.format_version();
  doc["min_runtime_version"] = m.min_runtime_version();
  doc["producer"] = text(m.producer());

  const fb::Target *target = m.target();
  doc["target"] = targetJson(target);
  // Every kernel set, and the one this CPU would run (null: none fits).
  doc["kernel_sets"] = ordered_json::array();
  for (const loom::KernelSetRef &set : loom::kernelSets(m))
    doc["kernel_sets"].push_back(
        {{"target", targetJson(set.target)}, {"library_segment", set.librarySegment}});
  try {
    doc["runs_kernel_set"] = loom::chooseKernelSet(m, artifact.path());
  } catch (const loom::Error &) {
    doc["runs_kernel_set"] = nullptr;
  }

  const fb::ModelConfig *c = m.config();
  ordered_json config;
  config["model_type"] = text(c->model_type());
  config["vocab_size"] = c->vocab_size();
  config["hidden_size"] = c->hidden_size();
  config["intermediate_size"] = c->intermediate_size();
  config["num_layers"] = c->num_layers();
  int64_t sliding = 0, full = 0;
  if (c->layer_kinds())
    for (auto kind : *c->layer_kinds())
      (fb::LayerKind(kind) == fb::LayerKind::Sliding ? sliding : full)++;
  config["sliding_layers"] = sliding;
  config["full_layers"] = full;
  config["num_heads"] = c->num_heads();
  config["head_dim"] = c->head_dim();
  config["num_kv_heads"] = c->num_kv_heads();
  config["global_head_dim"] = c->global_head_dim();
  config["num_global_kv_heads"] = c->num_global_kv_heads();
  config["attention_k_eq_v"] = c->attention_k_eq_v();
  config["sliding_window"] = c->sliding_window();
  config["max_position_embeddings"] = c->max_position_embeddings();
  config["rms_norm_eps"] = c->rms_norm_eps();
  config["final_logit_softcap"] = c->final_logit_softcap();
  config["has_vision"] = c->has_vision();
  config["has_audio"] = c->has_audio();
  doc["config"] = config;
  doc["max_context"] = m.max_context();
  doc["weight_dtype"] = fb::EnumNameDType(m.weight_dtype());

  doc["segments"] = ordered_json::array();
  for (uint32_t i = 0; i < m.segments()->size(); ++i) {
    const fb::Segment *s = m.segments()->Get(i);
    doc["segments"].push_back({{"index", i}, {"name", text(s->name())}, {"offset", s->offset()},
                               {"size", s->size()}, {"checksum", checksumText(s->checksum())}});
  }
  doc["kernel_library_segment"] = m.kernel_library_segment();
  doc["tokenizer_segment"] = m.tokenizer_segment();

  ordered_json tensors = ordered_json::array();
  uint64_t tensorBytes = 0;
  if (m.tensors())
    for (auto t : *m.tensors()) {
      tensorBytes += t->size();
      tensors.push_back({{"name", text(t->name())},
                         {"dtype", fb::EnumNameDType(t->dtype())},
                         {"shape", shapeJson(t->shape())},
                         {"bytes", t->size()},
                         {"segment", t->segment()},
                         {"offset", t->offset()},
                         {"source_file", text(t->source_file())},
                         {"source_offset", t->source_offset()},
                         {"source_dtype", fb::EnumNameDType(t->source_dtype())}});
      if (t->quantization() != fb::Quantization::None) { // packed bytes of a [rows, cols] matrix
        tensors.back()["quantization"] = fb::EnumNameQuantization(t->quantization());
        tensors.back()["group_size"] = t->group_size();
        tensors.back()["row_group"] = t->row_group();
        tensors.back()["column_panel"] = t->column_panel();
        tensors.back()["logical_shape"] = shapeJson(t->logical_shape());
      }
    }
  doc["tensors"] = {{"count", tensors.size()}, {"total_bytes", tensorBytes}, {"list", tensors}};

  doc["kernels"] = ordered_json::array();
  if (m.kernels())
    for (auto k : *m.kernels())
      doc["kernels"].push_back({{"symbol", text(k->symbol())}, {"kind", text(k->kind())}, {"description", text(k->description())}});
  // A CUDA artifact's kernel segment is a kernel bundle: cubin + PTX and each kernel's launches.
  if (text(target->name()).rfind("cuda:", 0) == 0) {
    loom::ByteSpan segment = artifact.segment(m.kernel_library_segment());
    loom::cuda::KernelBundle bundle = loom::cuda::readKernelBundle(segment.data, segment.size, artifact.path());
    ordered_json gpu = {{"target", bundle.target}, {"producer", bundle.producer}, {"images", ordered_json::array()}};
    for (const auto &image : bundle.images)
      gpu["images"].push_back({{"format", image.format}, {"arch", image.arch}, {"bytes", image.size}});
    std::map<std::string, int> functions;
    for (const auto &kernel : bundle.kernels)
      for (const auto &variant : kernel.variants)
        for (const auto &launch : variant.launches)
          functions[launch.function]++;
    gpu["gpu_functions"] = functions.size() + 1; // + the KV write kernel
    doc["cuda"] = gpu;
  }

  doc["entry_points"] = ordered_json::array();
  uint64_t maxArenaPerToken = 0;
  if (m.entry_points())
    for (auto e : *m.entry_points()) {
      ordered_json entry;
      entry["name"] = text(e->name());
      entry["inputs"] = ordered_json::array();
      entry["outputs"] = ordered_json::array();
      if (e->inputs())
        for (auto v : *e->inputs())
          entry["inputs"].push_back(valueJson(v));
      if (e->outputs())
        for (auto v : *e->outputs())
          entry["outputs"].push_back(valueJson(v));
      uint64_t dispatches = 0, kvWrites = 0;
      if (e->commands_type())
        for (auto type : *e->commands_type())
          (fb::Command(type) == fb::Command::Dispatch ? dispatches : kvWrites)++;
      entry["dispatches"] = dispatches;
      entry["kv_writes"] = kvWrites;
      entry["arena_bytes_per_token"] = e->arena_bytes_per_token();
      maxArenaPerToken = std::max<uint64_t>(maxArenaPerToken, e->arena_bytes_per_token());
      doc["entry_points"].push_back(entry);
    }

  // KV cache plan grouped by layer kind; "at max_context" gives sliding layers min(window,
  // context) slots and full layers max_context slots.
  std::map<std::string, ordered_json> kinds;
  uint64_t kvTotal = 0, kvAtContext = 0;
  if (m.kv_cache())
    for (auto layer : *m.kv_cache()) {
      // A keys-only layer (k_eq_v, raw k cached once) holds one tensor instead of keys and values.
      uint64_t tensors = layer->keys_only() ? 1 : 2;
      uint64_t perSlot = tensors * uint64_t(layer->kv_heads()) * uint64_t(layer->head_dim()) * loom::dtypeSize(layer->dtype());
      uint64_t perLayer = perSlot * uint64_t(layer->capacity());
      int64_t slots = layer->kind() == fb::LayerKind::Sliding
                          ? (m.max_context() > 0 ? std::min(layer->capacity(), m.max_context()) : layer->capacity())
                          : (m.max_context() > 0 ? m.max_context() : layer->capacity());
      kvAtContext += perSlot * uint64_t(slots);
      kvTotal += perLayer;
      std::string kind = fb::EnumNameLayerKind(layer->kind());
      std::string cached = layer->keys_only() ? "raw_keys" : "keys_values";
      ordered_json &entry = kinds[kind + "/" + cached];
      if (entry.is_null())
        entry = {{"kind", kind}, {"cached", cached}, {"layers", 0}, {"capacity", layer->capacity()}, {"kv_heads", layer->kv_heads()},
                 {"head_dim", layer->head_dim()}, {"dtype", fb::EnumNameDType(layer->dtype())},
                 {"bytes_per_slot", perSlot},
                 {"bytes_per_layer", perLayer}, {"total_bytes", 0}};
      entry["layers"] = entry["layers"].get<uint64_t>() + 1;
      entry["total_bytes"] = entry["total_bytes"].get<uint64_t>() + perLayer;
      if (entry["bytes_per_layer"].get<uint64_t>() != perLayer)
        entry["bytes_per_layer"] = "mixed";
      if (entry["capacity"].is_number() && entry["capacity"].get<int64_t>() != layer->capacity())
        entry["capacity"] = "mixed";
    }
  ordered_json kv;
  kv["layers"] = m.kv_cache() ? m.kv_cache()->size() : 0;
  kv["by_kind"] = ordered_json::array();
  for (auto &[name, entry] : kinds)
    kv["by_kind"].push_back(entry);
  kv["total_bytes"] = kvTotal;
  doc["kv_cache"] = kv;

  uint64_t weights = 0;
  for (uint32_t i = 0; i < m.segments()->size(); ++i)
    if (text(m.segments()->Get(i)->name()) == "weights")
      weights += m.segments()->Get(i)->size();
  uint64_t arena = maxArenaPerToken * uint64_t(tokens);
  doc["memory"] = {{"weights_bytes", weights},
                   {"kv_bytes_at_max_context", kvAtContext},
                   {"arena_tokens", tokens},
                   {"arena_bytes", arena},
                   {"total_bytes", weights + kvAtContext + arena}};
  return doc;
}

} // namespace loom
