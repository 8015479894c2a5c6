#include "loom/Cuda/KernelBundle.h"

#include "loom/Error.h"

#include <nlohmann/json.hpp>

#include <cstring>

namespace loom::cuda {
namespace {

using nlohmann::json;
constexpr uint64_t kHeaderBytes = 24;
constexpr uint64_t kImageAlignment = 256;

uint64_t alignUp(uint64_t value, uint64_t alignment) {
  return (value + alignment - 1) / alignment * alignment;
}

json extentJson(const GridExtent &e) { return {e.perToken, e.constant, e.divisor}; }

template <class T> T field(const json &object, const char *name, const std::string &at) {
  auto it = object.find(name);
  if (it == object.end())
    fail(at, ": missing field '", name, "'");
  try {
    return it->get<T>();
  } catch (const json::exception &) {
    fail(at, ": field '", name, "' has the wrong type (", it->type_name(), ")");
  }
}

} // namespace

bool isKernelBundle(const uint8_t *data, uint64_t size) {
  return data != nullptr && size >= sizeof kBundleMagic &&
         std::memcmp(data, kBundleMagic, sizeof kBundleMagic) == 0;
}

const Variant *selectVariant(const KernelLaunches &kernel, int64_t tokens) {
  for (const Variant &variant : kernel.variants)
    if (variant.maxTokens == 0 || tokens <= variant.maxTokens)
      return &variant;
  return nullptr;
}

std::vector<uint8_t> writeKernelBundle(KernelBundle bundle,
                                       const std::vector<std::vector<uint8_t>> &imageBytes) {
  if (imageBytes.size() != bundle.images.size())
    fail("kernel bundle: ", bundle.images.size(), " images described but ", imageBytes.size(),
         " given");
  // The index holds the image offsets, which depend on the index size: lay the images out
  // after a generous estimate of it and pad the index up to that.
  auto indexFor = [&](uint64_t firstImage) {
    uint64_t at = firstImage;
    json images = json::array();
    for (size_t i = 0; i < bundle.images.size(); ++i) {
      bundle.images[i].offset = at;
      bundle.images[i].size = imageBytes[i].size();
      images.push_back({{"format", bundle.images[i].format},
                        {"arch", bundle.images[i].arch},
                        {"offset", at},
                        {"size", imageBytes[i].size()}});
      at = alignUp(at + imageBytes[i].size(), kImageAlignment);
    }
    json kernels = json::array();
    for (const KernelLaunches &kernel : bundle.kernels) {
      json variants = json::array();
      for (const Variant &variant : kernel.variants) {
        json launches = json::array();
        for (const Launch &launch : variant.launches)
          launches.push_back({{"function", launch.function},
                              {"grid", {extentJson(launch.grid[0]), extentJson(launch.grid[1]),
                                        extentJson(launch.grid[2])}},
                              {"block", {launch.block[0], launch.block[1], launch.block[2]}},
                              {"shared_bytes", launch.sharedBytes}});
        variants.push_back({{"max_tokens", variant.maxTokens},
                            {"workspace_bytes_per_token", variant.workspaceBytesPerToken},
                            {"launches", launches}});
      }
      kernels.push_back({{"symbol", kernel.symbol}, {"variants", variants}});
    }
    json index = {{"target", bundle.target},
                  {"producer", bundle.producer},
                  {"images", images},
                  {"kernels", kernels},
                  {"kv_write_function", bundle.kvWriteFunction}};
    return index.dump();
  };
  std::string index = indexFor(0);
  uint64_t firstImage = alignUp(kHeaderBytes + index.size() + 64, kImageAlignment);
  index = indexFor(firstImage);
  // Offsets only grow in digits by a bounded amount; retry once with more room if needed.
  if (kHeaderBytes + index.size() > firstImage) {
    firstImage = alignUp(kHeaderBytes + index.size() + 64, kImageAlignment);
    index = indexFor(firstImage);
  }
  index.resize(firstImage - kHeaderBytes, ' '); // JSON allows trailing whitespace

  uint64_t total = firstImage;
  for (const Image &image : bundle.images)
    total = std::max<uint64_t>(total, image.offset + image.size);
  std::vector<uint8_t> out(total, 0);
  std::memcpy(out.data(), kBundleMagic, sizeof kBundleMagic);
  uint32_t version = kBundleVersion, zero = 0;
  uint64_t indexSize = index.size();
  std::memcpy(out.data() + 8, &version, 4);
  std::memcpy(out.data() + 12, &zero, 4);
  std::memcpy(out.data() + 16, &indexSize, 8);
  std::memcpy(out.data() + kHeaderBytes, index.data(), index.size());
  for (size_t i = 0; i < bundle.images.size(); ++i)
    if (!imageBytes[i].empty())
      std::memcpy(out.data() + bundle.images[i].offset, imageBytes[i].data(), imageBytes[i].size());
  return out;
}

KernelBundle readKernelBundle(const uint8_t *data, uint64_t size, const std::string &source) {
  const std::string at = source + " (CUDA kernel bundle)";
  if (!isKernelBundle(data, size))
    fail(at, ": does not start with the magic \"LOOMCUDA\"; the kernel segment is not a CUDA "
             "kernel bundle");
  if (size < kHeaderBytes)
    fail(at, ": truncated header (", size, " bytes)");
  uint32_t version;
  uint64_t indexSize;
  std::memcpy(&version, data + 8, 4);
  std::memcpy(&indexSize, data + 16, 8);
  if (version != kBundleVersion)
    fail(at, ": format version ", version, ", this runtime reads version ", kBundleVersion);
  if (indexSize > size - kHeaderBytes)
    fail(at, ": index of ", indexSize, " bytes overruns the segment of ", size, " bytes");

  json index;
  try {
    index = json::parse(reinterpret_cast<const char *>(data + kHeaderBytes),
                        reinterpret_cast<const char *>(data + kHeaderBytes + indexSize));
  } catch (const json::exception &e) {
    fail(at, ": the index is not valid JSON: ", e.what());
  }
  if (!index.is_object())
    fail(at, ": the index is not a JSON object");

  KernelBundle bundle;
  bundle.target = field<std::string>(index, "target", at);
  bundle.producer = index.value("producer", "");
  bundle.kvWriteFunction = field<std::string>(index, "kv_write_function", at);
  for (const json &image : field<json>(index, "images", at)) {
    std::string where = at + " image " + std::to_string(bundle.images.size());
    Image out;
    out.format = field<std::string>(image, "format", where);
    out.arch = field<std::string>(image, "arch", where);
    out.offset = field<uint64_t>(image, "offset", where);
    out.size = field<uint64_t>(image, "size", where);
    if (out.format != "cubin" && out.format != "ptx")
      fail(where, ": format '", out.format, "', expected cubin or ptx");
    if (out.offset < kHeaderBytes + indexSize || out.offset > size || out.size > size - out.offset)
      fail(where, ": bytes [", out.offset, ", +", out.size, ") lie outside the images of the ",
           size, "-byte bundle");
    bundle.images.push_back(std::move(out));
  }
  if (bundle.images.empty())
    fail(at, ": holds no cubin or PTX image");
  for (const json &kernel : field<json>(index, "kernels", at)) {
    KernelLaunches out;
    out.symbol = field<std::string>(kernel, "symbol", at + " kernel");
    std::string where = at + " kernel '" + out.symbol + "'";
    for (const json &variant : field<json>(kernel, "variants", where)) {
      Variant v;
      v.maxTokens = field<int64_t>(variant, "max_tokens", where);
      v.workspaceBytesPerToken = field<uint64_t>(variant, "workspace_bytes_per_token", where);
      for (const json &launch : field<json>(variant, "launches", where)) {
        Launch l;
        l.function = field<std::string>(launch, "function", where);
        std::string lw = where + " launch '" + l.function + "'";
        auto grid = field<std::vector<std::vector<int64_t>>>(launch, "grid", lw);
        auto block = field<std::vector<uint32_t>>(launch, "block", lw);
        if (grid.size() != 3 || block.size() != 3)
          fail(lw, ": grid and block need 3 extents");
        for (int d = 0; d < 3; ++d) {
          if (grid[d].size() != 3 || grid[d][2] <= 0 || grid[d][0] < 0 || grid[d][1] < 0)
            fail(lw, ": grid extent ", d, " must be [per_token >= 0, constant >= 0, divisor > 0]");
          l.grid[d] = {grid[d][0], grid[d][1], grid[d][2]};
          if (block[d] == 0)
            fail(lw, ": block extent ", d, " is 0");
          l.block[d] = block[d];
        }
        if (uint64_t(l.block[0]) * l.block[1] * l.block[2] > 1024)
          fail(lw, ": a block of more than 1024 threads");
        l.sharedBytes = field<uint32_t>(launch, "shared_bytes", lw);
        v.launches.push_back(std::move(l));
      }
      if (v.launches.empty())
        fail(where, ": a variant without launches");
      out.variants.push_back(std::move(v));
    }
    if (out.variants.empty())
      fail(where, ": no variants");
    bundle.kernels.push_back(std::move(out));
  }
  return bundle;
}

} // namespace loom::cuda
