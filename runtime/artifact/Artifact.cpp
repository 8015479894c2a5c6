// Opens a .loom file read-only with mmap and verifies all of it before anyone reads it; see
// runtime/include/loom/Artifact.h. Order: preamble (size, magic, format version, file size),
// manifest range and checksum, FlatBuffers verifier + identifier, manifest versions, strings,
// segments, tensors, segment indices, kv cache, kernels, entry points. CPU features and the
// kernels' signatures are the runtime's business (they need the loaded kernel library).
#include "loom/DTypeSize.h"
#include "loom/QuantLayout.h"
#include "loom/Artifact.h"
#include "loom/AnonymousMemory.h"

#include "loom/ArtifactFormat.h"
#include "loom/Checksum.h"
#include "loom/Error.h"
#include "loom/Schema/loom_generated.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <limits>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <unordered_set>

namespace loom {
namespace {

std::string printable(const char *bytes, size_t size) {
  std::ostringstream out;
  for (size_t i = 0; i < size; ++i) {
    unsigned char c = static_cast<unsigned char>(bytes[i]);
    if (std::isprint(c) && c != '\\' && c != '\'')
      out << char(c);
    else {
      const char *hex = "0123456789abcdef";
      out << "\\x" << hex[c >> 4] << hex[c & 15];
    }
  }
  return out.str();
}

std::string hex(uint64_t value) {
  char text[19];
  std::snprintf(text, sizeof text, "0x%016llx", static_cast<unsigned long long>(value));
  return text;
}

bool validDType(fb::DType dtype) {
  return int(dtype) >= int(fb::DType::MIN) && int(dtype) <= int(fb::DType::MAX);
}


std::string shapeText(const flatbuffers::Vector<int64_t> *shape) {
  std::ostringstream out;
  out << '[';
  if (shape)
    for (flatbuffers::uoffset_t i = 0; i < shape->size(); ++i) {
      if (i)
        out << ", ";
      if (shape->Get(i) == int64_t(fb::DimSymbol::Tokens))
        out << "Tokens";
      else
        out << shape->Get(i);
    }
  out << ']';
  return out.str();
}

bool sameShape(const flatbuffers::Vector<int64_t> *a, const flatbuffers::Vector<int64_t> *b) {
  flatbuffers::uoffset_t na = a ? a->size() : 0, nb = b ? b->size() : 0;
  if (na != nb)
    return false;
  for (flatbuffers::uoffset_t i = 0; i < na; ++i)
    if (a->Get(i) != b->Get(i))
      return false;
  return true;
}

const char *str(const flatbuffers::String *s) { return s ? s->c_str() : "<unnamed>"; }

// The byte offset of the first byte that is not part of well-formed UTF-8 (RFC 3629: no
// overlong forms, no surrogates, nothing above U+10FFFF), or of a NUL; `size` when there is none.
size_t firstBadTextByte(const uint8_t *text, size_t size) {
  for (size_t i = 0; i < size;) {
    const uint8_t lead = text[i];
    if (lead == 0)
      return i;
    if (lead < 0x80) {
      ++i;
      continue;
    }
    size_t length;
    uint8_t low = 0x80, high = 0xBF; // the allowed range of the second byte
    if (lead >= 0xC2 && lead <= 0xDF)
      length = 2;
    else if (lead >= 0xE0 && lead <= 0xEF) {
      length = 3;
      low = lead == 0xE0 ? 0xA0 : 0x80;
      high = lead == 0xED ? 0x9F : 0xBF;
    } else if (lead >= 0xF0 && lead <= 0xF4) {
      length = 4;
      low = lead == 0xF0 ? 0x90 : 0x80;
      high = lead == 0xF4 ? 0x8F : 0xBF;
    } else
      return i;
    if (size - i < length || text[i + 1] < low || text[i + 1] > high)
      return i;
    for (size_t k = 2; k < length; ++k)
      if (text[i + k] < 0x80 || text[i + k] > 0xBF)
        return i;
    i += length;
  }
  return size;
}

// The checks after the FlatBuffers verifier, on a structurally sound manifest.
class ManifestChecker {
public:
  ManifestChecker(const std::string &path, const fb::Model &model, uint64_t fileSize,
                  uint64_t manifestEnd)
      : path_(path), model_(model), fileSize_(fileSize), manifestEnd_(manifestEnd) {}

  void run() {
    checkVersions();
    checkInt64VectorAlignment();
    checkStrings();
    if (!model_.config())
      fail(path_, ": manifest has no model config");
    if (!model_.target())
      fail(path_, ": manifest has no target");
    checkSegments();
    checkTensors();
    checkSegmentIndex("kernel_library_segment", model_.kernel_library_segment());
    checkSegmentIndex("tokenizer_segment", model_.tokenizer_segment());
    checkKernelSets();
    checkKvCache();
    checkKernels();
    checkEntryPoints();
  }

private:
  void checkVersions() {
    if (model_.format_version() != kArtifactFormatVersion)
      fail(path_, ": manifest format_version is ", model_.format_version(),
           ", expected ", kArtifactFormatVersion, " (as in the preamble)");
    if (model_.min_runtime_version() > kRuntimeVersion)
      fail(path_, ": requires runtime version ", model_.min_runtime_version(),
           " or newer, this runtime is version ", kRuntimeVersion);
  }

  // FlatBuffers 2.0.8's verifier checks a vector's length field, not that 8-byte elements are
  // 8-byte aligned; every int64 vector is read below, so a misaligned one is refused first.
  void checkInt64VectorAlignment() {
    auto aligned = [&](const std::string &field, const flatbuffers::Vector<int64_t> *vector) {
      if (vector && reinterpret_cast<uintptr_t>(vector->data()) % alignof(int64_t) != 0)
        fail(path_, ": manifest field '", field, "' is a vector of 64-bit integers at an offset "
             "that is not a multiple of 8; the manifest is corrupt");
    };
    auto values = [&](const std::string &field, const auto *list) {
      if (list)
        for (flatbuffers::uoffset_t i = 0; i < list->size(); ++i)
          aligned(field + "[" + std::to_string(i) + "].shape", list->Get(i)->shape());
    };
    if (model_.config())
      aligned("config.eos_token_ids", model_.config()->eos_token_ids());
    if (const auto *tensors = model_.tensors())
      for (flatbuffers::uoffset_t i = 0; i < tensors->size(); ++i) {
        const std::string at = "tensors[" + std::to_string(i) + "]";
        aligned(at + ".shape", tensors->Get(i)->shape());
        aligned(at + ".logical_shape", tensors->Get(i)->logical_shape());
      }
    if (const auto *entries = model_.entry_points())
      for (flatbuffers::uoffset_t e = 0; e < entries->size(); ++e) {
        const fb::EntryPoint *entry = entries->Get(e);
        const std::string at = "entry_points[" + std::to_string(e) + "]";
        values(at + ".inputs", entry->inputs());
        values(at + ".outputs", entry->outputs());
        if (!entry->commands() || !entry->commands_type())
          continue;
        for (flatbuffers::uoffset_t c = 0; c < entry->commands()->size(); ++c) {
          const std::string command = at + ".commands[" + std::to_string(c) + "]";
          switch (entry->commands_type()->GetEnum<fb::Command>(c)) {
          case fb::Command::Dispatch:
            values(command + ".args",
                   static_cast<const fb::Dispatch *>(entry->commands()->Get(c))->args());
            break;
          case fb::Command::KvWrite: {
            auto write = static_cast<const fb::KvWrite *>(entry->commands()->Get(c));
            if (write->keys())
              aligned(command + ".keys.shape", write->keys()->shape());
            if (write->values())
              aligned(command + ".values.shape", write->values()->shape());
            break;
          }
          default:
            break; // refused by checkEntryPoints
          }
        }
      }
  }

  // Every string of the manifest is well-formed UTF-8 without NUL: names reach error
  // messages, JSON and dlsym, and a NUL would cut a symbol short there.
  void checkStrings() {
    auto text = [&](const std::string &field, const flatbuffers::String *value) {
      if (!value)
        return;
      const size_t bad = firstBadTextByte(value->Data(), value->size());
      if (bad != value->size())
        fail(path_, ": manifest field '", field, "' is not UTF-8 text without NUL (byte ", bad,
             " of ", value->size(), ": '", printable(value->c_str(), value->size()), "')");
    };
    auto list = [&](const std::string &field, const auto *vector, auto &&each) {
      if (vector)
        for (flatbuffers::uoffset_t i = 0; i < vector->size(); ++i)
          each(field + "[" + std::to_string(i) + "]", vector->Get(i));
    };
    auto target = [&](const std::string &field, const fb::Target *value) {
      if (!value)
        return;
      text(field + ".name", value->name());
      text(field + ".halide_target", value->halide_target());
      list(field + ".cpu_features", value->cpu_features(),
           [&](const std::string &at, const flatbuffers::String *feature) { text(at, feature); });
    };
    text("producer", model_.producer());
    if (const fb::ModelConfig *config = model_.config()) {
      text("config.model_type", config->model_type());
      if (config->sliding_rope())
        text("config.sliding_rope.type", config->sliding_rope()->type());
      if (config->full_rope())
        text("config.full_rope.type", config->full_rope()->type());
    }
    target("target", model_.target());
    list("segments", model_.segments(), [&](const std::string &at, const fb::Segment *segment) {
      text(at + ".name", segment->name());
    });
    list("tensors", model_.tensors(), [&](const std::string &at, const fb::Tensor *tensor) {
      text(at + ".name", tensor->name());
      text(at + ".source_file", tensor->source_file());
    });
    list("kernels", model_.kernels(), [&](const std::string &at, const fb::Kernel *kernel) {
      text(at + ".symbol", kernel->symbol());
      text(at + ".kind", kernel->kind());
      text(at + ".description", kernel->description());
    });
    list("kernel_sets", model_.kernel_sets(), [&](const std::string &at, const fb::KernelSet *set) {
      target(at + ".target", set->target());
    });
    list("entry_points", model_.entry_points(),
         [&](const std::string &at, const fb::EntryPoint *entry) { text(at + ".name", entry->name()); });
  }

  void checkSegments() {
    auto segments = model_.segments();
    if (!segments || segments->size() == 0)
      fail(path_, ": manifest has no segments");
    for (flatbuffers::uoffset_t i = 0; i < segments->size(); ++i) {
      const fb::Segment *segment = segments->Get(i);
      uint64_t offset = segment->offset(), size = segment->size();
      if (offset % kSegmentAlignment != 0)
        fail(path_, ": segment ", i, " '", str(segment->name()), "' offset ", offset,
             " is not a multiple of ", kSegmentAlignment);
      if (offset < manifestEnd_)
        fail(path_, ": segment ", i, " '", str(segment->name()), "' offset ", offset,
             " overlaps the preamble and manifest (which end at ", manifestEnd_, ")");
      if (offset > fileSize_ || size > fileSize_ - offset)
        fail(path_, ": segment ", i, " '", str(segment->name()), "' [", offset, ", +", size,
             ") is outside the file of ", fileSize_, " bytes");
      for (flatbuffers::uoffset_t j = 0; j < i; ++j) {
        const fb::Segment *other = segments->Get(j);
        if (size && other->size() && offset < other->offset() + other->size() &&
            other->offset() < offset + size)
          fail(path_, ": segment ", i, " '", str(segment->name()), "' overlaps segment ", j, " '",
               str(other->name()), "'");
      }
    }
  }

  void checkTensors() {
    auto tensors = model_.tensors();
    if (!tensors)
      return;
    auto segments = model_.segments();
    std::unordered_set<std::string> names;
    for (flatbuffers::uoffset_t i = 0; i < tensors->size(); ++i) {
      const fb::Tensor *tensor = tensors->Get(i);
      if (!tensor->name())
        fail(path_, ": tensor ", i, " has no name");
      std::string name = tensor->name()->str();
      if (!names.insert(name).second)
        fail(path_, ": tensor '", name, "' appears twice");
      if (!validDType(tensor->dtype()))
        fail(path_, ": tensor '", name, "' has unknown dtype ", int(tensor->dtype()));
      if (tensor->segment() >= segments->size())
        fail(path_, ": tensor '", name, "' segment index ", tensor->segment(), " out of range (",
             segments->size(), " segments)");
      const fb::Segment *segment = segments->Get(tensor->segment());
      uint64_t numel = 1;
      bool overflow = false;
      if (tensor->shape())
        for (int64_t dim : *tensor->shape()) {
          if (dim < 0)
            fail(path_, ": tensor '", name, "' has negative dimension ", dim, " in shape ",
                 shapeText(tensor->shape()));
          if (dim && numel > std::numeric_limits<uint64_t>::max() / 8 / uint64_t(dim))
            overflow = true;
          numel *= uint64_t(dim);
        }
      if (overflow)
        fail(path_, ": tensor '", name, "' shape ", shapeText(tensor->shape()), " is too large");
      uint64_t expected = numel * dtypeSize(tensor->dtype());
      if (tensor->size() != expected)
        fail(path_, ": tensor '", name, "' size is ", tensor->size(), " bytes, expected ", expected,
             " (", shapeText(tensor->shape()), " x ", fb::EnumNameDType(tensor->dtype()), ")");
      if (tensor->quantization() != fb::Quantization::None)
        checkQuantized(*tensor, name);
      if (tensor->offset() % kTensorAlignment != 0)
        fail(path_, ": tensor '", name, "' offset ", tensor->offset(), " is not a multiple of ",
             kTensorAlignment);
      if (tensor->offset() > segment->size() || tensor->size() > segment->size() - tensor->offset())
        fail(path_, ": tensor '", name, "' [", tensor->offset(), ", +", tensor->size(),
             ") is outside its segment '", str(segment->name()), "' of ", segment->size(), " bytes");
    }
  }

  // A packed quantized matrix (QuantLayout.h): U8 [rows, packed row bytes] of its logical
  // [rows, cols], or [row groups, 8 * packed row bytes] for Q4 row groups, so kernels
  // generated for that shape read exactly its bytes.
  void checkQuantized(const fb::Tensor &tensor, const std::string &name) {
    const fb::Quantization scheme = tensor.quantization();
    const auto *logical = tensor.logical_shape();
    const int64_t group = tensor.group_size();
    if (scheme != fb::Quantization::Q8Row && scheme != fb::Quantization::Q4Group)
      fail(path_, ": tensor '", name, "' has unknown quantization ", int(scheme));
    if (!logical || logical->size() != 2 || logical->Get(0) <= 0 || logical->Get(1) <= 0)
      fail(path_, ": quantized tensor '", name, "' needs a [rows, cols] logical_shape, found ",
           shapeText(logical));
    const uint64_t rows = uint64_t(logical->Get(0)), cols = uint64_t(logical->Get(1));
    if (scheme == fb::Quantization::Q4Group &&
        (group <= 0 || group % int64_t(quant::kQ4BlockColumns) != 0 || cols % uint64_t(group) != 0))
      fail(path_, ": quantized tensor '", name, "' has group_size ", group,
           ", expected a multiple of 32 dividing its ", cols, " columns");
    const int64_t rowGroup = tensor.row_group();
    if (rowGroup != 0 &&
        (scheme != fb::Quantization::Q4Group || rowGroup != int64_t(quant::kQ4GroupRows)))
      fail(path_, ": quantized tensor '", name, "' has row_group ", rowGroup, ", expected 0",
           scheme == fb::Quantization::Q4Group ? " or 8" : " for Q8Row");
    const quant::PackedMatrix matrix{scheme == fb::Quantization::Q8Row, rows, cols,
                                     uint64_t(group), rowGroup != 0};
    const int64_t panel = tensor.column_panel();
    if (panel != 0 && uint64_t(panel) != quant::columnPanelOf(matrix))
      fail(path_, ": quantized tensor '", name, "' (", fb::EnumNameQuantization(scheme), " ",
           shapeText(logical), ", row_group ", rowGroup, ", group_size ", group,
           ") has column_panel ", panel, ", expected ", quant::columnPanelOf(matrix));
    const std::vector<int64_t> expected = quant::packedShapeOf(matrix, uint64_t(panel));
    const auto *shape = tensor.shape();
    bool matches = tensor.dtype() == fb::DType::U8 && shape && shape->size() == expected.size();
    for (size_t i = 0; matches && i < expected.size(); ++i)
      matches = shape->Get(flatbuffers::uoffset_t(i)) == expected[i];
    if (!matches) {
      std::string want;
      for (int64_t dim : expected)
        want += (want.empty() ? "" : ", ") + std::to_string(dim);
      fail(path_, ": quantized tensor '", name, "' (", fb::EnumNameQuantization(scheme), " ",
           shapeText(logical), ", row_group ", rowGroup, ", column_panel ", tensor.column_panel(),
           ") must be U8 [", want, "], found ", fb::EnumNameDType(tensor.dtype()), " ",
           shapeText(shape));
    }
  }

  void checkSegmentIndex(const char *field, uint32_t index) {
    if (index >= model_.segments()->size())
      fail(path_, ": ", field, " is ", index, ", out of range (", model_.segments()->size(),
           " segments)");
  }

  // Each set names a target and a library segment; the first is `target` and
  // kernel_library_segment themselves (schemas/loom.fbs).
  void checkKernelSets() {
    auto sets = model_.kernel_sets();
    if (!sets)
      return;
    for (flatbuffers::uoffset_t i = 0; i < sets->size(); ++i) {
      const fb::KernelSet *set = sets->Get(i);
      const std::string field = "kernel_sets[" + std::to_string(i) + "]";
      if (!set->target() || !set->target()->name())
        fail(path_, ": ", field, " has no target name");
      checkSegmentIndex((field + ".library_segment").c_str(), set->library_segment());
    }
    if (sets->size() > 0 &&
        (sets->Get(0)->library_segment() != model_.kernel_library_segment() ||
         !model_.target()->name() ||
         sets->Get(0)->target()->name()->str() != model_.target()->name()->str()))
      fail(path_, ": kernel_sets[0] is not the manifest's target and kernel_library_segment");
  }

  void checkKvCache() {
    auto layers = model_.kv_cache();
    if (!layers)
      return;
    for (flatbuffers::uoffset_t i = 0; i < layers->size(); ++i) {
      const fb::KvCacheLayer *layer = layers->Get(i);
      if (int(layer->kind()) < int(fb::LayerKind::MIN) || int(layer->kind()) > int(fb::LayerKind::MAX))
        fail(path_, ": kv_cache layer ", i, " has unknown kind ", int(layer->kind()));
      if (!validDType(layer->dtype()))
        fail(path_, ": kv_cache layer ", i, " has unknown dtype ", int(layer->dtype()));
      if (layer->capacity() <= 0 || layer->kv_heads() <= 0 || layer->head_dim() <= 0)
        fail(path_, ": kv_cache layer ", i, " has capacity ", layer->capacity(), ", kv_heads ",
             layer->kv_heads(), ", head_dim ", layer->head_dim(), "; all must be positive");
    }
  }

  void checkKernels() {
    auto kernels = model_.kernels();
    if (!kernels)
      return;
    for (flatbuffers::uoffset_t i = 0; i < kernels->size(); ++i) {
      const flatbuffers::String *symbol = kernels->Get(i)->symbol();
      if (!symbol || symbol->size() == 0)
        fail(path_, ": kernel ", i, " has no symbol");
      // The runtime looks up `<symbol>_argv` and `<symbol>_metadata` with dlsym.
      const std::string name = symbol->str();
      const bool identifier =
          !std::isdigit(static_cast<unsigned char>(name[0])) &&
          std::all_of(name.begin(), name.end(), [](char c) {
            return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
          });
      if (!identifier)
        fail(path_, ": kernel ", i, " symbol '", printable(name.data(), name.size()),
             "' is not a C identifier");
    }
  }

  void checkEntryPoints() {
    auto entries = model_.entry_points();
    if (!entries)
      return;
    std::unordered_set<std::string> names;
    for (flatbuffers::uoffset_t e = 0; e < entries->size(); ++e) {
      const fb::EntryPoint *entry = entries->Get(e);
      if (!entry->name())
        fail(path_, ": entry point ", e, " has no name");
      std::string where = "entry point '" + entry->name()->str() + "'";
      if (!names.insert(entry->name()->str()).second)
        fail(path_, ": ", where, " appears twice");
      auto checkList = [&](const flatbuffers::Vector<flatbuffers::Offset<fb::Value>> *values,
                           const char *what) {
        if (values)
          for (flatbuffers::uoffset_t i = 0; i < values->size(); ++i)
            checkValue(*entry, values->Get(i), where + " " + what + " " + std::to_string(i));
      };
      checkList(entry->inputs(), "input");
      checkList(entry->outputs(), "output");
      auto commands = entry->commands();
      auto types = entry->commands_type();
      if (!commands)
        continue;
      for (flatbuffers::uoffset_t c = 0; c < commands->size(); ++c) {
        std::string at = where + " command " + std::to_string(c);
        switch (types->GetEnum<fb::Command>(c)) {
        case fb::Command::Dispatch: {
          auto dispatch = static_cast<const fb::Dispatch *>(commands->Get(c));
          uint32_t kernelCount = model_.kernels() ? model_.kernels()->size() : 0;
          if (dispatch->kernel() >= kernelCount)
            fail(path_, ": ", at, " (Dispatch): kernel index ", dispatch->kernel(),
                 " out of range (", kernelCount, " kernels)");
          at += " (Dispatch of '" + std::string(str(model_.kernels()->Get(dispatch->kernel())->symbol())) + "')";
          if (dispatch->args())
            for (flatbuffers::uoffset_t a = 0; a < dispatch->args()->size(); ++a)
              checkValue(*entry, dispatch->args()->Get(a), at + " arg " + std::to_string(a));
          break;
        }
        case fb::Command::KvWrite: {
          auto write = static_cast<const fb::KvWrite *>(commands->Get(c));
          const fb::KvCacheLayer *layer = kvLayer(write->layer(), at + " (KvWrite)");
          at += " (KvWrite layer " + std::to_string(write->layer()) + ")";
          if (layer->keys_only() && write->values())
            fail(path_, ": ", at, " writes values but kv_cache layer ", write->layer(),
                 " caches keys only (keys_only)");
          for (auto [value, what] : {std::pair{write->keys(), "keys"}, std::pair{write->values(), "values"}}) {
            if (!value && what == std::string("values") && layer->keys_only())
              continue;
            if (!value)
              fail(path_, ": ", at, " has no ", what);
            checkValue(*entry, value, at + " " + what);
            auto shape = value->shape();
            if (value->dtype() != layer->dtype() || !shape || shape->size() != 3 ||
                shape->Get(1) != layer->kv_heads() || shape->Get(2) != layer->head_dim())
              fail(path_, ": ", at, " ", what, " is ", fb::EnumNameDType(value->dtype()), " ",
                   shapeText(shape), ", expected ", fb::EnumNameDType(layer->dtype()),
                   " [Tokens, ", layer->kv_heads(), ", ", layer->head_dim(), "]");
          }
          break;
        }
        default:
          fail(path_, ": ", at, " has unknown command type ", int(types->Get(c)));
        }
      }
    }
  }

  const fb::KvCacheLayer *kvLayer(uint32_t index, const std::string &at) {
    uint32_t count = model_.kv_cache() ? model_.kv_cache()->size() : 0;
    if (index >= count)
      fail(path_, ": ", at, ": kv_cache layer index ", index, " out of range (", count, " layers)");
    return model_.kv_cache()->Get(index);
  }

  void checkValue(const fb::EntryPoint &entry, const fb::Value *value, const std::string &at) {
    if (!validDType(value->dtype()))
      fail(path_, ": ", at, ": unknown dtype ", int(value->dtype()));
    int tokenDims = 0;
    uint64_t fixedElements = 1;
    if (value->shape())
      for (int64_t dim : *value->shape()) {
        if (dim == int64_t(fb::DimSymbol::Tokens))
          ++tokenDims;
        else if (dim < 0)
          fail(path_, ": ", at, ": negative dimension ", dim, " in shape ", shapeText(value->shape()));
        else if (dim && fixedElements > (uint64_t(1) << 48) / uint64_t(dim))
          fail(path_, ": ", at, ": shape ", shapeText(value->shape()), " is too large");
        else
          fixedElements *= uint64_t(dim);
      }
    switch (value->kind()) {
    case fb::ValueKind::Weight: {
      uint32_t count = model_.tensors() ? model_.tensors()->size() : 0;
      if (value->index() >= count)
        fail(path_, ": ", at, ": Weight tensor index ", value->index(), " out of range (", count,
             " tensors)");
      const fb::Tensor *tensor = model_.tensors()->Get(value->index());
      if (value->dtype() != tensor->dtype() || !sameShape(value->shape(), tensor->shape()))
        fail(path_, ": ", at, ": Weight is ", fb::EnumNameDType(value->dtype()), " ",
             shapeText(value->shape()), " but tensor '", str(tensor->name()), "' is ",
             fb::EnumNameDType(tensor->dtype()), " ", shapeText(tensor->shape()));
      break;
    }
    case fb::ValueKind::Arena: {
      if (tokenDims > 1)
        fail(path_, ": ", at, ": arena value ", shapeText(value->shape()),
             " has more than one Tokens dimension");
      uint64_t perToken = fixedElements * dtypeSize(value->dtype());
      if (value->offset_per_token() > entry.arena_bytes_per_token() ||
          perToken > entry.arena_bytes_per_token() - value->offset_per_token())
        fail(path_, ": ", at, ": arena value at ", value->offset_per_token(), " + ", perToken,
             " bytes per token exceeds the entry point's arena of ", entry.arena_bytes_per_token(),
             " bytes per token");
      break;
    }
    case fb::ValueKind::Input:
    case fb::ValueKind::Output: {
      bool input = value->kind() == fb::ValueKind::Input;
      auto list = input ? entry.inputs() : entry.outputs();
      uint32_t count = list ? list->size() : 0;
      if (value->index() >= count)
        fail(path_, ": ", at, ": ", input ? "Input" : "Output", " slot ", value->index(),
             " out of range (", count, input ? " inputs)" : " outputs)");
      break;
    }
    case fb::ValueKind::StartPosition:
      break;
    case fb::ValueKind::TokenPositions:
      if (value->dtype() != fb::DType::I32 || !value->shape() || value->shape()->size() != 1 ||
          value->shape()->Get(0) != int64_t(fb::DimSymbol::Tokens))
        fail(path_, ": ", at, ": TokenPositions is ", fb::EnumNameDType(value->dtype()), " ",
             shapeText(value->shape()), ", expected I32 [Tokens]");
      break;
    case fb::ValueKind::KvKeys:
    case fb::ValueKind::KvValues: {
      const fb::KvCacheLayer *layer = kvLayer(value->index(), at);
      if (value->kind() == fb::ValueKind::KvValues && layer->keys_only())
        fail(path_, ": ", at, ": reads KvValues of kv_cache layer ", value->index(),
             ", which caches keys only (keys_only)");
      auto shape = value->shape();
      if (value->dtype() != layer->dtype() || !shape || shape->size() != 3 ||
          shape->Get(0) != layer->capacity() || shape->Get(1) != layer->kv_heads() ||
          shape->Get(2) != layer->head_dim())
        fail(path_, ": ", at, ": ", fb::EnumNameValueKind(value->kind()), " is ",
             fb::EnumNameDType(value->dtype()), " ", shapeText(shape), " but kv_cache layer ",
             value->index(), " is ", fb::EnumNameDType(layer->dtype()), " [", layer->capacity(),
             ", ", layer->kv_heads(), ", ", layer->head_dim(), "]");
      break;
    }
    default:
      fail(path_, ": ", at, ": unknown value kind ", int(value->kind()));
    }
  }

  const std::string &path_;
  const fb::Model &model_;
  uint64_t fileSize_;
  uint64_t manifestEnd_;
};

// Reads all `size` bytes of `fd` into read-only anonymous memory in huge pages.
AnonymousMemory readIntoHugePages(int fd, const std::string &path, uint64_t size) {
  AnonymousMemory memory(size, PageSize::Huge, path);
  constexpr uint64_t kChunk = 64ull << 20;
  for (uint64_t done = 0; done < size;) {
    const ssize_t got = ::pread(fd, memory.data() + done, size_t(std::min(kChunk, size - done)),
                                off_t(done));
    if (got < 0 && errno == EINTR)
      continue;
    if (got <= 0)
      fail(path, ": reading byte ", done, " of ", size, " failed: ",
           got < 0 ? std::strerror(errno) : "the file ended early");
    done += uint64_t(got);
  }
  memory.makeReadOnly();
  return memory;
}

} // namespace

std::shared_ptr<const Artifact> Artifact::open(const std::string &path, ArtifactMemory memory) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    fail(path, ": cannot open: ", std::strerror(errno));
  struct stat info;
  if (::fstat(fd, &info) != 0) {
    int saved = errno;
    ::close(fd);
    fail(path, ": cannot stat: ", std::strerror(saved));
  }
  if (!S_ISREG(info.st_mode)) {
    ::close(fd);
    fail(path, ": not a regular file");
  }
  const uint64_t actualSize = uint64_t(info.st_size);
  if (actualSize < sizeof(ArtifactPreamble)) {
    ::close(fd);
    fail(path, ": file is ", actualSize, " bytes, shorter than the ", sizeof(ArtifactPreamble),
         "-byte .loom preamble; not a .loom artifact or truncated");
  }
  std::shared_ptr<Artifact> artifact(new Artifact());
  artifact->path_ = path;
  artifact->size_ = actualSize;
  if (memory == ArtifactMemory::HugePageCopy) {
    try {
      artifact->copy_ = std::make_unique<AnonymousMemory>(readIntoHugePages(fd, path, actualSize));
    } catch (...) {
      ::close(fd);
      throw;
    }
    ::close(fd);
    artifact->base_ = artifact->copy_->data();
  } else {
    void *mapping = ::mmap(nullptr, actualSize, PROT_READ, MAP_PRIVATE, fd, 0);
    int mmapErrno = errno;
    ::close(fd);
    if (mapping == MAP_FAILED)
      fail(path, ": mmap of ", actualSize, " bytes failed: ", std::strerror(mmapErrno));
    artifact->mapping_ = mapping;
    artifact->base_ = static_cast<const uint8_t *>(mapping);
  }

  ArtifactPreamble preamble;
  std::memcpy(&preamble, artifact->base_, sizeof(preamble));
  if (std::memcmp(preamble.magic, kArtifactMagic, sizeof(kArtifactMagic)) != 0)
    fail(path, ": not a .loom artifact (bad magic: expected '",
         printable(kArtifactMagic, sizeof(kArtifactMagic)), "', found '",
         printable(preamble.magic, sizeof(preamble.magic)), "')");
  if (preamble.formatVersion != kArtifactFormatVersion)
    fail(path, ": unsupported .loom format version: found ", preamble.formatVersion,
         ", this runtime supports version ", kArtifactFormatVersion, "; recompile the model");
  if (preamble.fileSize != actualSize) {
    if (actualSize < preamble.fileSize)
      fail(path, ": truncated: expected ", preamble.fileSize, " bytes, found ", actualSize);
    fail(path, ": size mismatch: expected ", preamble.fileSize, " bytes, found ", actualSize,
         " (trailing data)");
  }
  const uint64_t manifestEnd = preamble.manifestOffset + preamble.manifestSize;
  if (preamble.manifestOffset < sizeof(ArtifactPreamble) || preamble.manifestOffset % 8 != 0 ||
      preamble.manifestOffset > actualSize || preamble.manifestSize > actualSize - preamble.manifestOffset ||
      preamble.manifestSize < 8 || preamble.manifestSize > FLATBUFFERS_MAX_BUFFER_SIZE)
    fail(path, ": manifest range [", preamble.manifestOffset, ", +", preamble.manifestSize,
         ") is invalid: expected an 8-aligned range at or after byte ", sizeof(ArtifactPreamble),
         " inside the file of ", actualSize, " bytes");

  const uint8_t *manifestBytes = artifact->base_ + preamble.manifestOffset;
  const uint64_t manifestChecksum = artifactChecksum(manifestBytes, size_t(preamble.manifestSize));
  if (manifestChecksum != preamble.manifestChecksum)
    fail(path, ": manifest checksum mismatch: the preamble records XXH3 ", hex(preamble.manifestChecksum),
         ", the ", preamble.manifestSize, " manifest bytes hash to ", hex(manifestChecksum),
         "; the file is corrupt");
  if (!fb::ModelBufferHasIdentifier(manifestBytes))
    fail(path, ": manifest file identifier: expected '", fb::ModelIdentifier(), "', found '",
         printable(flatbuffers::GetBufferIdentifier(manifestBytes), 4), "'");
  flatbuffers::Verifier verifier(manifestBytes, size_t(preamble.manifestSize));
  if (!fb::VerifyModelBuffer(verifier))
    fail(path, ": manifest is corrupt: FlatBuffers verification of ", preamble.manifestSize,
         " bytes at offset ", preamble.manifestOffset, " failed");
  artifact->manifest_ = fb::GetModel(manifestBytes);

  ManifestChecker(path, *artifact->manifest_, actualSize, manifestEnd).run();
  return artifact;
}

Artifact::~Artifact() {
  if (mapping_)
    ::munmap(mapping_, size_t(size_));
}

ByteSpan Artifact::segment(uint32_t index) const {
  auto segments = manifest_->segments();
  if (index >= segments->size())
    fail(path_, ": segment index ", index, " out of range (", segments->size(), " segments)");
  const fb::Segment *segment = segments->Get(index);
  return {base_ + segment->offset(), segment->size()};
}

void Artifact::verifySegment(uint32_t index) const {
  const ByteSpan bytes = segment(index);
  const fb::Segment *info = manifest_->segments()->Get(index);
  const uint64_t actual = artifactChecksum(bytes.data, size_t(bytes.size));
  if (actual != info->checksum())
    fail(path_, ": segment ", index, " '", str(info->name()), "' (", bytes.size,
         " bytes) is corrupt: its checksum is XXH3 ", hex(info->checksum()), ", its bytes hash to ",
         hex(actual));
}

void Artifact::verifyAllSegments() const {
  for (uint32_t i = 0; i < manifest_->segments()->size(); ++i)
    verifySegment(i);
}

ByteSpan Artifact::tensorData(uint32_t tensorIndex) const {
  uint32_t count = manifest_->tensors() ? manifest_->tensors()->size() : 0;
  if (tensorIndex >= count)
    fail(path_, ": tensor index ", tensorIndex, " out of range (", count, " tensors)");
  const fb::Tensor *tensor = manifest_->tensors()->Get(tensorIndex);
  ByteSpan segment = this->segment(tensor->segment());
  return {segment.data + tensor->offset(), tensor->size()};
}

} // namespace loom
