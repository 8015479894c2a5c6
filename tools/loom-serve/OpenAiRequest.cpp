#include "OpenAiRequest.h"

#include "ApiError.h"
#include "Base64.h"

#include "loom/Runtime/ChatTemplate.h"

namespace loom::serve {
namespace {

namespace chat = loom::chat;
using nlohmann::json;

[[noreturn]] void bad(const std::string &param, const std::string &message,
                      const std::string &code = "") {
  throw ApiError(400, param + ": " + message, param, code);
}

const json *field(const json &body, const char *name) {
  auto it = body.find(name);
  return it == body.end() || it->is_null() ? nullptr : &*it;
}

double number(const json &body, const char *name, double low, double high) {
  const json *value = field(body, name);
  if (!value->is_number())
    bad(name, "expected a number");
  const double v = value->get<double>();
  if (!(v >= low && v <= high))
    bad(name, "expected a number in [" + std::to_string(low) + ", " + std::to_string(high) +
                  "], got " + value->dump());
  return v;
}

int64_t integer(const json &body, const char *name, int64_t low, int64_t high) {
  const json *value = field(body, name);
  if (!value->is_number_integer())
    bad(name, "expected an integer");
  const int64_t v = value->get<int64_t>();
  if (v < low || v > high)
    bad(name, "expected an integer in [" + std::to_string(low) + ", " + std::to_string(high) +
                  "], got " + std::to_string(v));
  return v;
}

// "data:image/png;base64,...." -> the bytes. Only data: URLs: the server reads no file or URL.
std::string dataUrlBytes(const std::string &url, const std::string &param) {
  const std::string scheme = "data:";
  if (url.compare(0, scheme.size(), scheme) != 0)
    bad(param, "only data: URLs (data:image/png;base64,...) are accepted; the server fetches no "
               "URL or file", "unsupported_url");
  const size_t comma = url.find(',');
  if (comma == std::string::npos || comma < 7 || url.compare(comma - 7, 7, ";base64") != 0)
    bad(param, "expected a base64 data: URL (data:<type>;base64,<data>)", "invalid_base64");
  std::optional<std::string> bytes = decodeBase64(std::string_view(url).substr(comma + 1));
  if (!bytes)
    bad(param, "the data: URL's payload is not valid base64", "invalid_base64");
  return *bytes;
}

std::string mediaPrompt(loom_model *model, const Medium &medium) {
  loom_media media;
  loom_media_init_bytes(&media, medium.kind, medium.bytes.data(), medium.bytes.size());
  media.path = medium.name.c_str();
  std::string text(4096, '\0');
  size_t length = 0;
  loom_status status = loom_media_prompt(model, &media, text.data(), text.size(), &length);
  if (status == LOOM_ERROR_BUFFER_TOO_SMALL) {
    text.resize(length + 1);
    status = loom_media_prompt(model, &media, text.data(), text.size(), &length);
  }
  if (status != LOOM_OK)
    throw ApiError(400, loom_last_error(), medium.name,
                   medium.kind == LOOM_MEDIA_IMAGE ? "invalid_image" : "invalid_audio");
  text.resize(length);
  return text;
}

} // namespace

RequestParser::RequestParser(loom_model *model, std::string modelName, RequestLimits limits)
    : model_(model), modelName_(std::move(modelName)), limits_(limits) {}

std::vector<int32_t> RequestParser::tokenize(const std::string &text, bool addBos) const {
  std::vector<int32_t> ids(text.size() + 2);
  size_t count = 0;
  loom_status status = loom_tokenize(model_, text.data(), text.size(), addBos ? 1 : 0, ids.data(),
                                     ids.size(), &count);
  if (status == LOOM_ERROR_BUFFER_TOO_SMALL) {
    ids.resize(count);
    status = loom_tokenize(model_, text.data(), text.size(), addBos ? 1 : 0, ids.data(),
                           ids.size(), &count);
  }
  if (status != LOOM_OK)
    throw ApiError(400, std::string("the prompt cannot be tokenized: ") + loom_last_error());
  ids.resize(count);
  return ids;
}

void RequestParser::common(const json &body, GenerationRequest &out) const {
  if (const json *model = field(body, "model")) {
    if (!model->is_string())
      bad("model", "expected a string");
    if (model->get<std::string>() != modelName_)
      throw ApiError(404, "The model '" + model->get<std::string>() + "' does not exist; this "
                     "server serves '" + modelName_ + "'", "model", "model_not_found");
  }
  loom_sampling_init(&out.sampling);
  if (field(body, "temperature"))
    out.sampling.temperature = static_cast<float>(number(body, "temperature", 0.0, 2.0));
  if (field(body, "top_p"))
    out.sampling.top_p = static_cast<float>(number(body, "top_p", 0.0, 1.0));
  if (field(body, "top_k"))
    out.sampling.top_k = static_cast<int32_t>(integer(body, "top_k", -1, 1 << 20));
  out.sampling.greedy = out.sampling.temperature <= 0.0f ? 1 : 0;
  if (field(body, "seed"))
    out.seed = static_cast<uint64_t>(integer(body, "seed", INT64_MIN, INT64_MAX));
  out.maxTokens = limits_.defaultMaxTokens;
  for (const char *name : {"max_tokens", "max_completion_tokens"})
    if (field(body, name))
      out.maxTokens = integer(body, name, 1, limits_.context);
  if (const json *stop = field(body, "stop")) {
    if (stop->is_string())
      out.stop.push_back(stop->get<std::string>());
    else if (stop->is_array() && stop->size() <= 4) {
      for (const json &s : *stop) {
        if (!s.is_string() || s.get<std::string>().empty())
          bad("stop", "expected non-empty strings");
        out.stop.push_back(s.get<std::string>());
      }
    } else {
      bad("stop", "expected a string or an array of at most 4 strings");
    }
  }
  if (const json *stream = field(body, "stream")) {
    if (!stream->is_boolean())
      bad("stream", "expected a boolean");
    out.stream = stream->get<bool>();
  }
  if (const json *options = field(body, "stream_options"))
    if (const json *usage = options->is_object() ? field(*options, "include_usage") : nullptr)
      out.includeUsage = usage->is_boolean() && usage->get<bool>();
  if (const json *n = field(body, "n"); n && !(n->is_number_integer() && n->get<int64_t>() == 1))
    bad("n", "only n = 1 is supported");
}

void RequestParser::checkLength(GenerationRequest &out) const {
  const int64_t prompt = static_cast<int64_t>(out.promptIds.size());
  if (prompt == 0)
    bad("messages", "the prompt is empty");
  if (prompt > limits_.maxPromptTokens || prompt >= limits_.context)
    throw ApiError(400, "the prompt is " + std::to_string(prompt) + " tokens; this server takes " +
                            "at most " + std::to_string(std::min(limits_.maxPromptTokens,
                                                                 limits_.context - 1)),
                   "messages", "context_length_exceeded");
  out.maxTokens = std::min(out.maxTokens, limits_.context - prompt);
}

GenerationRequest RequestParser::chat(const json &body) const {
  if (!body.is_object())
    throw ApiError(400, "the request body must be a JSON object");
  GenerationRequest out;
  common(body, out);
  const json *messages = field(body, "messages");
  if (!messages || !messages->is_array() || messages->empty())
    bad("messages", "expected a non-empty array of messages");
  std::vector<chat::ChatMessage> conversation;
  for (size_t i = 0; i < messages->size(); ++i) {
    const json &m = (*messages)[i];
    const std::string where = "messages[" + std::to_string(i) + "]";
    if (!m.is_object() || !field(m, "role") || !m["role"].is_string())
      bad(where, "expected an object with a string 'role'");
    chat::ChatMessage message{m["role"].get<std::string>(), {}};
    const json *content = field(m, "content");
    if (content && content->is_string()) {
      message.content.push_back({chat::PartKind::Text, content->get<std::string>()});
    } else if (content && content->is_array()) {
      for (size_t j = 0; j < content->size(); ++j) {
        const json &part = (*content)[j];
        const std::string at = where + ".content[" + std::to_string(j) + "]";
        const std::string type = part.is_object() && part.contains("type") &&
                                         part["type"].is_string()
                                     ? part["type"].get<std::string>()
                                     : "";
        if (type == "text" && part.contains("text") && part["text"].is_string()) {
          message.content.push_back({chat::PartKind::Text, part["text"].get<std::string>()});
        } else if (type == "image_url") {
          const json *image = field(part, "image_url");
          const json *url = image && image->is_object() ? field(*image, "url") : image;
          if (!url || !url->is_string())
            bad(at + ".image_url", "expected {\"url\": \"data:image/...;base64,...\"}");
          out.media.push_back({LOOM_MEDIA_IMAGE, dataUrlBytes(url->get<std::string>(),
                                                              at + ".image_url.url"),
                               at + ".image_url"});
          message.content.push_back({chat::PartKind::Image, ""});
        } else if (type == "input_audio") {
          const json *audio = field(part, "input_audio");
          const json *data = audio && audio->is_object() ? field(*audio, "data") : nullptr;
          if (!data || !data->is_string())
            bad(at + ".input_audio", "expected {\"data\": base64 audio, \"format\": \"wav\"}");
          std::optional<std::string> bytes = decodeBase64(data->get<std::string>());
          if (!bytes)
            bad(at + ".input_audio.data", "not valid base64", "invalid_base64");
          out.media.push_back({LOOM_MEDIA_AUDIO, std::move(*bytes), at + ".input_audio"});
          message.content.push_back({chat::PartKind::Audio, ""});
        } else {
          bad(at + ".type", "unsupported content part type '" + type +
                                "'; expected text, image_url or input_audio",
              "unsupported_content_type");
        }
      }
    } else {
      bad(where + ".content", "expected a string or an array of content parts");
    }
    conversation.push_back(std::move(message));
  }
  std::string text;
  try {
    text = chat::render(conversation, {});
  } catch (const std::exception &e) {
    bad("messages", e.what());
  }
  // Each medium's marker (in part order, which is prompt order) becomes its soft-token run.
  std::string expanded;
  size_t cursor = 0;
  for (const Medium &medium : out.media) {
    const std::string_view marker =
        medium.kind == LOOM_MEDIA_IMAGE ? chat::kImageMarker : chat::kAudioMarker;
    const size_t at = text.find(marker, cursor);
    if (at == std::string::npos)
      bad(medium.name, "its marker is missing from the rendered prompt");
    expanded += text.substr(cursor, at - cursor) + mediaPrompt(model_, medium);
    cursor = at + marker.size();
  }
  for (std::string_view marker : {chat::kImageMarker, chat::kAudioMarker, chat::kVideoMarker})
    if (text.find(marker, cursor) != std::string::npos)
      bad("messages", "the text holds a " + std::string(marker) + " marker without its medium; "
                      "media go in image_url and input_audio parts");
  expanded += text.substr(cursor);
  out.promptIds = tokenize(expanded, false);
  checkLength(out);
  return out;
}

GenerationRequest RequestParser::completion(const json &body) const {
  if (!body.is_object())
    throw ApiError(400, "the request body must be a JSON object");
  GenerationRequest out;
  common(body, out);
  const json *prompt = field(body, "prompt");
  if (prompt && prompt->is_array() && prompt->size() == 1)
    prompt = &(*prompt)[0];
  if (!prompt || !prompt->is_string())
    bad("prompt", "expected a string");
  out.promptIds = tokenize(prompt->get<std::string>(), true);
  checkLength(out);
  return out;
}

} // namespace loom::serve
