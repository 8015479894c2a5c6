// Generated kernels for benchmarking: builds a kernel library for a list of KernelSpecs with
// compiler/codegen (the same generator loom-compile uses), dlopens it from a memfd and calls
// kernels through their `<symbol>_argv` entry points. Also opens the kernel library inside an
// artifact, so that an artifact's own kernels can be timed.
#pragma once

#include "loom/Codegen/KernelSpec.h"

#include <HalideRuntime.h>

#include <cstdint>
#include <string>
#include <vector>

namespace loom::bench {

// A halide_buffer_t over dense row-major memory: shape is outermost first, as in KernelSpec.h.
struct DenseBuffer {
  halide_buffer_t buffer{};
  std::vector<halide_dimension_t> dims;
  DenseBuffer(void *data, halide_type_t type, const std::vector<int64_t> &shape);
  DenseBuffer(const DenseBuffer &) = delete;
  DenseBuffer &operator=(const DenseBuffer &) = delete;
};

using KernelEntry = int (*)(void **);

class KernelHarness {
public:
  // Builds `kernels` for `loomTarget` (e.g. "host", "x86-64-v3") in a temporary work directory,
  // with `tuning`'s schedule parameters (null: the target's defaults). Throws loom::Error.
  KernelHarness(const std::vector<codegen::KernelSpec> &kernels, const std::string &loomTarget,
                const codegen::Tuning *tuning = nullptr);
  // Loads the kernel library segment of an artifact (its own compiled kernels).
  explicit KernelHarness(const std::string &artifactPath);
  ~KernelHarness();
  KernelHarness(const KernelHarness &) = delete;
  KernelHarness &operator=(const KernelHarness &) = delete;

  // The `_argv` entry of `symbol`; throws loom::Error naming it when absent.
  KernelEntry entry(const std::string &symbol) const;
  // halide_set_num_threads of the library's Halide runtime (its thread pool).
  void setThreads(int threads) const;
  double buildSeconds() const { return buildSeconds_; }
  const std::string &target() const { return target_; }

private:
  void load(const uint8_t *bytes, uint64_t size, const std::string &what);
  void *handle_ = nullptr;
  // The memfd the library was loaded from, open while it is loaded: dlopen knows a library by
  // its path, /proc/self/fd/N, and a closed N is reused by the next memfd, whose dlopen would
  // then return this library instead of loading its own.
  int fd_ = -1;
  double buildSeconds_ = 0;
  std::string target_;
};

// Calls `entry` and throws loom::Error with the Halide message when it fails.
void callKernel(KernelEntry entry, void **args, const std::string &what);

} // namespace loom::bench
