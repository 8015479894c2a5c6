#include "loom/Runtime/Model.h"

#include "DispatchSignatures.h"

#include "loom/ArtifactFormat.h"
#include "loom/Cuda/CudaBackend.h"
#include "loom/Error.h"
#include "loom/Runtime/KernelSets.h"
#include "loom/Runtime/Session.h"
#include "loom/Schema/loom_generated.h"

#include <cmath>

namespace loom {
namespace {

// Patch sides beyond this are no image patches, and their patch_dim (side^2 * 3) would overflow.
constexpr int64_t kMaxPatchSize = 1024;

int32_t tokenIdField(const std::string &path, const char *field, int64_t value, int64_t vocab,
                     bool required) {
  if (value < 0 || value >= vocab) {
    if (!required)
      return -1;
    fail(path, ": manifest config.", field, " = ", value, " is not a token id in [0, ", vocab, ")");
  }
  return static_cast<int32_t>(value);
}

// The last dimension of an entry's first input, or 0 when the entry or shape is absent.
int64_t innerInputWidth(const fb::EntryPoint *entry) {
  if (entry == nullptr || entry->inputs() == nullptr || entry->inputs()->size() == 0)
    return 0;
  const fb::Value *value = entry->inputs()->Get(0);
  if (value->shape() == nullptr || value->shape()->size() == 0)
    return 0;
  return value->shape()->Get(value->shape()->size() - 1);
}

} // namespace

Model::~Model() = default;

std::shared_ptr<const Model> Model::open(const std::string &path, ArtifactMemory memory,
                                         MediaLimits mediaLimits) {
  if (mediaLimits.maxImagePixels <= 0 || mediaLimits.maxImagePixels > kMaxImagePixels)
    fail(path, ": max_image_pixels is ", mediaLimits.maxImagePixels, "; expected 1 to ",
         kMaxImagePixels);
  if (mediaLimits.maxSeconds <= 0 || mediaLimits.maxSeconds > kMaxMediaSeconds)
    fail(path, ": max_media_seconds is ", mediaLimits.maxSeconds, "; expected 1 to ",
         kMaxMediaSeconds);
  std::shared_ptr<Model> model(new Model());
  model->mediaLimits_ = mediaLimits;
  model->artifact_ =
      Artifact::open(path, memory == ArtifactMemory::AsTuned ? ArtifactMemory::Mapped : memory);
  const fb::Model &m = model->artifact_->manifest();
  if (m.min_runtime_version() > kRuntimeVersion)
    fail(path, ": the artifact needs runtime version ", m.min_runtime_version(),
         " or newer; this runtime is version ", kRuntimeVersion);
  if (m.config() == nullptr)
    fail(path, ": the manifest has no model config");
  model->config_ = m.config();
  const fb::ModelConfig &config = *m.config();

  const KernelSetRef kernelSet = kernelSets(m)[chooseKernelSet(m, path)];
  model->kernelTarget_ = kernelSet.target && kernelSet.target->name()
                             ? kernelSet.target->name()->str()
                             : "";
  if (const fb::RuntimeTuning *tuned = kernelSet.target ? kernelSet.target->runtime_tuning() : nullptr) {
    TunedRuntime &t = model->tunedRuntime_;
    t.tuned = true;
    t.prefillThreads = tuned->prefill_threads();
    t.decodeThreads = tuned->decode_threads();
    t.hugePages = tuned->huge_pages();
    t.prefillChunk = tuned->prefill_chunk();
    if (t.prefillThreads < 0 || t.prefillThreads > kMaxKernelThreads || t.decodeThreads < 0 ||
        t.decodeThreads > kMaxKernelThreads || t.prefillChunk < 0)
      fail(path, ": the kernel set's runtime_tuning is out of range (threads ",
           t.prefillThreads, "/", t.decodeThreads, ", expected 0 to ", kMaxKernelThreads,
           "; prefill_chunk ", t.prefillChunk, ", expected >= 0)");
  }
  // Tuned with huge pages: read again into them (the manifest above came from the mapping).
  if (memory == ArtifactMemory::AsTuned && model->tunedRuntime_.hugePages)
    return open(path, ArtifactMemory::HugePageCopy, mediaLimits);

  model->vocabSize_ = config.vocab_size();
  model->hiddenSize_ = config.hidden_size();
  model->maxContext_ = m.max_context();
  if (model->vocabSize_ <= 0 || model->vocabSize_ > INT32_MAX)
    fail(path, ": manifest config.vocab_size = ", model->vocabSize_, " is out of range");
  if (model->hiddenSize_ <= 0 || model->hiddenSize_ > INT32_MAX)
    fail(path, ": manifest config.hidden_size = ", model->hiddenSize_, " is out of range");
  if (model->maxContext_ <= 0)
    fail(path, ": manifest max_context = ", model->maxContext_, " must be positive");

  for (const char *name : {"embed_text", "decoder", "lm_head"})
    if (model->entry(name) == nullptr)
      fail(path, ": the manifest has no '", name, "' entry point");

  // Media geometry from the entry points (the truth the kernels were built for), else config.
  const int64_t configPatch = config.model_patch_size() > 0 ? config.model_patch_size() : 48;
  if (configPatch > kMaxPatchSize)
    fail(path, ": manifest config.model_patch_size = ", configPatch, " is out of range [1, ",
         kMaxPatchSize, "]");
  model->patchSize_ = configPatch;
  model->patchDim_ = configPatch * configPatch * 3;
  if (int64_t width = innerInputWidth(model->entry("embed_image")); width > 0) {
    auto side = static_cast<int64_t>(std::llround(std::sqrt(static_cast<double>(width) / 3.0)));
    if (side * side * 3 != width)
      fail(path, ": embed_image input 0 has rows of ", width,
           " values, which is not a square RGB patch (side*side*3)");
    model->patchSize_ = side;
    model->patchDim_ = width;
  }
  model->audioFrameSize_ = config.audio_embed_dim() > 0 ? config.audio_embed_dim() : 640;
  if (int64_t width = innerInputWidth(model->entry("embed_audio")); width > 0)
    model->audioFrameSize_ = width;

  const int64_t vocab = model->vocabSize_;
  SpecialTokens &t = model->tokens_;
  t.pad = tokenIdField(path, "pad_token_id", config.pad_token_id(), vocab, true);
  t.bos = tokenIdField(path, "bos_token_id", config.bos_token_id(), vocab, false);
  t.image = tokenIdField(path, "image_token_id", config.image_token_id(), vocab, false);
  t.audio = tokenIdField(path, "audio_token_id", config.audio_token_id(), vocab, false);
  t.video = tokenIdField(path, "video_token_id", config.video_token_id(), vocab, false);
  t.boi = tokenIdField(path, "boi_token_id", config.boi_token_id(), vocab, false);
  t.eoi = tokenIdField(path, "eoi_token_id", config.eoi_token_id(), vocab, false);
  t.boa = tokenIdField(path, "boa_token_id", config.boa_token_id(), vocab, false);
  t.eoa = tokenIdField(path, "eoa_token_id", config.eoa_token_id(), vocab, false);
  if (config.eos_token_ids())
    for (int64_t id : *config.eos_token_ids())
      if (id >= 0 && id < vocab)
        t.eos.push_back(static_cast<int32_t>(id));

  // Tokenizer.
  const auto *segments = m.segments();
  const uint32_t segmentCount = segments ? segments->size() : 0;
  if (m.tokenizer_segment() >= segmentCount)
    fail(path, ": manifest tokenizer_segment ", m.tokenizer_segment(), " is not one of the ",
         segmentCount, " segments");
  model->artifact_->verifySegment(m.tokenizer_segment());
  ByteSpan tokenizerBytes = model->artifact_->segment(m.tokenizer_segment());
  model->tokenizer_ = std::make_unique<Tokenizer>(Tokenizer::fromJson(
      std::string_view(reinterpret_cast<const char *>(tokenizerBytes.data), tokenizerBytes.size),
      path + " (tokenizer segment)"));

  // Kernels, checked before any byte of them is loaded. A CUDA artifact runs on the GPU
  // (runtime/cuda); its kernel segment is a bundle.
  if (kernelSet.librarySegment >= segmentCount)
    fail(path, ": manifest kernel library segment ", kernelSet.librarySegment,
         " is not one of the ", segmentCount, " segments");
  model->artifact_->verifySegment(kernelSet.librarySegment);
  if (model->kernelTarget_.rfind("cuda:", 0) == 0) {
    model->device_ = cuda::DeviceModel::open(model->artifact_);
    model->kernels_ = std::make_unique<KernelLibrary>(nullptr, 0, std::vector<std::string>{}, path);
    return model;
  }
  std::vector<std::string> symbols;
  if (m.kernels())
    for (const auto *kernel : *m.kernels()) {
      if (kernel->symbol() == nullptr || kernel->symbol()->size() == 0)
        fail(path, ": manifest kernel ", symbols.size(), " has no symbol");
      symbols.push_back(kernel->symbol()->str());
    }
  ByteSpan library;
  if (!symbols.empty())
    library = model->artifact_->segment(kernelSet.librarySegment);
  model->kernels_ = std::make_unique<KernelLibrary>(library.data, library.size, symbols, path);
  checkDispatchSignatures(path, m, *model->kernels_);
  return model;
}

const fb::EntryPoint *Model::entry(std::string_view name) const {
  const auto *entries = manifest().entry_points();
  if (entries == nullptr)
    return nullptr;
  for (const fb::EntryPoint *entry : *entries)
    if (entry->name() && std::string_view(entry->name()->c_str(), entry->name()->size()) == name)
      return entry;
  return nullptr;
}

} // namespace loom
