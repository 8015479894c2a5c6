// loom._compiler: loom-compile's driver (compiler/driver) in-process, for loom.compile. A module
// of its own because it brings MLIR, LLVM and Halide: `import loom` and running a model load
// none of them.
#include "loom/Driver/Compiler.h"
#include "loom/Error.h"

#include <nanobind/nanobind.h>
#include <nanobind/stl/function.h>
#include <nanobind/stl/string.h>

#include <optional>
#include <string>

namespace nb = nanobind;
using namespace nb::literals;

namespace {

struct CompileFailure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Compiles without the GIL; `log` receives loom-compile's progress lines (each phase's time) and
// is called with the GIL held. An exception from it cannot unwind through the driver (the line
// may come from a destructor): the first one is raised once the compile has ended.
void compile(const std::string &checkpoint, const std::string &output, const std::string &target,
             const std::string &quant, const std::string &quantEmbedding, int64_t maxContext,
             bool fuse, const std::string &tuning, const std::string &tuningMismatch,
             nb::object log) {
  loom::CompileOptions options;
  options.checkpointDir = checkpoint;
  options.outputPath = output;
  options.target = target;
  options.weightType = quant;
  options.embeddingQuant = quantEmbedding;
  options.maxContext = maxContext;
  options.fuse = fuse;
  options.tuningPath = tuning;
  if (tuningMismatch != "refuse" && tuningMismatch != "warn")
    throw CompileFailure("tuning_mismatch='" + tuningMismatch + "': expected 'refuse' or 'warn'");
  options.tuningMismatch = tuningMismatch == "warn" ? loom::codegen::TuningMismatch::Warn
                                                    : loom::codegen::TuningMismatch::Refuse;
  std::optional<nb::python_error> logError;
  if (!log.is_none())
    options.log = [&](const std::string &line) {
      nb::gil_scoped_acquire acquire;
      if (logError)
        return;
      try {
        log(line);
      } catch (nb::python_error &e) {
        logError.emplace(std::move(e));
      }
    };
  std::optional<std::string> failure;
  {
    nb::gil_scoped_release release;
    try {
      loom::compile(options);
    } catch (const loom::Error &e) {
      failure = e.what();
    } catch (const std::exception &e) {
      failure = std::string("internal compiler error: ") + e.what();
    }
  }
  if (logError)
    throw std::move(*logError);
  if (failure)
    throw CompileFailure(*failure);
}

} // namespace

NB_MODULE(_compiler, m) {
  m.doc() = "Loom's compiler driver (loom-compile); use loom.compile, not this module.";
  // loom.LoomError: the runtime module defines it; both modules raise the same class.
  nb::object loomError = nb::module_::import_("loom._runtime").attr("LoomError");
  static nb::handle errorType = loomError.release();
  nb::register_exception_translator([](const std::exception_ptr &p, void *) {
    try {
      std::rethrow_exception(p);
    } catch (const CompileFailure &e) {
      PyErr_SetString(errorType.ptr(), e.what());
    }
  });
  m.def("compile", &compile, "checkpoint"_a, "output"_a, "target"_a, "quant"_a,
        "quant_embedding"_a, "max_context"_a, "fuse"_a, "tuning"_a, "tuning_mismatch"_a,
        "log"_a = nb::none());
}
