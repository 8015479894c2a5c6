// Runs one entry point's program (schemas/loom.fbs): Dispatch commands call generated kernels
// through `<symbol>_argv(void **)`, KvWrite commands append rows to a layer's cache.
//
// The halide_buffer_t's of a call are built from the Values once per call shape (token count,
// arena placement) and cached; per call only the host pointers of the entry's inputs/outputs
// and the positions (StartPosition, TokenPositions) are refreshed, so a decode step allocates
// nothing.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace loom {
namespace fb {
struct EntryPoint;
}
namespace cuda {
class DeviceProgram;
class DeviceSession;
} // namespace cuda
class Model;

// Session-owned memory the programs run against.
struct ExecutionState {
  uint8_t *arena = nullptr;
  uint64_t arenaBytes = 0;
  int64_t arenaTokens = 0;      // the `max_tokens` of Arena values: offset = offset_per_token * this
  uint64_t arenaGeneration = 0; // bumped whenever the arena moves or grows
  struct KvLayer {
    uint8_t *keys = nullptr;
    uint8_t *values = nullptr; // null for a keys-only layer (fb::KvCacheLayer.keys_only)
    int64_t capacity = 0;   // slots
    uint64_t rowBytes = 0;  // kv_heads * head_dim * element size
    int dtype = 0;          // fb::DType
  };
  std::vector<KvLayer> kv;
  // CUDA artifacts: the session's GPU state (KV cache, arena, stream), made by the first call.
  std::shared_ptr<cuda::DeviceSession> device;
  // When set, called between the kernel dispatches of a CPU run (Session::setPrefillYield).
  std::function<void()> betweenDispatches;
};

class Executor {
public:
  Executor(const Model &model, const fb::EntryPoint &entry);
  ~Executor();
  Executor(const Executor &) = delete;
  Executor &operator=(const Executor &) = delete;

  const std::string &name() const { return name_; }
  uint64_t arenaBytesPerToken() const { return arenaBytesPerToken_; }
  size_t inputCount() const;
  size_t outputCount() const;
  // Bytes of input/output slot i for a call of `tokens` tokens (from the entry's declaration).
  uint64_t inputBytes(size_t slot, int64_t tokens) const;
  uint64_t outputBytes(size_t slot, int64_t tokens) const;

  // Runs the program for `tokens` tokens starting at position startPosition. inputs/outputs
  // hold one host pointer per entry slot, each at least inputBytes/outputBytes long. The arena
  // must hold arenaBytesPerToken() * tokens bytes. Throws loom::Error naming the entry and the
  // kernel on any failure.
  void run(int64_t tokens, int32_t startPosition, const void *const *inputs, size_t inputCount,
           void *const *outputs, size_t outputCount, ExecutionState &state);
  template <size_t I, size_t O>
  void run(int64_t tokens, int32_t startPosition, const void *const (&inputs)[I],
           void *const (&outputs)[O], ExecutionState &state) {
    run(tokens, startPosition, inputs, I, outputs, O, state);
  }

  // One sequence of a batched call: its KV cache and the position of its one token.
  struct BatchRow {
    ExecutionState *state;
    int32_t position;
  };
  // Runs one token of each of rows.size() sequences, row i of the inputs and outputs being
  // sequence i's: what `run` would compute for each alone, but every command that touches no KV
  // cache and takes no start position (projections, norms, the MLP, and the attention inputs
  // that read TokenPositions, each row's own) runs once over all rows, so its weights are read
  // once. Commands that do (attention, KV writes) run once per row, against that row's cache
  // at its position. `batch` supplies the arena (rows.size() tokens); its KV layers
  // are unused. Every row's KV cache must be laid out as the model's manifest says. CPU only.
  void runBatch(const std::vector<BatchRow> &rows, const void *const *inputs, size_t inputCount,
                void *const *outputs, size_t outputCount, ExecutionState &batch);

  struct Plan;

private:
  Plan &planFor(int64_t tokens, const ExecutionState &state);
  void bindIo(Plan &plan, const void *const *inputs, size_t inputCount, void *const *outputs,
              size_t outputCount);
  // Runs plan step `step` (a dispatch) with `argv`.
  void call(const Plan &plan, size_t step, void **argv, int64_t tokens, int32_t position);
  // Runs plan step `step` (a KV write) for `tokens` rows from `firstRow` into state's cache.
  void writeKv(const Plan &plan, size_t step, int64_t firstRow, int64_t tokens, int32_t start,
               ExecutionState &state);
  void runOnDevice(int64_t tokens, int32_t startPosition, const void *const *inputs,
                   size_t inputCount, void *const *outputs, size_t outputCount,
                   ExecutionState &state);
  const Model &model_;
  const fb::EntryPoint &entry_;
  std::string name_;
  uint64_t arenaBytesPerToken_ = 0;
  std::unique_ptr<Plan> plans_[2]; // [0]: single-token calls (decode), [1]: the last other shape
  std::unique_ptr<cuda::DeviceProgram> device_; // CUDA artifacts: runs the program on the GPU
};

} // namespace loom
