// Base64 decoding (RFC 4648, standard alphabet, padded) for data: URLs, through OpenSSL.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace loom::serve {

// The decoded bytes, or nothing when `text` is not base64.
std::optional<std::string> decodeBase64(std::string_view text);

} // namespace loom::serve
