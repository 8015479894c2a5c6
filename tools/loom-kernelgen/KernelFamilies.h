// Every kernel family the compiler can emit, at Gemma 4 12B's shapes and in each weight type:
// what `loom-kernelgen --all-families` builds, so that the ISA audit and the assembly tests see
// every code path (GEMV and GEMM specializations, long-row panels, attention variants, the fused
// kinds, the vision and audio embedders) without compiling a 12B checkpoint.
#pragma once

#include "loom/Codegen/KernelSpec.h"

#include <string>
#include <vector>

namespace loom::kernelgen {

inline std::vector<codegen::KernelSpec> allKernelFamilies() {
  using namespace codegen;
  using Kind = InputNorm::Kind;
  const InputNorm rms{Kind::Rms, true, 1e-6};
  std::vector<KernelSpec> specs;
  const std::pair<ElementType, const char *> types[] = {
      {ElementType::F32, "f32"},     {ElementType::BF16, "bf16"},     {ElementType::Q8, "q8"},
      {ElementType::Q4G32, "q4g32"}, {ElementType::Q4G128, "q4g128"}};
  for (const auto &[type, name] : types) {
    const std::string t = name;
    specs.push_back({"embed_tokens_" + t, type, EmbedTokens{262144, 3840, 61.96773353931867}});
    specs.push_back({"linear_short_rows_" + t, type, Linear{3840, 4096, false}});
    specs.push_back({"linear_long_rows_" + t, type, Linear{15360, 3840, false}});
    specs.push_back({"fused_qkv_" + t, type, FusedLinear{3840, {4096, 2048, 2048}, rms, false}});
    specs.push_back({"geglu_linear_" + t, type, GegluLinear{3840, 15360, rms}});
    specs.push_back({"attention_input_sliding_" + t, type,
                     AttentionInput{3840, 16, 8, 256, rms, true, false, 1e-6, 1e4, 128}});
    specs.push_back({"attention_input_full_raw_key_" + t, type,
                     AttentionInput{3840, 16, 1, 512, rms, false, true, 1e-6, 1e6, 64}});
    specs.push_back({"linear_residual_" + t, type, LinearResidual{4096, 3840, 1e-6, true}});
    specs.push_back({"patch_embed_" + t, type, PatchEmbed{6912, 3840, 3840, 1120, 1e-5, 1e-6}});
  }
  const ElementType f32 = ElementType::F32;
  specs.push_back({"audio_frame_linear", f32, Linear{640, 3840, true}});
  specs.push_back({"attention_sliding_image_blocks", f32,
                   Attention{16, 8, 256, 1024, 1024, 1.0, true}});
  specs.push_back({"attention_full_causal", f32, Attention{16, 1, 512, 0, 4096, 1.0, false}});
  specs.push_back({"raw_key_attention_full", f32,
                   RawKeyAttention{{16, 1, 512, 0, 4096, 1.0, false}, 1e-6, 1e6, 64}});
  specs.push_back({"rms_norm", f32, RmsNorm{1, 3840, true, 1e-6}});
  specs.push_back({"rms_norm_heads_unscaled", f32, RmsNorm{8, 256, false, 1e-6}});
  specs.push_back({"layer_norm", f32, LayerNorm{6912, 1e-5}});
  specs.push_back({"rope_partial", f32, Rope{16, 512, 1e6, 64}});
  specs.push_back({"geglu", f32, GeGlu{15360}});
  specs.push_back({"add", f32, Add{3840}});
  specs.push_back({"scale", f32, Scale{3840}});
  specs.push_back({"softcap", f32, Softcap{262144, 30.0}});
  specs.push_back({"vision_position_add", f32, VisionPositionAdd{3840, 1120}});
  return specs;
}

} // namespace loom::kernelgen
