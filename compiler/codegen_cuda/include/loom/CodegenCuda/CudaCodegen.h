// Loom's CUDA kernel generator: every KernelSpec (loom/Codegen/KernelSpec.h) becomes CUDA C++
// instantiating the templates of kernels/LoomKernels.cuh with the spec's shapes, which NVRTC
// compiles at loom-compile time to PTX and to a cubin for the target GPU. The result is the
// artifact's kernel segment: a kernel bundle (loom/Cuda/KernelBundle.h). docs/CUDA.md.
#pragma once

#include "loom/Codegen/KernelSpec.h"
#include "loom/Cuda/KernelBundle.h"

#include <cstdint>
#include <string>
#include <vector>

namespace loom::codegen::cuda {

// A Loom CUDA target: "cuda:sm_80" or "cuda:sm_90a".
struct CudaTarget {
  std::string name;        // "cuda:sm_90a"
  std::string arch;        // "sm_90a": the cubin's
  std::string virtualArch; // "compute_90a": the PTX's
};

// True for names starting with "cuda:" (which cudaTargetFor then checks).
bool isCudaTarget(const std::string &loomTarget);
// Throws loom::Error for an unsupported GPU, listing the supported ones.
CudaTarget cudaTargetFor(const std::string &loomTarget);

// True when this build has NVRTC (CMake found the CUDA toolkit); otherwise the functions that
// compile throw a loom::Error saying so.
bool cudaCodegenAvailable();
// "NVRTC 13.0", or why there is none.
std::string nvrtcVersion();

// The generated translation unit and how to launch each kernel (bundle order = spec order).
struct GeneratedModule {
  std::string source;
  std::vector<loom::cuda::KernelLaunches> kernels;
};
// Throws loom::Error naming the kernel when a spec cannot be generated (e.g. a shape the
// templates do not cover).
GeneratedModule generateCudaSource(const std::vector<KernelSpec> &kernels);

// NVRTC: `source` to PTX for target.virtualArch, or to a cubin for target.arch. `log` (if not
// null) receives NVRTC's log, which includes ptxas' resource usage (-v) for cubins. Throws
// loom::Error with the log on a compile error.
std::string compileToPtx(const std::string &source, const CudaTarget &target,
                         std::string *log = nullptr);
std::vector<uint8_t> compileToCubin(const std::string &source, const CudaTarget &target,
                                    std::string *log = nullptr);

// Generates, compiles (cubin + PTX) and packs every kernel: the artifact's kernel segment.
std::vector<uint8_t> buildCudaKernelBundle(const std::vector<KernelSpec> &kernels,
                                           const std::string &loomTarget);

} // namespace loom::codegen::cuda
