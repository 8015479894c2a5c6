// loom-run: runs a compiled .loom artifact on a prompt (text, images, audio, video) and streams
// the generated text; --chat keeps a conversation going on stdin. Built on the C API
// (loom/loom.h); the chat format's text comes from loom/Runtime/ChatTemplate.h, --prompt-ids's
// parser from loom/Runtime/PromptIds.h and the .npy writer from loom/Runtime/Npy.h.
#include "loom/loom.h"
#include "loom/Error.h"
#include "loom/Runtime/ChatTemplate.h"
#include "loom/Runtime/CpuFeatures.h"
#include "loom/Runtime/Npy.h"
#include "loom/Runtime/PromptIds.h"

#include "loom/Tools/CliChecks.h"

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <sys/resource.h>
#include <vector>

namespace {

namespace chat = loom::chat;

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

// One --image / --audio / --video in command-line order, with its flag for messages.
struct MediaArg {
  loom_media_kind kind;
  std::string path;
};

const char *flagOf(loom_media_kind kind) {
  return kind == LOOM_MEDIA_IMAGE ? "--image" : kind == LOOM_MEDIA_AUDIO ? "--audio" : "--video";
}

std::string_view markerOf(loom_media_kind kind) {
  return kind == LOOM_MEDIA_IMAGE   ? chat::kImageMarker
         : kind == LOOM_MEDIA_AUDIO ? chat::kAudioMarker
                                    : chat::kVideoMarker;
}

struct Options {
  std::string modelPath, prompt, system, promptIds, logitsOut;
  std::vector<MediaArg> media; // command-line order
  int64_t maxTokens = 64, maxContext = 0, imageBudget = 280, videoBudget = 70, videoFrames = 32;
  std::optional<float> temperature, topP;
  std::optional<int32_t> topK;
  uint64_t seed = 0;
  int32_t threads = 0;
  bool greedy = false, raw = false, ignoreEos = false, json = false, chat = false;
  bool hugePages = false, noHugePages = false;
  bool verify = false;
  bool think = false, noVideoAudio = false;
  bool hasPrompt = false, hasPromptIds = false, systemGiven = false;
};

// Everything one loaded model needs to run turns.
struct Runner {
  const Options &options;
  loom_model *model;
  loom_session *session;
  size_t vocab;
  std::vector<int32_t> stops;
  loom_sampling sampling;
  int64_t contextLimit;
  std::unique_ptr<loom::NpyRowWriter> npy;
  double loadSeconds = 0;

  loom_media mediaOf(const MediaArg &arg) const {
    loom_media m;
    loom_media_init(&m, arg.kind, arg.path.c_str());
    m.token_budget = static_cast<int32_t>(arg.kind == LOOM_MEDIA_VIDEO ? options.videoBudget
                                                                       : options.imageBudget);
    m.max_frames = static_cast<int32_t>(options.videoFrames);
    m.video_audio = options.noVideoAudio ? 0 : 1;
    return m;
  }

  std::string expansion(const MediaArg &arg) const {
    loom_media m = mediaOf(arg);
    size_t length = 0;
    std::string text(256, '\0');
    loom_status status = loom_media_prompt(model, &m, text.data(), text.size(), &length);
    if (status == LOOM_ERROR_BUFFER_TOO_SMALL) {
      text.resize(length + 1);
      status = loom_media_prompt(model, &m, text.data(), text.size(), &length);
    }
    check(status);
    text.resize(length);
    return text;
  }

  // The user turn's text with its media: media given without a marker in `text` go first (in
  // command-line order), markers take the rest of each kind in order; then every marker is
  // expanded into its soft-token run. `flag` names the text's source in messages.
  std::string userTurn(const std::string &text, const std::vector<MediaArg> &media,
                       const char *flag) const {
    chat::ChatMessage user{"user", {}};
    std::vector<const MediaArg *> byKind[4];
    for (const MediaArg &m : media)
      byKind[m.kind].push_back(&m);
    size_t unmarked[4] = {};
    for (loom_media_kind kind : {LOOM_MEDIA_IMAGE, LOOM_MEDIA_AUDIO, LOOM_MEDIA_VIDEO}) {
      const std::string_view marker = markerOf(kind);
      size_t markers = 0;
      for (size_t at = text.find(marker); at != std::string::npos;
           at = text.find(marker, at + marker.size()))
        ++markers;
      const size_t given = byKind[kind].size();
      if (markers > given)
        throw Failure(std::string(flag == std::string("--prompt") ? "the prompt" : flag) +
                      " has " + std::to_string(markers) + " " + std::string(marker) +
                      " markers but " + std::to_string(given) + " " + flagOf(kind) +
                      (given == 1 ? " file was" : " files were") + " given");
      unmarked[kind] = given - markers;
    }
    size_t taken[4] = {};
    for (const MediaArg &m : media)
      if (taken[m.kind] < unmarked[m.kind]) {
        ++taken[m.kind];
        user.content.push_back({m.kind == LOOM_MEDIA_IMAGE   ? chat::PartKind::Image
                                : m.kind == LOOM_MEDIA_AUDIO ? chat::PartKind::Audio
                                                             : chat::PartKind::Video,
                                ""});
      }
    user.content.push_back({chat::PartKind::Text, text});
    std::string rendered = raw() ? "" : chat::turn(user);
    if (raw()) // no template: unmarked media, then the text as given
      for (const chat::ChatPart &part : user.content)
        rendered += part.kind == chat::PartKind::Image   ? std::string(chat::kImageMarker)
                    : part.kind == chat::PartKind::Audio ? std::string(chat::kAudioMarker)
                    : part.kind == chat::PartKind::Video ? std::string(chat::kVideoMarker)
                                                         : part.text;
    // Expand the markers in order: the i-th marker of a kind is that kind's i-th medium.
    std::string out;
    size_t next[4] = {}, cursor = 0;
    while (true) {
      size_t best = std::string::npos;
      loom_media_kind kind = LOOM_MEDIA_IMAGE;
      for (loom_media_kind k : {LOOM_MEDIA_IMAGE, LOOM_MEDIA_AUDIO, LOOM_MEDIA_VIDEO}) {
        size_t at = rendered.find(markerOf(k), cursor);
        if (at < best)
          best = at, kind = k;
      }
      if (best == std::string::npos)
        break;
      out += rendered.substr(cursor, best - cursor);
      out += expansion(*byKind[kind].at(next[kind]++));
      cursor = best + markerOf(kind).size();
    }
    out += rendered.substr(cursor);
    return out;
  }

  bool raw() const { return options.raw; }

  struct Turn {
    std::vector<int32_t> promptIds, generated;
    std::string text, stopReason = "max_tokens";
    double prefillSeconds = 0, firstTokenSeconds = 0, decodeSeconds = 0;
    int64_t decodeSteps = 0;
    int32_t pending = -1; // the last sampled token, not yet in the KV cache (-1: none)
  };

  // Prefills ids (with media in command-line order) and generates; streams text unless --json.
  Turn run(const std::vector<int32_t> &ids, const std::vector<MediaArg> &media) {
    Turn turn;
    turn.promptIds = ids;
    const int64_t position = loom_session_position(session);
    if (position + static_cast<int64_t>(ids.size()) > contextLimit) {
      const std::string holds = options.maxContext > 0
                                    ? "(--max-context " + std::to_string(contextLimit) + ")"
                                    : "(the artifact's max_context; --max-context cannot raise it)";
      if (position == 0)
        throw Failure((options.hasPromptIds ? "--prompt-ids: the prompt is " : "--prompt: the prompt is ") +
                      std::to_string(ids.size()) + " tokens long but the context holds " +
                      std::to_string(contextLimit) + " " + holds + ": expected at most " +
                      std::to_string(contextLimit) + " tokens");
      throw Failure("the conversation is full: this turn needs " + std::to_string(ids.size()) +
                    " tokens at position " + std::to_string(position) + " but the context holds " +
                    std::to_string(contextLimit) + " " + holds + "; type /reset to start over");
    }
    std::vector<loom_media> items;
    for (const MediaArg &m : media)
      items.push_back(mediaOf(m));

    const bool allLogits = npy != nullptr;
    std::vector<float> logits((allLogits ? ids.size() : 1) * vocab);
    const auto prefillStart = Clock::now();
    check(loom_session_prefill(session, ids.data(), ids.size(), items.data(), items.size(),
                               allLogits ? 1 : 0, logits.data(), logits.size()));
    turn.prefillSeconds = seconds(prefillStart, Clock::now());
    if (npy)
      npy->append(logits.data(), static_cast<int64_t>(ids.size()));
    const float *last = logits.data() + (allLogits ? (ids.size() - 1) * vocab : 0);

    DetokenizerHandle detokenizer;
    check(loom_detokenizer_create(model, &detokenizer.detokenizer));
    std::vector<float> stepLogits(vocab);
    auto emit = [&](const char *piece, size_t length) {
      turn.text.append(piece, length);
      if (!options.json && length) {
        std::fwrite(piece, 1, length, stdout);
        std::fflush(stdout);
      }
    };
    for (int64_t step = 0; step < options.maxTokens; ++step) {
      int32_t token = 0;
      check(loom_sample(session, last, vocab, &sampling, &token));
      if (step == 0)
        turn.firstTokenSeconds = seconds(prefillStart, Clock::now());
      turn.generated.push_back(token);
      turn.pending = token;
      if (!options.ignoreEos && std::find(stops.begin(), stops.end(), token) != stops.end()) {
        turn.stopReason = "eos";
        break;
      }
      const char *piece = nullptr;
      size_t length = 0;
      check(loom_detokenizer_push(detokenizer.detokenizer, token, &piece, &length));
      emit(piece, length);
      if (step + 1 == options.maxTokens)
        break;
      if (loom_session_position(session) >= contextLimit) {
        turn.stopReason = "max_context";
        if (!options.json)
          std::fprintf(stderr, "\nloom-run: stopped: the context is full (max_context %lld)\n",
                       static_cast<long long>(contextLimit));
        break;
      }
      const auto decodeStart = Clock::now();
      check(loom_session_decode(session, token, stepLogits.data(), stepLogits.size()));
      turn.decodeSeconds += seconds(decodeStart, Clock::now());
      ++turn.decodeSteps;
      turn.pending = -1;
      if (npy)
        npy->append(stepLogits.data(), 1);
      last = stepLogits.data();
    }
    const char *piece = nullptr;
    size_t length = 0;
    check(loom_detokenizer_finish(detokenizer.detokenizer, &piece, &length));
    emit(piece, length);
    return turn;
  }

  bool isStop(int32_t token) const {
    return std::find(stops.begin(), stops.end(), token) != stops.end();
  }
};

double peakMiB() {
  struct rusage usage {};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss / 1024.0; // ru_maxrss is in KiB on Linux
}

nlohmann::ordered_json timingsJson(const Runner &runner, const Runner::Turn &turn) {
  const double prefillRate =
      turn.prefillSeconds > 0 ? turn.promptIds.size() / turn.prefillSeconds : 0.0;
  const double decodeRate = turn.decodeSeconds > 0 ? turn.decodeSteps / turn.decodeSeconds : 0.0;
  return {{"load_s", runner.loadSeconds},
          {"time_to_first_token_s", turn.firstTokenSeconds},
          {"prefill_s", turn.prefillSeconds},
          {"prefill_tokens", turn.promptIds.size()},
          {"prefill_tok_per_s", prefillRate},
          {"decode_s", turn.decodeSeconds},
          {"decode_tokens", turn.decodeSteps},
          {"decode_tok_per_s", decodeRate},
          {"peak_rss_mib", peakMiB()}};
}

nlohmann::ordered_json turnJson(const Runner &runner, const Runner::Turn &turn) {
  nlohmann::ordered_json out;
  out["prompt_ids"] = turn.promptIds;
  out["generated_ids"] = turn.generated;
  out["text"] = turn.text;
  out["stop_reason"] = turn.stopReason;
  // Floats as their shortest decimal (0.95, not 0.949999988079071).
  auto decimal = [](float v) { return std::stod(std::to_string(v)); };
  out["sampling"] = {{"temperature", decimal(runner.sampling.temperature)},
                     {"top_k", runner.sampling.top_k},
                     {"top_p", decimal(runner.sampling.top_p)},
                     {"greedy", runner.sampling.greedy != 0},
                     {"seed", runner.options.seed}};
  out["timings"] = timingsJson(runner, turn);
  return out;
}

std::string dump(const nlohmann::ordered_json &json, int indent) {
  return json.dump(indent, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

void printSummary(const Runner &runner, double firstToken, size_t prefillTokens,
                  double prefillSeconds, int64_t decodeSteps, double decodeSeconds) {
  const double prefillRate = prefillSeconds > 0 ? prefillTokens / prefillSeconds : 0.0;
  const double decodeRate = decodeSeconds > 0 ? decodeSteps / decodeSeconds : 0.0;
  std::fprintf(stderr,
               "loom-run: load %.2f s, first token %.3f s, prefill %zu tokens at %.1f tok/s, "
               "decode %lld tokens at %.2f tok/s, peak RSS %.0f MiB\n",
               runner.loadSeconds, firstToken, prefillTokens, prefillRate,
               static_cast<long long>(decodeSteps), decodeRate, peakMiB());
}

// --prompt-ids: each --image needs a run of image ids, each --audio a run of audio ids (a video's
// frames and audio track are checked by the session, which knows their counts).
void checkMediaRuns(const Runner &runner, const std::vector<int32_t> &ids) {
  loom_special_tokens special;
  check(loom_model_special_tokens(runner.model, &special));
  bool hasVideo = false;
  for (const MediaArg &m : runner.options.media)
    hasVideo |= m.kind == LOOM_MEDIA_VIDEO;
  for (loom_media_kind kind : {LOOM_MEDIA_IMAGE, LOOM_MEDIA_AUDIO}) {
    if (kind == LOOM_MEDIA_AUDIO && hasVideo)
      continue;
    const int32_t placeholder = kind == LOOM_MEDIA_IMAGE ? special.image : special.audio;
    size_t runs = 0;
    for (size_t i = 0; i < ids.size(); ++i)
      runs += ids[i] == placeholder && (i == 0 || ids[i - 1] != placeholder);
    std::vector<const MediaArg *> given;
    for (const MediaArg &m : runner.options.media)
      if (m.kind == kind)
        given.push_back(&m);
    if (given.size() > runs)
      throw Failure(std::string(flagOf(kind)) + " " + given[runs]->path + ": --prompt-ids has " +
                    std::to_string(runs) + " run(s) of " +
                    (kind == LOOM_MEDIA_IMAGE ? "image" : "audio") + " tokens (" +
                    std::string(markerOf(kind)) + ", id " + std::to_string(placeholder) +
                    ") but " + std::to_string(given.size()) + " " + flagOf(kind) +
                    " file(s) were given: expected one run per " + flagOf(kind));
  }
}

// One prompt, one answer.
int runOnce(Runner &runner) {
  const Options &o = runner.options;
  std::vector<int32_t> ids;
  if (o.hasPromptIds) {
    try {
      ids = loom::parsePromptIds(o.promptIds);
    } catch (const loom::Error &e) {
      throw Failure(std::string("--prompt-ids: ") + e.what());
    }
    checkMediaRuns(runner, ids);
  } else {
    std::string text = runner.userTurn(o.prompt, o.media, "--prompt");
    if (!o.raw)
      text = chat::beginConversation(o.systemGiven, o.system, o.think) + text +
             chat::generationPrompt(o.think);
    ids = tokenize(runner.model, text);
    if (ids.empty())
      throw Failure("--prompt: the prompt tokenizes to nothing");
  }
  Runner::Turn turn = runner.run(ids, o.media);
  if (runner.npy)
    runner.npy->close();
  if (o.json)
    std::printf("%s\n", dump(turnJson(runner, turn), 2).c_str());
  else
    std::printf("\n");
  std::fflush(stdout);
  printSummary(runner, turn.firstTokenSeconds, turn.promptIds.size(), turn.prefillSeconds,
               turn.decodeSteps, turn.decodeSeconds);
  return 0;
}

// --chat: user turns from stdin, one per line (the first may come from --prompt); the session
// keeps the conversation in its KV cache and prefills only what is new: the end of the model's
// last answer, the user turn and the generation prompt. "/reset" starts over; EOF ends.
int runChat(Runner &runner) {
  const Options &o = runner.options;
  bool started = false;
  int32_t pending = -1; // the answer's last sampled token, not yet in the cache
  size_t prefillTokens = 0, turns = 0;
  double prefillSeconds = 0, decodeSeconds = 0, firstToken = 0;
  int64_t decodeSteps = 0;
  int failures = 0;
  auto say = [&](const Runner::Turn &turn) {
    prefillTokens += turn.promptIds.size();
    prefillSeconds += turn.prefillSeconds;
    decodeSeconds += turn.decodeSeconds;
    decodeSteps += turn.decodeSteps;
    if (turns++ == 0)
      firstToken = turn.firstTokenSeconds;
    if (o.json)
      std::printf("%s\n", dump(turnJson(runner, turn), -1).c_str());
    else
      std::printf("\n");
    std::fflush(stdout);
  };
  auto userTurn = [&](const std::string &line, const std::vector<MediaArg> &media,
                      const char *flag) {
    std::vector<int32_t> ids;
    std::string text;
    if (!started) {
      text = chat::beginConversation(o.systemGiven, o.system, o.think);
    } else {
      // Close the model's answer as the template writes it: the generated <turn|> (or, when the
      // answer was cut short, its last token and then <turn|>), then a newline.
      if (pending >= 0 && !runner.isStop(pending))
        ids.push_back(pending);
      text = std::string(chat::kEndOfModelTurn);
    }
    text += runner.userTurn(line, media, flag) + chat::generationPrompt(o.think);
    std::vector<int32_t> rest = tokenize(runner.model, text);
    ids.insert(ids.end(), rest.begin(), rest.end());
    Runner::Turn turn = runner.run(ids, media);
    started = true;
    pending = turn.pending;
    say(turn);
  };
  if (o.hasPrompt)
    userTurn(o.prompt, o.media, "--prompt");
  else if (!o.media.empty())
    throw Failure("--chat: media (--image, --audio, --video) go with the first turn, given by "
                  "--prompt; none was given");
  std::string line;
  while (std::getline(std::cin, line)) {
    if (!line.empty() && line.back() == '\r')
      line.pop_back();
    if (chat::trim(line).empty())
      continue;
    if (chat::trim(line) == "/reset") {
      check(loom_session_reset(runner.session));
      started = false;
      pending = -1;
      std::fprintf(stderr, "loom-run: conversation reset\n");
      continue;
    }
    try {
      userTurn(line, {}, "this line");
    } catch (const Failure &e) {
      // A turn that cannot run (too long, a marker without media) is refused; the
      // conversation goes on as it was.
      std::fflush(stdout);
      std::fprintf(stderr, "loom-run: error: %s\n", e.what());
      ++failures;
    }
  }
  if (runner.npy)
    runner.npy->close();
  printSummary(runner, firstToken, prefillTokens, prefillSeconds, decodeSteps, decodeSeconds);
  return failures ? 1 : 0;
}

int run(int argc, char **argv) {
  CLI::App app{"Runs a compiled .loom model on a prompt and streams the generated text."};
  Options o;
  std::vector<std::string> images, audios, videos;
  app.add_option("model", o.modelPath, "The compiled .loom artifact")->required();
  auto *promptOption = app.add_option(
      "--prompt", o.prompt,
      "Prompt text, wrapped in the chat template unless --raw; <|image|>, <|audio|>, <|video|> "
      "mark where each --image, --audio, --video goes (media without a marker go first)");
  auto *idsOption = app.add_option("--prompt-ids", o.promptIds,
                                   "Prompt token ids, comma separated, used exactly as given "
                                   "(media placeholders already expanded)");
  auto *systemOption = app.add_option("--system", o.system, "System prompt (a system turn)");
  promptOption->excludes(idsOption);
  idsOption->excludes(promptOption);
  systemOption->excludes(idsOption);
  auto *imageOption = app.add_option("--image", images, "Image (PNG, JPEG); repeatable")
                          ->allow_extra_args(false);
  auto *audioOption = app.add_option("--audio", audios, "Audio (WAV, FLAC, Ogg); repeatable")
                          ->allow_extra_args(false);
  auto *videoOption = app.add_option("--video", videos, "Video (MP4, WebM, ...); repeatable")
                          ->allow_extra_args(false);
  const std::vector<int64_t> budgets = {70, 140, 280, 560, 1120};
  app.add_option("--image-budget", o.imageBudget, "Soft tokens per image")
      ->default_val(280)->check(loom::cli::oneOf(budgets));
  app.add_option("--video-budget", o.videoBudget, "Soft tokens per video frame")
      ->default_val(70)->check(loom::cli::oneOf(budgets));
  app.add_option("--video-frames", o.videoFrames, "Video frames sampled at most")
      ->default_val(32)->check(loom::cli::integerAtLeast(0));
  app.add_flag("--no-video-audio", o.noVideoAudio, "Leave out the audio track of each --video");
  app.add_option("--max-tokens", o.maxTokens,
                 "Tokens to generate at most (per turn); generation also stops when the context "
                 "is full")
      ->default_val(64)->check(loom::cli::integerAtLeast(0));
  app.add_option("--temperature", o.temperature, "Sampling temperature (0: greedy; default 1.0)");
  app.add_option("--top-k", o.topK, "Top-k (0: off; default 64)");
  app.add_option("--top-p", o.topP, "Top-p (1: off; default 0.95)");
  app.add_option("--seed", o.seed, "Sampling seed")->default_val(0);
  app.add_flag("--greedy", o.greedy, "Greedy decoding (argmax)");
  app.add_flag("--think", o.think, "Thinking on: <|think|> in the system turn");
  app.add_flag("--raw", o.raw, "Do not wrap --prompt in the chat template (and add no <bos>)");
  app.add_flag("--ignore-eos", o.ignoreEos, "Do not stop on end-of-turn / end-of-sequence tokens");
  auto *chatOption = app.add_flag(
      "--chat", o.chat,
      "Conversation: one user turn per stdin line (the first may be --prompt); the KV cache is "
      "kept between turns; /reset starts over; --json prints one JSON line per turn");
  chatOption->excludes(idsOption);
  idsOption->excludes(chatOption);
  app.add_option("--logits-out", o.logitsOut,
                 "Write float32 .npy [rows, vocab]: every prompt position, then every decode step");
  app.add_option("--threads", o.threads, "Kernel threads (0: default)")
      ->check(loom::cli::integerBetween(0, LOOM_MAX_KERNEL_THREADS));
  app.add_option("--max-context", o.maxContext, "Context limit (0: the artifact's)")
      ->check(loom::cli::integerAtLeast(0));
  app.add_flag("--verify", o.verify,
               "Check every segment of the artifact, the weights included, against its checksum "
               "before running (reads the whole file; the kernels and tokenizer are always checked)");
  auto *huge = app.add_flag("--huge-pages", o.hugePages,
                            "Read the artifact into 2 MiB transparent huge pages instead of "
                            "mapping it (faster decode; loading takes the time of reading the "
                            "file). Neither flag: as the artifact was tuned (loom-tune), else mapped");
  app.add_flag("--no-huge-pages", o.noHugePages, "Map the artifact, whatever its tuning says")
      ->excludes(huge);
  app.add_flag("--json", o.json, "Print a JSON object (ids, text, timings) instead of the text");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError &e) {
    if (e.get_exit_code() == 0)
      return app.exit(e);
    std::fprintf(stderr, "loom-run: error: %s\n", e.what());
    return 1;
  }
  o.hasPrompt = promptOption->count() > 0;
  o.hasPromptIds = idsOption->count() > 0;
  o.systemGiven = systemOption->count() > 0;
  if (o.raw && o.systemGiven)
    throw Failure("--system needs the chat template; it cannot go with --raw");
  if (o.raw && o.chat)
    throw Failure("--chat needs the chat template; it cannot go with --raw");
  if (!o.hasPrompt && !o.hasPromptIds && !o.chat)
    throw Failure("give a prompt with --prompt TEXT or --prompt-ids IDS (or --chat)");
  // Media in command-line order, whatever their kind.
  {
    size_t next[3] = {};
    for (const CLI::Option *option : app.parse_order()) {
      if (option == imageOption)
        o.media.push_back({LOOM_MEDIA_IMAGE, images.at(next[0]++)});
      else if (option == audioOption)
        o.media.push_back({LOOM_MEDIA_AUDIO, audios.at(next[1]++)});
      else if (option == videoOption)
        o.media.push_back({LOOM_MEDIA_VIDEO, videos.at(next[2]++)});
    }
  }
  if (loom_api_version() != LOOM_API_VERSION)
    throw Failure("the Loom runtime library has API version " +
                  std::to_string(loom_api_version()) + " but loom-run was built for " +
                  std::to_string(LOOM_API_VERSION));

  // Load.
  const auto loadStart = Clock::now();
  ModelHandle model;
  loom_model_options modelOptions;
  loom_model_options_init(&modelOptions);
  modelOptions.huge_page_copy = o.hugePages     ? 1
                                : o.noHugePages ? 0
                                                : LOOM_HUGE_PAGES_AS_TUNED;
  check(loom_model_open_with(o.modelPath.c_str(), &modelOptions, &model.model));
  if (o.verify)
    check(loom_model_verify(model.model));
  if (const int cpus = loom::usableCpuCount(); o.threads > cpus)
    std::fprintf(stderr, "loom-run: note: --threads %d is more than the CPUs this process may use "
                 "(%d); running %d\n", o.threads, cpus, cpus);
  loom_session_options sessionOptions;
  loom_session_options_init(&sessionOptions);
  sessionOptions.max_context = o.maxContext;
  sessionOptions.threads = o.threads;
  sessionOptions.seed = o.seed;
  SessionHandle session;
  check(loom_session_create(model.model, &sessionOptions, &session.session));

  Runner runner{o, model.model, session.session,
                static_cast<size_t>(loom_model_vocab_size(model.model)), {}, {}, 0, nullptr};
  runner.loadSeconds = seconds(loadStart, Clock::now());
  {
    size_t count = 0;
    std::vector<int32_t> stops(32);
    check(loom_model_stop_tokens(model.model, stops.data(), stops.size(), &count));
    stops.resize(count);
    runner.stops = stops;
  }
  // The model's sampling defaults (temperature 1.0, top_k 64, top_p 0.95) where no flag is given.
  loom_sampling_init(&runner.sampling);
  if (o.temperature)
    runner.sampling.temperature = *o.temperature;
  if (o.topK)
    runner.sampling.top_k = *o.topK;
  if (o.topP)
    runner.sampling.top_p = *o.topP;
  runner.sampling.greedy = o.greedy || (o.temperature && *o.temperature <= 0.0f);
  runner.contextLimit = o.maxContext > 0 ? o.maxContext : loom_model_max_context(model.model);
  if (!o.logitsOut.empty())
    runner.npy = std::make_unique<loom::NpyRowWriter>(o.logitsOut,
                                                      static_cast<int64_t>(runner.vocab));
  return o.chat ? runChat(runner) : runOnce(runner);
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
