// A kernel test's library, built once per test binary and target: ctest runs each test in its
// own process (gtest_discover_tests), so the library is cached in `cacheDir`, keyed by this
// executable's size and mtime (which change whenever loom_kernelgen does) and the target; an
// flock serialises concurrent test processes.
#pragma once

#include "loom/Codegen/KernelSpec.h"

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

namespace loom::testing {

inline std::vector<uint8_t> buildOrLoadCached(const std::vector<codegen::KernelSpec> &specs,
                                              const std::string &halideTarget,
                                              const std::filesystem::path &cacheDir,
                                              double *buildSeconds = nullptr) {
  namespace fs = std::filesystem;
  struct stat exe {};
  stat("/proc/self/exe", &exe);
  fs::create_directories(cacheDir);
  const std::string exeKey = std::to_string(exe.st_size) + "-" + std::to_string(exe.st_mtim.tv_sec) +
                             "-" + std::to_string(exe.st_mtim.tv_nsec) + "-";
  fs::path cached = cacheDir / ("kernels-" + exeKey + halideTarget + ".so");
  int lock = open((cacheDir / "lock").c_str(), O_CREAT | O_RDWR, 0644);
  flock(lock, LOCK_EX);
  std::vector<uint8_t> bytes;
  if (fs::exists(cached)) {
    std::ifstream in(cached, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  } else {
    for (const auto &entry : fs::directory_iterator(cacheDir)) // an older binary's libraries
      if (entry.path().extension() == ".so" &&
          entry.path().filename().string().rfind("kernels-" + exeKey, 0) != 0)
        fs::remove(entry.path());
    fs::path work = cacheDir / ("work-" + std::to_string(getpid()));
    auto start = std::chrono::steady_clock::now();
    bytes = codegen::buildKernelLibrary(specs, halideTarget, work.string());
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (buildSeconds)
      *buildSeconds = seconds;
    std::printf("built %zu kernels for %s in %.2f s (%zu bytes)\n", specs.size(),
                halideTarget.c_str(), seconds, bytes.size());
    fs::remove_all(work);
    fs::path tmp = cached.string() + ".tmp";
    std::ofstream(tmp, std::ios::binary)
        .write(reinterpret_cast<const char *>(bytes.data()), std::streamsize(bytes.size()));
    fs::rename(tmp, cached);
  }
  flock(lock, LOCK_UN);
  close(lock);
  return bytes;
}

} // namespace loom::testing
