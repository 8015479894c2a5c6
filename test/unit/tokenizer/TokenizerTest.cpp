// Tokenizer tests: reference encodings of the Gemma 4 and Gemma 3 tokenizers (cases.jsonl made
// with Hugging Face tokenizers), decoding, streaming decode, errors, and the loom-tokenize tool.
#include "loom/Error.h"
#include "loom/Tokenizer/Tokenizer.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <sys/wait.h>
#include <unistd.h>

namespace {

using loom::StreamingDecoder;
using loom::Tokenizer;

struct Case {
  std::string text;
  std::vector<int32_t> ids;
};

std::vector<Case> loadCases(const std::string &path) {
  std::ifstream in(path);
  EXPECT_TRUE(in) << "cannot open " << path;
  std::vector<Case> cases;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty())
      continue;
    auto j = nlohmann::json::parse(line);
    cases.push_back({j.at("text").get<std::string>(), j.at("ids").get<std::vector<int32_t>>()});
  }
  return cases;
}

const Tokenizer &gemma4() {
  static const Tokenizer tok = [] {
    auto start = std::chrono::steady_clock::now();
    Tokenizer t = Tokenizer::fromFile(LOOM_TOK_GEMMA4_JSON);
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("[ info     ] loaded gemma4 tokenizer.json in %.3f s\n", s);
    return t;
  }();
  return tok;
}

const Tokenizer &gemma3() {
  static const Tokenizer tok = Tokenizer::fromFile(LOOM_TOK_GEMMA3_JSON);
  return tok;
}

std::string idsString(const std::vector<int32_t> &ids) {
  std::string s;
  for (int32_t id : ids)
    s += (s.empty() ? "" : " ") + std::to_string(id);
  return s;
}

void expectAllCases(const Tokenizer &tok, const std::string &casesPath) {
  std::vector<Case> cases = loadCases(casesPath);
  ASSERT_GT(cases.size(), 300u);
  size_t failures = 0;
  for (const Case &c : cases) {
    std::vector<int32_t> got = tok.encode(c.text);
    if (got == c.ids)
      continue;
    if (++failures <= 5)
      ADD_FAILURE() << "mismatch for " << nlohmann::json(c.text).dump() << "\n  expected: " << idsString(c.ids)
                    << "\n  got:      " << idsString(got);
  }
  EXPECT_EQ(failures, 0u) << failures << " of " << cases.size() << " cases differ";
  std::printf("[ info     ] %zu/%zu cases of %s match\n", cases.size() - failures, cases.size(), casesPath.c_str());
}

bool validUtf8(const std::string &s) {
  size_t i = 0;
  auto p = reinterpret_cast<const unsigned char *>(s.data());
  while (i < s.size()) {
    unsigned char c = p[i];
    size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (len == 0 || i + len > s.size())
      return false;
    for (size_t k = 1; k < len; ++k)
      if ((p[i + k] & 0xC0) != 0x80)
        return false;
    i += len;
  }
  return true;
}

std::string replaceAll(std::string s, const std::string &from, const std::string &to) {
  for (size_t pos = 0; (pos = s.find(from, pos)) != std::string::npos; pos += to.size())
    s.replace(pos, from.size(), to);
  return s;
}

// ---------------------------------------------------------------------------------------------

TEST(Tokenizer, Gemma4ReferenceCases) { expectAllCases(gemma4(), LOOM_TOK_GEMMA4_CASES); }

TEST(Tokenizer, Gemma3ReferenceCases) { expectAllCases(gemma3(), LOOM_TOK_GEMMA3_CASES); }

TEST(Tokenizer, ModelMdVector) {
  std::vector<int32_t> expected{9259, 236764, 1902, 236888, 236743, 236770, 236778, 236800, 236812, 236810};
  EXPECT_EQ(gemma4().encode("Hello, world! 12345"), expected);
  expected.insert(expected.begin(), 2);
  EXPECT_EQ(gemma4().encode("Hello, world! 12345", /*addBos=*/true), expected);
}

TEST(Tokenizer, VocabularyFacts) {
  const Tokenizer &tok = gemma4();
  EXPECT_EQ(tok.bosId(), 2);
  EXPECT_EQ(tok.vocabSize(), 262145); // <image_soft_token> = 262144 is only an added token
  EXPECT_EQ(tok.tokenId("<|image|>"), 258880);
  EXPECT_EQ(tok.tokenId("<|turn>"), 105);
  EXPECT_EQ(tok.tokenId("<image_soft_token>"), 262144);
  EXPECT_EQ(tok.tokenId("no such piece"), std::nullopt);
  EXPECT_EQ(tok.tokenPiece(1902), "\xE2\x96\x81world");
  EXPECT_EQ(tok.tokenPiece(262144), "<image_soft_token>");
  EXPECT_TRUE(tok.isSpecial(105));
  EXPECT_FALSE(tok.isSpecial(1902));
  EXPECT_THROW(tok.tokenPiece(-1), loom::Error);
  EXPECT_THROW(tok.tokenPiece(262145), loom::Error);
}

TEST(Tokenizer, SpecialTokensAreSplitOut) {
  const Tokenizer &tok = gemma4();
  EXPECT_EQ(tok.encode("<|turn>user\n"), (std::vector<int32_t>{105, 2364, 107}));
  std::vector<int32_t> ids = tok.encode("<|turn>user\nHi<turn|>\n<|turn>model\n");
  EXPECT_EQ(ids.front(), 105);
  EXPECT_NE(std::find(ids.begin(), ids.end(), 106), ids.end());
  EXPECT_EQ(tok.encode("a<|image|>b"), (std::vector<int32_t>{236746, 258880, 236763}));
  // Gemma 3 does not know Gemma 4's turn markers: they are plain text there.
  EXPECT_NE(gemma3().encode("<|turn>").front(), 105);
  EXPECT_EQ(gemma3().encode("<start_of_turn>user\n"), (std::vector<int32_t>{105, 2364, 107}));
  // Special-token text round-trips through decode (skipped on request).
  EXPECT_EQ(tok.decode(tok.encode("<|turn>user\nHi")), "<|turn>user\nHi");
  EXPECT_EQ(tok.decode(tok.encode("<|turn>user\nHi"), /*skipSpecialTokens=*/true), "user\nHi");
}

void expectRoundTrip(const Tokenizer &tok, const std::string &casesPath) {
  size_t failures = 0;
  for (const Case &c : loadCases(casesPath)) {
    // The normalizer turns ' ' into U+2581 and the decoder turns U+2581 back into ' ', so a
    // literal U+2581 in the input comes back as a space.
    std::string expected = replaceAll(c.text, "\xE2\x96\x81", " ");
    std::string got = tok.decode(tok.encode(c.text));
    if (got != expected && ++failures <= 5)
      ADD_FAILURE() << "round trip of " << nlohmann::json(c.text).dump() << " gave " << nlohmann::json(got).dump();
  }
  EXPECT_EQ(failures, 0u);
}

TEST(Tokenizer, RoundTripGemma4) { expectRoundTrip(gemma4(), LOOM_TOK_GEMMA4_CASES); }
TEST(Tokenizer, RoundTripGemma3) { expectRoundTrip(gemma3(), LOOM_TOK_GEMMA3_CASES); }

TEST(Tokenizer, ByteFallbackForUnknownCharacters) {
  const Tokenizer &tok = gemma4();
  // U+1F9CC and U+1D518 are not in the vocab: they become 4 byte tokens each.
  std::string text = "troll \xF0\x9F\xA7\x8C and \xF0\x9D\x94\x98";
  std::vector<int32_t> ids = tok.encode(text);
  size_t byteTokens = 0;
  for (int32_t id : ids)
    byteTokens += tok.tokenPiece(id).rfind("<0x", 0) == 0;
  EXPECT_EQ(byteTokens, 8u);
  EXPECT_EQ(tok.decode(ids), text);
  // Invalid UTF-8 input never crashes: the stray byte goes through byte fallback too.
  std::string invalid = "ab\xFF" "cd";
  std::vector<int32_t> invalidIds = tok.encode(invalid);
  EXPECT_NE(std::find(invalidIds.begin(), invalidIds.end(), *tok.tokenId("<0xFF>")), invalidIds.end());
  EXPECT_EQ(tok.decode(invalidIds), "ab\xEF\xBF\xBD" "cd"); // HF ByteFallback: U+FFFD per bad byte
}

void expectStreamingMatches(const Tokenizer &tok, const std::string &text) {
  std::vector<int32_t> ids = tok.encode(text);
  StreamingDecoder stream(tok);
  std::string all;
  for (int32_t id : ids) {
    std::string piece = stream.push(id);
    EXPECT_TRUE(validUtf8(piece)) << "invalid UTF-8 emitted while streaming " << nlohmann::json(text).dump();
    all += piece;
  }
  all += stream.finish();
  EXPECT_EQ(all, tok.decode(ids)) << "streaming " << nlohmann::json(text).dump();
}

TEST(StreamingDecoder, MultiByteCharactersByteByByte) {
  const Tokenizer &tok = gemma4();
  std::string text = "CJK \xE4\xB8\x8C\xE4\xB8\x92 emoji \xF0\x9F\xA7\x8C\xF0\x9F\x8C\x81 math \xF0\x9D\x94\x98 "
                     "plain \xE4\xB8\xAD\xE6\x96\x87 \xF0\x9F\x98\x80!";
  std::vector<int32_t> ids = tok.encode(text);
  // The byte tokens really are emitted one at a time: the decoder must hold partial characters.
  StreamingDecoder stream(tok);
  size_t emptyPushes = 0;
  for (int32_t id : ids) {
    std::string piece = stream.push(id);
    EXPECT_TRUE(validUtf8(piece));
    emptyPushes += piece.empty();
  }
  EXPECT_GE(emptyPushes, 9u); // 3 of every 4-byte and 2 of every 3-byte fallback character
  EXPECT_EQ(stream.finish(), "");
  expectStreamingMatches(tok, text);
  for (const Case &c : loadCases(LOOM_TOK_GEMMA4_CASES))
    expectStreamingMatches(tok, c.text);
}

TEST(StreamingDecoder, InvalidBytesBecomeReplacementCharacters) {
  const Tokenizer &tok = gemma4();
  int32_t e2 = *tok.tokenId("<0xE2>"), x82 = *tok.tokenId("<0x82>"), a = *tok.tokenId("a");
  StreamingDecoder stream(tok);
  EXPECT_EQ(stream.push(e2), "");
  EXPECT_EQ(stream.push(x82), "");
  EXPECT_EQ(stream.finish(), "\xEF\xBF\xBD\xEF\xBF\xBD");
  StreamingDecoder s2(tok);
  EXPECT_EQ(s2.push(e2), "");
  EXPECT_EQ(s2.push(a), "\xEF\xBF\xBD" "a");
  EXPECT_EQ(tok.decode({e2, a}), "\xEF\xBF\xBD" "a");
  EXPECT_THROW(s2.push(-5), loom::Error);
}

// A tiny tokenizer exercising the BPE rules directly.
const char *kTinyJson = R"({
  "added_tokens": [{"id": 7, "content": "<s>", "special": true, "lstrip": false, "rstrip": false,
                    "normalized": false, "single_word": false}],
  "normalizer": {"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"},
  "pre_tokenizer": null,
  "decoder": {"type": "Sequence", "decoders": [
    {"type": "Replace", "pattern": {"String": "\u2581"}, "content": " "},
    {"type": "ByteFallback"}, {"type": "Fuse"}]},
  "model": {"type": "BPE", "unk_token": "<unk>", "fuse_unk": true, "byte_fallback": false,
            "vocab": {"<unk>": 0, "a": 1, "b": 2, "ab": 3, "bb": 4, "abb": 5, "\u2581": 6, "<s>": 7},
            "merges": ["b b", ["a", "b"], "ab b"]}
})";

TEST(Tokenizer, TinyBpeRules) {
  Tokenizer tok = Tokenizer::fromJson(kTinyJson, "tiny.json");
  EXPECT_EQ(tok.encode("abb"), (std::vector<int32_t>{1, 4})); // "b b" has the lowest rank
  EXPECT_EQ(tok.encode("ab"), (std::vector<int32_t>{3}));
  EXPECT_EQ(tok.encode("bbb"), (std::vector<int32_t>{4, 2})); // equal ranks: leftmost first
  EXPECT_EQ(tok.encode("a xyb"), (std::vector<int32_t>{1, 6, 0, 2})); // unknowns fused into one <unk>
  EXPECT_EQ(tok.encode("<s>ab", true), (std::vector<int32_t>{7, 7, 3}));
  EXPECT_EQ(tok.bosId(), 7);
  Tokenizer copy = tok; // cheap copy shares the data
  EXPECT_EQ(copy.decode({3, 6, 1}), "ab a");
}

TEST(Tokenizer, Errors) {
  auto expectError = [](const std::string &json, const std::string &needle) {
    try {
      Tokenizer::fromJson(json, "bad.json");
      ADD_FAILURE() << "no error for " << json;
    } catch (const loom::Error &e) {
      std::string msg = e.what();
      EXPECT_NE(msg.find("bad.json"), std::string::npos) << msg;
      EXPECT_NE(msg.find(needle), std::string::npos) << msg;
    }
  };
  expectError("{\"model\": {", "invalid JSON");
  expectError("", "invalid JSON");
  expectError("[1, 2]", "top level");
  expectError(R"({"model": {"type": "BPE", "merges": []}})", "'model.vocab' missing");
  expectError(R"({"model": {"type": "BPE", "vocab": {"a": 0}}})", "'model.merges' missing");
  expectError(R"({"model": {"type": "Unigram", "vocab": [], "merges": []}})", "'model.type'");
  expectError(R"({"model": {"vocab": {"a": "zero"}, "merges": []}})", "model.vocab[\"a\"]");
  expectError(R"({"model": {"vocab": {"a": 0}, "merges": ["a q"]}})", "model.merges[0]");
  expectError(R"({"model": {"vocab": {"a": 0, "aa": 1}, "merges": [42]}})", "model.merges[0]");
  expectError(R"({"model": {"vocab": {"a": 0}, "merges": []}, "added_tokens": [{"content": "x"}]})",
              "added_tokens[0].id");
  expectError(R"({"model": {"vocab": {"a": 0}, "merges": []}, "normalizer": {"type": "NFKC"}})",
              "normalizer.type");
  expectError(R"({"model": {"vocab": {"a": 0}, "merges": []}, "pre_tokenizer": {"type": "ByteLevel"}})",
              "pre_tokenizer.type");
  EXPECT_THROW(Tokenizer::fromFile("/nonexistent/tokenizer.json"), loom::Error);
  EXPECT_THROW(gemma4().decode({1, 999999}), loom::Error);
}

// ---------------------------------------------------------------------------------------------
// loom-tokenize

std::string tempPath(const std::string &name) {
  const char *dir = std::getenv("TMPDIR");
  return std::string(dir ? dir : "/tmp") + "/loom-tokenize-test-" + std::to_string(::getpid()) + "-" + name;
}

int runTool(const std::string &args, const std::string &outPath) {
  std::string cmd = std::string("'") + LOOM_TOKENIZE_EXE + "' " + args + " > '" + outPath + "' 2>&1";
  int status = std::system(cmd.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string readAll(const std::string &path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(LoomTokenize, JsonlMatchesReference) {
  std::vector<Case> cases = loadCases(LOOM_TOK_GEMMA4_CASES);
  std::string input = tempPath("in.jsonl"), output = tempPath("out.jsonl");
  {
    std::ofstream in(input);
    for (size_t i = 0; i < 20; ++i)
      in << nlohmann::json{{"text", cases[i].text}}.dump() << "\n";
  }
  ASSERT_EQ(runTool(std::string("'") + LOOM_TOK_GEMMA4_JSON + "' --jsonl '" + input + "'", output), 0)
      << readAll(output);
  std::istringstream lines(readAll(output));
  std::string line;
  size_t i = 0;
  for (; std::getline(lines, line); ++i) {
    auto j = nlohmann::json::parse(line);
    ASSERT_LT(i, 20u);
    EXPECT_EQ(j.at("text").get<std::string>(), cases[i].text);
    EXPECT_EQ(j.at("ids").get<std::vector<int32_t>>(), cases[i].ids) << cases[i].text;
  }
  EXPECT_EQ(i, 20u);

  // --add-bos
  ASSERT_EQ(runTool(std::string("'") + LOOM_TOK_GEMMA4_JSON + "' --add-bos --text 'Hello'", output), 0);
  EXPECT_EQ(readAll(output), "[2,9259]\n");

  // Bad input: the message names the file and line; exit code 1.
  {
    std::ofstream in(input);
    in << "{\"text\": \"ok\"}\n{\"txt\": 1}\n";
  }
  EXPECT_EQ(runTool(std::string("'") + LOOM_TOK_GEMMA4_JSON + "' --jsonl '" + input + "'", output), 1);
  EXPECT_NE(readAll(output).find(input + ":2"), std::string::npos) << readAll(output);
  {
    std::ofstream in(input);
    in << "{not json\n";
  }
  EXPECT_EQ(runTool(std::string("'") + LOOM_TOK_GEMMA4_JSON + "' --jsonl '" + input + "'", output), 1);
  EXPECT_NE(readAll(output).find(input + ":1: invalid JSON"), std::string::npos) << readAll(output);
  EXPECT_EQ(runTool(std::string("'") + LOOM_TOK_GEMMA4_JSON + "' --jsonl /nonexistent.jsonl", output), 1);
  EXPECT_EQ(runTool("/nonexistent/tokenizer.json --text hi", output), 1);
  EXPECT_EQ(runTool("model.loom --text hi", output), 1);
  // A .loom artifact's tokenizer segment is read; this one does not exist.
  EXPECT_NE(readAll(output).find("model.loom: cannot open"), std::string::npos) << readAll(output);
  std::remove(input.c_str());
  std::remove(output.c_str());
}

} // namespace

namespace {

TEST(Tokenizer, ArbitraryBytesNeverCrash) {
  const Tokenizer &tok = gemma4();
  uint32_t state = 12345;
  auto next = [&] { return state = state * 1664525u + 1013904223u; };
  const char *alphabet[] = {" ", "a", "Z", "\n", "\t", "<", "|", ">", "<|turn>", "\xE2\x96\x81", "\xF0\x9F\xA7\x8C",
                            "\xE4\xB8\x8C", "\xC3", "\xFF", "\x80", "<0x41>", "<unused3>", "  ", "\xF0\x9F"};
  for (int round = 0; round < 300; ++round) {
    std::string text;
    size_t len = next() % 40;
    for (size_t i = 0; i < len; ++i)
      text += (next() % 3 == 0) ? std::string(1, static_cast<char>(next() & 0xFF)) : alphabet[next() % std::size(alphabet)];
    std::vector<int32_t> ids;
    ASSERT_NO_THROW(ids = tok.encode(text, round % 2 == 0));
    for (int32_t id : ids)
      ASSERT_TRUE(id >= 0 && id < tok.vocabSize());
    std::string decoded = tok.decode(ids, /*skipSpecialTokens=*/round % 2 == 0);
    EXPECT_TRUE(validUtf8(decoded));
    StreamingDecoder stream(tok);
    for (int32_t id : ids)
      EXPECT_TRUE(validUtf8(stream.push(id)));
    EXPECT_TRUE(validUtf8(stream.finish()));
  }
}

} // namespace

namespace {

// Every truncation and a set of type-mangled variants of a valid file fail with loom::Error only.
TEST(Tokenizer, MalformedFilesOnlyThrowLoomError) {
  std::string good = kTinyJson;
  for (size_t len = 0; len < good.size(); len += 3)
    EXPECT_THROW(Tokenizer::fromJson(good.substr(0, len), "cut.json"), loom::Error) << len;
  const std::pair<const char *, const char *> mangles[] = {
      {"\"type\": \"BPE\"", "\"type\": 3"},
      {"\"fuse_unk\": true", "\"fuse_unk\": \"yes\""},
      {"\"<unk>\": 0", "\"<unk>\": -4"},
      {"\"<unk>\": 0", "\"<unk>\": 1.5"},
      {"\"<unk>\": 0", "\"<unk>\": [0]"},
      {"\"unk_token\": \"<unk>\"", "\"unk_token\": \"<nope>\""},
      {"\"merges\": [", "\"merges\": [[\"a\"], "},
      {"\"merges\": [", "\"merges\": [[\"a\", 3], "},
      {"\"merges\": [", "\"merges\": [[\"a\", [\"b\"]], "},
      {"\"merges\": [", "\"merges\": [{}, "},
      {"\"id\": 7", "\"id\": \"7\""},
      {"\"id\": 7", "\"id\": 99999999999"},
      {"\"decoders\": [", "\"decoders\": [{\"type\": \"Metaspace\"}, "},
      {"\"decoders\": [", "\"decoders\": [{\"type\": \"Strip\", \"content\": \" \", \"start\": -1, \"stop\": 0}, "},
      {"\"pre_tokenizer\": null", "\"pre_tokenizer\": {\"type\": \"Split\", \"pattern\": {\"Regex\": \"\\\\s\"}, "
                                  "\"behavior\": \"Isolated\", \"invert\": false}"},
      {"\"pre_tokenizer\": null", "\"pre_tokenizer\": {\"type\": \"Split\", \"pattern\": {\"String\": \" \"}, "
                                  "\"behavior\": \"Sideways\", \"invert\": false}"},
      {"\"normalizer\": {\"type\": \"Replace\"", "\"normalizer\": {\"type\": \"Sequence\", \"normalizers\": 5, \"t\": \"Replace\""},
      {"\"model\": {", "\"model\": {\"dropout\": 0.1, "},
      {"\"model\": {", "\"model\": {\"continuing_subword_prefix\": \"##\", "},
  };
  for (const auto &[from, to] : mangles) {
    std::string bad = good;
    size_t at = bad.find(from);
    ASSERT_NE(at, std::string::npos) << from;
    bad.replace(at, std::string(from).size(), to);
    try {
      Tokenizer::fromJson(bad, "mangled.json");
      ADD_FAILURE() << "accepted: " << to;
    } catch (const loom::Error &e) {
      EXPECT_NE(std::string(e.what()).find("mangled.json"), std::string::npos) << e.what();
    } catch (const std::exception &e) {
      ADD_FAILURE() << "non-loom exception for " << to << ": " << e.what();
    }
  }
}

// Split pre-tokenizer behaviors (not used by Gemma, whose Split on ' ' runs after ' ' became U+2581).
TEST(Tokenizer, SplitPreTokenizer) {
  auto withSplit = [](const char *behavior) {
    std::string json = kTinyJson;
    std::string split = std::string("\"pre_tokenizer\": {\"type\": \"Split\", \"pattern\": {\"String\": \"\\u2581\"}, "
                                    "\"behavior\": \"") + behavior + "\", \"invert\": false}";
    json.replace(json.find("\"pre_tokenizer\": null"), std::string("\"pre_tokenizer\": null").size(), split);
    return Tokenizer::fromJson(json, "split.json");
  };
  // "ab b" -> "ab▁b": merged with next keeps "▁b" together; "b b" can no longer merge across.
  EXPECT_EQ(withSplit("Removed").encode("ab  b"), (std::vector<int32_t>{3, 2}));
  EXPECT_EQ(withSplit("Isolated").encode("ab  b"), (std::vector<int32_t>{3, 6, 6, 2}));
  EXPECT_EQ(withSplit("MergedWithPrevious").encode("ab b"), (std::vector<int32_t>{3, 6, 2}));
  EXPECT_EQ(withSplit("MergedWithNext").encode("ab b"), (std::vector<int32_t>{3, 6, 2}));
  EXPECT_EQ(withSplit("Contiguous").encode("ab  b"), (std::vector<int32_t>{3, 6, 6, 2}));
}

} // namespace
