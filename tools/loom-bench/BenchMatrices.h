// Weight matrices and activations for timing generated linear kernels (loom-bench, loom-tune):
// random values stored exactly as the kernels read them (the packed q8/q4 layouts included).
#pragma once

#include "Shapes.h"

#include "loom/AnonymousMemory.h"
#include "loom/Codegen/KernelSpec.h"

#include <HalideRuntime.h>

#include <cstdint>
#include <vector>

namespace loom::bench {

// Decode reads each weight once per token and gigabytes of other weights in between, so a GEMV
// must not find its weights in the cache: every case cycles through copies filling this much.
// So does a batched decode step's product over a few tokens: below kColdTokens tokens too.
constexpr uint64_t kColdFootprint = 256ull << 20;
constexpr int64_t kColdTokens = 64;

uint16_t toBf16(float f);
float fromBf16(uint16_t b);

// xorshift: filling hundreds of MB with std::mt19937 would dominate the set-up time.
struct FastRandom {
  uint64_t s;
  explicit FastRandom(uint64_t seed) : s(seed * 0x9E3779B97F4A7C15ull + 1) {}
  uint64_t next() {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return s;
  }
  float uniform() { return float(next() >> 40) / float(1 << 24) * 2.0f - 1.0f; } // [-1, 1)
};

// One weight matrix as the generated kernel reads it, plus the f32 values it stands for (the
// references' input, kept only when references are wanted).
struct Matrix {
  AnonymousMemory stored;
  std::vector<float> f32;     // the dequantized values, [out, in]
  std::vector<uint16_t> bf16; // bf16 storage (BF16 only)
  std::vector<int8_t> levels; // the integer levels, [out, in] (Q8 and Q4 only)
};

// A random [rows, cols] matrix of `type`, seeded; the f32 values and levels only with keepF32.
Matrix makeMatrix(codegen::ElementType type, int64_t rows, int64_t cols, uint64_t seed,
                  bool keepF32, PageSize pages);
// The Halide type and shape (outermost first) of a stored matrix, as the kernels take it.
halide_type_t storedHalideType(codegen::ElementType type);
std::vector<int64_t> storedShape(codegen::ElementType type, int64_t rows, int64_t cols);

} // namespace loom::bench
