// RUN: loom-opt %s --split-input-file --verify-diagnostics --allow-unregistered-dialect --loom-fuse-residual | FileCheck %s

// Tests that the ends of a layer's attention block (o_proj, post-norm, residual) and MLP block
// (down_proj, post-norm, residual, layer scalar) each become one linear_residual; the residual
// may be either operand of the add.

loom.weight_decl @o {name = "o_proj", source_file = "m.safetensors", source_offset = 0 : i64, source_type = f32, type = tensor<64x64xf32>}
loom.weight_decl @d {name = "down_proj", source_file = "m.safetensors", source_offset = 0 : i64, source_type = f32, type = tensor<64x128xf32>}
loom.weight_decl @pa {name = "post_attention_layernorm", source_file = "m.safetensors", source_offset = 0 : i64, source_type = f32, type = tensor<64xf32>}
loom.weight_decl @pf {name = "post_feedforward_layernorm", source_file = "m.safetensors", source_offset = 0 : i64, source_type = f32, type = tensor<64xf32>}
loom.weight_decl @ls {name = "layer_scalar", source_file = "m.safetensors", source_offset = 0 : i64, source_type = f32, type = tensor<1xf32>}

// CHECK-LABEL: func.func @layer_ends
// CHECK-SAME: (%[[R:[^:]*]]: tensor<?x64xf32>, %[[ATT:[^:]*]]: tensor<?x64xf32>, %[[H:[^:]*]]: tensor<?x128xf32>)
func.func @layer_ends(%r: tensor<?x64xf32>, %att: tensor<?x64xf32>, %h: tensor<?x128xf32>) -> tensor<?x64xf32> attributes {loom.entry} {
  // CHECK: %[[WO:.*]] = loom.weight @o
  // CHECK: %[[PA:.*]] = loom.weight @pa
  // CHECK-NEXT: %[[X1:.*]] = loom.linear_residual %[[ATT]], %[[WO]], %[[PA]], %[[R]] {eps = 9.9999999999999995E-7 : f64} : (tensor<?x64xf32>, tensor<64x64xf32>, tensor<64xf32>, tensor<?x64xf32>) -> tensor<?x64xf32>
  // CHECK: %[[WD:.*]] = loom.weight @d
  // CHECK: %[[PF:.*]] = loom.weight @pf
  // CHECK: %[[LS:.*]] = loom.weight @ls
  // CHECK-NEXT: %[[X2:.*]] = loom.linear_residual %[[H]], %[[WD]], %[[PF]], %[[X1]] scalar %[[LS]] {eps = 9.9999999999999995E-7 : f64}
  // CHECK-NEXT: return %[[X2]]
  %wo = loom.weight @o : tensor<64x64xf32>
  %o = loom.linear %att, %wo : (tensor<?x64xf32>, tensor<64x64xf32>) -> tensor<?x64xf32>
  %pa = loom.weight @pa : tensor<64xf32>
  %on = loom.rms_norm %o, %pa {eps = 1.0e-6 : f64} : (tensor<?x64xf32>, tensor<64xf32>) -> tensor<?x64xf32>
  %x1 = loom.add %r, %on : (tensor<?x64xf32>, tensor<?x64xf32>) -> tensor<?x64xf32>
  %wd = loom.weight @d : tensor<64x128xf32>
  %d = loom.linear %h, %wd : (tensor<?x128xf32>, tensor<64x128xf32>) -> tensor<?x64xf32>
  %pf = loom.weight @pf : tensor<64xf32>
  %dn = loom.rms_norm %d, %pf {eps = 1.0e-6 : f64} : (tensor<?x64xf32>, tensor<64xf32>) -> tensor<?x64xf32>
  %sum = loom.add %dn, %x1 : (tensor<?x64xf32>, tensor<?x64xf32>) -> tensor<?x64xf32>
  %ls = loom.weight @ls : tensor<1xf32>
  %x2 = loom.scale %sum, %ls : (tensor<?x64xf32>, tensor<1xf32>) -> tensor<?x64xf32>
  return %x2 : tensor<?x64xf32>
}

// -----

// Tests the cases left alone: an unscaled post-norm, a normed projection also read elsewhere,
// and a sum that is read besides the scale (the scale then stays a separate op).

loom.weight_decl @o {name = "o_proj", source_file = "m.safetensors", source_offset = 0 : i64, source_type = f32, type = tensor<64x64xf32>}
loom.weight_decl @pa {name = "post_attention_layernorm", source_file = "m.safetensors", source_offset = 0 : i64, source_type = f32, type = tensor<64xf32>}
loom.weight_decl @ls {name = "layer_scalar", source_file = "m.safetensors", source_offset = 0 : i64, source_type = f32, type = tensor<1xf32>}

// CHECK-LABEL: func.func @unscaled_norm
// CHECK: loom.add
// CHECK-NOT: loom.linear_residual
func.func @unscaled_norm(%r: tensor<?x64xf32>, %att: tensor<?x64xf32>) -> tensor<?x64xf32> attributes {loom.entry} {
  %wo = loom.weight @o : tensor<64x64xf32>
  %o = loom.linear %att, %wo : (tensor<?x64xf32>, tensor<64x64xf32>) -> tensor<?x64xf32>
  %on = loom.rms_norm %o {eps = 1.0e-6 : f64} : (tensor<?x64xf32>) -> tensor<?x64xf32>
  %x = loom.add %r, %on : (tensor<?x64xf32>, tensor<?x64xf32>) -> tensor<?x64xf32>
  return %x : tensor<?x64xf32>
}

// CHECK-LABEL: func.func @norm_escapes
// CHECK: %[[N:.*]] = loom.rms_norm
// CHECK: loom.add %{{.*}}, %[[N]]
// CHECK-NOT: loom.linear_residual
func.func @norm_escapes(%r: tensor<?x64xf32>, %att: tensor<?x64xf32>) -> (tensor<?x64xf32>, tensor<?x64xf32>) attributes {loom.entry} {
  %wo = loom.weight @o : tensor<64x64xf32>
  %o = loom.linear %att, %wo : (tensor<?x64xf32>, tensor<64x64xf32>) -> tensor<?x64xf32>
  %pa = loom.weight @pa : tensor<64xf32>
  %on = loom.rms_norm %o, %pa {eps = 1.0e-6 : f64} : (tensor<?x64xf32>, tensor<64xf32>) -> tensor<?x64xf32>
  %x = loom.add %r, %on : (tensor<?x64xf32>, tensor<?x64xf32>) -> tensor<?x64xf32>
  return %x, %on : tensor<?x64xf32>, tensor<?x64xf32>
}

// CHECK-LABEL: func.func @sum_read_twice
// CHECK: %[[X:.*]] = loom.linear_residual
// CHECK-NOT: scalar
// CHECK: loom.scale %[[X]]
func.func @sum_read_twice(%r: tensor<?x64xf32>, %att: tensor<?x64xf32>) -> (tensor<?x64xf32>, tensor<?x64xf32>) attributes {loom.entry} {
  %wo = loom.weight @o : tensor<64x64xf32>
  %o = loom.linear %att, %wo : (tensor<?x64xf32>, tensor<64x64xf32>) -> tensor<?x64xf32>
  %pa = loom.weight @pa : tensor<64xf32>
  %on = loom.rms_norm %o, %pa {eps = 1.0e-6 : f64} : (tensor<?x64xf32>, tensor<64xf32>) -> tensor<?x64xf32>
  %x = loom.add %r, %on : (tensor<?x64xf32>, tensor<?x64xf32>) -> tensor<?x64xf32>
  %ls = loom.weight @ls : tensor<1xf32>
  %y = loom.scale %x, %ls : (tensor<?x64xf32>, tensor<1xf32>) -> tensor<?x64xf32>
  return %x, %y : tensor<?x64xf32>, tensor<?x64xf32>
}

// -----

// Tests that an entry with more than one block is refused: the pass rewrites straight-line code.

// expected-error @+1 {{loom-fuse-residual expects a single-block entry}}
func.func @branches(%x: tensor<?x64xf32>) -> tensor<?x64xf32> attributes {loom.entry} {
  "test.br"()[^bb1] : () -> ()
^bb1:
  return %x : tensor<?x64xf32>
}
