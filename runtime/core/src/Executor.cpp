#include "loom/DTypeSize.h"
#include "loom/Runtime/Executor.h"

#include "HalideTypes.h"

#include "loom/Cuda/CudaBackend.h"
#include "loom/Error.h"
#include "loom/Runtime/Model.h"
#include "loom/Schema/loom_generated.h"

#include <algorithm>
#include <climits>
#include <cstring>

namespace loom {
namespace {

const char *kindName(fb::ValueKind kind) {
  const char *name = fb::EnumNameValueKind(kind);
  return name && *name ? name : "?";
}

} // namespace

struct Executor::Plan {
  int64_t tokens = -1;
  uint64_t arenaGeneration = ~uint64_t{0};
  std::vector<halide_buffer_t> buffers;
  std::vector<halide_dimension_t> dims;
  std::vector<void *> argv;
  struct Step {
    bool kvWrite = false;
    uint32_t command = 0;
    // Dispatch
    KernelFunction function = nullptr;
    uint32_t kernel = 0;
    size_t argvOffset = 0;
    // KvWrite
    uint32_t layer = 0;
    uint32_t keysBuffer = 0, valuesBuffer = 0;
    // Touches a KV cache or takes the start position (one scalar for the call): in a batched
    // call, runs once per row (rowArgv). TokenPositions kernels run once over all rows.
    bool perRow = false;
    size_t rowArgvOffset = 0;
    uint32_t argCount = 0;
  };
  std::vector<Step> steps;
  // Batched calls (runBatch): the per-row dispatches' arguments, re-pointed at each row.
  struct RowArg {
    enum Kind : uint8_t { Shared, TokenRow, Kv, Start } kind;
    uint32_t buffer;      // the plan's buffer it derives from
    uint32_t rowBuffer;   // TokenRow, Kv: its copy in rowBuffers
    uint64_t rowBytes;    // TokenRow: bytes per token
    uint32_t layer;       // Kv
    bool values;          // Kv: the values, not the keys
  };
  std::vector<RowArg> rowArgs; // parallel to rowArgv
  std::vector<halide_buffer_t> rowBuffers;
  std::vector<halide_dimension_t> rowDims;
  std::vector<void *> rowArgv;
  int32_t rowPosition = 0;
  std::string unbatchable; // why runBatch cannot split this program by rows; empty: it can
  struct IoRef {
    uint32_t buffer;
    bool output;
    uint32_t slot;
  };
  std::vector<IoRef> io;
  int32_t startPosition = 0;
  // TokenPositions: each token's position, filled before every call (runBatch: the rows').
  std::vector<int32_t> positions;
  bool readsPositions = false;
};

Executor::Executor(const Model &model, const fb::EntryPoint &entry)
    : model_(model), entry_(entry), name_(entry.name() ? entry.name()->str() : "?"),
      arenaBytesPerToken_(entry.arena_bytes_per_token()) {
  if (model.device())
    device_ = std::make_unique<cuda::DeviceProgram>(model.device(), entry);
}

Executor::~Executor() = default;

size_t Executor::inputCount() const { return entry_.inputs() ? entry_.inputs()->size() : 0; }
size_t Executor::outputCount() const { return entry_.outputs() ? entry_.outputs()->size() : 0; }

namespace {
uint64_t declaredBytes(const std::string &path, const std::string &entry, const char *what,
                       const flatbuffers::Vector<flatbuffers::Offset<fb::Value>> *values,
                       size_t slot, int64_t tokens) {
  if (values == nullptr || slot >= values->size())
    fail(path, ": entry '", entry, "' has no ", what, " slot ", slot);
  const fb::Value *value = values->Get(static_cast<uint32_t>(slot));
  uint64_t bytes = dtypeSize(value->dtype());
  if (value->shape())
    for (int64_t d : *value->shape())
      bytes *= static_cast<uint64_t>(d == static_cast<int64_t>(fb::DimSymbol::Tokens) ? tokens
                                                                                       : d);
  return bytes;
}
} // namespace

uint64_t Executor::inputBytes(size_t slot, int64_t tokens) const {
  return declaredBytes(model_.path(), name_, "input", entry_.inputs(), slot, tokens);
}
uint64_t Executor::outputBytes(size_t slot, int64_t tokens) const {
  return declaredBytes(model_.path(), name_, "output", entry_.outputs(), slot, tokens);
}

Executor::Plan &Executor::planFor(int64_t tokens, const ExecutionState &state) {
  std::unique_ptr<Plan> &cached = plans_[tokens == 1 ? 0 : 1];
  if (cached && cached->tokens == tokens && cached->arenaGeneration == state.arenaGeneration)
    return *cached;
  cached.reset();
  auto plan = std::make_unique<Plan>();
  plan->positions.resize(static_cast<size_t>(tokens));
  const std::string &path = model_.path();
  const fb::Model &manifest = model_.manifest();
  const Artifact &artifact = model_.artifact();

  // Shapes first (dims must not move once buffers point at them).
  struct Resolved {
    uint8_t *host;
    halide_type_t type;
    std::vector<int64_t> shape;
    int io; // -1: none, else 0 input / 1 output
    uint32_t slot;
    bool hasTokens = false;     // a Tokens dimension anywhere
    uint64_t tokenRowBytes = 0; // a [Tokens, ...] value (no other Tokens dim): bytes per token
    int64_t kvLayer = -1;       // KvKeys / KvValues: the layer
    bool kvValues = false;
  };
  std::vector<Resolved> resolved;
  auto where = [&](uint32_t command, size_t arg) {
    std::ostringstream s;
    s << path << ": entry '" << name_ << "' command " << command << " argument " << arg;
    return s.str();
  };
  auto resolveShape = [&](const std::string &at, const fb::Value &value,
                          const flatbuffers::Vector<int64_t> *fallback) {
    const flatbuffers::Vector<int64_t> *source =
        value.shape() && value.shape()->size() ? value.shape() : fallback;
    std::vector<int64_t> shape;
    if (source)
      for (int64_t d : *source) {
        if (d == static_cast<int64_t>(fb::DimSymbol::Tokens))
          d = tokens;
        else if (d < 0)
          fail(at, " (", kindName(value.kind()), "): invalid dimension ", d);
        shape.push_back(d);
      }
    return shape;
  };
  auto bytesOf = [](const std::vector<int64_t> &shape, uint64_t elementSize) {
    uint64_t bytes = elementSize;
    for (int64_t d : shape)
      bytes *= static_cast<uint64_t>(d);
    return bytes;
  };
  // Where a value's Tokens dimensions are: r.hasTokens, and r.tokenRowBytes (bytes per token)
  // when the only one is the outermost.
  auto findTokens = [&](Resolved &r, const fb::Value &value,
                        const flatbuffers::Vector<int64_t> *fallback, uint64_t bytes) {
    const flatbuffers::Vector<int64_t> *source =
        value.shape() && value.shape()->size() ? value.shape() : fallback;
    const auto symbol = static_cast<int64_t>(fb::DimSymbol::Tokens);
    uint32_t count = 0;
    if (source)
      for (int64_t d : *source)
        count += d == symbol;
    r.hasTokens = count > 0;
    if (count == 1 && source->Get(0) == symbol)
      r.tokenRowBytes = bytes / static_cast<uint64_t>(tokens);
  };
  // Returns the index of the buffer made for `value`.
  auto addBuffer = [&](const std::string &at, const fb::Value &value) -> uint32_t {
    Resolved r{nullptr, {}, {}, -1, 0};
    uint64_t bytes = 0, limit = 0;
    switch (value.kind()) {
    case fb::ValueKind::Weight: {
      const auto *tensors = manifest.tensors();
      if (tensors == nullptr || value.index() >= tensors->size())
        fail(at, ": weight index ", value.index(), " is not a tensor of the manifest");
      const fb::Tensor *tensor = tensors->Get(value.index());
      ByteSpan data = artifact.tensorData(value.index());
      r.host = const_cast<uint8_t *>(data.data);
      r.type = halideType(tensor->dtype());
      r.shape = resolveShape(at, value, tensor->shape());
      bytes = bytesOf(r.shape, dtypeSize(tensor->dtype()));
      limit = data.size;
      if (bytes > limit)
        fail(at, ": weight '", tensor->name() ? tensor->name()->str() : "?", "' viewed as ",
             bytes, " bytes but it holds ", limit);
      break;
    }
    case fb::ValueKind::Arena: {
      r.type = halideType(value.dtype());
      r.shape = resolveShape(at, value, nullptr);
      bytes = bytesOf(r.shape, dtypeSize(value.dtype()));
      uint64_t offset = value.offset_per_token() * static_cast<uint64_t>(state.arenaTokens);
      if (offset + bytes > state.arenaBytes)
        fail(at, ": arena value at ", value.offset_per_token(), " bytes/token x ",
             state.arenaTokens, " tokens (", bytes, " bytes) overruns the arena of ",
             state.arenaBytes, " bytes (entry arena_bytes_per_token = ", arenaBytesPerToken_,
             ")");
      r.host = state.arena + offset;
      findTokens(r, value, nullptr, bytes);
      break;
    }
    case fb::ValueKind::Input:
    case fb::ValueKind::Output: {
      bool output = value.kind() == fb::ValueKind::Output;
      const auto *slots = output ? entry_.outputs() : entry_.inputs();
      if (slots == nullptr || value.index() >= slots->size())
        fail(at, ": entry has no ", output ? "output" : "input", " slot ", value.index());
      const fb::Value *declared = slots->Get(value.index());
      r.type = halideType(value.dtype());
      r.shape = resolveShape(at, value, declared->shape());
      bytes = bytesOf(r.shape, dtypeSize(value.dtype()));
      limit = output ? outputBytes(value.index(), tokens) : inputBytes(value.index(), tokens);
      if (bytes > limit)
        fail(at, ": views ", bytes, " bytes of ", output ? "output" : "input", " slot ",
             value.index(), " which holds ", limit);
      r.io = output ? 1 : 0;
      r.slot = value.index();
      findTokens(r, value, declared->shape(), bytes);
      break;
    }
    case fb::ValueKind::KvKeys:
    case fb::ValueKind::KvValues: {
      if (value.index() >= state.kv.size())
        fail(at, ": KV cache layer ", value.index(), " does not exist (the model has ",
             state.kv.size(), ")");
      const ExecutionState::KvLayer &layer = state.kv[value.index()];
      const fb::KvCacheLayer *info = manifest.kv_cache()->Get(value.index());
      auto dtype = static_cast<fb::DType>(layer.dtype);
      r.host = value.kind() == fb::ValueKind::KvKeys ? layer.keys : layer.values;
      if (r.host == nullptr)
        fail(at, ": KV cache layer ", value.index(), " caches keys only (keys_only) and has no values");
      r.type = halideType(dtype);
      if (value.shape() && value.shape()->size())
        r.shape = resolveShape(at, value, nullptr);
      else
        r.shape = {info->capacity(), info->kv_heads(), info->head_dim()};
      bytes = bytesOf(r.shape, dtypeSize(dtype));
      limit = layer.rowBytes * static_cast<uint64_t>(layer.capacity);
      if (bytes > limit)
        fail(at, ": views ", bytes, " bytes of KV cache layer ", value.index(), " which holds ",
             limit);
      r.kvLayer = value.index();
      r.kvValues = value.kind() == fb::ValueKind::KvValues;
      break;
    }
    case fb::ValueKind::TokenPositions:
      r.host = reinterpret_cast<uint8_t *>(plan->positions.data());
      r.type = halideType(fb::DType::I32);
      r.shape = {tokens};
      r.hasTokens = true;
      r.tokenRowBytes = sizeof(int32_t);
      plan->readsPositions = true;
      break;
    case fb::ValueKind::StartPosition:
      fail(at, ": a StartPosition value cannot be used as a buffer");
    default:
      fail(at, ": unknown value kind ", static_cast<int>(value.kind()));
    }
    for (int64_t d : r.shape)
      if (d > INT32_MAX)
        fail(at, ": dimension ", d, " exceeds the 32-bit extents of kernel buffers");
    resolved.push_back(std::move(r));
    return static_cast<uint32_t>(resolved.size() - 1);
  };

  // argv entries: buffer index, or ~0 for the start position.
  constexpr uint32_t kStartPosition = ~uint32_t{0};
  std::vector<uint32_t> argRefs;
  const auto *commands = entry_.commands();
  const uint32_t commandCount = commands ? commands->size() : 0;
  const auto *types = entry_.commands_type();
  const auto *kernels = manifest.kernels();
  for (uint32_t c = 0; c < commandCount; ++c) {
    Plan::Step step;
    step.command = c;
    fb::Command type = types ? static_cast<fb::Command>(types->Get(c)) : fb::Command::NONE;
    if (type == fb::Command::Dispatch) {
      const auto *dispatch = static_cast<const fb::Dispatch *>(commands->Get(c));
      if (kernels == nullptr || dispatch->kernel() >= kernels->size())
        fail(path, ": entry '", name_, "' command ", c, " calls kernel ", dispatch->kernel(),
             " but the manifest has ", kernels ? kernels->size() : 0);
      step.kernel = dispatch->kernel();
      step.function = model_.kernels().function(step.kernel);
      step.argvOffset = argRefs.size();
      if (dispatch->args())
        for (uint32_t a = 0; a < dispatch->args()->size(); ++a) {
          const fb::Value &value = *dispatch->args()->Get(a);
          const fb::ValueKind kind = value.kind();
          step.perRow |= kind == fb::ValueKind::StartPosition ||
                         kind == fb::ValueKind::KvKeys || kind == fb::ValueKind::KvValues;
          if (kind == fb::ValueKind::StartPosition)
            argRefs.push_back(kStartPosition);
          else
            argRefs.push_back(addBuffer(where(c, a) + " of kernel '" +
                                            model_.kernels().symbol(step.kernel) + "'",
                                        value));
        }
      step.argCount = static_cast<uint32_t>(argRefs.size() - step.argvOffset);
    } else if (type == fb::Command::KvWrite) {
      const auto *write = static_cast<const fb::KvWrite *>(commands->Get(c));
      step.kvWrite = true;
      step.perRow = true;
      step.layer = write->layer();
      std::string at = path + ": entry '" + name_ + "' command " + std::to_string(c) +
                       " (KvWrite layer " + std::to_string(step.layer) + ")";
      if (step.layer >= state.kv.size())
        fail(at, ": the model has ", state.kv.size(), " KV cache layers");
      const ExecutionState::KvLayer &layer = state.kv[step.layer];
      // A keys-only layer (values == nullptr) is written without values, every other with both.
      bool keysOnly = layer.values == nullptr;
      if (write->keys() == nullptr || (write->values() == nullptr) != keysOnly)
        fail(at, keysOnly ? ": the layer caches keys only, so the write must have keys and no values"
                          : ": keys or values missing");
      step.keysBuffer = addBuffer(at + " keys", *write->keys());
      step.valuesBuffer = keysOnly ? step.keysBuffer : addBuffer(at + " values", *write->values());
      for (uint32_t b : {step.keysBuffer, step.valuesBuffer}) {
        const Resolved &r = resolved[b];
        uint64_t bytes = bytesOf(r.shape, (r.type.bits + 7) / 8);
        if (r.shape.empty() || r.shape[0] != tokens || bytes != layer.rowBytes * tokens ||
            !(r.type == halideType(static_cast<fb::DType>(layer.dtype))))
          fail(at, ": source must be [tokens, kv_heads, head_dim] of the cache's dtype (",
               layer.rowBytes, " bytes per row)");
      }
    } else {
      fail(path, ": entry '", name_, "' command ", c, " has an unknown type");
    }
    plan->steps.push_back(step);
  }

  // Materialise the halide buffers.
  size_t dimCount = 0;
  for (const Resolved &r : resolved)
    dimCount += r.shape.size();
  plan->dims.resize(dimCount);
  plan->buffers.resize(resolved.size());
  size_t dimAt = 0;
  for (size_t b = 0; b < resolved.size(); ++b) {
    const Resolved &r = resolved[b];
    halide_buffer_t &buffer = plan->buffers[b];
    std::memset(&buffer, 0, sizeof buffer);
    buffer.host = r.host;
    buffer.type = r.type;
    buffer.dimensions = static_cast<int32_t>(r.shape.size());
    buffer.dim = r.shape.empty() ? nullptr : &plan->dims[dimAt];
    int64_t stride = 1;
    for (size_t i = 0; i < r.shape.size(); ++i) {
      int64_t extent = r.shape[r.shape.size() - 1 - i]; // dim 0 is the innermost
      if (stride > INT32_MAX)
        fail(path, ": entry '", name_, "': a buffer stride of ", stride,
             " elements exceeds 32 bits");
      plan->dims[dimAt + i] = halide_dimension_t(0, static_cast<int32_t>(extent),
                                                 static_cast<int32_t>(stride));
      stride *= extent;
    }
    dimAt += r.shape.size();
    if (r.io >= 0)
      plan->io.push_back({static_cast<uint32_t>(b), r.io == 1, r.slot});
  }
  plan->argv.resize(argRefs.size());
  for (size_t i = 0; i < argRefs.size(); ++i)
    plan->argv[i] = argRefs[i] == kStartPosition ? static_cast<void *>(&plan->startPosition)
                                                 : static_cast<void *>(&plan->buffers[argRefs[i]]);

  // The per-row dispatches' arguments for batched calls: a [Tokens, ...] value becomes a
  // one-token view (moved to each row in turn), a KV view is moved to each row's cache.
  size_t rowBufferCount = 0, rowDimCount = 0;
  for (const Plan::Step &step : plan->steps)
    if (step.perRow && !step.kvWrite)
      for (uint32_t a = 0; a < step.argCount; ++a) {
        uint32_t ref = argRefs[step.argvOffset + a];
        if (ref != kStartPosition && (resolved[ref].tokenRowBytes || resolved[ref].kvLayer >= 0)) {
          ++rowBufferCount;
          rowDimCount += resolved[ref].shape.size();
        }
      }
  plan->rowBuffers.resize(rowBufferCount);
  plan->rowDims.resize(rowDimCount);
  size_t rowBufferAt = 0, rowDimAt = 0;
  for (Plan::Step &step : plan->steps) {
    if (!step.perRow || step.kvWrite)
      continue;
    step.rowArgvOffset = plan->rowArgv.size();
    for (uint32_t a = 0; a < step.argCount; ++a) {
      uint32_t ref = argRefs[step.argvOffset + a];
      Plan::RowArg arg{Plan::RowArg::Shared, ref, 0, 0, 0, false};
      void *pointer = nullptr;
      if (ref != kStartPosition && resolved[ref].hasTokens && !resolved[ref].tokenRowBytes &&
          plan->unbatchable.empty())
        plan->unbatchable = "command " + std::to_string(step.command) + " (kernel '" +
                            model_.kernels().symbol(step.kernel) + "') argument " +
                            std::to_string(a) + " has a token dimension that is not its outermost";
      if (ref == kStartPosition) {
        arg.kind = Plan::RowArg::Start;
        pointer = &plan->rowPosition;
      } else if (resolved[ref].tokenRowBytes || resolved[ref].kvLayer >= 0) {
        const halide_buffer_t &source = plan->buffers[ref];
        halide_buffer_t &copy = plan->rowBuffers[rowBufferAt];
        copy = source;
        copy.dim = source.dimensions ? &plan->rowDims[rowDimAt] : nullptr;
        std::copy(source.dim, source.dim + source.dimensions, copy.dim);
        if (resolved[ref].kvLayer >= 0) {
          arg.kind = Plan::RowArg::Kv;
          arg.layer = static_cast<uint32_t>(resolved[ref].kvLayer);
          arg.values = resolved[ref].kvValues;
        } else {
          arg.kind = Plan::RowArg::TokenRow;
          arg.rowBytes = resolved[ref].tokenRowBytes;
          copy.dim[copy.dimensions - 1].extent = 1; // the outermost dimension is Tokens
        }
        arg.rowBuffer = static_cast<uint32_t>(rowBufferAt++);
        rowDimAt += static_cast<size_t>(source.dimensions);
        pointer = &copy;
      } else {
        pointer = &plan->buffers[ref];
      }
      plan->rowArgs.push_back(arg);
      plan->rowArgv.push_back(pointer);
    }
  }
  plan->tokens = tokens;
  plan->arenaGeneration = state.arenaGeneration;
  cached = std::move(plan);
  return *cached;
}

void Executor::run(int64_t tokens, int32_t startPosition, const void *const *inputs,
                   size_t inputCount, void *const *outputs, size_t outputCount,
                   ExecutionState &state) {
  if (tokens <= 0 || tokens > INT32_MAX)
    fail(model_.path(), ": entry '", name_, "' called with ", tokens, " tokens");
  if (state.arenaTokens < tokens || state.arenaBytes < arenaBytesPerToken_ * tokens)
    fail(model_.path(), ": entry '", name_, "' needs an arena of ", arenaBytesPerToken_ * tokens,
         " bytes for ", tokens, " tokens");
  if (device_) {
    runOnDevice(tokens, startPosition, inputs, inputCount, outputs, outputCount, state);
    return;
  }
  Plan &plan = planFor(tokens, state);
  plan.startPosition = startPosition;
  if (plan.readsPositions)
    for (int64_t t = 0; t < tokens; ++t)
      plan.positions[static_cast<size_t>(t)] = static_cast<int32_t>(startPosition + t);
  bindIo(plan, inputs, inputCount, outputs, outputCount);
  for (size_t s = 0; s < plan.steps.size(); ++s) {
    if (s > 0 && state.betweenDispatches)
      state.betweenDispatches();
    if (plan.steps[s].kvWrite)
      writeKv(plan, s, 0, tokens, startPosition, state);
    else
      call(plan, s, plan.argv.data() + plan.steps[s].argvOffset, tokens, startPosition);
  }
}

void Executor::bindIo(Plan &plan, const void *const *inputs, size_t inputCount,
                      void *const *outputs, size_t outputCount) {
  for (const Plan::IoRef &ref : plan.io) {
    if (ref.slot >= (ref.output ? outputCount : inputCount))
      fail(model_.path(), ": entry '", name_, "' uses ", ref.output ? "output" : "input",
           " slot ", ref.slot, " but the runtime provides ", ref.output ? outputCount : inputCount);
    const void *host = ref.output ? outputs[ref.slot] : inputs[ref.slot];
    if (host == nullptr)
      fail(model_.path(), ": entry '", name_, "': ", ref.output ? "output" : "input", " slot ",
           ref.slot, " was not given a buffer");
    plan.buffers[ref.buffer].host = static_cast<uint8_t *>(const_cast<void *>(host));
    plan.buffers[ref.buffer].flags = 0;
  }
}

void Executor::call(const Plan &plan, size_t s, void **argv, int64_t tokens, int32_t position) {
  const Plan::Step &step = plan.steps[s];
  int rc = step.function(argv);
  if (rc != 0)
    fail(model_.path(), ": kernel '", model_.kernels().symbol(step.kernel), "' (entry '", name_,
         "' command ", step.command, ", ", tokens, " tokens at position ", position,
         ") failed with Halide error code ", rc, ": ", KernelLibrary::takeLastError());
}

// Positions start, start + 1, ... go to a ring of `capacity` slots.
void Executor::writeKv(const Plan &plan, size_t s, int64_t firstRow, int64_t tokens, int32_t start,
                       ExecutionState &state) {
  const Plan::Step &step = plan.steps[s];
  ExecutionState::KvLayer &layer = state.kv[step.layer];
  const uint64_t row = layer.rowBytes;
  const uint8_t *keys = plan.buffers[step.keysBuffer].host + firstRow * row;
  const uint8_t *values = plan.buffers[step.valuesBuffer].host + firstRow * row;
  // Rows older than the last `capacity` would be overwritten within this call anyway.
  const int64_t first = tokens > layer.capacity ? tokens - layer.capacity : 0;
  for (int64_t t = first; t < tokens; ++t) {
    uint64_t slot = static_cast<uint64_t>(start + t) % static_cast<uint64_t>(layer.capacity);
    std::memcpy(layer.keys + slot * row, keys + t * row, row);
    if (layer.values != nullptr)
      std::memcpy(layer.values + slot * row, values + t * row, row);
  }
}

void Executor::runBatch(const std::vector<BatchRow> &rows, const void *const *inputs,
                        size_t inputCount, void *const *outputs, size_t outputCount,
                        ExecutionState &batch) {
  const int64_t tokens = static_cast<int64_t>(rows.size());
  if (device_)
    fail(model_.path(), ": entry '", name_, "': batched calls run on the CPU only");
  if (tokens == 0 || tokens > INT32_MAX)
    fail(model_.path(), ": entry '", name_, "' called for a batch of ", tokens, " rows");
  if (batch.arenaTokens < tokens || batch.arenaBytes < arenaBytesPerToken_ * tokens)
    fail(model_.path(), ": entry '", name_, "' needs an arena of ", arenaBytesPerToken_ * tokens,
         " bytes for a batch of ", tokens);
  // Planned against the first row's cache layout, which every row must share.
  const std::vector<ExecutionState::KvLayer> &layout = rows.front().state->kv;
  for (const BatchRow &row : rows) {
    bool same = row.state->kv.size() == layout.size();
    for (size_t l = 0; same && l < layout.size(); ++l)
      same = row.state->kv[l].capacity == layout[l].capacity &&
             row.state->kv[l].rowBytes == layout[l].rowBytes &&
             row.state->kv[l].dtype == layout[l].dtype &&
             (row.state->kv[l].values == nullptr) == (layout[l].values == nullptr);
    if (!same)
      fail(model_.path(), ": entry '", name_, "': a batch's sequences must share one KV cache "
           "layout (sessions of one model)");
  }
  batch.kv = layout;
  Plan &plan = planFor(tokens, batch);
  if (!plan.unbatchable.empty())
    fail(model_.path(), ": entry '", name_, "' cannot run batched: ", plan.unbatchable);
  if (plan.readsPositions)
    for (size_t r = 0; r < rows.size(); ++r)
      plan.positions[r] = rows[r].position;
  bindIo(plan, inputs, inputCount, outputs, outputCount);
  for (size_t s = 0; s < plan.steps.size(); ++s) {
    const Plan::Step &step = plan.steps[s];
    if (!step.perRow) {
      call(plan, s, plan.argv.data() + step.argvOffset, tokens, rows.front().position);
      continue;
    }
    for (int64_t r = 0; r < tokens; ++r) {
      const BatchRow &row = rows[static_cast<size_t>(r)];
      if (step.kvWrite) {
        writeKv(plan, s, r, 1, row.position, *row.state);
        continue;
      }
      for (size_t a = step.rowArgvOffset; a < step.rowArgvOffset + step.argCount; ++a) {
        const Plan::RowArg &arg = plan.rowArgs[a];
        if (arg.kind == Plan::RowArg::TokenRow) {
          plan.rowBuffers[arg.rowBuffer].host =
              plan.buffers[arg.buffer].host + static_cast<uint64_t>(r) * arg.rowBytes;
        } else if (arg.kind == Plan::RowArg::Kv) {
          const ExecutionState::KvLayer &layer = row.state->kv[arg.layer];
          plan.rowBuffers[arg.rowBuffer].host = arg.values ? layer.values : layer.keys;
        }
      }
      plan.rowPosition = row.position;
      call(plan, s, plan.rowArgv.data() + step.rowArgvOffset, 1, row.position);
    }
  }
}

// The same program on the GPU (runtime/cuda): entry inputs/outputs stay host pointers here.
void Executor::runOnDevice(int64_t tokens, int32_t startPosition, const void *const *inputs,
                           size_t inputCount, void *const *outputs, size_t outputCount,
                           ExecutionState &state) {
  if (inputCount < this->inputCount() || outputCount < this->outputCount())
    fail(model_.path(), ": entry '", name_, "' takes ", this->inputCount(), " inputs and ",
         this->outputCount(), " outputs but the runtime provides ", inputCount, " and ",
         outputCount);
  std::vector<uint64_t> inputSizes, outputSizes;
  for (size_t i = 0; i < this->inputCount(); ++i)
    inputSizes.push_back(inputBytes(i, tokens));
  for (size_t i = 0; i < this->outputCount(); ++i)
    outputSizes.push_back(outputBytes(i, tokens));
  if (!state.device)
    state.device = std::make_shared<cuda::DeviceSession>(model_.device());
  state.device->ensureArena(state.arenaBytes, state.arenaTokens);
  device_->run(tokens, startPosition, inputs, inputSizes, outputs, outputSizes, *state.device);
}

} // namespace loom
