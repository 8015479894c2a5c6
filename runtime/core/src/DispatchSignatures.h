// Checks every dispatch of a CPU artifact against the argument list its kernel was compiled
// with (Halide's `<symbol>_metadata`), before anything runs: a kernel called with too few
// arguments, a buffer of another rank or element type, a scalar where a buffer belongs, or a
// weight or input as an output would read or write memory it does not own.
#pragma once

#include <string>

namespace loom {
namespace fb {
struct Model;
}
class KernelLibrary;

// Throws loom::Error naming the file, the entry point, the command, the argument and what the
// kernel expects.
void checkDispatchSignatures(const std::string &path, const fb::Model &manifest,
                             const KernelLibrary &kernels);

} // namespace loom
