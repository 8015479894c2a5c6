// What one generated kernel computes: the contract between the MLIR side (which derives a
// KernelSpec from each outlined loom.kernel) and the Halide side (which generates its code).
//
// Calling convention (the runtime relies on it): every kernel is exported as
// `<symbol>_argv(void **args)`, args in the order given below for its kind, outputs last.
// Buffers are halide_buffer_t*; shapes below are row-major ([T, N] means N is contiguous),
// T (the token count of the call) is the only run-time extent. Activations are f32; weights
// are `weightType` and widened to f32 inside the kernel.
//
// Quantized weight types (Q8, Q4G32, Q4G128) apply to the kernel's matrix weight only (the
// linear weight, the embedding table): it is passed as ONE u8 buffer [rows, packedRowBytes]
// holding the quantized values and their scales row by row (runtime/include/loom/QuantLayout.h;
// kernels read it through compiler/codegen/src/WeightAccess.h). The kernel's other weights
// (bias, norm vectors, scalars, position tables) are f32 in those modes.
#pragma once

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

namespace loom::codegen {

// F32, BF16: plain; Q8: int8 per output row + f32 scale; Q4G32 / Q4G128: int4 with an f16
// scale per 32 / 128 columns.
enum class ElementType { F32, BF16, Q8, Q4G32, Q4G128 };
// "f32", "bf16", "q8", "q4g32", "q4g128" (loom-compile's --quant names), and back; parsing
// throws loom::Error for any other name.
const char *elementTypeName(ElementType type);
ElementType parseElementType(const std::string &name);

// ids i32[T], table w[vocab, width] -> out f32[T, width] = table[ids] * scale.
struct EmbedTokens { int64_t vocab, width; double scale; };
// x[T, groups, width] (, weight w[width]) -> x * (mean(x^2) + eps)^-0.5 (* weight).
struct RmsNorm { int64_t groups, width; bool hasWeight; double eps; };
// x[T, width], weight w[width], bias w[width] -> y; biased variance.
struct LayerNorm { int64_t width; double eps; };
// x[T, in], weight w[out, in] (, bias w[out]) -> y[T, out] = x W^T (+ bias).
struct Linear { int64_t in, out; bool hasBias; };
// x[T, heads, headDim], startPos i32 -> y. Split-half (NeoX) rotation: pair (j, j + headDim/2)
// rotates by angle (startPos + t) * invFreq[j] with invFreq[j] = float(theta^(-2j/headDim)) for
// j < rotatedPairs and 0 (pass through) otherwise. The angle product is computed in f32.
struct Rope { int64_t heads, headDim; double theta; int64_t rotatedPairs; };
// q[T, qHeads, headDim], k[T, kvHeads, headDim], v[T, kvHeads, headDim], blockIds i32[T],
// startPos i32, cacheKeys[capacity, kvHeads, headDim], cacheValues[...] -> out[T, qHeads, headDim].
// Keys are the positions before startPos still in the cache (slot = position % capacity) and
// the call's own k/v. Query t (position startPos + t) sees key p iff
//   (p <= startPos + t  OR  (imageBlocks and blockIds[t] >= 0 and p is in the call with
//                            blockIds[p - startPos] == blockIds[t]))
//   AND (window == 0 OR p > startPos + t - window).
// Softmax in f32 of scale * q.k; query head h reads kv head h / (qHeads / kvHeads).
// imageBlocks is false on Gemma 4's full layers, which stay causal for image tokens. An image
// block is one run of consecutive tokens with one id (the runtime numbers each image and video
// frame): the kernel reads no key beyond the end of its query's run.
struct Attention {
  int64_t qHeads, kvHeads, headDim, window, capacity;
  double scale;
  bool imageBlocks = true;
};
// gate f32[T, width], up f32[T, width] -> gelu_tanh(gate) * up.
struct GeGlu { int64_t width; };
// a f32[T, width], b f32[T, width] -> a + b.
struct Add { int64_t width; };
// x f32[T, width], scalar w[1] -> x * scalar[0].
struct Scale { int64_t width; };
// x f32[T, width] -> cap * tanh(x / cap).
struct Softcap { int64_t width; double cap; };
// x f32[T, width], positions i32[T, 2] as (column, row), table w[tableSize, 2, width]
// -> x + table[column, 0] + table[row, 1]; a position of -1 adds nothing.
struct VisionPositionAdd { int64_t width, tableSize; };

// ---- Fused kernels (src/FusedPipelines.cpp), made by the fusion passes (passes/lib/Fuse*) ----
// Each computes what the graph ops it replaces compute, with the same f32 expressions, so the
// fused and unfused programs agree to floating-point reassociation.

// The norm a fused projection applies to its input rows x[T, width] first, exactly as the
// RmsNorm / LayerNorm kernels do: RMSNorm (scaled by norm_weight when hasWeight) or LayerNorm
// (norm_weight and norm_bias). Its weights come right after x in the argument list.
struct InputNorm {
  enum class Kind { None, Rms, Layer };
  Kind kind = Kind::None;
  bool hasWeight = false; // Rms only; a LayerNorm always has weight and bias
  double eps = 0;
};
// x f32[T, in] (, norm weights), weight0 w[outs[0], in], weight1 ..., (bias0 w[outs[0]],
// bias1 ... when hasBias) -> out0 f32[T, outs[0]], out1 ...: out_i = norm(x) W_i^T (+ bias_i).
struct FusedLinear {
  int64_t in;
  std::vector<int64_t> outs;
  InputNorm norm;
  bool hasBias = false;
};
// x f32[T, in] (, norm weights: Rms only), gate_weight w[width, in], up_weight w[width, in]
// -> out f32[T, width] = gelu_tanh(x' Wg^T) * (x' Wu^T).
struct GegluLinear { int64_t in, width; InputNorm norm; };
// x f32[T, in] (, norm weights: Rms only), q_weight w[qHeads*headDim, in], k_weight
// w[kvHeads*headDim, in], (v_weight w[kvHeads*headDim, in] when hasValueProjection),
// q_norm_weight w[headDim], (k_norm_weight w[headDim] unless rawKey), positions i32[T] (each
// token's own) -> query f32[T, qHeads, headDim], key f32[T, kvHeads, headDim] (, value
// f32[T, kvHeads, headDim] unless rawKey). query = rope(rms_norm(x' Wq^T per head, q_norm)), key likewise with
// k_norm, value = rms_norm(x' Wv^T per head) unscaled (x' Wk^T without v_weight); the head norms
// use headEps and RoPE is the Rope kernel's (theta, rotatedPairs). With rawKey, key = x' Wk^T.
struct AttentionInput {
  int64_t in, qHeads, kvHeads, headDim;
  InputNorm norm;
  bool hasValueProjection = true, rawKey = false;
  double headEps, theta;
  int64_t rotatedPairs;
};
// q f32[T, qHeads, headDim], raw_k f32[T, kvHeads, headDim], k_norm_weight w[headDim],
// block_ids i32[T], start_pos i32, cache_keys f32[capacity, kvHeads, headDim] (raw keys)
// -> out f32[T, qHeads, headDim]: Attention with key = rope(rms_norm(raw, k_norm_weight)) and
// value = rms_norm(raw) unscaled (eps; RoPE of the Rope kernel at the key's position).
struct RawKeyAttention {
  Attention attention;
  double eps, theta;
  int64_t rotatedPairs;
};
// x f32[T, in], weight w[out, in], norm_weight w[out], residual f32[T, out] (, scalar w[1])
// -> out f32[T, out] = (residual + rms_norm(x W^T, norm_weight, eps)) (* scalar[0]).
struct LinearResidual { int64_t in, out; double eps; bool hasScalar = false; };
// patches f32[T, patchDim], positions i32[T, 2], ln1_weight w[patchDim], ln1_bias w[patchDim],
// dense_weight w[width, patchDim], dense_bias w[width], ln2_weight w[width], ln2_bias w[width],
// position_table w[tableSize, 2, width], pos_norm_weight w[width], pos_norm_bias w[width],
// projection_weight w[outWidth, width] -> out f32[T, outWidth]
//   = rms_norm(LN(LN(LN(patches) Wd^T + bd) + VisionPositionAdd)) Wp^T (LN eps lnEps, RMS
//     unscaled with rmsEps).
struct PatchEmbed { int64_t patchDim, width, outWidth, tableSize; double lnEps, rmsEps; };

using KernelParams = std::variant<EmbedTokens, RmsNorm, LayerNorm, Linear, Rope, Attention,
                                  GeGlu, Add, Scale, Softcap, VisionPositionAdd, FusedLinear,
                                  GegluLinear, AttentionInput, RawKeyAttention, LinearResidual,
                                  PatchEmbed>;

struct KernelSpec {
  std::string symbol;   // a C identifier, unique in the library
  ElementType weightType = ElementType::F32;
  KernelParams params;
};

// "linear in=64 out=128 bias=0 weights=bf16": what loom-inspect prints for a kernel.
std::string describe(const KernelSpec &spec);
// The kind name used in the manifest: "linear", "rms_norm", ...
std::string kindName(const KernelSpec &spec);

// Generates every kernel for `halideTarget` (a Halide target string, e.g.
// "x86-64-linux-avx-avx2-f16c-fma-sse41") into one shared library with one Halide runtime, and
// returns its bytes. `workDir` holds the intermediate objects. The products' schedules take
// `tuning`'s parameters (Tuning.h), or the target's checked-in defaults when it is null.
// Throws loom::Error.
class Tuning;
std::vector<uint8_t> buildKernelLibrary(const std::vector<KernelSpec> &kernels,
                                        const std::string &halideTarget,
                                        const std::string &workDir,
                                        const Tuning *tuning = nullptr);

} // namespace loom::codegen

// ---- Additions (helpers; the contract above is unchanged) ----------------------------------

namespace loom::codegen {

// One argument of a kernel's `_argv` entry point, in order (outputs last).
struct KernelArgInfo {
  enum class Kind { Input, Scalar, Output };
  enum class DType { F32, BF16, I32, U8 }; // U8: a packed quantized matrix
  std::string name;
  Kind kind;
  DType dtype;
  int dims; // Halide dimensions (0 for scalars); dim 0 is the innermost (contiguous) one
};
// The `_argv` argument list of a kernel (the same order buildKernelLibrary generates).
std::vector<KernelArgInfo> kernelArguments(const KernelSpec &spec);

// A Loom CPU target: the exact set of CPU features its code may use (src/Targets.cpp).
struct CpuTarget {
  std::string name;                     // x86-64-v3, x86-64-v4, zen4, ...
  std::string halideTarget;             // without no_runtime / large_buffers (added by the build)
  std::vector<std::string> cpuFeatures; // __builtin_cpu_supports names, all required
};
// Every CPU target, least to most capable.
const std::vector<CpuTarget> &cpuTargets();
// A target by name: one of cpuTargets(), an old alias (x86-64 = x86-64-v3, x86-64-avx512 =
// x86-64-v4) or "host". Throws loom::Error for an unknown or retired name, with a hint.
const CpuTarget &cpuTarget(const std::string &name);
// Whether the running CPU has every feature of `target`.
bool cpuCanRun(const CpuTarget &target);
// "host" resolved to the most capable target this CPU can run; other names to their canonical
// one.
std::string resolveLoomTarget(const std::string &loomTarget);
// A --target list ("x86-64-v3,zen4", "portable", "host") resolved, least to most capable.
std::vector<std::string> resolveLoomTargets(const std::string &list);
// cpuTarget(loomTarget).halideTarget and .cpuFeatures.
std::string halideTargetFor(const std::string &loomTarget);
std::vector<std::string> cpuFeaturesFor(const std::string &loomTarget);
// The Loom target whose Halide target string is `halideTarget`; empty when none is.
std::string loomTargetForHalide(const std::string &halideTarget);

// What emitKernel writes: the target's assembly, Halide's lowered statement (loops, vectors,
// allocations) or an object file.
enum class KernelOutput { Assembly, LoweredStmt, Object };
// Generates one kernel exactly as buildKernelLibrary does (same pipeline, schedule and target
// features and tuning) and writes it to `path`, for inspection and the codegen FileCheck tests.
// Throws loom::Error.
void emitKernel(const KernelSpec &spec, const std::string &halideTarget, KernelOutput output,
                const std::string &path, const Tuning *tuning = nullptr);

} // namespace loom::codegen
