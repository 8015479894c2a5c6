// How a Halide kernel reads a weight matrix in any stored format (KernelSpec.h ElementType),
// widened to f32. Every pipeline with a matrix weight (linear, the embedding gather, the tied
// lm_head, fused projections) declares it with weightMatrix() and reads it with at(), so the
// quantized formats need no per-kernel code.
//
//   WeightMatrix w = weightMatrix("weight", spec.weightType, p.out, p.in);
//   ... x(i, t) * w.at(o, i) ...                 // f32, whatever the stored format
//   args.push_back(w.param);                     // the kernel argument (one buffer per weight)
//   Type bt = vectorWeightType(spec.weightType); // biases and norms: f32/bf16, never quantized
//
// Buffers (Halide dim 0 innermost; constrained dense with the extents below):
//   F32 / BF16:      [rows, cols] of float / bfloat16.
//   Q8:              u8 [rows, packedRowBytes], one packed row per matrix row (int8 + f32 row
//                    scale), the layout of runtime/include/loom/QuantLayout.h; long rows
//                    (quant::q8ColumnPanel) in bands of 64 rows, u8 [rows / 64, 64 *
//                    packedRowBytes]: the band's column panels, then its row scales.
//   Q4G32, Q4G128:   u8 [ceil(rows / 8), 8 * packedRowBytes], QuantLayout.h's row groups
//                    (8 rows' nibbles interleaved per 4 bytes, planar f16 group scales):
//                    the CPU layout, read fast by Q4RowGroupLinear.h. Long rows
//                    (quant::q4ColumnPanel) come in column panels: u8 [rows / 64, panels, 8,
//                    8 * packed panel row bytes].
// For F32/BF16/Q8, at(row, col) vectorises over `col` with dense loads when `col` is a vector of
// 8 or 16 consecutive columns starting at a multiple of the vector width (the natural inner
// loop); the Q4 accessors are exact for any (row, col) but not meant for hot loops.
// Private to loom_kernelgen (includes Halide.h).
#pragma once

#include "loom/Codegen/KernelSpec.h"

#include <Halide.h>

#include <string>

namespace loom::codegen::detail {

struct WeightMatrix {
  ElementType type = ElementType::F32;
  int64_t rows = 0, cols = 0;
  Halide::ImageParam param; // the kernel argument
  int64_t panelColumns = 0; // Q4, Q8: columns per stored panel (QuantLayout.h); 0: whole rows

  // w[row][col] as f32 (dequantized for the quantized formats).
  Halide::Expr at(Halide::Expr row, Halide::Expr col) const;
  // The f32 scale of (row, col)'s quantization group; 1 for F32/BF16. Exposed so that a
  // schedule may hoist it; at() already applies it.
  Halide::Expr scale(Halide::Expr row, Halide::Expr col) const;
  // The integer level q (as f32) of (row, col) for quantized formats; the value for F32/BF16.
  Halide::Expr level(Halide::Expr row, Halide::Expr col) const;
  // For integer dot products (quantized formats only): the stored code as int16 and the zero
  // point, level = code - zeroPoint() (Q4: the nibble and 8; Q8: the int8 and 0).
  Halide::Expr integerCode(Halide::Expr row, Halide::Expr col) const;
  int zeroPoint() const;
  // Bytes of one matrix row as stored (a packed row for the quantized formats; a Q4 row group
  // holds 8 of them).
  int64_t rowBytes() const;
  // Columns sharing one scale: the row for Q8, the group for Q4; 1 for F32/BF16.
  int64_t scaleGroupColumns() const;
  // Q4, Q8: the stored panels of a row (1 when rows are whole) and their columns.
  int64_t panels() const;
  int64_t columnsPerPanel() const;
  // Q4: byte `offset` of the row-group layout (QuantLayout.h) of panel `panel` of row group
  // `group`; with whole rows, panel is 0 and the offset runs over the whole group.
  Halide::Expr rowGroupByte(Halide::Expr group, Halide::Expr panel, Halide::Expr offset) const;
  // Q8: the int8 code (as int16) of column `colInPanel` of panel `panel` of `row`; with whole
  // rows, panel is 0 and colInPanel the column. Lets a kernel walk panels without divisions.
  Halide::Expr q8PanelCode(Halide::Expr row, Halide::Expr panel, Halide::Expr colInPanel) const;
};

// Declares the ImageParam `name` for a [rows, cols] matrix stored as `type`, with its dense
// extents constrained. Throws loom::Error when cols does not suit the format (Q4: a multiple of
// the group; Q8/Q4: rows and packed bytes fit in 32 bits).
WeightMatrix weightMatrix(const std::string &name, ElementType type, int64_t rows, int64_t cols);

// The Halide type of a kernel's non-matrix weights (biases, norm vectors, scalars, position
// tables): bf16 for BF16, f32 otherwise (quantized modes keep them f32).
Halide::Type vectorWeightType(ElementType type);

// True for Q8, Q4G32 and Q4G128.
bool isQuantized(ElementType type);

} // namespace loom::codegen::detail
