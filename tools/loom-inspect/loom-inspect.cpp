// loom-inspect: prints what a .loom artifact holds -- versions, target, model config, segments,
// tensors, kernels, entry points, the KV cache plan and the planned memory -- as text or JSON.
// The file goes through the runtime's verifying reader first; a bad file prints its error and
// exits with 1.
#include "loom/DTypeSize.h"
#include "loom/Artifact.h"
#include "loom/Cuda/KernelBundle.h"
#include "loom/Error.h"
#include "loom/Runtime/KernelSets.h"
#include "loom/Schema/loom_generated.h"

#include "loom/Tools/CliChecks.h"

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <iomanip>
#include <iostream>
#include <map>
#include <sstream>

using nlohmann::ordered_json;
namespace fb = loom::fb;

namespace {


std::string text(const flatbuffers::String *s) { return s ? s->str() : std::string(); }

ordered_json shapeJson(const flatbuffers::Vector<int64_t> *shape) {
  ordered_json out = ordered_json::array();
  if (shape)
    for (int64_t dim : *shape)
      out.push_back(dim == int64_t(fb::DimSymbol::Tokens) ? ordered_json("Tokens") : ordered_json(dim));
  return out;
}

std::string shapeText(const ordered_json &shape) {
  std::string out = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i)
      out += ", ";
    out += shape[i].is_string() ? shape[i].get<std::string>() : std::to_string(shape[i].get<int64_t>());
  }
  return out + "]";
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

std::string valueText(const ordered_json &value) {
  std::string out = value["kind"].get<std::string>();
  std::string kind = out;
  if (kind == "Arena")
    out += "@" + std::to_string(value["offset_per_token"].get<uint64_t>()) + "/token";
  else if (kind != "StartPosition")
    out += "#" + std::to_string(value["index"].get<uint32_t>());
  return out + " " + value["dtype"].get<std::string>() + " " + shapeText(value["shape"]);
}

std::string bytesText(uint64_t bytes) {
  std::ostringstream out;
  const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double value = double(bytes);
  int unit = 0;
  while (value >= 1024 && unit < 4) {
    value /= 1024;
    ++unit;
  }
  if (unit == 0)
    out << bytes << " B";
  else
    out << std::fixed << std::setprecision(2) << value << ' ' << units[unit] << " (" << bytes << " B)";
  return out.str();
}

ordered_json targetJson(const fb::Target *target) {
  ordered_json json;
  json["name"] = target ? text(target->name()) : "";
  json["halide_target"] = target ? text(target->halide_target()) : "";
  json["cpu_features"] = ordered_json::array();
  if (target && target->cpu_features())
    for (auto feature : *target->cpu_features())
      json["cpu_features"].push_back(feature->str());
  return json;
}

std::string checksumText(uint64_t checksum) {
  std::ostringstream out;
  out << "xxh3:" << std::hex << std::setw(16) << std::setfill('0') << checksum;
  return out.str();
}

ordered_json describe(const loom::Artifact &artifact, int64_t tokens) {
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

void printText(const ordered_json &d, std::ostream &out) {
  out << "file:           " << d["file"].get<std::string>() << ", " << bytesText(d["file_size"]) << "\n";
  out << "format version: " << d["format_version"] << " (min runtime version " << d["min_runtime_version"] << ")\n";
  out << "producer:       " << d["producer"].get<std::string>() << "\n";
  const auto &t = d["target"];
  out << "target:         " << t["name"].get<std::string>() << "\n";
  out << "  halide:       " << t["halide_target"].get<std::string>() << "\n";
  out << "  cpu features:";
  for (const auto &f : t["cpu_features"])
    out << ' ' << f.get<std::string>();
  out << "\n\nkernel sets (" << d["kernel_sets"].size() << ", least to most capable):\n";
  for (size_t i = 0; i < d["kernel_sets"].size(); ++i) {
    const auto &set = d["kernel_sets"][i];
    out << "  " << i << "  " << std::left << std::setw(18) << set["target"]["name"].get<std::string>()
        << " segment " << set["library_segment"]
        << (d["runs_kernel_set"] != i                               ? ""
            : set["target"]["name"].get<std::string>().rfind("cuda:", 0) == 0 ? "  [runs on the GPU]"
                                                                               : "  [this CPU runs it]")
        << "\n";
  }
  if (d["runs_kernel_set"].is_null())
    out << "  (this CPU can run none of them)\n";
  out << "\nmodel config:\n";
  for (const auto &[key, value] : d["config"].items())
    out << "  " << std::left << std::setw(26) << key << (value.is_string() ? value.get<std::string>() : value.dump()) << "\n";
  out << "  " << std::setw(26) << "max_context" << d["max_context"] << "\n";
  out << "  " << std::setw(26) << "weight_dtype" << d["weight_dtype"].get<std::string>() << "\n";

  out << "\nsegments:\n";
  for (const auto &s : d["segments"]) {
    std::string role;
    for (const auto &set : d["kernel_sets"])
      if (s["index"] == set["library_segment"])
        role = "  [kernel library: " + set["target"]["name"].get<std::string>() + "]";
    if (s["index"] == d["tokenizer_segment"])
      role += "  [tokenizer]";
    out << "  " << s["index"] << "  " << std::setw(10) << s["name"].get<std::string>() << " offset " << std::right
        << std::setw(14) << s["offset"].get<uint64_t>() << "  size " << bytesText(s["size"]) << std::left
        << "  " << s["checksum"].get<std::string>() << role << "\n";
  }
  if (d["segments_verified"] == true)
    out << "  (every segment matches its checksum)\n";

  const auto &tensors = d["tensors"];
  out << "\ntensors (" << tensors["count"] << ", " << bytesText(tensors["total_bytes"]) << "):\n";
  for (const auto &x : tensors["list"])
    out << "  " << x["name"].get<std::string>() << "  " << x["dtype"].get<std::string>() << " " << shapeText(x["shape"])
        << (x.contains("quantization")
                ? " = " + x["quantization"].get<std::string>() +
                      (x["group_size"].get<int64_t>() ? " g" + std::to_string(x["group_size"].get<int64_t>()) : "") +
                      " " + shapeText(x["logical_shape"])
                : "")
        << "  " << x["bytes"].get<uint64_t>() << " B  <- " << x["source_file"].get<std::string>() << " @"
        << x["source_offset"].get<uint64_t>() << " " << x["source_dtype"].get<std::string>() << "\n";
  out << "  total: " << tensors["count"] << " tensors, " << bytesText(tensors["total_bytes"]) << "\n";

  out << "\nkernels (" << d["kernels"].size() << "):\n";
  for (const auto &k : d["kernels"])
    out << "  " << k["symbol"].get<std::string>() << "  [" << k["kind"].get<std::string>() << "]  "
        << k["description"].get<std::string>() << "\n";

  if (d.contains("cuda")) {
    const auto &gpu = d["cuda"];
    out << "\ncuda kernels (" << gpu["target"].get<std::string>() << ", " << gpu["producer"].get<std::string>()
        << "): " << gpu["gpu_functions"] << " GPU functions\n";
    for (const auto &image : gpu["images"])
      out << "  " << std::setw(6) << image["format"].get<std::string>() << std::setw(12) << image["arch"].get<std::string>()
          << bytesText(image["bytes"]) << "\n";
  }

  out << "\nentry points (" << d["entry_points"].size() << "):\n";
  for (const auto &e : d["entry_points"]) {
    out << "  " << e["name"].get<std::string>() << ": " << e["dispatches"] << " dispatches, " << e["kv_writes"]
        << " KV writes, arena " << e["arena_bytes_per_token"].get<uint64_t>() << " B/token\n";
    for (const char *list : {"inputs", "outputs"})
      for (size_t i = 0; i < e[list].size(); ++i)
        out << "    " << (list[0] == 'i' ? "in " : "out") << ' ' << i << ": " << valueText(e[list][i]) << "\n";
  }

  const auto &kv = d["kv_cache"];
  out << "\nKV cache plan (" << kv["layers"] << " layers, " << bytesText(kv["total_bytes"]) << " at capacity):\n";
  for (const auto &k : kv["by_kind"]) {
    out << "  " << std::setw(8) << k["kind"].get<std::string>() << k["layers"] << " layers, "
        << (k["cached"] == "raw_keys" ? "raw k only" : "keys + values") << ", "
        << bytesText(k["bytes_per_slot"]) << "/token, capacity "
        << (k["capacity"].is_string() ? k["capacity"].get<std::string>() : k["capacity"].dump()) << " x "
        << k["kv_heads"] << " heads x " << k["head_dim"] << " " << k["dtype"].get<std::string>() << ", per layer "
        << (k["bytes_per_layer"].is_string() ? k["bytes_per_layer"].get<std::string>() : bytesText(k["bytes_per_layer"]))
        << ", total " << bytesText(k["total_bytes"]) << "\n";
  }

  const auto &mem = d["memory"];
  out << "\nplanned memory:\n";
  std::string kvLabel = "KV at max_context " + std::to_string(d["max_context"].get<int64_t>());
  std::string arenaLabel = "arena at " + std::to_string(mem["arena_tokens"].get<int64_t>()) + " tokens";
  out << "  " << std::setw(30) << "weights" << bytesText(mem["weights_bytes"]) << "\n";
  out << "  " << std::setw(30) << kvLabel << bytesText(mem["kv_bytes_at_max_context"]) << "\n";
  out << "  " << std::setw(30) << arenaLabel << bytesText(mem["arena_bytes"]) << "\n";
  out << "  " << std::setw(30) << "total" << bytesText(mem["total_bytes"]) << "\n";
}

} // namespace

int main(int argc, char **argv) {
  CLI::App app{"Prints what a .loom artifact holds."};
  std::string path;
  bool json = false;
  int64_t tokens = 1;
  app.add_option("artifact", path, "the .loom file")->required();
  app.add_flag("--json", json, "print JSON instead of text");
  bool verify = false;
  app.add_flag("--verify", verify,
               "check every segment, the weights included, against its checksum (reads the whole "
               "file; a mismatch is an error)");
  app.add_option("--tokens", tokens, "token count for the planned arena (default 1: a decode step)")
      ->check(loom::cli::integerAtLeast(1));
  CLI11_PARSE(app, argc, argv);
  try {
    auto artifact = loom::Artifact::open(path);
    if (verify)
      artifact->verifyAllSegments();
    ordered_json doc = describe(*artifact, tokens);
    doc["segments_verified"] = verify ? ordered_json(true) : ordered_json(nullptr);
    if (json)
      // Manifest strings are bytes: invalid UTF-8 is printed as U+FFFD rather than refused.
      std::cout << doc.dump(2, ' ', false, ordered_json::error_handler_t::replace) << "\n";
    else
      printText(doc, std::cout);
  } catch (const loom::Error &error) {
    std::cerr << "loom-inspect: " << error.what() << "\n";
    return 1;
  }
  return 0;
}
