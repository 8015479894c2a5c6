#include "Probes.h"

#include <chrono>
#include <cstring>

#include <immintrin.h>

namespace loom::bench {
namespace {

double seconds(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
}

bool hasAvx512() { return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl"); }
bool hasAvx512Vnni() { return hasAvx512() && __builtin_cpu_supports("avx512vnni"); }

// --- bandwidth ---------------------------------------------------------------------------

constexpr uint64_t kHugePage = 2ull << 20;
constexpr uint64_t kLine = 128; // bytes per stream per loop step

// Sums `streams` equal parts of [begin, begin + bytes) side by side as floats, each with its
// own accumulators, so that the loop is bound by the loads (the bytes are small integers' bit
// patterns; only the traffic matters). `bytes` is a multiple of streams * kLine.
template <int Streams>
__attribute__((target("avx2,fma"))) float streamSum256(const uint8_t *begin, uint64_t bytes) {
  const uint64_t part = bytes / Streams;
  __m256 a[Streams][2];
  for (auto &s : a)
    s[0] = s[1] = _mm256_setzero_ps();
  for (uint64_t off = 0; off < part; off += kLine)
    for (int s = 0; s < Streams; ++s) {
      const float *p = reinterpret_cast<const float *>(begin + s * part + off);
      a[s][0] = _mm256_add_ps(a[s][0], _mm256_add_ps(_mm256_load_ps(p), _mm256_load_ps(p + 8)));
      a[s][1] = _mm256_add_ps(a[s][1], _mm256_add_ps(_mm256_load_ps(p + 16), _mm256_load_ps(p + 24)));
    }
  __m256 sum = _mm256_setzero_ps();
  for (auto &s : a)
    sum = _mm256_add_ps(sum, _mm256_add_ps(s[0], s[1]));
  float lanes[8];
  _mm256_storeu_ps(lanes, sum);
  return lanes[0] + lanes[7];
}

template <int Streams>
__attribute__((target("avx512f"))) float streamSum512(const uint8_t *begin, uint64_t bytes) {
  const uint64_t part = bytes / Streams;
  __m512 a[Streams][2];
  for (auto &s : a)
    s[0] = s[1] = _mm512_setzero_ps();
  for (uint64_t off = 0; off < part; off += kLine)
    for (int s = 0; s < Streams; ++s) {
      const float *p = reinterpret_cast<const float *>(begin + s * part + off);
      a[s][0] = _mm512_add_ps(a[s][0], _mm512_load_ps(p));
      a[s][1] = _mm512_add_ps(a[s][1], _mm512_load_ps(p + 16));
    }
  __m512 sum = _mm512_setzero_ps();
  for (auto &s : a)
    sum = _mm512_add_ps(sum, _mm512_add_ps(s[0], s[1]));
  return _mm512_reduce_add_ps(sum);
}

float streamSum(const BandwidthProbe::Shape &shape, const uint8_t *begin, uint64_t bytes) {
  switch (shape.streams * (shape.wideLoads ? -1 : 1)) {
  case 1: return streamSum256<1>(begin, bytes);
  case 2: return streamSum256<2>(begin, bytes);
  case 4: return streamSum256<4>(begin, bytes);
  case -1: return streamSum512<1>(begin, bytes);
  case -2: return streamSum512<2>(begin, bytes);
  default: return streamSum512<4>(begin, bytes);
  }
}

// --- compute -------------------------------------------------------------------------------

// Each chain feeds an instruction's result back as its next input, so every instruction waits
// only on its own chain; the values are irrelevant. Returns something of every chain.
constexpr int kChains = 10;

__attribute__((target("avx2,fma"))) int fma256(uint64_t iterations) {
  __m256 a[kChains];
  for (int i = 0; i < kChains; ++i)
    a[i] = _mm256_set1_ps(float(i));
  const __m256 m = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-7f);
  for (uint64_t it = 0; it < iterations; ++it)
    for (auto &v : a)
      v = _mm256_fmadd_ps(v, m, c);
  __m256 s = a[0];
  for (int i = 1; i < kChains; ++i)
    s = _mm256_add_ps(s, a[i]);
  return int(_mm256_cvtss_f32(s));
}

__attribute__((target("avx512f"))) int fma512(uint64_t iterations) {
  __m512 a[kChains];
  for (int i = 0; i < kChains; ++i)
    a[i] = _mm512_set1_ps(float(i));
  const __m512 m = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(1e-7f);
  for (uint64_t it = 0; it < iterations; ++it)
    for (auto &v : a)
      v = _mm512_fmadd_ps(v, m, c);
  __m512 s = a[0];
  for (int i = 1; i < kChains; ++i)
    s = _mm512_add_ps(s, a[i]);
  return int(_mm512_reduce_add_ps(s));
}

// The integer forms: op(a, m) for AVX2's vpmaddwd / vpmaddubsw, or acc(a, m, m) for VNNI's
// accumulating vpdpwssd / vpdpbusd.
#define LOOM_INT_CHAINS(name, target_features, vec, set1, xor_op, extract, step)                  \
  __attribute__((target(target_features))) int name(uint64_t iterations) {                        \
    vec a[kChains];                                                                                \
    for (int i = 0; i < kChains; ++i)                                                              \
      a[i] = set1(short(i + 1));                                                                   \
    const vec m = set1(short(3));                                                                  \
    for (uint64_t it = 0; it < iterations; ++it)                                                   \
      for (auto &v : a)                                                                            \
        v = step;                                                                                  \
    vec s = a[0];                                                                                  \
    for (int i = 1; i < kChains; ++i)                                                              \
      s = xor_op(s, a[i]);                                                                         \
    return extract(s);                                                                             \
  }

__attribute__((target("avx2"))) int low256(__m256i v) { return _mm_cvtsi128_si32(_mm256_castsi256_si128(v)); }
__attribute__((target("avx512f"))) int low512(__m512i v) {
  return _mm_cvtsi128_si32(_mm512_castsi512_si128(v));
}

LOOM_INT_CHAINS(maddwd256, "avx2", __m256i, _mm256_set1_epi16, _mm256_xor_si256, low256,
                _mm256_madd_epi16(v, m))
LOOM_INT_CHAINS(maddubsw256, "avx2", __m256i, _mm256_set1_epi16, _mm256_xor_si256, low256,
                _mm256_maddubs_epi16(v, m))
LOOM_INT_CHAINS(dpwssd256, "avx512f,avx512vl,avx512vnni", __m256i, _mm256_set1_epi16,
                _mm256_xor_si256, low256, _mm256_dpwssd_epi32(v, m, m))
LOOM_INT_CHAINS(dpbusd256, "avx512f,avx512vl,avx512vnni", __m256i, _mm256_set1_epi16,
                _mm256_xor_si256, low256, _mm256_dpbusd_epi32(v, m, m))
LOOM_INT_CHAINS(dpwssd512, "avx512f,avx512vnni", __m512i, _mm512_set1_epi16, _mm512_xor_si512,
                low512, _mm512_dpwssd_epi32(v, m, m))
LOOM_INT_CHAINS(dpbusd512, "avx512f,avx512vnni", __m512i, _mm512_set1_epi16, _mm512_xor_si512,
                low512, _mm512_dpbusd_epi32(v, m, m))
#undef LOOM_INT_CHAINS

struct ChainForm {
  const char *instruction;
  int (*run)(uint64_t iterations);
  double opsPerInstruction; // 2 per multiply-add
  bool (*available)();
};

bool always() { return true; }

std::vector<ChainForm> forms(ProductKind product) {
  switch (product) {
  case ProductKind::F32Fma:
    return {{"vfmadd231ps ymm", fma256, 16, always}, {"vfmadd231ps zmm", fma512, 32, hasAvx512}};
  case ProductKind::Int16Dot:
    return {{"vpmaddwd ymm", maddwd256, 32, always},
            {"vpdpwssd ymm", dpwssd256, 32, hasAvx512Vnni},
            {"vpdpwssd zmm", dpwssd512, 64, hasAvx512Vnni}};
  case ProductKind::Int8Dot:
    return {{"vpmaddubsw ymm", maddubsw256, 64, always},
            {"vpdpbusd ymm", dpbusd256, 64, hasAvx512Vnni},
            {"vpdpbusd zmm", dpbusd512, 128, hasAvx512Vnni}};
  }
  return {};
}

} // namespace

BandwidthProbe::BandwidthProbe(uint64_t bytes)
    : bytes_((bytes + kHugePage - 1) / kHugePage * kHugePage),
      small_(bytes_, PageSize::Small, "bandwidth probe (4 KiB pages)"),
      huge_(bytes_, PageSize::Huge, "bandwidth probe (2 MiB pages)") {
  std::memset(small_.data(), 1, bytes_); // commit every page before timing
  std::memset(huge_.data(), 1, bytes_);
}

double BandwidthProbe::read(ThreadTeam &team, const Shape &shape) {
  const uint8_t *data = shape.hugePages ? huge_.data() : small_.data();
  float sums[64] = {};
  auto start = std::chrono::steady_clock::now();
  team.run([&](int index, int count) {
    // Slices of whole steps, one per thread (no two threads share a cache line).
    const uint64_t step = kLine * uint64_t(shape.streams);
    const uint64_t steps = bytes_ / step;
    const uint64_t first = steps * uint64_t(index) / uint64_t(count);
    const uint64_t last = steps * uint64_t(index + 1) / uint64_t(count);
    sums[index % 64] = streamSum(shape, data + first * step, (last - first) * step);
  });
  const double elapsed = seconds(start);
  for (float s : sums)
    sink_ = sink_ + s;
  return elapsed;
}

double BandwidthProbe::read(ThreadTeam &team) { return read(team, chosen_); }

void BandwidthProbe::calibrate(ThreadTeam &team, int rounds) {
  std::vector<Shape> shapes;
  for (bool huge : {false, true})
    for (int streams : {1, 2, 4})
      for (bool wide : {false, true})
        if (!wide || hasAvx512())
          shapes.push_back({huge, streams, wide});
  std::vector<double> best(shapes.size(), 1e30);
  for (int round = 0; round < rounds; ++round) // interleaved, so that a slow spell hits all
    for (size_t i = 0; i < shapes.size(); ++i)
      best[i] = std::min(best[i], read(team, shapes[i]));
  size_t fastest = 0;
  for (size_t i = 1; i < shapes.size(); ++i)
    if (best[i] < best[fastest])
      fastest = i;
  chosen_ = shapes[fastest];
}

std::string BandwidthProbe::shape() const {
  return std::string(chosen_.hugePages ? "2 MiB" : "4 KiB") + " pages, " +
         std::to_string(chosen_.streams) + " stream" + (chosen_.streams > 1 ? "s" : "") +
         "/thread, " + (chosen_.wideLoads ? "512" : "256") + "-bit loads";
}

ComputePeak computePeak(ThreadTeam &team, ProductKind product, uint64_t iterations) {
  static volatile int sink = 0;
  ComputePeak best;
  for (const ChainForm &form : forms(product)) {
    if (!form.available())
      continue;
    int results[64] = {};
    auto start = std::chrono::steady_clock::now();
    team.run([&](int index, int) { results[index % 64] = form.run(iterations); });
    const double elapsed = seconds(start);
    for (int r : results)
      sink = sink ^ r;
    const double ops = form.opsPerInstruction * kChains * double(iterations) * team.size();
    if (ops / elapsed > best.opsPerSecond)
      best = {ops / elapsed, form.instruction};
  }
  return best;
}

} // namespace loom::bench
