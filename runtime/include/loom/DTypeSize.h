// Bytes per element of a manifest dtype, shared by the artifact writer, reader and runtime.
#pragma once

#include "loom/Schema/loom_generated.h"

#include <cstdint>

namespace loom {

// 0 for a value outside the enum: the artifact verifier refuses those before anything reads them.
inline uint64_t dtypeSize(fb::DType dtype) {
  switch (dtype) {
  case fb::DType::F32:
  case fb::DType::I32:
    return 4;
  case fb::DType::BF16:
  case fb::DType::F16:
    return 2;
  case fb::DType::I8:
  case fb::DType::U8:
    return 1;
  }
  return 0;
}

} // namespace loom
