// Runs one kernel of the instruction-count set (IcountKernels.h) from a built library:
//   loom-icount-run KERNELS.so NAME
// The kernel is called once to warm up (thread pool, first-touch), then `kCalls` times inside
// countedCalls(), the only function callgrind counts (--toggle-collect=countedCalls).
#include "loom/QuantLayout.h"

#include <HalideRuntime.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include <dlfcn.h>

namespace {

constexpr int kCalls = 8;
using Entry = int (*)(void **);

struct Buffer {
  halide_buffer_t buffer{};
  std::vector<halide_dimension_t> dims;
  Buffer(void *data, halide_type_t type, std::vector<int> shape) : dims(shape.size()) {
    int stride = 1;
    for (size_t i = 0; i < shape.size(); ++i) {
      dims[i] = halide_dimension_t(0, shape[shape.size() - 1 - i], stride);
      stride *= shape[shape.size() - 1 - i];
    }
    buffer.host = static_cast<uint8_t *>(data);
    buffer.type = type;
    buffer.dimensions = int(shape.size());
    buffer.dim = dims.data();
  }
};

const halide_type_t kF32(halide_type_float, 32), kBf16(halide_type_bfloat, 16),
    kI32(halide_type_int, 32), kU8(halide_type_uint, 8);

// Deterministic inputs (the values do not change the instruction count; NaNs would not either).
template <class T> std::vector<T> filled(size_t n, T value) { return std::vector<T>(n, value); }

} // namespace

extern "C" __attribute__((noinline)) int countedCalls(Entry entry, void **args) {
  int status = 0;
  for (int i = 0; i < kCalls; ++i)
    status |= entry(args);
  return status;
}

int main(int argc, char **argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: loom-icount-run KERNELS.so NAME\n");
    return 2;
  }
  void *library = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
  if (!library) {
    std::fprintf(stderr, "loom-icount-run: %s\n", dlerror());
    return 1;
  }
  const std::string name = argv[2];
  auto entry = reinterpret_cast<Entry>(dlsym(library, (name + "_argv").c_str()));
  if (!entry) {
    std::fprintf(stderr, "loom-icount-run: no kernel %s in %s\n", name.c_str(), argv[1]);
    return 1;
  }
  const uint16_t bf16One = 0x3f80;
  std::vector<Buffer> buffers;
  buffers.reserve(8);
  std::vector<std::vector<float>> f32;
  std::vector<std::vector<uint16_t>> bf16;
  std::vector<std::vector<int32_t>> i32;
  int32_t startPos = 40;
  auto addF32 = [&](std::vector<int> shape) {
    size_t n = 1;
    for (int d : shape)
      n *= size_t(d);
    f32.push_back(filled<float>(n, 0.5f));
    buffers.emplace_back(f32.back().data(), kF32, shape);
  };
  auto addBf16 = [&](std::vector<int> shape) {
    size_t n = 1;
    for (int d : shape)
      n *= size_t(d);
    bf16.push_back(filled<uint16_t>(n, bf16One));
    buffers.emplace_back(bf16.back().data(), kBf16, shape);
  };
  // A packed q8/q4 matrix (QuantLayout.h): bytes of 0x99 (q8: level -103; q4: nibbles 9, i.e.
  // level 1) with the scales left at that pattern too (finite in f32 and f16).
  std::vector<std::vector<uint8_t>> u8;
  u8.reserve(2);
  auto addPacked = [&](std::vector<int> shape) {
    u8.push_back(filled<uint8_t>(size_t(shape[0]) * size_t(shape[1]), 0x99));
    buffers.emplace_back(u8.back().data(), kU8, shape);
  };
  std::vector<void *> args;
  f32.reserve(8);
  bf16.reserve(8);
  i32.reserve(2);
  // Token counts: 1 (decode) for most, 64 (the GEMM path) for the f32 linear.
  if (name == "linear_bf16") {
    addF32({1, 256}), addBf16({192, 256}), addF32({1, 192});
  } else if (name == "linear_f32_bias") {
    addF32({64, 200}), addF32({96, 200}), addF32({96}), addF32({64, 96});
  } else if (name == "rms_norm") {
    addF32({1, 1, 256}), addBf16({256}), addF32({1, 1, 256});
  } else if (name == "attention") {
    addF32({1, 4, 64}), addF32({1, 2, 64}), addF32({1, 2, 64});
    i32.push_back(filled<int32_t>(1, -1));
    buffers.emplace_back(i32.back().data(), kI32, std::vector<int>{1});
    addF32({64, 2, 64}), addF32({64, 2, 64}), addF32({1, 4, 64});
  } else if (name == "linear_q8") {
    addF32({1, 3840}), addPacked({64, int(loom::quant::q8RowBytes(3840))}), addF32({1, 64});
  } else if (name == "linear_q4g32") {
    addF32({1, 3840}), addPacked({8, int(loom::quant::q4GroupBytes(3840, 32))}), addF32({1, 64});
  } else if (name == "geglu") {
    addF32({1, 512}), addF32({1, 512}), addF32({1, 512});
  } else {
    std::fprintf(stderr, "loom-icount-run: unknown kernel set member %s\n", name.c_str());
    return 1;
  }
  for (Buffer &b : buffers)
    args.push_back(&b.buffer);
  if (name == "attention") // q, k, v, block_ids, start_pos, cache_keys, cache_values, out
    args.insert(args.begin() + 4, &startPos);
  if (entry(args.data()) != 0 || countedCalls(entry, args.data()) != 0) {
    std::fprintf(stderr, "loom-icount-run: kernel %s failed\n", name.c_str());
    return 1;
  }
  return 0;
}
