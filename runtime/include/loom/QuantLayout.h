// The byte layout of quantized weight matrices, shared by the artifact writer (which packs
// them), the kernel generator (which reads them), the compiler's lowering and the reader.
// Header-only and free of the schema so that every side can include it. docs/ARTIFACT.md
// describes the same layout in words.
//
// A quantized [rows, cols] matrix is stored as a dense u8 tensor [rows, packedRowBytes], one
// packed row per matrix row (per output channel of a linear, per token of an embedding):
//   Q8 (int8, one scale per row):      cols int8 q, then the row's f32 scale s (little-endian);
//                                      w[c] = q[c] * s.
//   Q4 (int4, one scale per `group` columns, group a multiple of 32):
//                                      cols/2 bytes of nibbles, then cols/group f16 scales;
//                                      in each block of 32 columns (16 bytes), byte j holds
//                                      column j in its low nibble and column j + 16 in its high
//                                      nibble (so 8 or 16 consecutive columns are consecutive
//                                      bytes: dense vector loads); nibble n stands for q = n - 8;
//                                      w[c] = q[c] * s[c / group].
// Both are symmetric: Q8 uses q in [-127, 127] with s = max|w| / 127; Q4 uses the ggml Q4_0
// rule, s = m / -8 for the m of largest magnitude, q = clamp(round(w / s), -8, 7).
//
// CPU targets store Q4 in row groups instead (Tensor.row_group = 8): a dense u8 tensor
// [ceil(rows / 8), 8 * q4RowBytes], each group holding the same bytes as its 8 packed rows
// (zero rows pad the last group), arranged so that one 32-byte load feeds a u8 x s8 dot
// product of 8 rows at once. Per scale group of `group` columns, in column order:
//   group / 8 chunks of 32 bytes: chunk k holds columns 8k..8k+7 of the scale group, byte
//     4r + i the row r's column 8k + i in its low nibble and 8k + 4 + i in its high nibble;
//   then the 8 rows' f16 scales as two planes: 8 low bytes (rows 0..7), then 8 high bytes.
//
// Long rows (CPU targets, Tensor.column_panel = P > 0): a matrix of more than
// kQ4PanelMaxColumns columns whose rows come in whole bands of 8 groups (64 rows) is cut into
// column panels of P columns, and each band stores its panels one after another:
// U8 [rows / 64, cols / P, 8, 8 * q4RowBytes(P)], where [band, p, g] holds the row-group layout
// above of columns [p * P, (p + 1) * P) of the band's group g. A decode task reads its band as
// one sequential stream while one panel's activations stay in L1.
// Q8 with long rows (CPU targets, Tensor.column_panel = P > 0) likewise, for rows in whole bands
// of 64: U8 [rows / 64, 64 * q8RowBytes(cols)], each band holding its panels one after another
// (panel p: the 64 rows' int8 columns [p * P, (p + 1) * P), row after row), then the 64 rows'
// f32 scales. P holds whole activation blocks of the kernels (256 columns where cols allows,
// else 32).
#pragma once

#include <cstdint>
#include <vector>

namespace loom::quant {

constexpr uint64_t kQ4BlockColumns = 32; // columns per 16-byte nibble block

inline uint64_t q8RowBytes(uint64_t cols) { return cols + 4; }
inline uint64_t q4RowBytes(uint64_t cols, uint64_t group) { return cols / 2 + 2 * (cols / group); }
// Where the scales start within a packed row.
inline uint64_t q8ScaleOffset(uint64_t cols) { return cols; }
inline uint64_t q4ScaleOffset(uint64_t cols) { return cols / 2; }
// The byte of column c in a Q4 row, and whether c is in the byte's high nibble.
inline uint64_t q4ByteOf(uint64_t c) { return (c / 32) * 16 + c % 16; }
inline bool q4HighNibble(uint64_t c) { return (c % 32) >= 16; }

// The row-group layout (CPU targets).
constexpr uint64_t kQ4GroupRows = 8;
inline uint64_t q4RowGroups(uint64_t rows) { return (rows + kQ4GroupRows - 1) / kQ4GroupRows; }
inline uint64_t q4GroupBytes(uint64_t cols, uint64_t group) {
  return kQ4GroupRows * q4RowBytes(cols, group);
}
// Bytes of one scale group's nibbles and scales for the 8 rows.
inline uint64_t q4ScaleGroupBytes(uint64_t group) { return kQ4GroupRows * (group / 2 + 2); }
// Within a row group: the byte of (row r of the group, column c), whether c is its high nibble,
// and the low byte of the f16 scale of (r, c) (its high byte follows 8 bytes later).
inline uint64_t q4GroupByteOf(uint64_t r, uint64_t c, uint64_t group) {
  return (c / group) * q4ScaleGroupBytes(group) + (c % group) / 8 * 32 + 4 * r + c % 4;
}
inline bool q4GroupHighNibble(uint64_t c) { return (c % 8) >= 4; }
inline uint64_t q4GroupScaleByteOf(uint64_t r, uint64_t c, uint64_t group) {
  return (c / group) * q4ScaleGroupBytes(group) + kQ4GroupRows * group / 2 + r;
}

// Column panels of long rows (CPU targets).
constexpr uint64_t kQ4BandGroups = 8;
constexpr uint64_t kQ4BandRows = kQ4BandGroups * kQ4GroupRows;
constexpr uint64_t kQ4PanelMaxColumns = 4096; // a panel's int8 activations: at most 4 KiB
constexpr uint64_t kQ8BandRows = kQ4BandRows;
constexpr uint64_t kQ8PanelMaxColumns = 4096; // a panel's int16 activations: at most 8 KiB
// The widest panel that divides cols into equal panels of whole `unit`s, at most maxColumns;
// 0 (rows kept whole) for short rows, rows not in whole bands, or cols not in whole units.
inline uint64_t columnPanel(uint64_t rows, uint64_t cols, uint64_t unit, uint64_t bandRows,
                            uint64_t maxColumns) {
  if (cols <= maxColumns || rows % bandRows != 0 || unit == 0 || cols % unit != 0)
    return 0;
  uint64_t panels = (cols + maxColumns - 1) / maxColumns;
  while (cols % panels != 0 || (cols / panels) % unit != 0)
    ++panels; // ends at cols / unit at the latest
  return cols / panels;
}
// The panel width of a [rows, cols] Q4 matrix with `group` columns per scale: whole scale groups.
inline uint64_t q4ColumnPanel(uint64_t rows, uint64_t cols, uint64_t group) {
  return columnPanel(rows, cols, group, kQ4BandRows, kQ4PanelMaxColumns);
}
// The panel width of a [rows, cols] Q8 matrix: whole activation blocks (256 columns when they
// divide the row, else 32; the kernels need whole blocks of 32).
inline uint64_t q8ColumnPanel(uint64_t rows, uint64_t cols) {
  const uint64_t block = cols % 256 == 0 ? 256 : 32;
  return columnPanel(rows, cols, block, kQ8BandRows, kQ8PanelMaxColumns);
}
// The stored U8 shape of a Q8 matrix: [rows, packed row bytes], or with column panels
// [bands, a band's bytes].
inline std::vector<int64_t> q8Shape(uint64_t rows, uint64_t cols, uint64_t panel) {
  if (panel == 0)
    return {int64_t(rows), int64_t(q8RowBytes(cols))};
  return {int64_t(rows / kQ8BandRows), int64_t(kQ8BandRows * q8RowBytes(cols))};
}
// Within a Q8 band with panels of `panel` columns: the byte of (row r of the band, column c)
// and the first byte of row r's f32 scale.
inline uint64_t q8BandByteOf(uint64_t r, uint64_t c, uint64_t panel) {
  return (c / panel) * kQ8BandRows * panel + r * panel + c % panel;
}
inline uint64_t q8BandScaleByteOf(uint64_t r, uint64_t cols) { return kQ8BandRows * cols + 4 * r; }

// The stored U8 shape of a Q4 matrix in row groups: [row groups, group bytes], or with column
// panels of `panel` columns [bands, panels, groups of a band, a group's bytes of one panel].
inline std::vector<int64_t> q4RowGroupShape(uint64_t rows, uint64_t cols, uint64_t group,
                                            uint64_t panel) {
  if (panel == 0)
    return {int64_t(q4RowGroups(rows)), int64_t(q4GroupBytes(cols, group))};
  return {int64_t(rows / kQ4BandRows), int64_t(cols / panel), int64_t(kQ4BandGroups),
          int64_t(q4GroupBytes(panel, group))};
}

// A quantized matrix as the writer, the reader and the compiler describe it: Q8 (else Q4 with
// `group` columns per scale), in row groups or not (Q4 only).
struct PackedMatrix {
  bool q8 = false;
  uint64_t rows = 0, cols = 0, group = 0;
  bool rowGroups = false;
};
// The column panel the layout gives it (Q8 rows and Q4 row groups; 0: rows whole). A CPU
// artifact stores it so; rows whole stay valid (CUDA artifacts, older ones).
inline uint64_t columnPanelOf(const PackedMatrix &m) {
  if (m.q8)
    return q8ColumnPanel(m.rows, m.cols);
  return m.rowGroups ? q4ColumnPanel(m.rows, m.cols, m.group) : 0;
}
// Its stored U8 shape with column panels of `panel` columns (0: rows whole).
inline std::vector<int64_t> packedShapeOf(const PackedMatrix &m, uint64_t panel) {
  if (m.q8)
    return q8Shape(m.rows, m.cols, panel);
  if (m.rowGroups)
    return q4RowGroupShape(m.rows, m.cols, m.group, panel);
  return {int64_t(m.rows), int64_t(q4RowBytes(m.cols, m.group))};
}

} // namespace loom::quant
