#include "Probes.h"

#include "loom/Error.h"

#include <chrono>
#include <cstring>

#include <immintrin.h>

namespace loom::bench {
namespace {

double seconds(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
}

// Sums [begin, end) as floats with four independent accumulators, so that the loop is bound by
// the loads (the bytes are small integers' bit patterns; only the traffic matters).
__attribute__((target("avx2,fma"))) float streamSum(const uint8_t *begin, const uint8_t *end) {
  __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
  for (const uint8_t *p = begin; p < end; p += 128) {
    a0 = _mm256_add_ps(a0, _mm256_load_ps(reinterpret_cast<const float *>(p)));
    a1 = _mm256_add_ps(a1, _mm256_load_ps(reinterpret_cast<const float *>(p + 32)));
    a2 = _mm256_add_ps(a2, _mm256_load_ps(reinterpret_cast<const float *>(p + 64)));
    a3 = _mm256_add_ps(a3, _mm256_load_ps(reinterpret_cast<const float *>(p + 96)));
  }
  __m256 s = _mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3));
  float lanes[8];
  _mm256_storeu_ps(lanes, s);
  return lanes[0] + lanes[1] + lanes[2] + lanes[3] + lanes[4] + lanes[5] + lanes[6] + lanes[7];
}

__attribute__((target("avx2,fma"))) float fmaChains(uint64_t iterations) {
  __m256 a[10];
  for (int i = 0; i < 10; ++i)
    a[i] = _mm256_set1_ps(float(i));
  const __m256 m = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-7f);
  for (uint64_t it = 0; it < iterations; ++it)
    for (int i = 0; i < 10; ++i)
      a[i] = _mm256_fmadd_ps(a[i], m, c);
  __m256 s = a[0];
  for (int i = 1; i < 10; ++i)
    s = _mm256_add_ps(s, a[i]);
  float lanes[8];
  _mm256_storeu_ps(lanes, s);
  return lanes[0] + lanes[7];
}

// Each chain feeds an instruction's result back as its next input, so every instruction waits
// only on its own chain; the values are irrelevant.
__attribute__((target("avx2"))) int dotChains(uint64_t iterations, bool int8) {
  __m256i a[10];
  for (int i = 0; i < 10; ++i)
    a[i] = _mm256_set1_epi16(short(i + 1));
  const __m256i m = _mm256_set1_epi16(3);
  for (uint64_t it = 0; it < iterations; ++it)
    for (int i = 0; i < 10; ++i)
      a[i] = int8 ? _mm256_maddubs_epi16(a[i], m) : _mm256_madd_epi16(a[i], m);
  __m256i s = a[0];
  for (int i = 1; i < 10; ++i)
    s = _mm256_xor_si256(s, a[i]);
  return _mm256_extract_epi32(s, 0) ^ _mm256_extract_epi32(s, 7);
}

double dotPeak(ThreadTeam &team, uint64_t iterations, bool int8) {
  static volatile int sink = 0;
  int results[64] = {};
  auto start = std::chrono::steady_clock::now();
  team.run([&](int index, int) { results[index % 64] = dotChains(iterations, int8); });
  double elapsed = seconds(start);
  for (int r : results)
    sink = sink ^ r;
  return elapsed;
}

} // namespace

BandwidthProbe::BandwidthProbe(uint64_t bytes, PageSize pages)
    : bytes_((bytes + 4095) / 4096 * 4096), memory_(bytes_, pages, "bandwidth probe") {
  std::memset(memory_.data(), 1, bytes_); // commit every page before timing
}

double BandwidthProbe::read(ThreadTeam &team) {
  float sums[64] = {};
  auto start = std::chrono::steady_clock::now();
  team.run([&](int index, int count) {
    // 128-byte aligned slices, one per thread (no two threads share a cache line).
    uint64_t blocks = bytes_ / 128;
    uint64_t first = blocks * uint64_t(index) / uint64_t(count);
    uint64_t last = blocks * uint64_t(index + 1) / uint64_t(count);
    sums[index % 64] = streamSum(memory_.data() + first * 128, memory_.data() + last * 128);
  });
  double elapsed = seconds(start);
  for (float s : sums)
    sink_ = sink_ + s;
  return elapsed;
}

double fmaPeak(ThreadTeam &team, uint64_t iterations) {
  static volatile float sink = 0;
  float results[64] = {};
  auto start = std::chrono::steady_clock::now();
  team.run([&](int index, int) { results[index % 64] = fmaChains(iterations); });
  double elapsed = seconds(start);
  for (float r : results)
    sink = sink + r;
  return elapsed;
}

double int8DotPeak(ThreadTeam &team, uint64_t iterations) {
  return dotPeak(team, iterations, true);
}
double int16DotPeak(ThreadTeam &team, uint64_t iterations) {
  return dotPeak(team, iterations, false);
}

} // namespace loom::bench
