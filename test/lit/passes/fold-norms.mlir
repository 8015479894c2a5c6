// RUN: loom-opt %s --split-input-file --verify-diagnostics --allow-unregistered-dialect --loom-fold-norms | FileCheck %s

// Tests that a norm whose every user is a projection becomes their input norm: an RMSNorm
// into a GeGLU projection and an attention input, an unscaled RMSNorm into a plain linear
// (which becomes a fused_linear), and a LayerNorm with a biased linear.

loom.weight_decl @n {name = "norm", source_file = "m.safetensors", source_offset = 0 : i64, source_type = f32, type = tensor<64xf32>}
loom.weight_decl @g {name = "gate_proj", source_file = "m.safetensors", source_offset = 0 : i64, source_type = f32, type = tensor<128x64xf32>}
loom.weight_decl @u {name = "up_proj", source_file = "m.safetensors", source_offset = 0 : i64, source_type = f32, type = tensor<128x64xf32>}
loom.weight_decl @q {name = "q_proj", source_file = "m.safetensors", source_offset = 0 : i64, source_type = f32, type = tensor<64x64xf32>}
loom.weight_decl @k {name = "k_proj", source_file = "m.safetensors", source_offset = 0 : i64, source_type = f32, type = tensor<32x64xf32>}
loom.weight_decl @hn {name = "head_norm", source_file = "m.safetensors", source_offset = 0 : i64, source_type = f32, type = tensor<16xf32>}
loom.weight_decl @b {name = "bias", source_file = "m.safetensors", source_offset = 0 : i64, source_type = f32, type = tensor<64xf32>}

// CHECK-LABEL: func.func @projections
// CHECK-SAME: (%[[X:[^:]*]]: tensor<?x64xf32>, %[[S:[^:]*]]: i32)
func.func @projections(%x: tensor<?x64xf32>, %s: i32) -> (tensor<?x128xf32>, tensor<?x4x16xf32>, tensor<?x64xf32>, tensor<?x64xf32>) attributes {loom.entry} {
  // CHECK: %[[N:.*]] = loom.weight @n
  // CHECK: %[[H:.*]] = loom.geglu_linear %[[X]] norm_weight %[[N]] gate %{{.*}} up %{{.*}} {norm_eps = 9.9999999999999995E-7 : f64}
  // CHECK: %[[QUERY:[a-z_0-9]+]], %{{.*}}, %{{.*}} = loom.attention_input %[[X]] norm_weight %[[N]] q
  // CHECK-SAME: {head_eps = 9.9999999999999995E-7 : f64, norm_eps = 9.9999999999999995E-7 : f64
  // CHECK: %[[P:.*]] = loom.fused_linear %[[X]] weights(%{{.*}}) {norm_eps = 9.9999999999999995E-7 : f64}
  // CHECK: %[[L:.*]] = loom.fused_linear %[[X]] norm_weight %[[N]] norm_bias %[[B:[^ ]*]] weights(%{{.*}}) biases(%[[B]]) {norm_eps = 1.000000e-05 : f64}
  // CHECK-NEXT: return %[[H]], %[[QUERY]], %[[P]], %[[L]]
  // CHECK-NOT: _norm %
  %n = loom.weight @n : tensor<64xf32>
  %xn = loom.rms_norm %x, %n {eps = 1.0e-6 : f64} : (tensor<?x64xf32>, tensor<64xf32>) -> tensor<?x64xf32>
  %wg = loom.weight @g : tensor<128x64xf32>
  %wu = loom.weight @u : tensor<128x64xf32>
  %h = loom.geglu_linear %xn gate %wg up %wu : (tensor<?x64xf32>, tensor<128x64xf32>, tensor<128x64xf32>) -> tensor<?x128xf32>
  %wq = loom.weight @q : tensor<64x64xf32>
  %wk = loom.weight @k : tensor<32x64xf32>
  %hn = loom.weight @hn : tensor<16xf32>
  %query, %key, %value = loom.attention_input %xn q %wq k %wk q_norm %hn k_norm %hn start %s {head_eps = 1.0e-6 : f64, theta = 1.0e4 : f64, rotated_pairs = 8 : i64} : (tensor<?x64xf32>, tensor<64x64xf32>, tensor<32x64xf32>, tensor<16xf32>, tensor<16xf32>, i32) -> (tensor<?x4x16xf32>, tensor<?x2x16xf32>, tensor<?x2x16xf32>)
  %plain = loom.rms_norm %x {eps = 1.0e-6 : f64} : (tensor<?x64xf32>) -> tensor<?x64xf32>
  %p = loom.linear %plain, %wq : (tensor<?x64xf32>, tensor<64x64xf32>) -> tensor<?x64xf32>
  %bias = loom.weight @b : tensor<64xf32>
  %ln = loom.layer_norm %x, %n, %bias {eps = 1.0e-5 : f64} : (tensor<?x64xf32>, tensor<64xf32>, tensor<64xf32>) -> tensor<?x64xf32>
  %l = loom.linear %ln, %wq, %bias : (tensor<?x64xf32>, tensor<64x64xf32>, tensor<64xf32>) -> tensor<?x64xf32>
  return %h, %query, %p, %l : tensor<?x128xf32>, tensor<?x4x16xf32>, tensor<?x64xf32>, tensor<?x64xf32>
}

// -----

// Tests the norms left alone: one whose result also leaves the entry, a per-head norm, a
// LayerNorm read by a GeGLU projection (which takes an RMSNorm only) and one read by an add.

loom.weight_decl @n {name = "norm", source_file = "m.safetensors", source_offset = 0 : i64, source_type = f32, type = tensor<64xf32>}
loom.weight_decl @g {name = "gate_proj", source_file = "m.safetensors", source_offset = 0 : i64, source_type = f32, type = tensor<128x64xf32>}
loom.weight_decl @hn {name = "head_norm", source_file = "m.safetensors", source_offset = 0 : i64, source_type = f32, type = tensor<16xf32>}

// CHECK-LABEL: func.func @kept
// CHECK: %[[OUT:.*]] = loom.rms_norm %{{.*}}, %{{.*}} {eps
// CHECK: loom.linear %[[OUT]]
// CHECK: loom.rms_norm %{{.*}}, %{{.*}} {eps = {{.*}}} : (tensor<?x4x16xf32>
// CHECK: %[[LN:.*]] = loom.layer_norm
// CHECK: loom.geglu_linear %[[LN]] gate
// CHECK: %[[R:.*]] = loom.rms_norm %{{.*}} {eps
// CHECK: loom.add %{{.*}}, %[[R]]
// CHECK-NOT: norm_eps
func.func @kept(%x: tensor<?x64xf32>, %heads: tensor<?x4x16xf32>) -> (tensor<?x64xf32>, tensor<?x128xf32>, tensor<?x4x16xf32>, tensor<?x128xf32>, tensor<?x64xf32>) attributes {loom.entry} {
  %n = loom.weight @n : tensor<64xf32>
  %out = loom.rms_norm %x, %n {eps = 1.0e-6 : f64} : (tensor<?x64xf32>, tensor<64xf32>) -> tensor<?x64xf32>
  %wg = loom.weight @g : tensor<128x64xf32>
  %p = loom.linear %out, %wg : (tensor<?x64xf32>, tensor<128x64xf32>) -> tensor<?x128xf32>
  %hn = loom.weight @hn : tensor<16xf32>
  %hnorm = loom.rms_norm %heads, %hn {eps = 1.0e-6 : f64} : (tensor<?x4x16xf32>, tensor<16xf32>) -> tensor<?x4x16xf32>
  %ln = loom.layer_norm %x, %n, %n {eps = 1.0e-5 : f64} : (tensor<?x64xf32>, tensor<64xf32>, tensor<64xf32>) -> tensor<?x64xf32>
  %h = loom.geglu_linear %ln gate %wg up %wg : (tensor<?x64xf32>, tensor<128x64xf32>, tensor<128x64xf32>) -> tensor<?x128xf32>
  %r = loom.rms_norm %x {eps = 1.0e-6 : f64} : (tensor<?x64xf32>) -> tensor<?x64xf32>
  %sum = loom.add %x, %r : (tensor<?x64xf32>, tensor<?x64xf32>) -> tensor<?x64xf32>
  return %out, %p, %hnorm, %h, %sum : tensor<?x64xf32>, tensor<?x128xf32>, tensor<?x4x16xf32>, tensor<?x128xf32>, tensor<?x64xf32>
}

// -----

// Tests that an entry with more than one block is refused: the pass rewrites straight-line code.

// expected-error @+1 {{loom-fold-norms expects a single-block entry}}
func.func @branches(%x: tensor<?x64xf32>) -> tensor<?x64xf32> attributes {loom.entry} {
  "test.br"()[^bb1] : () -> ()
^bb1:
  return %x : tensor<?x64xf32>
}
