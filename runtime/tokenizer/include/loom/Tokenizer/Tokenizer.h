// A Hugging Face tokenizer.json BPE tokenizer (the SentencePiece-converted flavour Gemma uses).
//
// Encoding follows the `tokenizers` library step by step:
//   1. added tokens are split out of the raw text (leftmost-longest literal match; tokens with
//      normalized=false match the raw text, normalized=true ones match after normalization;
//      lstrip/rstrip/single_word honoured),
//   2. the remaining pieces are normalized (Replace/Prepend/Sequence normalizers),
//   3. pre-tokenized (Split with a string pattern, or none),
//   4. each word is run through BPE: characters (falling back to <0xNN> byte tokens), then
//      merges applied lowest rank first, leftmost first among equal ranks.
// Decoding runs the decoder chain of tokenizer.json (Replace, ByteFallback, Fuse, Strip).
//
// Tokenizer objects are cheap to copy: they share immutable data through a shared_ptr.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace loom {

class Tokenizer {
public:
  // Parses tokenizer.json text. sourceName names the input in error messages.
  // Throws loom::Error on malformed JSON or unsupported/missing fields.
  static Tokenizer fromJson(std::string_view jsonText, const std::string &sourceName);
  static Tokenizer fromFile(const std::string &path);

  // Token ids of text; addBos prepends bosId() (what the post-processor template does).
  std::vector<int32_t> encode(std::string_view text, bool addBos = false) const;

  // Full decode through the tokenizer.json decoder chain. Ids out of range throw loom::Error.
  // skipSpecialTokens drops added tokens flagged special (like HF's skip_special_tokens).
  std::string decode(const std::vector<int32_t> &ids, bool skipSpecialTokens = false) const;

  // Raw vocabulary piece of id (e.g. "▁world", "<0x0A>", "<|turn>"). Throws if out of range.
  std::string tokenPiece(int32_t id) const;

  // One past the largest id (model vocab plus added tokens; 262145 for Gemma, whose
  // <image_soft_token> = 262144 lives only in added_tokens).
  int32_t vocabSize() const;

  // Id of a piece in the vocab or the added tokens.
  std::optional<int32_t> tokenId(std::string_view piece) const;

  // Id of the BOS token (from the post_processor template, else "<bos>"/"<s>"); -1 if none.
  int32_t bosId() const;

  // True for added tokens flagged special.
  bool isSpecial(int32_t id) const;

  struct Data;

private:
  explicit Tokenizer(std::shared_ptr<const Data> data) : data_(std::move(data)) {}
  std::shared_ptr<const Data> data_;
  friend class StreamingDecoder;
};

// Incremental decode for generation: never emits half a UTF-8 character. The concatenation of
// push() results and finish() equals Tokenizer::decode for any id sequence whose byte-fallback
// runs form valid UTF-8. For invalid bytes it emits one U+FFFD per undecodable byte as soon as it
// is known to be invalid, whereas the full decode (following HF's ByteFallback) replaces every
// byte of an invalid byte-token run with U+FFFD.
class StreamingDecoder {
public:
  explicit StreamingDecoder(const Tokenizer &t);
  std::string push(int32_t id); // the text that is now complete and printable
  std::string finish();         // whatever remains (invalid/incomplete trailing bytes as U+FFFD)

private:
  Tokenizer tokenizer_;
  std::string pending_; // bytes not yet emitted (an incomplete UTF-8 sequence at most)
};

} // namespace loom
