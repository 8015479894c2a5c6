// loom-soak: a long run of the runtime through its C API (loom/loom.h), watching the process's
// resident memory, and a check that sessions on one model in several threads give the tokens
// one session alone gives. Not a CI test: it runs for minutes.
//
//   decode: cycles of (reset, prefill, greedy decode) until --steps decode steps are done. The
//           first cycle is the warm-up; at the end of every later cycle the session stands at
//           the same position with the same KV pages touched, so RSS must not change.
//   chat:   --turns chat turns (user turn + generation prompt prefilled, a short answer
//           decoded), the conversation restarting when the next turn would not fit the context;
//           RSS at the end of every conversation after the first must not change.
//   threads: --sessions sessions on the shared model, one thread each, sampling with the same
//           seed: each must produce exactly the tokens of a lone session.
//
// Exit status 0 when RSS stayed within --rss-tolerance after warm-up and every thread agreed.
#include "loom/Runtime/ChatTemplate.h"
#include "loom/loom.h"

#include <CLI/CLI.hpp>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

namespace {

struct Failure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

void check(loom_status status) {
  if (status != LOOM_OK)
    throw Failure(loom_last_error());
}

uint64_t residentBytes() {
  std::ifstream statm("/proc/self/statm");
  uint64_t pages = 0, resident = 0;
  statm >> pages >> resident;
  return resident * uint64_t(::sysconf(_SC_PAGESIZE));
}

struct ModelDeleter {
  void operator()(loom_model *model) const { loom_model_close(model); }
};
struct SessionDeleter {
  void operator()(loom_session *session) const { loom_session_destroy(session); }
};
using ModelPtr = std::unique_ptr<loom_model, ModelDeleter>;
using SessionPtr = std::unique_ptr<loom_session, SessionDeleter>;

SessionPtr openSession(loom_model *model, uint64_t seed, int threads) {
  loom_session_options options;
  loom_session_options_init(&options);
  options.seed = seed;
  options.threads = threads;
  loom_session *session = nullptr;
  check(loom_session_create(model, &options, &session));
  return SessionPtr(session);
}

std::vector<int32_t> tokenize(loom_model *model, const std::string &text, bool addBos) {
  std::vector<int32_t> ids(text.size() + 8);
  size_t count = 0;
  check(loom_tokenize(model, text.data(), text.size(), addBos ? 1 : 0, ids.data(), ids.size(),
                      &count));
  ids.resize(count);
  return ids;
}

// Prefills `prompt` and generates `tokens` tokens (sampled with the model's defaults, so the
// seeded generator is exercised too); returns them.
std::vector<int32_t> generate(loom_session *session, const std::vector<int32_t> &prompt,
                              int tokens, size_t vocab) {
  std::vector<float> logits(vocab);
  check(loom_session_prefill(session, prompt.data(), prompt.size(), nullptr, 0, 0, logits.data(),
                             logits.size()));
  loom_sampling sampling;
  loom_sampling_init(&sampling);
  std::vector<int32_t> out;
  for (int i = 0; i < tokens; ++i) {
    int32_t token = 0;
    check(loom_sample(session, logits.data(), logits.size(), &sampling, &token));
    out.push_back(token);
    if (i + 1 < tokens)
      check(loom_session_decode(session, token, logits.data(), logits.size()));
  }
  return out;
}

struct RssSeries {
  const char *name;
  std::vector<uint64_t> afterWarmup; // one sample per cycle after the first
  uint64_t growth() const {
    if (afterWarmup.empty())
      return 0;
    return *std::max_element(afterWarmup.begin(), afterWarmup.end()) - afterWarmup.front();
  }
  void print() const {
    std::printf("%s: %zu samples after warm-up, RSS %.1f MiB first, %.1f MiB last, growth %llu B\n",
                name, afterWarmup.size(), afterWarmup.empty() ? 0.0 : afterWarmup.front() / 1048576.0,
                afterWarmup.empty() ? 0.0 : afterWarmup.back() / 1048576.0,
                static_cast<unsigned long long>(growth()));
  }
};

RssSeries soakDecode(loom_model *model, int steps, int cycleSteps, size_t vocab) {
  RssSeries series{"decode", {}};
  SessionPtr session = openSession(model, 1, 0);
  const std::vector<int32_t> prompt = tokenize(model, "The soak test keeps decoding", true);
  for (int done = 0, cycle = 0; done < steps; ++cycle) {
    const int now = std::min(cycleSteps, steps - done);
    check(loom_session_reset(session.get()));
    generate(session.get(), prompt, now + 1, vocab);
    done += now;
    if (cycle > 0 && now == cycleSteps)
      series.afterWarmup.push_back(residentBytes());
  }
  return series;
}

RssSeries soakChat(loom_model *model, int turns, int answerTokens, size_t vocab) {
  RssSeries series{"chat", {}};
  SessionPtr session = openSession(model, 2, 0);
  const int64_t context = loom_model_max_context(model);
  int conversations = 0;
  bool fresh = true;
  for (int turn = 0; turn < turns; ++turn) {
    std::string text = fresh ? loom::chat::beginConversation(false, "", false)
                             : std::string(loom::chat::kEndOfModelTurn);
    text += loom::chat::turn(loom::chat::textMessage("user", "Turn " + std::to_string(turn) +
                                                                 ": say something short.")) +
            loom::chat::generationPrompt(false);
    std::vector<int32_t> ids = tokenize(model, text, false);
    if (loom_session_position(session.get()) + int64_t(ids.size()) + answerTokens + 1 > context) {
      if (++conversations > 1)
        series.afterWarmup.push_back(residentBytes());
      check(loom_session_reset(session.get()));
      fresh = true;
      --turn;
      continue;
    }
    generate(session.get(), ids, answerTokens, vocab);
    fresh = false;
  }
  return series;
}

// Each thread's tokens against a lone session's, with the same seed and prompt.
bool threadsAgree(loom_model *model, int sessions, int tokens, size_t vocab) {
  const std::vector<int32_t> prompt = tokenize(model, "Several sessions, one model", true);
  std::vector<int32_t> alone = generate(openSession(model, 7, 1).get(), prompt, tokens, vocab);
  std::vector<std::vector<int32_t>> got(static_cast<size_t>(sessions));
  std::vector<std::string> errors(static_cast<size_t>(sessions));
  std::vector<std::thread> threads;
  for (int i = 0; i < sessions; ++i)
    threads.emplace_back([&, i] {
      try {
        got[size_t(i)] = generate(openSession(model, 7, 1).get(), prompt, tokens, vocab);
      } catch (const std::exception &error) {
        errors[size_t(i)] = error.what();
      }
    });
  for (std::thread &thread : threads)
    thread.join();
  bool agree = true;
  for (int i = 0; i < sessions; ++i) {
    const bool same = errors[size_t(i)].empty() && got[size_t(i)] == alone;
    std::printf("threads: session %d: %s\n", i,
                !errors[size_t(i)].empty() ? errors[size_t(i)].c_str()
                : same                     ? "the lone session's tokens"
                                           : "DIFFERENT tokens");
    agree = agree && same;
  }
  return agree;
}

} // namespace

int main(int argc, char **argv) {
  CLI::App app{"Runs the runtime for a long time and checks that its memory stays flat."};
  std::string path;
  int steps = 2000, cycleSteps = 200, turns = 200, answerTokens = 8, sessions = 4,
      threadTokens = 32;
  uint64_t tolerance = 1 << 20;
  app.add_option("model", path, "the .loom artifact (the tiny model compiled with a context of "
                                "at least --cycle-steps + 16)")
      ->required();
  app.add_option("--steps", steps, "decode steps in all")->check(CLI::PositiveNumber);
  app.add_option("--cycle-steps", cycleSteps, "decode steps per cycle")->check(CLI::PositiveNumber);
  app.add_option("--turns", turns, "chat turns")->check(CLI::PositiveNumber);
  app.add_option("--answer-tokens", answerTokens, "tokens per chat answer")->check(CLI::PositiveNumber);
  app.add_option("--sessions", sessions, "concurrent sessions")->check(CLI::PositiveNumber);
  app.add_option("--rss-tolerance", tolerance, "allowed RSS growth after warm-up, bytes");
  CLI11_PARSE(app, argc, argv);
  try {
    loom_model *raw = nullptr;
    check(loom_model_open(path.c_str(), &raw));
    ModelPtr model(raw);
    const size_t vocab = size_t(loom_model_vocab_size(model.get()));
    if (loom_model_max_context(model.get()) < cycleSteps + 16)
      throw Failure(path + ": its context of " + std::to_string(loom_model_max_context(model.get())) +
                    " is shorter than --cycle-steps + 16");
    const RssSeries decode = soakDecode(model.get(), steps, cycleSteps, vocab);
    decode.print();
    const RssSeries chat = soakChat(model.get(), turns, answerTokens, vocab);
    chat.print();
    const bool agree = threadsAgree(model.get(), sessions, threadTokens, vocab);
    const bool flat = decode.growth() <= tolerance && chat.growth() <= tolerance;
    std::printf("result: RSS %s after warm-up (tolerance %llu B); threads %s\n",
                flat ? "flat" : "GREW", static_cast<unsigned long long>(tolerance),
                agree ? "agree" : "DISAGREE");
    return flat && agree ? 0 : 1;
  } catch (const std::exception &error) {
    std::fprintf(stderr, "loom-soak: error: %s\n", error.what());
    return 2;
  }
}
