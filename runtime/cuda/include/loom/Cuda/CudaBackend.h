// Runs a CUDA artifact's entry programs on the GPU through the driver API (loom/Cuda/Driver.h).
//
//   DeviceModel    one per loaded artifact: context, module (cubin, else PTX through the driver's
//                  JIT), every launch's function resolved, all weights in device memory.
//   DeviceSession  one per session: a stream, the KV cache, the arena, the workspace and the
//                  start position in device memory.
//   DeviceProgram  one per entry point and session: device copies of the entry's inputs and
//                  outputs, and a plan per call shape; single-token calls (the decode step) are
//                  captured once into a CUDA graph and replayed.
// The host sees the same interface as the CPU executor: host inputs in, host outputs out.
#pragma once

#include "loom/Cuda/Driver.h"
#include "loom/Cuda/KernelBundle.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace loom {
class Artifact;
namespace fb {
struct EntryPoint;
struct Model;
} // namespace fb
} // namespace loom

namespace loom::cuda {

// A device allocation freed on destruction.
class DeviceBuffer {
public:
  DeviceBuffer() = default;
  DeviceBuffer(const Driver &driver, uint64_t bytes, const std::string &what);
  ~DeviceBuffer();
  DeviceBuffer(DeviceBuffer &&other) noexcept;
  DeviceBuffer &operator=(DeviceBuffer &&other) noexcept;
  CUdeviceptr address() const { return address_; }
  uint64_t bytes() const { return bytes_; }

private:
  const Driver *driver_ = nullptr;
  CUdeviceptr address_ = 0;
  uint64_t bytes_ = 0;
};

class DeviceModel {
public:
  // Loads the driver (failing with "no CUDA driver (...)" when there is none), picks GPU 0,
  // checks it can run `bundle.target`, loads the module and uploads the weights.
  static std::shared_ptr<const DeviceModel> open(std::shared_ptr<const Artifact> artifact);
  ~DeviceModel();

  const Driver &driver() const { return *driver_; }
  CUcontext context() const { return context_; }
  const Artifact &artifact() const { return *artifact_; }
  const std::string &path() const;
  const KernelBundle &bundle() const { return bundle_; }
  const std::string &deviceName() const { return deviceName_; }
  bool loadedFromPtx() const { return loadedFromPtx_; }

  // The device address of a manifest tensor.
  CUdeviceptr tensorAddress(uint32_t tensor) const;
  CUfunction function(const std::string &name) const;
  // Makes this model's context current on the calling thread.
  void makeCurrent() const;

private:
  DeviceModel() = default;
  const Driver *driver_ = nullptr;
  std::shared_ptr<const Artifact> artifact_;
  KernelBundle bundle_;
  CUdevice device_ = 0;
  CUcontext context_ = nullptr;
  CUmodule module_ = nullptr;
  bool loadedFromPtx_ = false;
  std::string deviceName_;
  std::vector<std::pair<std::string, CUfunction>> functions_;
  std::vector<DeviceBuffer> segments_;         // per artifact segment holding tensors (or empty)
  std::vector<uint64_t> tensorOffset_;         // within its segment's device buffer
  std::vector<uint32_t> tensorSegment_;
};

class DeviceSession {
public:
  explicit DeviceSession(std::shared_ptr<const DeviceModel> model);
  ~DeviceSession();
  DeviceSession(const DeviceSession &) = delete;
  DeviceSession &operator=(const DeviceSession &) = delete;

  const DeviceModel &model() const { return *model_; }
  CUstream stream() const { return stream_; }

  struct KvLayer {
    DeviceBuffer keys, values;
    int64_t capacity = 0;
    uint64_t rowBytes = 0;
  };
  const std::vector<KvLayer> &kv() const { return kv_; }

  // The arena for `tokens` tokens of `bytes` bytes (re-allocated when either grows; the
  // generation changes then, so plans holding its address are rebuilt).
  void ensureArena(uint64_t bytes, int64_t tokens);
  void ensureWorkspace(uint64_t bytes);
  CUdeviceptr arena() const { return arena_.address(); }
  uint64_t arenaBytes() const { return arena_.bytes(); }
  int64_t arenaTokens() const { return arenaTokens_; }
  CUdeviceptr workspace() const { return workspace_.address(); }
  uint64_t workspaceBytes() const { return workspace_.bytes(); }
  CUdeviceptr startPosition() const { return startPosition_.address(); }
  uint64_t generation() const { return generation_; }

private:
  std::shared_ptr<const DeviceModel> model_;
  CUstream stream_ = nullptr;
  std::vector<KvLayer> kv_;
  DeviceBuffer arena_, workspace_, startPosition_;
  int64_t arenaTokens_ = 0;
  uint64_t generation_ = 1;
};

class DeviceProgram {
public:
  DeviceProgram(std::shared_ptr<const DeviceModel> model, const fb::EntryPoint &entry);
  ~DeviceProgram();
  DeviceProgram(const DeviceProgram &) = delete;
  DeviceProgram &operator=(const DeviceProgram &) = delete;

  // Runs the entry for `tokens` tokens at startPosition: inputs are copied to the device, the
  // program runs on the session's stream, outputs come back; returns when they are on the host.
  // inputBytes/outputBytes give each slot's size. Throws loom::Error naming the entry, command
  // and kernel.
  void run(int64_t tokens, int32_t startPosition, const void *const *inputs,
           const std::vector<uint64_t> &inputBytes, void *const *outputs,
           const std::vector<uint64_t> &outputBytes, DeviceSession &session);

  struct Plan;

private:
  Plan &planFor(int64_t tokens, DeviceSession &session);
  std::shared_ptr<const DeviceModel> model_;
  const fb::EntryPoint &entry_;
  std::string name_;
  std::vector<DeviceBuffer> inputs_, outputs_;
  int64_t ioTokens_ = 0; // tokens the input/output buffers hold
  std::unique_ptr<Plan> plans_[2]; // [0]: single-token calls (graph-captured), [1]: the last other
};

// Whether single-token calls are captured into CUDA graphs: yes unless LOOM_CUDA_GRAPHS=0.
bool cudaGraphsEnabled();

} // namespace loom::cuda
