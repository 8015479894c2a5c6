#include "Base64.h"

#include <openssl/evp.h>

#include <memory>

namespace loom::serve {

std::optional<std::string> decodeBase64(std::string_view text) {
  if (text.size() % 4 != 0 || text.size() > static_cast<size_t>(INT32_MAX))
    return std::nullopt;
  // EVP_DecodeUpdate/Final, unlike EVP_DecodeBlock, account for '=' padding and refuse
  // characters outside the alphabet.
  std::unique_ptr<EVP_ENCODE_CTX, void (*)(EVP_ENCODE_CTX *)> context(EVP_ENCODE_CTX_new(),
                                                                      EVP_ENCODE_CTX_free);
  if (!context)
    return std::nullopt;
  EVP_DecodeInit(context.get());
  std::string out(text.size() / 4 * 3 + 3, '\0');
  int written = 0, last = 0;
  if (EVP_DecodeUpdate(context.get(), reinterpret_cast<unsigned char *>(out.data()), &written,
                       reinterpret_cast<const unsigned char *>(text.data()),
                       static_cast<int>(text.size())) < 0)
    return std::nullopt;
  if (EVP_DecodeFinal(context.get(), reinterpret_cast<unsigned char *>(out.data()) + written,
                      &last) != 1)
    return std::nullopt;
  out.resize(static_cast<size_t>(written + last));
  return out;
}

} // namespace loom::serve
