// RUN: loom-opt %s --loom-outline-kernels --loom-plan-buffers | FileCheck %s --check-prefix=UNFUSED
// RUN: loom-opt %s --loom-cache-raw-keys --loom-fuse-geglu --loom-fuse-projections --loom-fuse-attention-input --loom-fuse-residual --loom-fuse-vision-embed --loom-fold-norms --loom-outline-kernels --loom-plan-buffers | FileCheck %s

// Tests the default pipeline (the fuse phase of loom-compile, then outlining and planning) on
// the decoder of a two-layer tiny gemma4_unified (a sliding layer, then a full k_eq_v layer,
// as loom-compile --compile-to=import writes it) and its audio embedder.

// Unfused, a decoder call is 42 dispatches: 21 per sliding layer, 20 per full layer (no
// v_proj) and the final norm.
// UNFUSED-LABEL: func.func @decoder
// UNFUSED-COUNT-42: loom.dispatch
// UNFUSED-NOT: loom.dispatch
// UNFUSED: return

// Fused, it is 11: per layer the attention input, the attention, the o_proj residual, the
// GeGLU projection and the down_proj residual; then the final norm.
// CHECK-LABEL: func.func @embed_audio
// CHECK: loom.dispatch @[[AUDIO:fused_linear_[0-9]+]](%arg0, %{{.*}})
// CHECK-LABEL: func.func @decoder
// CHECK-SAME: (%[[X:[^:]*]]: tensor<?x64xf32>, %[[B:[^:]*]]: tensor<?xi32>, %[[S:[^:]*]]: i32)
// CHECK: %[[IN0:.*]]:3 = loom.dispatch @[[SLIDING_IN:attention_input_[0-9]+]](%[[X]], {{.*}}, %[[S]])
// CHECK-NEXT: %[[A0:.*]] = loom.dispatch @[[SLIDING:attention_[0-9]+]](%[[IN0]]#0, %[[IN0]]#1, %[[IN0]]#2, %[[B]], %[[S]]) {{{.*}}layer = 0 : i64}
// CHECK-NEXT: loom.kv_append %[[IN0]]#1, %[[IN0]]#2, %[[S]] {layer = 0 : i64}
// CHECK-NEXT: %[[A0F:.*]] = loom.reshape %[[A0]]
// CHECK: %[[X1:.*]] = loom.dispatch @[[O_RES:linear_residual_[0-9]+]](%[[A0F]], %{{.*}}, %{{.*}}, %[[X]])
// CHECK: %[[H0:.*]] = loom.dispatch @[[GEGLU:geglu_linear_[0-9]+]](%[[X1]], %{{.*}}, %{{.*}}, %{{.*}})
// CHECK: %[[X2:.*]] = loom.dispatch @[[DOWN_RES:linear_residual_[0-9]+]](%[[H0]], %{{.*}}, %{{.*}}, %[[X1]], %{{.*}})
// The full layer: a raw-key attention input (query and raw k) and the keys-only cache.
// CHECK: %[[IN1:.*]]:2 = loom.dispatch @[[FULL_IN:attention_input_[0-9]+]](%[[X2]], {{.*}}, %[[S]])
// CHECK: %[[A1:.*]] = loom.dispatch @[[FULL:raw_key_attention_[0-9]+]](%[[IN1]]#0, %[[IN1]]#1, %{{.*}}, %[[B]], %[[S]]) {{{.*}}layer = 1 : i64}
// CHECK-NEXT: loom.kv_append_raw %[[IN1]]#1, %[[S]] {layer = 1 : i64}
// CHECK: loom.dispatch @{{linear_residual_[0-9]+}}
// The MLP kernels are shared by both layers.
// CHECK: loom.dispatch @[[GEGLU]](
// CHECK: loom.dispatch @[[DOWN_RES]](
// CHECK: loom.dispatch @{{rms_norm_[0-9]+}}
// CHECK-NEXT: return
// CHECK: loom.kernel @[[AUDIO]]
// CHECK-NEXT: ^bb0
// CHECK-NEXT: loom.fused_linear %{{.*}} weights(%{{.*}}) {norm_eps
// CHECK: loom.kernel @[[SLIDING_IN]]
// CHECK-NEXT: ^bb0
// CHECK-NEXT: loom.attention_input %{{.*}} norm_weight %{{.*}} q %{{.*}} k %{{.*}} v %{{.*}} q_norm %{{.*}} k_norm
// CHECK: loom.kernel @[[FULL_IN]]
// CHECK-NEXT: ^bb0
// CHECK-NEXT: loom.attention_input {{.*}}raw_key

loom.weight_decl @model.language_model.layers.0.input_layernorm.weight {name = "model.language_model.layers.0.input_layernorm.weight", source_file = "model.safetensors", source_offset = 33559200 : i64, source_type = bf16, type = tensor<64xbf16>}
loom.weight_decl @model.language_model.layers.0.self_attn.q_proj.weight {name = "model.language_model.layers.0.self_attn.q_proj.weight", source_file = "model.safetensors", source_offset = 33559328 : i64, source_type = bf16, type = tensor<64x64xbf16>}
loom.weight_decl @model.language_model.layers.0.self_attn.k_proj.weight {name = "model.language_model.layers.0.self_attn.k_proj.weight", source_file = "model.safetensors", source_offset = 33567520 : i64, source_type = bf16, type = tensor<32x64xbf16>}
loom.weight_decl @model.language_model.layers.0.self_attn.v_proj.weight {name = "model.language_model.layers.0.self_attn.v_proj.weight", source_file = "model.safetensors", source_offset = 33571616 : i64, source_type = bf16, type = tensor<32x64xbf16>}
loom.weight_decl @model.language_model.layers.0.self_attn.o_proj.weight {name = "model.language_model.layers.0.self_attn.o_proj.weight", source_file = "model.safetensors", source_offset = 33575712 : i64, source_type = bf16, type = tensor<64x64xbf16>}
loom.weight_decl @model.language_model.layers.0.self_attn.q_norm.weight {name = "model.language_model.layers.0.self_attn.q_norm.weight", source_file = "model.safetensors", source_offset = 33583904 : i64, source_type = bf16, type = tensor<16xbf16>}
loom.weight_decl @model.language_model.layers.0.self_attn.k_norm.weight {name = "model.language_model.layers.0.self_attn.k_norm.weight", source_file = "model.safetensors", source_offset = 33583936 : i64, source_type = bf16, type = tensor<16xbf16>}
loom.weight_decl @model.language_model.layers.0.post_attention_layernorm.weight {name = "model.language_model.layers.0.post_attention_layernorm.weight", source_file = "model.safetensors", source_offset = 33583968 : i64, source_type = bf16, type = tensor<64xbf16>}
loom.weight_decl @model.language_model.layers.0.pre_feedforward_layernorm.weight {name = "model.language_model.layers.0.pre_feedforward_layernorm.weight", source_file = "model.safetensors", source_offset = 33584096 : i64, source_type = bf16, type = tensor<64xbf16>}
loom.weight_decl @model.language_model.layers.0.mlp.gate_proj.weight {name = "model.language_model.layers.0.mlp.gate_proj.weight", source_file = "model.safetensors", source_offset = 33584224 : i64, source_type = bf16, type = tensor<128x64xbf16>}
loom.weight_decl @model.language_model.layers.0.mlp.up_proj.weight {name = "model.language_model.layers.0.mlp.up_proj.weight", source_file = "model.safetensors", source_offset = 33600608 : i64, source_type = bf16, type = tensor<128x64xbf16>}
loom.weight_decl @model.language_model.layers.0.mlp.down_proj.weight {name = "model.language_model.layers.0.mlp.down_proj.weight", source_file = "model.safetensors", source_offset = 33616992 : i64, source_type = bf16, type = tensor<64x128xbf16>}
loom.weight_decl @model.language_model.layers.0.post_feedforward_layernorm.weight {name = "model.language_model.layers.0.post_feedforward_layernorm.weight", source_file = "model.safetensors", source_offset = 33633376 : i64, source_type = bf16, type = tensor<64xbf16>}
loom.weight_decl @model.language_model.layers.0.layer_scalar {name = "model.language_model.layers.0.layer_scalar", source_file = "model.safetensors", source_offset = 33633504 : i64, source_type = bf16, type = tensor<1xbf16>}
loom.weight_decl @model.language_model.layers.1.input_layernorm.weight {name = "model.language_model.layers.1.input_layernorm.weight", source_file = "model.safetensors", source_offset = 33633506 : i64, source_type = bf16, type = tensor<64xbf16>}
loom.weight_decl @model.language_model.layers.1.self_attn.q_proj.weight {name = "model.language_model.layers.1.self_attn.q_proj.weight", source_file = "model.safetensors", source_offset = 33633634 : i64, source_type = bf16, type = tensor<128x64xbf16>}
loom.weight_decl @model.language_model.layers.1.self_attn.k_proj.weight {name = "model.language_model.layers.1.self_attn.k_proj.weight", source_file = "model.safetensors", source_offset = 33650018 : i64, source_type = bf16, type = tensor<32x64xbf16>}
loom.weight_decl @model.language_model.layers.1.self_attn.o_proj.weight {name = "model.language_model.layers.1.self_attn.o_proj.weight", source_file = "model.safetensors", source_offset = 33654114 : i64, source_type = bf16, type = tensor<64x128xbf16>}
loom.weight_decl @model.language_model.layers.1.self_attn.q_norm.weight {name = "model.language_model.layers.1.self_attn.q_norm.weight", source_file = "model.safetensors", source_offset = 33670498 : i64, source_type = bf16, type = tensor<32xbf16>}
loom.weight_decl @model.language_model.layers.1.self_attn.k_norm.weight {name = "model.language_model.layers.1.self_attn.k_norm.weight", source_file = "model.safetensors", source_offset = 33670562 : i64, source_type = bf16, type = tensor<32xbf16>}
loom.weight_decl @model.language_model.layers.1.post_attention_layernorm.weight {name = "model.language_model.layers.1.post_attention_layernorm.weight", source_file = "model.safetensors", source_offset = 33670626 : i64, source_type = bf16, type = tensor<64xbf16>}
loom.weight_decl @model.language_model.layers.1.pre_feedforward_layernorm.weight {name = "model.language_model.layers.1.pre_feedforward_layernorm.weight", source_file = "model.safetensors", source_offset = 33670754 : i64, source_type = bf16, type = tensor<64xbf16>}
loom.weight_decl @model.language_model.layers.1.mlp.gate_proj.weight {name = "model.language_model.layers.1.mlp.gate_proj.weight", source_file = "model.safetensors", source_offset = 33670882 : i64, source_type = bf16, type = tensor<128x64xbf16>}
loom.weight_decl @model.language_model.layers.1.mlp.up_proj.weight {name = "model.language_model.layers.1.mlp.up_proj.weight", source_file = "model.safetensors", source_offset = 33687266 : i64, source_type = bf16, type = tensor<128x64xbf16>}
loom.weight_decl @model.language_model.layers.1.mlp.down_proj.weight {name = "model.language_model.layers.1.mlp.down_proj.weight", source_file = "model.safetensors", source_offset = 33703650 : i64, source_type = bf16, type = tensor<64x128xbf16>}
loom.weight_decl @model.language_model.layers.1.post_feedforward_layernorm.weight {name = "model.language_model.layers.1.post_feedforward_layernorm.weight", source_file = "model.safetensors", source_offset = 33720034 : i64, source_type = bf16, type = tensor<64xbf16>}
loom.weight_decl @model.language_model.layers.1.layer_scalar {name = "model.language_model.layers.1.layer_scalar", source_file = "model.safetensors", source_offset = 33720162 : i64, source_type = bf16, type = tensor<1xbf16>}
loom.weight_decl @model.language_model.norm.weight {name = "model.language_model.norm.weight", source_file = "model.safetensors", source_offset = 33720164 : i64, source_type = bf16, type = tensor<64xbf16>}
loom.weight_decl @model.embed_audio.embedding_projection.weight {name = "model.embed_audio.embedding_projection.weight", source_file = "model.safetensors", source_offset = 34633156 : i64, source_type = bf16, type = tensor<64x640xbf16>}

func.func @embed_audio(%arg0: tensor<?x640xf32>) -> tensor<?x64xf32> attributes {loom.entry} {
  %0 = loom.rms_norm %arg0 {eps = 9.9999999999999995E-7 : f64} : (tensor<?x640xf32>) -> tensor<?x640xf32>
  %1 = loom.weight @model.embed_audio.embedding_projection.weight : tensor<64x640xbf16>
  %2 = loom.linear %0, %1 : (tensor<?x640xf32>, tensor<64x640xbf16>) -> tensor<?x64xf32>
  return %2 : tensor<?x64xf32>
}

func.func @decoder(%arg0: tensor<?x64xf32>, %arg1: tensor<?xi32>, %arg2: i32) -> tensor<?x64xf32> attributes {loom.entry} {
  %0 = loom.weight @model.language_model.layers.0.input_layernorm.weight : tensor<64xbf16>
  %1 = loom.rms_norm %arg0, %0 {eps = 9.9999999999999995E-7 : f64} : (tensor<?x64xf32>, tensor<64xbf16>) -> tensor<?x64xf32>
  %2 = loom.weight @model.language_model.layers.0.self_attn.q_proj.weight : tensor<64x64xbf16>
  %3 = loom.linear %1, %2 : (tensor<?x64xf32>, tensor<64x64xbf16>) -> tensor<?x64xf32>
  %4 = loom.reshape %3 : (tensor<?x64xf32>) -> tensor<?x4x16xf32>
  %5 = loom.weight @model.language_model.layers.0.self_attn.q_norm.weight : tensor<16xbf16>
  %6 = loom.rms_norm %4, %5 {eps = 9.9999999999999995E-7 : f64} : (tensor<?x4x16xf32>, tensor<16xbf16>) -> tensor<?x4x16xf32>
  %7 = loom.rope %6, %arg2 {rotated_pairs = 8 : i64, theta = 1.000000e+04 : f64} : (tensor<?x4x16xf32>, i32) -> tensor<?x4x16xf32>
  %8 = loom.weight @model.language_model.layers.0.self_attn.k_proj.weight : tensor<32x64xbf16>
  %9 = loom.linear %1, %8 : (tensor<?x64xf32>, tensor<32x64xbf16>) -> tensor<?x32xf32>
  %10 = loom.reshape %9 : (tensor<?x32xf32>) -> tensor<?x2x16xf32>
  %11 = loom.weight @model.language_model.layers.0.self_attn.v_proj.weight : tensor<32x64xbf16>
  %12 = loom.linear %1, %11 : (tensor<?x64xf32>, tensor<32x64xbf16>) -> tensor<?x32xf32>
  %13 = loom.reshape %12 : (tensor<?x32xf32>) -> tensor<?x2x16xf32>
  %14 = loom.weight @model.language_model.layers.0.self_attn.k_norm.weight : tensor<16xbf16>
  %15 = loom.rms_norm %10, %14 {eps = 9.9999999999999995E-7 : f64} : (tensor<?x2x16xf32>, tensor<16xbf16>) -> tensor<?x2x16xf32>
  %16 = loom.rope %15, %arg2 {rotated_pairs = 8 : i64, theta = 1.000000e+04 : f64} : (tensor<?x2x16xf32>, i32) -> tensor<?x2x16xf32>
  %17 = loom.rms_norm %13 {eps = 9.9999999999999995E-7 : f64} : (tensor<?x2x16xf32>) -> tensor<?x2x16xf32>
  %18 = loom.attention %7, %16, %17, %arg1, %arg2 {image_blocks, layer = 0 : i64, scale = 1.000000e+00 : f64, window = 128 : i64} : (tensor<?x4x16xf32>, tensor<?x2x16xf32>, tensor<?x2x16xf32>, tensor<?xi32>, i32) -> tensor<?x4x16xf32>
  loom.kv_append %16, %17, %arg2 {layer = 0 : i64} : tensor<?x2x16xf32>, tensor<?x2x16xf32>
  %19 = loom.reshape %18 : (tensor<?x4x16xf32>) -> tensor<?x64xf32>
  %20 = loom.weight @model.language_model.layers.0.self_attn.o_proj.weight : tensor<64x64xbf16>
  %21 = loom.linear %19, %20 : (tensor<?x64xf32>, tensor<64x64xbf16>) -> tensor<?x64xf32>
  %22 = loom.weight @model.language_model.layers.0.post_attention_layernorm.weight : tensor<64xbf16>
  %23 = loom.rms_norm %21, %22 {eps = 9.9999999999999995E-7 : f64} : (tensor<?x64xf32>, tensor<64xbf16>) -> tensor<?x64xf32>
  %24 = loom.add %arg0, %23 : (tensor<?x64xf32>, tensor<?x64xf32>) -> tensor<?x64xf32>
  %25 = loom.weight @model.language_model.layers.0.pre_feedforward_layernorm.weight : tensor<64xbf16>
  %26 = loom.rms_norm %24, %25 {eps = 9.9999999999999995E-7 : f64} : (tensor<?x64xf32>, tensor<64xbf16>) -> tensor<?x64xf32>
  %27 = loom.weight @model.language_model.layers.0.mlp.gate_proj.weight : tensor<128x64xbf16>
  %28 = loom.linear %26, %27 : (tensor<?x64xf32>, tensor<128x64xbf16>) -> tensor<?x128xf32>
  %29 = loom.weight @model.language_model.layers.0.mlp.up_proj.weight : tensor<128x64xbf16>
  %30 = loom.linear %26, %29 : (tensor<?x64xf32>, tensor<128x64xbf16>) -> tensor<?x128xf32>
  %31 = loom.geglu %28, %30 : (tensor<?x128xf32>, tensor<?x128xf32>) -> tensor<?x128xf32>
  %32 = loom.weight @model.language_model.layers.0.mlp.down_proj.weight : tensor<64x128xbf16>
  %33 = loom.linear %31, %32 : (tensor<?x128xf32>, tensor<64x128xbf16>) -> tensor<?x64xf32>
  %34 = loom.weight @model.language_model.layers.0.post_feedforward_layernorm.weight : tensor<64xbf16>
  %35 = loom.rms_norm %33, %34 {eps = 9.9999999999999995E-7 : f64} : (tensor<?x64xf32>, tensor<64xbf16>) -> tensor<?x64xf32>
  %36 = loom.add %24, %35 : (tensor<?x64xf32>, tensor<?x64xf32>) -> tensor<?x64xf32>
  %37 = loom.weight @model.language_model.layers.0.layer_scalar : tensor<1xbf16>
  %38 = loom.scale %36, %37 : (tensor<?x64xf32>, tensor<1xbf16>) -> tensor<?x64xf32>
  %39 = loom.weight @model.language_model.layers.1.input_layernorm.weight : tensor<64xbf16>
  %40 = loom.rms_norm %38, %39 {eps = 9.9999999999999995E-7 : f64} : (tensor<?x64xf32>, tensor<64xbf16>) -> tensor<?x64xf32>
  %41 = loom.weight @model.language_model.layers.1.self_attn.q_proj.weight : tensor<128x64xbf16>
  %42 = loom.linear %40, %41 : (tensor<?x64xf32>, tensor<128x64xbf16>) -> tensor<?x128xf32>
  %43 = loom.reshape %42 : (tensor<?x128xf32>) -> tensor<?x4x32xf32>
  %44 = loom.weight @model.language_model.layers.1.self_attn.q_norm.weight : tensor<32xbf16>
  %45 = loom.rms_norm %43, %44 {eps = 9.9999999999999995E-7 : f64} : (tensor<?x4x32xf32>, tensor<32xbf16>) -> tensor<?x4x32xf32>
  %46 = loom.rope %45, %arg2 {rotated_pairs = 4 : i64, theta = 1.000000e+06 : f64} : (tensor<?x4x32xf32>, i32) -> tensor<?x4x32xf32>
  %47 = loom.weight @model.language_model.layers.1.self_attn.k_proj.weight : tensor<32x64xbf16>
  %48 = loom.linear %40, %47 : (tensor<?x64xf32>, tensor<32x64xbf16>) -> tensor<?x32xf32>
  %49 = loom.reshape %48 : (tensor<?x32xf32>) -> tensor<?x1x32xf32>
  %50 = loom.weight @model.language_model.layers.1.self_attn.k_norm.weight : tensor<32xbf16>
  %51 = loom.rms_norm %49, %50 {eps = 9.9999999999999995E-7 : f64} : (tensor<?x1x32xf32>, tensor<32xbf16>) -> tensor<?x1x32xf32>
  %52 = loom.rope %51, %arg2 {rotated_pairs = 4 : i64, theta = 1.000000e+06 : f64} : (tensor<?x1x32xf32>, i32) -> tensor<?x1x32xf32>
  %53 = loom.rms_norm %49 {eps = 9.9999999999999995E-7 : f64} : (tensor<?x1x32xf32>) -> tensor<?x1x32xf32>
  %54 = loom.attention %46, %52, %53, %arg1, %arg2 {layer = 1 : i64, scale = 1.000000e+00 : f64, window = 0 : i64} : (tensor<?x4x32xf32>, tensor<?x1x32xf32>, tensor<?x1x32xf32>, tensor<?xi32>, i32) -> tensor<?x4x32xf32>
  loom.kv_append %52, %53, %arg2 {layer = 1 : i64} : tensor<?x1x32xf32>, tensor<?x1x32xf32>
  %55 = loom.reshape %54 : (tensor<?x4x32xf32>) -> tensor<?x128xf32>
  %56 = loom.weight @model.language_model.layers.1.self_attn.o_proj.weight : tensor<64x128xbf16>
  %57 = loom.linear %55, %56 : (tensor<?x128xf32>, tensor<64x128xbf16>) -> tensor<?x64xf32>
  %58 = loom.weight @model.language_model.layers.1.post_attention_layernorm.weight : tensor<64xbf16>
  %59 = loom.rms_norm %57, %58 {eps = 9.9999999999999995E-7 : f64} : (tensor<?x64xf32>, tensor<64xbf16>) -> tensor<?x64xf32>
  %60 = loom.add %38, %59 : (tensor<?x64xf32>, tensor<?x64xf32>) -> tensor<?x64xf32>
  %61 = loom.weight @model.language_model.layers.1.pre_feedforward_layernorm.weight : tensor<64xbf16>
  %62 = loom.rms_norm %60, %61 {eps = 9.9999999999999995E-7 : f64} : (tensor<?x64xf32>, tensor<64xbf16>) -> tensor<?x64xf32>
  %63 = loom.weight @model.language_model.layers.1.mlp.gate_proj.weight : tensor<128x64xbf16>
  %64 = loom.linear %62, %63 : (tensor<?x64xf32>, tensor<128x64xbf16>) -> tensor<?x128xf32>
  %65 = loom.weight @model.language_model.layers.1.mlp.up_proj.weight : tensor<128x64xbf16>
  %66 = loom.linear %62, %65 : (tensor<?x64xf32>, tensor<128x64xbf16>) -> tensor<?x128xf32>
  %67 = loom.geglu %64, %66 : (tensor<?x128xf32>, tensor<?x128xf32>) -> tensor<?x128xf32>
  %68 = loom.weight @model.language_model.layers.1.mlp.down_proj.weight : tensor<64x128xbf16>
  %69 = loom.linear %67, %68 : (tensor<?x128xf32>, tensor<64x128xbf16>) -> tensor<?x64xf32>
  %70 = loom.weight @model.language_model.layers.1.post_feedforward_layernorm.weight : tensor<64xbf16>
  %71 = loom.rms_norm %69, %70 {eps = 9.9999999999999995E-7 : f64} : (tensor<?x64xf32>, tensor<64xbf16>) -> tensor<?x64xf32>
  %72 = loom.add %60, %71 : (tensor<?x64xf32>, tensor<?x64xf32>) -> tensor<?x64xf32>
  %73 = loom.weight @model.language_model.layers.1.layer_scalar : tensor<1xbf16>
  %74 = loom.scale %72, %73 : (tensor<?x64xf32>, tensor<1xbf16>) -> tensor<?x64xf32>
  %75 = loom.weight @model.language_model.norm.weight : tensor<64xbf16>
  %76 = loom.rms_norm %74, %75 {eps = 9.9999999999999995E-7 : f64} : (tensor<?x64xf32>, tensor<64xbf16>) -> tensor<?x64xf32>
  return %76 : tensor<?x64xf32>
}
