// Decode steps of several sessions of one model, run as one step (continuous batching). Decode
// reads every weight once per token, so it is bound by memory bandwidth: stepping B sessions
// together turns each projection, the MLP and the LM head into one GEMM over B rows, read once,
// where B separate steps read every weight B times. Attention and the KV writes still run per
// session, on its own cache at its own position (Executor::runBatch).
//
// The logits agree with Session::decode's to rounding, not bit for bit: a kernel over B rows may
// sum in another order than over one.
#pragma once

#include "loom/AnonymousMemory.h"
#include "loom/Runtime/Executor.h"

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

namespace loom {

class Model;
class Session;

class DecodeBatch {
public:
  explicit DecodeBatch(std::shared_ptr<const Model> model);
  ~DecodeBatch();
  DecodeBatch(const DecodeBatch &) = delete;
  DecodeBatch &operator=(const DecodeBatch &) = delete;

  // One step: tokens[i] goes into sessions[i] (distinct sessions of this batch's model), which
  // each advance by one position. logits receives sessions.size() x vocab floats, row i for
  // sessions[i]. Nothing runs, and no session moves, when any session or token is refused.
  void decode(const std::vector<Session *> &sessions, const std::vector<int32_t> &tokens,
              float *logits);

private:
  void ensureRows(int64_t rows);

  std::shared_ptr<const Model> model_;
  std::unique_ptr<Executor> embedText_, decoder_, lmHead_;
  uint64_t arenaBytesPerToken_ = 0;
  int64_t rows_ = 0; // the batch size the buffers below hold
  std::optional<AnonymousMemory> arena_;
  ExecutionState state_;
  std::vector<int32_t> ids_, blockIds_;
  std::vector<float> hidden_, decoded_;
  std::vector<Executor::BatchRow> rowStates_; // this step's sessions' caches and positions
};

} // namespace loom
