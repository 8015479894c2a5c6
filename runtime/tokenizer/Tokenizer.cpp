// Hugging Face tokenizer.json BPE tokenizer. See Tokenizer.h for the pipeline; the comments below
// point at the `tokenizers` (Rust) behaviour each piece reproduces.
#include "loom/Tokenizer/Tokenizer.h"

#include "loom/Error.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <queue>
#include <unordered_map>

#ifdef __linux__
#include <sys/mman.h>
#endif

namespace loom {
namespace {

using Json = nlohmann::json;

constexpr int32_t kMaxId = 1 << 26; // refuse absurd ids instead of allocating gigabytes

// ---------------------------------------------------------------------------------------------
// UTF-8 helpers
// ---------------------------------------------------------------------------------------------

// Length of the valid UTF-8 character at p (n bytes available): >0 complete character,
// 0 a valid but truncated prefix, -1 invalid (as Rust's String::from_utf8 judges it).
int utf8Char(const unsigned char *p, size_t n) {
  unsigned char c = p[0];
  if (c < 0x80)
    return 1;
  int len;
  unsigned char lo = 0x80, hi = 0xBF; // allowed range of the second byte
  if (c >= 0xC2 && c <= 0xDF) {
    len = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    len = 3;
    if (c == 0xE0)
      lo = 0xA0;
    else if (c == 0xED)
      hi = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    len = 4;
    if (c == 0xF0)
      lo = 0x90;
    else if (c == 0xF4)
      hi = 0x8F;
  } else {
    return -1;
  }
  for (int i = 1; i < len; ++i) {
    if (static_cast<size_t>(i) >= n)
      return 0;
    unsigned char b = p[i];
    if (i == 1 ? (b < lo || b > hi) : (b < 0x80 || b > 0xBF))
      return -1;
  }
  return len;
}

// Byte length of the "character" at s[i]: a valid UTF-8 character, or 1 for an invalid byte
// (which then goes through byte fallback, so invalid input still round-trips).
size_t charLen(std::string_view s, size_t i) {
  int len = utf8Char(reinterpret_cast<const unsigned char *>(s.data()) + i, s.size() - i);
  return len > 0 ? static_cast<size_t>(len) : 1;
}

uint32_t decodeCodepoint(std::string_view s, size_t i, size_t len) {
  auto p = reinterpret_cast<const unsigned char *>(s.data()) + i;
  switch (len) {
  case 1:
    return p[0];
  case 2:
    return ((p[0] & 0x1Fu) << 6) | (p[1] & 0x3Fu);
  case 3:
    return ((p[0] & 0x0Fu) << 12) | ((p[1] & 0x3Fu) << 6) | (p[2] & 0x3Fu);
  default:
    return ((p[0] & 0x07u) << 18) | ((p[1] & 0x3Fu) << 12) | ((p[2] & 0x3Fu) << 6) | (p[3] & 0x3Fu);
  }
}

bool isValidUtf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    int len = utf8Char(reinterpret_cast<const unsigned char *>(s.data()) + i, s.size() - i);
    if (len <= 0)
      return false;
    i += static_cast<size_t>(len);
  }
  return true;
}

// Rust's char::is_whitespace.
bool isWhitespace(uint32_t c) {
  return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
         c == 0x205F || c == 0x3000;
}

// Word character for single_word added tokens (ASCII alphanumerics, '_', and any non-ASCII
// letter approximated as any non-ASCII, non-whitespace character).
bool isWordChar(uint32_t c) {
  return (c < 0x80 && (std::isalnum(static_cast<int>(c)) || c == '_')) || (c >= 0x80 && !isWhitespace(c));
}

const char kReplacementChar[] = "\xEF\xBF\xBD"; // U+FFFD

void replaceAll(std::string &s, const std::string &from, const std::string &to) {
  if (from.empty() || s.find(from) == std::string::npos)
    return;
  std::string out;
  out.reserve(s.size() + s.size() / 2);
  size_t pos = 0;
  for (size_t hit; (hit = s.find(from, pos)) != std::string::npos; pos = hit + from.size()) {
    out.append(s, pos, hit - pos);
    out += to;
  }
  out.append(s, pos, std::string::npos);
  s = std::move(out);
}

// ---------------------------------------------------------------------------------------------
// Merge table: open addressing, (leftId, rightId) -> (rank, newId)
// ---------------------------------------------------------------------------------------------

class MergeMap {
public:
  struct Entry {
    uint64_t key;
    int32_t rank, newId;
  };
  void reserve(size_t n) {
    size_t cap = 16;
    while (cap < n + n / 2)
      cap <<= 1;
    // The table is probed at random (tens of MB for a 262k vocab): back it with huge pages
    // where the OS allows, which cuts TLB misses and speeds encoding up noticeably.
    size_t bytes = (cap * sizeof(Entry) + kHugePage - 1) / kHugePage * kHugePage;
    slots_.reset(static_cast<Entry *>(std::aligned_alloc(kHugePage, bytes)));
    if (!slots_)
      throw std::bad_alloc();
#ifdef __linux__
    madvise(slots_.get(), bytes, MADV_HUGEPAGE);
#endif
    std::fill(slots_.get(), slots_.get() + cap, Entry{kEmpty, 0, 0});
    mask_ = cap - 1;
    shift_ = 64;
    for (size_t c = cap; c > 1; c >>= 1)
      --shift_;
  }
  // Later insertions of the same pair overwrite earlier ones (HashMap::collect semantics).
  void insert(int32_t a, int32_t b, int32_t rank, int32_t newId) {
    uint64_t key = makeKey(a, b);
    size_t i = slot(key);
    while (slots_[i].key != kEmpty && slots_[i].key != key)
      i = (i + 1) & mask_;
    slots_[i] = Entry{key, rank, newId};
  }
  // Key and value share one 16-byte slot: a lookup costs one cache miss at most.
  const Entry *find(int32_t a, int32_t b) const {
    if (!slots_)
      return nullptr;
    uint64_t key = makeKey(a, b);
    for (size_t i = slot(key);; i = (i + 1) & mask_) {
      if (slots_[i].key == key)
        return &slots_[i];
      if (slots_[i].key == kEmpty)
        return nullptr;
    }
  }

private:
  static constexpr uint64_t kEmpty = ~uint64_t(0);
  static uint64_t makeKey(int32_t a, int32_t b) {
    return (uint64_t(uint32_t(a)) << 32) | uint32_t(b);
  }
  size_t slot(uint64_t key) const {
    return size_t((key * 0x9E3779B97F4A7C15ull) >> shift_); // Fibonacci hashing: top bits
  }
  static constexpr size_t kHugePage = size_t(2) << 20;
  struct Free {
    void operator()(Entry *p) const { std::free(p); }
  };
  std::unique_ptr<Entry[], Free> slots_;
  size_t mask_ = 0;
  unsigned shift_ = 63;
};

// ---------------------------------------------------------------------------------------------
// Added-token matcher: byte trie, leftmost-longest (aho-corasick MatchKind::LeftmostLongest)
// ---------------------------------------------------------------------------------------------

struct AddedToken {
  int32_t id = 0;
  std::string content;
  bool special = false, lstrip = false, rstrip = false, singleWord = false, normalized = false;
};

class TokenMatcher {
public:
  void add(const std::string &text, int32_t tokenIndex) {
    if (text.empty())
      return;
    if (nodes_.empty())
      nodes_.push_back(-1);
    uint32_t node = 0;
    for (unsigned char c : text) {
      uint64_t key = (uint64_t(node) << 8) | c;
      auto it = children_.find(key);
      if (it == children_.end()) {
        uint32_t child = static_cast<uint32_t>(nodes_.size());
        nodes_.push_back(-1);
        children_.emplace(key, child);
        node = child;
      } else {
        node = it->second;
      }
    }
    if (nodes_[node] < 0) // the first of duplicate contents wins
      nodes_[node] = tokenIndex;
    first_[static_cast<unsigned char>(text[0])] = true;
  }
  bool empty() const { return nodes_.empty(); }

  // Leftmost-longest match at or after `from`: returns {start, end, tokenIndex} or tokenIndex -1.
  struct Match {
    size_t start = 0, end = 0;
    int32_t token = -1;
  };
  Match find(std::string_view text, size_t from) const {
    for (size_t pos = from; pos < text.size(); ++pos) {
      if (!first_[static_cast<unsigned char>(text[pos])])
        continue;
      Match best;
      uint32_t node = 0;
      for (size_t i = pos; i < text.size(); ++i) {
        auto it = children_.find((uint64_t(node) << 8) | static_cast<unsigned char>(text[i]));
        if (it == children_.end())
          break;
        node = it->second;
        if (nodes_[node] >= 0) {
          best.start = pos;
          best.end = i + 1;
          best.token = nodes_[node];
        }
      }
      if (best.token >= 0)
        return best;
    }
    return {};
  }

private:
  std::vector<int32_t> nodes_; // token index at each node, -1 if none
  std::unordered_map<uint64_t, uint32_t> children_;
  std::array<bool, 256> first_{};
};

// ---------------------------------------------------------------------------------------------
// Pipeline steps parsed from tokenizer.json
// ---------------------------------------------------------------------------------------------

struct NormalizerStep {
  enum Kind { Replace, Prepend } kind;
  std::string a, b; // Replace: pattern -> content; Prepend: prefix in a
};

struct SplitStep {
  enum Behavior { Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous } behavior;
  std::string pattern;
};

struct DecoderStep {
  enum Kind { Replace, ByteFallback, Fuse, Strip } kind;
  std::string a, b; // Replace: pattern -> content; Strip: content
  size_t start = 0, stop = 0;
};

} // namespace

struct Tokenizer::Data {
  std::string source;

  // Pieces by id: views into `arena`.
  std::string arena;
  std::vector<std::pair<uint32_t, uint32_t>> pieceSpan; // offset, length; length ~0u if absent
  std::vector<uint8_t> specialFlag;

  std::unordered_map<std::string_view, int32_t> vocab; // model vocab
  std::unordered_map<std::string_view, int32_t> added; // added tokens by content
  std::vector<int32_t> bmpChar;                        // codepoint < 0x10000 -> id of that 1-char piece
  std::array<int32_t, 256> byteToken{};                // <0xNN> ids, -1 if absent

  MergeMap merges;
  int32_t unkId = -1;
  bool fuseUnk = false, byteFallback = false, ignoreMerges = false;
  int32_t bos = -1;

  std::vector<AddedToken> addedTokens;
  TokenMatcher rawMatcher, normalizedMatcher;

  std::vector<NormalizerStep> normalizer;
  std::vector<SplitStep> preTokenizer;
  std::vector<DecoderStep> decoder;
  bool decoderHasByteFallback = false;

  std::string_view piece(int32_t id) const {
    const auto &span = pieceSpan[static_cast<size_t>(id)];
    return std::string_view(arena).substr(span.first, span.second == ~0u ? 0 : span.second);
  }
  bool hasPiece(int32_t id) const {
    return id >= 0 && static_cast<size_t>(id) < pieceSpan.size() && pieceSpan[static_cast<size_t>(id)].second != ~0u;
  }

  std::string normalize(std::string_view text) const;
  void preTokenize(std::string_view text, std::vector<std::string_view> &words) const;
  void bpe(std::string_view word, std::vector<int32_t> &out) const;
  void encodeNormalizedPiece(std::string_view text, std::vector<int32_t> &out) const;
  std::vector<std::string> decodeChain(std::vector<std::string> tokens) const;
};

namespace {

// ---------------------------------------------------------------------------------------------
// Loading
// ---------------------------------------------------------------------------------------------

struct Loader {
  const std::string &src;

  [[noreturn]] void bad(const std::string &field, const std::string &what) const {
    fail(src, ": field '", field, "' ", what);
  }
  const Json &require(const Json &obj, const char *key, const std::string &field,
                      const std::string &expected) const {
    if (!obj.is_object())
      bad(field, "missing: its parent is not an object (" + expected + ")");
    auto it = obj.find(key);
    if (it == obj.end())
      bad(field, "missing: expected " + expected);
    return *it;
  }
  std::string str(const Json &j, const std::string &field) const {
    if (!j.is_string())
      bad(field, std::string("is ") + j.type_name() + ": expected a string");
    return j.get<std::string>();
  }
  bool flag(const Json &obj, const char *key, const std::string &field, bool dflt = false) const {
    auto it = obj.find(key);
    if (it == obj.end() || it->is_null())
      return dflt;
    if (!it->is_boolean())
      bad(field, std::string("is ") + it->type_name() + ": expected true or false");
    return it->get<bool>();
  }
  int32_t id(const Json &j, const std::string &field) const {
    if (!j.is_number_integer())
      bad(field, std::string("is ") + j.type_name() + ": expected a token id (integer)");
    int64_t v = j.get<int64_t>();
    if (v < 0 || v >= kMaxId)
      bad(field, "is " + std::to_string(v) + ": expected a token id in [0, " + std::to_string(kMaxId) + ")");
    return static_cast<int32_t>(v);
  }
  // A {"String": "..."} pattern; Regex patterns are not supported.
  std::string stringPattern(const Json &obj, const std::string &field) const {
    const Json &pattern = require(obj, "pattern", field + ".pattern", "a {\"String\": ...} pattern");
    if (pattern.is_object() && pattern.contains("String"))
      return str(pattern["String"], field + ".pattern.String");
    bad(field + ".pattern", "is not supported: expected a {\"String\": ...} pattern (Regex patterns are not implemented)");
  }

  void normalizer(const Json &j, const std::string &field, std::vector<NormalizerStep> &out) const {
    if (j.is_null())
      return;
    std::string type = str(require(j, "type", field + ".type", "a normalizer type"), field + ".type");
    if (type == "Sequence") {
      const Json &list = require(j, "normalizers", field + ".normalizers", "a list of normalizers");
      if (!list.is_array())
        bad(field + ".normalizers", "is not an array: expected a list of normalizers");
      for (size_t i = 0; i < list.size(); ++i)
        normalizer(list[i], field + ".normalizers[" + std::to_string(i) + "]", out);
    } else if (type == "Replace") {
      std::string from = stringPattern(j, field);
      if (from.empty())
        bad(field + ".pattern.String", "is empty: expected a non-empty string to replace");
      out.push_back({NormalizerStep::Replace, from, str(require(j, "content", field + ".content", "the replacement"), field + ".content")});
    } else if (type == "Prepend") {
      out.push_back({NormalizerStep::Prepend, str(require(j, "prepend", field + ".prepend", "the prefix"), field + ".prepend"), {}});
    } else {
      bad(field + ".type", "is '" + type + "': expected one of Sequence, Replace, Prepend (others are not implemented)");
    }
  }

  void preTokenizer(const Json &j, const std::string &field, std::vector<SplitStep> &out) const {
    if (j.is_null())
      return;
    std::string type = str(require(j, "type", field + ".type", "a pre-tokenizer type"), field + ".type");
    if (type == "Sequence") {
      const Json &list = require(j, "pretokenizers", field + ".pretokenizers", "a list of pre-tokenizers");
      if (!list.is_array())
        bad(field + ".pretokenizers", "is not an array: expected a list of pre-tokenizers");
      for (size_t i = 0; i < list.size(); ++i)
        preTokenizer(list[i], field + ".pretokenizers[" + std::to_string(i) + "]", out);
    } else if (type == "Split") {
      SplitStep step;
      step.pattern = stringPattern(j, field);
      if (step.pattern.empty())
        bad(field + ".pattern.String", "is empty: expected a non-empty delimiter");
      if (flag(j, "invert", field + ".invert"))
        bad(field + ".invert", "is true: inverted splits are not implemented");
      std::string behavior = str(require(j, "behavior", field + ".behavior", "a split behavior"), field + ".behavior");
      if (behavior == "Removed")
        step.behavior = SplitStep::Removed;
      else if (behavior == "Isolated")
        step.behavior = SplitStep::Isolated;
      else if (behavior == "MergedWithPrevious")
        step.behavior = SplitStep::MergedWithPrevious;
      else if (behavior == "MergedWithNext")
        step.behavior = SplitStep::MergedWithNext;
      else if (behavior == "Contiguous")
        step.behavior = SplitStep::Contiguous;
      else
        bad(field + ".behavior", "is '" + behavior + "': expected Removed, Isolated, MergedWithPrevious, MergedWithNext or Contiguous");
      out.push_back(step);
    } else {
      bad(field + ".type", "is '" + type + "': expected Split or Sequence (others are not implemented)");
    }
  }

  void decoder(const Json &j, const std::string &field, std::vector<DecoderStep> &out) const {
    if (j.is_null())
      return;
    std::string type = str(require(j, "type", field + ".type", "a decoder type"), field + ".type");
    if (type == "Sequence") {
      const Json &list = require(j, "decoders", field + ".decoders", "a list of decoders");
      if (!list.is_array())
        bad(field + ".decoders", "is not an array: expected a list of decoders");
      for (size_t i = 0; i < list.size(); ++i)
        decoder(list[i], field + ".decoders[" + std::to_string(i) + "]", out);
    } else if (type == "Replace") {
      DecoderStep step{DecoderStep::Replace, stringPattern(j, field), {}};
      step.b = str(require(j, "content", field + ".content", "the replacement"), field + ".content");
      out.push_back(step);
    } else if (type == "ByteFallback") {
      out.push_back({DecoderStep::ByteFallback, {}, {}});
    } else if (type == "Fuse") {
      out.push_back({DecoderStep::Fuse, {}, {}});
    } else if (type == "Strip") {
      DecoderStep step{DecoderStep::Strip, str(require(j, "content", field + ".content", "the character to strip"), field + ".content"), {}};
      for (auto [key, dest] : {std::pair<const char *, size_t *>{"start", &step.start}, {"stop", &step.stop}}) {
        const Json &n = require(j, key, field + "." + key, "a count");
        if (!n.is_number_unsigned())
          bad(field + "." + key, "is not a non-negative integer");
        *dest = n.get<size_t>();
      }
      out.push_back(step);
    } else {
      bad(field + ".type", "is '" + type + "': expected Sequence, Replace, ByteFallback, Fuse or Strip (others are not implemented)");
    }
  }
};

// Streams tokenizer.json: model.vocab and model.merges (hundreds of thousands of entries) go
// straight into flat vectors; everything else becomes an ordinary DOM. About 4x faster than
// building the full DOM of a 33 MB file.
class SaxBuilder : public nlohmann::json_sax<Json> {
public:
  Json root;
  std::vector<std::pair<std::string, int64_t>> vocab;
  std::vector<std::pair<std::string, std::string>> merges;
  std::string errorField, errorWhat; // first malformed vocab/merges entry
  std::string parseError;

  bool null() override { return value(Json()); }
  bool boolean(bool v) override { return value(Json(v)); }
  bool number_integer(number_integer_t v) override { return integer(v); }
  bool number_unsigned(number_unsigned_t v) override {
    return integer(v > static_cast<number_unsigned_t>(INT64_MAX) ? INT64_MAX : static_cast<int64_t>(v));
  }
  bool number_float(number_float_t v, const string_t &) override { return value(Json(v)); }
  bool binary(binary_t &) override { return value(Json()); }
  bool string(string_t &v) override {
    if (mode_ == Mode::Merges) {
      if (depth_ == 1) {
        size_t space = v.find(' ');
        if (space == std::string::npos || v.find(' ', space + 1) != std::string::npos)
          error(mergeField(), "is '" + v + "': expected \"left right\"");
        else
          merges.emplace_back(v.substr(0, space), v.substr(space + 1));
        ++mergeIndex_;
      } else if (depth_ == 2) {
        pair_.push_back(std::move(v));
      }
      return true;
    }
    if (mode_ == Mode::Vocab) {
      error(vocabField(), "is a string: expected a token id (integer)");
      return true;
    }
    return value(Json(std::move(v)));
  }
  bool key(string_t &k) override {
    if (mode_ == Mode::Dom)
      key_ = std::move(k);
    else if (mode_ == Mode::Vocab && depth_ == 1)
      vocabKey_ = std::move(k);
    return true;
  }
  bool start_object(std::size_t) override {
    if (mode_ != Mode::Dom)
      return nested("an object");
    if (atModelField("vocab")) {
      value(Json::object()); // placeholder: the entries are in `vocab`
      mode_ = Mode::Vocab;
      depth_ = 1;
      return true;
    }
    return open(Json::object());
  }
  bool end_object() override { return close(); }
  bool start_array(std::size_t) override {
    if (mode_ == Mode::Merges && depth_ == 1) {
      depth_ = 2;
      pair_.clear();
      return true;
    }
    if (mode_ != Mode::Dom)
      return nested("an array");
    if (atModelField("merges")) {
      value(Json::array()); // placeholder: the entries are in `merges`
      mode_ = Mode::Merges;
      depth_ = 1;
      mergeIndex_ = 0;
      return true;
    }
    return open(Json::array());
  }
  bool end_array() override {
    if (mode_ == Mode::Merges && depth_ == 2) {
      if (pair_.size() == 2)
        merges.emplace_back(std::move(pair_[0]), std::move(pair_[1]));
      else
        error(mergeField(), "is malformed: expected \"left right\" or [left, right]");
      ++mergeIndex_;
      depth_ = 1;
      return true;
    }
    return close();
  }
  bool parse_error(std::size_t, const std::string &, const nlohmann::detail::exception &ex) override {
    parseError = ex.what();
    return false;
  }

private:
  enum class Mode { Dom, Vocab, Merges };
  Mode mode_ = Mode::Dom;
  int depth_ = 0; // nesting inside the streamed vocab/merges container
  size_t mergeIndex_ = 0;
  std::string key_, vocabKey_;
  std::vector<std::string> pair_;
  std::vector<Json *> stack_;
  std::vector<std::string> stackKeys_; // the key each open container was stored under

  std::string vocabField() const { return "model.vocab[\"" + vocabKey_ + "\"]"; }
  std::string mergeField() const { return "model.merges[" + std::to_string(mergeIndex_) + "]"; }
  void error(const std::string &field, const std::string &what) {
    if (errorField.empty()) {
      errorField = field;
      errorWhat = what;
    }
  }
  bool atModelField(const char *name) const {
    return stack_.size() == 2 && stackKeys_[1] == "model" && stack_[1]->is_object() && key_ == name;
  }
  bool integer(int64_t v) {
    if (mode_ == Mode::Vocab && depth_ == 1) {
      vocab.emplace_back(std::move(vocabKey_), v);
      return true;
    }
    return value(Json(v));
  }
  bool nested(const char *what) {
    if (mode_ == Mode::Vocab && depth_ == 1)
      error(vocabField(), std::string("is ") + what + ": expected a token id (integer)");
    if (mode_ == Mode::Merges)
      error(mergeField(), "is malformed: expected \"left right\" or [left, right]");
    ++depth_;
    return true;
  }
  // Stores v where the parser is (object member or array element) and returns where it went.
  Json *put(Json v) {
    if (stack_.empty()) {
      root = std::move(v);
      return &root;
    }
    Json &top = *stack_.back();
    if (top.is_object()) {
      Json &slot = top[key_];
      slot = std::move(v);
      return &slot;
    }
    top.push_back(std::move(v));
    return &top.back();
  }
  bool value(Json v) {
    if (mode_ == Mode::Vocab) {
      if (depth_ == 1)
        error(vocabField(), std::string("is ") + v.type_name() + ": expected a token id (integer)");
      return true;
    }
    if (mode_ == Mode::Merges) {
      if (depth_ == 1) {
        error(mergeField(), "is malformed: expected \"left right\" or [left, right]");
        ++mergeIndex_;
      } else if (depth_ == 2) {
        pair_.emplace_back(); // a non-string inside a pair: make the pair malformed
        pair_.emplace_back();
      }
      return true;
    }
    put(std::move(v));
    return true;
  }
  bool open(Json v) {
    std::string key = stack_.empty() || !stack_.back()->is_object() ? std::string() : key_;
    stack_.push_back(put(std::move(v)));
    stackKeys_.push_back(std::move(key));
    return true;
  }
  bool close() {
    if (mode_ != Mode::Dom) {
      if (--depth_ == 0)
        mode_ = Mode::Dom;
      else if (mode_ == Mode::Merges && depth_ == 1)
        ++mergeIndex_; // a deeper malformed element ended
      return true;
    }
    stack_.pop_back();
    stackKeys_.pop_back();
    return true;
  }
};

} // namespace

Tokenizer Tokenizer::fromJson(std::string_view jsonText, const std::string &sourceName) {
  const std::string &src = sourceName;
  SaxBuilder sax;
  bool parsed = false;
  try {
    parsed = Json::sax_parse(jsonText.begin(), jsonText.end(), &sax);
  } catch (const Json::exception &e) {
    fail(src, ": invalid JSON: ", e.what());
  }
  if (!parsed)
    fail(src, ": invalid JSON: ", sax.parseError);
  const Json &root = sax.root;
  if (!root.is_object())
    fail(src, ": expected a JSON object at the top level (a tokenizer.json), got ", root.type_name());

  Loader L{src};
  auto data = std::make_shared<Data>();
  Data &d = *data;
  d.source = src;

  try {
    // ---- model ----
    const Json &model = L.require(root, "model", "model", "a BPE model object");
    if (!model.is_object())
      L.bad("model", std::string("is ") + model.type_name() + ": expected a BPE model object");
    if (model.contains("type")) {
      std::string type = L.str(model["type"], "model.type");
      if (type != "BPE")
        L.bad("model.type", "is '" + type + "': expected 'BPE' (only BPE models are supported)");
    }
    const Json &vocab = L.require(model, "vocab", "model.vocab", "an object mapping pieces to ids");
    if (!vocab.is_object())
      L.bad("model.vocab", std::string("is ") + vocab.type_name() + ": expected an object mapping pieces to ids");
    const Json &merges = L.require(model, "merges", "model.merges", "a BPE model's merge list");
    if (!merges.is_array())
      L.bad("model.merges", std::string("is ") + merges.type_name() + ": expected a list of merges");
    if (!sax.errorField.empty())
      L.bad(sax.errorField, sax.errorWhat);
    const auto &vocabEntries = sax.vocab;
    const auto &mergeEntries = sax.merges;
    for (const char *key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
      auto it = model.find(key);
      if (it != model.end() && !it->is_null() && !(it->is_string() && it->get<std::string>().empty()))
        L.bad(std::string("model.") + key, "is set: this tokenizer does not implement it (expected null)");
    }
    if (auto it = model.find("dropout"); it != model.end() && !it->is_null() &&
                                          !(it->is_number() && it->get<double>() == 0.0))
      L.bad("model.dropout", "is set: BPE dropout is not supported (expected null)");
    d.fuseUnk = L.flag(model, "fuse_unk", "model.fuse_unk");
    d.byteFallback = L.flag(model, "byte_fallback", "model.byte_fallback");
    d.ignoreMerges = L.flag(model, "ignore_merges", "model.ignore_merges");

    // ---- pieces: vocab then added tokens ----
    int32_t maxId = -1;
    size_t arenaSize = 0;
    for (const auto &[pieceText, id] : vocabEntries) {
      if (id < 0 || id >= kMaxId)
        L.bad("model.vocab[\"" + pieceText + "\"]", "is " + std::to_string(id) +
                                                   ": expected a token id in [0, " + std::to_string(kMaxId) + ")");
      maxId = std::max(maxId, static_cast<int32_t>(id));
      arenaSize += pieceText.size();
    }
    if (auto it = root.find("added_tokens"); it != root.end() && !it->is_null()) {
      if (!it->is_array())
        L.bad("added_tokens", std::string("is ") + it->type_name() + ": expected a list of added tokens");
      for (size_t i = 0; i < it->size(); ++i) {
        const Json &t = (*it)[i];
        std::string field = "added_tokens[" + std::to_string(i) + "]";
        AddedToken tok;
        tok.id = L.id(L.require(t, "id", field + ".id", "the token id"), field + ".id");
        tok.content = L.str(L.require(t, "content", field + ".content", "the token text"), field + ".content");
        if (tok.content.empty())
          L.bad(field + ".content", "is empty: expected the token text");
        tok.special = L.flag(t, "special", field + ".special");
        tok.lstrip = L.flag(t, "lstrip", field + ".lstrip");
        tok.rstrip = L.flag(t, "rstrip", field + ".rstrip");
        tok.singleWord = L.flag(t, "single_word", field + ".single_word");
        tok.normalized = L.flag(t, "normalized", field + ".normalized", !tok.special);
        maxId = std::max(maxId, tok.id);
        arenaSize += tok.content.size();
        d.addedTokens.push_back(std::move(tok));
      }
    }
    if (maxId < 0)
      L.bad("model.vocab", "is empty: expected at least one piece");

    // All piece texts live in one arena (vocab first, then added tokens) so string_views into it
    // stay valid; the maps below key on those views.
    d.arena.reserve(arenaSize);
    d.pieceSpan.assign(static_cast<size_t>(maxId) + 1, {0u, ~0u});
    d.specialFlag.assign(static_cast<size_t>(maxId) + 1, 0);
    std::vector<std::pair<std::pair<uint32_t, uint32_t>, int32_t>> vocabSpans;
    vocabSpans.reserve(vocabEntries.size());
    for (const auto &[pieceText, id64] : vocabEntries) {
      auto id = static_cast<int32_t>(id64);
      std::pair<uint32_t, uint32_t> span{static_cast<uint32_t>(d.arena.size()), static_cast<uint32_t>(pieceText.size())};
      d.arena += pieceText;
      if (d.pieceSpan[static_cast<size_t>(id)].second != ~0u)
        L.bad("model.vocab[\"" + pieceText + "\"]", "reuses id " + std::to_string(id) + ": expected unique ids");
      d.pieceSpan[static_cast<size_t>(id)] = span;
      vocabSpans.push_back({span, id});
    }
    for (const AddedToken &tok : d.addedTokens) {
      auto id = static_cast<size_t>(tok.id);
      d.pieceSpan[id] = {static_cast<uint32_t>(d.arena.size()), static_cast<uint32_t>(tok.content.size())};
      d.arena += tok.content;
      d.specialFlag[id] = tok.special;
    }
    d.vocab.reserve(vocabEntries.size());
    for (const auto &[span, id] : vocabSpans)
      d.vocab.emplace(std::string_view(d.arena).substr(span.first, span.second), id);
    d.bmpChar.assign(0x10000, -1);
    d.byteToken.fill(-1);
    for (const auto &[pieceText, id] : d.vocab) {
      size_t len = charLen(pieceText, 0);
      if (len == pieceText.size()) {
        uint32_t cp = decodeCodepoint(pieceText, 0, len);
        if (cp < 0x10000 && isValidUtf8(pieceText))
          d.bmpChar[cp] = id;
      }
      if (pieceText.size() == 6 && pieceText.substr(0, 3) == "<0x" && pieceText[5] == '>') {
        auto hex = [](char c) -> int {
          if (c >= '0' && c <= '9')
            return c - '0';
          if (c >= 'A' && c <= 'F')
            return c - 'A' + 10;
          return -1;
        };
        int hi = hex(pieceText[3]), lo = hex(pieceText[4]);
        if (hi >= 0 && lo >= 0)
          d.byteToken[static_cast<size_t>(hi * 16 + lo)] = id;
      }
    }
    for (size_t i = 0; i < d.addedTokens.size(); ++i)
      d.added.emplace(d.piece(d.addedTokens[i].id), d.addedTokens[i].id);

    if (auto it = model.find("unk_token"); it != model.end() && !it->is_null()) {
      std::string unk = L.str(*it, "model.unk_token");
      auto found = d.vocab.find(unk);
      if (found == d.vocab.end())
        L.bad("model.unk_token", "is '" + unk + "': expected a piece of model.vocab");
      d.unkId = found->second;
    }

    // ---- merges: rank = position in the list ----
    d.merges.reserve(mergeEntries.size());
    std::string joined;
    for (size_t i = 0; i < mergeEntries.size(); ++i) {
      const std::string &a = mergeEntries[i].first, &b = mergeEntries[i].second;
      joined = a;
      joined += b;
      auto ia = d.vocab.find(a), ib = d.vocab.find(b), ij = d.vocab.find(joined);
      if (ia == d.vocab.end() || ib == d.vocab.end() || ij == d.vocab.end())
        L.bad("model.merges[" + std::to_string(i) + "]", "('" + a + "', '" + b +
                                                             "') uses a piece missing from model.vocab");
      d.merges.insert(ia->second, ib->second, static_cast<int32_t>(i), ij->second);
    }

    // ---- added-token matchers (the normalized ones match normalized text) ----
    L.normalizer(root.value("normalizer", Json()), "normalizer", d.normalizer);
    for (size_t i = 0; i < d.addedTokens.size(); ++i) {
      const AddedToken &tok = d.addedTokens[i];
      if (tok.normalized)
        d.normalizedMatcher.add(d.normalize(tok.content), static_cast<int32_t>(i));
      else
        d.rawMatcher.add(tok.content, static_cast<int32_t>(i));
    }
    L.preTokenizer(root.value("pre_tokenizer", Json()), "pre_tokenizer", d.preTokenizer);
    L.decoder(root.value("decoder", Json()), "decoder", d.decoder);
    for (const DecoderStep &step : d.decoder)
      d.decoderHasByteFallback |= step.kind == DecoderStep::ByteFallback;

    // ---- BOS: the post-processor's leading special token, else a conventional name ----
    if (auto it = root.find("post_processor"); it != root.end() && it->is_object() &&
                                               it->value("type", "") == "TemplateProcessing") {
      const Json &single = it->value("single", Json::array());
      if (single.is_array() && !single.empty() && single[0].contains("SpecialToken")) {
        const Json &st = single[0]["SpecialToken"];
        std::string name = L.str(L.require(st, "id", "post_processor.single[0].SpecialToken.id", "a token name"),
                                 "post_processor.single[0].SpecialToken.id");
        const Json &specials = it->value("special_tokens", Json::object());
        if (specials.contains(name) && specials[name].contains("ids") && specials[name]["ids"].is_array() &&
            !specials[name]["ids"].empty())
          d.bos = L.id(specials[name]["ids"][0], "post_processor.special_tokens." + name + ".ids[0]");
      }
    }
    if (d.bos < 0) {
      for (const char *name : {"<bos>", "<s>"}) {
        if (auto it = d.added.find(name); it != d.added.end()) {
          d.bos = it->second;
          break;
        }
        if (auto it = d.vocab.find(name); it != d.vocab.end()) {
          d.bos = it->second;
          break;
        }
      }
    }
  } catch (const Json::exception &e) {
    fail(src, ": unexpected tokenizer.json structure: ", e.what());
  }
  return Tokenizer(std::move(data));
}

Tokenizer Tokenizer::fromFile(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    fail(path, ": cannot open tokenizer file");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad())
    fail(path, ": error reading tokenizer file");
  return fromJson(text, path);
}

// ---------------------------------------------------------------------------------------------
// Encoding
// ---------------------------------------------------------------------------------------------

std::string Tokenizer::Data::normalize(std::string_view text) const {
  std::string s(text);
  for (const NormalizerStep &step : normalizer) {
    if (step.kind == NormalizerStep::Replace)
      replaceAll(s, step.a, step.b);
    else if (!s.empty())
      s.insert(0, step.a);
  }
  return s;
}

void Tokenizer::Data::preTokenize(std::string_view text, std::vector<std::string_view> &words) const {
  words.clear();
  if (!text.empty())
    words.push_back(text);
  // Each Split step follows tokenizers' NormalizedString::split: the word is cut into alternating
  // non-match / match spans, which are then combined according to the behavior.
  std::vector<std::pair<std::pair<size_t, size_t>, bool>> spans;
  std::vector<std::pair<size_t, size_t>> pieces;
  std::vector<std::string_view> next;
  for (const SplitStep &step : preTokenizer) {
    next.clear();
    for (std::string_view w : words) {
      spans.clear();
      size_t pos = 0;
      for (size_t hit; (hit = w.find(step.pattern, pos)) != std::string_view::npos; pos = hit + step.pattern.size()) {
        if (hit > pos)
          spans.push_back({{pos, hit}, false});
        spans.push_back({{hit, hit + step.pattern.size()}, true});
      }
      if (pos < w.size())
        spans.push_back({{pos, w.size()}, false});
      pieces.clear();
      bool previousMatch = false;
      switch (step.behavior) {
      case SplitStep::Removed:
        for (auto &[span, isMatch] : spans)
          if (!isMatch)
            pieces.push_back(span);
        break;
      case SplitStep::Isolated:
        for (auto &[span, isMatch] : spans)
          pieces.push_back(span);
        break;
      case SplitStep::MergedWithPrevious:
        for (auto &[span, isMatch] : spans) {
          if (isMatch && !previousMatch && !pieces.empty())
            pieces.back().second = span.second;
          else
            pieces.push_back(span);
          previousMatch = isMatch;
        }
        break;
      case SplitStep::MergedWithNext:
        for (auto it = spans.rbegin(); it != spans.rend(); ++it) {
          if (it->second && !previousMatch && !pieces.empty())
            pieces.back().first = it->first.first;
          else
            pieces.push_back(it->first);
          previousMatch = it->second;
        }
        std::reverse(pieces.begin(), pieces.end());
        break;
      case SplitStep::Contiguous:
        for (auto &[span, isMatch] : spans) {
          if (isMatch && previousMatch)
            pieces.back().second = span.second;
          else
            pieces.push_back(span);
          previousMatch = isMatch;
        }
        break;
      }
      for (auto [from, to] : pieces)
        if (to > from)
          next.push_back(w.substr(from, to - from));
    }
    words.swap(next);
  }
}

void Tokenizer::Data::bpe(std::string_view word, std::vector<int32_t> &out) const {
  if (word.empty())
    return;
  if (ignoreMerges) {
    if (auto it = vocab.find(word); it != vocab.end()) {
      out.push_back(it->second);
      return;
    }
  }
  struct Symbol {
    int32_t id;
    int32_t prev, next;
    uint32_t len; // 0 once merged into its left neighbour
  };
  std::vector<Symbol> sym;
  sym.reserve(word.size());
  auto add = [&](int32_t id, uint32_t len) {
    int32_t index = static_cast<int32_t>(sym.size());
    sym.push_back({id, index - 1, -1, len});
    if (index > 0)
      sym[static_cast<size_t>(index) - 1].next = index;
  };
  // Pending <unk> (id, byte length), fused with following unknowns if fuse_unk.
  int32_t unkPending = -1;
  uint32_t unkLen = 0;
  for (size_t i = 0; i < word.size();) {
    size_t len = charLen(word, i);
    int32_t id = -1;
    bool valid = len > 1 || static_cast<unsigned char>(word[i]) < 0x80;
    if (valid) {
      uint32_t cp = decodeCodepoint(word, i, len);
      if (cp < 0x10000) {
        id = bmpChar[cp];
      } else if (auto it = vocab.find(word.substr(i, len)); it != vocab.end()) {
        id = it->second;
      }
    }
    if (id >= 0) {
      if (unkPending >= 0) {
        add(unkPending, unkLen);
        unkPending = -1;
      }
      add(id, static_cast<uint32_t>(len));
    } else {
      bool fellBack = false;
      if (byteFallback) {
        fellBack = true;
        for (size_t k = 0; k < len; ++k)
          fellBack &= byteToken[static_cast<unsigned char>(word[i + k])] >= 0;
        if (fellBack)
          for (size_t k = 0; k < len; ++k)
            add(byteToken[static_cast<unsigned char>(word[i + k])], 1);
      }
      if (!fellBack) {
        if (unkId < 0)
          fail(source, ": cannot encode character at byte ", i, " of a word: not in model.vocab and no "
                       "byte fallback or model.unk_token to represent it");
        if (unkPending >= 0 && fuseUnk) {
          unkLen += static_cast<uint32_t>(len);
        } else {
          if (unkPending >= 0)
            add(unkPending, unkLen);
          unkPending = unkId;
          unkLen = static_cast<uint32_t>(len);
        }
      }
    }
    i += len;
  }
  if (unkPending >= 0)
    add(unkPending, unkLen);

  // Rank-ordered merging; ties go to the leftmost pair (tokenizers' Word::merge_all). Entries
  // remember the pair they were made for: if it is still there the entry is current without a
  // table lookup; otherwise the lookup decides exactly as tokenizers does (same new id = valid).
  struct Merge {
    int32_t pos, rank, newId, left, right;
    bool operator<(const Merge &o) const { // priority_queue top = lowest rank, then lowest pos
      return rank != o.rank ? rank > o.rank : pos > o.pos;
    }
  };
  std::vector<Merge> heapStorage;
  heapStorage.reserve(sym.size() * 2);
  std::priority_queue<Merge> queue(std::less<Merge>(), std::move(heapStorage));
  for (size_t i = 0; i + 1 < sym.size(); ++i)
    if (auto m = merges.find(sym[i].id, sym[i + 1].id))
      queue.push({static_cast<int32_t>(i), m->rank, m->newId, sym[i].id, sym[i + 1].id});
  while (!queue.empty()) {
    Merge top = queue.top();
    queue.pop();
    Symbol &cur = sym[static_cast<size_t>(top.pos)];
    if (cur.len == 0 || cur.next < 0)
      continue;
    Symbol right = sym[static_cast<size_t>(cur.next)];
    if (cur.id != top.left || right.id != top.right) {
      auto m = merges.find(cur.id, right.id);
      if (!m || m->newId != top.newId)
        continue; // stale entry
    }
    sym[static_cast<size_t>(cur.next)].len = 0;
    cur.id = top.newId;
    cur.len += right.len;
    cur.next = right.next;
    if (right.next >= 0)
      sym[static_cast<size_t>(right.next)].prev = top.pos;
    if (cur.prev >= 0) {
      int32_t left = sym[static_cast<size_t>(cur.prev)].id;
      if (auto pm = merges.find(left, cur.id))
        queue.push({cur.prev, pm->rank, pm->newId, left, cur.id});
    }
    if (cur.next >= 0) {
      int32_t next = sym[static_cast<size_t>(cur.next)].id;
      if (auto nm = merges.find(cur.id, next))
        queue.push({top.pos, nm->rank, nm->newId, cur.id, next});
    }
  }
  for (const Symbol &s : sym)
    if (s.len != 0)
      out.push_back(s.id);
}

void Tokenizer::Data::encodeNormalizedPiece(std::string_view text, std::vector<int32_t> &out) const {
  std::vector<std::string_view> words;
  preTokenize(text, words);
  for (std::string_view w : words)
    bpe(w, out);
}

namespace {

// Splits text on added tokens (tokenizers' AddedVocabulary::find_matches): calls onText for the
// gaps and onToken for the matches, honouring lstrip/rstrip/single_word.
template <typename OnText, typename OnToken>
void splitAdded(const TokenMatcher &matcher, const std::vector<AddedToken> &tokens, std::string_view text,
                OnText onText, OnToken onToken) {
  if (matcher.empty()) {
    onText(text);
    return;
  }
  size_t offset = 0, searchFrom = 0;
  while (true) {
    TokenMatcher::Match m = matcher.find(text, searchFrom);
    if (m.token < 0)
      break;
    const AddedToken &tok = tokens[static_cast<size_t>(m.token)];
    size_t start = m.start, stop = m.end;
    searchFrom = m.end;
    if (tok.singleWord) {
      auto prevWord = [&] {
        if (start == 0)
          return false;
        size_t p = start - 1;
        while (p > 0 && (static_cast<unsigned char>(text[p]) & 0xC0) == 0x80)
          --p;
        return isWordChar(decodeCodepoint(text, p, charLen(text, p)));
      };
      bool nextWord = stop < text.size() && isWordChar(decodeCodepoint(text, stop, charLen(text, stop)));
      if (prevWord() || nextWord)
        continue;
    }
    if (tok.lstrip) {
      while (start > offset) {
        size_t p = start - 1;
        while (p > offset && (static_cast<unsigned char>(text[p]) & 0xC0) == 0x80)
          --p;
        if (!isWhitespace(decodeCodepoint(text, p, charLen(text, p))))
          break;
        start = p;
      }
    }
    if (tok.rstrip) {
      while (stop < text.size()) {
        size_t len = charLen(text, stop);
        if (!isWhitespace(decodeCodepoint(text, stop, len)))
          break;
        stop += len;
      }
      searchFrom = stop;
    }
    if (offset < start)
      onText(text.substr(offset, start - offset));
    onToken(tok.id);
    offset = stop;
  }
  if (offset < text.size())
    onText(text.substr(offset));
}

} // namespace

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool addBos) const {
  const Data &d = *data_;
  std::vector<int32_t> out;
  out.reserve(text.size() / 3 + 2);
  if (addBos) {
    if (d.bos < 0)
      fail(d.source, ": cannot add BOS: the tokenizer defines no BOS token");
    out.push_back(d.bos);
  }
  auto pushToken = [&](int32_t id) { out.push_back(id); };
  splitAdded(d.rawMatcher, d.addedTokens, text, [&](std::string_view gap) {
    std::string normalized = d.normalize(gap);
    splitAdded(d.normalizedMatcher, d.addedTokens, normalized,
               [&](std::string_view piece) { d.encodeNormalizedPiece(piece, out); }, pushToken);
  }, pushToken);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Decoding
// ---------------------------------------------------------------------------------------------

namespace {

int byteTokenValue(std::string_view t) {
  if (t.size() != 6 || t.substr(0, 3) != "<0x" || t[5] != '>')
    return -1;
  int v = 0;
  for (char c : t.substr(3, 2)) {
    int digit = (c >= '0' && c <= '9') ? c - '0' : (c >= 'A' && c <= 'F') ? c - 'A' + 10
                                                  : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
    if (digit < 0)
      return -1;
    v = v * 16 + digit;
  }
  return v;
}

void stripToken(std::string &t, const std::string &content, size_t start, size_t stop) {
  if (content.empty())
    return;
  for (size_t i = 0; i < start && t.compare(0, content.size(), content) == 0; ++i)
    t.erase(0, content.size());
  for (size_t i = 0; i < stop && t.size() >= content.size() &&
                     t.compare(t.size() - content.size(), content.size(), content) == 0;
       ++i)
    t.erase(t.size() - content.size());
}

} // namespace

std::vector<std::string> Tokenizer::Data::decodeChain(std::vector<std::string> tokens) const {
  for (const DecoderStep &step : decoder) {
    switch (step.kind) {
    case DecoderStep::Replace:
      for (std::string &t : tokens)
        replaceAll(t, step.a, step.b);
      break;
    case DecoderStep::Strip:
      for (std::string &t : tokens)
        stripToken(t, step.a, step.start, step.stop);
      break;
    case DecoderStep::Fuse: {
      std::string all;
      for (const std::string &t : tokens)
        all += t;
      tokens.assign(1, std::move(all));
      break;
    }
    case DecoderStep::ByteFallback: {
      std::vector<std::string> result;
      std::string bytes;
      size_t byteCount = 0;
      auto flush = [&] {
        if (byteCount == 0)
          return;
        if (isValidUtf8(bytes)) {
          result.push_back(bytes);
        } else {
          for (size_t i = 0; i < byteCount; ++i)
            result.emplace_back(kReplacementChar);
        }
        bytes.clear();
        byteCount = 0;
      };
      for (std::string &t : tokens) {
        int v = byteTokenValue(t);
        if (v >= 0) {
          bytes.push_back(static_cast<char>(v));
          ++byteCount;
        } else {
          flush();
          result.push_back(std::move(t));
        }
      }
      flush();
      tokens = std::move(result);
      break;
    }
    }
  }
  return tokens;
}

std::string Tokenizer::decode(const std::vector<int32_t> &ids, bool skipSpecialTokens) const {
  const Data &d = *data_;
  std::vector<std::string> tokens;
  tokens.reserve(ids.size());
  for (int32_t id : ids) {
    if (!d.hasPiece(id))
      fail(d.source, ": cannot decode token id ", id, ": expected an id in [0, ", vocabSize(), ")");
    if (skipSpecialTokens && d.specialFlag[static_cast<size_t>(id)])
      continue;
    tokens.emplace_back(d.piece(id));
  }
  std::string text;
  for (const std::string &t : d.decodeChain(std::move(tokens)))
    text += t;
  return text;
}

std::string Tokenizer::tokenPiece(int32_t id) const {
  if (!data_->hasPiece(id))
    fail(data_->source, ": token id ", id, " has no piece: expected an id in [0, ", vocabSize(), ")");
  return std::string(data_->piece(id));
}

int32_t Tokenizer::vocabSize() const { return static_cast<int32_t>(data_->pieceSpan.size()); }

std::optional<int32_t> Tokenizer::tokenId(std::string_view piece) const {
  if (auto it = data_->added.find(piece); it != data_->added.end())
    return it->second;
  if (auto it = data_->vocab.find(piece); it != data_->vocab.end())
    return it->second;
  return std::nullopt;
}

int32_t Tokenizer::bosId() const { return data_->bos; }

bool Tokenizer::isSpecial(int32_t id) const {
  return data_->hasPiece(id) && data_->specialFlag[static_cast<size_t>(id)];
}

// ---------------------------------------------------------------------------------------------
// Streaming decode
// ---------------------------------------------------------------------------------------------

StreamingDecoder::StreamingDecoder(const Tokenizer &t) : tokenizer_(t) {}

std::string StreamingDecoder::push(int32_t id) {
  const Tokenizer::Data &d = *tokenizer_.data_;
  if (!d.hasPiece(id))
    fail(d.source, ": cannot decode token id ", id, ": expected an id in [0, ", tokenizer_.vocabSize(), ")");
  std::string_view piece = d.piece(id);
  int byteValue = d.decoderHasByteFallback ? byteTokenValue(piece) : -1;
  if (byteValue >= 0) {
    pending_.push_back(static_cast<char>(byteValue));
  } else {
    std::vector<std::string> one{std::string(piece)};
    for (const std::string &t : d.decodeChain(std::move(one)))
      pending_ += t;
  }
  // Emit every complete character; replace bytes that can never become valid.
  std::string out;
  size_t i = 0;
  while (i < pending_.size()) {
    int len = utf8Char(reinterpret_cast<const unsigned char *>(pending_.data()) + i, pending_.size() - i);
    if (len == 0)
      break; // incomplete: wait for more bytes
    if (len < 0) {
      out += kReplacementChar;
      ++i;
      continue;
    }
    out.append(pending_, i, static_cast<size_t>(len));
    i += static_cast<size_t>(len);
  }
  pending_.erase(0, i);
  return out;
}

std::string StreamingDecoder::finish() {
  std::string out;
  for (size_t i = 0; i < pending_.size(); ++i)
    out += kReplacementChar;
  pending_.clear();
  return out;
}

} // namespace loom
