// A loaded .loom artifact, ready to run: the verified manifest, the tokenizer, the kernel
// library with every kernel resolved, and the model facts the runtime needs. Immutable and
// shareable between sessions (the kernels' thread count is a process-wide setting).
#pragma once

#include "loom/Artifact.h"
#include "loom/Runtime/KernelLibrary.h"
#include "loom/Runtime/MediaLimits.h"
#include "loom/Tokenizer/Tokenizer.h"

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace loom {
namespace fb {
struct EntryPoint;
struct ModelConfig;
} // namespace fb
namespace cuda {
class DeviceModel;
}

struct SpecialTokens {
  int32_t pad = 0, bos = 2;
  int32_t image = -1, audio = -1, video = -1; // placeholders (soft tokens)
  int32_t boi = -1, eoi = -1, boa = -1, eoa = -1;
  std::vector<int32_t> eos;
};

// The end-to-end choices the artifact's kernel set was tuned with (schemas/loom.fbs
// RuntimeTuning; docs/TUNING.md); zeros and `tuned` false when it was not.
struct TunedRuntime {
  bool tuned = false;
  int prefillThreads = 0, decodeThreads = 0;
  bool hugePages = false;
  int64_t prefillChunk = 0;
};

class Model {
public:
  // Opens and verifies the artifact, checks runtime version and CPU features, loads the
  // tokenizer and the kernels. Throws loom::Error naming the file. `mediaLimits`: what its
  // prompts' media may declare, at most the defaults (MediaLimits.h).
  static std::shared_ptr<const Model> open(const std::string &path,
                                           ArtifactMemory memory = ArtifactMemory::Mapped,
                                           MediaLimits mediaLimits = {});
  ~Model();

  const std::string &path() const { return artifact_->path(); }
  const Artifact &artifact() const { return *artifact_; }
  const fb::Model &manifest() const { return artifact_->manifest(); }
  const fb::ModelConfig &config() const { return *config_; }
  const Tokenizer &tokenizer() const { return *tokenizer_; }
  const KernelLibrary &kernels() const { return *kernels_; }
  // The target of the kernel set this CPU runs (Runtime/KernelSets.h), e.g. "zen4".
  const std::string &kernelTarget() const { return kernelTarget_; }
  // That kernel set's tuned end-to-end choices.
  const TunedRuntime &tunedRuntime() const { return tunedRuntime_; }
  // The GPU side of a CUDA artifact (target "cuda:..."), or null for a CPU artifact.
  const std::shared_ptr<const cuda::DeviceModel> &device() const { return device_; }

  // The entry point called `name`, or nullptr when the model has none.
  const fb::EntryPoint *entry(std::string_view name) const;

  int64_t vocabSize() const { return vocabSize_; }
  int64_t hiddenSize() const { return hiddenSize_; }
  int64_t maxContext() const { return maxContext_; }
  int64_t patchSize() const { return patchSize_; }     // 48
  int64_t patchDim() const { return patchDim_; }       // 6912
  int64_t audioFrameSize() const { return audioFrameSize_; } // 640
  const SpecialTokens &tokens() const { return tokens_; }
  const MediaLimits &mediaLimits() const { return mediaLimits_; }

private:
  Model() = default;
  std::shared_ptr<const Artifact> artifact_;
  const fb::ModelConfig *config_ = nullptr;
  std::unique_ptr<Tokenizer> tokenizer_;
  std::unique_ptr<KernelLibrary> kernels_;
  std::string kernelTarget_;
  TunedRuntime tunedRuntime_;
  std::shared_ptr<const cuda::DeviceModel> device_;
  int64_t vocabSize_ = 0, hiddenSize_ = 0, maxContext_ = 0;
  int64_t patchSize_ = 48, patchDim_ = 6912, audioFrameSize_ = 640;
  SpecialTokens tokens_;
  MediaLimits mediaLimits_;
};

} // namespace loom
