#include "loom/Checkpoint/SyntheticModel.h"

#include "loom/Checkpoint/ConfigJson.h"
#include "loom/Error.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <thread>

namespace loom {

ModelConfig presetConfig(const std::string &preset) {
  ModelConfig c; // the defaults are Gemma 4 12B (MODEL.md sections 2-3)
  if (preset == "12b") {
    setNumLayers(c, 48);
    return c;
  }
  if (preset != "tiny")
    fail("preset '", preset, "': expected \"tiny\" or \"12b\"");
  c.vocabSize = 262144;
  c.hiddenSize = 64;
  c.intermediateSize = 128;
  c.numHeads = 4;
  c.headDim = 16;
  c.numKvHeads = 2;
  c.globalHeadDim = 32;
  c.numGlobalKvHeads = 1;
  c.attentionKEqV = true;
  c.slidingWindow = 128;
  c.maxPositionEmbeddings = 4096;
  c.slidingRope = {"default", 10000.0, 1.0};
  c.fullRope = {"proportional", 1000000.0, 0.25};
  c.rmsNormEps = 1e-6;
  c.finalLogitSoftcap = 30.0;
  c.bidirectionalVision = true;
  c.hasVision = true;
  c.patchSize = 16;
  c.poolingKernelSize = 3;
  c.mmEmbedDim = 48;
  c.mmPosembSize = 1120;
  c.hasAudio = true;
  c.audioEmbedDim = 640;
  setNumLayers(c, 4);
  return c;
}

void setNumLayers(ModelConfig &c, int64_t n) {
  if (n <= 0)
    fail("--layers: expected a positive layer count, found ", n);
  c.numLayers = n;
  c.layerKinds = defaultLayerKinds(n);
}

uint16_t floatToBf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u)
    return (uint16_t)((u >> 16) | 0x40); // quiet NaN
  u += 0x7fffu + ((u >> 16) & 1u);       // round to nearest, ties to even
  return (uint16_t)(u >> 16);
}

float bf16ToFloat(uint16_t h) {
  uint32_t u = (uint32_t)h << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

namespace {

inline uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

uint64_t fnv1a(const std::string &s) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char ch : s)
    h = (h ^ ch) * 0x100000001b3ull;
  return h;
}

bool endsWith(const std::string &s, const std::string &suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Synthetic weight distributions. Values are value = mean + scale * z, with z a standard normal
// (or, for layer_scalar, uniform in [lo, hi]). Chosen so that activations and logits stay realistic:
//  * embed_tokens ~ N(0, 3/sqrt(hidden)). Logits = rmsnorm(x)·Eᵀ with rmsnorm(x) of RMS ~1 per element
//    (final norm weight ~1), so std(logit) ~ sqrt(hidden)·std(E) ~ 3: the top of 262144 logits lands
//    near 3·4.5 ~ 14, well inside the 30 softcap (30·tanh(14/30) ~ 13), not saturated. The scaled
//    embedding E[id]·sqrt(hidden) then has element std ~3, like a real residual stream.
//  * Linear weights [out, in] ~ N(0, 1/sqrt(in)): variance preserving (std(Wx) ~ std(x)).
//  * RMSNorm / q_norm / k_norm weights 1 + 0.1·N (Gemma 4 multiplies by w itself, not 1+w).
//  * LayerNorm weights 1 + 0.1·N, LayerNorm and patch_dense biases 0.02·N.
//  * layer_scalar uniform in [0.5, 1.0]; pos_embedding 0.5·N.
struct Distribution {
  bool uniform = false;
  float mean = 0, scale = 1; // normal: mean + scale*z; uniform: [mean, mean+scale)
};

Distribution distributionFor(const ModelConfig &c, const TensorSpec &spec) {
  const std::string &n = spec.name;
  if (endsWith(n, "embed_tokens.weight"))
    return {false, 0.0f, (float)(3.0 / std::sqrt((double)c.hiddenSize))};
  if (endsWith(n, "layer_scalar"))
    return {true, 0.5f, 0.5f};
  if (endsWith(n, "pos_embedding"))
    return {false, 0.0f, 0.5f};
  if (endsWith(n, ".bias"))
    return {false, 0.0f, 0.02f};
  if (spec.shape.size() == 1) // RMSNorm and LayerNorm weights
    return {false, 1.0f, 0.1f};
  return {false, 0.0f, (float)(1.0 / std::sqrt((double)spec.shape[1]))};
}

} // namespace

// Counter-based generator: element i of a tensor is a function of (key, i) only, with
// key = splitmix64(seed ^ fnv1a(name)). The normal variate is Irwin-Hall over the four 16-bit
// lanes of one splitmix64 output, rescaled to mean 0 and variance 1 (bounded at ±3.46; cheap,
// portable and bit-exact on every platform, unlike libm-based Box-Muller).
void syntheticValues(const ModelConfig &c, const TensorSpec &spec, uint64_t seed, uint64_t first, size_t count,
                     float *out) {
  const Distribution d = distributionFor(c, spec);
  const uint64_t key = splitmix64(seed ^ fnv1a(spec.name));
  constexpr float kInv16 = 1.0f / 65536.0f;
  const float sqrt3 = 1.7320508075688772f;
  for (size_t j = 0; j < count; ++j) {
    uint64_t r = splitmix64(key + (first + j) * 0xD1B54A32D192ED03ull);
    if (d.uniform) {
      float u = (float)(r >> 40) * (1.0f / 16777216.0f);
      out[j] = d.mean + d.scale * u;
    } else {
      float s = (float)((r & 0xffff) + ((r >> 16) & 0xffff) + ((r >> 32) & 0xffff) + (r >> 48)) + 2.0f;
      float z = (s * kInv16 - 2.0f) * sqrt3;
      out[j] = d.mean + d.scale * z;
    }
  }
}

namespace {

void fillChunk(const ModelConfig &c, const TensorSpec &spec, uint64_t seed, DType dtype, uint64_t firstElem,
               size_t count, void *dst) {
  constexpr size_t kBlock = 4096;
  float tmp[kBlock];
  for (size_t done = 0; done < count;) {
    size_t n = std::min(kBlock, count - done);
    syntheticValues(c, spec, seed, firstElem + done, n, tmp);
    if (dtype == DType::F32) {
      std::memcpy(static_cast<float *>(dst) + done, tmp, n * 4);
    } else if (dtype == DType::BF16) {
      uint16_t *o = static_cast<uint16_t *>(dst) + done;
      for (size_t k = 0; k < n; ++k)
        o[k] = floatToBf16(tmp[k]);
    } else {
      fail("synthetic weights: dtype ", dtypeName(dtype), " is not supported (expected BF16 or F32)");
    }
    done += n;
  }
}

void writeTextFileAtomic(const std::string &path, const std::string &text) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << text;
    out.close();
    if (!out) {
      std::remove(tmp.c_str());
      fail(path, ": cannot write");
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    fail(path, ": cannot rename into place: ", std::strerror(errno));
  }
}

} // namespace

uint64_t writeSyntheticWeights(const std::string &dir, const ModelConfig &c, const SyntheticOptions &o) {
  if (o.dtype == DType::F16)
    fail("synthetic weights: dtype F16 is not supported (expected BF16 or F32)");
  const std::vector<TensorSpec> specs = expectedTensors(c);
  const size_t esize = dtypeSize(o.dtype);
  const unsigned threads = std::max(1u, o.threads);

  std::vector<std::vector<size_t>> shards(1);
  uint64_t total = 0, shardBytes = 0, params = 0;
  for (size_t i = 0; i < specs.size(); ++i) {
    uint64_t b = (uint64_t)numElements(specs[i].shape) * esize;
    total += b;
    params += (uint64_t)numElements(specs[i].shape);
    if (!shards.back().empty() && shardBytes + b > o.maxShardBytes) {
      shards.emplace_back();
      shardBytes = 0;
    }
    shards.back().push_back(i);
    shardBytes += b;
  }
  const bool single = total <= o.maxShardBytes;
  if (single)
    shards = {[&] {
      std::vector<size_t> all(specs.size());
      for (size_t i = 0; i < all.size(); ++i)
        all[i] = i;
      return all;
    }()};

  nlohmann::json weightMap = nlohmann::json::object();
  for (size_t s = 0; s < shards.size(); ++s) {
    char name[64];
    std::snprintf(name, sizeof name, "model-%05zu-of-%05zu.safetensors", s + 1, shards.size());
    const std::string file = single ? std::string("model.safetensors") : std::string(name);
    std::vector<TensorToWrite> writes;
    for (size_t i : shards[s]) {
      const TensorSpec *spec = &specs[i];
      weightMap[spec->name] = file;
      TensorToWrite t;
      t.name = spec->name;
      t.dtype = o.dtype;
      t.shape = spec->shape;
      t.fill = [&c, spec, &o, esize, threads](uint64_t byteOffset, void *dst, size_t bytes) {
        const uint64_t first = byteOffset / esize;
        const size_t count = bytes / esize;
        if (threads == 1 || count < (1u << 16)) {
          fillChunk(c, *spec, o.seed, o.dtype, first, count, dst);
          return;
        }
        std::vector<std::thread> pool;
        std::vector<std::exception_ptr> errors(threads);
        const size_t per = (count + threads - 1) / threads;
        for (unsigned t = 0; t < threads; ++t) {
          size_t b = std::min(count, t * per), e = std::min(count, b + per);
          pool.emplace_back([&, t, b, e] {
            try {
              fillChunk(c, *spec, o.seed, o.dtype, first + b, e - b, static_cast<char *>(dst) + b * esize);
            } catch (...) {
              errors[t] = std::current_exception();
            }
          });
        }
        for (auto &th : pool)
          th.join();
        for (auto &err : errors)
          if (err)
            std::rethrow_exception(err);
      };
      writes.push_back(std::move(t));
    }
    writeSafetensors(dir + "/" + file, writes);
  }
  if (!single) {
    nlohmann::json index;
    index["metadata"] = {{"total_size", total}, {"total_parameters", params}};
    index["weight_map"] = weightMap;
    writeTextFileAtomic(dir + "/model.safetensors.index.json", index.dump(2) + "\n");
  }
  return total;
}

} // namespace loom
