// Video through FFmpeg's libraries, following what transformers' Gemma4UnifiedVideoProcessor
// gets from its default decoder (torchcodec, seek_mode="exact"):
//  * frames and fps from a scan of the stream's packets: count, first pts, last pts + duration;
//  * indices i * total / n for n = min(maxFrames, total) (the processor raises when the video
//    has fewer than 32 frames; Loom takes them all);
//  * frames converted to RGB24 by swscale at their own size, with the frame's color space and
//    range (torchcodec's swscale path, used when the width is a multiple of 32).
#include "MediaInternal.h"

#include "loom/Error.h"
#include "loom/Runtime/MediaLimits.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <mutex>

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/error.h>
#include <libavutil/log.h>
#include <libavutil/pixdesc.h>
#include <libswscale/swscale.h>
}

namespace loom {
namespace {

std::string averror(int code) {
  char text[AV_ERROR_MAX_STRING_SIZE] = {};
  av_strerror(code, text, sizeof text);
  return text;
}

struct FormatCloser {
  void operator()(AVFormatContext *context) const { avformat_close_input(&context); }
};
struct CodecFreer {
  void operator()(AVCodecContext *context) const { avcodec_free_context(&context); }
};
struct PacketFreer {
  void operator()(AVPacket *packet) const { av_packet_free(&packet); }
};
struct FrameFreer {
  void operator()(AVFrame *frame) const { av_frame_free(&frame); }
};
struct SwsFreer {
  void operator()(SwsContext *context) const { sws_freeContext(context); }
};
using FormatPtr = std::unique_ptr<AVFormatContext, FormatCloser>;
using CodecPtr = std::unique_ptr<AVCodecContext, CodecFreer>;
using PacketPtr = std::unique_ptr<AVPacket, PacketFreer>;
using FramePtr = std::unique_ptr<AVFrame, FrameFreer>;
using SwsPtr = std::unique_ptr<SwsContext, SwsFreer>;

FormatPtr openContainer(const std::string &path) {
  // Problems are reported through loom::Error; FFmpeg's own log would only repeat them.
  static std::once_flag quiet;
  std::call_once(quiet, [] { av_log_set_level(AV_LOG_QUIET); });
  AVFormatContext *raw = nullptr;
  int status = avformat_open_input(&raw, path.c_str(), nullptr, nullptr);
  if (status < 0)
    fail(path, ": cannot open video (expected a video file FFmpeg can read): ", averror(status));
  FormatPtr format(raw);
  status = avformat_find_stream_info(format.get(), nullptr);
  if (status < 0)
    fail(path, ": corrupt video: cannot read its stream information: ", averror(status));
  return format;
}

CodecPtr openDecoder(const std::string &path, const AVStream *stream, const char *kind,
                     const MediaLimits &limits) {
  const AVCodec *codec = avcodec_find_decoder(stream->codecpar->codec_id);
  if (codec == nullptr)
    fail(path, ": no decoder for the ", kind, " codec '",
         avcodec_get_name(stream->codecpar->codec_id), "'");
  CodecPtr context(avcodec_alloc_context3(codec));
  if (!context)
    fail(path, ": out of memory opening the ", kind, " decoder");
  if (stream->codecpar->codec_type == AVMEDIA_TYPE_VIDEO) {
    checkImagePixels(path, stream->codecpar->width, stream->codecpar->height,
                     "video stream header", limits);
    context->max_pixels = limits.maxImagePixels; // frames that say otherwise fail to decode
  }
  int status = avcodec_parameters_to_context(context.get(), stream->codecpar);
  if (status >= 0)
    status = avcodec_open2(context.get(), codec, nullptr);
  if (status < 0)
    fail(path, ": cannot open the ", kind, " decoder: ", averror(status));
  return context;
}

struct StreamScan {
  int64_t frames = 0;
  double fps = 0;
};

// Counts the video stream's packets and measures its span, as torchcodec's exact-mode scan.
StreamScan scanVideoStream(const std::string &path, int streamIndex) {
  FormatPtr format = openContainer(path);
  const AVStream *stream = format->streams[streamIndex];
  PacketPtr packet(av_packet_alloc());
  int64_t begin = std::numeric_limits<int64_t>::max(), end = std::numeric_limits<int64_t>::min();
  StreamScan scan;
  for (;;) {
    int status = av_read_frame(format.get(), packet.get());
    if (status == AVERROR_EOF)
      break;
    if (status < 0)
      fail(path, ": corrupt video: cannot read a packet: ", averror(status));
    if (packet->stream_index == streamIndex && !(packet->flags & AV_PKT_FLAG_DISCARD)) {
      int64_t pts = packet->pts != AV_NOPTS_VALUE ? packet->pts : packet->dts;
      begin = std::min(begin, pts);
      end = std::max(end, pts + packet->duration);
      ++scan.frames;
    }
    av_packet_unref(packet.get());
  }
  if (scan.frames == 0)
    fail(path, ": the video stream has no frames");
  const double timeBase = av_q2d(stream->time_base);
  const double seconds = static_cast<double>(end) * timeBase - static_cast<double>(begin) * timeBase;
  if (seconds != 0.0)
    scan.fps = static_cast<double>(scan.frames) / seconds;
  else if (stream->avg_frame_rate.num != 0 && stream->avg_frame_rate.den != 0)
    scan.fps = av_q2d(stream->avg_frame_rate);
  else
    scan.fps = 24.0; // the processor's fallback when a video's fps is unknown
  return scan;
}

RgbImage frameToRgb(const std::string &path, const AVFrame &frame, SwsPtr &converter) {
  // A fresh converter per frame keeps frame-by-frame color details right; the cost is small
  // next to decoding.
  converter.reset(sws_getContext(frame.width, frame.height, static_cast<AVPixelFormat>(frame.format),
                                 frame.width, frame.height, AV_PIX_FMT_RGB24, SWS_BICUBIC, nullptr,
                                 nullptr, nullptr));
  if (!converter)
    fail(path, ": cannot convert video frames of pixel format '",
         av_get_pix_fmt_name(static_cast<AVPixelFormat>(frame.format)), "' to RGB");
  int *inverseTable = nullptr, *table = nullptr;
  int sourceRange = 0, destinationRange = 0, brightness = 0, contrast = 0, saturation = 0;
  sws_getColorspaceDetails(converter.get(), &inverseTable, &sourceRange, &table,
                           &destinationRange, &brightness, &contrast, &saturation);
  if (frame.color_range != AVCOL_RANGE_UNSPECIFIED)
    sourceRange = frame.color_range == AVCOL_RANGE_JPEG;
  const int *coefficients = sws_getCoefficients(frame.colorspace);
  sws_setColorspaceDetails(converter.get(), coefficients, sourceRange, coefficients,
                           destinationRange, brightness, contrast, saturation);
  RgbImage image;
  image.width = frame.width;
  image.height = frame.height;
  image.pixels.resize(static_cast<size_t>(image.width * image.height * 3));
  uint8_t *planes[4] = {image.pixels.data(), nullptr, nullptr, nullptr};
  int strides[4] = {static_cast<int>(image.width * 3), 0, 0, 0};
  int rows = sws_scale(converter.get(), frame.data, frame.linesize, 0, frame.height, planes,
                       strides);
  if (rows != frame.height)
    fail(path, ": converting a video frame to RGB failed");
  return image;
}

// Appends a decoded audio frame's samples, channels averaged (summed in order, then divided).
void appendMonoSamples(const std::string &path, const AVFrame &frame, std::vector<float> &mono) {
  const int channels = frame.ch_layout.nb_channels;
  const auto format = static_cast<AVSampleFormat>(frame.format);
  const bool planar = av_sample_fmt_is_planar(format);
  auto sample = [&](int channel, int index) -> float {
    const uint8_t *base = planar ? frame.extended_data[channel] : frame.extended_data[0];
    const int at = planar ? index : index * channels + channel;
    switch (av_get_packed_sample_fmt(format)) {
    case AV_SAMPLE_FMT_FLT: return reinterpret_cast<const float *>(base)[at];
    case AV_SAMPLE_FMT_DBL: return static_cast<float>(reinterpret_cast<const double *>(base)[at]);
    case AV_SAMPLE_FMT_S16: return reinterpret_cast<const int16_t *>(base)[at] * (1.0f / 32768.0f);
    case AV_SAMPLE_FMT_S32:
      return static_cast<float>(reinterpret_cast<const int32_t *>(base)[at] * (1.0 / 2147483648.0));
    case AV_SAMPLE_FMT_U8: return (static_cast<int>(base[at]) - 128) * (1.0f / 128.0f);
    default:
      fail(path, ": unsupported audio sample format '", av_get_sample_fmt_name(format), "'");
    }
  };
  for (int i = 0; i < frame.nb_samples; ++i) {
    float sum = 0.0f;
    for (int ch = 0; ch < channels; ++ch)
      sum += sample(ch, i);
    mono.push_back(channels == 1 ? sum : sum / static_cast<float>(channels));
  }
}

} // namespace

std::string videoTimestamp(double seconds) {
  // Python's divmod(seconds, 60) for floats, then int() of each part.
  double remainder = std::fmod(seconds, 60.0);
  double minutes = (seconds - remainder) / 60.0;
  if (remainder != 0.0 && remainder < 0.0) {
    remainder += 60.0;
    minutes -= 1.0;
  }
  double whole = std::floor(minutes);
  if (minutes - whole > 0.5)
    whole += 1.0;
  char text[64];
  std::snprintf(text, sizeof text, "%02lld:%02lld", static_cast<long long>(whole),
                static_cast<long long>(remainder));
  return text;
}

VideoInput loadVideo(const std::string &path, int64_t tokensPerFrame, int64_t maxFrames,
                     int64_t patchSize, int64_t audioFrameSize, int64_t sampleRate,
                     const MediaLimits &limits) {
  checkImageTokenBudget(tokensPerFrame, path);
  if (maxFrames <= 0)
    fail(path, ": invalid maximum frame count ", maxFrames, "; expected at least 1");
  FormatPtr format = openContainer(path);
  const int videoIndex = av_find_best_stream(format.get(), AVMEDIA_TYPE_VIDEO, -1, -1, nullptr, 0);
  if (videoIndex < 0)
    fail(path, ": has no video stream; expected a video file");
  const int audioIndex = av_find_best_stream(format.get(), AVMEDIA_TYPE_AUDIO, -1, -1, nullptr, 0);

  VideoInput out;
  out.path = path;
  const StreamScan scan = scanVideoStream(path, videoIndex);
  out.totalFrames = scan.frames;
  out.fps = scan.fps;
  const int64_t sampled = std::min(maxFrames, scan.frames);
  for (int64_t i = 0; i < sampled; ++i) {
    out.frameIndices.push_back(i * scan.frames / sampled);
    out.timestamps.push_back(static_cast<double>(out.frameIndices.back()) / scan.fps);
  }

  CodecPtr video = openDecoder(path, format->streams[videoIndex], "video", limits);
  CodecPtr audio;
  if (audioIndex >= 0)
    audio = openDecoder(path, format->streams[audioIndex], "audio", limits);
  PacketPtr packet(av_packet_alloc());
  FramePtr frame(av_frame_alloc());
  SwsPtr converter;
  std::vector<float> mono;
  int64_t decoded = 0;
  size_t next = 0; // the next sampled index to keep

  auto drainVideo = [&] {
    for (;;) {
      int status = avcodec_receive_frame(video.get(), frame.get());
      if (status == AVERROR(EAGAIN) || status == AVERROR_EOF)
        return;
      if (status < 0)
        fail(path, ": corrupt video: cannot decode frame ", decoded, ": ", averror(status));
      if (next < out.frameIndices.size() && decoded == out.frameIndices[next]) {
        out.frames.push_back(media::patchesFromImage(frameToRgb(path, *frame, converter), path,
                                                     tokensPerFrame, patchSize,
                                                     media::PixelScaling::DivideBy255));
        ++next;
      }
      ++decoded;
      av_frame_unref(frame.get());
    }
  };
  auto drainAudio = [&] {
    for (;;) {
      int status = avcodec_receive_frame(audio.get(), frame.get());
      if (status == AVERROR(EAGAIN) || status == AVERROR_EOF)
        return;
      if (status < 0)
        fail(path, ": corrupt audio track: ", averror(status));
      appendMonoSamples(path, *frame, mono);
      av_frame_unref(frame.get());
      checkMediaSeconds(path, static_cast<int64_t>(mono.size()), audio->sample_rate, "audio track",
                        limits);
    }
  };

  for (;;) {
    int status = av_read_frame(format.get(), packet.get());
    if (status == AVERROR_EOF)
      break;
    if (status < 0)
      fail(path, ": corrupt video: cannot read a packet: ", averror(status));
    if (packet->stream_index == videoIndex) {
      status = avcodec_send_packet(video.get(), packet.get());
      if (status < 0 && status != AVERROR(EAGAIN))
        fail(path, ": corrupt video: cannot decode a packet: ", averror(status));
      drainVideo();
    } else if (audio && packet->stream_index == audioIndex) {
      status = avcodec_send_packet(audio.get(), packet.get());
      if (status < 0 && status != AVERROR(EAGAIN))
        fail(path, ": corrupt audio track: ", averror(status));
      drainAudio();
    }
    av_packet_unref(packet.get());
  }
  avcodec_send_packet(video.get(), nullptr);
  drainVideo();
  if (audio) {
    avcodec_send_packet(audio.get(), nullptr);
    drainAudio();
  }
  if (out.frames.size() != out.frameIndices.size())
    fail(path, ": corrupt video: decoded ", decoded, " frames but the stream has ", scan.frames,
         "; frame ", out.frameIndices[out.frames.size()], " is missing");

  if (audio && !mono.empty()) {
    const int64_t rate = audio->sample_rate;
    if (rate <= 0)
      fail(path, ": the audio track has sample rate ", rate, "; expected a positive rate");
    out.audio = media::framesFromMono(media::resampleMono(mono, rate, sampleRate, path), path,
                                      audioFrameSize);
  }
  return out;
}

} // namespace loom
