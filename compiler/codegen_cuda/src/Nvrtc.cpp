// NVRTC: CUDA C++ -> PTX (virtual arch) and -> cubin (real arch), in process.
#include "loom/CodegenCuda/CudaCodegen.h"

#include "loom/Error.h"

#include <nvrtc.h>

#include <memory>

namespace loom::codegen::cuda {
namespace {

// Exact IEEE f32 division and square root, no flush to zero and FMA contraction as the CPU
// kernels may do: the GPU must agree with the CPU goldens.
std::vector<std::string> options(const std::string &arch, bool cubin) {
  std::vector<std::string> out = {"--gpu-architecture=" + arch, "--std=c++17", "--prec-div=true",
                                  "--prec-sqrt=true", "--ftz=false"};
  if (cubin)
    out.push_back("--ptxas-options=-v");
  return out;
}

struct Program {
  nvrtcProgram handle = nullptr;
  ~Program() {
    if (handle)
      nvrtcDestroyProgram(&handle);
  }
};

void check(nvrtcResult result, const char *call) {
  if (result != NVRTC_SUCCESS)
    fail("CUDA codegen: ", call, " failed: ", nvrtcGetErrorString(result));
}

// Compiles `source` for `arch`; returns the program (for PTX or cubin retrieval).
std::unique_ptr<Program> compile(const std::string &source, const std::string &arch, bool cubin,
                                 std::string *log) {
  auto program = std::make_unique<Program>();
  check(nvrtcCreateProgram(&program->handle, source.c_str(), "loom_kernels.cu", 0, nullptr, nullptr),
        "nvrtcCreateProgram");
  std::vector<std::string> opts = options(arch, cubin);
  std::vector<const char *> argv;
  for (const std::string &o : opts)
    argv.push_back(o.c_str());
  nvrtcResult result = nvrtcCompileProgram(program->handle, int(argv.size()), argv.data());
  size_t logSize = 0;
  nvrtcGetProgramLogSize(program->handle, &logSize);
  std::string text(logSize, '\0');
  if (logSize)
    nvrtcGetProgramLog(program->handle, text.data());
  while (!text.empty() && (text.back() == '\0' || text.back() == '\n'))
    text.pop_back();
  if (result != NVRTC_SUCCESS)
    fail("CUDA codegen: NVRTC could not compile the kernels for ", arch, ": ",
         nvrtcGetErrorString(result), "\n", text);
  if (log)
    *log = text;
  return program;
}

} // namespace

bool cudaCodegenAvailable() { return true; }

std::string nvrtcVersion() {
  int major = 0, minor = 0;
  if (::nvrtcVersion(&major, &minor) != NVRTC_SUCCESS)
    return "NVRTC (version unknown)";
  return "NVRTC " + std::to_string(major) + "." + std::to_string(minor);
}

std::string compileToPtx(const std::string &source, const CudaTarget &target, std::string *log) {
  auto program = compile(source, target.virtualArch, false, log);
  size_t size = 0;
  check(nvrtcGetPTXSize(program->handle, &size), "nvrtcGetPTXSize");
  std::string ptx(size, '\0');
  check(nvrtcGetPTX(program->handle, ptx.data()), "nvrtcGetPTX");
  while (!ptx.empty() && ptx.back() == '\0')
    ptx.pop_back();
  return ptx;
}

std::vector<uint8_t> compileToCubin(const std::string &source, const CudaTarget &target,
                                    std::string *log) {
  auto program = compile(source, target.arch, true, log);
  size_t size = 0;
  check(nvrtcGetCUBINSize(program->handle, &size), "nvrtcGetCUBINSize");
  std::vector<uint8_t> cubin(size);
  check(nvrtcGetCUBIN(program->handle, reinterpret_cast<char *>(cubin.data())), "nvrtcGetCUBIN");
  return cubin;
}

} // namespace loom::codegen::cuda
