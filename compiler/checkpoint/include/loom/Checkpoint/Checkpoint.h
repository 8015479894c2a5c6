// A Hugging Face gemma4_unified checkpoint folder: config.json plus model.safetensors or
// model.safetensors.index.json and its shards. Opening reads headers only, never weight data.
#pragma once

#include "loom/Checkpoint/ModelConfig.h"
#include "loom/Checkpoint/Safetensors.h"
#include "loom/Checkpoint/TensorSpec.h"

#include <map>
#include <string>
#include <vector>

namespace loom {

struct TensorLocation {
  std::string name;       // canonical name (TensorSpec::name)
  std::string storedName; // the spelling found in the file (the name or an alias)
  std::string file;       // path of the safetensors file holding it
  uint64_t offset = 0;    // absolute offset of the data in `file`
  DType dtype = DType::BF16;
  std::vector<int64_t> shape;
  uint64_t bytes = 0;
};

class Checkpoint {
public:
  // Reads dir/config.json, then dir/model.safetensors, or dir/model.safetensors.index.json
  // (weight_map: tensor name -> shard file) and every shard it names; then validate().
  static Checkpoint open(const std::string &dir);

  // Checks the tensors found against expectedTensors(config()): a missing tensor, an unexpected
  // extra one, a tensor stored twice (two spellings or two shards) or a mis-shaped one throws
  // loom::Error naming the file, the tensor and expected-vs-found. open() already calls it.
  void validate();

  const ModelConfig &config() const { return config_; }
  const std::string &directory() const { return dir_; }
  // Every tensor in expectedTensors() order (valid after validate()).
  const std::vector<TensorLocation> &tensors() const { return tensors_; }
  // By canonical name or alias; throws loom::Error when absent.
  const TensorLocation &lookup(const std::string &name) const;
  const TensorLocation *find(const std::string &name) const;
  // The safetensors files, in the order opened.
  std::vector<std::string> files() const;

  // Streams part of a tensor's data (pread), byteOffset relative to the tensor's start.
  void read(const std::string &name, uint64_t byteOffset, void *dst, size_t bytes) const;

private:
  struct Found {
    std::string storedName;
    size_t file;
    size_t entry; // index into files_[file].entries()
  };
  std::string dir_;
  ModelConfig config_;
  std::vector<SafetensorsFile> files_;
  std::map<std::string, Found> found_; // stored name -> where
  std::vector<TensorLocation> tensors_;
  std::map<std::string, size_t> byName_; // canonical names and aliases -> index into tensors_
};

} // namespace loom
