// A file in memory (memfd) for fuzzing readers that take a path: each input is written into it
// and the reader opens /proc/self/fd/N, with no disk I/O and nothing to clean up.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <sys/mman.h>
#include <unistd.h>

namespace loom::fuzz {

class MemoryFile {
public:
  explicit MemoryFile(const char *name) : fd_(memfd_create(name, MFD_CLOEXEC)) {
    if (fd_ < 0) {
      std::perror("memfd_create");
      std::abort();
    }
    path_ = "/proc/self/fd/" + std::to_string(fd_);
  }
  MemoryFile(const MemoryFile &) = delete;
  MemoryFile &operator=(const MemoryFile &) = delete;
  ~MemoryFile() { ::close(fd_); }

  // Replaces the file's contents with `size` bytes; returns the path that reads them.
  const std::string &write(const uint8_t *data, size_t size) {
    if (::ftruncate(fd_, 0) != 0 || (size && ::pwrite(fd_, data, size, 0) != ssize_t(size))) {
      std::perror("writing the memfd");
      std::abort();
    }
    return path_;
  }

private:
  int fd_;
  std::string path_;
};

} // namespace loom::fuzz
