// KernelSpec -> CUDA C++: one __global__ wrapper per launch, instantiating LoomKernels.cuh with
// the spec's constants, and the launch table the runtime follows. Specs that describe the same
// kernel (e.g. the same projection in every layer) share one set of GPU functions.
#include "loom/CodegenCuda/CudaCodegen.h"

#include "loom/Error.h"
#include "loom/QuantLayout.h"

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdio>
#include <map>
#include <sstream>

namespace loom::codegen::cuda {

extern const char *const kKernelTemplates; // kernels/LoomKernels.cuh (generated .cpp)

namespace {

using loom::cuda::GridExtent;
using loom::cuda::Launch;
using loom::cuda::Variant;

template <class... Ts> struct Overloaded : Ts... { using Ts::operator()...; };
template <class... Ts> Overloaded(Ts...) -> Overloaded<Ts...>;

constexpr int kElementThreads = 256;

// An exact f32 literal (hex float): the GPU computes with the same constant as the CPU kernel.
std::string floatLiteral(double value) {
  char text[64];
  std::snprintf(text, sizeof text, "%a", double(float(value)));
  return std::string(text) + "f";
}

int formatOf(ElementType type) {
  switch (type) {
  case ElementType::F32:
    return 0;
  case ElementType::BF16:
    return 1;
  case ElementType::Q8:
    return 2;
  case ElementType::Q4G32:
    return 3;
  case ElementType::Q4G128:
    return 4;
  }
  fail("CUDA codegen: unknown weight type ", int(type));
}

bool isQuantized(ElementType type) {
  return type == ElementType::Q8 || type == ElementType::Q4G32 || type == ElementType::Q4G128;
}

// Bytes of one stored row of a [rows, cols] matrix weight.
uint64_t rowBytes(ElementType type, int64_t cols) {
  switch (type) {
  case ElementType::F32:
    return 4 * uint64_t(cols);
  case ElementType::BF16:
    return 2 * uint64_t(cols);
  case ElementType::Q8:
    return quant::q8RowBytes(cols);
  case ElementType::Q4G32:
    return quant::q4RowBytes(cols, 32);
  case ElementType::Q4G128:
    return quant::q4RowBytes(cols, 128);
  }
  return 0;
}

int checkedInt(const std::string &symbol, const char *what, int64_t value) {
  if (value < 0 || value > INT_MAX)
    fail("CUDA codegen: kernel ", symbol, ": ", what, " = ", value, " is out of range");
  return int(value);
}

GridExtent perToken(int64_t elementsPerToken, int64_t divisor) { return {elementsPerToken, 0, divisor}; }
GridExtent fixed(int64_t count) { return {0, count, 1}; }

struct Builder {
  std::ostringstream code;
  std::map<std::string, std::vector<Variant>> bySignature; // dedup of identical specs

  // Emits `extern "C" __global__ void name(LoomKernelArgs a) { body }`.
  Launch launch(const std::string &name, int threads, const std::string &body, GridExtent x,
                GridExtent y = fixed(1), GridExtent z = fixed(1), uint32_t sharedBytes = 0) {
    code << "extern \"C\" __global__ void __launch_bounds__(" << threads << ") " << name
         << "(LoomKernelArgs a) {\n  " << body << "\n}\n";
    Launch l;
    l.function = name;
    l.grid[0] = x;
    l.grid[1] = y;
    l.grid[2] = z;
    l.block[0] = uint32_t(threads);
    l.sharedBytes = sharedBytes;
    return l;
  }

  Variant elementwise(const std::string &name, const std::string &body, int64_t perTokenElements) {
    Variant v;
    v.launches.push_back(launch(name, kElementThreads, body, perToken(perTokenElements, kElementThreads)));
    return v;
  }

  std::vector<Variant> generate(const KernelSpec &spec) {
    const std::string &s = spec.symbol;
    const int F = formatOf(spec.weightType);
    const std::string f = std::to_string(F);
    return std::visit(
        Overloaded{
            [&](const EmbedTokens &p) -> std::vector<Variant> {
              int vocab = checkedInt(s, "vocab", p.vocab), width = checkedInt(s, "width", p.width);
              return {elementwise(s + "_embed",
                                  "loom::embedTokens<" + std::to_string(vocab) + ", " +
                                      std::to_string(width) + ", " + f + ">(a, " +
                                      floatLiteral(p.scale) + ");",
                                  width)};
            },
            [&](const RmsNorm &p) -> std::vector<Variant> {
              int groups = checkedInt(s, "groups", p.groups), width = checkedInt(s, "width", p.width);
              Variant v;
              v.launches.push_back(launch(
                  s + "_rms_norm", 128,
                  "loom::rmsNorm<" + std::to_string(groups) + ", " + std::to_string(width) + ", " +
                      (p.hasWeight ? "true" : "false") + ", " + f + ">(a, " + floatLiteral(p.eps) + ");",
                  perToken(groups, 4)));
              return {v};
            },
            [&](const LayerNorm &p) -> std::vector<Variant> {
              int width = checkedInt(s, "width", p.width);
              Variant v;
              v.launches.push_back(launch(s + "_layer_norm", 128,
                                          "loom::layerNorm<" + std::to_string(width) + ", " + f +
                                              ">(a, " + floatLiteral(p.eps) + ");",
                                          perToken(1, 4)));
              return {v};
            },
            [&](const Linear &p) { return linear(spec, p); },
            [&](const Rope &p) -> std::vector<Variant> {
              if (p.headDim % 2 != 0 || p.rotatedPairs < 0 || p.rotatedPairs > p.headDim / 2)
                fail("CUDA codegen: kernel ", s, ": rope head_dim ", p.headDim,
                     " must be even and rotated_pairs ", p.rotatedPairs, " at most head_dim/2");
              int heads = checkedInt(s, "heads", p.heads), dim = checkedInt(s, "head_dim", p.headDim);
              code << "__constant__ float " << s << "_inv_freq[" << std::max(dim / 2, 1) << "] = {";
              for (int j = 0; j < dim / 2; ++j)
                code << (j ? ", " : "")
                     << floatLiteral(j < p.rotatedPairs ? std::pow(p.theta, -2.0 * j / double(dim)) : 0.0);
              code << "};\n";
              return {elementwise(s + "_rope",
                                  "loom::rope<" + std::to_string(heads) + ", " + std::to_string(dim) +
                                      ">(a, " + s + "_inv_freq);",
                                  int64_t(heads) * dim)};
            },
            [&](const Attention &p) { return attention(spec, p); },
            [&](const GeGlu &p) -> std::vector<Variant> {
              int width = checkedInt(s, "width", p.width);
              return {elementwise(s + "_geglu", "loom::geglu<" + std::to_string(width) + ">(a);", width)};
            },
            [&](const Add &p) -> std::vector<Variant> {
              int width = checkedInt(s, "width", p.width);
              return {elementwise(s + "_add", "loom::add<" + std::to_string(width) + ">(a);", width)};
            },
            [&](const Scale &p) -> std::vector<Variant> {
              int width = checkedInt(s, "width", p.width);
              return {elementwise(s + "_scale",
                                  "loom::scale<" + std::to_string(width) + ", " + f + ">(a);", width)};
            },
            [&](const Softcap &p) -> std::vector<Variant> {
              int width = checkedInt(s, "width", p.width);
              return {elementwise(s + "_softcap",
                                  "loom::softcap<" + std::to_string(width) + ">(a, " +
                                      floatLiteral(p.cap) + ");",
                                  width)};
            },
            [&](const VisionPositionAdd &p) -> std::vector<Variant> {
              int width = checkedInt(s, "width", p.width);
              int table = checkedInt(s, "table_size", p.tableSize);
              if (table <= 0)
                fail("CUDA codegen: kernel ", s, ": vision_position_add needs table_size > 0");
              return {elementwise(s + "_vision_position_add",
                                  "loom::visionPositionAdd<" + std::to_string(width) + ", " +
                                      std::to_string(table) + ", " + f + ">(a);",
                                  width)};
            },
            [&](const auto &) -> std::vector<Variant> {
              fail("CUDA codegen: kernel ", s, ": kind '", kindName(spec),
                   "' has no CUDA kernel yet (", describe(spec), ")");
            },
        },
        spec.params);
  }

  // GEMV for 1 and up to 8 tokens where the rows allow vector loads; a tensor-core GEMM
  // (bf16 and quantized weights) or an exact-f32 SIMT GEMM (f32 weights) beyond.
  std::vector<Variant> linear(const KernelSpec &spec, const Linear &p) {
    const std::string &s = spec.symbol;
    const ElementType type = spec.weightType;
    int in = checkedInt(s, "in", p.in), out = checkedInt(s, "out", p.out);
    if (in == 0 || out == 0)
      fail("CUDA codegen: kernel ", s, ": linear with in = ", in, " and out = ", out);
    if (type == ElementType::Q4G32 && in % 32 != 0)
      fail("CUDA codegen: kernel ", s, ": q4g32 weights need in % 32 == 0, found in = ", in);
    if (type == ElementType::Q4G128 && in % 128 != 0)
      fail("CUDA codegen: kernel ", s, ": q4g128 weights need in % 128 == 0, found in = ", in);
    const uint64_t bytes = rowBytes(type, in);
    const bool rowsWordAligned = bytes % 4 == 0;
    bool vectorRows = false;
    switch (type) {
    case ElementType::F32:
      vectorRows = in % 4 == 0;
      break;
    case ElementType::BF16:
      vectorRows = in % 8 == 0;
      break;
    case ElementType::Q8:
      vectorRows = in % 4 == 0 && rowsWordAligned;
      break;
    default:
      vectorRows = rowsWordAligned;
      break;
    }
    const bool tensorCores = type != ElementType::F32 && in % 8 == 0 &&
                             (type == ElementType::BF16 || rowsWordAligned);
    const std::string shape = std::to_string(in) + ", " + std::to_string(out) + ", " +
                              (p.hasBias ? "true" : "false") + ", " +
                              std::to_string(formatOf(type));
    std::vector<Variant> variants;
    if (vectorRows) {
      for (auto [tmax, rows] : {std::pair{1, 4}, std::pair{8, 2}}) {
        Variant v;
        v.maxTokens = tmax;
        v.launches.push_back(launch(s + "_gemv" + std::to_string(tmax), 128,
                                    "loom::gemv<" + shape + ", " + std::to_string(tmax) + ", " +
                                        std::to_string(rows) + ">(a);",
                                    fixed((out + 4 * rows - 1) / (4 * rows))));
        variants.push_back(std::move(v));
      }
    }
    Variant gemm;
    if (tensorCores)
      gemm.launches.push_back(launch(s + "_gemm_mma", 256, "loom::gemmMma<" + shape + ">(a);",
                                     fixed((out + 127) / 128), perToken(1, 128)));
    else
      gemm.launches.push_back(launch(s + "_gemm_simt", 256, "loom::gemmSimt<" + shape + ">(a);",
                                     fixed((out + 63) / 64), perToken(1, 64)));
    variants.push_back(std::move(gemm));
    return variants;
  }

  // Flash-style attention: a decode variant splitting the keys over blocks (merged by a
  // combine kernel through the workspace) and a prefill variant of query tiles.
  std::vector<Variant> attention(const KernelSpec &spec, const Attention &p) {
    const std::string &s = spec.symbol;
    if (p.qHeads <= 0 || p.kvHeads <= 0 || p.qHeads % p.kvHeads != 0)
      fail("CUDA codegen: kernel ", s, ": q_heads ", p.qHeads, " must be a positive multiple of kv_heads ",
           p.kvHeads);
    if (p.window < 0 || p.capacity < 0)
      fail("CUDA codegen: kernel ", s, ": window ", p.window, " and capacity ", p.capacity,
           " must be >= 0");
    const int qh = checkedInt(s, "q_heads", p.qHeads), kvh = checkedInt(s, "kv_heads", p.kvHeads);
    const int d = checkedInt(s, "head_dim", p.headDim);
    const int window = checkedInt(s, "window", p.window), cap = checkedInt(s, "capacity", p.capacity);
    const int group = qh / kvh;
    constexpr int kQueryFloats = 4096, kMaxRows = 16, kSharedLimit = 48 * 1024;
    int rh = 1;
    for (int c = 1; c <= std::min(group, kMaxRows); ++c)
      if (group % c == 0 && int64_t(c) * d <= kQueryFloats)
        rh = c;
    auto sharedBytes = [&](int rows, int kc) {
      return 4 * ((rows + kc) * (d + 1) + rows * kc + 3 * rows);
    };
    auto keyChunk = [&](int rows) {
      for (int kc : {32, 16, 8, 4, 2, 1})
        if (kc * (d + 1) * 4 <= 16384 && sharedBytes(rows, kc) <= kSharedLimit)
          return kc;
      fail("CUDA codegen: kernel ", s, ": attention head_dim ", d,
           " needs more than 48 KiB of shared memory per block");
    };
    const int qt = std::max(1, std::min(kMaxRows / rh, kQueryFloats / std::max(rh * d, 1)));
    const int blocksPerToken = kvh * (group / rh);
    const int splits = std::clamp(128 / std::max(blocksPerToken, 1), 1, 64);
    const std::string common = std::to_string(qh) + ", " + std::to_string(kvh) + ", " +
                               std::to_string(d) + ", " + std::to_string(window) + ", " +
                               std::to_string(cap) + ", " + (p.imageBlocks ? "true" : "false") +
                               ", " + std::to_string(rh);
    const std::string scale = floatLiteral(p.scale);
    std::vector<Variant> variants;
    if (splits > 1) {
      const int kc = keyChunk(rh);
      Variant decode;
      decode.maxTokens = 1;
      decode.workspaceBytesPerToken = uint64_t(splits) * qh * (d + 2) * 4;
      decode.launches.push_back(launch(
          s + "_attention_split", 128,
          "loom::attention<" + common + ", 1, " + std::to_string(kc) + ", " + std::to_string(splits) +
              ">(a, " + scale + ");",
          perToken(1, 1), fixed(blocksPerToken), fixed(splits), uint32_t(sharedBytes(rh, kc))));
      decode.launches.push_back(launch(s + "_attention_combine", kElementThreads,
                                       "loom::attentionCombine<" + std::to_string(qh) + ", " +
                                           std::to_string(d) + ", " + std::to_string(splits) + ">(a);",
                                       perToken(int64_t(qh) * d, kElementThreads)));
      variants.push_back(std::move(decode));
    }
    const int kc = keyChunk(rh * qt);
    Variant prefill;
    prefill.launches.push_back(launch(s + "_attention", 128,
                                      "loom::attention<" + common + ", " + std::to_string(qt) + ", " +
                                          std::to_string(kc) + ", 1>(a, " + scale + ");",
                                      perToken(1, qt), fixed(blocksPerToken), fixed(1),
                                      uint32_t(sharedBytes(rh * qt, kc))));
    variants.push_back(std::move(prefill));
    return variants;
  }
};

// What makes two specs the same kernel: everything but the symbol.
std::string signatureOf(const KernelSpec &spec) {
  return describe(spec) + " fmt=" + std::to_string(formatOf(spec.weightType));
}

} // namespace

GeneratedModule generateCudaSource(const std::vector<KernelSpec> &kernels) {
  Builder builder;
  builder.code << kKernelTemplates << "\n// ---- Generated for this model ----\n";
  GeneratedModule module;
  for (const KernelSpec &spec : kernels) {
    std::string signature = signatureOf(spec);
    auto found = builder.bySignature.find(signature);
    if (found == builder.bySignature.end())
      found = builder.bySignature.emplace(signature, builder.generate(spec)).first;
    module.kernels.push_back({spec.symbol, found->second});
  }
  module.source = builder.code.str();
  return module;
}

bool isCudaTarget(const std::string &loomTarget) { return loomTarget.rfind("cuda:", 0) == 0; }

CudaTarget cudaTargetFor(const std::string &loomTarget) {
  for (const char *arch : {"sm_80", "sm_90a"})
    if (loomTarget == std::string("cuda:") + arch) {
      std::string virtualArch = std::string("compute_") + (arch + 3);
      return {loomTarget, arch, virtualArch};
    }
  fail("unknown CUDA target '", loomTarget, "'; supported CUDA targets: cuda:sm_80, cuda:sm_90a");
}

std::vector<uint8_t> buildCudaKernelBundle(const std::vector<KernelSpec> &kernels,
                                           const std::string &loomTarget) {
  CudaTarget target = cudaTargetFor(loomTarget);
  GeneratedModule module = generateCudaSource(kernels);
  std::vector<uint8_t> cubin = compileToCubin(module.source, target);
  std::string ptx = compileToPtx(module.source, target);
  loom::cuda::KernelBundle bundle;
  bundle.target = target.name;
  bundle.producer = "loom-compile, " + nvrtcVersion();
  bundle.kvWriteFunction = "loom_kv_write";
  bundle.kernels = std::move(module.kernels);
  bundle.images = {{"cubin", target.arch, 0, 0}, {"ptx", target.virtualArch, 0, 0}};
  std::vector<uint8_t> ptxBytes(ptx.begin(), ptx.end());
  ptxBytes.push_back(0); // cuModuleLoadData takes PTX as a NUL-terminated string
  return loom::cuda::writeKernelBundle(std::move(bundle), {std::move(cubin), std::move(ptxBytes)});
}

} // namespace loom::codegen::cuda
