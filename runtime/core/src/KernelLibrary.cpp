#include "loom/Runtime/KernelLibrary.h"
#include "loom/Runtime/KernelThreadPool.h"

#include "KernelAllocator.h"

#include "loom/Error.h"

#include <cerrno>
#include <cstring>
#include <dlfcn.h>
#include <sys/mman.h>
#include <unistd.h>

namespace loom {
namespace {

thread_local std::string lastKernelError;

// Halide's default handler prints and aborts; this one keeps the message so the failing call
// returns its error code and the executor can report it.
void recordKernelError(void * /*user_context*/, const char *message) {
  lastKernelError = message ? message : "";
  while (!lastKernelError.empty() && lastKernelError.back() == '\n')
    lastKernelError.pop_back();
}

} // namespace

std::string KernelLibrary::takeLastError() {
  std::string message;
  message.swap(lastKernelError);
  return message;
}

KernelLibrary::KernelLibrary(const uint8_t *image, uint64_t size,
                             const std::vector<std::string> &symbols,
                             const std::string &sourceName)
    : symbols_(symbols) {
  if (symbols.empty())
    return; // nothing to call: no library needed
  if (image == nullptr || size == 0)
    fail(sourceName, ": the manifest lists ", symbols.size(),
         " kernels but the kernel library segment is empty");
  fd_ = memfd_create("loom-kernels", MFD_CLOEXEC);
  if (fd_ < 0)
    fail(sourceName, ": memfd_create for the kernel library failed: ", std::strerror(errno));
  uint64_t written = 0;
  while (written < size) {
    ssize_t n = ::write(fd_, image + written, size - written);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0) {
      int err = errno;
      ::close(fd_);
      fd_ = -1;
      fail(sourceName, ": writing the kernel library (", size, " bytes) to a memfd failed: ",
           std::strerror(err));
    }
    written += static_cast<uint64_t>(n);
  }
  std::string procPath = "/proc/self/fd/" + std::to_string(fd_);
  handle_ = dlopen(procPath.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle_ == nullptr) {
    const char *why = dlerror();
    ::close(fd_);
    fd_ = -1;
    fail(sourceName, ": cannot load the kernel library segment: ", why ? why : "dlopen failed");
  }
  std::string missing;
  size_t missingCount = 0;
  auto lookup = [&](const std::string &name) {
    void *address = dlsym(handle_, name.c_str());
    if (address == nullptr)
      missing += (missingCount++ ? ", " : "") + name;
    return address;
  };
  functions_.reserve(symbols.size());
  metadata_.reserve(symbols.size());
  for (const std::string &symbol : symbols) {
    functions_.push_back(reinterpret_cast<KernelFunction>(lookup(symbol + "_argv")));
    using Describe = const halide_filter_metadata_t *(*)();
    auto describe = reinterpret_cast<Describe>(lookup(symbol + "_metadata"));
    metadata_.push_back(describe ? describe() : nullptr);
    if (describe && metadata_.back() == nullptr)
      missing += (missingCount++ ? ", " : "") + symbol + "_metadata()'s result";
  }
  if (missingCount != 0) {
    dlclose(handle_);
    handle_ = nullptr;
    ::close(fd_);
    fd_ = -1;
    fail(sourceName, ": the kernel library does not export ", missingCount,
         missingCount == 1 ? " symbol the manifest's kernels need: "
                           : " symbols the manifest's kernels need: ",
         missing);
  }
  setNumThreads_ = reinterpret_cast<int (*)(int)>(dlsym(handle_, "halide_set_num_threads"));
  // Parallel loops on Loom's pool, whose workers stay awake between kernels.
  kernel_pool::install(handle_);
  using ErrorHandler = void (*)(void *, const char *);
  if (auto setErrorHandler = reinterpret_cast<ErrorHandler (*)(ErrorHandler)>(
          dlsym(handle_, "halide_set_error_handler")))
    setErrorHandler(recordKernelError);
  // Scratch buffers from a per-thread cache instead of malloc/free per call (KernelAllocator.h).
  using Malloc = void *(*)(void *, size_t);
  using Free = void (*)(void *, void *);
  if (auto setMalloc = reinterpret_cast<Malloc (*)(Malloc)>(dlsym(handle_, "halide_set_custom_malloc")))
    setMalloc(kernel_heap::allocate);
  if (auto setFree = reinterpret_cast<Free (*)(Free)>(dlsym(handle_, "halide_set_custom_free")))
    setFree(kernel_heap::release);
}

KernelLibrary::~KernelLibrary() {
  if (handle_)
    dlclose(handle_);
  if (fd_ >= 0)
    ::close(fd_);
}

bool KernelLibrary::setNumThreads(int threads) const {
  kernel_pool::setThreads(threads);
  if (setNumThreads_ == nullptr)
    return false;
  setNumThreads_(threads); // loops the pool does not take (Halide's parallel tasks)
  return true;
}

} // namespace loom
