#include "ModelProducts.h"

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

std::vector<ProductKey> modelProducts(const std::string &artifactPath) {
  const std::shared_ptr<const Artifact> artifact = Artifact::open(artifactPath);
  const fb::Model &manifest = artifact->manifest();
  std::vector<ProductKey> products;
  std::set<std::string> seen;
  if (manifest.kernels())
    for (const fb::Kernel *kernel : *manifest.kernels()) {
      if (!kernel->kind() || !kernel->description())
        continue;
      const std::string description = kernel->description()->str();
      std::vector<ProductKey> found;
      try {
        found = productsOf(kernel->kind()->str(), fieldsOf(description));
      } catch (const std::exception &e) {
        fail(artifactPath, ": cannot read the products of kernel '",
             kernel->symbol() ? kernel->symbol()->str() : "?", "' from its description '",
             description, "': ", e.what());
      }
      for (const ProductKey &key : found)
        if (seen.insert(key.str()).second)
          products.push_back(key);
    }
  if (products.empty())
    fail(artifactPath, ": the artifact has no matrix products to tune");
  return products;
}

} // namespace loom::tune
