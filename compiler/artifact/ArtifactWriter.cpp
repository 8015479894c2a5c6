// The .loom writer: sizes and packs the manifest, checks every source up front, writes the
// preamble and manifest into an unnamed file of the final size, verifies it with the runtime's
// reader, streams and converts the weights, writes the kernel and tokenizer segments, records
// the checksums of what it wrote, then fsyncs and gives the file its name. See ArtifactWriter.h.
#include "loom/DTypeSize.h"
#include "loom/Artifact/ArtifactWriter.h"
#include "loom/Artifact/PendingFile.h"
#include "loom/Artifact/WeightPacking.h"
#include "loom/QuantLayout.h"

#include "loom/Artifact.h"
#include "loom/ArtifactFormat.h"
#include "loom/Checksum.h"
#include "loom/Error.h"

#include <cerrno>
#include <cmath>
#include <cstring>
#include <fcntl.h>
#include <iomanip>
#include <limits>
#include <map>
#include <sstream>
#include <sys/stat.h>
#include <unistd.h>

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "the .loom format is little-endian");

namespace loom {
namespace {

constexpr uint64_t kChunkBytes = 4ull << 20;   // per pread of a source
constexpr uint64_t kProgressEvery = 1ull << 30; // one progress message per GiB of weights

std::string errnoText() { return std::strerror(errno); }

std::string gib(uint64_t bytes) {
  std::ostringstream out;
  out << std::fixed << std::setprecision(2) << double(bytes) / double(1ull << 30) << " GiB";
  return out.str();
}

uint64_t checkedNumel(const fb::TensorT &tensor) {
  uint64_t numel = 1;
  for (int64_t dim : tensor.shape) {
    if (dim < 0)
      fail("tensor '", tensor.name, "': negative dimension ", dim, " in its shape");
    if (dim != 0 && numel > std::numeric_limits<uint64_t>::max() / uint64_t(dim))
      fail("tensor '", tensor.name, "': element count overflows 64 bits");
    numel *= uint64_t(dim);
  }
  return numel;
}

bool conversionSupported(fb::DType from, fb::DType to) {
  return from == to || (from == fb::DType::BF16 && to == fb::DType::F32) ||
         (from == fb::DType::F16 && to == fb::DType::F32) ||
         (from == fb::DType::F32 && to == fb::DType::BF16);
}

float bf16ToF32(uint16_t bits) {
  uint32_t word = uint32_t(bits) << 16;
  float value;
  std::memcpy(&value, &word, 4);
  return value;
}

uint16_t f32ToBf16(float value) {
  uint32_t word;
  std::memcpy(&word, &value, 4);
  if ((word & 0x7fffffffu) > 0x7f800000u) // NaN: keep sign and payload top, force quiet
    return uint16_t((word >> 16) | 0x0040u);
  uint32_t roundingBias = 0x7fffu + ((word >> 16) & 1u); // round to nearest, ties to even
  return uint16_t((word + roundingBias) >> 16);
}

float f16ToF32(uint16_t half) {
  uint32_t sign = uint32_t(half & 0x8000u) << 16;
  uint32_t exponent = (half >> 10) & 0x1fu;
  uint32_t mantissa = half & 0x3ffu;
  uint32_t word;
  if (exponent == 0x1f) { // inf / NaN
    word = sign | 0x7f800000u | (mantissa << 13);
  } else if (exponent != 0) { // normal
    word = sign | ((exponent + 112u) << 23) | (mantissa << 13);
  } else if (mantissa == 0) { // signed zero
    word = sign;
  } else { // subnormal: normalise
    int shift = 0;
    while ((mantissa & 0x400u) == 0) {
      mantissa <<= 1;
      ++shift;
    }
    mantissa &= 0x3ffu;
    word = sign | (uint32_t(113 - shift) << 23) | (mantissa << 13);
  }
  float value;
  std::memcpy(&value, &word, 4);
  return value;
}

// Converts `count` elements from `src` (of `from`) to `dst` (of `to`).
void convert(const uint8_t *src, fb::DType from, uint8_t *dst, fb::DType to, uint64_t count) {
  if (from == to) {
    std::memcpy(dst, src, count * dtypeSize(from));
  } else if (from == fb::DType::BF16 && to == fb::DType::F32) {
    for (uint64_t i = 0; i < count; ++i) {
      uint16_t bits;
      std::memcpy(&bits, src + 2 * i, 2);
      float value = bf16ToF32(bits);
      std::memcpy(dst + 4 * i, &value, 4);
    }
  } else if (from == fb::DType::F16 && to == fb::DType::F32) {
    for (uint64_t i = 0; i < count; ++i) {
      uint16_t bits;
      std::memcpy(&bits, src + 2 * i, 2);
      float value = f16ToF32(bits);
      std::memcpy(dst + 4 * i, &value, 4);
    }
  } else if (from == fb::DType::F32 && to == fb::DType::BF16) {
    for (uint64_t i = 0; i < count; ++i) {
      float value;
      std::memcpy(&value, src + 4 * i, 4);
      uint16_t bits = f32ToBf16(value);
      std::memcpy(dst + 2 * i, &bits, 2);
    }
  } else {
    fail("unsupported dtype conversion ", fb::EnumNameDType(from), " -> ", fb::EnumNameDType(to));
  }
}

class FileDescriptor {
public:
  explicit FileDescriptor(int fd = -1) : fd_(fd) {}
  FileDescriptor(const FileDescriptor &) = delete;
  FileDescriptor &operator=(const FileDescriptor &) = delete;
  FileDescriptor(FileDescriptor &&other) noexcept : fd_(other.release()) {}
  ~FileDescriptor() {
    if (fd_ >= 0)
      ::close(fd_);
  }
  int get() const { return fd_; }
  int release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }

private:
  int fd_;
};

void writeAll(int fd, const std::string &path, const void *data, uint64_t size, uint64_t offset) {
  const uint8_t *bytes = static_cast<const uint8_t *>(data);
  while (size > 0) {
    ssize_t written = ::pwrite(fd, bytes, size_t(std::min<uint64_t>(size, 1ull << 30)), off_t(offset));
    if (written < 0) {
      if (errno == EINTR)
        continue;
      fail(path, ": write of ", size, " bytes at offset ", offset, " failed: ", errnoText());
    }
    bytes += written;
    size -= uint64_t(written);
    offset += uint64_t(written);
  }
}

// Reads exactly `size` bytes at `offset`; a short read means the file shrank after it was checked.
void readAll(int fd, const std::string &path, const std::string &tensor, uint8_t *out, uint64_t size,
             uint64_t offset) {
  while (size > 0) {
    ssize_t got = ::pread(fd, out, size_t(size), off_t(offset));
    if (got < 0 && errno == EINTR)
      continue;
    if (got < 0)
      fail("source file '", path, "' (tensor '", tensor, "'): read at offset ", offset,
           " failed: ", errnoText());
    if (got == 0)
      fail("source file '", path, "' (tensor '", tensor, "'): unexpected end of file at offset ",
           offset, " (", size, " more bytes expected)");
    out += got;
    size -= uint64_t(got);
    offset += uint64_t(got);
  }
}

// A quantized tensor: U8 [rows, packed row bytes] encoding the float [rows, cols] of its
// logical_shape (QuantLayout.h).
uint64_t packedRowBytes(const fb::TensorT &tensor) {
  uint64_t cols = uint64_t(tensor.logical_shape[1]);
  return tensor.quantization == fb::Quantization::Q8Row
             ? quant::q8RowBytes(cols)
             : quant::q4RowBytes(cols, uint64_t(tensor.group_size));
}

void checkQuantized(const fb::TensorT &tensor) {
  const char *scheme = fb::EnumNameQuantization(tensor.quantization);
  if (tensor.quantization != fb::Quantization::Q8Row && tensor.quantization != fb::Quantization::Q4Group)
    fail("tensor '", tensor.name, "': unknown quantization ", int(tensor.quantization));
  if (tensor.logical_shape.size() != 2 || tensor.logical_shape[0] <= 0 || tensor.logical_shape[1] <= 0)
    fail("tensor '", tensor.name, "': a ", scheme, " tensor needs a [rows, cols] logical_shape");
  if (tensor.source_dtype != fb::DType::F32 && tensor.source_dtype != fb::DType::BF16 &&
      tensor.source_dtype != fb::DType::F16)
    fail("tensor '", tensor.name, "' from '", tensor.source_file, "': cannot quantize ",
         fb::EnumNameDType(tensor.source_dtype), " (expected F32, BF16 or F16)");
  if (tensor.quantization == fb::Quantization::Q4Group &&
      (tensor.group_size <= 0 || tensor.group_size % int64_t(quant::kQ4BlockColumns) != 0 ||
       tensor.logical_shape[1] % tensor.group_size != 0))
    fail("tensor '", tensor.name, "': group_size ", tensor.group_size,
         " must be a positive multiple of 32 dividing the ", tensor.logical_shape[1], " columns");
  if (tensor.row_group != 0 && (tensor.quantization != fb::Quantization::Q4Group ||
                                 tensor.row_group != int64_t(quant::kQ4GroupRows)))
    fail("tensor '", tensor.name, "': row_group ", tensor.row_group, " is only defined as ",
         quant::kQ4GroupRows, " for Q4Group tensors");
  const quant::PackedMatrix matrix{tensor.quantization == fb::Quantization::Q8Row,
                                   uint64_t(tensor.logical_shape[0]),
                                   uint64_t(tensor.logical_shape[1]), uint64_t(tensor.group_size),
                                   tensor.row_group != 0};
  const uint64_t panel = quant::columnPanelOf(matrix);
  if (tensor.column_panel != 0 && uint64_t(tensor.column_panel) != panel)
    fail("tensor '", tensor.name, "': column_panel ", tensor.column_panel, " for ",
         fb::EnumNameQuantization(tensor.quantization), ", row_group ", tensor.row_group, " and ",
         matrix.cols, " columns, expected ", panel == 0 ? "0" : "0 or " + std::to_string(panel));
  const std::vector<int64_t> packed = quant::packedShapeOf(matrix, uint64_t(tensor.column_panel));
  if (tensor.dtype != fb::DType::U8 || tensor.shape != packed) {
    std::string want;
    for (int64_t dim : packed)
      want += (want.empty() ? "" : ", ") + std::to_string(dim);
    fail("tensor '", tensor.name, "': a ", scheme, " tensor must be U8 [", want, "], found ",
         fb::EnumNameDType(tensor.dtype), " of rank ", tensor.shape.size());
  }
}

// Streams a quantized tensor: whole source rows per read, each converted to f32 and packed.
void writeQuantized(const fb::TensorT &tensor, int sourceFd, int outFd, const std::string &outPath,
                    uint64_t outOffset, std::vector<uint8_t> &inBuffer,
                    std::vector<uint8_t> &outBuffer) {
  const uint64_t rows = uint64_t(tensor.logical_shape[0]), cols = uint64_t(tensor.logical_shape[1]);
  const uint64_t inElem = dtypeSize(tensor.source_dtype), rowIn = cols * inElem;
  const uint64_t rowOut = packedRowBytes(tensor);
  // Row groups (QuantLayout.h): chunks of whole groups (whole bands with column panels), packed
  // row by row, then rearranged in place.
  const uint64_t groupRows = uint64_t(std::max<int64_t>(1, tensor.row_group));
  const uint64_t panel = uint64_t(tensor.column_panel);
  const uint64_t unitRows = panel ? quant::kQ4BandRows : groupRows;
  const uint64_t rowsPerChunk =
      std::max<uint64_t>(1, kChunkBytes / std::max(rowIn, rowOut) / unitRows) * unitRows;
  if (inBuffer.size() < rowsPerChunk * rowIn)
    inBuffer.resize(rowsPerChunk * rowIn);
  if (outBuffer.size() < rowsPerChunk * rowOut)
    outBuffer.resize(rowsPerChunk * rowOut);
  std::vector<float> values(cols);
  std::vector<uint8_t> grouped(groupRows > 1 ? groupRows * rowOut : 0);
  for (uint64_t first = 0; first < rows; first += rowsPerChunk) {
    uint64_t count = std::min(rowsPerChunk, rows - first);
    readAll(sourceFd, tensor.source_file, tensor.name, inBuffer.data(), count * rowIn,
            tensor.source_offset + first * rowIn);
    for (uint64_t r = 0; r < count; ++r) {
      convert(inBuffer.data() + r * rowIn, tensor.source_dtype,
              reinterpret_cast<uint8_t *>(values.data()), fb::DType::F32, cols);
      std::string what = "tensor '" + tensor.name + "' row " + std::to_string(first + r);
      uint8_t *packed = outBuffer.data() + r * rowOut;
      if (tensor.quantization == fb::Quantization::Q8Row)
        packQ8Row(values.data(), cols, packed, what);
      else
        packQ4Row(values.data(), cols, uint64_t(tensor.group_size), packed, what);
    }
    uint64_t bytes = count * rowOut;
    if (groupRows > 1) { // in place, group by group (a group's bytes stay where its rows were)
      for (uint64_t at = 0; at < count; at += groupRows) {
        uint64_t inGroup = std::min(groupRows, count - at);
        groupQ4Rows(outBuffer.data() + at * rowOut, inGroup, cols, uint64_t(tensor.group_size),
                    grouped.data());
        std::memcpy(outBuffer.data() + at * rowOut, grouped.data(), groupRows * rowOut);
      }
      bytes = (count + groupRows - 1) / groupRows * groupRows * rowOut;
    }
    if (panel != 0 && tensor.quantization == fb::Quantization::Q8Row) // whole bands
      panelQ8Bands(outBuffer.data(), count / quant::kQ8BandRows, cols, panel);
    else if (panel != 0)
      panelQ4Bands(outBuffer.data(), count / quant::kQ4BandRows, cols,
                   uint64_t(tensor.group_size), panel);
    writeAll(outFd, outPath, outBuffer.data(), bytes, outOffset + first * rowOut);
  }
}

struct SourceFile {
  FileDescriptor fd;
  uint64_t size = 0;
};

std::vector<uint8_t> packManifest(const fb::ModelT &manifest) {
  flatbuffers::FlatBufferBuilder builder(1 << 16);
  // Every scalar is stored even when it equals its default, so replacing the zero offsets of
  // the sizing pass by the real ones cannot change the manifest's size.
  builder.ForceDefaults(true);
  fb::FinishModelBuffer(builder, fb::Model::Pack(builder, &manifest));
  return std::vector<uint8_t>(builder.GetBufferPointer(), builder.GetBufferPointer() + builder.GetSize());
}

} // namespace

void setTensorSource(fb::TensorT &tensor, const TensorSource &source) {
  tensor.source_file = source.file;
  tensor.source_offset = source.offset;
  tensor.source_dtype = source.dtype;
}

void writeArtifact(ArtifactContents contents, const std::string &path,
                   const std::function<void(const std::string &)> &progress) {
  fb::ModelT &manifest = contents.manifest;
  auto report = [&](const std::string &message) {
    if (progress)
      progress(message);
  };

  // 1. Validate tensors and lay them out inside the weights segment.
  struct Plan {
    uint64_t numel;
    uint64_t sourceBytes;
    SourceFile *source;
  };
  std::vector<Plan> plans;
  std::map<std::string, SourceFile> sources;
  uint64_t weightsSize = 0;
  for (auto &tensorPtr : manifest.tensors) {
    if (!tensorPtr)
      fail(path, ": null tensor entry in the manifest");
    fb::TensorT &tensor = *tensorPtr;
    if (tensor.name.empty())
      fail(path, ": a tensor has an empty name");
    uint64_t numel = checkedNumel(tensor);
    uint64_t size = numel * dtypeSize(tensor.dtype);
    uint64_t sourceBytes = numel * dtypeSize(tensor.source_dtype);
    if (tensor.quantization != fb::Quantization::None) {
      checkQuantized(tensor);
      numel = uint64_t(tensor.logical_shape[0]) * uint64_t(tensor.logical_shape[1]);
      sourceBytes = numel * dtypeSize(tensor.source_dtype);
    } else if (!conversionSupported(tensor.source_dtype, tensor.dtype))
      fail("tensor '", tensor.name, "' from '", tensor.source_file, "': cannot convert ",
           fb::EnumNameDType(tensor.source_dtype), " to ", fb::EnumNameDType(tensor.dtype),
           " (supported: same dtype, BF16->F32, F16->F32, F32->BF16)");
    if (tensor.source_file.empty())
      fail("tensor '", tensor.name, "': no source file");
    auto found = sources.find(tensor.source_file);
    if (found == sources.end()) {
      int fd = ::open(tensor.source_file.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0)
        fail("cannot open source file '", tensor.source_file, "' of tensor '", tensor.name,
             "': ", errnoText());
      SourceFile file{FileDescriptor(fd), 0};
      struct stat info;
      if (::fstat(fd, &info) != 0)
        fail("cannot stat source file '", tensor.source_file, "': ", errnoText());
      file.size = uint64_t(info.st_size);
      found = sources.emplace(tensor.source_file, std::move(file)).first;
    }
    SourceFile &source = found->second;
    if (tensor.source_offset > source.size || sourceBytes > source.size - tensor.source_offset)
      fail("source file '", tensor.source_file, "' is too short for tensor '", tensor.name,
           "': needs bytes [", tensor.source_offset, ", ", tensor.source_offset + sourceBytes,
           ") (", numel, " x ", fb::EnumNameDType(tensor.source_dtype), ") but has ", source.size,
           " bytes");
    tensor.segment = 0;
    tensor.offset = alignUp(weightsSize, kTensorAlignment);
    tensor.size = size;
    weightsSize = tensor.offset + size;
    plans.push_back({numel, sourceBytes, &source});
  }

  // 2. Size the manifest with zero segment offsets, then lay out the segments after it.
  manifest.format_version = kArtifactFormatVersion;
  if (manifest.min_runtime_version == 0)
    manifest.min_runtime_version = kRuntimeVersion;
  manifest.segments.clear();
  std::vector<std::string> segmentNames{"weights", "kernels", "tokenizer"};
  for (const ExtraKernelSet &set : contents.extraKernelSets) {
    if (!set.target)
      fail(path, ": internal error: an extra kernel set has no target");
    segmentNames.push_back("kernels:" + set.target->name);
  }
  for (const std::string &name : segmentNames) {
    auto segment = std::make_unique<fb::SegmentT>();
    segment->name = name;
    manifest.segments.push_back(std::move(segment));
  }
  manifest.kernel_library_segment = 1;
  manifest.tokenizer_segment = 2;
  manifest.kernel_sets.clear();
  if (manifest.target) {
    auto first = std::make_unique<fb::KernelSetT>();
    first->target = std::make_unique<fb::TargetT>(*manifest.target);
    first->library_segment = 1;
    manifest.kernel_sets.push_back(std::move(first));
  } else if (!contents.extraKernelSets.empty()) {
    fail(path, ": internal error: extra kernel sets without a first target");
  }
  for (size_t i = 0; i < contents.extraKernelSets.size(); ++i) {
    auto set = std::make_unique<fb::KernelSetT>();
    set->target = std::move(contents.extraKernelSets[i].target);
    set->library_segment = uint32_t(3 + i);
    manifest.kernel_sets.push_back(std::move(set));
  }
  uint64_t manifestSize = packManifest(manifest).size();

  std::vector<uint64_t> sizes{weightsSize, contents.kernelLibrary.size(),
                              contents.tokenizerJson.size()};
  for (const ExtraKernelSet &set : contents.extraKernelSets)
    sizes.push_back(set.library.size());
  uint64_t cursor = sizeof(ArtifactPreamble) + manifestSize;
  for (size_t i = 0; i < sizes.size(); ++i) {
    manifest.segments[i]->offset = alignUp(cursor, kSegmentAlignment);
    manifest.segments[i]->size = sizes[i];
    cursor = manifest.segments[i]->offset + sizes[i];
  }
  const uint64_t fileSize = cursor;
  std::vector<uint8_t> manifestBytes = packManifest(manifest);
  if (manifestBytes.size() != manifestSize)
    fail(path, ": internal error: manifest size changed between passes (", manifestSize, " -> ",
         manifestBytes.size(), ")");

  ArtifactPreamble preamble{};
  std::memcpy(preamble.magic, kArtifactMagic, sizeof(preamble.magic));
  preamble.formatVersion = kArtifactFormatVersion;
  preamble.manifestOffset = sizeof(ArtifactPreamble);
  preamble.manifestSize = manifestSize;
  preamble.fileSize = fileSize;
  preamble.manifestChecksum = artifactChecksum(manifestBytes.data(), manifestBytes.size());

  // 3. The file of the final size (holes read as zeros), unnamed until committed (PendingFile.h),
  //    with the preamble and manifest, verified.
  PendingFile out(path);
  const std::string &temp = out.displayName();
  if (::ftruncate(out.fd(), off_t(fileSize)) != 0)
    fail(temp, ": cannot size to ", fileSize, " bytes: ", errnoText());
  writeAll(out.fd(), temp, &preamble, sizeof(preamble), 0);
  writeAll(out.fd(), temp, manifestBytes.data(), manifestBytes.size(), preamble.manifestOffset);
  try {
    Artifact::open(out.readablePath());
  } catch (const Error &error) {
    fail("refusing to write ", path, ": the manifest does not verify: ", error.what());
  }

  // 4. Weights, streamed chunk by chunk from the sources and converted.
  const uint64_t weightsOffset = manifest.segments[0]->offset;
  std::vector<uint8_t> inBuffer(kChunkBytes), outBuffer(2 * kChunkBytes);
  uint64_t weightsDone = 0, nextReport = kProgressEvery;
  for (size_t t = 0; t < manifest.tensors.size(); ++t) {
    const fb::TensorT &tensor = *manifest.tensors[t];
    const Plan &plan = plans[t];
    if (tensor.quantization != fb::Quantization::None) {
      writeQuantized(tensor, plan.source->fd.get(), out.fd(), temp,
                     weightsOffset + tensor.offset, inBuffer, outBuffer);
      weightsDone += tensor.size;
      if (weightsDone >= nextReport) {
        report("weights: " + gib(weightsDone) + " of " + gib(weightsSize) + " written (tensor '" +
               tensor.name + "', " + fb::EnumNameQuantization(tensor.quantization) + ")");
        while (nextReport <= weightsDone)
          nextReport += kProgressEvery;
      }
      continue;
    }
    const uint64_t inElem = dtypeSize(tensor.source_dtype), outElem = dtypeSize(tensor.dtype);
    const uint64_t chunkElems = kChunkBytes / inElem;
    for (uint64_t first = 0; first < plan.numel; first += chunkElems) {
      uint64_t count = std::min(chunkElems, plan.numel - first);
      readAll(plan.source->fd.get(), tensor.source_file, tensor.name, inBuffer.data(), count * inElem,
              tensor.source_offset + first * inElem);
      convert(inBuffer.data(), tensor.source_dtype, outBuffer.data(), tensor.dtype, count);
      writeAll(out.fd(), temp, outBuffer.data(), count * outElem,
               weightsOffset + tensor.offset + first * outElem);
      weightsDone += count * outElem;
      if (weightsDone >= nextReport) {
        report("weights: " + gib(weightsDone) + " of " + gib(weightsSize) + " written (tensor '" +
               tensor.name + "')");
        while (nextReport <= weightsDone)
          nextReport += kProgressEvery;
      }
    }
  }
  sources.clear();

  // 5. Kernel libraries and tokenizer.
  writeAll(out.fd(), temp, contents.kernelLibrary.data(), contents.kernelLibrary.size(),
           manifest.segments[1]->offset);
  writeAll(out.fd(), temp, contents.tokenizerJson.data(), contents.tokenizerJson.size(),
           manifest.segments[2]->offset);
  for (size_t i = 0; i < contents.extraKernelSets.size(); ++i)
    writeAll(out.fd(), temp, contents.extraKernelSets[i].library.data(),
             contents.extraKernelSets[i].library.size(), manifest.segments[3 + i]->offset);

  // 6. The segments' checksums, of the bytes as written, in the final manifest and preamble.
  {
    std::shared_ptr<const Artifact> written = Artifact::open(out.readablePath());
    for (uint32_t i = 0; i < manifest.segments.size(); ++i) {
      const ByteSpan bytes = written->segment(i);
      manifest.segments[i]->checksum = artifactChecksum(bytes.data, size_t(bytes.size));
    }
  }
  manifestBytes = packManifest(manifest);
  if (manifestBytes.size() != manifestSize)
    fail(path, ": internal error: manifest size changed with the checksums (", manifestSize,
         " -> ", manifestBytes.size(), ")");
  preamble.manifestChecksum = artifactChecksum(manifestBytes.data(), manifestBytes.size());
  writeAll(out.fd(), temp, manifestBytes.data(), manifestBytes.size(), preamble.manifestOffset);
  writeAll(out.fd(), temp, &preamble, sizeof(preamble), 0);

  // 7. Durable, then atomically visible.
  out.commit();
  report("wrote " + path + ": " + std::to_string(fileSize) + " bytes (" +
         std::to_string(manifest.tensors.size()) + " tensors, " + gib(weightsSize) + " of weights)");
}

} // namespace loom
