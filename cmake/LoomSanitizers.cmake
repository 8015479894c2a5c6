# Sanitizer and fuzzer builds (scripts/sanitize.sh configures one; docs/FUZZING.md).
#
#   LOOM_SANITIZE=address,undefined  instruments the whole tree: compile and link flags of every
#                                    target (Halide's generated kernels are compiled by Halide
#                                    and stay uninstrumented). Undefined behaviour aborts instead
#                                    of printing and going on, so a test that hits it fails.
#   LOOM_FUZZERS=ON                  adds the libFuzzer targets of test/fuzz (clang only). The
#                                    tree is compiled with coverage instrumentation
#                                    (-fsanitize=fuzzer-no-link) so libFuzzer sees inside the
#                                    libraries; only the fuzzers link libFuzzer's main.
set(LOOM_SANITIZE "" CACHE STRING "Sanitizers for the whole tree (clang -fsanitize=), e.g. address,undefined")
option(LOOM_FUZZERS "Build the libFuzzer targets of test/fuzz (needs clang)" OFF)

if(LOOM_SANITIZE)
  # Line tables and frame pointers: reports name the file and line of every frame.
  add_compile_options(-fsanitize=${LOOM_SANITIZE} -fno-omit-frame-pointer -gline-tables-only)
  add_link_options(-fsanitize=${LOOM_SANITIZE})
  if(LOOM_SANITIZE MATCHES "undefined")
    add_compile_options(-fno-sanitize-recover=undefined)
  endif()
  message(STATUS "Loom: sanitizers ${LOOM_SANITIZE} on the whole tree")
endif()

if(LOOM_FUZZERS)
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "LOOM_FUZZERS needs clang (libFuzzer); the C++ compiler is "
                        "${CMAKE_CXX_COMPILER_ID} ${CMAKE_CXX_COMPILER}")
  endif()
  add_compile_options(-fsanitize=fuzzer-no-link)
  message(STATUS "Loom: libFuzzer targets (test/fuzz) and coverage instrumentation on")
endif()
