#pragma once

#include "loom/Checkpoint/ModelConfig.h"

#include <string>

namespace loom::test {

// A fresh, empty folder under the system temp dir, removed by the destructor.
struct TempDir {
  TempDir();
  ~TempDir();
  TempDir(const TempDir &) = delete;
  TempDir &operator=(const TempDir &) = delete;
  std::string path;
  std::string operator/(const std::string &name) const { return path + "/" + name; }
};

void writeFile(const std::string &path, const std::string &bytes);
std::string readFile(const std::string &path);

// A small model (vocab 512) for fast checkpoint tests.
ModelConfig smallConfig();

// Calls fn and returns the loom::Error message it throws ("" when it does not throw).
template <typename Fn> std::string errorOf(Fn &&fn);

} // namespace loom::test

#include "loom/Error.h"

template <typename Fn> std::string loom::test::errorOf(Fn &&fn) {
  try {
    fn();
  } catch (const loom::Error &e) {
    return e.what();
  }
  return "";
}
