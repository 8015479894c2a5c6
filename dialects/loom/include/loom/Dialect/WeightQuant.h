// Quantized weight types. A weight stored quantized keeps its logical [rows, cols] shape and
// says how it is stored through its element type and tensor encoding:
//   tensor<RxCxi8, "q8">      int8 per row (output channel) with an f32 scale
//   tensor<RxCxi4, "q4g32">   int4 with an f16 scale per 32 columns
//   tensor<RxCxi4, "q4g128">  int4 with an f16 scale per 128 columns
// The type flows to every loom.weight use, so kernels with quantized weights are distinct
// kernels after outlining. Bytes: runtime/include/loom/QuantLayout.h.
#pragma once

#include "mlir/IR/BuiltinTypes.h"
#include "llvm/ADT/StringRef.h"

#include <optional>

namespace loom {

enum class WeightQuant { None, Q8, Q4G32, Q4G128 };

// "q8" | "q4g32" | "q4g128" -> the scheme; nullopt for anything else.
std::optional<WeightQuant> parseWeightQuant(llvm::StringRef name);
llvm::StringRef weightQuantName(WeightQuant quant); // "none" for None
// Columns per scale: 32 / 128 for q4, 0 otherwise (q8 has one scale per row).
int64_t weightQuantGroup(WeightQuant quant);

// The scheme a weight tensor type carries; None for a plain f32/bf16/f16 tensor or a type
// whose encoding is not a scheme name (the weight_decl verifier refuses those).
WeightQuant weightQuantOf(mlir::Type type);
// `plain` ([rows, cols], float) stored as `quant`.
mlir::RankedTensorType quantizedWeightType(mlir::RankedTensorType plain, WeightQuant quant);

} // namespace loom
