#include "DispatchSignatures.h"

#include "HalideTypes.h"
#include "loom/Runtime/KernelLibrary.h"

#include <sstream>

namespace loom {
namespace {

std::string typeText(const halide_type_t &type) {
  const char *code = type.code == halide_type_int      ? "int"
                     : type.code == halide_type_uint   ? "uint"
                     : type.code == halide_type_float  ? "float"
                     : type.code == halide_type_bfloat ? "bfloat"
                                                       : "handle";
  std::ostringstream out;
  out << code << int(type.bits);
  if (type.lanes != 1)
    out << 'x' << type.lanes;
  return out.str();
}

std::string expectedText(const halide_filter_argument_t &argument) {
  std::ostringstream out;
  out << "'" << argument.name << "', ";
  if (argument.kind == halide_argument_kind_input_scalar)
    out << "a " << typeText(argument.type) << " scalar";
  else
    out << (argument.kind == halide_argument_kind_output_buffer ? "an output" : "an input")
        << " buffer of rank " << argument.dimensions << " and " << typeText(argument.type);
  return out.str();
}

// What the executor will pass for `value` (Executor::planFor): its rank and element type.
struct PassedBuffer {
  size_t rank;
  fb::DType dtype;
};

PassedBuffer passedBuffer(const fb::Model &manifest, const fb::EntryPoint &entry,
                          const fb::Value &value) {
  const size_t ownRank = value.shape() ? value.shape()->size() : 0;
  switch (value.kind()) {
  case fb::ValueKind::Weight: {
    const fb::Tensor *tensor = manifest.tensors()->Get(value.index());
    return {ownRank ? ownRank : (tensor->shape() ? tensor->shape()->size() : 0), tensor->dtype()};
  }
  case fb::ValueKind::Input:
  case fb::ValueKind::Output: {
    const auto *slots = value.kind() == fb::ValueKind::Input ? entry.inputs() : entry.outputs();
    const fb::Value *declared = slots->Get(value.index());
    return {ownRank ? ownRank : (declared->shape() ? declared->shape()->size() : 0), value.dtype()};
  }
  case fb::ValueKind::KvKeys:
  case fb::ValueKind::KvValues:
    return {ownRank ? ownRank : 3, manifest.kv_cache()->Get(value.index())->dtype()};
  default: // Arena, TokenPositions (I32 [Tokens], Artifact checks)
    return {ownRank, value.dtype()};
  }
}

} // namespace

void checkDispatchSignatures(const std::string &path, const fb::Model &manifest,
                             const KernelLibrary &kernels) {
  const auto *entries = manifest.entry_points();
  if (entries == nullptr)
    return;
  for (const fb::EntryPoint *entry : *entries) {
    const auto *commands = entry->commands();
    if (commands == nullptr)
      continue;
    for (flatbuffers::uoffset_t c = 0; c < commands->size(); ++c) {
      if (entry->commands_type()->GetEnum<fb::Command>(c) != fb::Command::Dispatch)
        continue;
      const auto *dispatch = static_cast<const fb::Dispatch *>(commands->Get(c));
      const halide_filter_metadata_t &signature = kernels.metadata(dispatch->kernel());
      const std::string at = path + ": entry '" + entry->name()->str() + "' command " +
                             std::to_string(c) + " (Dispatch of '" +
                             kernels.symbol(dispatch->kernel()) + "')";
      const uint32_t passed = dispatch->args() ? dispatch->args()->size() : 0;
      if (signature.num_arguments < 0 || passed != uint32_t(signature.num_arguments))
        fail(at, ": passes ", passed, " arguments, the kernel takes ", signature.num_arguments);
      for (uint32_t a = 0; a < passed; ++a) {
        const fb::Value &value = *dispatch->args()->Get(a);
        const halide_filter_argument_t &expected = signature.arguments[a];
        const std::string argument = at + " argument " + std::to_string(a);
        const char *kind = fb::EnumNameValueKind(value.kind());
        if (expected.kind == halide_argument_kind_input_scalar) {
          if (value.kind() != fb::ValueKind::StartPosition ||
              !(expected.type == halide_type_t(halide_type_int, 32)))
            fail(argument, " is ", kind, ", the kernel expects ", expectedText(expected));
          continue;
        }
        if (value.kind() == fb::ValueKind::StartPosition)
          fail(argument, " is StartPosition, the kernel expects ", expectedText(expected));
        if (expected.kind == halide_argument_kind_output_buffer &&
            (value.kind() == fb::ValueKind::Weight || value.kind() == fb::ValueKind::Input ||
             value.kind() == fb::ValueKind::TokenPositions))
          fail(argument, " is ", kind, ", which is read-only, the kernel expects ",
               expectedText(expected));
        const PassedBuffer buffer = passedBuffer(manifest, *entry, value);
        if (buffer.rank != size_t(expected.dimensions) ||
            !(halideType(buffer.dtype) == expected.type))
          fail(argument, " is ", kind, " of rank ", buffer.rank, " and ",
               typeText(halideType(buffer.dtype)), ", the kernel expects ", expectedText(expected));
      }
    }
  }
}

} // namespace loom
