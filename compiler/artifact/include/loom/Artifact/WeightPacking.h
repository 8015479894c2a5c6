// Quantizes one row of a weight matrix into the packed layout of
// runtime/include/loom/QuantLayout.h. The artifact writer calls these row by row while it
// streams a tensor from its source, so memory stays bounded for any checkpoint size.
#pragma once

#include <cstdint>
#include <string>

namespace loom {

// `cols` f32 values -> q8RowBytes(cols) bytes: int8 q = round_half_even(w / s) with
// s = max|w| / 127 (s = 0 and q = 0 for an all-zero row), then s as little-endian f32.
// Throws loom::Error naming `what` for a non-finite value.
void packQ8Row(const float *row, uint64_t cols, uint8_t *out, const std::string &what);

// `cols` f32 values -> q4RowBytes(cols, group) bytes. Per group: m = the value of largest
// magnitude (the first one on ties), s = f16(m / -8), q = clamp(round_half_even(w / s), -8, 7)
// using the stored f16 s (q = 0 when s is 0); nibble q + 8. `group` is 32 or 128 and divides
// `cols`. Throws loom::Error naming `what` for a non-finite value or a scale beyond f16.
void packQ4Row(const float *row, uint64_t cols, uint64_t group, uint8_t *out,
               const std::string &what);

// Rearranges `count` (1 to 8) consecutive rows packed by packQ4Row into one row group of the
// CPU layout (QuantLayout.h): q4GroupBytes(cols, group) bytes, rows past `count` zero.
void groupQ4Rows(const uint8_t *packedRows, uint64_t count, uint64_t cols, uint64_t group,
                 uint8_t *out);

// Rearranges `bands` consecutive bands of kQ4BandGroups row groups each (as groupQ4Rows writes
// them), in place, into their column panels of `panel` columns (QuantLayout.h): panel by panel,
// each holding the band's groups in order. `panel` divides `cols` into whole scale groups.
void panelQ4Bands(uint8_t *groups, uint64_t bands, uint64_t cols, uint64_t group, uint64_t panel);

// Rearranges `bands` consecutive bands of kQ8BandRows rows packed by packQ8Row, in place, into
// their column panels of `panel` columns, then each band's row scales (QuantLayout.h).
// `panel` divides `cols`.
void panelQ8Bands(uint8_t *packedRows, uint64_t bands, uint64_t cols, uint64_t panel);

} // namespace loom
