// Fuzzes audio loading (runtime/core): WAV, FLAC and the other libsndfile formats through
// loadAudioFrames, which decodes, mixes to mono, resamples to 16 kHz (soxr) and cuts 640-sample
// frames, as an --audio file goes.
// Any exception other than loom::Error, and any sanitizer report, is a bug.
#include "MemoryFile.h"

#include "loom/Error.h"
#include "loom/Runtime/Media.h"

#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static loom::fuzz::MemoryFile file("loom-audio-fuzz");
  try {
    loom::loadAudioFrames(file.write(data, size));
  } catch (const loom::Error &) {
  }
  return 0;
}
