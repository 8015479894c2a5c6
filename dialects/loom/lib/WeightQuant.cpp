// Quantized weight types: see WeightQuant.h.
#include "loom/Dialect/WeightQuant.h"

#include "mlir/IR/BuiltinAttributes.h"

using namespace mlir;

namespace loom {

std::optional<WeightQuant> parseWeightQuant(llvm::StringRef name) {
  if (name == "q8")
    return WeightQuant::Q8;
  if (name == "q4g32")
    return WeightQuant::Q4G32;
  if (name == "q4g128")
    return WeightQuant::Q4G128;
  return std::nullopt;
}

llvm::StringRef weightQuantName(WeightQuant quant) {
  switch (quant) {
  case WeightQuant::Q8:
    return "q8";
  case WeightQuant::Q4G32:
    return "q4g32";
  case WeightQuant::Q4G128:
    return "q4g128";
  case WeightQuant::None:
    break;
  }
  return "none";
}

int64_t weightQuantGroup(WeightQuant quant) {
  return quant == WeightQuant::Q4G32 ? 32 : quant == WeightQuant::Q4G128 ? 128 : 0;
}

WeightQuant weightQuantOf(Type type) {
  auto tensor = dyn_cast<RankedTensorType>(type);
  if (!tensor)
    return WeightQuant::None;
  auto encoding = dyn_cast_or_null<StringAttr>(tensor.getEncoding());
  if (!encoding)
    return WeightQuant::None;
  return parseWeightQuant(encoding.getValue()).value_or(WeightQuant::None);
}

RankedTensorType quantizedWeightType(RankedTensorType plain, WeightQuant quant) {
  MLIRContext *context = plain.getContext();
  if (quant == WeightQuant::None)
    return RankedTensorType::get(plain.getShape(), plain.getElementType());
  Type element = IntegerType::get(context, quant == WeightQuant::Q8 ? 8 : 4);
  return RankedTensorType::get(plain.getShape(), element,
                               StringAttr::get(context, weightQuantName(quant)));
}

} // namespace loom
