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
  // 16 MP, below the runtime's 89 MP: a 352-byte JPEG may declare 2048x43333 pixels, which is
  // legal and takes 9 s to decode under ASan, so libFuzzer's 10 s timeout would call every such
  // input a hang. The limit is checked by the same code at any value (MediaTest checks 89 MP).
  static const loom::MediaLimits limits{int64_t(1) << 24, loom::kMaxMediaSeconds};
  try {
    loom::loadImagePatches(file.write(data, size), loom::kImageTokenBudgets[0], 48, limits);
  } catch (const loom::Error &) {
  }
  return 0;
}
