// Fuzzes loading a .loom artifact: loom::Artifact::open (preamble, FlatBuffers verifier,
// manifest checks), then what the runtime reads from an artifact it accepted: every segment's and
// tensor's bytes, the kernel set this CPU runs, the tokenizer segment, a CUDA artifact's kernel
// bundle, and loom::Model::open and a loom::Session on it (KV cache, executors' plans) when the
// manifest lists no kernels (loading kernels dlopens the kernel segment, i.e. runs the input as
// code, which a fuzzer must not do).
// Any exception other than loom::Error, and any sanitizer report, is a bug.
#include "MemoryFile.h"

#include "loom/Artifact.h"
#include "loom/Cuda/KernelBundle.h"
#include "loom/Error.h"
#include "loom/Runtime/KernelSets.h"
#include "loom/Runtime/Model.h"
#include "loom/Runtime/Session.h"
#include "loom/Schema/loom_generated.h"
#include "loom/Tokenizer/Tokenizer.h"

#include <cstdint>
#include <string>
#include <string_view>

namespace {

// Reads the first and last byte of a span: ASan and the MMU check that the reader's bounds hold.
uint8_t touch(loom::ByteSpan span) {
  return span.size ? uint8_t(span.data[0] ^ span.data[span.size - 1]) : 0;
}

void readVerified(const loom::Artifact &artifact) {
  const loom::fb::Model &manifest = artifact.manifest();
  volatile uint8_t sink = 0;
  for (uint32_t i = 0; i < manifest.segments()->size(); ++i)
    sink = sink ^ touch(artifact.segment(i));
  const uint32_t tensors = manifest.tensors() ? manifest.tensors()->size() : 0;
  for (uint32_t i = 0; i < tensors; ++i)
    sink = sink ^ touch(artifact.tensorData(i));

  const std::string target =
      manifest.target()->name() ? manifest.target()->name()->str() : std::string();
  if (target.rfind("cuda:", 0) == 0) {
    const loom::ByteSpan bundle = artifact.segment(manifest.kernel_library_segment());
    loom::cuda::readKernelBundle(bundle.data, bundle.size, artifact.path());
    return;
  }
  loom::kernelSets(manifest);
  loom::chooseKernelSet(manifest, artifact.path());
  const loom::ByteSpan tokenizer = artifact.segment(manifest.tokenizer_segment());
  loom::Tokenizer::fromJson(
      std::string_view(reinterpret_cast<const char *>(tokenizer.data), tokenizer.size),
      artifact.path() + " (tokenizer segment)");
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static loom::fuzz::MemoryFile file("loom-artifact-fuzz");
  const std::string &path = file.write(data, size);
  bool hasKernels = false;
  try {
    std::shared_ptr<const loom::Artifact> artifact = loom::Artifact::open(path);
    const auto *kernels = artifact->manifest().kernels();
    hasKernels = kernels && kernels->size() > 0;
    readVerified(*artifact);
  } catch (const loom::Error &) {
    return 0;
  }
  if (!hasKernels) {
    try {
      loom::Session session(loom::Model::open(path));
    } catch (const loom::Error &) {
    }
  }
  return 0;
}
