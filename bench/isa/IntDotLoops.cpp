// The inner loops an int8/int16 GEMM register tile can be made of on AVX2 without VNNI, timed
// alone on registers and L1: the multiply-accumulates per cycle each can reach, which bounds
// any GEMM built from it. The clock comes from a chain of dependent 1-cycle adds timed in the
// same run. Each loop computes one 2-row x 4-token tile step:
//   int16_widen:  q8 (ours): 2 vpmovsxbw (int8 weights widened), 8 vpmaddwd, 8 vpaddd; 128 MACs
//   int16_ready:  the same on weights already widened (a copy ahead of the tiles); 128 MACs
//   u8s8:         oneDNN's AVX2 int8: 8 vpmaddubsw, 8 vpmaddwd against ones, 8 vpaddd; 256
//                 MACs, but the int16 pair sums saturate unless one side fits 7 bits
//   s8s8_sign:    u8s8 made exact for s8 x s8 (|a| x sign(a) * w): 8 vpsignb more; 256 MACs
// and, with AVX-512 VNNI, one 32-column block step of the q4 GEMM tile (Q4RowGroupLinear.cpp),
// 8 rows per vector, its int32 dot products scaled into f32 accumulators at the end:
//   q4_vnni_1x4:        1 row group x 4 tokens, each vpdpbusd with its activations as a
//                       memory broadcast: 8 weight loads, 32 vpdpbusd; 1024 MACs
//   q4_vnni_2x4:        2 row groups x 4 tokens, each activation broadcast into a register once
//                       for both groups: 16 weight loads, 32 broadcasts, 64 vpdpbusd; 2048 MACs
//   q4_vnni_2x4_dots:   the same without the scaling (the products' own ceiling)
//   q4_vnni_2x4_1fma:   the scaling as one FMA per accumulator (no separate scale multiply)
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdint>

namespace {

constexpr uint64_t kIterations = 20'000'000;
alignas(64) int8_t gOperands[4096];

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

// The q4 VNNI block steps. Operands (in L1): the nibble halves of group g at 256 g + 32 h,
// token k's 32 int8 activations at 1024 + 32 k, its zero share and scale at 2048 + 4 k, group
// g's 8 row scales at 2560 + 32 g.
#define Q4_CLOBBERS                                                                               \
  "cc", "memory", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9",  \
      "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", "xmm16", "xmm17", "xmm18", "xmm19",     \
      "xmm20", "xmm21", "xmm22", "xmm23"
#define Q4_LOOP(name, body)                                                                       \
  void name(uint64_t n, const int8_t *p) {                                                        \
    asm volatile("1:\n" body " dec %0\n jnz 1b\n" : "+r"(n) : "r"(p) : Q4_CLOBBERS);             \
  }

// 1 group: dots in ymm0-3 (token k), f32 accumulators in ymm16-19.
#define Q4_1X4_HALF(h)                                                                            \
  "vmovdqa " #h "*32(%1), %%ymm8\n"                                                               \
  "vpdpbusd 1024+" #h "*4(%1)%{1to8%}, %%ymm8, %%ymm0\n"                                          \
  "vpdpbusd 1056+" #h "*4(%1)%{1to8%}, %%ymm8, %%ymm1\n"                                          \
  "vpdpbusd 1088+" #h "*4(%1)%{1to8%}, %%ymm8, %%ymm2\n"                                          \
  "vpdpbusd 1120+" #h "*4(%1)%{1to8%}, %%ymm8, %%ymm3\n"
#define Q4_SCALE(dot, token, scale, acc)                                                          \
  "vcvtdq2ps %%ymm" #dot ", %%ymm" #dot "\n vmulps %%ymm" #scale ", %%ymm" #dot ", %%ymm" #dot      \
  "\n vfmadd231ps 2048+4*" #token "(%1)%{1to8%}, %%ymm" #dot ", %%ymm" #acc "\n"
Q4_LOOP(q4Vnni1x4,
        "vpbroadcastd 2048(%1), %%ymm0\n vpbroadcastd 2052(%1), %%ymm1\n"
        "vpbroadcastd 2056(%1), %%ymm2\n vpbroadcastd 2060(%1), %%ymm3\n"
        Q4_1X4_HALF(0) Q4_1X4_HALF(1) Q4_1X4_HALF(2) Q4_1X4_HALF(3) Q4_1X4_HALF(4)
        Q4_1X4_HALF(5) Q4_1X4_HALF(6) Q4_1X4_HALF(7)
        "vmovaps 2560(%1), %%ymm9\n"
        Q4_SCALE(0, 0, 9, 16) Q4_SCALE(1, 1, 9, 17) Q4_SCALE(2, 2, 9, 18) Q4_SCALE(3, 3, 9, 19))

// 2 groups: dots in ymm0-7 (4 g + k), f32 accumulators in ymm16-23.
#define Q4_2X4_INIT                                                                               \
  "vpbroadcastd 2048(%1), %%ymm0\n vpbroadcastd 2052(%1), %%ymm1\n"                               \
  "vpbroadcastd 2056(%1), %%ymm2\n vpbroadcastd 2060(%1), %%ymm3\n"                               \
  "vpbroadcastd 2048(%1), %%ymm4\n vpbroadcastd 2052(%1), %%ymm5\n"                               \
  "vpbroadcastd 2056(%1), %%ymm6\n vpbroadcastd 2060(%1), %%ymm7\n"
#define Q4_2X4_HALF(h)                                                                            \
  "vmovdqa " #h "*32(%1), %%ymm8\n vmovdqa 256+" #h "*32(%1), %%ymm9\n"                           \
  "vpbroadcastd 1024+" #h "*4(%1), %%ymm10\n vpbroadcastd 1056+" #h "*4(%1), %%ymm11\n"            \
  "vpbroadcastd 1088+" #h "*4(%1), %%ymm12\n vpbroadcastd 1120+" #h "*4(%1), %%ymm13\n"            \
  "vpdpbusd %%ymm10, %%ymm8, %%ymm0\n vpdpbusd %%ymm11, %%ymm8, %%ymm1\n"                          \
  "vpdpbusd %%ymm12, %%ymm8, %%ymm2\n vpdpbusd %%ymm13, %%ymm8, %%ymm3\n"                          \
  "vpdpbusd %%ymm10, %%ymm9, %%ymm4\n vpdpbusd %%ymm11, %%ymm9, %%ymm5\n"                          \
  "vpdpbusd %%ymm12, %%ymm9, %%ymm6\n vpdpbusd %%ymm13, %%ymm9, %%ymm7\n"
#define Q4_2X4_DOTS                                                                               \
  Q4_2X4_INIT Q4_2X4_HALF(0) Q4_2X4_HALF(1) Q4_2X4_HALF(2) Q4_2X4_HALF(3) Q4_2X4_HALF(4)          \
      Q4_2X4_HALF(5) Q4_2X4_HALF(6) Q4_2X4_HALF(7)                                                \
          "vmovaps 2560(%1), %%ymm14\n vmovaps 2592(%1), %%ymm15\n"
#define Q4_1FMA(dot, scale, acc)                                                                  \
  "vcvtdq2ps %%ymm" #dot ", %%ymm" #dot "\n vfmadd231ps %%ymm" #scale ", %%ymm" #dot ", %%ymm" #acc \
  "\n"
Q4_LOOP(q4Vnni2x4, Q4_2X4_DOTS
        Q4_SCALE(0, 0, 14, 16) Q4_SCALE(1, 1, 14, 17) Q4_SCALE(2, 2, 14, 18) Q4_SCALE(3, 3, 14, 19)
        Q4_SCALE(4, 0, 15, 20) Q4_SCALE(5, 1, 15, 21) Q4_SCALE(6, 2, 15, 22) Q4_SCALE(7, 3, 15, 23))
Q4_LOOP(q4Vnni2x4Dots, Q4_2X4_DOTS)
Q4_LOOP(q4Vnni2x4OneFma, Q4_2X4_DOTS
        Q4_1FMA(0, 14, 16) Q4_1FMA(1, 14, 17) Q4_1FMA(2, 14, 18) Q4_1FMA(3, 14, 19)
        Q4_1FMA(4, 15, 20) Q4_1FMA(5, 15, 21) Q4_1FMA(6, 15, 22) Q4_1FMA(7, 15, 23))

void runLoop(benchmark::State &state, void (*loop)(uint64_t, const int8_t *), double macs,
             bool vnni = false) {
  if (!__builtin_cpu_supports("avx2")) {
    state.SkipWithError("the CPU has no AVX2");
    return;
  }
  if (vnni && !(__builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni"))) {
    state.SkipWithError("the CPU has no AVX-512 VNNI");
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
BENCHMARK_CAPTURE(runLoop, q4_vnni_1x4, q4Vnni1x4, 1024.0, true)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(runLoop, q4_vnni_2x4, q4Vnni2x4, 2048.0, true)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(runLoop, q4_vnni_2x4_dots, q4Vnni2x4Dots, 2048.0, true)
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(runLoop, q4_vnni_2x4_1fma, q4Vnni2x4OneFma, 2048.0, true)
    ->Unit(benchmark::kMillisecond);

BENCHMARK_MAIN();
