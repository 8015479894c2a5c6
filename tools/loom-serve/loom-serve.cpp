// loom-serve: an OpenAI-compatible HTTP server for one compiled model (docs/SERVE.md).
//   POST /v1/chat/completions, POST /v1/completions, GET /v1/models, GET /health, GET /metrics
// Requests run on the Engine (continuous batching); HTTP is cpp-httplib's thread pool.
#include "ApiError.h"
#include "ArtifactDescription.h"
#include "Engine.h"
#include "Metrics.h"
#include "OpenAiRequest.h"

#include "loom/Error.h"
#include "loom/loom.h"

#include <CLI/CLI.hpp>
#include <httplib.h>
#include <nlohmann/json.hpp>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <malloc.h>
#include <pthread.h>
#include <thread>

namespace {

using nlohmann::json;
namespace serve = loom::serve;

// Prompt tokens per prefill step where neither --prefill-chunk nor the artifact's tuning says.
constexpr int64_t kDefaultPrefillChunk = 256;

struct Options {
  std::string model, host = "127.0.0.1", apiKey, modelName;
  int port = 8080, parallel = 4, threads = 0;
  uint64_t kvBudget = 0;
  size_t queue = 64;
  // 0: the artifact's tuned chunk (loom-tune), else kDefaultPrefillChunk.
  int64_t prefillChunk = 0, maxPromptTokens = 0, maxContext = 0, defaultMaxTokens = 256;
  bool hugePages = false, noHugePages = false;
  int prefillYieldMs = 20;
  size_t maxBodyBytes = 64u << 20;
  // Below the runtime's own limits: decoding is bounded before a request is admitted.
  int64_t maxImagePixels = 33'554'432; // 32 MP: a 24 MP camera's photos pass
  int32_t maxAudioSeconds = 600;
};

std::string sha256(const std::string &text) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(text.data(), text.size(), digest, &length, EVP_sha256(), nullptr);
  return std::string(reinterpret_cast<char *>(digest), length);
}

void sendError(httplib::Response &res, const serve::ApiError &error) {
  res.status = error.status;
  res.set_content(error.body().dump(), "application/json");
}

std::string completionId(const char *prefix) {
  static std::atomic<uint64_t> next{1};
  return std::string(prefix) + std::to_string(std::time(nullptr)) + "-" + std::to_string(next++);
}

json usage(const serve::Job &job) {
  return {{"prompt_tokens", job.promptTokens()},
          {"completion_tokens", job.completionTokens()},
          {"total_tokens", job.promptTokens() + job.completionTokens()}};
}

class Server {
public:
  Server(const Options &o, serve::RequestParser &parser, serve::Engine &engine,
         uint64_t kvBytesPerSlot)
      : options_(o), parser_(parser), engine_(engine), kvBytesPerSlot_(kvBytesPerSlot),
        apiKeyHash_(o.apiKey.empty() ? "" : sha256(o.apiKey)), created_(std::time(nullptr)) {
    const size_t workers = static_cast<size_t>(o.parallel) + o.queue + 4;
    http_.new_task_queue = [workers] { return new httplib::ThreadPool(workers); };
    http_.set_payload_max_length(o.maxBodyBytes);
    http_.set_pre_routing_handler([this](const httplib::Request &req, httplib::Response &res) {
      if (apiKeyHash_.empty() || req.path.rfind("/v1/", 0) != 0)
        return httplib::Server::HandlerResponse::Unhandled;
      const std::string header = req.get_header_value("Authorization");
      const std::string bearer = "Bearer ";
      const std::string given = header.rfind(bearer, 0) == 0 ? header.substr(bearer.size()) : "";
      // Digests of equal length, compared in constant time: the key's length does not leak.
      if (CRYPTO_memcmp(sha256(given).data(), apiKeyHash_.data(), apiKeyHash_.size()) != 0) {
        sendError(res, serve::ApiError(401, "Incorrect or missing API key: send "
                                            "'Authorization: Bearer <key>'",
                                       "", "invalid_api_key", "authentication_error"));
        return httplib::Server::HandlerResponse::Handled;
      }
      return httplib::Server::HandlerResponse::Unhandled;
    });
    http_.Get("/health", [](const httplib::Request &, httplib::Response &res) {
      res.set_content(R"({"status":"ok"})", "application/json");
    });
    http_.Get("/metrics", [this](const httplib::Request &, httplib::Response &res) {
      res.set_content(serve::prometheusText(engine_.stats(), kvBytesPerSlot_),
                      "text/plain; version=0.0.4");
    });
    http_.Get("/v1/models", [this](const httplib::Request &, httplib::Response &res) {
      json model = {{"id", parser_.modelName()}, {"object", "model"}, {"created", created_},
                    {"owned_by", "loom"}};
      res.set_content(json{{"object", "list"}, {"data", json::array({model})}}.dump(),
                      "application/json");
    });
    http_.Post("/v1/chat/completions", [this](const httplib::Request &req, httplib::Response &res) {
      generate(req, res, true);
    });
    http_.Post("/v1/completions", [this](const httplib::Request &req, httplib::Response &res) {
      generate(req, res, false);
    });
    http_.set_error_handler([](const httplib::Request &req, httplib::Response &res) {
      if (!res.body.empty())
        return;
      const std::string message = res.status == 404 ? "Unknown endpoint " + req.method + " " + req.path
                                  : res.status == 413 ? "The request body is larger than this server accepts"
                                                      : "HTTP error " + std::to_string(res.status);
      sendError(res, serve::ApiError(res.status, message, "", res.status == 404 ? "not_found" : ""));
    });
  }

  // Binds (port 0: any free port) and serves until stop().
  bool listen() {
    int port = options_.port;
    if (port == 0)
      port = http_.bind_to_any_port(options_.host);
    else if (!http_.bind_to_port(options_.host, port))
      port = -1;
    if (port < 0) {
      std::fprintf(stderr, "loom-serve: cannot listen on %s:%d\n", options_.host.c_str(),
                   options_.port);
      return false;
    }
    std::printf("loom-serve: listening on http://%s:%d (model '%s')\n", options_.host.c_str(), port,
                parser_.modelName().c_str());
    std::fflush(stdout);
    return http_.listen_after_bind();
  }
  void stop() { http_.stop(); }

private:
  void generate(const httplib::Request &req, httplib::Response &res, bool chat) {
    std::shared_ptr<serve::Job> job;
    try {
      json body;
      try {
        body = json::parse(req.body);
      } catch (const json::exception &e) {
        throw serve::ApiError(400, std::string("the request body is not valid JSON: ") + e.what(),
                              "", "invalid_json");
      }
      job = std::make_shared<serve::Job>(chat ? parser_.chat(body) : parser_.completion(body));
      if (!engine_.submit(job))
        throw serve::ApiError(503, "The server is busy: the queue is full; retry later", "",
                              "queue_full", "server_error");
    } catch (const serve::ApiError &error) {
      sendError(res, error);
      return;
    }
    const std::string id = completionId(chat ? "chatcmpl-" : "cmpl-");
    const std::time_t created = std::time(nullptr);
    if (job->request().stream)
      stream(res, job, chat, id, created);
    else
      answer(res, job, chat, id, created);
  }

  void answer(httplib::Response &res, const std::shared_ptr<serve::Job> &job, bool chat,
              const std::string &id, std::time_t created) {
    std::string text;
    serve::Job::Update update;
    while (!update.finished)
      if (job->wait(update, std::chrono::milliseconds(200)))
        text += update.text;
    if (!update.error.empty()) {
      sendError(res, serve::ApiError(500, update.error, "", "", "server_error"));
      return;
    }
    json choice = {{"index", 0}, {"finish_reason", update.finishReason}};
    if (chat)
      choice["message"] = {{"role", "assistant"}, {"content", text}};
    else
      choice["text"] = text, choice["logprobs"] = nullptr;
    json out = {{"id", id},
                {"object", chat ? "chat.completion" : "text_completion"},
                {"created", created},
                {"model", parser_.modelName()},
                {"choices", json::array({choice})},
                {"usage", usage(*job)}};
    res.set_content(out.dump(-1, ' ', false, json::error_handler_t::replace), "application/json");
  }

  // Server-sent events as OpenAI sends them: one chunk per piece, then the finish reason, the
  // usage when asked for, and "data: [DONE]". A failed write means the client left: the job is
  // cancelled and its slot freed at the engine's next step.
  void stream(httplib::Response &res, const std::shared_ptr<serve::Job> &job, bool chat,
              const std::string &id, std::time_t created) {
    const std::string model = parser_.modelName();
    auto chunk = [=](json choice) {
      json out = {{"id", id},
                  {"object", chat ? "chat.completion.chunk" : "text_completion"},
                  {"created", created},
                  {"model", model},
                  {"choices", json::array({std::move(choice)})}};
      return "data: " + out.dump(-1, ' ', false, json::error_handler_t::replace) + "\n\n";
    };
    auto piece = [=](const std::string &text, json finish) {
      json choice = {{"index", 0}, {"finish_reason", finish}};
      if (chat)
        choice["delta"] = text.empty() && finish.is_null() ? json{{"role", "assistant"}, {"content", ""}}
                          : finish.is_null() ? json{{"content", text}}
                                             : json::object();
      else
        choice["text"] = text, choice["logprobs"] = nullptr;
      return chunk(choice);
    };
    auto started = std::make_shared<bool>(false);
    res.set_header("Cache-Control", "no-cache");
    res.set_chunked_content_provider(
        "text/event-stream",
        [=](size_t, httplib::DataSink &sink) {
          auto send = [&](const std::string &data) {
            if (!sink.is_writable() || !sink.write(data.data(), data.size())) {
              job->cancel();
              return false;
            }
            return true;
          };
          if (!*started) {
            *started = true;
            if (chat && !send(piece("", nullptr)))
              return false;
          }
          serve::Job::Update update;
          if (!job->wait(update, std::chrono::milliseconds(100)))
            return send(": keep-alive\n\n"); // also finds a client that left
          if (!update.text.empty() && !send(piece(update.text, nullptr)))
            return false;
          if (!update.finished)
            return true;
          if (!update.error.empty()) {
            json error = serve::ApiError(500, update.error, "", "", "server_error").body();
            send("data: " + error.dump() + "\n\n");
          } else {
            if (!send(piece("", update.finishReason)))
              return false;
            if (job->request().includeUsage) {
              json out = {{"id", id}, {"object", chat ? "chat.completion.chunk" : "text_completion"},
                          {"created", created}, {"model", model}, {"choices", json::array()},
                          {"usage", usage(*job)}};
              if (!send("data: " + out.dump() + "\n\n"))
                return false;
            }
          }
          send("data: [DONE]\n\n");
          sink.done();
          return true;
        },
        [job](bool) { job->cancel(); }); // a no-op once finished
  }

  const Options &options_;
  serve::RequestParser &parser_;
  serve::Engine &engine_;
  uint64_t kvBytesPerSlot_;
  std::string apiKeyHash_;
  std::time_t created_;
  httplib::Server http_;
};

int run(int argc, char **argv) {
  CLI::App app{"Serves a compiled .loom model over the OpenAI API (chat completions, completions, "
               "models), with continuous batching."};
  Options o;
  app.add_option("model", o.model, "The compiled .loom artifact")->required();
  app.add_option("--host", o.host, "Address to listen on (default 127.0.0.1: this machine only)");
  app.add_option("--port", o.port, "Port (0: any free one; the address is printed)")
      ->check(CLI::Range(0, 65535));
  app.add_option("--parallel", o.parallel, "Requests generating at once (slots)")
      ->check(CLI::Range(1, 256));
  app.add_option("--kv-budget", o.kvBudget,
                 "Bytes of KV cache for all slots (0: --parallel slots whatever they take)");
  app.add_option("--api-key", o.apiKey, "Require 'Authorization: Bearer KEY' on /v1/ requests");
  app.add_option("--queue", o.queue, "Requests waiting for a slot; more get 503")
      ->check(CLI::Range(0, 100000));
  app.add_option("--threads", o.threads, "Kernel threads (0: the runtime's default)")
      ->check(CLI::Range(0, LOOM_MAX_KERNEL_THREADS));
  app.add_option("--prefill-chunk", o.prefillChunk,
                 "Prompt tokens per prefill step, between the others' decode steps (default: "
                 "the artifact's tuned chunk, else 256)")
      ->check(CLI::Range(int64_t(1), int64_t(1) << 20));
  auto *huge = app.add_flag("--huge-pages", o.hugePages,
                            "Read the artifact into 2 MiB huge pages (faster decode). Neither "
                            "flag: as the artifact was tuned (loom-tune), else mapped");
  app.add_flag("--no-huge-pages", o.noHugePages, "Map the artifact, whatever its tuning says")
      ->excludes(huge);
  app.add_option("--prefill-yield-ms", o.prefillYieldMs,
                 "Least time a prefill call runs between two rounds of the other requests inside "
                 "it (0: between every kernel dispatch)")
      ->check(CLI::Range(0, 60000));
  app.add_option("--max-context", o.maxContext, "Positions per request (0: the artifact's)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--max-prompt-tokens", o.maxPromptTokens,
                 "Longest prompt accepted (0: the context less one)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--default-max-tokens", o.defaultMaxTokens,
                 "Tokens generated when a request gives no max_tokens")
      ->check(CLI::PositiveNumber);
  app.add_option("--max-body-bytes", o.maxBodyBytes, "Largest request body (413 beyond)")
      ->check(CLI::PositiveNumber);
  app.add_option("--max-image-pixels", o.maxImagePixels,
                 "Largest image a request may carry, in pixels (400 beyond; at most 89,478,485)")
      ->check(CLI::Range(int64_t(1), int64_t(89'478'485)));
  app.add_option("--max-audio-seconds", o.maxAudioSeconds,
                 "Longest audio a request may carry (400 beyond; at most 3600)")
      ->check(CLI::Range(1, 3600));
  app.add_option("--model-name", o.modelName, "The model's id in the API (default: the file's stem)");
  CLI11_PARSE(app, argc, argv);

  // SIGINT/SIGTERM end the server cleanly: blocked here, waited for by a thread.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  loom_model_options modelOptions;
  loom_model_options_init(&modelOptions);
  modelOptions.max_image_pixels = o.maxImagePixels;
  modelOptions.max_media_seconds = o.maxAudioSeconds;
  modelOptions.huge_page_copy = o.hugePages     ? 1
                                : o.noHugePages ? 0
                                                : LOOM_HUGE_PAGES_AS_TUNED;
  loom_model *model = nullptr;
  if (loom_model_open_with(o.model.c_str(), &modelOptions, &model) != LOOM_OK) {
    std::fprintf(stderr, "loom-serve: %s\n", loom_last_error());
    return 1;
  }
  std::unique_ptr<loom_model, void (*)(loom_model *)> modelGuard(model, loom_model_close);
  try {
    const int64_t artifactContext = loom_model_max_context(model);
    if (o.maxContext > artifactContext)
      throw loom::Error("--max-context " + std::to_string(o.maxContext) +
                        " exceeds the artifact's max_context " + std::to_string(artifactContext));
    const int64_t context = o.maxContext > 0 ? o.maxContext : artifactContext;
    const json description = loom::describeArtifact(*loom::Artifact::open(o.model));
    const uint64_t kvBytes = description["memory"]["kv_bytes_at_max_context"].get<uint64_t>();
    int slots = o.parallel;
    if (o.kvBudget > 0) {
      const uint64_t fit = kvBytes ? o.kvBudget / kvBytes : uint64_t(o.parallel);
      if (fit == 0)
        throw loom::Error("--kv-budget " + std::to_string(o.kvBudget) + " bytes holds no slot: "
                          "each takes " + std::to_string(kvBytes) + " bytes of KV cache");
      slots = static_cast<int>(std::min<uint64_t>(fit, uint64_t(o.parallel)));
    }
    if (o.modelName.empty())
      o.modelName = std::filesystem::path(o.model).stem().string();
    serve::RequestLimits limits;
    limits.context = context;
    limits.maxPromptTokens = o.maxPromptTokens > 0 ? o.maxPromptTokens : context - 1;
    limits.defaultMaxTokens = o.defaultMaxTokens;
    serve::RequestParser parser(model, o.modelName, limits);
    serve::EngineOptions engineOptions;
    engineOptions.slots = slots;
    engineOptions.queueLimit = o.queue;
    loom_model_tuning tuning;
    loom_model_get_tuning(model, &tuning);
    engineOptions.prefillChunk = o.prefillChunk > 0        ? o.prefillChunk
                                 : tuning.prefill_chunk > 0 ? tuning.prefill_chunk
                                                            : kDefaultPrefillChunk;
    engineOptions.prefillYield = std::chrono::milliseconds(o.prefillYieldMs);
    engineOptions.threads = o.threads;
    engineOptions.context = context;
    serve::Engine engine(model, engineOptions);
    std::fprintf(stderr, "loom-serve: %d slot(s) of %llu KV bytes, context %lld, queue %zu\n",
                 slots, static_cast<unsigned long long>(kvBytes), static_cast<long long>(context),
                 o.queue);
    Server server(o, parser, engine, kvBytes);
    std::thread waiter([&] {
      int signal = 0;
      sigwait(&signals, &signal);
      server.stop();
    });
    const bool ok = server.listen();
    if (!ok || waiter.joinable()) {
      pthread_kill(waiter.native_handle(), SIGTERM); // wakes the waiter when listen failed
      waiter.join();
    }
    return ok ? 0 : 1;
  } catch (const std::exception &e) {
    std::fprintf(stderr, "loom-serve: %s\n", e.what());
    return 1;
  }
}

} // namespace

int main(int argc, char **argv) {
  // A request's media take megabytes (an image's patches: 280 x 6912 floats, 7.7 MB), freed when
  // it ends, on whichever HTTP thread parsed it. glibc's dynamic mmap threshold would rise to
  // that size and keep such blocks in each thread's heap, so the server's RSS would climb in
  // steps to (threads x the largest request). A fixed threshold maps them and returns them.
  mallopt(M_MMAP_THRESHOLD, 1 << 20);
  return run(argc, argv);
}
