// Reading weight matrices of every stored format; see WeightAccess.h and QuantLayout.h.
#include "WeightAccess.h"

#include "loom/Error.h"
#include "loom/QuantLayout.h"

#include <algorithm>
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

// f16 bits -> f32 in a few vector integer ops (Halide 14 converts float16 in software, at ~3x
// the cost): the exponent and mantissa moved into f32's fields and rebased by 2^(127-15), which
// is exact for normal and subnormal values; the sign copied over. Scales are finite, so inf/NaN
// need no case.
Expr f16ToF32(Expr bits) {
  Expr h = cast<uint32_t>(bits);
  Expr magnitude = reinterpret<float>((h & 0x7fffu) << 13) * 5.192296858534828e33f; // 2^112
  return reinterpret<float>(reinterpret<uint32_t>(magnitude) | ((h & 0x8000u) << 16));
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
  case ElementType::Q8: {
    w.panelColumns = int64_t(quant::q8ColumnPanel(uint64_t(rows), uint64_t(cols)));
    const std::vector<int64_t> shape =
        quant::q8Shape(uint64_t(rows), uint64_t(cols), uint64_t(w.panelColumns));
    w.param = ImageParam(UInt(8), 2, name);
    constrainDense(w.param, shape[1], shape[0]);
    break;
  }
  case ElementType::Q4G32:
  case ElementType::Q4G128: {
    int64_t group = groupOf(type);
    if (cols % group != 0)
      fail("kernel spec: weight '", name, "' has ", cols,
           " columns, not a multiple of the q4 group ", group);
    w.panelColumns = int64_t(quant::q4ColumnPanel(uint64_t(rows), uint64_t(cols), uint64_t(group)));
    // The stored shape, outermost first; Halide's dim 0 is its innermost.
    const std::vector<int64_t> shape = quant::q4RowGroupShape(
        uint64_t(rows), uint64_t(cols), uint64_t(group), uint64_t(w.panelColumns));
    w.param = ImageParam(UInt(8), int(shape.size()), name);
    int64_t stride = 1;
    for (size_t d = 0; d < shape.size(); ++d) {
      const int64_t extent = shape[shape.size() - 1 - d];
      if (extent > std::numeric_limits<int32_t>::max() || stride > std::numeric_limits<int32_t>::max())
        fail("kernel spec: weight '", name, "' of ", rows, " x ", cols,
             " elements exceeds the 32-bit extents of kernel buffers");
      w.param.dim(int(d)).set_bounds(0, int(extent)).set_stride(int(stride));
      stride *= extent;
    }
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
    if (panelColumns != 0) {
      const int bandRows = int(quant::kQ8BandRows);
      return reinterpret<float>(loadU32(
          param, int(quant::q8BandScaleByteOf(0, uint64_t(cols))) + 4 * (row % bandRows),
          row / bandRows));
    }
    return reinterpret<float>(loadU32(param, int(quant::q8ScaleOffset(uint64_t(cols))), row));
  case ElementType::Q4G32:
  case ElementType::Q4G128: { // quant::q4GroupScaleByteOf: two planes of bytes
    const int group = int(groupOf(type)), rows = int(quant::kQ4GroupRows);
    const int width = int(columnsPerPanel());
    Expr low = (col % width / group) * int(quant::q4ScaleGroupBytes(uint64_t(group))) +
               rows * group / 2 + row % rows;
    Expr bits = cast<uint16_t>(rowGroupByte(row / rows, col / width, low)) |
                (cast<uint16_t>(rowGroupByte(row / rows, col / width, low + rows)) << 8);
    return f16ToF32(bits);
  }
  }
  return Expr();
}

Expr WeightMatrix::integerCode(Expr row, Expr col) const {
  switch (type) {
  case ElementType::F32:
  case ElementType::BF16:
    break;
  case ElementType::Q8:
    if (panelColumns != 0)
      return q8PanelCode(row, col / int(panelColumns), col % int(panelColumns));
    return cast<int16_t>(reinterpret<int8_t>(param(col, row)));
  case ElementType::Q4G32:
  case ElementType::Q4G128: { // quant::q4GroupByteOf / q4GroupHighNibble
    const int group = int(groupOf(type)), rows = int(quant::kQ4GroupRows);
    const int width = int(columnsPerPanel());
    Expr c = col % width;
    Expr offset = (c / group) * int(quant::q4ScaleGroupBytes(uint64_t(group))) +
                  (c % group) / 8 * 32 + 4 * (row % rows) + c % 4;
    Expr byte = cast<int16_t>(rowGroupByte(row / rows, col / width, offset));
    return select(col % 8 >= 4, byte >> 4, byte & cast<int16_t>(15));
  }
  }
  fail("kernel spec: weight '", param.name(), "' is not quantized: it has no integer codes");
}

int64_t WeightMatrix::rowBytes() const {
  switch (type) {
  case ElementType::F32:
    return 4 * cols;
  case ElementType::BF16:
    return 2 * cols;
  case ElementType::Q8:
    return int64_t(quant::q8RowBytes(uint64_t(cols)));
  case ElementType::Q4G32:
  case ElementType::Q4G128:
    return int64_t(quant::q4RowBytes(uint64_t(cols), uint64_t(groupOf(type))));
  }
  return 4 * cols;
}

int WeightMatrix::zeroPoint() const {
  return type == ElementType::Q4G32 || type == ElementType::Q4G128 ? 8 : 0;
}

int64_t WeightMatrix::scaleGroupColumns() const {
  return type == ElementType::Q8 ? cols : std::max<int64_t>(1, groupOf(type));
}

int64_t WeightMatrix::panels() const { return panelColumns ? cols / panelColumns : 1; }

int64_t WeightMatrix::columnsPerPanel() const { return panelColumns ? panelColumns : cols; }

Expr WeightMatrix::rowGroupByte(Expr group, Expr panel, Expr offset) const {
  if (type != ElementType::Q4G32 && type != ElementType::Q4G128)
    fail("kernel spec: weight '", param.name(), "' is not Q4: it has no row groups");
  if (panelColumns == 0)
    return param(offset, group);
  const int bandGroups = int(quant::kQ4BandGroups);
  return param(offset, group % bandGroups, panel, group / bandGroups);
}

Expr WeightMatrix::q8PanelCode(Expr row, Expr panel, Expr colInPanel) const {
  if (type != ElementType::Q8)
    fail("kernel spec: weight '", param.name(), "' is not Q8: it has no Q8 panels");
  if (panelColumns == 0)
    return cast<int16_t>(reinterpret<int8_t>(param(colInPanel, row)));
  const int bandRows = int(quant::kQ8BandRows), width = int(panelColumns);
  Expr offset = panel * (bandRows * width) + (row % bandRows) * width + colInPanel; // q8BandByteOf
  return cast<int16_t>(reinterpret<int8_t>(param(offset, row / bandRows)));
}

Expr WeightMatrix::level(Expr row, Expr col) const {
  switch (type) {
  case ElementType::F32:
    return param(col, row);
  case ElementType::BF16:
    return cast<float>(param(col, row));
  case ElementType::Q8:
  case ElementType::Q4G32:
  case ElementType::Q4G128:
    return cast<float>(integerCode(row, col) - cast<int16_t>(zeroPoint()));
  }
  return Expr();
}

Expr WeightMatrix::at(Expr row, Expr col) const {
  if (!isQuantized(type))
    return level(row, col);
  return level(row, col) * scale(row, col);
}

} // namespace loom::codegen::detail
