#include "Metrics.h"

#include <sstream>

namespace loom::serve {

std::string prometheusText(const EngineStats &s, uint64_t kvBytesPerSlot) {
  std::ostringstream out;
  auto metric = [&](const char *name, const char *type, const char *help, double value) {
    out << "# HELP " << name << " " << help << "\n# TYPE " << name << " " << type << "\n"
        << name << " " << value << "\n";
  };
  metric("loom_requests_total", "counter", "Requests accepted into the queue.", double(s.requests));
  metric("loom_requests_rejected_total", "counter", "Requests refused because the queue was full.",
         double(s.rejected));
  metric("loom_prompt_tokens_total", "counter", "Prompt tokens of accepted requests.",
         double(s.promptTokens));
  metric("loom_generation_tokens_total", "counter", "Tokens generated.", double(s.generatedTokens));
  metric("loom_queue_length", "gauge", "Requests waiting for a slot.", double(s.queued));
  metric("loom_requests_running", "gauge", "Requests holding a slot.", double(s.active));
  metric("loom_kv_slots", "gauge", "Slots (sessions with a KV cache).", double(s.slots));
  metric("loom_kv_cache_usage_ratio", "gauge", "Share of the slots in use.",
         s.slots ? double(s.active) / double(s.slots) : 0.0);
  metric("loom_kv_cache_bytes_in_use", "gauge", "KV cache bytes of the slots in use.",
         double(s.active) * double(kvBytesPerSlot));
  out << "# HELP loom_time_to_first_token_seconds From a request's admission to its first token.\n"
      << "# TYPE loom_time_to_first_token_seconds summary\n"
      << "loom_time_to_first_token_seconds_sum " << s.firstTokenSecondsSum << "\n"
      << "loom_time_to_first_token_seconds_count " << s.firstTokenCount << "\n";
  metric("loom_decode_tokens_per_second", "gauge",
         "Tokens per second of the batched decode steps so far.",
         s.decodeSeconds > 0 ? double(s.decodeTokens) / s.decodeSeconds : 0.0);
  return out.str();
}

} // namespace loom::serve
