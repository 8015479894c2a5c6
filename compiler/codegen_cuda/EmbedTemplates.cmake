# cmake -DIN=LoomKernels.cuh -DOUT=KernelTemplates.cpp -P EmbedTemplates.cmake
# Raw string pieces stay well under compilers' string literal limits.
file(READ ${IN} text)
string(LENGTH "${text}" length)
set(pieces "")
set(offset 0)
while(offset LESS length)
  string(SUBSTRING "${text}" ${offset} 8000 piece)
  string(APPEND pieces "R\"LOOMCUDA(${piece})LOOMCUDA\"\n")
  math(EXPR offset "${offset} + 8000")
endwhile()
file(WRITE ${OUT} "// Generated from ${IN}; do not edit.\nnamespace loom::codegen::cuda {\nextern const char *const kKernelTemplates;\nconst char *const kKernelTemplates =\n${pieces};\n}\n")
