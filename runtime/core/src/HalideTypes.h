// The Halide element type of each manifest dtype (halide_buffer_t::type of a kernel argument).
#pragma once

#include "loom/Error.h"
#include "loom/Schema/loom_generated.h"

#include <HalideRuntime.h>

namespace loom {

inline halide_type_t halideType(fb::DType dtype) {
  switch (dtype) {
  case fb::DType::F32:
    return halide_type_t(halide_type_float, 32);
  case fb::DType::BF16:
    return halide_type_t(halide_type_bfloat, 16);
  case fb::DType::F16:
    return halide_type_t(halide_type_float, 16);
  case fb::DType::I32:
    return halide_type_t(halide_type_int, 32);
  case fb::DType::I8:
    return halide_type_t(halide_type_int, 8);
  case fb::DType::U8:
    return halide_type_t(halide_type_uint, 8);
  }
  fail("unknown dtype ", static_cast<int>(dtype));
}

} // namespace loom
