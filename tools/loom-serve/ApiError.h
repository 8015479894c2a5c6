// An OpenAI-style error: the HTTP status and the body's {"error": {...}} object.
#pragma once

#include <nlohmann/json.hpp>

#include <stdexcept>
#include <string>

namespace loom::serve {

struct ApiError : std::runtime_error {
  int status;        // 400, 401, 404, 413, 503, ...
  std::string type;  // invalid_request_error, authentication_error, server_error, ...
  std::string param; // the request field at fault, or empty
  std::string code;  // a machine-readable reason, or empty

  ApiError(int status, std::string message, std::string param = "", std::string code = "",
           std::string type = "invalid_request_error")
      : std::runtime_error(std::move(message)), status(status), type(std::move(type)),
        param(std::move(param)), code(std::move(code)) {}

  nlohmann::json body() const {
    return {{"error",
             {{"message", what()},
              {"type", type},
              {"param", param.empty() ? nlohmann::json(nullptr) : nlohmann::json(param)},
              {"code", code.empty() ? nlohmann::json(nullptr) : nlohmann::json(code)}}}};
  }
};

} // namespace loom::serve
