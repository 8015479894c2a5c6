// OpenAI request bodies (/v1/chat/completions, /v1/completions) as generation requests: the
// prompt rendered and tokenized as loom-run renders it (Gemma 4's chat template, media markers
// expanded by the runtime's processors), sampling, stops and limits. Every refusal is an
// ApiError naming the field.
#pragma once

#include "loom/loom.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace loom::serve {

// An image or audio file from a data: URL or input_audio part, kept for the prefill.
struct Medium {
  loom_media_kind kind;
  std::string bytes;
  std::string name; // the request field, for messages
};

struct GenerationRequest {
  std::vector<int32_t> promptIds;
  std::vector<Medium> media; // in the order of their placeholder runs in promptIds
  loom_sampling sampling;
  std::optional<uint64_t> seed;
  int64_t maxTokens = 0;
  std::vector<std::string> stop;
  bool stream = false;
  bool includeUsage = false; // stream_options.include_usage
};

struct RequestLimits {
  int64_t maxPromptTokens = 0; // and prompt + max_tokens at most the context
  int64_t context = 0;
  int64_t defaultMaxTokens = 256;
};

class RequestParser {
public:
  RequestParser(loom_model *model, std::string modelName, RequestLimits limits);
  GenerationRequest chat(const nlohmann::json &body) const;
  GenerationRequest completion(const nlohmann::json &body) const;
  const std::string &modelName() const { return modelName_; }

private:
  void common(const nlohmann::json &body, GenerationRequest &out) const;
  std::vector<int32_t> tokenize(const std::string &text, bool addBos) const;
  void checkLength(GenerationRequest &out) const;

  loom_model *model_;
  std::string modelName_;
  RequestLimits limits_;
};

} // namespace loom::serve
