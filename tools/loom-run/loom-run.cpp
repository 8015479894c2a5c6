// loom-run: runs a compiled .loom artifact on a prompt (text, image, audio) and streams the
// generated text. Built on the C API (loom/loom.h); only the .npy writer is C++.
#include "loom/loom.h"
#include "loom/Runtime/Npy.h"

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <sys/resource.h>
#include <vector>

namespace {

struct Failure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

void check(loom_status status) {
  if (status != LOOM_OK)
    throw Failure(loom_last_error()[0] ? loom_last_error() : "failed");
}

using Clock = std::chrono::steady_clock;
double seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

struct ModelHandle {
  loom_model *model = nullptr;
  ~ModelHandle() { loom_model_close(model); }
};
struct SessionHandle {
  loom_session *session = nullptr;
  ~SessionHandle() { loom_session_destroy(session); }
};
struct DetokenizerHandle {
  loom_detokenizer *detokenizer = nullptr;
  ~DetokenizerHandle() { loom_detokenizer_destroy(detokenizer); }
};

std::vector<int32_t> tokenize(loom_model *model, const std::string &text) {
  size_t count = 0;
  std::vector<int32_t> ids(text.size() + 16);
  loom_status status =
      loom_tokenize(model, text.data(), text.size(), 0, ids.data(), ids.size(), &count);
  if (status == LOOM_ERROR_BUFFER_TOO_SMALL) {
    ids.resize(count);
    status = loom_tokenize(model, text.data(), text.size(), 0, ids.data(), ids.size(), &count);
  }
  check(status);
  ids.resize(count);
  return ids;
}

std::vector<int32_t> parseIds(const std::string &text) {
  std::vector<int32_t> ids;
  size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && (text[i] == ',' || text[i] == ' ' || text[i] == '\t'))
      ++i;
    if (i == text.size())
      break;
    size_t end = i;
    while (end < text.size() && text[end] != ',' && text[end] != ' ' && text[end] != '\t')
      ++end;
    std::string piece = text.substr(i, end - i);
    try {
      size_t used = 0;
      long long value = std::stoll(piece, &used, 10);
      if (used != piece.size() || value < INT32_MIN || value > INT32_MAX)
        throw std::invalid_argument(piece);
      ids.push_back(static_cast<int32_t>(value));
    } catch (const std::exception &) {
      throw Failure("--prompt-ids: '" + piece + "' is not a token id");
    }
    i = end;
  }
  if (ids.empty())
    throw Failure("--prompt-ids: no token ids given");
  return ids;
}

std::string repeat(const std::string &piece, size_t n) {
  std::string out;
  out.reserve(piece.size() * n);
  for (size_t i = 0; i < n; ++i)
    out += piece;
  return out;
}

struct PromptMedia {
  std::vector<loom_media> media; // in prompt order
  std::vector<std::string> paths; // storage for media[].path
};

int run(int argc, char **argv) {
  CLI::App app{"Runs a compiled .loom model on a prompt and streams the generated text."};
  std::string modelPath, prompt, promptIds, logitsOut;
  std::vector<std::string> images, audios;
  int64_t maxTokens = 64, maxContext = 0;
  std::optional<float> temperature, topP;
  std::optional<int32_t> topK;
  uint64_t seed = 0;
  int32_t threads = 0;
  bool greedy = false, raw = false, ignoreEos = false, json = false;
  app.add_option("model", modelPath, "The compiled .loom artifact")->required();
  auto *promptOption = app.add_option("--prompt", prompt,
                                      "Prompt text, wrapped in the chat template unless --raw; "
                                      "<|image|> / <|audio|> mark where each --image / --audio goes");
  auto *idsOption = app.add_option("--prompt-ids", promptIds,
                                   "Prompt token ids, comma separated, used exactly as given "
                                   "(media placeholders already expanded)");
  promptOption->excludes(idsOption);
  idsOption->excludes(promptOption);
  app.add_option("--image", images, "PNG image (sides multiples of 48); repeatable");
  app.add_option("--audio", audios, "16 kHz audio file (WAV, FLAC, OGG); repeatable");
  app.add_option("--max-tokens", maxTokens, "Tokens to generate at most")
      ->default_val(64)->check(CLI::NonNegativeNumber);
  app.add_option("--temperature", temperature, "Sampling temperature (0: greedy; default 1.0)");
  app.add_option("--top-k", topK, "Top-k (0: off; default 64)");
  app.add_option("--top-p", topP, "Top-p (1: off; default 0.95)");
  app.add_option("--seed", seed, "Sampling seed")->default_val(0);
  app.add_flag("--greedy", greedy, "Greedy decoding (argmax)");
  app.add_flag("--raw", raw, "Do not wrap --prompt in the chat template (and add no <bos>)");
  app.add_flag("--ignore-eos", ignoreEos, "Do not stop on end-of-turn / end-of-sequence tokens");
  app.add_option("--logits-out", logitsOut,
                 "Write float32 .npy [rows, vocab]: every prompt position, then every decode step");
  app.add_option("--threads", threads, "Kernel threads (0: default)")->check(CLI::NonNegativeNumber);
  app.add_option("--max-context", maxContext, "Context limit (0: the artifact's)")
      ->check(CLI::NonNegativeNumber);
  app.add_flag("--json", json, "Print a JSON object (ids, text, timings) instead of the text");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError &e) {
    if (e.get_exit_code() == 0)
      return app.exit(e);
    std::fprintf(stderr, "loom-run: error: %s\n", e.what());
    return 1;
  }
  if (promptOption->count() == 0 && idsOption->count() == 0)
    throw Failure("give a prompt with --prompt TEXT or --prompt-ids IDS");
  if (loom_api_version() != LOOM_API_VERSION)
    throw Failure("the Loom runtime library has API version " +
                  std::to_string(loom_api_version()) + " but loom-run was built for " +
                  std::to_string(LOOM_API_VERSION));

  // Load.
  const auto loadStart = Clock::now();
  ModelHandle model;
  check(loom_model_open(modelPath.c_str(), &model.model));
  loom_special_tokens special;
  check(loom_model_special_tokens(model.model, &special));
  const size_t vocab = static_cast<size_t>(loom_model_vocab_size(model.model));
  loom_session_options options;
  loom_session_options_init(&options);
  options.max_context = maxContext;
  options.threads = threads;
  options.seed = seed;
  SessionHandle session;
  check(loom_session_create(model.model, &options, &session.session));
  const double loadSeconds = seconds(loadStart, Clock::now());

  // Prompt.
  PromptMedia media;
  media.paths.reserve(images.size() + audios.size());
  auto addMedia = [&](loom_media_kind kind, const std::string &path) {
    media.paths.push_back(path);
    media.media.push_back({kind, nullptr});
  };
  std::vector<int32_t> ids;
  if (idsOption->count()) {
    ids = parseIds(promptIds);
    for (const std::string &path : images)
      addMedia(LOOM_MEDIA_IMAGE, path);
    for (const std::string &path : audios)
      addMedia(LOOM_MEDIA_AUDIO, path);
  } else {
    auto expansion = [&](loom_media_kind kind, const std::string &path) {
      loom_media probe{kind, path.c_str()};
      size_t n = 0;
      check(loom_media_token_count(model.model, &probe, &n));
      addMedia(kind, path);
      return kind == LOOM_MEDIA_IMAGE ? "<|image>" + repeat("<|image|>", n) + "<image|>"
                                      : "<|audio>" + repeat("<|audio|>", n) + "<audio|>";
    };
    const std::string imageMarker = "<|image|>", audioMarker = "<|audio|>";
    // Markers in the text, in order.
    std::vector<std::pair<size_t, bool>> markers; // position, isImage
    for (size_t at = prompt.find(imageMarker); at != std::string::npos;
         at = prompt.find(imageMarker, at + imageMarker.size()))
      markers.push_back({at, true});
    for (size_t at = prompt.find(audioMarker); at != std::string::npos;
         at = prompt.find(audioMarker, at + audioMarker.size()))
      markers.push_back({at, false});
    std::sort(markers.begin(), markers.end());
    size_t imageMarkers = 0, audioMarkers = 0;
    for (auto &[at, isImage] : markers)
      ++(isImage ? imageMarkers : audioMarkers);
    if (imageMarkers > images.size())
      throw Failure("the prompt has " + std::to_string(imageMarkers) + " <|image|> markers but " +
                    std::to_string(images.size()) + " --image files were given");
    if (audioMarkers > audios.size())
      throw Failure("the prompt has " + std::to_string(audioMarkers) + " <|audio|> markers but " +
                    std::to_string(audios.size()) + " --audio files were given");
    // Media without a marker go first, in order; markers take the rest in order.
    std::string user;
    for (size_t i = imageMarkers; i < images.size(); ++i)
      user += expansion(LOOM_MEDIA_IMAGE, images[i]);
    for (size_t i = audioMarkers; i < audios.size(); ++i)
      user += expansion(LOOM_MEDIA_AUDIO, audios[i]);
    size_t cursor = 0, nextImage = 0, nextAudio = 0;
    for (auto &[at, isImage] : markers) {
      user += prompt.substr(cursor, at - cursor);
      user += isImage ? expansion(LOOM_MEDIA_IMAGE, images[nextImage++])
                      : expansion(LOOM_MEDIA_AUDIO, audios[nextAudio++]);
      cursor = at + (isImage ? imageMarker.size() : audioMarker.size());
    }
    user += prompt.substr(cursor);
    if (raw) {
      ids = tokenize(model.model, user);
    } else {
      ids.push_back(special.bos >= 0 ? special.bos : 2);
      std::vector<int32_t> rest =
          tokenize(model.model, "<|turn>user\n" + user + "<turn|>\n<|turn>model\n");
      ids.insert(ids.end(), rest.begin(), rest.end());
    }
    if (ids.empty())
      throw Failure("the prompt tokenizes to nothing");
  }
  for (size_t i = 0; i < media.media.size(); ++i)
    media.media[i].path = media.paths[i].c_str();

  // Sampling and stopping.
  loom_sampling sampling;
  loom_sampling_init(&sampling);
  if (temperature)
    sampling.temperature = *temperature;
  if (topK)
    sampling.top_k = *topK;
  if (topP)
    sampling.top_p = *topP;
  sampling.greedy = greedy || (temperature && *temperature <= 0.0f);
  std::vector<int32_t> stops(special.eos, special.eos + special.eos_count);
  int32_t endOfTurn = -1;
  if (loom_token_id(model.model, "<turn|>", &endOfTurn) == LOOM_OK)
    stops.push_back(endOfTurn);
  const int64_t contextLimit = maxContext > 0 ? maxContext : loom_model_max_context(model.model);

  std::unique_ptr<loom::NpyRowWriter> npy;
  if (!logitsOut.empty())
    npy = std::make_unique<loom::NpyRowWriter>(logitsOut, static_cast<int64_t>(vocab));

  // Prefill.
  const bool allLogits = npy != nullptr;
  std::vector<float> logits((allLogits ? ids.size() : 1) * vocab);
  const auto prefillStart = Clock::now();
  check(loom_session_prefill(session.session, ids.data(), ids.size(), media.media.data(),
                             media.media.size(), allLogits ? 1 : 0, logits.data(),
                             logits.size()));
  const auto prefillEnd = Clock::now();
  if (npy)
    npy->append(logits.data(), allLogits ? static_cast<int64_t>(ids.size()) : 1);
  const float *last = logits.data() + (allLogits ? (ids.size() - 1) * vocab : 0);

  // Generate.
  DetokenizerHandle detokenizer;
  check(loom_detokenizer_create(model.model, &detokenizer.detokenizer));
  std::vector<float> stepLogits(vocab);
  std::vector<int32_t> generated;
  std::string text;
  std::string stopReason = "max_tokens";
  double firstTokenSeconds = 0.0, decodeSeconds = 0.0;
  int64_t decodeSteps = 0;
  auto emit = [&](const char *piece, size_t length) {
    text.append(piece, length);
    if (!json && length) {
      std::fwrite(piece, 1, length, stdout);
      std::fflush(stdout);
    }
  };
  for (int64_t step = 0; step < maxTokens; ++step) {
    int32_t token = 0;
    check(loom_sample(session.session, last, vocab, &sampling, &token));
    if (step == 0)
      firstTokenSeconds = seconds(prefillStart, Clock::now());
    generated.push_back(token);
    if (!ignoreEos && std::find(stops.begin(), stops.end(), token) != stops.end()) {
      stopReason = "eos";
      break;
    }
    const char *piece = nullptr;
    size_t length = 0;
    check(loom_detokenizer_push(detokenizer.detokenizer, token, &piece, &length));
    emit(piece, length);
    if (step + 1 == maxTokens)
      break;
    if (loom_session_position(session.session) >= contextLimit) {
      stopReason = "max_context";
      if (!json)
        std::fprintf(stderr, "\nloom-run: stopped: the context is full (max_context %lld)\n",
                     static_cast<long long>(contextLimit));
      break;
    }
    const auto decodeStart = Clock::now();
    check(loom_session_decode(session.session, token, stepLogits.data(), stepLogits.size()));
    decodeSeconds += seconds(decodeStart, Clock::now());
    ++decodeSteps;
    if (npy)
      npy->append(stepLogits.data(), 1);
    last = stepLogits.data();
  }
  {
    const char *piece = nullptr;
    size_t length = 0;
    check(loom_detokenizer_finish(detokenizer.detokenizer, &piece, &length));
    emit(piece, length);
  }
  if (npy)
    npy->close();

  const double prefillSeconds = seconds(prefillStart, prefillEnd);
  const double prefillRate = prefillSeconds > 0 ? ids.size() / prefillSeconds : 0.0;
  const double decodeRate = decodeSeconds > 0 ? decodeSteps / decodeSeconds : 0.0;
  struct rusage usage {};
  getrusage(RUSAGE_SELF, &usage);
  const double peakMiB = usage.ru_maxrss / 1024.0; // ru_maxrss is in KiB on Linux

  if (json) {
    nlohmann::ordered_json out;
    out["prompt_ids"] = ids;
    out["generated_ids"] = generated;
    out["text"] = text;
    out["stop_reason"] = stopReason;
    out["timings"] = {{"load_s", loadSeconds},
                      {"time_to_first_token_s", firstTokenSeconds},
                      {"prefill_s", prefillSeconds},
                      {"prefill_tokens", ids.size()},
                      {"prefill_tok_per_s", prefillRate},
                      {"decode_s", decodeSeconds},
                      {"decode_tokens", decodeSteps},
                      {"decode_tok_per_s", decodeRate},
                      {"peak_rss_mib", peakMiB}};
    std::string dumped = out.dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
    std::printf("%s\n", dumped.c_str());
  } else {
    std::printf("\n");
  }
  std::fflush(stdout);
  std::fprintf(stderr,
                 "loom-run: load %.2f s, first token %.3f s, prefill %zu tokens at %.1f tok/s, "
                 "decode %lld tokens at %.2f tok/s, peak RSS %.0f MiB\n",
                 loadSeconds, firstTokenSeconds, ids.size(), prefillRate,
                 static_cast<long long>(decodeSteps), decodeRate, peakMiB);
  return 0;
}

} // namespace

int main(int argc, char **argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception &e) {
    std::fflush(stdout);
    std::fprintf(stderr, "loom-run: error: %s\n", e.what());
    return 1;
  } catch (...) {
    std::fflush(stdout);
    std::fprintf(stderr, "loom-run: error: unknown failure\n");
    return 1;
  }
}
