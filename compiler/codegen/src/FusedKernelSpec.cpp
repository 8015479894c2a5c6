// describe(), kindName() and kernelArguments() of the fused kernel kinds (KernelSpec.h).
#include "FusedKernelSpec.h"

#include <cstdlib>
#include <sstream>

namespace loom::codegen::detail {
namespace {

using K = KernelArgInfo::Kind;
using D = KernelArgInfo::DType;

// The shortest decimal that reads back as the same double (as KernelSpec.cpp prints).
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

std::string normText(const InputNorm &norm) {
  switch (norm.kind) {
  case InputNorm::Kind::None:
    return "none";
  case InputNorm::Kind::Rms:
    return std::string(norm.hasWeight ? "rms" : "rms_unscaled") + "(eps=" + number(norm.eps) + ")";
  case InputNorm::Kind::Layer:
    return "layer(eps=" + number(norm.eps) + ")";
  }
  return "?";
}

void addNormArguments(std::vector<KernelArgInfo> &args, const InputNorm &norm, D vector) {
  if (norm.kind == InputNorm::Kind::Layer || (norm.kind == InputNorm::Kind::Rms && norm.hasWeight))
    args.push_back({"norm_weight", K::Input, vector, 1});
  if (norm.kind == InputNorm::Kind::Layer)
    args.push_back({"norm_bias", K::Input, vector, 1});
}

} // namespace

const char *fusedKindName(const FusedLinear &) { return "fused_linear"; }
const char *fusedKindName(const GegluLinear &) { return "geglu_linear"; }
const char *fusedKindName(const AttentionInput &) { return "attention_input"; }
const char *fusedKindName(const RawKeyAttention &) { return "raw_key_attention"; }
const char *fusedKindName(const LinearResidual &) { return "linear_residual"; }
const char *fusedKindName(const PatchEmbed &) { return "patch_embed"; }

bool describeFused(std::ostream &out, const FusedLinear &p) {
  out << " in=" << p.in << " outs=";
  for (size_t i = 0; i < p.outs.size(); ++i)
    out << (i ? "," : "") << p.outs[i];
  out << " norm=" << normText(p.norm) << " bias=" << int(p.hasBias);
  return true;
}

bool describeFused(std::ostream &out, const GegluLinear &p) {
  out << " in=" << p.in << " width=" << p.width << " norm=" << normText(p.norm);
  return true;
}

bool describeFused(std::ostream &out, const AttentionInput &p) {
  out << " in=" << p.in << " q_heads=" << p.qHeads << " kv_heads=" << p.kvHeads
      << " head_dim=" << p.headDim << " norm=" << normText(p.norm)
      << " v_proj=" << int(p.hasValueProjection) << " raw_key=" << int(p.rawKey)
      << " head_eps=" << number(p.headEps) << " theta=" << number(p.theta)
      << " rotated_pairs=" << p.rotatedPairs;
  return true;
}

bool describeFused(std::ostream &out, const RawKeyAttention &p) {
  const Attention &a = p.attention;
  out << " q_heads=" << a.qHeads << " kv_heads=" << a.kvHeads << " head_dim=" << a.headDim
      << " window=" << a.window << " capacity=" << a.capacity << " scale=" << number(a.scale)
      << " image_blocks=" << a.imageBlocks << " eps=" << number(p.eps)
      << " theta=" << number(p.theta) << " rotated_pairs=" << p.rotatedPairs;
  return true;
}

bool describeFused(std::ostream &out, const LinearResidual &p) {
  out << " in=" << p.in << " out=" << p.out << " eps=" << number(p.eps)
      << " scalar=" << int(p.hasScalar);
  return true;
}

bool describeFused(std::ostream &out, const PatchEmbed &p) {
  out << " patch_dim=" << p.patchDim << " width=" << p.width << " out=" << p.outWidth
      << " table_size=" << p.tableSize << " ln_eps=" << number(p.lnEps)
      << " rms_eps=" << number(p.rmsEps);
  return true;
}

std::vector<KernelArgInfo> fusedArguments(const FusedLinear &p, D vector, D matrix) {
  std::vector<KernelArgInfo> args{{"x", K::Input, D::F32, 2}};
  addNormArguments(args, p.norm, vector);
  for (size_t i = 0; i < p.outs.size(); ++i)
    args.push_back({"weight" + std::to_string(i), K::Input, matrix, 2});
  if (p.hasBias)
    for (size_t i = 0; i < p.outs.size(); ++i)
      args.push_back({"bias" + std::to_string(i), K::Input, vector, 1});
  for (size_t i = 0; i < p.outs.size(); ++i)
    args.push_back({"out" + std::to_string(i), K::Output, D::F32, 2});
  return args;
}

std::vector<KernelArgInfo> fusedArguments(const GegluLinear &p, D vector, D matrix) {
  std::vector<KernelArgInfo> args{{"x", K::Input, D::F32, 2}};
  addNormArguments(args, p.norm, vector);
  args.push_back({"gate_weight", K::Input, matrix, 2});
  args.push_back({"up_weight", K::Input, matrix, 2});
  args.push_back({"out", K::Output, D::F32, 2});
  return args;
}

std::vector<KernelArgInfo> fusedArguments(const AttentionInput &p, D vector, D matrix) {
  std::vector<KernelArgInfo> args{{"x", K::Input, D::F32, 2}};
  addNormArguments(args, p.norm, vector);
  args.push_back({"q_weight", K::Input, matrix, 2});
  args.push_back({"k_weight", K::Input, matrix, 2});
  if (p.hasValueProjection)
    args.push_back({"v_weight", K::Input, matrix, 2});
  args.push_back({"q_norm_weight", K::Input, vector, 1});
  if (!p.rawKey)
    args.push_back({"k_norm_weight", K::Input, vector, 1});
  args.push_back({"positions", K::Input, D::I32, 1});
  args.push_back({"query", K::Output, D::F32, 3});
  args.push_back({"key", K::Output, D::F32, 3});
  if (!p.rawKey)
    args.push_back({"value", K::Output, D::F32, 3});
  return args;
}

std::vector<KernelArgInfo> fusedArguments(const RawKeyAttention &, D vector, D) {
  return {{"q", K::Input, D::F32, 3},          {"raw_k", K::Input, D::F32, 3},
          {"k_norm_weight", K::Input, vector, 1}, {"block_ids", K::Input, D::I32, 1},
          {"start_pos", K::Scalar, D::I32, 0},  {"cache_keys", K::Input, D::F32, 3},
          {"out", K::Output, D::F32, 3}};
}

std::vector<KernelArgInfo> fusedArguments(const LinearResidual &p, D vector, D matrix) {
  std::vector<KernelArgInfo> args{{"x", K::Input, D::F32, 2},
                                  {"weight", K::Input, matrix, 2},
                                  {"norm_weight", K::Input, vector, 1},
                                  {"residual", K::Input, D::F32, 2}};
  if (p.hasScalar)
    args.push_back({"scalar", K::Input, vector, 1});
  args.push_back({"out", K::Output, D::F32, 2});
  return args;
}

std::vector<KernelArgInfo> fusedArguments(const PatchEmbed &, D vector, D matrix) {
  return {{"patches", K::Input, D::F32, 2},
          {"positions", K::Input, D::I32, 2},
          {"ln1_weight", K::Input, vector, 1},
          {"ln1_bias", K::Input, vector, 1},
          {"dense_weight", K::Input, matrix, 2},
          {"dense_bias", K::Input, vector, 1},
          {"ln2_weight", K::Input, vector, 1},
          {"ln2_bias", K::Input, vector, 1},
          {"position_table", K::Input, vector, 3},
          {"pos_norm_weight", K::Input, vector, 1},
          {"pos_norm_bias", K::Input, vector, 1},
          {"projection_weight", K::Input, matrix, 2},
          {"out", K::Output, D::F32, 2}};
}

} // namespace loom::codegen::detail
