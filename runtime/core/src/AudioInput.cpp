#include "MediaInternal.h"

#include "loom/Error.h"
#include "loom/Runtime/MediaLimits.h"

#include <algorithm>
#include <cstring>
#include <sndfile.h>
#include <soxr.h>

namespace loom {
namespace media {

std::vector<float> resampleMono(const std::vector<float> &samples, int64_t inputRate,
                                int64_t outputRate, const std::string &path) {
  if (inputRate == outputRate)
    return samples;
  // ceil(n * out / in), the length transformers' load_audio pads or trims soxr's output to.
  const int64_t n = static_cast<int64_t>(samples.size());
  const int64_t wanted = (n * outputRate + inputRate - 1) / inputRate;
  std::vector<float> out(static_cast<size_t>(wanted) + 64, 0.0f);
  size_t consumed = 0, produced = 0;
  const soxr_io_spec_t io = soxr_io_spec(SOXR_FLOAT32_I, SOXR_FLOAT32_I);
  const soxr_quality_spec_t quality = soxr_quality_spec(SOXR_HQ, 0);
  soxr_error_t error = soxr_oneshot(static_cast<double>(inputRate), static_cast<double>(outputRate),
                                    1, samples.data(), samples.size(), &consumed, out.data(),
                                    out.size(), &produced, &io, &quality, nullptr);
  if (error != nullptr)
    fail(path, ": resampling from ", inputRate, " Hz to ", outputRate, " Hz failed: ", error);
  out.resize(static_cast<size_t>(wanted)); // zero-padded past `produced`, trimmed beyond
  return out;
}

AudioFrames framesFromMono(const std::vector<float> &mono, const std::string &path,
                           int64_t frameSize) {
  if (mono.empty())
    fail(path, ": audio has no samples; expected at least one");
  AudioFrames out;
  out.path = path;
  out.frameSize = frameSize;
  out.samples = static_cast<int64_t>(mono.size());
  out.count = (out.samples + frameSize - 1) / frameSize;
  out.frames.assign(static_cast<size_t>(out.count * frameSize), 0.0f);
  std::memcpy(out.frames.data(), mono.data(), mono.size() * sizeof(float));
  return out;
}

} // namespace media

AudioFrames loadAudioFrames(const std::string &path, int64_t frameSize, int64_t sampleRate) {
  if (frameSize <= 0)
    fail(path, ": invalid audio frame size ", frameSize);
  if (sampleRate <= 0)
    fail(path, ": invalid audio sample rate ", sampleRate);
  SF_INFO info;
  std::memset(&info, 0, sizeof info);
  SNDFILE *file = sf_open(path.c_str(), SFM_READ, &info);
  if (file == nullptr)
    fail(path, ": cannot read audio (expected a WAV, FLAC, Ogg or other libsndfile format): ",
         sf_strerror(nullptr));
  if (info.channels <= 0 || info.samplerate <= 0) {
    sf_close(file);
    fail(path, ": audio has ", info.channels, " channels at ", info.samplerate,
         " Hz; expected at least one channel and a positive rate");
  }
  const int channels = info.channels;
  const int64_t fileRate = info.samplerate;
  try {
    checkMediaSeconds(path, info.frames, fileRate, "audio header");
  } catch (...) {
    sf_close(file);
    throw;
  }
  // The header's frame count is a claim (a 94-byte FLAC can claim 3e9 frames): the buffer grows
  // with what is decoded, reserving at most 2^22 samples (16 MiB) up front.
  std::vector<float> mono;
  if (info.frames > 0)
    mono.reserve(static_cast<size_t>(std::min<int64_t>(info.frames, int64_t(1) << 22)));
  std::vector<float> chunk(static_cast<size_t>(4096) * channels);
  for (;;) {
    sf_count_t n = sf_readf_float(file, chunk.data(), 4096);
    if (n <= 0)
      break;
    for (sf_count_t i = 0; i < n; ++i) {
      // Summed in channel order then divided, as numpy's mean over the channel axis.
      float sum = 0.0f;
      for (int ch = 0; ch < channels; ++ch)
        sum += chunk[static_cast<size_t>(i) * channels + ch];
      mono.push_back(channels == 1 ? sum : sum / static_cast<float>(channels));
    }
    if (static_cast<int64_t>(mono.size()) > kMaxMediaSeconds * fileRate)
      break; // a header that understated the length; refused below
  }
  const int64_t decodedSamples = static_cast<int64_t>(mono.size());
  int err = sf_error(file);
  std::string why = err ? sf_strerror(file) : "";
  sf_close(file);
  if (err != 0)
    fail(path, ": error while decoding audio: ", why);
  checkMediaSeconds(path, decodedSamples, fileRate, "audio file");
  if (mono.empty())
    fail(path, ": audio has no samples; expected at least one");
  return media::framesFromMono(media::resampleMono(mono, fileRate, sampleRate, path), path,
                               frameSize);
}

} // namespace loom
