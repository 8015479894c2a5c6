#include "loom/Cuda/Driver.h"

#include "loom/Error.h"

#include <cstdlib>
#include <dlfcn.h>
#include <memory>
#include <mutex>

namespace loom::cuda {
namespace {

std::mutex loadMutex;
Driver *loaded = nullptr; // kept for the process: the driver is never unloaded

template <class F> void resolve(void *library, F &slot, const char *name, std::string &missing) {
  slot = reinterpret_cast<F>(dlsym(library, name));
  if (slot == nullptr)
    missing += std::string(missing.empty() ? "" : ", ") + name;
}

} // namespace

std::string driverLibraryName() {
  const char *override = std::getenv("LOOM_CUDA_DRIVER");
  return override && *override ? override : "libcuda.so.1";
}

std::string Driver::errorText(CUresult result) const {
  const char *name = nullptr, *text = nullptr;
  if (cuGetErrorName(result, &name) != CUDA_SUCCESS || name == nullptr)
    name = "CUDA_ERROR_UNKNOWN";
  std::string out = std::string(name) + " (" + std::to_string(result) + ")";
  if (cuGetErrorString(result, &text) == CUDA_SUCCESS && text)
    out += ": " + std::string(text);
  return out;
}

void Driver::check(CUresult result, const std::string &what) const {
  if (result != CUDA_SUCCESS)
    fail(what, " failed: ", errorText(result));
}

const Driver &loadDriver(const std::string &forWhat) {
  std::lock_guard<std::mutex> lock(loadMutex);
  if (loaded)
    return *loaded;
  const std::string name = driverLibraryName();
  void *library = dlopen(name.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (library == nullptr)
    fail("no CUDA driver (", name, " not found): ", forWhat);
  auto driver = std::make_unique<Driver>();
  std::string missing;
  // Versioned names: cuda.h maps the API names to these since CUDA 3.2 / 11.
  resolve(library, driver->cuInit, "cuInit", missing);
  resolve(library, driver->cuDriverGetVersion, "cuDriverGetVersion", missing);
  resolve(library, driver->cuGetErrorName, "cuGetErrorName", missing);
  resolve(library, driver->cuGetErrorString, "cuGetErrorString", missing);
  resolve(library, driver->cuDeviceGetCount, "cuDeviceGetCount", missing);
  resolve(library, driver->cuDeviceGet, "cuDeviceGet", missing);
  resolve(library, driver->cuDeviceGetName, "cuDeviceGetName", missing);
  resolve(library, driver->cuDeviceGetAttribute, "cuDeviceGetAttribute", missing);
  resolve(library, driver->cuDevicePrimaryCtxRetain, "cuDevicePrimaryCtxRetain", missing);
  resolve(library, driver->cuDevicePrimaryCtxRelease, "cuDevicePrimaryCtxRelease_v2", missing);
  resolve(library, driver->cuCtxSetCurrent, "cuCtxSetCurrent", missing);
  resolve(library, driver->cuModuleLoadData, "cuModuleLoadData", missing);
  resolve(library, driver->cuModuleUnload, "cuModuleUnload", missing);
  resolve(library, driver->cuModuleGetFunction, "cuModuleGetFunction", missing);
  resolve(library, driver->cuFuncSetAttribute, "cuFuncSetAttribute", missing);
  resolve(library, driver->cuMemAlloc, "cuMemAlloc_v2", missing);
  resolve(library, driver->cuMemFree, "cuMemFree_v2", missing);
  resolve(library, driver->cuMemGetInfo, "cuMemGetInfo_v2", missing);
  resolve(library, driver->cuMemcpyHtoD, "cuMemcpyHtoD_v2", missing);
  resolve(library, driver->cuMemcpyHtoDAsync, "cuMemcpyHtoDAsync_v2", missing);
  resolve(library, driver->cuMemcpyDtoHAsync, "cuMemcpyDtoHAsync_v2", missing);
  resolve(library, driver->cuMemsetD8Async, "cuMemsetD8Async", missing);
  resolve(library, driver->cuStreamCreate, "cuStreamCreate", missing);
  resolve(library, driver->cuStreamDestroy, "cuStreamDestroy_v2", missing);
  resolve(library, driver->cuStreamSynchronize, "cuStreamSynchronize", missing);
  resolve(library, driver->cuLaunchKernel, "cuLaunchKernel", missing);
  resolve(library, driver->cuStreamBeginCapture, "cuStreamBeginCapture_v2", missing);
  resolve(library, driver->cuStreamEndCapture, "cuStreamEndCapture", missing);
  resolve(library, driver->cuGraphInstantiateWithFlags, "cuGraphInstantiateWithFlags", missing);
  resolve(library, driver->cuGraphLaunch, "cuGraphLaunch", missing);
  resolve(library, driver->cuGraphExecDestroy, "cuGraphExecDestroy", missing);
  resolve(library, driver->cuGraphDestroy, "cuGraphDestroy", missing);
  if (!missing.empty()) {
    dlclose(library);
    fail("the CUDA driver ", name, " lacks ", missing,
         " (Loom needs a CUDA 12 or newer driver): ", forWhat);
  }
  CUresult init = driver->cuInit(0);
  if (init != CUDA_SUCCESS) {
    std::string text = driver->errorText(init);
    dlclose(library);
    fail("the CUDA driver (", name, ") did not start: cuInit failed: ", text, ": ", forWhat);
  }
  loaded = driver.release();
  return *loaded;
}

} // namespace loom::cuda
