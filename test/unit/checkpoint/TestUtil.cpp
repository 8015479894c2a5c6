#include "TestUtil.h"

#include "loom/Checkpoint/SyntheticModel.h"

#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <stdlib.h>

namespace loom::test {

TempDir::TempDir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "loom-ckpt-test-XXXXXX").string();
  if (!mkdtemp(tmpl.data()))
    throw std::runtime_error("mkdtemp failed");
  path = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path, ec);
}

void writeFile(const std::string &path, const std::string &bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
}

std::string readFile(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

ModelConfig smallConfig() {
  ModelConfig c = presetConfig("tiny");
  c.vocabSize = 512;
  c.mmPosembSize = 16;
  return c;
}

} // namespace loom::test
