// Writes a .loom artifact atomically: preamble | FlatBuffer manifest | 4096-aligned segments
// ("weights", "kernels", "tokenizer"). Weight bytes are streamed from their source files in
// chunks (never a whole tensor in memory) and converted to each tensor's target dtype.
// The result goes to `path + ".tmp.<pid>"`, is fsync'd, re-opened and verified with the
// runtime's reader (loom::Artifact::open), and only then renamed over `path`. On any error the
// temporary file is removed and an existing file at `path` is left untouched.
#pragma once

#include "loom/DTypeSize.h"
#include "loom/Schema/loom_generated.h"

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace loom {

// Where one tensor's bytes come from: `file` holds numel(shape) elements of `dtype`, contiguous
// and little-endian, starting at absolute byte `offset` (e.g. a safetensors data range).
struct TensorSource {
  std::string file;
  uint64_t offset = 0;
  fb::DType dtype = fb::DType::F32;
};

// Records `source` in the manifest entry (source_file, source_offset, source_dtype).
void setTensorSource(fb::TensorT &tensor, const TensorSource &source);

// The kernel library of one more target (an artifact for several CPUs).
struct ExtraKernelSet {
  std::unique_ptr<fb::TargetT> target;
  std::vector<uint8_t> library; // a "kernels:<target name>" segment, verbatim
};

struct ArtifactContents {
  // Object API manifest. The caller fills config, target, kernels, entry points, kv_cache,
  // max_context, weight_dtype and, per tensor, name, dtype, shape and source_*.
  // The writer fills: format_version (kArtifactFormatVersion), min_runtime_version (when 0:
  // kRuntimeVersion), segments (replaced by [weights, kernels, tokenizer, kernels:<target>...]),
  // kernel_library_segment, tokenizer_segment, kernel_sets (from target and extraKernelSets)
  // and every tensor's segment/offset/size.
  fb::ModelT manifest;
  std::vector<uint8_t> kernelLibrary;       // the "kernels" segment of manifest.target, verbatim
  std::string tokenizerJson;                // the "tokenizer" segment, verbatim
  std::vector<ExtraKernelSet> extraKernelSets; // more capable targets, least to most
};

// Progress messages (about one per GiB of weights, plus a final one). Throws loom::Error naming
// the source file and tensor when a source is missing, too short or has an unsupported
// conversion (supported: same dtype -> copy, bf16 -> f32, f16 -> f32, f32 -> bf16 with
// round-to-nearest-even). A tensor with `quantization` set is packed row by row from its
// float source (logical_shape [rows, cols]) into U8 [rows, packed row bytes] by
// loom/Artifact/WeightPacking.h; its dtype and shape must say so.
void writeArtifact(ArtifactContents contents, const std::string &path,
                   const std::function<void(const std::string &)> &progress = {});



} // namespace loom
