// The artifact's kernel segment, loaded as a shared library: the bytes are written to an
// anonymous memfd and dlopen'ed through /proc/self/fd/N, so nothing touches the file system.
// Every kernel of the manifest is resolved up front as `<symbol>_argv` (KernelSpec.h), with
// the argument list Halide describes in `<symbol>_metadata`.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

struct halide_filter_metadata_t;

namespace loom {

using KernelFunction = int (*)(void **args);

class KernelLibrary {
public:
  // image: the shared library bytes; symbols: the manifest's kernel symbols (without "_argv");
  // sourceName names the artifact in errors. Throws loom::Error when the library cannot be
  // loaded or a symbol is missing (naming every missing one).
  KernelLibrary(const uint8_t *image, uint64_t size, const std::vector<std::string> &symbols,
                const std::string &sourceName);
  ~KernelLibrary();
  KernelLibrary(const KernelLibrary &) = delete;
  KernelLibrary &operator=(const KernelLibrary &) = delete;

  size_t size() const { return functions_.size(); }
  KernelFunction function(size_t index) const { return functions_.at(index); }
  const std::string &symbol(size_t index) const { return symbols_.at(index); }
  const halide_filter_metadata_t &metadata(size_t index) const { return *metadata_.at(index); }

  // Calls the library's halide_set_num_threads if it exports one; returns false otherwise.
  bool setNumThreads(int threads) const;

  // The message of the last kernel that failed on this thread, or "" (and clears it).
  static std::string takeLastError();

private:
  int fd_ = -1;            // kept open while loaded so the /proc path is never reused
  void *handle_ = nullptr;
  std::vector<std::string> symbols_;
  std::vector<KernelFunction> functions_;
  std::vector<const halide_filter_metadata_t *> metadata_;
  int (*setNumThreads_)(int) = nullptr;
};

} // namespace loom
