// Loom's CUDA kernel templates. compiler/codegen_cuda instantiates them for each KernelSpec
// (shapes and formats as template arguments, so every loop bound and stride is a constant) in
// one generated translation unit, which NVRTC compiles to PTX and cubin at loom-compile time.
// Semantics: compiler/codegen/include/loom/Codegen/KernelSpec.h, the same as the CPU kernels.
// No headers: NVRTC compiles this without the CUDA include directory.

typedef unsigned short loom_bf16;
typedef unsigned char loom_u8;

// The one parameter of every kernel (runtime/cuda/include/loom/Cuda/KernelBundle.h).
struct LoomKernelArgs {
  unsigned long long ptr[8];
  unsigned long long workspace;
  int tokens;
  int aux[3];
};

namespace loom {

// Weight formats (codegen::ElementType). Matrix weights may be quantized (packed u8 rows,
// runtime/include/loom/QuantLayout.h); vector weights are bf16 for BF16 and f32 otherwise.
enum Fmt { F32 = 0, BF16 = 1, Q8 = 2, Q4G32 = 3, Q4G128 = 4 };

template <int F> struct VectorWeight { typedef float type; };
template <> struct VectorWeight<BF16> { typedef loom_bf16 type; };

__device__ __forceinline__ float bf16ToFloat(unsigned bits) { return __uint_as_float(bits << 16); }
__device__ __forceinline__ float lowBf16(unsigned pair) { return __uint_as_float(pair << 16); }
__device__ __forceinline__ float highBf16(unsigned pair) { return __uint_as_float(pair & 0xffff0000u); }
// Round to nearest even, as the CPU side does (codegen and the artifact writer).
__device__ __forceinline__ unsigned floatToBf16(float f) {
  unsigned u = __float_as_uint(f);
  return (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
}
__device__ __forceinline__ unsigned packBf16(float lo, float hi) {
  return floatToBf16(lo) | (floatToBf16(hi) << 16);
}
__device__ __forceinline__ float halfToFloat(unsigned short bits) {
  float f;
  asm("{ .reg .b16 h; mov.b16 h, %1; cvt.f32.f16 %0, h; }" : "=f"(f) : "h"(bits));
  return f;
}

__device__ __forceinline__ float loadVector(const float *p, int i) { return __ldg(p + i); }
__device__ __forceinline__ float loadVector(const loom_bf16 *p, int i) { return bf16ToFloat(__ldg(p + i)); }

__device__ __forceinline__ float warpSum(float v) {
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1)
    v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}

// Bytes of one packed row of a [rows, COLS] matrix in format F (QuantLayout.h).
template <int F, int COLS> struct RowLayout {
  static constexpr long long bytes = F == F32 ? 4LL * COLS
                                   : F == BF16 ? 2LL * COLS
                                   : F == Q8 ? COLS + 4LL
                                   : F == Q4G32 ? COLS / 2 + 2LL * (COLS / 32)
                                                : COLS / 2 + 2LL * (COLS / 128);
  static constexpr int group = F == Q4G32 ? 32 : 128;
};

// w[row][col] widened to f32 from any format: the generic (scalar) access.
template <int F, int COLS>
__device__ __forceinline__ float weightAt(const void *base, long long row, int col) {
  const loom_u8 *r = static_cast<const loom_u8 *>(base) + row * RowLayout<F, COLS>::bytes;
  if (F == F32)
    return __ldg(reinterpret_cast<const float *>(r) + col);
  if (F == BF16)
    return bf16ToFloat(__ldg(reinterpret_cast<const loom_bf16 *>(r) + col));
  if (F == Q8) {
    const loom_u8 *s = r + COLS;
    unsigned bits = unsigned(__ldg(s)) | unsigned(__ldg(s + 1)) << 8 | unsigned(__ldg(s + 2)) << 16 |
                    unsigned(__ldg(s + 3)) << 24;
    return float(static_cast<signed char>(__ldg(r + col))) * __uint_as_float(bits);
  }
  const int byte = (col / 32) * 16 + col % 16;
  const int nibble = (col % 32) >= 16 ? (__ldg(r + byte) >> 4) : (__ldg(r + byte) & 15);
  const loom_u8 *s = r + COLS / 2 + 2 * (col / RowLayout<F, COLS>::group);
  return float(nibble - 8) * halfToFloat((unsigned short)(__ldg(s) | (__ldg(s + 1) << 8)));
}

// ---- Element-wise and row kernels ---------------------------------------------------------
// One thread per output element (grid.x covers T * width), or one warp per row.

template <int VOCAB, int WIDTH, int F>
__device__ void embedTokens(const LoomKernelArgs &a, float scale) {
  const int *ids = reinterpret_cast<const int *>(a.ptr[0]);
  float *out = reinterpret_cast<float *>(a.ptr[2]);
  long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= (long long)a.tokens * WIDTH)
    return;
  int t = int(i / WIDTH), w = int(i % WIDTH);
  int row = min(max(ids[t], 0), VOCAB - 1);
  out[i] = weightAt<F, WIDTH>(reinterpret_cast<const void *>(a.ptr[1]), row, w) * scale;
}

template <int GROUPS, int WIDTH, bool HAS_WEIGHT, int F>
__device__ void rmsNorm(const LoomKernelArgs &a, float eps) {
  typedef typename VectorWeight<F>::type W;
  const float *x = reinterpret_cast<const float *>(a.ptr[0]);
  const W *weight = reinterpret_cast<const W *>(a.ptr[1]);
  float *out = reinterpret_cast<float *>(a.ptr[HAS_WEIGHT ? 2 : 1]);
  long long row = (long long)blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
  int lane = threadIdx.x & 31;
  if (row >= (long long)a.tokens * GROUPS)
    return;
  const float *xr = x + row * WIDTH;
  float sum = 0.0f;
  for (int i = lane; i < WIDTH; i += 32) {
    float v = xr[i];
    sum += v * v;
  }
  sum = warpSum(sum);
  float inv = 1.0f / sqrtf(sum / float(WIDTH) + eps);
  for (int i = lane; i < WIDTH; i += 32) {
    float y = xr[i] * inv;
    out[row * WIDTH + i] = HAS_WEIGHT ? y * loadVector(weight, i) : y;
  }
}

template <int WIDTH, int F>
__device__ void layerNorm(const LoomKernelArgs &a, float eps) {
  typedef typename VectorWeight<F>::type W;
  const float *x = reinterpret_cast<const float *>(a.ptr[0]);
  const W *weight = reinterpret_cast<const W *>(a.ptr[1]);
  const W *bias = reinterpret_cast<const W *>(a.ptr[2]);
  float *out = reinterpret_cast<float *>(a.ptr[3]);
  long long row = (long long)blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
  int lane = threadIdx.x & 31;
  if (row >= a.tokens)
    return;
  const float *xr = x + row * WIDTH;
  float sum = 0.0f;
  for (int i = lane; i < WIDTH; i += 32)
    sum += xr[i];
  const float mean = warpSum(sum) / float(WIDTH);
  float sq = 0.0f;
  for (int i = lane; i < WIDTH; i += 32) {
    float d = xr[i] - mean;
    sq += d * d;
  }
  const float rstd = 1.0f / sqrtf(warpSum(sq) / float(WIDTH) + eps);
  for (int i = lane; i < WIDTH; i += 32)
    out[row * WIDTH + i] = (xr[i] - mean) * rstd * loadVector(weight, i) + loadVector(bias, i);
}

// invFreq: HEAD_DIM / 2 floats (0 beyond the rotated pairs); cos/sin of the f32 angle in double.
template <int HEADS, int HEAD_DIM>
__device__ void rope(const LoomKernelArgs &a, const float *invFreq) {
  const float *x = reinterpret_cast<const float *>(a.ptr[0]);
  const int start = *reinterpret_cast<const int *>(a.ptr[1]);
  float *out = reinterpret_cast<float *>(a.ptr[2]);
  constexpr int HALF = HEAD_DIM / 2;
  long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= (long long)a.tokens * HEADS * HEAD_DIM)
    return;
  int t = int(i / (HEADS * HEAD_DIM));
  int d = int(i % HEAD_DIM);
  int pair = d % HALF;
  long long rowStart = i - d;
  float angle = float(start + t) * invFreq[pair];
  float c = float(cos(double(angle))), s = float(sin(double(angle)));
  float x1 = x[rowStart + pair], x2 = x[rowStart + pair + HALF];
  out[i] = d < HALF ? x1 * c - x2 * s : x2 * c + x1 * s;
}

__device__ __forceinline__ long long elementIndex() {
  return (long long)blockIdx.x * blockDim.x + threadIdx.x;
}

template <int WIDTH> __device__ void geglu(const LoomKernelArgs &a) {
  long long i = elementIndex();
  if (i >= (long long)a.tokens * WIDTH)
    return;
  float g = reinterpret_cast<const float *>(a.ptr[0])[i];
  float u = reinterpret_cast<const float *>(a.ptr[1])[i];
  const float beta = 0.7978845608028654f, kappa = 0.044715f;
  float gelu = 0.5f * g * (1.0f + tanhf(beta * (g + kappa * g * g * g)));
  reinterpret_cast<float *>(a.ptr[2])[i] = gelu * u;
}

template <int WIDTH> __device__ void add(const LoomKernelArgs &a) {
  long long i = elementIndex();
  if (i >= (long long)a.tokens * WIDTH)
    return;
  reinterpret_cast<float *>(a.ptr[2])[i] =
      reinterpret_cast<const float *>(a.ptr[0])[i] + reinterpret_cast<const float *>(a.ptr[1])[i];
}

template <int WIDTH, int F> __device__ void scale(const LoomKernelArgs &a) {
  typedef typename VectorWeight<F>::type W;
  long long i = elementIndex();
  if (i >= (long long)a.tokens * WIDTH)
    return;
  float s = loadVector(reinterpret_cast<const W *>(a.ptr[1]), 0);
  reinterpret_cast<float *>(a.ptr[2])[i] = reinterpret_cast<const float *>(a.ptr[0])[i] * s;
}

template <int WIDTH> __device__ void softcap(const LoomKernelArgs &a, float cap) {
  long long i = elementIndex();
  if (i >= (long long)a.tokens * WIDTH)
    return;
  float x = reinterpret_cast<const float *>(a.ptr[0])[i];
  reinterpret_cast<float *>(a.ptr[1])[i] = tanhf(x / cap) * cap;
}

template <int WIDTH, int TABLE_SIZE, int F> __device__ void visionPositionAdd(const LoomKernelArgs &a) {
  typedef typename VectorWeight<F>::type W;
  long long i = elementIndex();
  if (i >= (long long)a.tokens * WIDTH)
    return;
  const int *positions = reinterpret_cast<const int *>(a.ptr[1]);
  const W *table = reinterpret_cast<const W *>(a.ptr[2]);
  int t = int(i / WIDTH), w = int(i % WIDTH);
  int column = positions[2 * t], row = positions[2 * t + 1];
  float v = reinterpret_cast<const float *>(a.ptr[0])[i];
  float colTerm = column >= 0 ? loadVector(table, (min(column, TABLE_SIZE - 1) * 2 + 0) * WIDTH + w) : 0.0f;
  float rowTerm = row >= 0 ? loadVector(table, (min(row, TABLE_SIZE - 1) * 2 + 1) * WIDTH + w) : 0.0f;
  reinterpret_cast<float *>(a.ptr[3])[i] = v + colTerm + rowTerm;
}

// KvWrite: rows (start + t) % capacity of a layer's cache get the call's keys and values.
// aux[0]: 32-bit words per row, aux[1]: capacity. grid (ceil(words / blockDim), T).
__device__ void kvWrite(const LoomKernelArgs &a) {
  const int words = a.aux[0], capacity = a.aux[1], T = a.tokens;
  const int t = blockIdx.y;
  const int w = blockIdx.x * blockDim.x + threadIdx.x;
  if (w >= words || t < T - capacity)
    return; // older rows would be overwritten within this call anyway
  const int start = *reinterpret_cast<const int *>(a.ptr[4]);
  long long slot = (long long)(start + t) % capacity;
  reinterpret_cast<unsigned *>(a.ptr[2])[slot * words + w] =
      reinterpret_cast<const unsigned *>(a.ptr[0])[(long long)t * words + w];
  reinterpret_cast<unsigned *>(a.ptr[3])[slot * words + w] =
      reinterpret_cast<const unsigned *>(a.ptr[1])[(long long)t * words + w];
}

// ---- Linear: GEMV for few tokens ------------------------------------------------------------
// out[t, o] = x[t, :] . w[o, :] (+ bias[o]). Each warp owns ROWS consecutive output rows and
// streams them once for all (up to TMAX) tokens: 16-byte loads of plain weights, 4-byte loads of
// packed quantized rows, coalesced across the warp; x comes through L1. Accumulators are
// indexed by unrolled constants only (no local memory).

template <int TMAX, int ROWS>
__device__ __forceinline__ void gemvStore(float (&acc)[TMAX][ROWS], float *out, const void *bias,
                                          bool hasBias, bool bf16Bias, int T, int t0, int row0,
                                          int OUT) {
  const int lane = threadIdx.x & 31;
#pragma unroll
  for (int t = 0; t < TMAX; ++t)
#pragma unroll
    for (int r = 0; r < ROWS; ++r) {
      float v = warpSum(acc[t][r]);
      if (lane == 0 && t0 + t < T && row0 + r < OUT) {
        if (hasBias)
          v += bf16Bias ? loadVector(static_cast<const loom_bf16 *>(bias), row0 + r)
                        : loadVector(static_cast<const float *>(bias), row0 + r);
        out[(long long)(t0 + t) * OUT + row0 + r] = v;
      }
    }
}

// Each lane walks the row in steps of 32 * COLS_PER_LANE columns: the full steps unrolled, then
// one guarded tail step. `step(k)` handles the lane's columns starting at k.
template <int IN, int COLS_PER_LANE, int UNROLL, class Step>
__device__ __forceinline__ void walkRow(Step step) {
  constexpr int STRIDE = 32 * COLS_PER_LANE, FULL = IN / STRIDE;
  const int lane = threadIdx.x & 31;
#pragma unroll(UNROLL)
  for (int s = 0; s < FULL; ++s)
    step(s * STRIDE + lane * COLS_PER_LANE);
  if (IN % STRIDE != 0) {
    const int k = FULL * STRIDE + lane * COLS_PER_LANE;
    if (k < IN)
      step(k);
  }
}

// Row r of the warp's block of ROWS rows; rows past the matrix repeat its last row (their
// results are not stored).
template <int OUT, int ROWS>
__device__ __forceinline__ long long clampedRow(int row0, int r) {
  return OUT % ROWS == 0 ? row0 + r : min(row0 + r, OUT - 1);
}

// Plain f32 / bf16 rows: each lane takes 16 bytes (8 bf16 or 4 f32) per step.
template <int IN, int OUT, int F, int TMAX, int ROWS>
__device__ __forceinline__ void gemvPlainRows(const float *x, const void *w, int T, int t0, int row0,
                                              float (&acc)[TMAX][ROWS]) {
  constexpr int VEC = F == BF16 ? 8 : 4;
  constexpr long long ROW_BYTES = (long long)IN * (F == BF16 ? 2 : 4);
  const char *base = static_cast<const char *>(w);
  walkRow<IN, VEC, TMAX == 1 ? 4 : 1>([&](int k) {
    float wv[ROWS][VEC];
#pragma unroll
    for (int r = 0; r < ROWS; ++r) {
      uint4 raw = __ldg(reinterpret_cast<const uint4 *>(base + clampedRow<OUT, ROWS>(row0, r) * ROW_BYTES +
                                                        (long long)k * (F == BF16 ? 2 : 4)));
      if (F == BF16) {
        wv[r][0] = lowBf16(raw.x); wv[r][1] = highBf16(raw.x);
        wv[r][2] = lowBf16(raw.y); wv[r][3] = highBf16(raw.y);
        wv[r][4 % VEC] = lowBf16(raw.z); wv[r][5 % VEC] = highBf16(raw.z);
        wv[r][6 % VEC] = lowBf16(raw.w); wv[r][7 % VEC] = highBf16(raw.w);
      } else {
        wv[r][0] = __uint_as_float(raw.x); wv[r][1] = __uint_as_float(raw.y);
        wv[r][2] = __uint_as_float(raw.z); wv[r][3] = __uint_as_float(raw.w);
      }
    }
#pragma unroll
    for (int t = 0; t < TMAX; ++t) {
      if (TMAX > 1 && t0 + t >= T)
        continue;
      const float *xt = x + (long long)(t0 + t) * IN + k;
#pragma unroll
      for (int v4 = 0; v4 < VEC; v4 += 4) {
        float4 xv = __ldg(reinterpret_cast<const float4 *>(xt + v4));
#pragma unroll
        for (int r = 0; r < ROWS; ++r) {
          acc[t][r] += xv.x * wv[r][v4] + xv.y * wv[r][v4 + 1];
          acc[t][r] += xv.z * wv[r][v4 + 2] + xv.w * wv[r][v4 + 3];
        }
      }
    }
  });
}

// Q8 rows (int8 + f32 row scale): each lane takes 4 columns (one 32-bit word) per step; the
// row scale is applied once at the end.
template <int IN, int OUT, int TMAX, int ROWS>
__device__ __forceinline__ void gemvQ8Rows(const float *x, const void *w, int T, int t0, int row0,
                                           float (&acc)[TMAX][ROWS]) {
  constexpr long long RB = RowLayout<Q8, IN>::bytes;
  const loom_u8 *base = static_cast<const loom_u8 *>(w);
  walkRow<IN, 4, TMAX == 1 ? 8 : 2>([&](int k) {
    float wv[ROWS][4];
#pragma unroll
    for (int r = 0; r < ROWS; ++r) {
      unsigned q = __ldg(reinterpret_cast<const unsigned *>(base + clampedRow<OUT, ROWS>(row0, r) * RB + k));
#pragma unroll
      for (int b = 0; b < 4; ++b)
        wv[r][b] = float(static_cast<signed char>((q >> (8 * b)) & 0xffu));
    }
#pragma unroll
    for (int t = 0; t < TMAX; ++t) {
      if (TMAX > 1 && t0 + t >= T)
        continue;
      float4 xv = __ldg(reinterpret_cast<const float4 *>(x + (long long)(t0 + t) * IN + k));
#pragma unroll
      for (int r = 0; r < ROWS; ++r)
        acc[t][r] += xv.x * wv[r][0] + xv.y * wv[r][1] + xv.z * wv[r][2] + xv.w * wv[r][3];
    }
  });
#pragma unroll
  for (int r = 0; r < ROWS; ++r) {
    float scale = __uint_as_float(
        __ldg(reinterpret_cast<const unsigned *>(base + clampedRow<OUT, ROWS>(row0, r) * RB + IN)));
#pragma unroll
    for (int t = 0; t < TMAX; ++t)
      acc[t][r] *= scale;
  }
}

// Q4 rows (nibbles in 32-column blocks of 16 bytes, f16 group scales): per step of 256
// columns, lane l takes bytes 4*(l%4)..+3 of block l/4, i.e. columns c..c+3 and c+16..c+19.
template <int IN, int OUT, int F, int TMAX, int ROWS>
__device__ __forceinline__ void gemvQ4Rows(const float *x, const void *w, int T, int t0, int row0,
                                           float (&acc)[TMAX][ROWS]) {
  constexpr long long RB = RowLayout<F, IN>::bytes;
  constexpr int GROUP = RowLayout<F, IN>::group;
  const loom_u8 *base = static_cast<const loom_u8 *>(w);
  const int lane = threadIdx.x & 31;
  // walkRow steps 256 columns (k = step * 256 + lane * 8); this lane's columns in the step:
  // (IN is a multiple of 32, so k < IN exactly when the lane's block is in the row).
  walkRow<IN, 8, TMAX == 1 ? 2 : 1>([&](int k) {
    const int c = (k / 256) * 256 + (lane / 4) * 32 + (lane % 4) * 4;
    float wv[ROWS][8];
#pragma unroll
    for (int r = 0; r < ROWS; ++r) {
      const loom_u8 *row = base + clampedRow<OUT, ROWS>(row0, r) * RB;
      unsigned q = __ldg(reinterpret_cast<const unsigned *>(row + (c / 32) * 16 + (lane % 4) * 4));
      float s = halfToFloat(__ldg(reinterpret_cast<const unsigned short *>(row + IN / 2 + 2 * (c / GROUP))));
#pragma unroll
      for (int b = 0; b < 4; ++b) {
        wv[r][b] = float(int((q >> (8 * b)) & 15u) - 8) * s;
        wv[r][4 + b] = float(int((q >> (8 * b + 4)) & 15u) - 8) * s;
      }
    }
#pragma unroll
    for (int t = 0; t < TMAX; ++t) {
      if (TMAX > 1 && t0 + t >= T)
        continue;
      const float *xt = x + (long long)(t0 + t) * IN + c;
      float4 lo = __ldg(reinterpret_cast<const float4 *>(xt));
      float4 hi = __ldg(reinterpret_cast<const float4 *>(xt + 16));
#pragma unroll
      for (int r = 0; r < ROWS; ++r) {
        acc[t][r] += lo.x * wv[r][0] + lo.y * wv[r][1] + lo.z * wv[r][2] + lo.w * wv[r][3];
        acc[t][r] += hi.x * wv[r][4] + hi.y * wv[r][5] + hi.z * wv[r][6] + hi.w * wv[r][7];
      }
    }
  });
}

// grid.x = ceil(OUT / (ROWS * warps per block)); tokens in groups of TMAX.
template <int IN, int OUT, bool BIAS, int F, int TMAX, int ROWS>
__device__ void gemv(const LoomKernelArgs &a) {
  const float *x = reinterpret_cast<const float *>(a.ptr[0]);
  const void *w = reinterpret_cast<const void *>(a.ptr[1]);
  const void *bias = reinterpret_cast<const void *>(a.ptr[2]);
  float *out = reinterpret_cast<float *>(a.ptr[BIAS ? 3 : 2]);
  const int T = a.tokens;
  const int row0 = (blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5)) * ROWS;
  if (row0 >= OUT)
    return;
  for (int t0 = 0; t0 < T; t0 += TMAX) {
    float acc[TMAX][ROWS];
#pragma unroll
    for (int t = 0; t < TMAX; ++t)
#pragma unroll
      for (int r = 0; r < ROWS; ++r)
        acc[t][r] = 0.0f;
    if (F == F32 || F == BF16)
      gemvPlainRows<IN, OUT, F, TMAX, ROWS>(x, w, T, t0, row0, acc);
    else if (F == Q8)
      gemvQ8Rows<IN, OUT, TMAX, ROWS>(x, w, T, t0, row0, acc);
    else
      gemvQ4Rows<IN, OUT, F, TMAX, ROWS>(x, w, T, t0, row0, acc);
    gemvStore<TMAX, ROWS>(acc, out, bias, BIAS, F == BF16, T, t0, row0, OUT);
  }
}

// ---- Linear: SIMT GEMM (f32 weights: exact f32 arithmetic) --------------------------------
// 64x64 output tile per 256-thread block, 4x4 per thread, k in steps of 16 through shared
// memory. grid (ceil(OUT / 64), ceil(T / 64)).
template <int IN, int OUT, bool BIAS, int F>
__device__ void gemmSimt(const LoomKernelArgs &a) {
  typedef typename VectorWeight<F>::type VW;
  constexpr int BM = 64, BN = 64, BK = 16;
  __shared__ float As[BK][BM + 4];
  __shared__ float Bs[BK][BN + 4];
  const float *x = reinterpret_cast<const float *>(a.ptr[0]);
  const void *w = reinterpret_cast<const void *>(a.ptr[1]);
  const VW *bias = reinterpret_cast<const VW *>(a.ptr[2]);
  float *out = reinterpret_cast<float *>(a.ptr[BIAS ? 3 : 2]);
  const int T = a.tokens, tid = threadIdx.x;
  const int m0 = blockIdx.y * BM, n0 = blockIdx.x * BN;
  const int tx = tid % 16, ty = tid / 16;
  float acc[4][4];
#pragma unroll
  for (int i = 0; i < 4; ++i)
#pragma unroll
    for (int j = 0; j < 4; ++j)
      acc[i][j] = 0.0f;
  for (int k0 = 0; k0 < IN; k0 += BK) {
#pragma unroll
    for (int l = 0; l < 4; ++l) {
      int idx = tid + 256 * l, row = idx / BK, kk = idx % BK, k = k0 + kk;
      As[kk][row] = (m0 + row < T && k < IN) ? x[(long long)(m0 + row) * IN + k] : 0.0f;
      Bs[kk][row] = (n0 + row < OUT && k < IN) ? weightAt<F, IN>(w, n0 + row, k) : 0.0f;
    }
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < BK; ++kk) {
      float av[4], bv[4];
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        av[i] = As[kk][ty * 4 + i];
        bv[i] = Bs[kk][tx * 4 + i];
      }
#pragma unroll
      for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j)
          acc[i][j] += av[i] * bv[j];
    }
    __syncthreads();
  }
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    int m = m0 + ty * 4 + i;
    if (m >= T)
      continue;
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      int n = n0 + tx * 4 + j;
      if (n < OUT)
        out[(long long)m * OUT + n] = acc[i][j] + (BIAS ? loadVector(bias, n) : 0.0f);
    }
  }
}

// ---- Linear: tensor-core GEMM (bf16 and quantized weights) --------------------------------
// mma.sync m16n8k16 bf16 -> f32. Block tile 128 tokens x 128 outputs x 32 k, 8 warps as 2 x 4
// (64 x 32 each), double-buffered shared memory: plain bf16 weights arrive by cp.async,
// activations (f32) and quantized weights are converted to bf16 on the way in. Fragments come
// through ldmatrix. Requires IN % 8 == 0. grid (ceil(OUT / 128), ceil(T / 128)).

__device__ __forceinline__ unsigned sharedAddress(const void *p) {
  return static_cast<unsigned>(__cvta_generic_to_shared(p));
}
__device__ __forceinline__ void cpAsync16(void *dst, const void *src, bool valid) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(sharedAddress(dst)), "l"(src),
               "r"(valid ? 16 : 0));
}
__device__ __forceinline__ void cpAsyncCommit() { asm volatile("cp.async.commit_group;\n" ::); }
__device__ __forceinline__ void cpAsyncWaitAll() { asm volatile("cp.async.wait_all;\n" ::: "memory"); }
__device__ __forceinline__ void ldmatrixX4(unsigned (&r)[4], const void *p) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(sharedAddress(p)));
}
__device__ __forceinline__ void mmaBf16(float (&c)[4], const unsigned (&a)[4], unsigned b0, unsigned b1) {
  asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, "
               "{%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};\n"
               : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
               : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// Eight consecutive columns k..k+7 (k % 8 == 0) of a packed quantized row as 4 bf16 pairs.
template <int F, int IN>
__device__ __forceinline__ uint4 dequant8(const loom_u8 *row, int k) {
  float v[8];
  if (F == Q8) {
    const unsigned *q = reinterpret_cast<const unsigned *>(row + k);
    unsigned q0 = __ldg(q), q1 = __ldg(q + 1);
    float s = __uint_as_float(__ldg(reinterpret_cast<const unsigned *>(row + IN)));
#pragma unroll
    for (int b = 0; b < 4; ++b) {
      v[b] = float(static_cast<signed char>((q0 >> (8 * b)) & 0xffu)) * s;
      v[4 + b] = float(static_cast<signed char>((q1 >> (8 * b)) & 0xffu)) * s;
    }
  } else {
    constexpr int GROUP = RowLayout<F, IN>::group;
    const int offset = k % 32, high = offset >= 16 ? 4 : 0;
    const unsigned *q = reinterpret_cast<const unsigned *>(row + (k / 32) * 16 + offset % 16);
    unsigned q0 = __ldg(q), q1 = __ldg(q + 1);
    float s = halfToFloat(__ldg(reinterpret_cast<const unsigned short *>(row + IN / 2 + 2 * (k / GROUP))));
#pragma unroll
    for (int b = 0; b < 4; ++b) {
      v[b] = float(int((q0 >> (8 * b + high)) & 15u) - 8) * s;
      v[4 + b] = float(int((q1 >> (8 * b + high)) & 15u) - 8) * s;
    }
  }
  return make_uint4(packBf16(v[0], v[1]), packBf16(v[2], v[3]), packBf16(v[4], v[5]),
                    packBf16(v[6], v[7]));
}

template <int IN, int OUT, bool BIAS, int F>
__device__ void gemmMma(const LoomKernelArgs &a) {
  typedef typename VectorWeight<F>::type VW;
  constexpr int BM = 128, BN = 128, BK = 32, LDS = BK + 8; // rows of 80 bytes: no bank conflicts
  constexpr int KT = (IN + BK - 1) / BK;
  constexpr long long RB = RowLayout<F, IN>::bytes;
  __shared__ __align__(16) loom_bf16 As[2][BM * LDS];
  __shared__ __align__(16) loom_bf16 Bs[2][BN * LDS];
  const float *x = reinterpret_cast<const float *>(a.ptr[0]);
  const loom_u8 *w = reinterpret_cast<const loom_u8 *>(a.ptr[1]);
  const VW *bias = reinterpret_cast<const VW *>(a.ptr[2]);
  float *out = reinterpret_cast<float *>(a.ptr[BIAS ? 3 : 2]);
  const int T = a.tokens;
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int m0 = blockIdx.y * BM, n0 = blockIdx.x * BN;
  const int wm = (warp >> 2) * 64, wn = (warp & 3) * 32;

  float acc[4][4][4];
#pragma unroll
  for (int i = 0; i < 4; ++i)
#pragma unroll
    for (int j = 0; j < 4; ++j)
#pragma unroll
      for (int e = 0; e < 4; ++e)
        acc[i][j][e] = 0.0f;

  float4 aReg[4];
  uint4 bReg[2];
  auto loadA = [&](int kt) {
#pragma unroll
    for (int l = 0; l < 4; ++l) {
      int idx = tid + 256 * l, row = idx >> 3, c = (idx & 7) * 4, k = kt * BK + c;
      aReg[l] = (m0 + row < T && k < IN)
                    ? __ldg(reinterpret_cast<const float4 *>(x + (long long)(m0 + row) * IN + k))
                    : make_float4(0.0f, 0.0f, 0.0f, 0.0f);
    }
  };
  auto storeA = [&](int stage) {
#pragma unroll
    for (int l = 0; l < 4; ++l) {
      int idx = tid + 256 * l, row = idx >> 3, c = (idx & 7) * 4;
      *reinterpret_cast<uint2 *>(&As[stage][row * LDS + c]) =
          make_uint2(packBf16(aReg[l].x, aReg[l].y), packBf16(aReg[l].z, aReg[l].w));
    }
  };
  // Plain bf16: straight to shared memory (zero-filled outside the matrix). Quantized: into
  // registers, converted by storeB.
  auto loadB = [&](int kt, int stage) {
#pragma unroll
    for (int l = 0; l < 2; ++l) {
      int idx = tid + 256 * l, row = idx >> 2, c = (idx & 3) * 8, k = kt * BK + c;
      bool valid = n0 + row < OUT && k < IN;
      const loom_u8 *rowPtr = w + (long long)min(n0 + row, OUT - 1) * RB;
      if (F == BF16)
        cpAsync16(&Bs[stage][row * LDS + c], rowPtr + 2LL * min(k, IN - 8), valid);
      else
        bReg[l] = valid ? dequant8<F, IN>(rowPtr, k) : make_uint4(0u, 0u, 0u, 0u);
    }
  };
  auto storeB = [&](int stage) {
#pragma unroll
    for (int l = 0; l < (F == BF16 ? 0 : 2); ++l) {
      int idx = tid + 256 * l, row = idx >> 2, c = (idx & 3) * 8;
      *reinterpret_cast<uint4 *>(&Bs[stage][row * LDS + c]) = bReg[l];
    }
  };

  loadB(0, 0);
  cpAsyncCommit();
  loadA(0);
  storeA(0);
  storeB(0);
  cpAsyncWaitAll();
  __syncthreads();
  for (int kt = 0; kt < KT; ++kt) {
    const int cur = kt & 1;
    const bool more = kt + 1 < KT;
    if (more) {
      loadB(kt + 1, cur ^ 1);
      cpAsyncCommit();
      loadA(kt + 1);
    }
#pragma unroll
    for (int kk = 0; kk < BK; kk += 16) {
      unsigned af[4][4], bf[4][2];
#pragma unroll
      for (int mi = 0; mi < 4; ++mi)
        ldmatrixX4(af[mi], &As[cur][(wm + mi * 16 + (lane & 15)) * LDS + kk + (lane >> 4) * 8]);
#pragma unroll
      for (int nj = 0; nj < 2; ++nj) {
        unsigned r[4];
        ldmatrixX4(r, &Bs[cur][(wn + nj * 16 + (lane & 7) + ((lane >> 4) << 3)) * LDS + kk +
                               ((lane >> 3) & 1) * 8]);
        bf[2 * nj][0] = r[0];
        bf[2 * nj][1] = r[1];
        bf[2 * nj + 1][0] = r[2];
        bf[2 * nj + 1][1] = r[3];
      }
#pragma unroll
      for (int mi = 0; mi < 4; ++mi)
#pragma unroll
        for (int ni = 0; ni < 4; ++ni)
          mmaBf16(acc[mi][ni], af[mi], bf[ni][0], bf[ni][1]);
    }
    if (more) {
      storeA(cur ^ 1);
      storeB(cur ^ 1);
      cpAsyncWaitAll();
    }
    __syncthreads();
  }

#pragma unroll
  for (int mi = 0; mi < 4; ++mi)
#pragma unroll
    for (int ni = 0; ni < 4; ++ni)
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        int m = m0 + wm + mi * 16 + (lane >> 2) + h * 8;
        if (m >= T)
          continue;
#pragma unroll
        for (int e = 0; e < 2; ++e) {
          int n = n0 + wn + ni * 8 + (lane & 3) * 2 + e;
          if (n < OUT)
            out[(long long)m * OUT + n] = acc[mi][ni][h * 2 + e] + (BIAS ? loadVector(bias, n) : 0.0f);
        }
      }
}

// ---- Attention (flash-style, f32) ----------------------------------------------------------
// A block owns RH query heads of one KV head's group for QT tokens (R = RH * QT rows) and a
// range of keys, walked in chunks of KC keys through shared memory with an online softmax.
// SPLITS > 1 (decode): blockIdx.z takes 1/SPLITS of the keys and writes (acc, max, sum) per row
// to the workspace; attentionCombine merges them. Key index j < nPast reads the cache
// (slot = position % CAP), j >= nPast the call's own k/v. Masks: KernelSpec.h Attention.
// grid (ceil(T / QT), KVH * GROUP / RH, SPLITS), 128 threads, dynamic shared memory
// (R + KC) * (D + 1) + R * KC + 3 * R floats.
template <int QH, int KVH, int D, int WINDOW, int CAP, bool IMG, int RH, int QT, int KC, int SPLITS>
__device__ void attention(const LoomKernelArgs &a, float scale) {
  constexpr int GROUP = QH / KVH, R = RH * QT, NT = 128, DP = D + 1;
  constexpr int ACC = (R * D + NT - 1) / NT;
  extern __shared__ float smem[];
  float *qs = smem;              // [R][DP]
  float *kv = qs + R * DP;       // [KC][DP]: keys, then values
  float *ps = kv + KC * DP;      // [R][KC]: scores, then probabilities
  float *rowMax = ps + R * KC;   // [R]
  float *rowSum = rowMax + R;    // [R]
  float *rowAlpha = rowSum + R;  // [R]

  const float *q = reinterpret_cast<const float *>(a.ptr[0]);
  const float *k = reinterpret_cast<const float *>(a.ptr[1]);
  const float *v = reinterpret_cast<const float *>(a.ptr[2]);
  const int *blockIds = reinterpret_cast<const int *>(a.ptr[3]);
  const int start = *reinterpret_cast<const int *>(a.ptr[4]);
  const float *cacheK = reinterpret_cast<const float *>(a.ptr[5]);
  const float *cacheV = reinterpret_cast<const float *>(a.ptr[6]);
  float *out = reinterpret_cast<float *>(a.ptr[7]);
  const int T = a.tokens, tid = threadIdx.x;

  const int kvh = blockIdx.y / (GROUP / RH);
  const int h0 = kvh * GROUP + (blockIdx.y % (GROUP / RH)) * RH;
  const int t0 = blockIdx.x * QT;
  const int nPast = CAP > 0 ? min(max(start, 0), CAP) : 0;
  const int pastStart = start - nPast;
  const int nKeys = nPast + T;
  // Keys any row of this block may see: causal up to its last token (image blocks may look
  // ahead within the call), the window back from its first.
  const int jHi = IMG ? nKeys : min(nKeys, nPast + t0 + QT);
  const int jLo = WINDOW > 0 ? max(0, nPast + t0 - WINDOW + 1) : 0;
  const int per = (max(jHi - jLo, 0) + SPLITS - 1) / SPLITS;
  const int js = jLo + blockIdx.z * per, je = min(jHi, js + per);

  for (int i = tid; i < R * D; i += NT) {
    int r = i / D, d = i % D, t = t0 + r / RH, h = h0 + r % RH;
    qs[r * DP + d] = t < T ? q[((long long)t * QH + h) * D + d] : 0.0f;
  }
  if (tid < R) {
    rowMax[tid] = -3.402823466e38f;
    rowSum[tid] = 0.0f;
  }
  float acc[ACC];
#pragma unroll
  for (int i = 0; i < ACC; ++i)
    acc[i] = 0.0f;
  __syncthreads();

  for (int jc = js; jc < je; jc += KC) {
    const int nk = min(KC, je - jc);
    for (int i = tid; i < KC * D; i += NT) {
      int kk = i / D, d = i % D, j = jc + kk;
      float value = 0.0f;
      if (kk < nk)
        value = j < nPast ? cacheK[((long long)((pastStart + j) % (CAP > 0 ? CAP : 1)) * KVH + kvh) * D + d]
                          : k[((long long)(j - nPast) * KVH + kvh) * D + d];
      kv[kk * DP + d] = value;
    }
    __syncthreads();
    for (int p = tid; p < R * KC; p += NT) {
      int r = p / KC, kk = p % KC, t = t0 + r / RH, j = jc + kk;
      float s = -__int_as_float(0x7f800000); // -inf: masked, weight exactly 0
      if (kk < nk && t < T) {
        int keyPos = pastStart + j, queryPos = start + t;
        bool visible = keyPos <= queryPos;
        if (IMG)
          visible = visible || (blockIds[t] >= 0 && j >= nPast && blockIds[j - nPast] == blockIds[t]);
        if (WINDOW > 0)
          visible = visible && keyPos > queryPos - WINDOW;
        if (visible) {
          float dot = 0.0f;
#pragma unroll 8
          for (int d = 0; d < D; ++d)
            dot += qs[r * DP + d] * kv[kk * DP + d];
          s = dot * scale;
        }
      }
      ps[p] = s;
    }
    __syncthreads();
    if (tid < R) {
      float old = rowMax[tid], m = old;
      for (int kk = 0; kk < nk; ++kk)
        m = fmaxf(m, ps[tid * KC + kk]);
      float sum = 0.0f;
      for (int kk = 0; kk < KC; ++kk) {
        float e = kk < nk ? expf(ps[tid * KC + kk] - m) : 0.0f;
        ps[tid * KC + kk] = e;
        sum += e;
      }
      float alpha = expf(old - m);
      rowSum[tid] = rowSum[tid] * alpha + sum;
      rowMax[tid] = m;
      rowAlpha[tid] = alpha;
    }
    for (int i = tid; i < KC * D; i += NT) {
      int kk = i / D, d = i % D, j = jc + kk;
      float value = 0.0f;
      if (kk < nk)
        value = j < nPast ? cacheV[((long long)((pastStart + j) % (CAP > 0 ? CAP : 1)) * KVH + kvh) * D + d]
                          : v[((long long)(j - nPast) * KVH + kvh) * D + d];
      kv[kk * DP + d] = value;
    }
    __syncthreads();
#pragma unroll
    for (int i = 0; i < ACC; ++i) {
      int e = tid + NT * i;
      if (R * D % NT != 0 && e >= R * D)
        break;
      int r = e / D, d = e % D;
      float sum = acc[i] * rowAlpha[r];
      for (int kk = 0; kk < nk; ++kk)
        sum += ps[r * KC + kk] * kv[kk * DP + d];
      acc[i] = sum;
    }
    __syncthreads();
  }

#pragma unroll
  for (int i = 0; i < ACC; ++i) {
    int e = tid + NT * i;
    if (R * D % NT != 0 && e >= R * D)
      break;
    int r = e / D, d = e % D, t = t0 + r / RH, h = h0 + r % RH;
    if (t >= T)
      continue;
    if (SPLITS == 1) {
      out[((long long)t * QH + h) * D + d] = acc[i] / rowSum[r];
    } else {
      float *partial = reinterpret_cast<float *>(a.workspace) +
                       (((long long)blockIdx.z * T + t) * QH + h) * (D + 2);
      partial[d] = acc[i];
      if (d == 0) {
        partial[D] = rowMax[r];
        partial[D + 1] = rowSum[r];
      }
    }
  }
}

// out[t, h, d] from SPLITS partial (acc, max, sum) rows. grid.x covers T * QH * D.
template <int QH, int D, int SPLITS>
__device__ void attentionCombine(const LoomKernelArgs &a) {
  long long i = elementIndex();
  const int T = a.tokens;
  if (i >= (long long)T * QH * D)
    return;
  long long row = i / D;
  int d = int(i % D);
  const float *ws = reinterpret_cast<const float *>(a.workspace);
  float m = -3.402823466e38f;
#pragma unroll 4
  for (int s = 0; s < SPLITS; ++s)
    m = fmaxf(m, ws[((long long)s * T * QH + row) * (D + 2) + D]);
  float num = 0.0f, den = 0.0f;
#pragma unroll 4
  for (int s = 0; s < SPLITS; ++s) {
    const float *p = ws + ((long long)s * T * QH + row) * (D + 2);
    float weight = p[D + 1] > 0.0f ? expf(p[D] - m) : 0.0f;
    num += p[d] * weight;
    den += p[D + 1] * weight;
  }
  reinterpret_cast<float *>(a.ptr[7])[i] = num / den;
}

} // namespace loom

extern "C" __global__ void __launch_bounds__(256) loom_kv_write(LoomKernelArgs a) { loom::kvWrite(a); }
