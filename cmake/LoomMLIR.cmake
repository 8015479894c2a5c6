# MLIR/LLVM 22 from Debian. `find_package(MLIR 22)` fails: the version file wants major.minor.
find_package(MLIR 22.1 REQUIRED CONFIG HINTS /usr/lib/llvm-22/lib/cmake/mlir)
list(APPEND CMAKE_MODULE_PATH "${MLIR_CMAKE_DIR}" "${LLVM_CMAKE_DIR}")
set(LLVM_RUNTIME_OUTPUT_INTDIR ${CMAKE_BINARY_DIR}/bin)
set(LLVM_LIBRARY_OUTPUT_INTDIR ${CMAKE_BINARY_DIR}/lib)
set(MLIR_BINARY_DIR ${CMAKE_BINARY_DIR})
include(TableGen)
include(AddLLVM)
include(AddMLIR)
# One shared libMLIR.so: small binaries and fast links; never mixed with static MLIR libraries.
set(MLIR_LINK_MLIR_DYLIB ON)
separate_arguments(LLVM_DEFS NATIVE_COMMAND ${LLVM_DEFINITIONS})

# Applies LLVM's include paths and definitions to one MLIR-facing target only, so the
# runtime stays free of LLVM.
function(loom_use_mlir target)
  target_include_directories(${target} SYSTEM PUBLIC ${LLVM_INCLUDE_DIRS} ${MLIR_INCLUDE_DIRS})
  target_compile_definitions(${target} PUBLIC ${LLVM_DEFS})
endfunction()

find_program(LLVM_LIT NAMES lit-22 lit HINTS ${LLVM_TOOLS_BINARY_DIR} REQUIRED)
