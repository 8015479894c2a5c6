// loom-tokenize: encodes text with a tokenizer: a Hugging Face tokenizer.json, or the one a
// compiled .loom artifact carries in its tokenizer segment.
//   loom-tokenize TOKENIZER.json|MODEL.loom --jsonl FILE [--add-bos]   one {"text": ...} per
//                                        line in, {"text": ..., "ids": [...]} per line out
//   loom-tokenize TOKENIZER.json|MODEL.loom --text "some text"        the ids of one string
#include "loom/Artifact.h"
#include "loom/Error.h"
#include "loom/Schema/loom_generated.h"
#include "loom/Tokenizer/Tokenizer.h"

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <fstream>
#include <iostream>
#include <string>

namespace {

// The tokenizer.json bytes of an artifact's tokenizer segment (the artifact is verified first;
// its kernels are not loaded, so any target's artifact can be read).
loom::Tokenizer tokenizerOfArtifact(const std::string &path) {
  std::shared_ptr<const loom::Artifact> artifact = loom::Artifact::open(path);
  const loom::fb::Model &manifest = artifact->manifest();
  const uint32_t segments = manifest.segments() ? manifest.segments()->size() : 0;
  if (manifest.tokenizer_segment() >= segments)
    loom::fail(path, ": manifest field tokenizer_segment is ", manifest.tokenizer_segment(),
               ": expected one of the ", segments, " segments");
  loom::ByteSpan bytes = artifact->segment(manifest.tokenizer_segment());
  return loom::Tokenizer::fromJson(
      std::string_view(reinterpret_cast<const char *>(bytes.data), bytes.size),
      path + " (tokenizer segment)");
}

// The tokenizer a file provides: a tokenizer.json, or a .loom artifact's.
loom::Tokenizer loadTokenizerFor(const std::string &path) {
  auto endsWith = [&](const char *suffix) {
    std::string s(suffix);
    return path.size() >= s.size() && path.compare(path.size() - s.size(), s.size(), s) == 0;
  };
  if (endsWith(".json"))
    return loom::Tokenizer::fromFile(path);
  if (endsWith(".loom"))
    return tokenizerOfArtifact(path);
  loom::fail(path, ": unknown tokenizer source: expected a tokenizer.json or a .loom artifact");
}

std::string idsJson(const std::vector<int32_t> &ids) {
  return nlohmann::json(ids).dump();
}

int encodeJsonl(const loom::Tokenizer &tok, const std::string &path, bool addBos) {
  std::ifstream file;
  std::istream *in = &std::cin;
  if (path != "-") {
    file.open(path, std::ios::binary);
    if (!file)
      loom::fail(path, ": cannot open input file");
    in = &file;
  }
  std::string line;
  for (size_t lineNo = 1; std::getline(*in, line); ++lineNo) {
    if (!line.empty() && line.back() == '\r')
      line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos)
      continue;
    nlohmann::json record;
    try {
      record = nlohmann::json::parse(line);
    } catch (const nlohmann::json::exception &e) {
      loom::fail(path, ":", lineNo, ": invalid JSON: ", e.what());
    }
    if (!record.is_object() || !record.contains("text") || !record["text"].is_string())
      loom::fail(path, ":", lineNo, ": expected an object with a string field \"text\"");
    const std::string &text = record["text"].get_ref<const std::string &>();
    nlohmann::ordered_json outRecord; // keeps "text" before "ids"
    outRecord["text"] = text;
    outRecord["ids"] = tok.encode(text, addBos);
    std::cout << outRecord.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace) << '\n';
  }
  if (in->bad())
    loom::fail(path, ": read error");
  return 0;
}

} // namespace

int main(int argc, char **argv) {
  CLI::App app{"Encode text with a tokenizer (tokenizer.json or a .loom artifact's)"};
  std::string tokenizerPath, jsonlPath, text;
  bool addBos = false;
  app.add_option("tokenizer", tokenizerPath, "tokenizer.json, or a compiled .loom artifact")->required();
  auto *jsonlOpt = app.add_option("--jsonl", jsonlPath, "JSON-lines input with a \"text\" field per line ('-' = stdin)");
  auto *textOpt = app.add_option("--text", text, "encode this one string and print its ids");
  jsonlOpt->excludes(textOpt);
  app.add_flag("--add-bos", addBos, "prepend the BOS token");
  CLI11_PARSE(app, argc, argv);

  try {
    loom::Tokenizer tok = loadTokenizerFor(tokenizerPath);
    if (*textOpt) {
      std::cout << idsJson(tok.encode(text, addBos)) << '\n';
      return 0;
    }
    if (!*jsonlOpt) {
      std::cerr << "loom-tokenize: nothing to do: pass --jsonl FILE or --text STRING\n";
      return 1;
    }
    return encodeJsonl(tok, jsonlPath, addBos);
  } catch (const loom::Error &e) {
    std::cerr << "loom-tokenize: error: " << e.what() << '\n';
    return 1;
  } catch (const std::exception &e) {
    std::cerr << "loom-tokenize: error: " << e.what() << '\n';
    return 1;
  }
}
