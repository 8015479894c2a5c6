// The reference implementations loom-bench compares generated kernels with, at the same
// precision: y[T, out] = x[T, in] . W^T with W stored [out, in] row-major (the Linear layout).
//   oneDNN (libdnnl 2.6) matmul: f32, or bf16 x bf16 -> f32 where this CPU supports it, or
//   s8 x s8 -> f32 (int32 products scaled per output channel) for int8 and int4 weights: oneDNN
//   has no int4 or int16-activation matmul, so its int8 one is the integer reference.
//   OpenBLAS: cblas_sgemv / cblas_sgemm, f32 only: Debian's OpenBLAS 0.3.21 is built without
//   BUILD_BFLOAT16 (no sbgemm/sbgemv), so bf16 weights are compared with f32 on the widened
//   weights, and the counter says "widened".
// oneDNN bf16 takes both operands bf16 (the activations are rounded once, outside the timing);
// the generated kernel keeps f32 activations.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

namespace loom::bench {

enum class Precision { F32, BF16, S8 };

// The thread count of both libraries (OpenBLAS's pool and oneDNN's OpenMP runtime).
void setReferenceThreads(int threads);

class OneDnnMatmul {
public:
  // weights: [out, in] of f32, bf16 (uint16) or int8 per `precision`. Throws loom::Error when
  // oneDNN has no implementation for this precision on this CPU (bf16 needs AVX-512 in oneDNN
  // 2.6).
  OneDnnMatmul(int64_t tokens, int64_t in, int64_t out, Precision precision, const void *weights);
  ~OneDnnMatmul();
  // x: [tokens, in] of f32, bf16 or int8 per the precision; y: [tokens, out] f32.
  void run(const void *x, float *y);
  // The implementation oneDNN picked (e.g. "brg:avx2", "gemm:jit").
  std::string implementation() const;

private:
  struct State;
  std::unique_ptr<State> state_;
};

bool oneDnnSupports(Precision precision);

// OpenBLAS sgemv (tokens == 1) or sgemm: x [tokens, in], weights [out, in], y [tokens, out].
void openBlasLinear(int64_t tokens, int64_t in, int64_t out, const float *x, const float *weights,
                    float *y);

} // namespace loom::bench
