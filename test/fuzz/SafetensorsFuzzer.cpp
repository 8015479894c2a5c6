// Fuzzes the safetensors reader (compiler/checkpoint): SafetensorsFile::open validates the
// 8-byte length and the JSON header against the file, then every tensor it accepted is read
// whole, which checks that the ranges it accepted lie inside the file.
// Any exception other than loom::Error, and any sanitizer report, is a bug.
#include "MemoryFile.h"

#include "loom/Checkpoint/Safetensors.h"
#include "loom/Error.h"

#include <cstdint>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static loom::fuzz::MemoryFile file("loom-safetensors-fuzz");
  try {
    const loom::SafetensorsFile safetensors = loom::SafetensorsFile::open(file.write(data, size));
    std::vector<uint8_t> bytes;
    for (const loom::SafetensorsEntry &entry : safetensors.entries()) {
      bytes.resize(entry.bytes);
      safetensors.read(entry, 0, bytes.data(), bytes.size());
    }
  } catch (const loom::Error &) {
  }
  return 0;
}
