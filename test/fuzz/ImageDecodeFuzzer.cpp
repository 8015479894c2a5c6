// Fuzzes image loading (runtime/core): PNG (libpng) and JPEG (libjpeg-turbo, with the EXIF
// orientation), told apart by signature, through loadImagePatches, which decodes, resizes to
// the smallest token budget and cuts the patches, as an --image file goes.
// Any exception other than loom::Error, and any sanitizer report, is a bug.
#include "MemoryFile.h"

#include "loom/Error.h"
#include "loom/Runtime/Media.h"

#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static loom::fuzz::MemoryFile file("loom-image-fuzz");
  try {
    loom::loadImagePatches(file.write(data, size), loom::kImageTokenBudgets[0]);
  } catch (const loom::Error &) {
  }
  return 0;
}
