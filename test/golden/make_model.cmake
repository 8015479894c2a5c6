# Makes one golden model: the synthetic checkpoint (checked against the golden's checksum, so a
# changed generator cannot silently change what is compared) and its f32 artifact.
#   cmake -DLOOM_MODEL=... -DLOOM_COMPILE=... -DARGS="make --preset tiny --seed 1" -DCASE=... -DOUT=... -P make_model.cmake
separate_arguments(model_args UNIX_COMMAND "${ARGS}")
file(REMOVE_RECURSE ${OUT})
execute_process(COMMAND ${LOOM_MODEL} ${model_args} -o ${OUT} RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "loom-model failed: ${rc}")
endif()
file(READ ${CASE} golden)
string(JSON expected GET "${golden}" checkpoint_sha256 model.safetensors)
file(SHA256 ${OUT}/model.safetensors actual)
if(NOT actual STREQUAL expected)
  message(FATAL_ERROR "${OUT}/model.safetensors: sha256 ${actual} differs from the golden's ${expected}: "
                      "loom-model changed; regenerate the goldens (tools/golden/README.md)")
endif()
execute_process(COMMAND ${LOOM_COMPILE} ${OUT} -o ${OUT}.loom --target=host --quant=f32 --max-context 512
                RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "loom-compile failed: ${rc}")
endif()
