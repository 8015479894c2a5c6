// Video input for loom-run-gpu, the loom-run that scripts/gpu-check.sh takes to the device
// machine: FFmpeg and its libraries (about 160 MB on Debian 12) cannot travel there (64 MiB
// limit) and the device image has other FFmpeg versions. These definitions replace
// runtime/core/src/VideoInput.cpp at link time, so the static runtime library does not pull it
// in; a video prompt fails with this message. Text, image and audio (the golden cases) are
// loom-run's own code, unchanged.
#include "loom/Error.h"
#include "loom/Runtime/Media.h"

namespace loom {

namespace {
[[noreturn]] void noVideo() {
  fail("video input is not available in loom-run-gpu (built without FFmpeg for the GPU check); "
       "use loom-run");
}
} // namespace

VideoInput loadVideo(const std::string &, int64_t, int64_t, int64_t, int64_t, int64_t,
                     const MediaLimits &) {
  noVideo();
}
std::string videoTimestamp(double) { noVideo(); }

} // namespace loom
