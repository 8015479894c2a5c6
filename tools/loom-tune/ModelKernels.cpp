#include "ModelKernels.h"

#include "loom/Artifact.h"
#include "loom/Error.h"
#include "loom/Schema/loom_generated.h"

#include <map>
#include <set>
#include <sstream>

namespace loom::tune {
namespace {

using codegen::ProductKey;

std::map<std::string, std::string> fieldsOf(const std::string &description) {
  std::map<std::string, std::string> fields;
  std::istringstream words(description);
  std::string word;
  while (words >> word)
    if (auto eq = word.find('='); eq != std::string::npos)
      fields[word.substr(0, eq)] = word.substr(eq + 1);
  return fields;
}

// The attention kernel a description describes, as the model runs it.
ModelKernel attentionOf(const std::string &kind, const std::map<std::string, std::string> &fields) {
  auto number = [&](const std::string &name) { return std::stoll(fields.at(name)); };
  auto real = [&](const std::string &name) { return std::stod(fields.at(name)); };
  const codegen::Attention attention{number("q_heads"),  number("kv_heads"), number("head_dim"),
                                     number("window"),   number("capacity"), real("scale"),
                                     number("image_blocks") != 0};
  const codegen::AttentionKey key{attention.qHeads, attention.kvHeads, attention.headDim};
  if (kind == "attention")
    return {key, {"", codegen::ElementType::F32, attention}};
  const codegen::ElementType weights = codegen::parseElementType(fields.at("weights"));
  return {key,
          {"", weights,
           codegen::RawKeyAttention{attention, real("eps"), real("theta"),
                                    number("rotated_pairs")}}};
}

// The products of one kernel (none for kinds without a matrix product).
std::vector<ProductKey> productsOf(const std::string &kind,
                                   std::map<std::string, std::string> fields) {
  auto number = [&](const std::string &name) { return std::stoll(fields.at(name)); };
  if (kind != "linear" && kind != "fused_linear" && kind != "geglu_linear" &&
      kind != "attention_input" && kind != "linear_residual" && kind != "patch_embed")
    return {};
  const codegen::ElementType weights = codegen::parseElementType(fields.at("weights"));
  if (kind == "linear" || kind == "linear_residual")
    return {{weights, number("in"), number("out")}};
  if (kind == "geglu_linear")
    return {{weights, number("in"), number("width")}};
  if (kind == "patch_embed")
    return {{weights, number("patch_dim"), number("width")},
            {weights, number("width"), number("out")}};
  if (kind == "attention_input") {
    const int64_t headDim = number("head_dim");
    std::vector<ProductKey> products{{weights, number("in"), number("q_heads") * headDim},
                                     {weights, number("in"), number("kv_heads") * headDim}};
    return products; // v_proj, when present, has k_proj's shape
  }
  std::vector<ProductKey> products; // fused_linear: outs=a,b,c
  std::istringstream outs(fields.at("outs"));
  std::string out;
  while (std::getline(outs, out, ','))
    products.push_back({weights, number("in"), std::stoll(out)});
  return products;
}

} // namespace

std::vector<ModelKernel> modelKernels(const std::string &artifactPath) {
  const std::shared_ptr<const Artifact> artifact = Artifact::open(artifactPath);
  const fb::Model &manifest = artifact->manifest();
  std::vector<ModelKernel> kernels;
  std::set<std::string> seen;
  if (manifest.kernels())
    for (const fb::Kernel *kernel : *manifest.kernels()) {
      if (!kernel->kind() || !kernel->description())
        continue;
      const std::string description = kernel->description()->str(), kind = kernel->kind()->str();
      std::vector<ModelKernel> found;
      try {
        if (kind == "attention" || kind == "raw_key_attention")
          found.push_back(attentionOf(kind, fieldsOf(description)));
        for (const ProductKey &key : productsOf(kind, fieldsOf(description)))
          found.push_back(
              {key, {"", key.weights, codegen::Linear{key.in, key.out, /*hasBias=*/false}}});
      } catch (const std::exception &e) {
        fail(artifactPath, ": cannot read the products of kernel '",
             kernel->symbol() ? kernel->symbol()->str() : "?", "' from its description '",
             description, "': ", e.what());
      }
      for (ModelKernel &k : found)
        if (seen.insert(codegen::keyText(k.key)).second)
          kernels.push_back(std::move(k));
    }
  if (kernels.empty())
    fail(artifactPath, ": the artifact has no kernels with schedule parameters to tune");
  return kernels;
}

} // namespace loom::tune
