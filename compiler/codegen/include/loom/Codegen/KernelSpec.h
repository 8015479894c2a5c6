// What one generated kernel computes: the contract between the MLIR side (which derives a
// KernelSpec from each outlined loom.kernel) and the Halide side (which generates its code).
//
// Calling convention (the runtime relies on it): every kernel is exported as
// `<symbol>_argv(void **args)`, args in the order given below for its kind, outputs last.
// Buffers are halide_buffer_t*; shapes below are row-major ([T, N] means N is contiguous),
// T (the token count of the call) is the only run-time extent. Activations are f32; weights
// are `weightType` and widened to f32 inside the kernel.
#pragma once

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

namespace loom::codegen {

enum class ElementType { F32, BF16 };

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
// imageBlocks is false on Gemma 4's full layers, which stay causal for image tokens.
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

using KernelParams = std::variant<EmbedTokens, RmsNorm, LayerNorm, Linear, Rope, Attention,
                                  GeGlu, Add, Scale, Softcap, VisionPositionAdd>;

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
// returns its bytes. `workDir` holds the intermediate objects. Throws loom::Error.
std::vector<uint8_t> buildKernelLibrary(const std::vector<KernelSpec> &kernels,
                                        const std::string &halideTarget,
                                        const std::string &workDir);

} // namespace loom::codegen

// ---- Additions (helpers; the contract above is unchanged) ----------------------------------

namespace loom::codegen {

// One argument of a kernel's `_argv` entry point, in order (outputs last).
struct KernelArgInfo {
  enum class Kind { Input, Scalar, Output };
  enum class DType { F32, BF16, I32 };
  std::string name;
  Kind kind;
  DType dtype;
  int dims; // Halide dimensions (0 for scalars); dim 0 is the innermost (contiguous) one
};
// The `_argv` argument list of a kernel (the same order buildKernelLibrary generates).
std::vector<KernelArgInfo> kernelArguments(const KernelSpec &spec);

// Loom target name -> Halide target string. "x86-64" (AVX2+FMA), "x86-64-avx512",
// "x86-64-avx512-vnni-bf16", or "host" (the best of those for the running CPU, chosen with
// __builtin_cpu_supports). Always adds nothing else; buildKernelLibrary adds no_runtime and
// large_buffers itself. Throws loom::Error for an unknown name, listing the supported ones.
std::string halideTargetFor(const std::string &loomTarget);
// The __builtin_cpu_supports names a CPU must have to run code built for `loomTarget`.
std::vector<std::string> cpuFeaturesFor(const std::string &loomTarget);
// "host" resolved to a concrete Loom target name; other names are returned as they are.
std::string resolveLoomTarget(const std::string &loomTarget);

} // namespace loom::codegen
