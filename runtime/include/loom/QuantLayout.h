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
#pragma once

#include <cstdint>

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

} // namespace loom::quant
