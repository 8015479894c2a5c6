// loom-bench-cuda: Loom's generated CUDA kernels at the Gemma 4 12B shapes, on the GPU, against
// the two references of the same run: the measured device-to-device copy bandwidth (the roofline
// of the memory-bound decode GEMV) and cuBLAS (bf16 GEMM, f32 accumulation) for prefill. Every
// timed kernel is first checked against a host or cuBLAS result on random data.
//
//   loom-bench-cuda [--json FILE] [--quick]
//
// Needs a GPU (links the driver API and cuBLAS); built only where CMake found the CUDA toolkit.
#include "loom/CodegenCuda/CudaCodegen.h"
#include "loom/Cuda/KernelBundle.h"
#include "loom/QuantLayout.h"

#include <cublas_v2.h>
#include <cuda.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

using namespace loom;
namespace gen = loom::codegen::cuda;

namespace {

void check(CUresult result, const char *what) {
  if (result != CUDA_SUCCESS) {
    const char *name = "?";
    cuGetErrorName(result, &name);
    throw std::runtime_error(std::string(what) + " failed: " + name);
  }
}
void checkBlas(cublasStatus_t status, const char *what) {
  if (status != CUBLAS_STATUS_SUCCESS)
    throw std::runtime_error(std::string(what) + " failed: cuBLAS status " + std::to_string(int(status)));
}
#define CU(call) check(call, #call)

uint16_t toBf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return uint16_t((u + 0x7fff + ((u >> 16) & 1)) >> 16);
}
float fromBf16(uint16_t b) {
  uint32_t u = uint32_t(b) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
uint16_t toHalf(float f) { // round to nearest, normal range only (scales are small positives)
  uint32_t u;
  std::memcpy(&u, &f, 4);
  int exponent = int((u >> 23) & 0xff) - 127 + 15;
  uint32_t mantissa = u & 0x7fffff;
  if (exponent <= 0)
    return uint16_t((u >> 16) & 0x8000);
  uint32_t h = ((u >> 16) & 0x8000) | (uint32_t(exponent) << 10) | (mantissa >> 13);
  if ((mantissa & 0x1fff) > 0x1000 || ((mantissa & 0x1fff) == 0x1000 && (h & 1)))
    ++h;
  return uint16_t(h);
}
float fromHalf(uint16_t h) {
  int exponent = (h >> 10) & 0x1f;
  float m = float(h & 0x3ff) / 1024.0f;
  float v = exponent == 0 ? std::ldexp(m, -14) : std::ldexp(1.0f + m, exponent - 15);
  return (h & 0x8000) ? -v : v;
}

enum class Format { BF16, Q8, Q4G32 };
const char *formatName(Format f) { return f == Format::BF16 ? "bf16" : f == Format::Q8 ? "q8" : "q4g32"; }
codegen::ElementType elementType(Format f) {
  return f == Format::BF16 ? codegen::ElementType::BF16
                           : f == Format::Q8 ? codegen::ElementType::Q8 : codegen::ElementType::Q4G32;
}

// A random [rows, cols] weight in `format` (QuantLayout.h) and its exact f32 values.
struct Weight {
  std::vector<uint8_t> bytes;
  std::vector<float> values;
};
Weight makeWeight(Format format, int64_t rows, int64_t cols, std::mt19937 &rng) {
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  Weight w;
  w.values.resize(size_t(rows * cols));
  if (format == Format::BF16) {
    w.bytes.resize(size_t(rows * cols * 2));
    auto *out = reinterpret_cast<uint16_t *>(w.bytes.data());
    for (int64_t i = 0; i < rows * cols; ++i) {
      out[i] = toBf16(uniform(rng) * 0.05f);
      w.values[i] = fromBf16(out[i]);
    }
    return w;
  }
  if (format == Format::Q8) {
    uint64_t rb = quant::q8RowBytes(cols);
    w.bytes.resize(size_t(rb * rows));
    for (int64_t r = 0; r < rows; ++r) {
      float scale = 0.001f * (1.0f + float(r % 7));
      uint8_t *row = w.bytes.data() + r * rb;
      for (int64_t c = 0; c < cols; ++c) {
        int q = int(std::lround(uniform(rng) * 127.0f));
        row[c] = uint8_t(int8_t(q));
        w.values[r * cols + c] = float(q) * scale;
      }
      std::memcpy(row + quant::q8ScaleOffset(cols), &scale, 4);
    }
    return w;
  }
  uint64_t rb = quant::q4RowBytes(cols, 32);
  w.bytes.assign(size_t(rb * rows), 0);
  for (int64_t r = 0; r < rows; ++r) {
    uint8_t *row = w.bytes.data() + r * rb;
    for (int64_t g = 0; g < cols / 32; ++g) {
      uint16_t half = toHalf(0.002f * (1.0f + float((r + g) % 5)));
      std::memcpy(row + quant::q4ScaleOffset(cols) + 2 * g, &half, 2);
      float scale = fromHalf(half);
      for (int64_t c = g * 32; c < g * 32 + 32; ++c) {
        int q = int(rng() % 16) - 8;
        uint8_t &byte = row[quant::q4ByteOf(c)];
        byte |= uint8_t((q + 8) << (quant::q4HighNibble(c) ? 4 : 0));
        w.values[r * cols + c] = float(q) * scale;
      }
    }
  }
  return w;
}

struct Gpu {
  CUdevice device = 0;
  CUcontext context = nullptr;
  CUstream stream = nullptr;
  cublasHandle_t blas = nullptr;
  std::string name, target;
  int sms = 0;
};

struct Buffer {
  CUdeviceptr ptr = 0;
  size_t bytes = 0;
  explicit Buffer(size_t n) : bytes(n) { CU(cuMemAlloc(&ptr, std::max<size_t>(n, 256))); }
  ~Buffer() { cuMemFree(ptr); }
  Buffer(const Buffer &) = delete;
  void upload(const void *data) { CU(cuMemcpyHtoD(ptr, data, bytes)); }
  template <class T> std::vector<T> download() const {
    std::vector<T> out(bytes / sizeof(T));
    CU(cuMemcpyDtoH(out.data(), ptr, bytes));
    return out;
  }
};

// Median milliseconds of `body` (which issues `batch` launches) over `samples` event-timed runs.
template <class F> double medianMs(const Gpu &gpu, F body, int batch, int samples = 15) {
  CUevent start, stop;
  CU(cuEventCreate(&start, 0));
  CU(cuEventCreate(&stop, 0));
  for (int i = 0; i < 3; ++i)
    body();
  std::vector<float> times;
  for (int s = 0; s < samples; ++s) {
    CU(cuEventRecord(start, gpu.stream));
    body();
    CU(cuEventRecord(stop, gpu.stream));
    CU(cuEventSynchronize(stop));
    float ms = 0;
    CU(cuEventElapsedTime(&ms, start, stop));
    times.push_back(ms / float(batch));
  }
  cuEventDestroy(start);
  cuEventDestroy(stop);
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

// The same, with the batch captured once into a CUDA graph and replayed: no launch gaps between
// short kernels (a decode step runs as a graph too).
template <class F> double medianMsGraph(const Gpu &gpu, F body, int batch) {
  CUgraph graph;
  CUgraphExec exec;
  CU(cuStreamBeginCapture(gpu.stream, CU_STREAM_CAPTURE_MODE_THREAD_LOCAL));
  body();
  CU(cuStreamEndCapture(gpu.stream, &graph));
  CU(cuGraphInstantiate(&exec, graph, 0));
  double ms = medianMs(gpu, [&] { CU(cuGraphLaunch(exec, gpu.stream)); }, batch);
  cuGraphExecDestroy(exec);
  cuGraphDestroy(graph);
  return ms;
}

// The generated kernels of `specs`, compiled for this GPU.
struct Kernels {
  CUmodule module = nullptr;
  gen::GeneratedModule generated;
  Kernels(const Gpu &gpu, const std::vector<codegen::KernelSpec> &specs) {
    generated = gen::generateCudaSource(specs);
    std::vector<uint8_t> cubin = gen::compileToCubin(generated.source, gen::cudaTargetFor(gpu.target));
    CU(cuModuleLoadData(&module, cubin.data()));
  }
  ~Kernels() { cuModuleUnload(module); }
  CUfunction function(const std::string &name) const {
    for (const auto &known : functions)
      if (known.first == name)
        return known.second;
    CUfunction f;
    CU(cuModuleGetFunction(&f, module, name.c_str()));
    functions.emplace_back(name, f);
    return f;
  }
  mutable std::vector<std::pair<std::string, CUfunction>> functions;
  // Launches kernel `index` for `tokens` tokens with argument pointers `ptrs`.
  void launch(const Gpu &gpu, size_t index, int64_t tokens, const std::vector<CUdeviceptr> &ptrs,
              CUdeviceptr workspace = 0) const {
    const cuda::Variant *variant = cuda::selectVariant(generated.kernels.at(index), tokens);
    cuda::LoomKernelArgs args{};
    for (size_t i = 0; i < ptrs.size(); ++i)
      args.ptr[i] = ptrs[i];
    args.tokens = int32_t(tokens);
    args.workspace = workspace;
    for (const cuda::Launch &l : variant->launches) {
      CUfunction f = function(l.function);
      void *params[] = {&args};
      CU(cuLaunchKernel(f, unsigned(l.grid[0].at(tokens)), unsigned(l.grid[1].at(tokens)),
                        unsigned(l.grid[2].at(tokens)), l.block[0], l.block[1], l.block[2], l.sharedBytes,
                        gpu.stream, params, nullptr));
    }
  }
};

double relativeError(const std::vector<float> &got, const std::vector<double> &want) {
  double num = 0, den = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    double d = double(got[i]) - want[i];
    if (!std::isfinite(got[i]))
      return INFINITY;
    num += d * d;
    den += want[i] * want[i];
  }
  return std::sqrt(num / std::max(den, 1e-300));
}

struct Row {
  std::string what;
  double ms, value, reference, ratio, error;
  std::string unit, referenceName;
};

} // namespace

int main(int argc, char **argv) {
  std::string jsonPath;
  bool quick = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--json" && i + 1 < argc)
      jsonPath = argv[++i];
    else if (a == "--quick")
      quick = true;
    else {
      std::fprintf(stderr, "usage: loom-bench-cuda [--json FILE] [--quick]\n");
      return 2;
    }
  }
  std::vector<Row> rows;
  bool ok = true;
  try {
    Gpu gpu;
    CU(cuInit(0));
    CU(cuDeviceGet(&gpu.device, 0));
    char name[256] = {};
    CU(cuDeviceGetName(name, 255, gpu.device));
    gpu.name = name;
    int major = 0, minor = 0;
    CU(cuDeviceGetAttribute(&major, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, gpu.device));
    CU(cuDeviceGetAttribute(&minor, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, gpu.device));
    CU(cuDeviceGetAttribute(&gpu.sms, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, gpu.device));
    gpu.target = major == 9 && minor == 0 ? "cuda:sm_90a" : "cuda:sm_80";
    CU(cuDevicePrimaryCtxRetain(&gpu.context, gpu.device));
    CU(cuCtxSetCurrent(gpu.context));
    CU(cuStreamCreate(&gpu.stream, CU_STREAM_NON_BLOCKING));
    checkBlas(cublasCreate(&gpu.blas), "cublasCreate");
    checkBlas(cublasSetStream(gpu.blas, gpu.stream), "cublasSetStream");
    std::printf("device: %s (compute capability %d.%d, %d SMs), kernels for %s, %s\n", name, major,
                minor, gpu.sms, gpu.target.c_str(), gen::nvrtcVersion().c_str());

    // Ceiling 1: device-to-device copy, bytes read + written.
    double copyGBs = 0;
    {
      const size_t bytes = size_t(1) << 30;
      Buffer a(bytes), b(bytes);
      CU(cuMemsetD8Async(a.ptr, 1, bytes, gpu.stream));
      double ms = medianMs(gpu, [&] { CU(cuMemcpyDtoDAsync(b.ptr, a.ptr, bytes, gpu.stream)); }, 1, 9);
      copyGBs = 2.0 * double(bytes) / (ms * 1e-3) / 1e9;
      rows.push_back({"copy 1 GiB device to device", ms, copyGBs, 0, 0, 0, "GB/s", ""});
      std::printf("copy bandwidth: %.0f GB/s (read + write)\n", copyGBs);
    }

    std::mt19937 rng(1234);
    std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
    struct Shape { const char *name; int64_t in, out; };
    std::vector<Shape> shapes = {{"q_proj", 3840, 4096}, {"o_proj", 4096, 3840}, {"gate/up", 3840, 15360},
                                 {"down", 15360, 3840},  {"lm_head", 3840, 262144}};
    if (quick)
      shapes.resize(2);
    const std::vector<Format> formats = {Format::BF16, Format::Q8, Format::Q4G32};

    // Every kernel of the run in one module (one NVRTC compile): spec f * shapes + s is shape s
    // in format f (its GEMV and GEMM variants), the last one the quantized GEMM check.
    std::vector<codegen::KernelSpec> specs;
    for (Format format : formats)
      for (const Shape &shape : shapes)
        specs.push_back({"k_" + std::string(formatName(format)) + "_" + std::to_string(specs.size()),
                         elementType(format), codegen::Linear{shape.in, shape.out, false}});
    const size_t q4Check = specs.size();
    specs.push_back({"k_q4_check", codegen::ElementType::Q4G32, codegen::Linear{3840, 512, false}});
    std::printf("compiling %zu kernels with %s...\n", specs.size(), gen::nvrtcVersion().c_str());
    Kernels kernels(gpu, specs);

    // Decode GEMV (T = 1): bytes moved vs the copy bandwidth; checked against the host in double.
    for (size_t f = 0; f < formats.size(); ++f)
      for (size_t s = 0; s < shapes.size(); ++s) {
        const Format format = formats[f];
        const Shape &shape = shapes[s];
        const size_t index = f * shapes.size() + s;
        const bool verify = shape.out <= 16384;
        Weight w = makeWeight(format, verify ? shape.out : 256, shape.in, rng);
        std::vector<uint8_t> weightBytes = w.bytes;
        if (!verify) { // the big head: random bytes of the right size suffice for timing
          weightBytes.resize(w.bytes.size() / 256 * size_t(shape.out));
          for (size_t i = 0; i < weightBytes.size(); ++i)
            weightBytes[i] = w.bytes[i % w.bytes.size()];
        }
        // Enough copies of the weight to stream well past the L2 (rotated between launches).
        const size_t copies = std::max<size_t>(1, (size_t(400) << 20) / weightBytes.size());
        std::vector<std::unique_ptr<Buffer>> weights;
        for (size_t c = 0; c < copies; ++c) {
          weights.push_back(std::make_unique<Buffer>(weightBytes.size()));
          weights.back()->upload(weightBytes.data());
        }
        std::vector<float> x(size_t(shape.in));
        for (float &v : x)
          v = uniform(rng);
        Buffer xd(x.size() * 4), yd(size_t(shape.out) * 4);
        xd.upload(x.data());
        CU(cuMemsetD8Async(yd.ptr, 0xff, yd.bytes, gpu.stream)); // NaN poison: unwritten rows fail
        kernels.launch(gpu, index, 1, {xd.ptr, weights[0]->ptr, yd.ptr});
        CU(cuStreamSynchronize(gpu.stream));
        double error = 0;
        if (verify) {
          std::vector<double> want(size_t(shape.out), 0.0);
          for (int64_t o = 0; o < shape.out; ++o)
            for (int64_t i = 0; i < shape.in; ++i)
              want[o] += double(w.values[o * shape.in + i]) * double(x[i]);
          error = relativeError(yd.download<float>(), want);
          if (!(error < 1e-5)) {
            ok = false;
            std::printf("FAIL: gemv %s %s relative error %.3g\n", formatName(format), shape.name, error);
          }
        }
        size_t next = 0;
        double ms = medianMsGraph(gpu, [&] {
          for (int r = 0; r < 20; ++r)
            kernels.launch(gpu, index, 1, {xd.ptr, weights[next++ % copies]->ptr, yd.ptr});
        }, 20);
        double bytes = double(weightBytes.size()) + 4.0 * double(shape.in + shape.out);
        double gbs = bytes / (ms * 1e-3) / 1e9;
        rows.push_back({std::string("gemv T=1 ") + formatName(format) + " " + shape.name + " " +
                            std::to_string(shape.in) + "->" + std::to_string(shape.out),
                        ms, gbs, copyGBs, gbs / copyGBs, error, "GB/s", "copy bandwidth"});
      }

    // Prefill GEMM: bf16 weights, tensor cores, vs cuBLAS bf16 x bf16 -> f32 at the same shapes.
    for (int64_t tokens : quick ? std::vector<int64_t>{512} : std::vector<int64_t>{512, 2048})
      for (size_t s = 0; s < shapes.size(); ++s) {
        const Shape &shape = shapes[s];
        if (shape.out > 16384)
          continue;
        Weight w = makeWeight(Format::BF16, shape.out, shape.in, rng);
        std::vector<float> x(size_t(tokens * shape.in));
        std::vector<uint16_t> xb(x.size());
        for (size_t i = 0; i < x.size(); ++i) {
          x[i] = uniform(rng);
          xb[i] = toBf16(x[i]);
        }
        Buffer wd(w.bytes.size()), xd(x.size() * 4), xbd(xb.size() * 2);
        Buffer ours(size_t(tokens * shape.out) * 4), theirs(size_t(tokens * shape.out) * 4);
        wd.upload(w.bytes.data());
        xd.upload(x.data());
        xbd.upload(xb.data());
        const float one = 1.0f, zero = 0.0f;
        auto blas = [&] {
          checkBlas(cublasGemmEx(gpu.blas, CUBLAS_OP_T, CUBLAS_OP_N, int(shape.out), int(tokens), int(shape.in),
                                 &one, reinterpret_cast<void *>(wd.ptr), CUDA_R_16BF, int(shape.in),
                                 reinterpret_cast<void *>(xbd.ptr), CUDA_R_16BF, int(shape.in), &zero,
                                 reinterpret_cast<void *>(theirs.ptr), CUDA_R_32F, int(shape.out),
                                 CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
                    "cublasGemmEx");
        };
        CU(cuMemsetD8Async(ours.ptr, 0xff, ours.bytes, gpu.stream));
        kernels.launch(gpu, s, tokens, {xd.ptr, wd.ptr, ours.ptr});
        blas();
        CU(cuStreamSynchronize(gpu.stream));
        std::vector<float> a = ours.download<float>(), b = theirs.download<float>();
        std::vector<double> want(b.begin(), b.end());
        double error = relativeError(a, want);
        if (!(error < 1e-4)) {
          ok = false;
          std::printf("FAIL: gemm T=%lld %s relative error vs cuBLAS %.3g\n", (long long)tokens, shape.name, error);
        }
        double oursMs = medianMs(gpu, [&] { kernels.launch(gpu, s, tokens, {xd.ptr, wd.ptr, ours.ptr}); }, 1);
        double blasMs = medianMs(gpu, blas, 1);
        double flops = 2.0 * double(tokens) * double(shape.in) * double(shape.out);
        rows.push_back({"gemm T=" + std::to_string(tokens) + " bf16 " + shape.name + " " +
                            std::to_string(shape.in) + "->" + std::to_string(shape.out),
                        oursMs, flops / (oursMs * 1e-3) / 1e12, flops / (blasMs * 1e-3) / 1e12,
                        blasMs / oursMs, error, "TFLOP/s", "cuBLAS"});
      }

    // Quantized prefill GEMM (dequantized to bf16 in shared memory): checked against the host.
    {
      const int64_t tokens = 64, in = 3840, out = 512;
      Weight w = makeWeight(Format::Q4G32, out, in, rng);
      std::vector<float> x(size_t(tokens * in));
      for (float &v : x)
        v = uniform(rng);
      Buffer wd(w.bytes.size()), xd(x.size() * 4), yd(size_t(tokens * out) * 4);
      wd.upload(w.bytes.data());
      xd.upload(x.data());
      kernels.launch(gpu, q4Check, tokens, {xd.ptr, wd.ptr, yd.ptr});
      CU(cuStreamSynchronize(gpu.stream));
      std::vector<double> want(size_t(tokens * out), 0.0);
      for (int64_t t = 0; t < tokens; ++t)
        for (int64_t o = 0; o < out; ++o)
          for (int64_t i = 0; i < in; ++i)
            want[t * out + o] += double(fromBf16(toBf16(w.values[o * in + i]))) * double(fromBf16(toBf16(x[t * in + i])));
      double error = relativeError(yd.download<float>(), want);
      if (!(error < 1e-4)) {
        ok = false;
        std::printf("FAIL: q4g32 gemm relative error %.3g\n", error);
      }
      rows.push_back({"gemm T=64 q4g32 3840->512 (check only)", 0, 0, 0, 0, error, "", "host"});
    }
  } catch (const std::exception &e) {
    std::fprintf(stderr, "loom-bench-cuda: error: %s\n", e.what());
    return 1;
  }

  std::printf("\n| kernel | ms | achieved | reference | ratio | rel. error |\n|---|---|---|---|---|---|\n");
  for (const Row &r : rows)
    std::printf("| %s | %.4f | %.1f %s | %.1f (%s) | %.2f | %.2g |\n", r.what.c_str(), r.ms, r.value,
                r.unit.c_str(), r.reference, r.referenceName.c_str(), r.ratio, r.error);
  if (!jsonPath.empty()) {
    std::ofstream out(jsonPath);
    out << "[\n";
    for (size_t i = 0; i < rows.size(); ++i)
      out << "  {\"kernel\": \"" << rows[i].what << "\", \"ms\": " << rows[i].ms << ", \"value\": " << rows[i].value
          << ", \"unit\": \"" << rows[i].unit << "\", \"reference\": " << rows[i].reference
          << ", \"reference_name\": \"" << rows[i].referenceName << "\", \"ratio\": " << rows[i].ratio
          << ", \"relative_error\": " << rows[i].error << "}" << (i + 1 < rows.size() ? "," : "") << "\n";
    out << "]\n";
  }
  if (!ok)
    std::printf("\nloom-bench-cuda: some kernels disagree with their reference (FAIL lines above)\n");
  return ok ? 0 : 1;
}
