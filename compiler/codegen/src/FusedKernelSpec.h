// Internal: describe(), kindName() and kernelArguments() of the fused kernel kinds, called from
// KernelSpec.cpp's visitors (one line per kind there). Plain C++, no Halide.
#pragma once

#include "loom/Codegen/KernelSpec.h"

#include <ostream>
#include <vector>

namespace loom::codegen::detail {

const char *fusedKindName(const FusedLinear &);
const char *fusedKindName(const GegluLinear &);
const char *fusedKindName(const AttentionInput &);
const char *fusedKindName(const RawKeyAttention &);
const char *fusedKindName(const LinearResidual &);
const char *fusedKindName(const PatchEmbed &);

// Writes " key=value ..." after the kind name; returns whether the kernel reads weights.
bool describeFused(std::ostream &out, const FusedLinear &p);
bool describeFused(std::ostream &out, const GegluLinear &p);
bool describeFused(std::ostream &out, const AttentionInput &p);
bool describeFused(std::ostream &out, const RawKeyAttention &p);
bool describeFused(std::ostream &out, const LinearResidual &p);
bool describeFused(std::ostream &out, const PatchEmbed &p);

// `vector`: the dtype of norm vectors, biases, scalars and tables; `matrix`: of projection
// weights (a packed u8 buffer when quantized).
using ArgDType = KernelArgInfo::DType;
std::vector<KernelArgInfo> fusedArguments(const FusedLinear &p, ArgDType vector, ArgDType matrix);
std::vector<KernelArgInfo> fusedArguments(const GegluLinear &p, ArgDType vector, ArgDType matrix);
std::vector<KernelArgInfo> fusedArguments(const AttentionInput &p, ArgDType vector, ArgDType matrix);
std::vector<KernelArgInfo> fusedArguments(const RawKeyAttention &p, ArgDType vector, ArgDType matrix);
std::vector<KernelArgInfo> fusedArguments(const LinearResidual &p, ArgDType vector, ArgDType matrix);
std::vector<KernelArgInfo> fusedArguments(const PatchEmbed &p, ArgDType vector, ArgDType matrix);

} // namespace loom::codegen::detail
