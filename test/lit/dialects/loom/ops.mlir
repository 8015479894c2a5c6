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

// -----

// Tests that the fused ops (made by the fusion passes) parse, verify and print back.

// CHECK-LABEL: func.func @fused
// CHECK-SAME: (%[[X:[^:]*]]: tensor<?x64xf32>, %[[N:[^:]*]]: tensor<64xf32>, %[[WQ:[^:]*]]: tensor<64x64xf32>, %[[WK:[^:]*]]: tensor<32x64xf32>, %[[HN:[^:]*]]: tensor<16xf32>, %[[WG:[^:]*]]: tensor<128x64xf32>, %[[WD:[^:]*]]: tensor<64x128xf32>, %[[LS:[^:]*]]: tensor<1xf32>, %[[B:[^:]*]]: tensor<?xi32>, %[[S:[^:]*]]: i32)
func.func @fused(%x: tensor<?x64xf32>, %n: tensor<64xf32>, %wq: tensor<64x64xf32>, %wk: tensor<32x64xf32>, %hn: tensor<16xf32>, %wg: tensor<128x64xf32>, %wd: tensor<64x128xf32>, %ls: tensor<1xf32>, %b: tensor<?xi32>, %s: i32) -> tensor<?x64xf32> {
  // CHECK: %[[P:.*]]:2 = loom.fused_linear %[[X]] norm_weight %[[N]] weights(%[[WQ]], %[[WK]]) {norm_eps = 9.9999999999999995E-7 : f64} : (tensor<?x64xf32>, tensor<64xf32>, tensor<64x64xf32>, tensor<32x64xf32>) -> (tensor<?x64xf32>, tensor<?x32xf32>)
  %p:2 = loom.fused_linear %x norm_weight %n weights(%wq, %wk) {norm_eps = 1.0e-6 : f64} : (tensor<?x64xf32>, tensor<64xf32>, tensor<64x64xf32>, tensor<32x64xf32>) -> (tensor<?x64xf32>, tensor<?x32xf32>)
  // CHECK: loom.fused_linear %[[X]] norm_weight %[[N]] norm_bias %[[N]] weights(%[[WQ]]) biases(%[[N]]) {norm_eps = 1.000000e-05 : f64}
  %l = loom.fused_linear %x norm_weight %n norm_bias %n weights(%wq) biases(%n) {norm_eps = 1.0e-5 : f64} : (tensor<?x64xf32>, tensor<64xf32>, tensor<64xf32>, tensor<64x64xf32>, tensor<64xf32>) -> tensor<?x64xf32>
  // CHECK: %[[QUERY:[a-z_0-9]+]], %[[KEY:[a-z_0-9]+]], %[[VALUE:[a-z_0-9]+]] = loom.attention_input %[[X]] norm_weight %[[N]] q %[[WQ]] k %[[WK]] q_norm %[[HN]] k_norm %[[HN]] start %[[S]] {head_eps = 9.9999999999999995E-7 : f64, norm_eps = 9.9999999999999995E-7 : f64, rotated_pairs = 8 : i64, theta = 1.000000e+04 : f64}
  %query, %key, %value = loom.attention_input %x norm_weight %n q %wq k %wk q_norm %hn k_norm %hn start %s {norm_eps = 1.0e-6 : f64, head_eps = 1.0e-6 : f64, theta = 1.0e4 : f64, rotated_pairs = 8 : i64} : (tensor<?x64xf32>, tensor<64xf32>, tensor<64x64xf32>, tensor<32x64xf32>, tensor<16xf32>, tensor<16xf32>, i32) -> (tensor<?x4x16xf32>, tensor<?x2x16xf32>, tensor<?x2x16xf32>)
  // CHECK: %[[RQ:[a-z_0-9]+]], %[[RAW:[a-z_0-9]+]] = loom.attention_input %[[X]] q %[[WQ]] k %[[WK]] q_norm %[[HN]] start %[[S]] {{{.*}}raw_key
  %rq, %raw = loom.attention_input %x q %wq k %wk q_norm %hn start %s {head_eps = 1.0e-6 : f64, theta = 1.0e4 : f64, rotated_pairs = 8 : i64, raw_key} : (tensor<?x64xf32>, tensor<64x64xf32>, tensor<32x64xf32>, tensor<16xf32>, i32) -> (tensor<?x4x16xf32>, tensor<?x2x16xf32>)
  // CHECK: %[[A:.*]] = loom.raw_key_attention %[[RQ]], %[[RAW]], %[[HN]], %[[B]], %[[S]] {eps = {{.*}}, layer = 3 : i64, rotated_pairs = 8 : i64, scale = 1.000000e+00 : f64, theta = 1.000000e+04 : f64, window = 0 : i64}
  %a = loom.raw_key_attention %rq, %raw, %hn, %b, %s {layer = 3 : i64, window = 0 : i64, scale = 1.0 : f64, eps = 1.0e-6 : f64, theta = 1.0e4 : f64, rotated_pairs = 8 : i64} : (tensor<?x4x16xf32>, tensor<?x2x16xf32>, tensor<16xf32>, tensor<?xi32>, i32) -> tensor<?x4x16xf32>
  // CHECK: loom.kv_append_raw %[[RAW]], %[[S]] {layer = 3 : i64} : tensor<?x2x16xf32>
  loom.kv_append_raw %raw, %s {layer = 3 : i64} : tensor<?x2x16xf32>
  // CHECK: %[[H:.*]] = loom.geglu_linear %[[X]] norm_weight %[[N]] gate %[[WG]] up %[[WG]] {norm_eps
  %h = loom.geglu_linear %x norm_weight %n gate %wg up %wg {norm_eps = 1.0e-6 : f64} : (tensor<?x64xf32>, tensor<64xf32>, tensor<128x64xf32>, tensor<128x64xf32>) -> tensor<?x128xf32>
  // CHECK: %[[R:.*]] = loom.linear_residual %[[H]], %[[WD]], %[[N]], %[[X]] scalar %[[LS]] {eps
  %r = loom.linear_residual %h, %wd, %n, %x scalar %ls {eps = 1.0e-6 : f64} : (tensor<?x128xf32>, tensor<64x128xf32>, tensor<64xf32>, tensor<?x64xf32>, tensor<1xf32>) -> tensor<?x64xf32>
  return %r : tensor<?x64xf32>
}

// -----

// CHECK-LABEL: func.func @patches
func.func @patches(%p: tensor<?x96xf32>, %xy: tensor<?x2xi32>, %v96: tensor<96xf32>, %wd: tensor<48x96xf32>, %v48: tensor<48xf32>, %table: tensor<10x2x48xf32>, %wp: tensor<64x48xf32>) -> tensor<?x64xf32> {
  // CHECK: loom.patch_embed %{{.*}}, %{{.*}} ln1(%{{.*}}, %{{.*}}) dense(%{{.*}}, %{{.*}}) ln2(%{{.*}}, %{{.*}}) positions(%{{.*}}) pos_norm(%{{.*}}, %{{.*}}) projection(%{{.*}}) {ln_eps = 1.000000e-05 : f64, rms_eps = 9.9999999999999995E-7 : f64}
  %e = loom.patch_embed %p, %xy ln1(%v96, %v96) dense(%wd, %v48) ln2(%v48, %v48) positions(%table) pos_norm(%v48, %v48) projection(%wp) {ln_eps = 1.0e-5 : f64, rms_eps = 1.0e-6 : f64} : (tensor<?x96xf32>, tensor<?x2xi32>, tensor<96xf32>, tensor<96xf32>, tensor<48x96xf32>, tensor<48xf32>, tensor<48xf32>, tensor<48xf32>, tensor<10x2x48xf32>, tensor<48xf32>, tensor<48xf32>, tensor<64x48xf32>) -> tensor<?x64xf32>
  return %e : tensor<?x64xf32>
}
