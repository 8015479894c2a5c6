// describe(), kindName() and kernelArguments(): plain C++, no Halide.
#include "loom/Codegen/KernelSpec.h"
#include "FusedKernelSpec.h"
#include "loom/Error.h"

#include <cstdlib>
#include <sstream>

namespace loom::codegen {
namespace {

template <class... Ts> struct Overloaded : Ts... { using Ts::operator()...; };
template <class... Ts> Overloaded(Ts...) -> Overloaded<Ts...>;

// The shortest decimal that reads back as the same double.
std::string number(double value) {
  for (int precision = 1; precision <= 17; ++precision) {
    std::ostringstream out;
    out.precision(precision);
    out << value;
    if (std::strtod(out.str().c_str(), nullptr) == value)
      return out.str();
  }
  std::ostringstream out;
  out.precision(17);
  out << value;
  return out.str();
}

} // namespace

const char *elementTypeName(ElementType type) {
  switch (type) {
  case ElementType::F32:
    return "f32";
  case ElementType::BF16:
    return "bf16";
  case ElementType::Q8:
    return "q8";
  case ElementType::Q4G32:
    return "q4g32";
  case ElementType::Q4G128:
    return "q4g128";
  }
  return "f32";
}

ElementType parseElementType(const std::string &name) {
  for (ElementType type : {ElementType::F32, ElementType::BF16, ElementType::Q8,
                           ElementType::Q4G32, ElementType::Q4G128})
    if (name == elementTypeName(type))
      return type;
  fail("unknown weight type '", name, "' (expected f32, bf16, q8, q4g32 or q4g128)");
}

std::string kindName(const KernelSpec &spec) {
  return std::visit(Overloaded{
                        [](const EmbedTokens &) { return "embed_tokens"; },
                        [](const RmsNorm &) { return "rms_norm"; },
                        [](const LayerNorm &) { return "layer_norm"; },
                        [](const Linear &) { return "linear"; },
                        [](const Rope &) { return "rope"; },
                        [](const Attention &) { return "attention"; },
                        [](const GeGlu &) { return "geglu"; },
                        [](const Add &) { return "add"; },
                        [](const Scale &) { return "scale"; },
                        [](const Softcap &) { return "softcap"; },
                        [](const VisionPositionAdd &) { return "vision_position_add"; },
                        [](const FusedLinear &p) { return detail::fusedKindName(p); },
                        [](const GegluLinear &p) { return detail::fusedKindName(p); },
                        [](const AttentionInput &p) { return detail::fusedKindName(p); },
                        [](const RawKeyAttention &p) { return detail::fusedKindName(p); },
                        [](const LinearResidual &p) { return detail::fusedKindName(p); },
                        [](const PatchEmbed &p) { return detail::fusedKindName(p); },
                    },
                    spec.params);
}

std::string describe(const KernelSpec &spec) {
  std::ostringstream out;
  out << kindName(spec);
  bool usesWeights = std::visit(
      Overloaded{
          [&](const EmbedTokens &p) {
            out << " vocab=" << p.vocab << " width=" << p.width << " scale=" << number(p.scale);
            return true;
          },
          [&](const RmsNorm &p) {
            out << " groups=" << p.groups << " width=" << p.width << " weight=" << int(p.hasWeight)
                << " eps=" << number(p.eps);
            return p.hasWeight;
          },
          [&](const LayerNorm &p) {
            out << " width=" << p.width << " eps=" << number(p.eps);
            return true;
          },
          [&](const Linear &p) {
            out << " in=" << p.in << " out=" << p.out << " bias=" << int(p.hasBias);
            return true;
          },
          [&](const Rope &p) {
            out << " heads=" << p.heads << " head_dim=" << p.headDim << " theta=" << number(p.theta)
                << " rotated_pairs=" << p.rotatedPairs;
            return false;
          },
          [&](const Attention &p) {
            out << " q_heads=" << p.qHeads << " kv_heads=" << p.kvHeads << " head_dim=" << p.headDim
                << " window=" << p.window << " capacity=" << p.capacity
                << " scale=" << number(p.scale) << " image_blocks=" << p.imageBlocks;
            return false;
          },
          [&](const GeGlu &p) {
            out << " width=" << p.width;
            return false;
          },
          [&](const Add &p) {
            out << " width=" << p.width;
            return false;
          },
          [&](const Scale &p) {
            out << " width=" << p.width;
            return true;
          },
          [&](const Softcap &p) {
            out << " width=" << p.width << " cap=" << number(p.cap);
            return false;
          },
          [&](const VisionPositionAdd &p) {
            out << " width=" << p.width << " table_size=" << p.tableSize;
            return true;
          },
          [&](const FusedLinear &p) { return detail::describeFused(out, p); },
          [&](const GegluLinear &p) { return detail::describeFused(out, p); },
          [&](const AttentionInput &p) { return detail::describeFused(out, p); },
          [&](const RawKeyAttention &p) { return detail::describeFused(out, p); },
          [&](const LinearResidual &p) { return detail::describeFused(out, p); },
          [&](const PatchEmbed &p) { return detail::describeFused(out, p); },
      },
      spec.params);
  if (usesWeights)
    out << " weights=" << elementTypeName(spec.weightType);
  return out.str();
}

std::vector<KernelArgInfo> kernelArguments(const KernelSpec &spec) {
  using K = KernelArgInfo::Kind;
  using D = KernelArgInfo::DType;
  // Vector weights (bias, norms, scalars, tables) are f32 in the quantized modes; the matrix
  // weight (`m`) is a packed u8 buffer there.
  const D w = spec.weightType == ElementType::BF16 ? D::BF16 : D::F32;
  const bool quantized = spec.weightType != ElementType::F32 && spec.weightType != ElementType::BF16;
  const D m = quantized ? D::U8 : w;
  return std::visit(
      Overloaded{
          [&](const EmbedTokens &) -> std::vector<KernelArgInfo> {
            return {{"ids", K::Input, D::I32, 1}, {"table", K::Input, m, 2},
                    {"out", K::Output, D::F32, 2}};
          },
          [&](const RmsNorm &p) -> std::vector<KernelArgInfo> {
            std::vector<KernelArgInfo> args{{"x", K::Input, D::F32, 3}};
            if (p.hasWeight)
              args.push_back({"weight", K::Input, w, 1});
            args.push_back({"out", K::Output, D::F32, 3});
            return args;
          },
          [&](const LayerNorm &) -> std::vector<KernelArgInfo> {
            return {{"x", K::Input, D::F32, 2}, {"weight", K::Input, w, 1},
                    {"bias", K::Input, w, 1}, {"out", K::Output, D::F32, 2}};
          },
          [&](const Linear &p) -> std::vector<KernelArgInfo> {
            std::vector<KernelArgInfo> args{{"x", K::Input, D::F32, 2}, {"weight", K::Input, m, 2}};
            if (p.hasBias)
              args.push_back({"bias", K::Input, w, 1});
            args.push_back({"out", K::Output, D::F32, 2});
            return args;
          },
          [&](const Rope &) -> std::vector<KernelArgInfo> {
            return {{"x", K::Input, D::F32, 3}, {"start_pos", K::Scalar, D::I32, 0},
                    {"out", K::Output, D::F32, 3}};
          },
          [&](const Attention &) -> std::vector<KernelArgInfo> {
            return {{"q", K::Input, D::F32, 3},           {"k", K::Input, D::F32, 3},
                    {"v", K::Input, D::F32, 3},           {"block_ids", K::Input, D::I32, 1},
                    {"start_pos", K::Scalar, D::I32, 0},  {"cache_keys", K::Input, D::F32, 3},
                    {"cache_values", K::Input, D::F32, 3}, {"out", K::Output, D::F32, 3}};
          },
          [&](const GeGlu &) -> std::vector<KernelArgInfo> {
            return {{"gate", K::Input, D::F32, 2}, {"up", K::Input, D::F32, 2},
                    {"out", K::Output, D::F32, 2}};
          },
          [&](const Add &) -> std::vector<KernelArgInfo> {
            return {{"a", K::Input, D::F32, 2}, {"b", K::Input, D::F32, 2},
                    {"out", K::Output, D::F32, 2}};
          },
          [&](const Scale &) -> std::vector<KernelArgInfo> {
            return {{"x", K::Input, D::F32, 2}, {"scalar", K::Input, w, 1},
                    {"out", K::Output, D::F32, 2}};
          },
          [&](const Softcap &) -> std::vector<KernelArgInfo> {
            return {{"x", K::Input, D::F32, 2}, {"out", K::Output, D::F32, 2}};
          },
          [&](const VisionPositionAdd &) -> std::vector<KernelArgInfo> {
            return {{"x", K::Input, D::F32, 2}, {"positions", K::Input, D::I32, 2},
                    {"table", K::Input, w, 3}, {"out", K::Output, D::F32, 2}};
          },
          [&](const FusedLinear &p) { return detail::fusedArguments(p, w, m); },
          [&](const GegluLinear &p) { return detail::fusedArguments(p, w, m); },
          [&](const AttentionInput &p) { return detail::fusedArguments(p, w, m); },
          [&](const RawKeyAttention &p) { return detail::fusedArguments(p, w, m); },
          [&](const LinearResidual &p) { return detail::fusedArguments(p, w, m); },
          [&](const PatchEmbed &p) { return detail::fusedArguments(p, w, m); },
      },
      spec.params);
}

} // namespace loom::codegen
