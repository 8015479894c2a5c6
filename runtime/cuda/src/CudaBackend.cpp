#include "loom/Cuda/CudaBackend.h"

#include "loom/Artifact.h"
#include "loom/DTypeSize.h"
#include "loom/Error.h"
#include "loom/Schema/loom_generated.h"

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <cstring>

namespace loom::cuda {
namespace {

constexpr uint64_t kUploadChunk = 64ull << 20;
constexpr int kKvWriteThreads = 256;

std::string targetName(const fb::Model &manifest) {
  return manifest.target() && manifest.target()->name() ? manifest.target()->name()->str() : "?";
}

// "sm_90a" -> 90 (compute capability major * 10 + minor), "a" suffix noted.
int archNumber(const std::string &arch, bool &archSpecific) {
  size_t digits = arch.find_first_of("0123456789");
  if (digits == std::string::npos)
    return -1;
  archSpecific = !arch.empty() && arch.back() == 'a';
  return std::atoi(arch.c_str() + digits);
}

} // namespace

bool cudaGraphsEnabled() {
  const char *value = std::getenv("LOOM_CUDA_GRAPHS");
  return !(value && std::string(value) == "0");
}

// ---- DeviceBuffer ---------------------------------------------------------------------------

DeviceBuffer::DeviceBuffer(const Driver &driver, uint64_t bytes, const std::string &what)
    : driver_(&driver), bytes_(bytes) {
  if (bytes == 0)
    return;
  CUresult result = driver.cuMemAlloc(&address_, bytes);
  if (result != CUDA_SUCCESS) {
    size_t freeBytes = 0, totalBytes = 0;
    driver.cuMemGetInfo(&freeBytes, &totalBytes);
    fail("cannot allocate ", bytes, " bytes of GPU memory for ", what, " (", freeBytes, " of ",
         totalBytes, " bytes free): ", driver.errorText(result));
  }
}

DeviceBuffer::~DeviceBuffer() {
  if (address_)
    driver_->cuMemFree(address_);
}

DeviceBuffer::DeviceBuffer(DeviceBuffer &&other) noexcept { *this = std::move(other); }

DeviceBuffer &DeviceBuffer::operator=(DeviceBuffer &&other) noexcept {
  if (this != &other) {
    if (address_)
      driver_->cuMemFree(address_);
    driver_ = other.driver_;
    address_ = other.address_;
    bytes_ = other.bytes_;
    other.address_ = 0;
    other.bytes_ = 0;
  }
  return *this;
}

// ---- DeviceModel ----------------------------------------------------------------------------

std::shared_ptr<const DeviceModel> DeviceModel::open(std::shared_ptr<const Artifact> artifact) {
  const fb::Model &manifest = artifact->manifest();
  const std::string &path = artifact->path();
  const std::string target = targetName(manifest);
  std::shared_ptr<DeviceModel> model(new DeviceModel());
  model->artifact_ = artifact;
  const Driver *loadedDriver = nullptr;
  try {
    loadedDriver = &loadDriver("cannot run a " + target + " artifact");
  } catch (const Error &error) {
    fail(path, ": ", error.what());
  }
  const Driver &driver = *loadedDriver;
  model->driver_ = &driver;

  // The kernel bundle first: a bad segment is refused before the GPU is touched.
  const auto *segments = manifest.segments();
  const uint32_t segmentCount = segments ? segments->size() : 0;
  if (manifest.kernel_library_segment() >= segmentCount)
    fail(path, ": manifest kernel_library_segment ", manifest.kernel_library_segment(),
         " is not one of the ", segmentCount, " segments");
  ByteSpan kernels = artifact->segment(manifest.kernel_library_segment());
  model->bundle_ = readKernelBundle(kernels.data, kernels.size, path);
  if (model->bundle_.target != target)
    fail(path, ": the kernel bundle was built for ", model->bundle_.target,
         " but the manifest's target is ", target);
  const auto *manifestKernels = manifest.kernels();
  const uint32_t kernelCount = manifestKernels ? manifestKernels->size() : 0;
  if (model->bundle_.kernels.size() != kernelCount)
    fail(path, ": the kernel bundle describes ", model->bundle_.kernels.size(),
         " kernels, the manifest lists ", kernelCount);
  for (uint32_t k = 0; k < kernelCount; ++k) {
    const auto *symbol = manifestKernels->Get(k)->symbol();
    if (!symbol || symbol->str() != model->bundle_.kernels[k].symbol)
      fail(path, ": manifest kernel ", k, " is '", symbol ? symbol->str() : "", "' but the bundle's is '",
           model->bundle_.kernels[k].symbol, "'");
  }

  int count = 0;
  driver.check(driver.cuDeviceGetCount(&count), "cuDeviceGetCount");
  if (count == 0)
    fail(path, ": no CUDA GPU found: cannot run a ", target, " artifact");
  driver.check(driver.cuDeviceGet(&model->device_, 0), "cuDeviceGet");
  char name[256] = {};
  driver.check(driver.cuDeviceGetName(name, sizeof name - 1, model->device_), "cuDeviceGetName");
  model->deviceName_ = name;
  int major = 0, minor = 0;
  driver.check(driver.cuDeviceGetAttribute(&major, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, model->device_),
               "cuDeviceGetAttribute");
  driver.check(driver.cuDeviceGetAttribute(&minor, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, model->device_),
               "cuDeviceGetAttribute");
  const int capability = major * 10 + minor;
  driver.check(driver.cuDevicePrimaryCtxRetain(&model->context_, model->device_),
               "cuDevicePrimaryCtxRetain");
  model->makeCurrent();

  // A cubin runs on its own major version at an equal or higher minor (an "a" cubin on exactly
  // its version); PTX is JIT-compiled by the driver for any newer GPU (an "a" PTX: same rule).
  auto canRun = [&](const Image &image) {
    bool specific = false;
    int number = archNumber(image.arch, specific);
    if (number < 0)
      return false;
    if (image.format == "cubin")
      return specific ? capability == number : (capability / 10 == number / 10 && capability >= number);
    return specific ? capability == number : capability >= number;
  };
  std::string tried;
  for (const char *format : {"cubin", "ptx"})
    for (const Image &image : model->bundle_.images) {
      if (image.format != format || !canRun(image) || model->module_)
        continue;
      CUresult result = driver.cuModuleLoadData(&model->module_, kernels.data + image.offset);
      if (result == CUDA_SUCCESS) {
        model->loadedFromPtx_ = image.format == "ptx";
      } else {
        model->module_ = nullptr;
        tried += " " + image.format + " " + image.arch + ": " + driver.errorText(result) + ";";
      }
    }
  if (!model->module_)
    fail(path, ": the artifact was compiled for ", target, " but GPU 0 (", name,
         ") has compute capability ", major, ".", minor,
         tried.empty() ? std::string(": no cubin or PTX it can load; recompile with a matching "
                                     "--target=cuda:sm_XX")
                       : ": loading failed:" + tried);

  auto resolveFunction = [&](const std::string &function) {
    for (const auto &known : model->functions_)
      if (known.first == function)
        return;
    CUfunction handle = nullptr;
    CUresult result = driver.cuModuleGetFunction(&handle, model->module_, function.c_str());
    if (result != CUDA_SUCCESS)
      fail(path, ": the kernel bundle names GPU function '", function,
           "' which its module does not define: ", driver.errorText(result));
    model->functions_.emplace_back(function, handle);
  };
  resolveFunction(model->bundle_.kvWriteFunction);
  for (const KernelLaunches &kernel : model->bundle_.kernels)
    for (const Variant &variant : kernel.variants)
      for (const Launch &launch : variant.launches) {
        resolveFunction(launch.function);
        if (launch.sharedBytes > 48 * 1024)
          driver.check(driver.cuFuncSetAttribute(model->function(launch.function),
                                                 CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
                                                 int(launch.sharedBytes)),
                       path + ": raising the shared memory of '" + launch.function + "'");
      }

  // Weights: every segment holding tensors is copied once, whole (tensors keep their offsets).
  const auto *tensors = manifest.tensors();
  const uint32_t tensorCount = tensors ? tensors->size() : 0;
  model->segments_.resize(segmentCount);
  model->tensorOffset_.resize(tensorCount);
  model->tensorSegment_.resize(tensorCount);
  for (uint32_t t = 0; t < tensorCount; ++t) {
    uint32_t segment = tensors->Get(t)->segment();
    if (segment >= segmentCount)
      fail(path, ": tensor ", t, " is in segment ", segment, " of ", segmentCount);
    model->tensorSegment_[t] = segment;
    model->tensorOffset_[t] = tensors->Get(t)->offset();
    if (model->segments_[segment].bytes() == 0) {
      ByteSpan bytes = artifact->segment(segment);
      model->segments_[segment] =
          DeviceBuffer(driver, bytes.size, path + " segment " + std::to_string(segment) + " (weights)");
      for (uint64_t at = 0; at < bytes.size; at += kUploadChunk)
        driver.check(driver.cuMemcpyHtoD(model->segments_[segment].address() + at, bytes.data + at,
                                         std::min(kUploadChunk, bytes.size - at)),
                     path + ": uploading the weights");
    }
  }
  return model;
}

DeviceModel::~DeviceModel() {
  if (driver_ == nullptr)
    return;
  if (context_)
    driver_->cuCtxSetCurrent(context_);
  segments_.clear();
  if (module_)
    driver_->cuModuleUnload(module_);
  if (context_)
    driver_->cuDevicePrimaryCtxRelease(device_);
}

const std::string &DeviceModel::path() const { return artifact_->path(); }

void DeviceModel::makeCurrent() const { driver_->check(driver_->cuCtxSetCurrent(context_), "cuCtxSetCurrent"); }

CUdeviceptr DeviceModel::tensorAddress(uint32_t tensor) const {
  if (tensor >= tensorOffset_.size())
    fail(path(), ": tensor index ", tensor, " out of range");
  return segments_[tensorSegment_[tensor]].address() + tensorOffset_[tensor];
}

CUfunction DeviceModel::function(const std::string &name) const {
  for (const auto &known : functions_)
    if (known.first == name)
      return known.second;
  fail(path(), ": GPU function '", name, "' was not resolved");
}

// ---- DeviceSession --------------------------------------------------------------------------

DeviceSession::DeviceSession(std::shared_ptr<const DeviceModel> model) : model_(std::move(model)) {
  const Driver &driver = model_->driver();
  model_->makeCurrent();
  driver.check(driver.cuStreamCreate(&stream_, CU_STREAM_NON_BLOCKING), "cuStreamCreate");
  const fb::Model &manifest = model_->artifact().manifest();
  const std::string &path = model_->path();
  if (const auto *layers = manifest.kv_cache())
    for (uint32_t i = 0; i < layers->size(); ++i) {
      const fb::KvCacheLayer *layer = layers->Get(i);
      uint64_t element = dtypeSize(layer->dtype());
      if (layer->capacity() <= 0 || layer->kv_heads() <= 0 || layer->head_dim() <= 0 || element != 4)
        fail(path, ": KV cache layer ", i, " has an invalid shape or a dtype other than f32");
      KvLayer kv;
      kv.capacity = layer->capacity();
      kv.rowBytes = uint64_t(layer->kv_heads() * layer->head_dim()) * element;
      const std::string what = "the KV cache of layer " + std::to_string(i);
      kv.keys = DeviceBuffer(driver, kv.rowBytes * kv.capacity, what);
      kv.values = DeviceBuffer(driver, kv.rowBytes * kv.capacity, what);
      // Zeroed once: slots are always written before they are read, this only keeps them defined.
      driver.check(driver.cuMemsetD8Async(kv.keys.address(), 0, kv.keys.bytes(), stream_), "cuMemsetD8Async");
      driver.check(driver.cuMemsetD8Async(kv.values.address(), 0, kv.values.bytes(), stream_), "cuMemsetD8Async");
      kv_.push_back(std::move(kv));
    }
  startPosition_ = DeviceBuffer(driver, 256, "the start position");
  driver.check(driver.cuStreamSynchronize(stream_), "cuStreamSynchronize");
}

DeviceSession::~DeviceSession() {
  model_->driver().cuCtxSetCurrent(model_->context());
  if (stream_) {
    model_->driver().cuStreamSynchronize(stream_);
    model_->driver().cuStreamDestroy(stream_);
  }
}

void DeviceSession::ensureArena(uint64_t bytes, int64_t tokens) {
  if (bytes == arena_.bytes() && tokens == arenaTokens_)
    return;
  arena_ = DeviceBuffer();
  arena_ = DeviceBuffer(model_->driver(), bytes, "the scratch arena");
  arenaTokens_ = tokens;
  ++generation_;
}

void DeviceSession::ensureWorkspace(uint64_t bytes) {
  if (bytes <= workspace_.bytes())
    return;
  workspace_ = DeviceBuffer();
  workspace_ = DeviceBuffer(model_->driver(), bytes, "the kernel workspace");
  ++generation_;
}

// ---- DeviceProgram --------------------------------------------------------------------------

struct DeviceProgram::Plan {
  int64_t tokens = -1;
  uint64_t generation = 0;
  struct Call {
    CUfunction function = nullptr;
    unsigned grid[3] = {1, 1, 1}, block[3] = {1, 1, 1};
    unsigned sharedBytes = 0;
    LoomKernelArgs args{};
    uint32_t command = 0;
    std::string name;
  };
  std::vector<Call> calls;
  CUgraph graph = nullptr;
  CUgraphExec graphExec = nullptr;
  const Driver *driver = nullptr;
  ~Plan() {
    if (graphExec)
      driver->cuGraphExecDestroy(graphExec);
    if (graph)
      driver->cuGraphDestroy(graph);
  }
};

DeviceProgram::DeviceProgram(std::shared_ptr<const DeviceModel> model, const fb::EntryPoint &entry)
    : model_(std::move(model)), entry_(entry), name_(entry.name() ? entry.name()->str() : "?") {}

DeviceProgram::~DeviceProgram() {
  model_->driver().cuCtxSetCurrent(model_->context());
  plans_[0].reset();
  plans_[1].reset();
}

DeviceProgram::Plan &DeviceProgram::planFor(int64_t tokens, DeviceSession &session) {
  std::unique_ptr<Plan> &cached = plans_[tokens == 1 ? 0 : 1];
  if (cached && cached->tokens == tokens && cached->generation == session.generation())
    return *cached;
  cached.reset();
  auto plan = std::make_unique<Plan>();
  plan->driver = &model_->driver();
  const DeviceModel &model = *model_;
  const std::string &path = model.path();
  const fb::Model &manifest = model.artifact().manifest();
  const KernelBundle &bundle = model.bundle();

  auto shapeBytes = [&](const std::string &at, const fb::Value &value,
                        const flatbuffers::Vector<int64_t> *fallback, uint64_t element) {
    const flatbuffers::Vector<int64_t> *shape =
        value.shape() && value.shape()->size() ? value.shape() : fallback;
    uint64_t bytes = element;
    if (shape)
      for (int64_t d : *shape) {
        if (d == int64_t(fb::DimSymbol::Tokens))
          d = tokens;
        else if (d < 0)
          fail(at, ": invalid dimension ", d);
        bytes *= uint64_t(d);
      }
    return bytes;
  };
  // The device address of `value`, checked to hold what the value views.
  auto address = [&](const std::string &at, const fb::Value &value) -> CUdeviceptr {
    CUdeviceptr where = 0;
    uint64_t bytes = 0, limit = 0;
    switch (value.kind()) {
    case fb::ValueKind::Weight: {
      const auto *tensors = manifest.tensors();
      if (tensors == nullptr || value.index() >= tensors->size())
        fail(at, ": weight index ", value.index(), " is not a tensor of the manifest");
      const fb::Tensor *tensor = tensors->Get(value.index());
      where = model.tensorAddress(value.index());
      bytes = shapeBytes(at, value, tensor->shape(), dtypeSize(tensor->dtype()));
      limit = tensor->size();
      break;
    }
    case fb::ValueKind::Arena:
      where = session.arena() + value.offset_per_token() * uint64_t(session.arenaTokens());
      bytes = shapeBytes(at, value, nullptr, dtypeSize(value.dtype()));
      limit = value.offset_per_token() * uint64_t(session.arenaTokens()) > session.arenaBytes()
                  ? 0
                  : session.arenaBytes() - value.offset_per_token() * uint64_t(session.arenaTokens());
      break;
    case fb::ValueKind::Input:
    case fb::ValueKind::Output: {
      bool output = value.kind() == fb::ValueKind::Output;
      std::vector<DeviceBuffer> &buffers = output ? outputs_ : inputs_;
      if (value.index() >= buffers.size())
        fail(at, ": entry has no ", output ? "output" : "input", " slot ", value.index());
      const auto *slots = output ? entry_.outputs() : entry_.inputs();
      where = buffers[value.index()].address();
      bytes = shapeBytes(at, value, slots->Get(value.index())->shape(), dtypeSize(value.dtype()));
      limit = buffers[value.index()].bytes();
      break;
    }
    case fb::ValueKind::KvKeys:
    case fb::ValueKind::KvValues: {
      if (value.index() >= session.kv().size())
        fail(at, ": KV cache layer ", value.index(), " does not exist (the model has ",
             session.kv().size(), ")");
      const DeviceSession::KvLayer &layer = session.kv()[value.index()];
      const DeviceBuffer &buffer = value.kind() == fb::ValueKind::KvKeys ? layer.keys : layer.values;
      where = buffer.address();
      bytes = value.shape() && value.shape()->size() ? shapeBytes(at, value, nullptr, 4) : buffer.bytes();
      limit = buffer.bytes();
      break;
    }
    case fb::ValueKind::StartPosition:
      return session.startPosition();
    case fb::ValueKind::TokenPositions: // only the CPU's fused attention input reads them
      fail(at, ": TokenPositions are not supported on CUDA targets (their kernels take "
               "StartPosition)");
    default:
      fail(at, ": unknown value kind ", int(value.kind()));
    }
    if (bytes > limit)
      fail(at, ": views ", bytes, " bytes of a buffer holding ", limit);
    if (where % 16 != 0)
      fail(at, ": device address is not 16-byte aligned (the CUDA kernels load 16 bytes at a time)");
    return where;
  };

  const auto *commands = entry_.commands();
  const auto *types = entry_.commands_type();
  const uint32_t commandCount = commands ? commands->size() : 0;
  for (uint32_t c = 0; c < commandCount; ++c) {
    const std::string at = path + ": entry '" + name_ + "' command " + std::to_string(c);
    fb::Command type = types ? static_cast<fb::Command>(types->Get(c)) : fb::Command::NONE;
    if (type == fb::Command::Dispatch) {
      const auto *dispatch = static_cast<const fb::Dispatch *>(commands->Get(c));
      if (dispatch->kernel() >= bundle.kernels.size())
        fail(at, " calls kernel ", dispatch->kernel(), " but the bundle has ", bundle.kernels.size());
      const KernelLaunches &kernel = bundle.kernels[dispatch->kernel()];
      const Variant *variant = selectVariant(kernel, tokens);
      if (variant == nullptr)
        fail(at, ": kernel '", kernel.symbol, "' has no variant for ", tokens, " tokens");
      LoomKernelArgs args{};
      args.tokens = int32_t(tokens);
      const uint32_t argCount = dispatch->args() ? dispatch->args()->size() : 0;
      if (argCount > kMaxKernelPointers)
        fail(at, ": kernel '", kernel.symbol, "' takes ", argCount, " arguments, at most ",
             kMaxKernelPointers, " are supported");
      for (uint32_t a = 0; a < argCount; ++a)
        args.ptr[a] = address(at + " argument " + std::to_string(a) + " of kernel '" + kernel.symbol + "'",
                              *dispatch->args()->Get(a));
      if (variant->workspaceBytesPerToken) {
        if (session.workspaceBytes() < variant->workspaceBytesPerToken * uint64_t(tokens))
          fail(at, ": workspace too small (internal error)");
        args.workspace = session.workspace();
      }
      for (const Launch &launch : variant->launches) {
        Plan::Call call;
        call.function = model.function(launch.function);
        call.name = launch.function;
        call.command = c;
        for (int d = 0; d < 3; ++d) {
          int64_t extent = launch.grid[d].at(tokens);
          if (extent <= 0 || extent > (d == 0 ? INT32_MAX : 65535))
            fail(at, ": launch '", launch.function, "' has grid extent ", extent, " in dimension ",
                 d, " for ", tokens, " tokens");
          call.grid[d] = unsigned(extent);
          call.block[d] = launch.block[d];
        }
        call.sharedBytes = launch.sharedBytes;
        call.args = args;
        plan->calls.push_back(std::move(call));
      }
    } else if (type == fb::Command::KvWrite) {
      const auto *write = static_cast<const fb::KvWrite *>(commands->Get(c));
      const std::string kvAt = at + " (KvWrite layer " + std::to_string(write->layer()) + ")";
      if (write->layer() >= session.kv().size())
        fail(kvAt, ": the model has ", session.kv().size(), " KV cache layers");
      if (write->keys() == nullptr || write->values() == nullptr)
        fail(kvAt, ": keys or values missing");
      const DeviceSession::KvLayer &layer = session.kv()[write->layer()];
      for (const fb::Value *source : {write->keys(), write->values()})
        if (source->dtype() != fb::DType::F32 ||
            shapeBytes(kvAt, *source, nullptr, 4) != layer.rowBytes * uint64_t(tokens))
          fail(kvAt, ": source must be f32 [tokens, kv_heads, head_dim] (", layer.rowBytes,
               " bytes per row)");
      Plan::Call call;
      call.function = model.function(bundle.kvWriteFunction);
      call.name = bundle.kvWriteFunction;
      call.command = c;
      call.args.ptr[0] = address(kvAt + " keys", *write->keys());
      call.args.ptr[1] = address(kvAt + " values", *write->values());
      call.args.ptr[2] = layer.keys.address();
      call.args.ptr[3] = layer.values.address();
      call.args.ptr[4] = session.startPosition();
      call.args.tokens = int32_t(tokens);
      call.args.aux[0] = int32_t(layer.rowBytes / 4);
      call.args.aux[1] = int32_t(layer.capacity);
      if (tokens > 65535)
        fail(kvAt, ": ", tokens, " tokens exceed the 65535 of one KV write launch");
      call.grid[0] = unsigned((layer.rowBytes / 4 + kKvWriteThreads - 1) / kKvWriteThreads);
      call.grid[1] = unsigned(tokens);
      call.block[0] = kKvWriteThreads;
      plan->calls.push_back(std::move(call));
    } else {
      fail(at, " has an unknown type");
    }
  }
  plan->tokens = tokens;
  plan->generation = session.generation();
  cached = std::move(plan);
  return *cached;
}

void DeviceProgram::run(int64_t tokens, int32_t startPosition, const void *const *inputs,
                        const std::vector<uint64_t> &inputBytes, void *const *outputs,
                        const std::vector<uint64_t> &outputBytes, DeviceSession &session) {
  const DeviceModel &model = *model_;
  const Driver &driver = model.driver();
  const std::string &path = model.path();
  model.makeCurrent();

  // Entry inputs/outputs live on the device; they grow with the largest call.
  if (tokens > ioTokens_ || inputs_.size() != inputBytes.size() || outputs_.size() != outputBytes.size()) {
    const int64_t capacity = std::max(tokens, ioTokens_);
    auto perToken = [&](uint64_t bytes) { return bytes / uint64_t(tokens) * uint64_t(capacity); };
    inputs_.clear();
    outputs_.clear();
    for (size_t i = 0; i < inputBytes.size(); ++i)
      inputs_.emplace_back(driver, perToken(inputBytes[i]),
                           "input " + std::to_string(i) + " of entry '" + name_ + "'");
    for (size_t i = 0; i < outputBytes.size(); ++i)
      outputs_.emplace_back(driver, perToken(outputBytes[i]),
                            "output " + std::to_string(i) + " of entry '" + name_ + "'");
    ioTokens_ = capacity;
    plans_[0].reset();
    plans_[1].reset();
  }
  uint64_t workspace = 0;
  const KernelBundle &bundle = model.bundle();
  if (const auto *commands = entry_.commands())
    for (uint32_t c = 0; c < commands->size(); ++c)
      if (entry_.commands_type() && static_cast<fb::Command>(entry_.commands_type()->Get(c)) == fb::Command::Dispatch) {
        uint32_t kernel = static_cast<const fb::Dispatch *>(commands->Get(c))->kernel();
        if (kernel < bundle.kernels.size())
          if (const Variant *variant = selectVariant(bundle.kernels[kernel], tokens))
            workspace = std::max(workspace, variant->workspaceBytesPerToken * uint64_t(tokens));
      }
  session.ensureWorkspace(workspace);
  Plan &plan = planFor(tokens, session);

  CUstream stream = session.stream();
  const std::string where = path + ": entry '" + name_ + "' (" + std::to_string(tokens) +
                            " tokens at position " + std::to_string(startPosition) + ")";
  for (size_t i = 0; i < inputs_.size(); ++i)
    if (inputBytes[i])
      driver.check(driver.cuMemcpyHtoDAsync(inputs_[i].address(), inputs[i], inputBytes[i], stream),
                   where + ": copying input " + std::to_string(i) + " to the GPU");
  driver.check(driver.cuMemcpyHtoDAsync(session.startPosition(), &startPosition, sizeof startPosition, stream),
               where + ": copying the start position to the GPU");

  auto launchAll = [&](bool capturing) {
    for (Plan::Call &call : plan.calls) {
      void *params[] = {&call.args};
      CUresult result = driver.cuLaunchKernel(call.function, call.grid[0], call.grid[1], call.grid[2],
                                              call.block[0], call.block[1], call.block[2],
                                              call.sharedBytes, stream, params, nullptr);
      if (result != CUDA_SUCCESS) {
        if (capturing) {
          CUgraph discarded = nullptr;
          driver.cuStreamEndCapture(stream, &discarded);
          if (discarded)
            driver.cuGraphDestroy(discarded);
        }
        fail(where, ": launching '", call.name, "' (command ", call.command, ") failed: ",
             driver.errorText(result));
      }
    }
  };
  if (tokens == 1 && cudaGraphsEnabled()) {
    if (plan.graphExec == nullptr) {
      driver.check(driver.cuStreamBeginCapture(stream, CU_STREAM_CAPTURE_MODE_THREAD_LOCAL),
                   where + ": cuStreamBeginCapture");
      launchAll(true);
      driver.check(driver.cuStreamEndCapture(stream, &plan.graph), where + ": cuStreamEndCapture");
      driver.check(driver.cuGraphInstantiateWithFlags(&plan.graphExec, plan.graph, 0),
                   where + ": cuGraphInstantiateWithFlags");
    }
    driver.check(driver.cuGraphLaunch(plan.graphExec, stream), where + ": cuGraphLaunch");
  } else {
    launchAll(false);
  }
  for (size_t i = 0; i < outputs_.size(); ++i)
    if (outputBytes[i])
      driver.check(driver.cuMemcpyDtoHAsync(outputs[i], outputs_[i].address(), outputBytes[i], stream),
                   where + ": copying output " + std::to_string(i) + " from the GPU");
  CUresult done = driver.cuStreamSynchronize(stream);
  if (done != CUDA_SUCCESS)
    fail(where, ": a kernel failed: ", driver.errorText(done),
         " (run with LOOM_CUDA_GRAPHS=0 and CUDA_LAUNCH_BLOCKING=1 to find which)");
}

} // namespace loom::cuda
