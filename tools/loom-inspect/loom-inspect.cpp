// loom-inspect: prints what a .loom artifact holds -- versions, target, model config, segments,
// tensors, kernels, entry points, the KV cache plan and the planned memory -- as text or JSON.
// The file goes through the runtime's verifying reader first; a bad file prints its error and
// exits with 1.
#include "ArtifactDescription.h"
#include "loom/Error.h"
#include "loom/Tools/CliChecks.h"

#include <CLI/CLI.hpp>

#include <iomanip>
#include <iostream>
#include <sstream>

using nlohmann::ordered_json;

namespace {

std::string shapeText(const ordered_json &shape) {
  std::string out = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i)
      out += ", ";
    out += shape[i].is_string() ? shape[i].get<std::string>() : std::to_string(shape[i].get<int64_t>());
  }
  return out + "]";
}

std::string valueText(const ordered_json &value) {
  std::string out = value["kind"].get<std::string>();
  std::string kind = out;
  if (kind == "Arena")
    out += "@" + std::to_string(value["offset_per_token"].get<uint64_t>()) + "/token";
  else if (kind != "StartPosition" && kind != "TokenPositions")
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

// "defaults", or the record's target, CPU and entry count.
std::string tuningText(const ordered_json &tuning) {
  if (tuning.is_string())
    return tuning.get<std::string>();
  std::ostringstream out;
  out << "loom-tune record for " << tuning.value("target", "?") << " on "
      << tuning.value("cpu", ordered_json::object()).value("model_name", "?") << ", "
      << tuning.value("kernels", ordered_json::object()).size() << " products";
  return out.str();
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
  out << "\ntuning (schedule parameters of each set):\n";
  for (const auto &set : d["kernel_sets"]) {
    const std::string name = set["target"]["name"].get<std::string>();
    out << "  " << name << ": " << tuningText(set["target"]["tuning"]) << "\n";
    if (const auto &runtime = set["target"]["runtime_tuning"]; runtime.is_object())
      out << "    runtime: prefill " << runtime["prefill_threads"] << " threads, decode "
          << runtime["decode_threads"] << " threads, huge pages "
          << (runtime["huge_pages"].get<bool>() ? "on" : "off") << ", prefill chunk "
          << runtime["prefill_chunk"] << "\n";
    if (set["target"]["tuning"].is_object() && set["target"]["tuning"].contains("kernels"))
      for (const auto &[key, entry] : set["target"]["tuning"]["kernels"].items())
        out << "    " << key << ": " << entry.value("params", ordered_json::object()).dump()
            << "\n";
  }
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
    ordered_json doc = loom::describeArtifact(*artifact, tokens);
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
