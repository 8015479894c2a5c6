// Minimal media loaders: PNG images into 48x48 RGB patches and 16 kHz audio (WAV, FLAC, OGG,
// anything libsndfile reads) into 640-sample frames. No resizing or resampling yet: inputs of
// the wrong size or rate are refused with an error naming the file.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace loom {

struct ImagePatches {
  std::string path;
  int64_t width = 0, height = 0;       // pixels
  int64_t columns = 0, rows = 0;       // patch grid
  int64_t patchSize = 0;               // 48
  int64_t patchDim = 0;                // patchSize^2 * 3
  int64_t count = 0;                   // columns * rows
  std::vector<float> patches;          // [count, patchDim]: (row, col, channel), channel fastest, /255
  std::vector<int32_t> positions;      // [count, 2]: (column, row), patches in raster order
};

// Reads a PNG (gray, gray+alpha, RGB, RGBA, palette, 1-16 bit; alpha dropped, 16-bit reduced to
// the high byte) as 8-bit RGB. Both sides must be multiples of patchSize.
ImagePatches loadImagePatches(const std::string &path, int64_t patchSize = 48);

struct AudioFrames {
  std::string path;
  int64_t samples = 0;                 // mono samples before padding
  int64_t frameSize = 0;               // 640
  int64_t count = 0;                   // ceil(samples / frameSize)
  std::vector<float> frames;           // [count, frameSize], zero-padded at the end
};

// Reads audio through libsndfile (float samples, libsndfile's normalisation), averages the
// channels to mono. The sample rate must be sampleRate.
AudioFrames loadAudioFrames(const std::string &path, int64_t frameSize = 640,
                            int64_t sampleRate = 16000);

} // namespace loom
