#include "Shapes.h"

#include "loom/Artifact.h"
#include "loom/Error.h"
#include "loom/QuantLayout.h"
#include "loom/Schema/loom_generated.h"

#include <map>
#include <set>
#include <sstream>

namespace loom::bench {

using codegen::ElementType;

std::vector<LinearShape> gemma12bLinears(bool withLmHead) {
  // Sliding layers: 16 q heads x 256, 8 kv heads x 256; full layers: 16 x 512 q, one 512 kv head.
  std::vector<LinearShape> shapes = {
      {"mlp_gate_up", 3840, 15360}, {"mlp_down", 15360, 3840},   {"attn_q", 3840, 4096},
      {"attn_kv", 3840, 2048},      {"attn_o", 4096, 3840},      {"full_attn_q", 3840, 8192},
      {"full_attn_k", 3840, 512},   {"full_attn_o", 8192, 3840},
  };
  if (withLmHead)
    shapes.push_back({"lm_head", 3840, 262144});
  return shapes;
}

ElementType parseWeightType(const std::string &name) { return codegen::parseElementType(name); }

std::string weightTypeName(ElementType type) { return codegen::elementTypeName(type); }

uint64_t matrixBytes(ElementType type, int64_t rows, int64_t cols) {
  const uint64_t r = uint64_t(rows), c = uint64_t(cols);
  switch (type) {
  case ElementType::F32:
    return r * c * 4;
  case ElementType::BF16:
    return r * c * 2;
  case ElementType::Q8:
    return r * quant::q8RowBytes(c);
  case ElementType::Q4G32: // in row groups of 8 (QuantLayout.h), the last one padded
    return quant::q4RowGroups(r) * quant::q4GroupBytes(c, 32);
  case ElementType::Q4G128:
    return quant::q4RowGroups(r) * quant::q4GroupBytes(c, 128);
  }
  return 0;
}

std::vector<LinearShape> artifactLinears(const std::string &artifactPath, std::string &target) {
  std::shared_ptr<const Artifact> artifact = Artifact::open(artifactPath);
  const fb::Model &manifest = artifact->manifest();
  if (manifest.target() && manifest.target()->name())
    target = manifest.target()->name()->str();
  std::vector<LinearShape> shapes;
  std::set<std::string> seen;
  if (manifest.kernels())
    for (const fb::Kernel *kernel : *manifest.kernels()) {
      if (!kernel->kind() || kernel->kind()->str() != "linear" || !kernel->description())
        continue;
      const std::string text = kernel->description()->str();
      std::istringstream words(text);
      std::string word;
      std::map<std::string, std::string> fields;
      while (words >> word)
        if (auto eq = word.find('='); eq != std::string::npos)
          fields[word.substr(0, eq)] = word.substr(eq + 1);
      LinearShape shape;
      try {
        shape.in = std::stoll(fields.at("in"));
        shape.out = std::stoll(fields.at("out"));
        shape.hasBias = fields.count("bias") && fields.at("bias") == "1";
        shape.weights = parseWeightType(fields.at("weights"));
      } catch (const std::exception &) {
        fail(artifactPath, ": cannot read linear kernel '",
             kernel->symbol() ? kernel->symbol()->str() : "?", "' description '", text,
             "' (expected in=N out=N bias=0|1 weights=TYPE)");
      }
      std::string key = std::to_string(shape.in) + "x" + std::to_string(shape.out) +
                        (shape.hasBias ? "_bias" : "") + "_" + weightTypeName(shape.weights);
      if (!seen.insert(key).second)
        continue;
      shape.name = "linear_" + std::to_string(shape.in) + "x" + std::to_string(shape.out) +
                   (shape.hasBias ? "_bias" : "");
      shapes.push_back(shape);
    }
  if (shapes.empty())
    fail(artifactPath, ": the artifact has no linear kernels to benchmark");
  return shapes;
}

} // namespace loom::bench
