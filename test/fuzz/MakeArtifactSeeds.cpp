// Writes the seed artifacts of ArtifactFuzzer into a folder: small but complete .loom files
// (about 16 KB) with every kind of manifest value, written by the real writer so that they
// follow the current format. Neither holds kernels: ArtifactFuzzer opens a Model only for
// artifacts without kernels (loading kernels dlopens the kernel segment, i.e. runs its code).
//   cpu.loom   a CPU target with no CPU features (runs anywhere), a tiny BPE tokenizer,
//              f32/bf16/q8 weights, two KV cache layers, and the entry points a session needs
//              (embed_text, embed_image of 2x2 patches, decoder with a KV write, lm_head) with
//              the inputs and outputs it checks
//   cuda.loom  the same with target cuda:sm_90a and a kernel bundle of one image and no kernels
//              (what the runtime parses before it touches a GPU)
// Usage: MakeArtifactSeeds OUTPUT_DIR
#include "loom/Artifact/ArtifactWriter.h"
#include "loom/Cuda/KernelBundle.h"
#include "loom/Error.h"
#include "ManifestEditing.h"

#include <cstdio>
#include <fstream>
#include <string>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

namespace {

using namespace loom;

constexpr int64_t kTokens = int64_t(fb::DimSymbol::Tokens);

// The tokenizer of TokenizerTest's TinyBpeRules: a normalizer, merges, byte-free BPE, an added
// special token and a decoder chain.
const char *kTinyTokenizer = R"({
  "added_tokens": [{"id": 7, "content": "<s>", "special": true, "lstrip": false, "rstrip": false,
                    "normalized": false, "single_word": false}],
  "normalizer": {"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"},
  "pre_tokenizer": null,
  "decoder": {"type": "Sequence", "decoders": [
    {"type": "Replace", "pattern": {"String": "\u2581"}, "content": " "},
    {"type": "ByteFallback"}, {"type": "Fuse"}]},
  "model": {"type": "BPE", "unk_token": "<unk>", "fuse_unk": true, "byte_fallback": false,
            "vocab": {"<unk>": 0, "a": 1, "b": 2, "ab": 3, "bb": 4, "abb": 5, "\u2581": 6, "<s>": 7},
            "merges": ["b b", ["a", "b"], "ab b"]}
})";

using loom::test::value;

std::unique_ptr<fb::TensorT> tensor(const std::string &name, fb::DType dtype,
                                    std::vector<int64_t> shape, const std::string &source) {
  auto t = std::make_unique<fb::TensorT>();
  t->name = name;
  t->dtype = dtype;
  t->shape = std::move(shape);
  setTensorSource(*t, {source, 0, fb::DType::F32});
  return t;
}

struct Slot {
  fb::DType dtype;
  int64_t width; // the values per token: shape [Tokens] when 0, else [Tokens, width]
};

// An entry point with the inputs and outputs the session checks, and no commands.
std::unique_ptr<fb::EntryPointT> entryPoint(const std::string &name, std::vector<Slot> inputs,
                                            std::vector<Slot> outputs) {
  auto entry = std::make_unique<fb::EntryPointT>();
  entry->name = name;
  entry->arena_bytes_per_token = 64;
  auto shape = [](const Slot &slot) {
    return slot.width ? std::vector<int64_t>{kTokens, slot.width} : std::vector<int64_t>{kTokens};
  };
  for (uint32_t i = 0; i < inputs.size(); ++i)
    entry->inputs.push_back(value(fb::ValueKind::Input, i, inputs[i].dtype, shape(inputs[i])));
  for (uint32_t i = 0; i < outputs.size(); ++i)
    entry->outputs.push_back(value(fb::ValueKind::Output, i, outputs[i].dtype, shape(outputs[i])));
  return entry;
}

ArtifactContents contents(const std::string &source, const std::string &targetName) {
  ArtifactContents c;
  fb::ModelT &m = c.manifest;
  m.producer = "MakeArtifactSeeds";
  m.config = std::make_unique<fb::ModelConfigT>();
  m.config->model_type = "gemma4_unified";
  m.config->vocab_size = 8;
  m.config->hidden_size = 4;
  m.config->num_layers = 2;
  m.config->layer_kinds = {fb::LayerKind::Sliding, fb::LayerKind::Full};
  m.config->pad_token_id = 0;
  m.config->bos_token_id = 7;
  m.config->eos_token_ids = {1, 5};
  m.config->image_token_id = 2;
  m.config->audio_token_id = 3;
  m.target = std::make_unique<fb::TargetT>();
  m.target->name = targetName;
  m.max_context = 16;
  m.weight_dtype = fb::DType::F32;
  m.tensors.push_back(tensor("embed", fb::DType::F32, {8, 4}, source));
  m.tensors.push_back(tensor("norm", fb::DType::BF16, {4}, source));
  auto packed = tensor("proj.q8", fb::DType::U8, {4, 36}, source);
  packed->quantization = fb::Quantization::Q8Row;
  packed->logical_shape = {4, 32};
  m.tensors.push_back(std::move(packed));
  for (auto [kind, capacity] : {std::pair{fb::LayerKind::Sliding, 4}, std::pair{fb::LayerKind::Full, 16}}) {
    auto layer = std::make_unique<fb::KvCacheLayerT>();
    layer->kind = kind;
    layer->capacity = capacity;
    layer->kv_heads = 1;
    layer->head_dim = 4;
    layer->dtype = fb::DType::F32;
    m.kv_cache.push_back(std::move(layer));
  }
  const Slot hidden{fb::DType::F32, 4}, ids{fb::DType::I32, 0};
  m.entry_points.push_back(entryPoint("embed_text", {ids}, {hidden}));
  m.entry_points.push_back(
      entryPoint("embed_image", {{fb::DType::F32, 12}, {fb::DType::I32, 2}}, {hidden}));
  auto decoder = entryPoint("decoder", {hidden, ids}, {hidden});
  fb::KvWriteT write;
  write.layer = 0;
  write.keys = value(fb::ValueKind::Arena, 0, fb::DType::F32, {kTokens, 1, 4}, 0);
  write.values = value(fb::ValueKind::Arena, 0, fb::DType::F32, {kTokens, 1, 4}, 16);
  decoder->commands.emplace_back();
  decoder->commands.back().Set(std::move(write));
  m.entry_points.push_back(std::move(decoder));
  m.entry_points.push_back(entryPoint("lm_head", {hidden}, {{fb::DType::F32, 8}}));
  c.tokenizerJson = kTinyTokenizer;
  return c;
}

std::vector<uint8_t> cudaBundle() {
  cuda::KernelBundle bundle;
  bundle.target = "cuda:sm_90a";
  bundle.producer = "MakeArtifactSeeds";
  bundle.kvWriteFunction = "loom_kv_write";
  bundle.images.push_back({"ptx", "compute_90a", 0, 0});
  const std::string ptx = ".version 8.0\n.target sm_90a\n";
  return cuda::writeKernelBundle(bundle, {std::vector<uint8_t>(ptx.begin(), ptx.end())});
}

} // namespace

int main(int argc, char **argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s OUTPUT_DIR\n", argv[0]);
    return 2;
  }
  const std::string dir = argv[1];
  ::mkdir(dir.c_str(), 0755);
  const std::string source = dir + "/weights.f32";
  try {
    {
      std::ofstream out(source, std::ios::binary);
      const std::vector<float> weights(256, 0.25f); // more than any tensor reads
      out.write(reinterpret_cast<const char *>(weights.data()), std::streamsize(weights.size() * 4));
    }
    writeArtifact(contents(source, "x86-64"), dir + "/cpu.loom");
    ArtifactContents gpu = contents(source, "cuda:sm_90a");
    gpu.kernelLibrary = cudaBundle();
    writeArtifact(std::move(gpu), dir + "/cuda.loom");
  } catch (const Error &error) {
    std::fprintf(stderr, "MakeArtifactSeeds: %s\n", error.what());
    ::unlink(source.c_str());
    return 1;
  }
  ::unlink(source.c_str());
  return 0;
}
