// The inner loops an int8/int16 GEMM register tile can be made of on AVX2 without VNNI, timed
// alone on registers and L1: the multiply-accumulates per cycle each can reach, which bounds
// any GEMM built from it. The clock comes from a chain of dependent 1-cycle adds timed in the
// same run. Each loop computes one 2-row x 4-token tile step:
//   int16_widen:  q8 (ours): 2 vpmovsxbw (int8 weights widened), 8 vpmaddwd, 8 vpaddd; 128 MACs
//   int16_ready:  the same on weights already widened (a copy ahead of the tiles); 128 MACs
//   u8s8:         oneDNN's AVX2 int8: 8 vpmaddubsw, 8 vpmaddwd against ones, 8 vpaddd; 256
//                 MACs, but the int16 pair sums saturate unless one side fits 7 bits
//   s8s8_sign:    u8s8 made exact for s8 x s8 (|a| x sign(a) * w): 8 vpsignb more; 256 MACs
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdint>

namespace {

constexpr uint64_t kIterations = 20'000'000;
alignas(64) int8_t gOperands[256];

double seconds(void (*loop)(uint64_t, const int8_t *)) {
  auto start = std::chrono::steady_clock::now();
  loop(kIterations, gOperands);
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

void addChain(uint64_t n, const int8_t *) {
  asm volatile("1:\n add $1, %%rax\n add $1, %%rax\n add $1, %%rax\n add $1, %%rax\n"
               " dec %0\n jnz 1b\n"
               : "+r"(n)
               :
               : "rax", "cc");
}

#define TILE_STEP(MUL_W0, MUL_W1)                                                                \
  MUL_W0(64, 0) MUL_W1(64, 1) MUL_W0(96, 2) MUL_W1(96, 3) MUL_W0(128, 4) MUL_W1(128, 5)           \
      MUL_W0(160, 6) MUL_W1(160, 7)

// One tile loop: `weights` loads the 2 rows' step into ymm14 and ymm13, then STEP(offset, weight
// register, accumulator) for each of the 8 (row, token) pairs. Every loop clobbers the same set.
#define TILE_LOOP(name, weights, STEP)                                                            \
  void name(uint64_t n, const int8_t *p) {                                                        \
    asm volatile("1:\n" weights TILE_STEP(STEP##_W0, STEP##_W1) " dec %0\n jnz 1b\n"             \
                 : "+r"(n)                                                                        \
                 : "r"(p)                                                                         \
                 : "cc", "memory", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", \
                   "xmm8", "xmm9", "xmm12", "xmm13", "xmm14", "xmm15");                           \
  }
#define WIDEN_WEIGHTS " vpmovsxbw (%1), %%ymm14\n vpmovsxbw 16(%1), %%ymm13\n"
#define LOAD_WEIGHTS " vmovdqa (%1), %%ymm14\n vmovdqa 32(%1), %%ymm13\n"

// acc(k) += vpmaddwd(weights w, activations at offset)
#define MADDWD(off, w, k)                                                                         \
  "vpmaddwd " #off "(%1), %%ymm" #w ", %%ymm8\n vpaddd %%ymm8, %%ymm" #k ", %%ymm" #k "\n"
#define MADDWD_W0(off, k) MADDWD(off, 14, k)
#define MADDWD_W1(off, k) MADDWD(off, 13, k)

// acc(k) += vpmaddwd(vpmaddubsw(activations, weights w), ones in ymm15)
#define MADDUBS(off, w, k)                                                                        \
  "vmovdqa " #off "(%1), %%ymm9\n vpmaddubsw %%ymm" #w ", %%ymm9, %%ymm8\n"                       \
  " vpmaddwd %%ymm15, %%ymm8, %%ymm8\n vpaddd %%ymm8, %%ymm" #k ", %%ymm" #k "\n"
#define MADDUBS_W0(off, k) MADDUBS(off, 14, k)
#define MADDUBS_W1(off, k) MADDUBS(off, 13, k)

// acc(k) += vpmaddwd(vpmaddubsw(|a| (ymm12), vpsignb(weights w, a)), ones)
#define SIGN(off, w, k)                                                                           \
  "vpsignb " #off "(%1), %%ymm" #w ", %%ymm8\n vpmaddubsw %%ymm8, %%ymm12, %%ymm8\n"              \
  " vpmaddwd %%ymm15, %%ymm8, %%ymm8\n vpaddd %%ymm8, %%ymm" #k ", %%ymm" #k "\n"
#define SIGN_W0(off, k) SIGN(off, 14, k)
#define SIGN_W1(off, k) SIGN(off, 13, k)

TILE_LOOP(int16Widen, WIDEN_WEIGHTS, MADDWD)
TILE_LOOP(int16Ready, LOAD_WEIGHTS, MADDWD)
TILE_LOOP(u8s8, LOAD_WEIGHTS, MADDUBS)
TILE_LOOP(s8s8Sign, LOAD_WEIGHTS, SIGN)

void runLoop(benchmark::State &state, void (*loop)(uint64_t, const int8_t *), double macs) {
  if (!__builtin_cpu_supports("avx2")) {
    state.SkipWithError("the CPU has no AVX2");
    return;
  }
  double cycleSeconds = 0, loopSeconds = 0;
  for (auto _ : state) {
    cycleSeconds += seconds(addChain) / (4.0 * double(kIterations));
    loopSeconds += seconds(loop);
  }
  const double cyclesPerStep = loopSeconds / cycleSeconds / double(kIterations);
  state.counters["GHz"] = 1e-9 * double(state.iterations()) / cycleSeconds;
  state.counters["cycles_per_step"] = cyclesPerStep;
  state.counters["MACs_per_cycle"] = macs / cyclesPerStep;
}

} // namespace

BENCHMARK_CAPTURE(runLoop, int16_widen, int16Widen, 128.0)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(runLoop, int16_ready, int16Ready, 128.0)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(runLoop, u8s8, u8s8, 256.0)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(runLoop, s8s8_sign, s8s8Sign, 256.0)->Unit(benchmark::kMillisecond);

BENCHMARK_MAIN();
