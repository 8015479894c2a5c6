// buildKernelLibrary: Halide AOT (in-process) of every kernel + one standalone runtime, linked
// into one shared library with ld.lld (or ld).
#include "Pipelines.h"

#include "loom/Codegen/KernelSpec.h"
#include "loom/Error.h"

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <set>
#include <sstream>

#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

namespace loom::codegen {
namespace {

bool isExecutable(const std::string &path) { return ::access(path.c_str(), X_OK) == 0; }

// The first executable among /usr/lib/llvm-22/bin/ld.lld, ld.lld-22, ld.lld, ld on PATH.
std::string findLinker() {
  if (const char *env = std::getenv("LOOM_LINKER"); env && *env)
    return env;
  if (isExecutable("/usr/lib/llvm-22/bin/ld.lld"))
    return "/usr/lib/llvm-22/bin/ld.lld";
  const char *pathEnv = std::getenv("PATH");
  std::string path = pathEnv ? pathEnv : "/usr/local/bin:/usr/bin:/bin";
  for (const char *name : {"ld.lld-22", "ld.lld", "ld"}) {
    std::istringstream dirs(path);
    std::string dir;
    while (std::getline(dirs, dir, ':'))
      if (!dir.empty() && isExecutable(dir + "/" + name))
        return dir + "/" + name;
  }
  fail("buildKernelLibrary: no linker found (looked for /usr/lib/llvm-22/bin/ld.lld, ld.lld-22, "
       "ld.lld and ld on PATH)");
}

std::string readFile(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// Runs argv[0] with argv, stdout+stderr to `logPath`; fails with the log on a non-zero exit.
void run(const std::vector<std::string> &argv, const std::string &logPath, const char *what) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, logPath.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  std::vector<char *> args;
  for (const std::string &arg : argv)
    args.push_back(const_cast<char *>(arg.c_str()));
  args.push_back(nullptr);
  pid_t pid;
  int err = posix_spawn(&pid, argv[0].c_str(), &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (err != 0)
    fail("buildKernelLibrary: cannot run ", what, " '", argv[0], "': ", std::strerror(err));
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::string command;
    for (const std::string &arg : argv)
      command += (command.empty() ? "" : " ") + arg;
    fail("buildKernelLibrary: ", what, " failed (",
         WIFEXITED(status) ? "exit status " + std::to_string(WEXITSTATUS(status)) : "killed",
         "): ", command, "\n", readFile(logPath));
  }
}

void removeQuietly(const std::string &path) { std::remove(path.c_str()); }

// Writes through `write(tmpPath)` and renames onto `path`, so `path` is complete or absent.
template <class WriteFn> void writeAtomically(const std::string &path, WriteFn write) {
  const std::string tmp = path + ".tmp";
  removeQuietly(tmp);
  try {
    write(tmp);
  } catch (...) {
    removeQuietly(tmp);
    throw;
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    removeQuietly(tmp);
    fail("buildKernelLibrary: cannot rename ", tmp, " to ", path, ": ", std::strerror(errno));
  }
}

// Halide's compile-time reporter, less one warning: bf16 weights are widened to f32 by a shift on
// purpose (the kernels compute in f32), which Halide 21 reports for every bf16 kernel as "(b)float16
// type operation is emulated". Other warnings go to stderr; errors are thrown as Halide does.
class Reporter : public Halide::CompileTimeErrorReporter {
public:
  void warning(const char *message) override {
    if (std::strstr(message, "float16 type operation is emulated") == nullptr)
      std::fprintf(stderr, "Warning: %s", message);
  }
  [[noreturn]] void error(const char *message) override { throw Halide::CompileError(message); }
};

Halide::Target parseTarget(const std::string &halideTarget) {
  static Reporter reporter;
  static const bool installed = (Halide::set_custom_compile_time_error_reporter(&reporter), true);
  (void)installed;
  if (!Halide::Target::validate_target_string(halideTarget))
    fail("buildKernelLibrary: invalid Halide target '", halideTarget,
         "' (expected e.g. x86-64-linux-avx-avx2-f16c-fma-sse41)");
  Halide::Target target(halideTarget);
  if (target.os != Halide::Target::Linux || target.arch != Halide::Target::X86 ||
      target.bits != 64 || target.has_gpu_feature())
    fail("buildKernelLibrary: target '", halideTarget,
         "' is not supported: the CPU kernel generator makes x86-64 Linux code only");
  // no_runtime: one standalone runtime for the whole library. large_buffers: weight tables
  // (e.g. the 262144 x 3840 embedding) exceed 2^31 bytes, which Halide otherwise rejects.
  return target.with_feature(Halide::Target::NoRuntime).with_feature(Halide::Target::LargeBuffers);
}

// `tuning`, or the defaults of the target `halideTarget` names.
Tuning tuningFor(const std::string &halideTarget, const Tuning *tuning) {
  return tuning ? *tuning : Tuning::defaults(loomTargetForHalide(halideTarget));
}

bool isCIdentifier(const std::string &s) {
  if (s.empty() || std::isdigit(static_cast<unsigned char>(s[0])))
    return false;
  for (char c : s)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_')
      return false;
  return true;
}

} // namespace

std::vector<uint8_t> buildKernelLibrary(const std::vector<KernelSpec> &kernels,
                                        const std::string &halideTarget,
                                        const std::string &workDir, const Tuning *tuning) {
  const Halide::Target target = parseTarget(halideTarget);
  const Tuning parameters = tuningFor(halideTarget, tuning);
  const std::string linker = findLinker();
  std::set<std::string> symbols;
  for (const KernelSpec &spec : kernels) {
    if (!isCIdentifier(spec.symbol))
      fail("buildKernelLibrary: kernel symbol '", spec.symbol, "' is not a C identifier");
    if (spec.symbol.rfind("halide_", 0) == 0)
      fail("buildKernelLibrary: kernel symbol '", spec.symbol, "' uses the reserved prefix halide_");
    if (!symbols.insert(spec.symbol).second)
      fail("buildKernelLibrary: kernel symbol '", spec.symbol, "' appears twice");
  }
  if (::mkdir(workDir.c_str(), 0755) != 0 && errno != EEXIST)
    fail("buildKernelLibrary: cannot create work directory ", workDir, ": ", std::strerror(errno));

  std::vector<std::string> objects;
  for (const KernelSpec &spec : kernels) {
    const std::string object = workDir + "/" + spec.symbol + ".o";
    try {
      detail::KernelPipeline kernel = detail::buildPipeline(spec, target, parameters);
      writeAtomically(object, [&](const std::string &tmp) {
        kernel.pipeline.compile_to_object(tmp, kernel.arguments, spec.symbol, target);
      });
    } catch (const Halide::Error &e) {
      fail("buildKernelLibrary: Halide failed on kernel ", spec.symbol, " (", describe(spec),
           "): ", e.what());
    }
    objects.push_back(object);
  }
  const std::string runtime = workDir + "/halide_runtime.o";
  try {
    writeAtomically(runtime, [&](const std::string &tmp) {
      Halide::compile_standalone_runtime(tmp, target);
    });
  } catch (const Halide::Error &e) {
    fail("buildKernelLibrary: Halide failed on the runtime: ", e.what());
  }
  objects.push_back(runtime);

  // Exports: each kernel's <symbol>, <symbol>_argv, <symbol>_metadata and the Halide runtime's C
  // API (halide_*: thread count, error handler, ...); everything else (closures, the runtime's
  // C++ internals) is local.
  const std::string versionScript = workDir + "/exports.map";
  writeAtomically(versionScript, [&](const std::string &tmp) {
    std::ofstream out(tmp);
    out << "{\n  global:\n    halide_*;\n";
    for (const KernelSpec &spec : kernels)
      out << "    " << spec.symbol << ";\n    " << spec.symbol << "_argv;\n    " << spec.symbol
          << "_metadata;\n";
    out << "  local: *;\n};\n";
    if (!out.flush())
      fail("buildKernelLibrary: cannot write ", tmp);
  });

  // -z defs: every symbol must resolve in the objects or libc/libm/libpthread.
  // -Bsymbolic: the library's Halide runtime binds to itself, never to another copy in the process.
  const std::string library = workDir + "/kernels.so";
  writeAtomically(library, [&](const std::string &tmp) {
    std::vector<std::string> argv{linker, "-shared", "-o", tmp, "-z", "defs", "-z", "noexecstack",
                                  "-Bsymbolic", "--hash-style=gnu", "--build-id=sha1",
                                  "-soname", "loom_kernels.so", "--version-script", versionScript};
    argv.insert(argv.end(), objects.begin(), objects.end());
    for (const char *dir : {"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu"})
      argv.push_back(std::string("-L") + dir);
    for (const char *lib : {"-lm", "-lpthread", "-ldl", "-lc"})
      argv.push_back(lib);
    run(argv, workDir + "/link.log", "linker");
  });
  std::string bytes = readFile(library);
  if (bytes.size() < 4 || bytes.compare(0, 4, "\x7f" "ELF") != 0)
    fail("buildKernelLibrary: linker output ", library, " is not an ELF file");
  return std::vector<uint8_t>(bytes.begin(), bytes.end());
}

void emitKernel(const KernelSpec &spec, const std::string &halideTarget, KernelOutput output,
                const std::string &path, const Tuning *tuning) {
  const Halide::Target target = parseTarget(halideTarget);
  const Tuning parameters = tuningFor(halideTarget, tuning);
  if (!isCIdentifier(spec.symbol))
    fail("emitKernel: kernel symbol '", spec.symbol, "' is not a C identifier");
  try {
    detail::KernelPipeline kernel = detail::buildPipeline(spec, target, parameters);
    switch (output) {
    case KernelOutput::Assembly:
      kernel.pipeline.compile_to_assembly(path, kernel.arguments, spec.symbol, target);
      break;
    case KernelOutput::LoweredStmt:
      kernel.pipeline.compile_to_lowered_stmt(path, kernel.arguments, Halide::Text, target);
      break;
    case KernelOutput::Object:
      kernel.pipeline.compile_to_object(path, kernel.arguments, spec.symbol, target);
      break;
    }
  } catch (const Halide::Error &e) {
    fail("emitKernel: Halide failed on kernel ", spec.symbol, " (", describe(spec), "): ", e.what());
  }
}

} // namespace loom::codegen
