// Reading weight matrices of every stored format; see WeightAccess.h and QuantLayout.h.
#include "WeightAccess.h"

#include "loom/Error.h"
#include "loom/QuantLayout.h"

#include <limits>

namespace loom::codegen::detail {

using namespace Halide;

namespace {

int64_t groupOf(ElementType type) {
  switch (type) {
  case ElementType::Q4G32:
    return 32;
  case ElementType::Q4G128:
    return 128;
  default:
    return 0;
  }
}

// The little-endian u16 / u32 at byte `offset` of packed row `row`.
Expr loadU16(const ImageParam &p, Expr offset, Expr row) {
  return cast<uint16_t>(p(offset, row)) | (cast<uint16_t>(p(offset + 1, row)) << 8);
}
Expr loadU32(const ImageParam &p, Expr offset, Expr row) {
  return cast<uint32_t>(p(offset, row)) | (cast<uint32_t>(p(offset + 1, row)) << 8) |
         (cast<uint32_t>(p(offset + 2, row)) << 16) | (cast<uint32_t>(p(offset + 3, row)) << 24);
}

void constrainDense(ImageParam &param, int64_t inner, int64_t outer) {
  // Extents and the row stride are 32-bit in halide_buffer_t (large_buffers covers the rest).
  if (inner > std::numeric_limits<int32_t>::max() || outer > std::numeric_limits<int32_t>::max())
    fail("kernel spec: weight '", param.name(), "' of ", outer, " x ", inner,
         " elements exceeds the 32-bit extents of kernel buffers");
  param.dim(0).set_bounds(0, int(inner)).set_stride(1);
  param.dim(1).set_bounds(0, int(outer)).set_stride(int(inner));
}

} // namespace

bool isQuantized(ElementType type) {
  return type == ElementType::Q8 || type == ElementType::Q4G32 || type == ElementType::Q4G128;
}

Type vectorWeightType(ElementType type) {
  return type == ElementType::BF16 ? BFloat(16) : Float(32);
}

WeightMatrix weightMatrix(const std::string &name, ElementType type, int64_t rows, int64_t cols) {
  WeightMatrix w;
  w.type = type;
  w.rows = rows;
  w.cols = cols;
  if (rows <= 0 || cols <= 0)
    fail("kernel spec: weight '", name, "' has shape [", rows, ", ", cols, "]");
  switch (type) {
  case ElementType::F32:
  case ElementType::BF16:
    w.param = ImageParam(type == ElementType::BF16 ? BFloat(16) : Float(32), 2, name);
    constrainDense(w.param, cols, rows);
    break;
  case ElementType::Q8:
    w.param = ImageParam(UInt(8), 2, name);
    constrainDense(w.param, int64_t(quant::q8RowBytes(uint64_t(cols))), rows);
    break;
  case ElementType::Q4G32:
  case ElementType::Q4G128: {
    int64_t group = groupOf(type);
    if (cols % group != 0)
      fail("kernel spec: weight '", name, "' has ", cols,
           " columns, not a multiple of the q4 group ", group);
    w.param = ImageParam(UInt(8), 2, name);
    constrainDense(w.param, int64_t(quant::q4RowBytes(uint64_t(cols), uint64_t(group))), rows);
    break;
  }
  }
  return w;
}

Expr WeightMatrix::scale(Expr row, Expr col) const {
  switch (type) {
  case ElementType::F32:
  case ElementType::BF16:
    return 1.0f;
  case ElementType::Q8:
    return reinterpret<float>(loadU32(param, int(quant::q8ScaleOffset(uint64_t(cols))), row));
  case ElementType::Q4G32:
  case ElementType::Q4G128: {
    Expr offset = int(quant::q4ScaleOffset(uint64_t(cols))) + 2 * (col / int(groupOf(type)));
    return cast<float>(reinterpret(Float(16), loadU16(param, offset, row)));
  }
  }
  return Expr();
}

Expr WeightMatrix::level(Expr row, Expr col) const {
  switch (type) {
  case ElementType::F32:
    return param(col, row);
  case ElementType::BF16:
    return cast<float>(param(col, row));
  case ElementType::Q8:
    return cast<float>(reinterpret<int8_t>(param(col, row)));
  case ElementType::Q4G32:
  case ElementType::Q4G128: {
    // quant::q4ByteOf / q4HighNibble, written so that Halide sees dense byte ramps.
    Expr inBlock = col % 32;
    Expr byte = param((col / 32) * 16 + inBlock % 16, row);
    Expr nibble = select(inBlock >= 16, byte >> 4, byte & cast<uint8_t>(15));
    return cast<float>(cast<int16_t>(nibble) - 8);
  }
  }
  return Expr();
}

Expr WeightMatrix::at(Expr row, Expr col) const {
  if (!isQuantized(type))
    return level(row, col);
  return level(row, col) * scale(row, col);
}

} // namespace loom::codegen::detail
