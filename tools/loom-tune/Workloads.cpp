#include "Workloads.h"

#include "BenchMatrices.h"

#include "loom/Error.h"

#include <algorithm>
#include <chrono>
#include <type_traits>

namespace loom::tune {
namespace {

using bench::DenseBuffer;
using bench::KernelEntry;
using Clock = std::chrono::steady_clock;

// Cold copies of small data would number thousands while the caches hold it anyway.
constexpr size_t kMaxCopies = 64;

size_t coldCopies(uint64_t bytes) {
  return std::min(kMaxCopies, size_t(std::max<uint64_t>(1, bench::kColdFootprint / bytes)));
}

std::vector<float> randomValues(int64_t count, uint64_t seed) {
  bench::FastRandom rng(seed);
  std::vector<float> values(static_cast<size_t>(count));
  for (float &v : values)
    v = rng.uniform();
  return values;
}

// A product's inputs: weight copies enough to leave the caches cold below kColdTokens, as
// loom-bench; activations for the largest T.
class LinearWorkload : public Workload {
public:
  LinearWorkload(codegen::ElementType weights, const codegen::Linear &shape, int64_t maxTokens,
                 PageSize pages)
      : shape_(shape) {
    const size_t copies = coldCopies(bench::matrixBytes(weights, shape.out, shape.in));
    for (size_t c = 0; c < copies; ++c) {
      matrices_.push_back(bench::makeMatrix(weights, shape.out, shape.in, 17 + c, false, pages));
      weights_.push_back(std::make_unique<DenseBuffer>(
          matrices_.back().stored.data(), bench::storedHalideType(weights),
          bench::storedShape(weights, shape.out, shape.in)));
    }
    x_ = randomValues(maxTokens * shape.in, 5);
    y_.resize(size_t(maxTokens * shape.out));
  }

  // A call per weight copy below kColdTokens (each copy cold when its turn comes), else one
  // call on the first copy.
  double time(KernelEntry entry, int64_t tokens) override {
    const halide_type_t f32(halide_type_float, 32);
    DenseBuffer x(x_.data(), f32, {tokens, shape_.in}), y(y_.data(), f32, {tokens, shape_.out});
    const size_t calls = tokens < bench::kColdTokens ? weights_.size() : 1;
    const auto start = Clock::now();
    for (size_t c = 0; c < calls; ++c) {
      void *args[] = {&x.buffer, &weights_[c]->buffer, &y.buffer};
      bench::callKernel(entry, args, "linear");
    }
    return std::chrono::duration<double>(Clock::now() - start).count() / double(calls);
  }

private:
  codegen::Linear shape_;
  std::vector<bench::Matrix> matrices_;
  std::vector<std::unique_ptr<DenseBuffer>> weights_;
  std::vector<float> x_, y_;
};

// An attention kernel's inputs: the call's queries and keys (and values), no image blocks, and
// copies of a filled cache (raw keys only for RawKeyAttention) enough to leave the caches cold
// below kColdTokens, where a call reads kDecodePast cached positions; from kColdTokens on, a
// prompt from position 0.
class AttentionWorkload : public Workload {
public:
  AttentionWorkload(const codegen::Attention &shape, bool rawKey, codegen::ElementType weights,
                    int64_t maxTokens, PageSize pages)
      : shape_(shape), rawKey_(rawKey) {
    if (weights != codegen::ElementType::F32)
      fail("loom-tune: an attention kernel with ", codegen::elementTypeName(weights),
           " norm weights cannot be timed (f32 only)");
    capacity_ = std::max<int64_t>(shape.capacity, 1);
    // Keys, then values (a raw-key cache holds keys only).
    const int64_t cacheValues = capacity_ * shape.kvHeads * shape.headDim * (rawKey ? 1 : 2);
    const size_t copies = coldCopies(uint64_t(cacheValues) * 4);
    for (size_t c = 0; c < copies; ++c) {
      caches_.emplace_back(uint64_t(cacheValues) * 4, pages, "loom-tune KV cache");
      const std::vector<float> filled = randomValues(cacheValues, 31 + c);
      std::copy(filled.begin(), filled.end(), reinterpret_cast<float *>(caches_.back().data()));
    }
    q_ = randomValues(maxTokens * shape.qHeads * shape.headDim, 7);
    k_ = randomValues(maxTokens * shape.kvHeads * shape.headDim, 8);
    v_ = randomValues(maxTokens * shape.kvHeads * shape.headDim, 9);
    kNorm_.assign(size_t(shape.headDim), 1.0f);
    blockIds_.assign(size_t(maxTokens), -1);
    out_.resize(q_.size());
  }

  double time(KernelEntry entry, int64_t tokens) override {
    const halide_type_t f32(halide_type_float, 32), i32(halide_type_int, 32);
    const int64_t heads = shape_.qHeads, kvHeads = shape_.kvHeads, dim = shape_.headDim;
    const bool decode = tokens < bench::kColdTokens;
    int32_t startPos = decode ? int32_t(std::min(kDecodePast, shape_.capacity)) : 0;
    DenseBuffer q(q_.data(), f32, {tokens, heads, dim}), k(k_.data(), f32, {tokens, kvHeads, dim}),
        v(v_.data(), f32, {tokens, kvHeads, dim}), norm(kNorm_.data(), f32, {dim}),
        ids(blockIds_.data(), i32, {tokens}), out(out_.data(), f32, {tokens, heads, dim});
    const size_t calls = decode ? caches_.size() : 1;
    const auto start = Clock::now();
    for (size_t c = 0; c < calls; ++c) {
      float *cache = reinterpret_cast<float *>(caches_[c].data());
      DenseBuffer keys(cache, f32, {capacity_, kvHeads, dim});
      if (rawKey_) {
        void *args[] = {&q.buffer, &k.buffer, &norm.buffer, &ids.buffer,
                        &startPos, &keys.buffer, &out.buffer};
        bench::callKernel(entry, args, "raw_key_attention");
      } else {
        DenseBuffer values(cache + capacity_ * kvHeads * dim, f32, {capacity_, kvHeads, dim});
        void *args[] = {&q.buffer, &k.buffer,    &v.buffer,      &ids.buffer,
                        &startPos, &keys.buffer, &values.buffer, &out.buffer};
        bench::callKernel(entry, args, "attention");
      }
    }
    return std::chrono::duration<double>(Clock::now() - start).count() / double(calls);
  }

private:
  codegen::Attention shape_;
  bool rawKey_;
  int64_t capacity_ = 1;
  std::vector<AnonymousMemory> caches_;
  std::vector<float> q_, k_, v_, kNorm_, out_;
  std::vector<int32_t> blockIds_;
};

} // namespace

std::unique_ptr<Workload> makeWorkload(const codegen::KernelSpec &timed, int64_t maxTokens,
                                       PageSize pages) {
  return std::visit(
      [&](const auto &p) -> std::unique_ptr<Workload> {
        using Kind = std::decay_t<decltype(p)>;
        if constexpr (std::is_same_v<Kind, codegen::Linear>)
          return std::make_unique<LinearWorkload>(timed.weightType, p, maxTokens, pages);
        else if constexpr (std::is_same_v<Kind, codegen::Attention>)
          return std::make_unique<AttentionWorkload>(p, false, timed.weightType, maxTokens, pages);
        else if constexpr (std::is_same_v<Kind, codegen::RawKeyAttention>)
          return std::make_unique<AttentionWorkload>(p.attention, true, timed.weightType,
                                                     maxTokens, pages);
        else
          fail("loom-tune: no workload for kernel '", timed.symbol, "' of this kind");
      },
      timed.params);
}

} // namespace loom::tune
