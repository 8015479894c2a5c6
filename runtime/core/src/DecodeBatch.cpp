#include "loom/Runtime/DecodeBatch.h"

#include "loom/Error.h"
#include "loom/Runtime/Model.h"
#include "loom/Runtime/Session.h"
#include "loom/Schema/loom_generated.h"

#include <algorithm>

namespace loom {

DecodeBatch::DecodeBatch(std::shared_ptr<const Model> model) : model_(std::move(model)) {
  if (!model_)
    fail("decode batch: no model");
  if (model_->device())
    fail(model_->path(), ": batched decode runs on the CPU only; this artifact runs on the GPU");
  auto make = [&](const char *name) {
    const fb::EntryPoint *entry = model_->entry(name);
    if (entry == nullptr)
      fail(model_->path(), ": the artifact lacks the entry point ", name);
    auto executor = std::make_unique<Executor>(*model_, *entry);
    arenaBytesPerToken_ = std::max(arenaBytesPerToken_, executor->arenaBytesPerToken());
    return executor;
  };
  embedText_ = make("embed_text");
  decoder_ = make("decoder");
  lmHead_ = make("lm_head");
}

DecodeBatch::~DecodeBatch() = default;

void DecodeBatch::ensureRows(int64_t rows) {
  if (rows <= rows_)
    return;
  const uint64_t hidden = static_cast<uint64_t>(model_->hiddenSize());
  ids_.resize(rows);
  blockIds_.assign(rows, -1); // text tokens: no media block
  hidden_.resize(rows * hidden);
  decoded_.resize(rows * hidden);
  arena_.emplace(arenaBytesPerToken_ * static_cast<uint64_t>(rows), PageSize::Small,
                 "the batch's scratch arena");
  state_.arena = arena_->data();
  state_.arenaBytes = arena_->size();
  state_.arenaTokens = rows;
  ++state_.arenaGeneration;
  rows_ = rows;
}

void DecodeBatch::decode(const std::vector<Session *> &sessions,
                         const std::vector<int32_t> &tokens, float *logits) {
  const int64_t rows = static_cast<int64_t>(sessions.size());
  if (rows == 0)
    fail("batched decode: no sessions");
  if (tokens.size() != sessions.size())
    fail("batched decode: ", sessions.size(), " sessions but ", tokens.size(), " tokens");
  if (logits == nullptr)
    fail("batched decode: no logits buffer");
  const int64_t vocab = model_->vocabSize();
  const SpecialTokens &special = model_->tokens();
  rowStates_.clear();
  for (int64_t i = 0; i < rows; ++i) {
    Session *session = sessions[i];
    if (session == nullptr)
      fail("batched decode: session ", i, " is null");
    if (&session->model() != model_.get())
      fail("batched decode: session ", i, " belongs to another model than the batch's (",
           session->model().path(), ")");
    if (std::count(sessions.begin(), sessions.end(), session) > 1)
      fail("batched decode: session ", i, " appears more than once in the batch");
    if (session->running_)
      fail("batched decode: session ", i, " is in the middle of a prefill (called from its own "
           "prefill yield, which may use other sessions only)");
    if (tokens[i] < 0 || tokens[i] >= vocab)
      fail("batched decode: token id ", tokens[i], " of session ", i, " is out of range [0, ",
           vocab, ")");
    session->checkRoom(1);
    rowStates_.push_back({&session->state_, static_cast<int32_t>(session->position_)});
  }
  ensureRows(rows);
  sessions[0]->useDecodeThreads(); // the sessions share one model and its tuning
  for (int64_t i = 0; i < rows; ++i) {
    const int32_t token = tokens[i];
    ids_[i] = (token == special.image || token == special.audio || token == special.video)
                  ? special.pad
                  : token;
  }
  {
    const void *in[] = {ids_.data()};
    void *out[] = {hidden_.data()};
    embedText_->runBatch(rowStates_, in, 1, out, 1, state_);
  }
  {
    const void *in[] = {hidden_.data(), blockIds_.data()};
    void *out[] = {decoded_.data()};
    decoder_->runBatch(rowStates_, in, 2, out, 1, state_);
  }
  {
    const void *in[] = {decoded_.data()};
    void *out[] = {logits};
    lmHead_->runBatch(rowStates_, in, 1, out, 1, state_);
  }
  for (Session *session : sessions)
    ++session->position_;
}

} // namespace loom
