// RUN: loom-opt %s --split-input-file --verify-diagnostics --allow-unregistered-dialect --loom-fuse-vision-embed | FileCheck %s

// Tests that the vision embedder chain (LN, dense with bias, LN, coordinate add, LN, unscaled
// RMSNorm, projection) becomes one patch_embed.

loom.weight_decl @w1 {name = "patch_ln1.weight", source_file = "m.safetensors", source_offset = 0 : i64, source_type = f32, type = tensor<96xf32>}
loom.weight_decl @b1 {name = "patch_ln1.bias", source_file = "m.safetensors", source_offset = 0 : i64, source_type = f32, type = tensor<96xf32>}
loom.weight_decl @wd {name = "patch_dense.weight", source_file = "m.safetensors", source_offset = 0 : i64, source_type = f32, type = tensor<48x96xf32>}
loom.weight_decl @bd {name = "patch_dense.bias", source_file = "m.safetensors", source_offset = 0 : i64, source_type = f32, type = tensor<48xf32>}
loom.weight_decl @w2 {name = "patch_ln2.weight", source_file = "m.safetensors", source_offset = 0 : i64, source_type = f32, type = tensor<48xf32>}
loom.weight_decl @b2 {name = "patch_ln2.bias", source_file = "m.safetensors", source_offset = 0 : i64, source_type = f32, type = tensor<48xf32>}
loom.weight_decl @pos {name = "pos_embedding", source_file = "m.safetensors", source_offset = 0 : i64, source_type = f32, type = tensor<10x2x48xf32>}
loom.weight_decl @w3 {name = "pos_norm.weight", source_file = "m.safetensors", source_offset = 0 : i64, source_type = f32, type = tensor<48xf32>}
loom.weight_decl @b3 {name = "pos_norm.bias", source_file = "m.safetensors", source_offset = 0 : i64, source_type = f32, type = tensor<48xf32>}
loom.weight_decl @wp {name = "embedding_projection.weight", source_file = "m.safetensors", source_offset = 0 : i64, source_type = f32, type = tensor<64x48xf32>}

// CHECK-LABEL: func.func @embed_image
// CHECK-SAME: (%[[P:[^:]*]]: tensor<?x96xf32>, %[[XY:[^:]*]]: tensor<?x2xi32>)
func.func @embed_image(%p: tensor<?x96xf32>, %xy: tensor<?x2xi32>) -> tensor<?x64xf32> attributes {loom.entry} {
  // CHECK-DAG: %[[W1:.*]] = loom.weight @w1
  // CHECK-DAG: %[[B1:.*]] = loom.weight @b1
  // CHECK-DAG: %[[WD:.*]] = loom.weight @wd
  // CHECK-DAG: %[[BD:.*]] = loom.weight @bd
  // CHECK-DAG: %[[W2:.*]] = loom.weight @w2
  // CHECK-DAG: %[[B2:.*]] = loom.weight @b2
  // CHECK-DAG: %[[POS:.*]] = loom.weight @pos
  // CHECK-DAG: %[[W3:.*]] = loom.weight @w3
  // CHECK-DAG: %[[B3:.*]] = loom.weight @b3
  // CHECK-DAG: %[[WP:.*]] = loom.weight @wp
  // CHECK: %[[E:.*]] = loom.patch_embed %[[P]], %[[XY]] ln1(%[[W1]], %[[B1]]) dense(%[[WD]], %[[BD]]) ln2(%[[W2]], %[[B2]]) positions(%[[POS]]) pos_norm(%[[W3]], %[[B3]]) projection(%[[WP]]) {ln_eps = 1.000000e-05 : f64, rms_eps = 9.9999999999999995E-7 : f64}
  // CHECK-NEXT: return %[[E]]
  // CHECK-NOT: loom.layer_norm
  %w1 = loom.weight @w1 : tensor<96xf32>
  %b1 = loom.weight @b1 : tensor<96xf32>
  %a = loom.layer_norm %p, %w1, %b1 {eps = 1.0e-5 : f64} : (tensor<?x96xf32>, tensor<96xf32>, tensor<96xf32>) -> tensor<?x96xf32>
  %wd = loom.weight @wd : tensor<48x96xf32>
  %bd = loom.weight @bd : tensor<48xf32>
  %d = loom.linear %a, %wd, %bd : (tensor<?x96xf32>, tensor<48x96xf32>, tensor<48xf32>) -> tensor<?x48xf32>
  %w2 = loom.weight @w2 : tensor<48xf32>
  %b2 = loom.weight @b2 : tensor<48xf32>
  %b = loom.layer_norm %d, %w2, %b2 {eps = 1.0e-5 : f64} : (tensor<?x48xf32>, tensor<48xf32>, tensor<48xf32>) -> tensor<?x48xf32>
  %table = loom.weight @pos : tensor<10x2x48xf32>
  %c = loom.vision_position_add %b, %xy, %table : (tensor<?x48xf32>, tensor<?x2xi32>, tensor<10x2x48xf32>) -> tensor<?x48xf32>
  %w3 = loom.weight @w3 : tensor<48xf32>
  %b3 = loom.weight @b3 : tensor<48xf32>
  %e = loom.layer_norm %c, %w3, %b3 {eps = 1.0e-5 : f64} : (tensor<?x48xf32>, tensor<48xf32>, tensor<48xf32>) -> tensor<?x48xf32>
  %f = loom.rms_norm %e {eps = 1.0e-6 : f64} : (tensor<?x48xf32>) -> tensor<?x48xf32>
  %wp = loom.weight @wp : tensor<64x48xf32>
  %o = loom.linear %f, %wp : (tensor<?x48xf32>, tensor<64x48xf32>) -> tensor<?x64xf32>
  return %o : tensor<?x64xf32>
}

// -----

// Tests that a chain with a scaled RMSNorm before the projection (not the Gemma 4 embedder) and
// a chain whose middle value is read elsewhere are left alone.

loom.weight_decl @w {name = "w", source_file = "m.safetensors", source_offset = 0 : i64, source_type = f32, type = tensor<48xf32>}
loom.weight_decl @wd {name = "patch_dense.weight", source_file = "m.safetensors", source_offset = 0 : i64, source_type = f32, type = tensor<48x48xf32>}
loom.weight_decl @pos {name = "pos_embedding", source_file = "m.safetensors", source_offset = 0 : i64, source_type = f32, type = tensor<10x2x48xf32>}

// CHECK-LABEL: func.func @scaled_rms
// CHECK-NOT: loom.patch_embed
func.func @scaled_rms(%p: tensor<?x48xf32>, %xy: tensor<?x2xi32>) -> tensor<?x48xf32> attributes {loom.entry} {
  %w = loom.weight @w : tensor<48xf32>
  %wd = loom.weight @wd : tensor<48x48xf32>
  %table = loom.weight @pos : tensor<10x2x48xf32>
  %a = loom.layer_norm %p, %w, %w {eps = 1.0e-5 : f64} : (tensor<?x48xf32>, tensor<48xf32>, tensor<48xf32>) -> tensor<?x48xf32>
  %d = loom.linear %a, %wd, %w : (tensor<?x48xf32>, tensor<48x48xf32>, tensor<48xf32>) -> tensor<?x48xf32>
  %b = loom.layer_norm %d, %w, %w {eps = 1.0e-5 : f64} : (tensor<?x48xf32>, tensor<48xf32>, tensor<48xf32>) -> tensor<?x48xf32>
  %c = loom.vision_position_add %b, %xy, %table : (tensor<?x48xf32>, tensor<?x2xi32>, tensor<10x2x48xf32>) -> tensor<?x48xf32>
  %e = loom.layer_norm %c, %w, %w {eps = 1.0e-5 : f64} : (tensor<?x48xf32>, tensor<48xf32>, tensor<48xf32>) -> tensor<?x48xf32>
  %f = loom.rms_norm %e, %w {eps = 1.0e-6 : f64} : (tensor<?x48xf32>, tensor<48xf32>) -> tensor<?x48xf32>
  %o = loom.linear %f, %wd : (tensor<?x48xf32>, tensor<48x48xf32>) -> tensor<?x48xf32>
  return %o : tensor<?x48xf32>
}

// CHECK-LABEL: func.func @middle_escapes
// CHECK-NOT: loom.patch_embed
func.func @middle_escapes(%p: tensor<?x48xf32>, %xy: tensor<?x2xi32>) -> (tensor<?x48xf32>, tensor<?x48xf32>) attributes {loom.entry} {
  %w = loom.weight @w : tensor<48xf32>
  %wd = loom.weight @wd : tensor<48x48xf32>
  %table = loom.weight @pos : tensor<10x2x48xf32>
  %a = loom.layer_norm %p, %w, %w {eps = 1.0e-5 : f64} : (tensor<?x48xf32>, tensor<48xf32>, tensor<48xf32>) -> tensor<?x48xf32>
  %d = loom.linear %a, %wd, %w : (tensor<?x48xf32>, tensor<48x48xf32>, tensor<48xf32>) -> tensor<?x48xf32>
  %b = loom.layer_norm %d, %w, %w {eps = 1.0e-5 : f64} : (tensor<?x48xf32>, tensor<48xf32>, tensor<48xf32>) -> tensor<?x48xf32>
  %c = loom.vision_position_add %b, %xy, %table : (tensor<?x48xf32>, tensor<?x2xi32>, tensor<10x2x48xf32>) -> tensor<?x48xf32>
  %e = loom.layer_norm %c, %w, %w {eps = 1.0e-5 : f64} : (tensor<?x48xf32>, tensor<48xf32>, tensor<48xf32>) -> tensor<?x48xf32>
  %f = loom.rms_norm %e {eps = 1.0e-6 : f64} : (tensor<?x48xf32>) -> tensor<?x48xf32>
  %o = loom.linear %f, %wd : (tensor<?x48xf32>, tensor<48x48xf32>) -> tensor<?x48xf32>
  return %o, %c : tensor<?x48xf32>, tensor<?x48xf32>
}

// -----

// Tests that an entry with more than one block is refused: the pass rewrites straight-line code.

// expected-error @+1 {{loom-fuse-vision-embed expects a single-block entry}}
func.func @branches(%x: tensor<?x64xf32>) -> tensor<?x64xf32> attributes {loom.entry} {
  "test.br"()[^bb1] : () -> ()
^bb1:
  return %x : tensor<?x64xf32>
}
