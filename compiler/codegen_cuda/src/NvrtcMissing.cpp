// Built instead of Nvrtc.cpp when CMake found no CUDA toolkit: generating CUDA source still
// works, compiling it says clearly why it cannot.
#include "loom/CodegenCuda/CudaCodegen.h"

#include "loom/Error.h"

namespace loom::codegen::cuda {
namespace {
[[noreturn]] void missing(const CudaTarget &target) {
  fail("cannot compile for ", target.name,
       ": this Loom was built without the CUDA toolkit (NVRTC not found by CMake); install CUDA "
       "13 at /usr/local/cuda and rebuild");
}
} // namespace

bool cudaCodegenAvailable() { return false; }
std::string nvrtcVersion() { return "no NVRTC (built without the CUDA toolkit)"; }
std::string compileToPtx(const std::string &, const CudaTarget &target, std::string *) { missing(target); }
std::vector<uint8_t> compileToCubin(const std::string &, const CudaTarget &target, std::string *) {
  missing(target);
}

} // namespace loom::codegen::cuda
