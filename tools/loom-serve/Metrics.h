// /metrics: the engine's counters in Prometheus' text exposition format (version 0.0.4).
#pragma once

#include "Engine.h"

#include <string>

namespace loom::serve {

std::string prometheusText(const EngineStats &stats, uint64_t kvBytesPerSlot);

} // namespace loom::serve
