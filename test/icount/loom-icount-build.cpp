// Builds the instruction-count kernel set (IcountKernels.h) into one shared library:
//   loom-icount-build OUT.so
// Kept apart from the runner so that valgrind never loads Halide and LLVM.
#include "IcountKernels.h"

#include "loom/Error.h"

#include <cstdio>
#include <fstream>
#include <string>

int main(int argc, char **argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: loom-icount-build OUT.so\n");
    return 2;
  }
  try {
    const std::string out = argv[1];
    std::vector<uint8_t> bytes = loom::codegen::buildKernelLibrary(
        loom::icount::kernelSet(), loom::codegen::halideTargetFor("x86-64-v3"), out + ".work");
    std::ofstream file(out, std::ios::binary);
    file.write(reinterpret_cast<const char *>(bytes.data()), std::streamsize(bytes.size()));
    if (!file.flush()) {
      std::fprintf(stderr, "loom-icount-build: cannot write %s\n", out.c_str());
      return 1;
    }
  } catch (const loom::Error &e) {
    std::fprintf(stderr, "loom-icount-build: %s\n", e.what());
    return 1;
  }
  return 0;
}
