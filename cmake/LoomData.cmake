# The Gemma tokenizer.json files (33 MB each) are kept xz-compressed in test/data/tokenizer and
# unpacked into the build tree: LOOM_GEMMA4_TOKENIZER_JSON and LOOM_GEMMA3_TOKENIZER_JSON.
find_program(XZ_PROGRAM xz REQUIRED)
set(LOOM_TOKENIZER_DATA ${PROJECT_SOURCE_DIR}/test/data/tokenizer)
set(unpacked)
foreach(name gemma4 gemma3)
  string(TOUPPER ${name} upper)
  set(json ${PROJECT_BINARY_DIR}/data/${name}-tokenizer.json)
  set(LOOM_${upper}_TOKENIZER_JSON ${json})
  add_custom_command(
    OUTPUT ${json}
    COMMAND ${CMAKE_COMMAND} -E make_directory ${PROJECT_BINARY_DIR}/data
    COMMAND ${XZ_PROGRAM} -dc ${LOOM_TOKENIZER_DATA}/${name}-tokenizer.json.xz > ${json}
    DEPENDS ${LOOM_TOKENIZER_DATA}/${name}-tokenizer.json.xz
    COMMENT "Unpacking ${name}-tokenizer.json"
    VERBATIM)
  list(APPEND unpacked ${json})
endforeach()
add_custom_target(loom_tokenizer_data ALL DEPENDS ${unpacked})
