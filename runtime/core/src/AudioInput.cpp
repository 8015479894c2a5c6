#include "MediaInternal.h"

#include "loom/Error.h"
#include "loom/Runtime/MediaLimits.h"

#include <algorithm>
#include <cmath>
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

namespace {

void checkAudioShape(const std::string &name, int64_t frameSize, int64_t sampleRate) {
  if (frameSize <= 0)
    fail(name, ": invalid audio frame size ", frameSize);
  if (sampleRate <= 0)
    fail(name, ": invalid audio sample rate ", sampleRate);
}

// Averages interleaved channels to mono: summed in channel order then divided, as numpy's mean
// over the channel axis.
void appendMono(const float *interleaved, int64_t frames, int channels, std::vector<float> &mono) {
  for (int64_t i = 0; i < frames; ++i) {
    float sum = 0.0f;
    for (int ch = 0; ch < channels; ++ch)
      sum += interleaved[i * channels + ch];
    mono.push_back(channels == 1 ? sum : sum / static_cast<float>(channels));
  }
}

// Decodes an open libsndfile stream to frames; `name` stands for it in messages. Closes it.
AudioFrames decodeAudio(SNDFILE *file, const SF_INFO &info, const std::string &name,
                        int64_t frameSize, int64_t sampleRate, const MediaLimits &limits) {
  if (info.channels <= 0 || info.samplerate <= 0) {
    sf_close(file);
    fail(name, ": audio has ", info.channels, " channels at ", info.samplerate,
         " Hz; expected at least one channel and a positive rate");
  }
  const int channels = info.channels;
  const int64_t fileRate = info.samplerate;
  try {
    checkMediaSeconds(name, info.frames, fileRate, "audio header", limits);
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
    appendMono(chunk.data(), n, channels, mono);
    if (static_cast<int64_t>(mono.size()) > limits.maxSeconds * fileRate)
      break; // a header that understated the length; refused below
  }
  const int64_t decodedSamples = static_cast<int64_t>(mono.size());
  int err = sf_error(file);
  std::string why = err ? sf_strerror(file) : "";
  sf_close(file);
  if (err != 0)
    fail(name, ": error while decoding audio: ", why);
  checkMediaSeconds(name, decodedSamples, fileRate, "audio file", limits);
  if (mono.empty())
    fail(name, ": audio has no samples; expected at least one");
  return media::framesFromMono(media::resampleMono(mono, fileRate, sampleRate, name), name,
                               frameSize);
}

// libsndfile's virtual I/O over bytes in memory.
struct MemoryStream {
  const uint8_t *data;
  sf_count_t size, offset;
};

sf_count_t memoryLength(void *user) { return static_cast<MemoryStream *>(user)->size; }

sf_count_t memorySeek(sf_count_t offset, int whence, void *user) {
  auto *stream = static_cast<MemoryStream *>(user);
  sf_count_t base = whence == SEEK_CUR ? stream->offset : whence == SEEK_END ? stream->size : 0;
  sf_count_t to = base + offset;
  if (to < 0 || to > stream->size)
    return -1;
  stream->offset = to;
  return to;
}

sf_count_t memoryRead(void *out, sf_count_t count, void *user) {
  auto *stream = static_cast<MemoryStream *>(user);
  sf_count_t n = std::min(count, stream->size - stream->offset);
  if (n <= 0)
    return 0;
  std::memcpy(out, stream->data + stream->offset, static_cast<size_t>(n));
  stream->offset += n;
  return n;
}

sf_count_t memoryWrite(const void *, sf_count_t, void *) { return 0; }

sf_count_t memoryTell(void *user) { return static_cast<MemoryStream *>(user)->offset; }

} // namespace

AudioFrames loadAudioFrames(const std::string &path, int64_t frameSize, int64_t sampleRate,
                            const MediaLimits &limits) {
  checkAudioShape(path, frameSize, sampleRate);
  SF_INFO info;
  std::memset(&info, 0, sizeof info);
  SNDFILE *file = sf_open(path.c_str(), SFM_READ, &info);
  if (file == nullptr)
    fail(path, ": cannot read audio (expected a WAV, FLAC, Ogg or other libsndfile format): ",
         sf_strerror(nullptr));
  return decodeAudio(file, info, path, frameSize, sampleRate, limits);
}

AudioFrames loadAudioFramesFromBytes(const void *data, size_t size, const std::string &name,
                                     int64_t frameSize, int64_t sampleRate,
                                     const MediaLimits &limits) {
  checkAudioShape(name, frameSize, sampleRate);
  if (data == nullptr || size == 0)
    fail(name, ": audio has no bytes; expected a WAV, FLAC or Ogg file's contents");
  MemoryStream stream{static_cast<const uint8_t *>(data), static_cast<sf_count_t>(size), 0};
  SF_VIRTUAL_IO io{memoryLength, memorySeek, memoryRead, memoryWrite, memoryTell};
  SF_INFO info;
  std::memset(&info, 0, sizeof info);
  SNDFILE *file = sf_open_virtual(&io, SFM_READ, &info, &stream);
  if (file == nullptr)
    fail(name, ": cannot read audio (expected a WAV, FLAC, Ogg or other libsndfile format): ",
         sf_strerror(nullptr));
  return decodeAudio(file, info, name, frameSize, sampleRate, limits);
}

AudioFrames audioFramesFromSamples(const float *interleaved, int64_t frames, int64_t channels,
                                   int64_t inputRate, const std::string &name,
                                   int64_t frameSize, int64_t sampleRate,
                                   const MediaLimits &limits) {
  checkAudioShape(name, frameSize, sampleRate);
  if (channels <= 0 || channels > 256 || inputRate <= 0)
    fail(name, ": audio of ", channels, " channels at ", inputRate,
         " Hz; expected 1 to 256 channels and a positive sample rate");
  if (interleaved == nullptr || frames <= 0)
    fail(name, ": audio has no samples; expected at least one");
  checkMediaSeconds(name, frames, inputRate, "sample array", limits);
  for (int64_t i = 0; i < frames * channels; ++i)
    if (!std::isfinite(interleaved[i]))
      fail(name, ": sample ", i, " is ", interleaved[i], "; expected finite samples");
  std::vector<float> mono;
  mono.reserve(static_cast<size_t>(frames));
  appendMono(interleaved, frames, static_cast<int>(channels), mono);
  return media::framesFromMono(media::resampleMono(mono, inputRate, sampleRate, name), name,
                               frameSize);
}

} // namespace loom
