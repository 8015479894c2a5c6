#include "KernelHarness.h"

#include "loom/Artifact.h"
#include "loom/Error.h"
#include "loom/Runtime/KernelThreadPool.h"
#include "loom/Schema/loom_generated.h"

#include <chrono>
#include <cstdlib>
#include <filesystem>

#include <dlfcn.h>
#include <sys/mman.h>
#include <unistd.h>

namespace loom::bench {
namespace {

thread_local std::string lastKernelError;
void recordKernelError(void *, const char *message) { lastKernelError = message ? message : ""; }

} // namespace

DenseBuffer::DenseBuffer(void *data, halide_type_t type, const std::vector<int64_t> &shape)
    : dims(shape.size()) {
  int64_t stride = 1;
  for (size_t i = 0; i < shape.size(); ++i) {
    int64_t extent = shape[shape.size() - 1 - i]; // Halide dim 0 is the innermost
    dims[i] = halide_dimension_t(0, int32_t(extent), int32_t(stride));
    stride *= extent;
  }
  buffer.host = static_cast<uint8_t *>(data);
  buffer.type = type;
  buffer.dimensions = int32_t(shape.size());
  buffer.dim = dims.empty() ? nullptr : dims.data();
}

KernelHarness::KernelHarness(const std::vector<codegen::KernelSpec> &kernels,
                             const std::string &loomTarget, const codegen::Tuning *tuning) {
  target_ = codegen::resolveLoomTarget(loomTarget);
  namespace fs = std::filesystem;
  fs::path work = fs::temp_directory_path() / ("loom-bench-" + std::to_string(getpid()));
  auto start = std::chrono::steady_clock::now();
  std::vector<uint8_t> bytes;
  try {
    bytes = codegen::buildKernelLibrary(kernels, codegen::halideTargetFor(target_), work.string(),
                                        tuning);
  } catch (...) {
    std::error_code ignored;
    fs::remove_all(work, ignored);
    throw;
  }
  buildSeconds_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::error_code ignored;
  fs::remove_all(work, ignored);
  load(bytes.data(), bytes.size(), "the generated kernel library");
}

KernelHarness::KernelHarness(const std::string &artifactPath) {
  std::shared_ptr<const Artifact> artifact = Artifact::open(artifactPath);
  const fb::Model &manifest = artifact->manifest();
  if (manifest.target() && manifest.target()->name())
    target_ = manifest.target()->name()->str();
  ByteSpan library = artifact->segment(manifest.kernel_library_segment());
  load(library.data, library.size, artifactPath + ": kernel library segment");
}

void KernelHarness::load(const uint8_t *bytes, uint64_t size, const std::string &what) {
  fd_ = memfd_create("loom-bench-kernels", MFD_CLOEXEC);
  if (fd_ < 0)
    fail(what, ": memfd_create failed");
  uint64_t written = 0;
  while (written < size) {
    ssize_t n = ::write(fd_, bytes + written, size - written);
    if (n <= 0) {
      ::close(fd_);
      fd_ = -1;
      fail(what, ": writing ", size, " bytes to a memfd failed");
    }
    written += uint64_t(n);
  }
  std::string path = "/proc/self/fd/" + std::to_string(fd_);
  handle_ = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle_ == nullptr) {
    const char *why = dlerror();
    ::close(fd_);
    fd_ = -1;
    fail(what, ": dlopen failed: ", why ? why : "?");
  }
  using ErrorHandler = void (*)(void *, const char *);
  if (auto set = reinterpret_cast<ErrorHandler (*)(ErrorHandler)>(
          dlsym(handle_, "halide_set_error_handler")))
    set(recordKernelError);
  kernel_pool::install(handle_); // the runtime's pool, as a session runs the kernels
}

KernelHarness::~KernelHarness() {
  if (handle_)
    dlclose(handle_);
  if (fd_ >= 0)
    ::close(fd_);
}

KernelEntry KernelHarness::entry(const std::string &symbol) const {
  void *address = dlsym(handle_, (symbol + "_argv").c_str());
  if (address == nullptr)
    fail("kernel library: no entry point ", symbol, "_argv");
  return reinterpret_cast<KernelEntry>(address);
}

void KernelHarness::setThreads(int threads) const {
  auto set = reinterpret_cast<int (*)(int)>(dlsym(handle_, "halide_set_num_threads"));
  if (set == nullptr)
    fail("kernel library: halide_set_num_threads is not exported");
  set(threads);
  kernel_pool::setThreads(threads);
}

void callKernel(KernelEntry entry, void **args, const std::string &what) {
  int rc = entry(args);
  if (rc != 0)
    fail("kernel ", what, " failed with Halide error ", rc, ": ", lastKernelError);
}

} // namespace loom::bench
