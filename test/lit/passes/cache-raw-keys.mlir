// RUN: loom-opt %s --split-input-file --verify-diagnostics --allow-unregistered-dialect --loom-cache-raw-keys | FileCheck %s

// Tests that a k_eq_v layer (K = rope(k_norm(k)), V = v_norm(k), one raw k) caches the raw k
// once and derives K and V in the attention.

loom.weight_decl @kn {name = "k_norm", source_file = "m.safetensors", source_offset = 0 : i64, source_type = f32, type = tensor<32xf32>}

// CHECK-LABEL: func.func @full_layer
// CHECK-SAME: (%[[Q:[^:]*]]: tensor<?x4x32xf32>, %[[K:[^:]*]]: tensor<?x1x32xf32>, %[[B:[^:]*]]: tensor<?xi32>, %[[S:[^:]*]]: i32)
func.func @full_layer(%q: tensor<?x4x32xf32>, %k: tensor<?x1x32xf32>, %b: tensor<?xi32>, %s: i32) -> tensor<?x4x32xf32> attributes {loom.entry} {
  // CHECK: %[[KW:.*]] = loom.weight @kn
  // CHECK-NEXT: %[[A:.*]] = loom.raw_key_attention %[[Q]], %[[K]], %[[KW]], %[[B]], %[[S]]
  // CHECK-SAME: eps = 9.9999999999999995E-7 : f64, layer = 3 : i64, rotated_pairs = 4 : i64, scale = 1.000000e+00 : f64, theta = 1.000000e+06 : f64, window = 0 : i64
  // CHECK-NEXT: loom.kv_append_raw %[[K]], %[[S]] {layer = 3 : i64} : tensor<?x1x32xf32>
  // CHECK-NEXT: return %[[A]]
  // CHECK-NOT: loom.rope
  // CHECK-NOT: loom.rms_norm
  %kw = loom.weight @kn : tensor<32xf32>
  %kn = loom.rms_norm %k, %kw {eps = 1.0e-6 : f64} : (tensor<?x1x32xf32>, tensor<32xf32>) -> tensor<?x1x32xf32>
  %key = loom.rope %kn, %s {theta = 1.0e6 : f64, rotated_pairs = 4 : i64} : (tensor<?x1x32xf32>, i32) -> tensor<?x1x32xf32>
  %value = loom.rms_norm %k {eps = 1.0e-6 : f64} : (tensor<?x1x32xf32>) -> tensor<?x1x32xf32>
  %a = loom.attention %q, %key, %value, %b, %s {layer = 3 : i64, window = 0 : i64, scale = 1.0 : f64} : (tensor<?x4x32xf32>, tensor<?x1x32xf32>, tensor<?x1x32xf32>, tensor<?xi32>, i32) -> tensor<?x4x32xf32>
  loom.kv_append %key, %value, %s {layer = 3 : i64} : tensor<?x1x32xf32>, tensor<?x1x32xf32>
  return %a : tensor<?x4x32xf32>
}

// -----

// Tests that a sliding layer, whose value has its own projection, keeps keys and values.

loom.weight_decl @kn {name = "k_norm", source_file = "m.safetensors", source_offset = 0 : i64, source_type = f32, type = tensor<16xf32>}

// CHECK-LABEL: func.func @own_value
// CHECK: %[[KEY:.*]] = loom.rope
// CHECK: %[[VALUE:.*]] = loom.rms_norm %{{[^,]*}} {eps
// CHECK: loom.attention %{{.*}}, %[[KEY]], %[[VALUE]]
// CHECK: loom.kv_append %[[KEY]], %[[VALUE]]
// CHECK-NOT: raw
func.func @own_value(%q: tensor<?x4x16xf32>, %k: tensor<?x2x16xf32>, %v: tensor<?x2x16xf32>, %b: tensor<?xi32>, %s: i32) -> tensor<?x4x16xf32> attributes {loom.entry} {
  %kw = loom.weight @kn : tensor<16xf32>
  %kn = loom.rms_norm %k, %kw {eps = 1.0e-6 : f64} : (tensor<?x2x16xf32>, tensor<16xf32>) -> tensor<?x2x16xf32>
  %key = loom.rope %kn, %s {theta = 1.0e4 : f64, rotated_pairs = 8 : i64} : (tensor<?x2x16xf32>, i32) -> tensor<?x2x16xf32>
  %value = loom.rms_norm %v {eps = 1.0e-6 : f64} : (tensor<?x2x16xf32>) -> tensor<?x2x16xf32>
  %a = loom.attention %q, %key, %value, %b, %s {layer = 0 : i64, window = 128 : i64, scale = 1.0 : f64, image_blocks} : (tensor<?x4x16xf32>, tensor<?x2x16xf32>, tensor<?x2x16xf32>, tensor<?xi32>, i32) -> tensor<?x4x16xf32>
  loom.kv_append %key, %value, %s {layer = 0 : i64} : tensor<?x2x16xf32>, tensor<?x2x16xf32>
  return %a : tensor<?x4x16xf32>
}

// -----

// Tests that a k_eq_v layer whose rotated key is also used elsewhere (here returned) is left
// alone: the cache would no longer be the only reader of K.

loom.weight_decl @kn {name = "k_norm", source_file = "m.safetensors", source_offset = 0 : i64, source_type = f32, type = tensor<32xf32>}

// CHECK-LABEL: func.func @key_escapes
// CHECK: loom.attention
// CHECK: loom.kv_append
// CHECK-NOT: loom.raw_key_attention
func.func @key_escapes(%q: tensor<?x4x32xf32>, %k: tensor<?x1x32xf32>, %b: tensor<?xi32>, %s: i32) -> (tensor<?x4x32xf32>, tensor<?x1x32xf32>) attributes {loom.entry} {
  %kw = loom.weight @kn : tensor<32xf32>
  %kn = loom.rms_norm %k, %kw {eps = 1.0e-6 : f64} : (tensor<?x1x32xf32>, tensor<32xf32>) -> tensor<?x1x32xf32>
  %key = loom.rope %kn, %s {theta = 1.0e6 : f64, rotated_pairs = 4 : i64} : (tensor<?x1x32xf32>, i32) -> tensor<?x1x32xf32>
  %value = loom.rms_norm %k {eps = 1.0e-6 : f64} : (tensor<?x1x32xf32>) -> tensor<?x1x32xf32>
  %a = loom.attention %q, %key, %value, %b, %s {layer = 3 : i64, window = 0 : i64, scale = 1.0 : f64} : (tensor<?x4x32xf32>, tensor<?x1x32xf32>, tensor<?x1x32xf32>, tensor<?xi32>, i32) -> tensor<?x4x32xf32>
  loom.kv_append %key, %value, %s {layer = 3 : i64} : tensor<?x1x32xf32>, tensor<?x1x32xf32>
  return %a, %key : tensor<?x4x32xf32>, tensor<?x1x32xf32>
}

// -----

// Tests that an entry with more than one block is refused: the pass rewrites straight-line code.

// expected-error @+1 {{loom-cache-raw-keys expects a single-block entry}}
func.func @branches(%x: tensor<?x64xf32>) -> tensor<?x64xf32> attributes {loom.entry} {
  "test.br"()[^bb1] : () -> ()
^bb1:
  return %x : tensor<?x64xf32>
}
