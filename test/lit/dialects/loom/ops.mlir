// RUN: loom-opt %s --split-input-file | FileCheck %s
// RUN: loom-opt %s --split-input-file | loom-opt --split-input-file | FileCheck %s
// RUN: loom-opt %s --split-input-file --mlir-print-op-generic | loom-opt --split-input-file | FileCheck %s

// Tests that every graph op of a Gemma 4 layer parses, verifies and prints back.

loom.weight_decl @embed {name = "model.language_model.embed_tokens.weight", source_file = "model.safetensors", source_offset = 0 : i64, source_type = bf16, type = tensor<1000x64xbf16>}
loom.weight_decl @norm {name = "model.language_model.norm.weight", source_file = "model.safetensors", source_offset = 128000 : i64, source_type = bf16, type = tensor<64xbf16>}
loom.weight_decl @q {name = "q_proj", source_file = "model.safetensors", source_offset = 128128 : i64, source_type = bf16, type = tensor<64x64xbf16>}
loom.weight_decl @qnorm {name = "q_norm", source_file = "model.safetensors", source_offset = 136320 : i64, source_type = bf16, type = tensor<16xbf16>}
loom.weight_decl @scalar {name = "layer_scalar", source_file = "model.safetensors", source_offset = 136352 : i64, source_type = bf16, type = tensor<1xbf16>}

// CHECK-LABEL: func.func @layer
// CHECK-SAME: (%[[IDS:.*]]: tensor<?xi32>, %[[BLOCKS:.*]]: tensor<?xi32>, %[[START:.*]]: i32)
func.func @layer(%ids: tensor<?xi32>, %blocks: tensor<?xi32>, %start: i32) -> tensor<?x64xf32> {
  // CHECK: %[[TABLE:.*]] = loom.weight @embed : tensor<1000x64xbf16>
  %table = loom.weight @embed : tensor<1000x64xbf16>
  // CHECK: %[[H:.*]] = loom.embed %[[IDS]], %[[TABLE]] {scale = 8.000000e+00 : f64}
  %h = loom.embed %ids, %table {scale = 8.0 : f64} : (tensor<?xi32>, tensor<1000x64xbf16>) -> tensor<?x64xf32>
  %nw = loom.weight @norm : tensor<64xbf16>
  // CHECK: %[[N:.*]] = loom.rms_norm %[[H]], %{{.*}} {eps = 9.9999999999999995E-7 : f64}
  %n = loom.rms_norm %h, %nw {eps = 1.0e-6 : f64} : (tensor<?x64xf32>, tensor<64xbf16>) -> tensor<?x64xf32>
  %qw = loom.weight @q : tensor<64x64xbf16>
  // CHECK: %[[Q:.*]] = loom.linear %[[N]], %{{.*}} :
  %q = loom.linear %n, %qw : (tensor<?x64xf32>, tensor<64x64xbf16>) -> tensor<?x64xf32>
  // CHECK: %[[QH:.*]] = loom.reshape %[[Q]] : (tensor<?x64xf32>) -> tensor<?x4x16xf32>
  %qh = loom.reshape %q : (tensor<?x64xf32>) -> tensor<?x4x16xf32>
  %qnw = loom.weight @qnorm : tensor<16xbf16>
  %qn = loom.rms_norm %qh, %qnw {eps = 1.0e-6 : f64} : (tensor<?x4x16xf32>, tensor<16xbf16>) -> tensor<?x4x16xf32>
  // CHECK: loom.rms_norm %{{.*}} {eps = {{.*}}} : (tensor<?x4x16xf32>) -> tensor<?x4x16xf32>
  %vn = loom.rms_norm %qh {eps = 1.0e-6 : f64} : (tensor<?x4x16xf32>) -> tensor<?x4x16xf32>
  // CHECK: %[[QR:.*]] = loom.rope %{{.*}}, %[[START]] {rotated_pairs = 2 : i64, theta = 1.000000e+06 : f64}
  %qr = loom.rope %qn, %start {theta = 1.0e6 : f64, rotated_pairs = 2 : i64} : (tensor<?x4x16xf32>, i32) -> tensor<?x4x16xf32>
  // CHECK: %[[A:.*]] = loom.attention %[[QR]], %[[QR]], %{{.*}}, %[[BLOCKS]], %[[START]] {layer = 3 : i64, scale = 1.000000e+00 : f64, window = 128 : i64}
  %a = loom.attention %qr, %qr, %vn, %blocks, %start {layer = 3 : i64, window = 128 : i64, scale = 1.0 : f64} : (tensor<?x4x16xf32>, tensor<?x4x16xf32>, tensor<?x4x16xf32>, tensor<?xi32>, i32) -> tensor<?x4x16xf32>
  // CHECK: loom.kv_append %[[QR]], %{{.*}}, %[[START]] {layer = 3 : i64}
  loom.kv_append %qr, %vn, %start {layer = 3 : i64} : tensor<?x4x16xf32>, tensor<?x4x16xf32>
  %a2 = loom.reshape %a : (tensor<?x4x16xf32>) -> tensor<?x64xf32>
  // CHECK: %[[G:.*]] = loom.geglu
  %g = loom.geglu %a2, %q : (tensor<?x64xf32>, tensor<?x64xf32>) -> tensor<?x64xf32>
  // CHECK: %[[S:.*]] = loom.add %[[H]], %[[G]]
  %s = loom.add %h, %g : (tensor<?x64xf32>, tensor<?x64xf32>) -> tensor<?x64xf32>
  %sw = loom.weight @scalar : tensor<1xbf16>
  // CHECK: %[[SC:.*]] = loom.scale %[[S]], %{{.*}}
  %sc = loom.scale %s, %sw : (tensor<?x64xf32>, tensor<1xbf16>) -> tensor<?x64xf32>
  // CHECK: loom.softcap %[[SC]] {cap = 3.000000e+01 : f64}
  %c = loom.softcap %sc {cap = 30.0 : f64} : (tensor<?x64xf32>) -> tensor<?x64xf32>
  return %c : tensor<?x64xf32>
}

// -----

loom.weight_decl @ln_w {name = "model.vision_embedder.patch_ln2.weight", source_file = "model.safetensors", source_offset = 0 : i64, source_type = f32, type = tensor<48xf32>}
loom.weight_decl @ln_b {name = "model.vision_embedder.patch_ln2.bias", source_file = "model.safetensors", source_offset = 192 : i64, source_type = f32, type = tensor<48xf32>}
loom.weight_decl @pos {name = "model.vision_embedder.pos_embedding", source_file = "model.safetensors", source_offset = 384 : i64, source_type = f32, type = tensor<1120x2x48xf32>}

// CHECK-LABEL: func.func @vision_tail
func.func @vision_tail(%x: tensor<?x48xf32>, %positions: tensor<?x2xi32>) -> tensor<?x48xf32> {
  %w = loom.weight @ln_w : tensor<48xf32>
  %b = loom.weight @ln_b : tensor<48xf32>
  // CHECK: %[[LN:.*]] = loom.layer_norm %{{.*}}, %{{.*}}, %{{.*}} {eps = 1.000000e-05 : f64}
  %ln = loom.layer_norm %x, %w, %b {eps = 1.0e-5 : f64} : (tensor<?x48xf32>, tensor<48xf32>, tensor<48xf32>) -> tensor<?x48xf32>
  %table = loom.weight @pos : tensor<1120x2x48xf32>
  // CHECK: loom.vision_position_add %[[LN]], %{{.*}}, %{{.*}} : (tensor<?x48xf32>, tensor<?x2xi32>, tensor<1120x2x48xf32>)
  %p = loom.vision_position_add %ln, %positions, %table : (tensor<?x48xf32>, tensor<?x2xi32>, tensor<1120x2x48xf32>) -> tensor<?x48xf32>
  return %p : tensor<?x48xf32>
}
