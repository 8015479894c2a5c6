// The kernel segment of a CUDA artifact: a "kernel bundle" holding the compiled GPU code (cubin
// and PTX) and, for every kernel of the manifest, how to launch it. The runtime reads it; the
// compiler (compiler/codegen_cuda) writes it; loom-inspect prints it. docs/CUDA.md has the format.
//
//   [ 8 bytes magic "LOOMCUDA" | u32 version | u32 0 | u64 index size ]
//   [ index: JSON text (UTF-8), `index size` bytes ]
//   [ images: each 256-aligned, offsets relative to the bundle's first byte ]
//
// Every GPU function takes one parameter, LoomKernelArgs (below), by value.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace loom::cuda {

constexpr char kBundleMagic[8] = {'L', 'O', 'O', 'M', 'C', 'U', 'D', 'A'};
constexpr uint32_t kBundleVersion = 1;
constexpr uint32_t kMaxKernelPointers = 8;

// The one parameter of every generated __global__ function (the same struct is declared in
// the generated CUDA source). ptr[i] is the device address of the kernel's i-th argument in
// KernelSpec order (codegen::kernelArguments); a StartPosition argument is the address of a
// device int32 holding it (so a captured CUDA graph replays with new positions).
struct LoomKernelArgs {
  uint64_t ptr[kMaxKernelPointers];
  uint64_t workspace; // scratch of the variant's workspace size, or 0
  int32_t tokens;     // T of the call
  int32_t aux[3];     // built-in kernels only (kv_write: row words, capacity)
};
static_assert(sizeof(LoomKernelArgs) == 88, "LoomKernelArgs is an ABI shared with generated code");

// One extent of a launch grid: ceil((perToken * T + constant) / divisor).
struct GridExtent {
  int64_t perToken = 0;
  int64_t constant = 1;
  int64_t divisor = 1;
  int64_t at(int64_t tokens) const { return (perToken * tokens + constant + divisor - 1) / divisor; }
};

struct Launch {
  std::string function;     // __global__ name in the module
  GridExtent grid[3];
  uint32_t block[3] = {1, 1, 1};
  uint32_t sharedBytes = 0; // dynamic shared memory
};

// What one call of a kernel does for a token count: launches run in order on one stream.
struct Variant {
  int64_t maxTokens = 0;              // applies when T <= maxTokens; 0: any T
  uint64_t workspaceBytesPerToken = 0;
  std::vector<Launch> launches;
};

struct KernelLaunches {
  std::string symbol;                 // the manifest kernel's symbol
  std::vector<Variant> variants;      // the first that applies is used
};

struct Image {
  std::string format; // "cubin" | "ptx"
  std::string arch;   // "sm_90a" (cubin) or "compute_90a" (ptx)
  uint64_t offset = 0, size = 0;
};

struct KernelBundle {
  std::string target;     // "cuda:sm_90a"
  std::string producer;   // e.g. "loom-compile nvrtc 13.0"
  std::vector<Image> images;
  std::vector<KernelLaunches> kernels;
  std::string kvWriteFunction; // the built-in KV append kernel
};

// Serialises `bundle` with the image bytes (images[i].offset/size are filled in).
std::vector<uint8_t> writeKernelBundle(KernelBundle bundle,
                                       const std::vector<std::vector<uint8_t>> &imageBytes);

// Parses and checks a bundle (magic, version, index, image bounds, launch shapes). `source`
// names the artifact in errors. Throws loom::Error.
KernelBundle readKernelBundle(const uint8_t *data, uint64_t size, const std::string &source);

// The variant of `kernel` for a call of `tokens` tokens, or nullptr.
const Variant *selectVariant(const KernelLaunches &kernel, int64_t tokens);

// True when `data` starts with the bundle magic.
bool isKernelBundle(const uint8_t *data, uint64_t size);

} // namespace loom::cuda
