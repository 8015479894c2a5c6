#include "loom/Checkpoint/Checkpoint.h"

#include "loom/Checkpoint/ConfigJson.h"
#include "loom/Error.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>
#include <sys/stat.h>

namespace loom {
namespace {
bool fileExists(const std::string &p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}
} // namespace

Checkpoint Checkpoint::open(const std::string &dirIn) {
  Checkpoint ck;
  ck.dir_ = dirIn;
  while (ck.dir_.size() > 1 && ck.dir_.back() == '/')
    ck.dir_.pop_back();
  const std::string dir = ck.dir_ + "/";
  ck.config_ = parseModelConfig(dir + "config.json");

  const std::string single = dir + "model.safetensors", indexPath = dir + "model.safetensors.index.json";
  std::map<std::string, std::string> weightMap; // tensor -> shard file name (index only)
  if (fileExists(indexPath)) {
    std::ifstream in(indexPath);
    std::stringstream ss;
    ss << in.rdbuf();
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(ss.str());
    } catch (const nlohmann::json::exception &e) {
      fail(indexPath, ": not valid JSON: ", e.what());
    }
    if (!j.is_object() || !j.contains("weight_map") || !j["weight_map"].is_object())
      fail(indexPath, ": field 'weight_map': expected an object mapping tensor names to shard files");
    std::vector<std::string> shards;
    for (auto &kv : j["weight_map"].items()) {
      if (!kv.value().is_string())
        fail(indexPath, ": field 'weight_map.", kv.key(), "': expected a shard file name, found ", kv.value().dump());
      std::string shard = kv.value().get<std::string>();
      if (shard.empty() || shard.find('/') != std::string::npos || shard == "." || shard == "..")
        fail(indexPath, ": field 'weight_map.", kv.key(), "': expected a file name in the checkpoint folder, found \"",
             shard, "\"");
      weightMap[kv.key()] = shard;
      if (std::find(shards.begin(), shards.end(), shard) == shards.end())
        shards.push_back(shard);
    }
    std::sort(shards.begin(), shards.end());
    for (auto &s : shards)
      ck.files_.push_back(SafetensorsFile::open(dir + s));
  } else if (fileExists(single)) {
    ck.files_.push_back(SafetensorsFile::open(single));
  } else {
    fail(ck.dir_, ": no model.safetensors or model.safetensors.index.json in the checkpoint folder");
  }

  for (size_t fi = 0; fi < ck.files_.size(); ++fi) {
    const SafetensorsFile &f = ck.files_[fi];
    for (size_t ei = 0; ei < f.entries().size(); ++ei) {
      const SafetensorsEntry &e = f.entries()[ei];
      auto prev = ck.found_.find(e.name);
      if (prev != ck.found_.end())
        fail(f.path(), ": tensor '", e.name, "': also stored in ", ck.files_[prev->second.file].path(),
             " (expected once)");
      if (!weightMap.empty()) {
        auto w = weightMap.find(e.name);
        if (w == weightMap.end())
          fail(f.path(), ": tensor '", e.name, "': not listed in ", indexPath, " weight_map");
        if (dir + w->second != f.path())
          fail(f.path(), ": tensor '", e.name, "': ", indexPath, " maps it to ", w->second);
      }
      ck.found_[e.name] = Found{e.name, fi, ei};
    }
  }
  for (auto &kv : weightMap)
    if (!ck.found_.count(kv.first))
      fail(dir + kv.second, ": tensor '", kv.first, "': listed in ", indexPath, " but not in the shard");
  ck.validate();
  return ck;
}

void Checkpoint::validate() {
  tensors_.clear();
  byName_.clear();
  std::set<std::string> claimed;
  const std::string where = dir_ + "/" + (files_.size() == 1 ? "model.safetensors" : "model.safetensors.index.json");
  for (const TensorSpec &spec : expectedTensors(config_)) {
    const Found *hit = nullptr;
    std::vector<std::string> spellings{spec.name};
    spellings.insert(spellings.end(), spec.aliases.begin(), spec.aliases.end());
    for (const std::string &s : spellings) {
      auto it = found_.find(s);
      if (it == found_.end())
        continue;
      if (hit)
        fail(files_[it->second.file].path(), ": tensor '", spec.name, "': stored twice, as '", hit->storedName,
             "' and '", s, "' (expected one spelling)");
      hit = &it->second;
    }
    if (!hit) {
      std::string alt;
      for (auto &a : spec.aliases)
        alt += " or '" + a + "'";
      fail(where, ": tensor '", spec.name, "'", alt, ": missing (expected shape ", shapeToString(spec.shape), ")");
    }
    const SafetensorsEntry &e = files_[hit->file].entries()[hit->entry];
    const std::string &path = files_[hit->file].path();
    if (e.shape != spec.shape)
      fail(path, ": tensor '", e.name, "': expected shape ", shapeToString(spec.shape), ", found ",
           shapeToString(e.shape));
    claimed.insert(hit->storedName);
    TensorLocation loc{spec.name, hit->storedName, path, e.offset, e.dtype, e.shape, e.bytes};
    for (const std::string &s : spellings)
      byName_[s] = tensors_.size();
    tensors_.push_back(std::move(loc));
  }
  for (auto &kv : found_)
    if (!claimed.count(kv.first))
      fail(files_[kv.second.file].path(), ": tensor '", kv.first, "': unexpected (not part of a gemma4_unified model "
           "with this config.json; shape ", shapeToString(files_[kv.second.file].entries()[kv.second.entry].shape), ")");
}

const TensorLocation *Checkpoint::find(const std::string &name) const {
  auto it = byName_.find(name);
  return it == byName_.end() ? nullptr : &tensors_[it->second];
}

const TensorLocation &Checkpoint::lookup(const std::string &name) const {
  if (const TensorLocation *t = find(name))
    return *t;
  fail(dir_, ": tensor '", name, "': not in this checkpoint");
}

std::vector<std::string> Checkpoint::files() const {
  std::vector<std::string> out;
  for (auto &f : files_)
    out.push_back(f.path());
  return out;
}

void Checkpoint::read(const std::string &name, uint64_t byteOffset, void *dst, size_t bytes) const {
  const TensorLocation &t = lookup(name);
  for (auto &f : files_)
    if (f.path() == t.file)
      return f.read(*f.find(t.storedName), byteOffset, dst, bytes);
  fail(t.file, ": tensor '", name, "': file not open");
}

} // namespace loom
