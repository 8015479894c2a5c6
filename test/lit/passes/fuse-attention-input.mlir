// RUN: loom-opt %s --split-input-file --verify-diagnostics --allow-unregistered-dialect --loom-fuse-attention-input | FileCheck %s

// Tests that a sliding layer's Q|K|V projection, head norms, V-norm and RoPE become one
// attention_input whose query, key and value feed the attention and the cache.

loom.weight_decl @q {name = "q_proj", source_file = "m.safetensors", source_offset = 0 : i64, source_type = f32, type = tensor<64x64xf32>}
loom.weight_decl @k {name = "k_proj", source_file = "m.safetensors", source_offset = 0 : i64, source_type = f32, type = tensor<32x64xf32>}
loom.weight_decl @v {name = "v_proj", source_file = "m.safetensors", source_offset = 0 : i64, source_type = f32, type = tensor<32x64xf32>}
loom.weight_decl @qn {name = "q_norm", source_file = "m.safetensors", source_offset = 0 : i64, source_type = f32, type = tensor<16xf32>}
loom.weight_decl @kn {name = "k_norm", source_file = "m.safetensors", source_offset = 0 : i64, source_type = f32, type = tensor<16xf32>}

// CHECK-LABEL: func.func @sliding
// CHECK-SAME: (%[[X:[^:]*]]: tensor<?x64xf32>, %[[B:[^:]*]]: tensor<?xi32>, %[[S:[^:]*]]: i32)
func.func @sliding(%x: tensor<?x64xf32>, %b: tensor<?xi32>, %s: i32) -> tensor<?x4x16xf32> attributes {loom.entry} {
  // CHECK-DAG: %[[WQ:.*]] = loom.weight @q
  // CHECK-DAG: %[[WK:.*]] = loom.weight @k
  // CHECK-DAG: %[[WV:.*]] = loom.weight @v
  // CHECK-DAG: %[[QN:.*]] = loom.weight @qn
  // CHECK-DAG: %[[KN:.*]] = loom.weight @kn
  // CHECK: %[[QUERY:[a-z_0-9]+]], %[[KEY:[a-z_0-9]+]], %[[VALUE:[a-z_0-9]+]] = loom.attention_input %[[X]] q %[[WQ]] k %[[WK]] v %[[WV]] q_norm %[[QN]] k_norm %[[KN]] start %[[S]] {head_eps = 9.9999999999999995E-7 : f64, rotated_pairs = 8 : i64, theta = 1.000000e+04 : f64}
  // CHECK-SAME: -> (tensor<?x4x16xf32>, tensor<?x2x16xf32>, tensor<?x2x16xf32>)
  // CHECK-NEXT: %[[A:.*]] = loom.attention %[[QUERY]], %[[KEY]], %[[VALUE]], %[[B]], %[[S]]
  // CHECK-NEXT: loom.kv_append %[[KEY]], %[[VALUE]], %[[S]]
  // CHECK-NEXT: return %[[A]]
  %wq = loom.weight @q : tensor<64x64xf32>
  %wk = loom.weight @k : tensor<32x64xf32>
  %wv = loom.weight @v : tensor<32x64xf32>
  %p:3 = loom.fused_linear %x weights(%wq, %wk, %wv) : (tensor<?x64xf32>, tensor<64x64xf32>, tensor<32x64xf32>, tensor<32x64xf32>) -> (tensor<?x64xf32>, tensor<?x32xf32>, tensor<?x32xf32>)
  %qh = loom.reshape %p#0 : (tensor<?x64xf32>) -> tensor<?x4x16xf32>
  %qnw = loom.weight @qn : tensor<16xf32>
  %qn = loom.rms_norm %qh, %qnw {eps = 1.0e-6 : f64} : (tensor<?x4x16xf32>, tensor<16xf32>) -> tensor<?x4x16xf32>
  %query = loom.rope %qn, %s {theta = 1.0e4 : f64, rotated_pairs = 8 : i64} : (tensor<?x4x16xf32>, i32) -> tensor<?x4x16xf32>
  %kh = loom.reshape %p#1 : (tensor<?x32xf32>) -> tensor<?x2x16xf32>
  %vh = loom.reshape %p#2 : (tensor<?x32xf32>) -> tensor<?x2x16xf32>
  %knw = loom.weight @kn : tensor<16xf32>
  %kn = loom.rms_norm %kh, %knw {eps = 1.0e-6 : f64} : (tensor<?x2x16xf32>, tensor<16xf32>) -> tensor<?x2x16xf32>
  %key = loom.rope %kn, %s {theta = 1.0e4 : f64, rotated_pairs = 8 : i64} : (tensor<?x2x16xf32>, i32) -> tensor<?x2x16xf32>
  %value = loom.rms_norm %vh {eps = 1.0e-6 : f64} : (tensor<?x2x16xf32>) -> tensor<?x2x16xf32>
  %a = loom.attention %query, %key, %value, %b, %s {layer = 0 : i64, window = 128 : i64, scale = 1.0 : f64, image_blocks} : (tensor<?x4x16xf32>, tensor<?x2x16xf32>, tensor<?x2x16xf32>, tensor<?xi32>, i32) -> tensor<?x4x16xf32>
  loom.kv_append %key, %value, %s {layer = 0 : i64} : tensor<?x2x16xf32>, tensor<?x2x16xf32>
  return %a : tensor<?x4x16xf32>
}

// -----

// Tests a k_eq_v layer whose cache keeps K and V: the value comes from the k projection (no
// v weight), and a k_eq_v layer whose cache holds the raw k: the key result is the raw
// projection and there is no value.

loom.weight_decl @q {name = "q_proj", source_file = "m.safetensors", source_offset = 0 : i64, source_type = f32, type = tensor<128x64xf32>}
loom.weight_decl @k {name = "k_proj", source_file = "m.safetensors", source_offset = 0 : i64, source_type = f32, type = tensor<32x64xf32>}
loom.weight_decl @qn {name = "q_norm", source_file = "m.safetensors", source_offset = 0 : i64, source_type = f32, type = tensor<32xf32>}
loom.weight_decl @kn {name = "k_norm", source_file = "m.safetensors", source_offset = 0 : i64, source_type = f32, type = tensor<32xf32>}

// CHECK-LABEL: func.func @k_eq_v
// CHECK: %[[QUERY:[a-z_0-9]+]], %[[KEY:[a-z_0-9]+]], %[[VALUE:[a-z_0-9]+]] = loom.attention_input %{{.*}} q %{{.*}} k %{{.*}} q_norm %{{.*}} k_norm %{{.*}} start
// CHECK-NEXT: loom.attention %[[QUERY]], %[[KEY]], %[[VALUE]]
func.func @k_eq_v(%x: tensor<?x64xf32>, %b: tensor<?xi32>, %s: i32) -> tensor<?x4x32xf32> attributes {loom.entry} {
  %wq = loom.weight @q : tensor<128x64xf32>
  %wk = loom.weight @k : tensor<32x64xf32>
  %p:2 = loom.fused_linear %x weights(%wq, %wk) : (tensor<?x64xf32>, tensor<128x64xf32>, tensor<32x64xf32>) -> (tensor<?x128xf32>, tensor<?x32xf32>)
  %qh = loom.reshape %p#0 : (tensor<?x128xf32>) -> tensor<?x4x32xf32>
  %qnw = loom.weight @qn : tensor<32xf32>
  %qn = loom.rms_norm %qh, %qnw {eps = 1.0e-6 : f64} : (tensor<?x4x32xf32>, tensor<32xf32>) -> tensor<?x4x32xf32>
  %query = loom.rope %qn, %s {theta = 1.0e6 : f64, rotated_pairs = 4 : i64} : (tensor<?x4x32xf32>, i32) -> tensor<?x4x32xf32>
  %kh = loom.reshape %p#1 : (tensor<?x32xf32>) -> tensor<?x1x32xf32>
  %knw = loom.weight @kn : tensor<32xf32>
  %kn = loom.rms_norm %kh, %knw {eps = 1.0e-6 : f64} : (tensor<?x1x32xf32>, tensor<32xf32>) -> tensor<?x1x32xf32>
  %key = loom.rope %kn, %s {theta = 1.0e6 : f64, rotated_pairs = 4 : i64} : (tensor<?x1x32xf32>, i32) -> tensor<?x1x32xf32>
  %value = loom.rms_norm %kh {eps = 1.0e-6 : f64} : (tensor<?x1x32xf32>) -> tensor<?x1x32xf32>
  %a = loom.attention %query, %key, %value, %b, %s {layer = 3 : i64, window = 0 : i64, scale = 1.0 : f64} : (tensor<?x4x32xf32>, tensor<?x1x32xf32>, tensor<?x1x32xf32>, tensor<?xi32>, i32) -> tensor<?x4x32xf32>
  loom.kv_append %key, %value, %s {layer = 3 : i64} : tensor<?x1x32xf32>, tensor<?x1x32xf32>
  return %a : tensor<?x4x32xf32>
}

// CHECK-LABEL: func.func @raw_key
// CHECK: %[[QUERY:[a-z_0-9]+]], %[[RAW:[a-z_0-9]+]] = loom.attention_input %{{.*}} q %{{.*}} k %{{.*}} q_norm %{{.*}} start %{{[^ ]*}} {head_eps = {{.*}}, raw_key, rotated_pairs = 4 : i64, theta = 1.000000e+06 : f64} : {{.*}} -> (tensor<?x4x32xf32>, tensor<?x1x32xf32>)
// CHECK-NEXT: %[[KNW:.*]] = loom.weight @kn
// CHECK-NEXT: loom.raw_key_attention %[[QUERY]], %[[RAW]], %[[KNW]]
// CHECK-NEXT: loom.kv_append_raw %[[RAW]]
func.func @raw_key(%x: tensor<?x64xf32>, %b: tensor<?xi32>, %s: i32) -> tensor<?x4x32xf32> attributes {loom.entry} {
  %wq = loom.weight @q : tensor<128x64xf32>
  %wk = loom.weight @k : tensor<32x64xf32>
  %p:2 = loom.fused_linear %x weights(%wq, %wk) : (tensor<?x64xf32>, tensor<128x64xf32>, tensor<32x64xf32>) -> (tensor<?x128xf32>, tensor<?x32xf32>)
  %qh = loom.reshape %p#0 : (tensor<?x128xf32>) -> tensor<?x4x32xf32>
  %qnw = loom.weight @qn : tensor<32xf32>
  %qn = loom.rms_norm %qh, %qnw {eps = 1.0e-6 : f64} : (tensor<?x4x32xf32>, tensor<32xf32>) -> tensor<?x4x32xf32>
  %query = loom.rope %qn, %s {theta = 1.0e6 : f64, rotated_pairs = 4 : i64} : (tensor<?x4x32xf32>, i32) -> tensor<?x4x32xf32>
  %kh = loom.reshape %p#1 : (tensor<?x32xf32>) -> tensor<?x1x32xf32>
  %knw = loom.weight @kn : tensor<32xf32>
  %a = loom.raw_key_attention %query, %kh, %knw, %b, %s {layer = 3 : i64, window = 0 : i64, scale = 1.0 : f64, eps = 1.0e-6 : f64, theta = 1.0e6 : f64, rotated_pairs = 4 : i64} : (tensor<?x4x32xf32>, tensor<?x1x32xf32>, tensor<32xf32>, tensor<?xi32>, i32) -> tensor<?x4x32xf32>
  loom.kv_append_raw %kh, %s {layer = 3 : i64} : tensor<?x1x32xf32>
  return %a : tensor<?x4x32xf32>
}

// -----

// Tests that projections whose head norms disagree (eps) or whose query is not rotated are
// left alone.

loom.weight_decl @q {name = "q_proj", source_file = "m.safetensors", source_offset = 0 : i64, source_type = f32, type = tensor<64x64xf32>}
loom.weight_decl @k {name = "k_proj", source_file = "m.safetensors", source_offset = 0 : i64, source_type = f32, type = tensor<32x64xf32>}
loom.weight_decl @qn {name = "q_norm", source_file = "m.safetensors", source_offset = 0 : i64, source_type = f32, type = tensor<16xf32>}
loom.weight_decl @kn {name = "k_norm", source_file = "m.safetensors", source_offset = 0 : i64, source_type = f32, type = tensor<16xf32>}

// CHECK-LABEL: func.func @mixed_eps
// CHECK: loom.fused_linear
// CHECK-NOT: loom.attention_input
func.func @mixed_eps(%x: tensor<?x64xf32>, %s: i32) -> (tensor<?x4x16xf32>, tensor<?x2x16xf32>, tensor<?x2x16xf32>) attributes {loom.entry} {
  %wq = loom.weight @q : tensor<64x64xf32>
  %wk = loom.weight @k : tensor<32x64xf32>
  %p:2 = loom.fused_linear %x weights(%wq, %wk) : (tensor<?x64xf32>, tensor<64x64xf32>, tensor<32x64xf32>) -> (tensor<?x64xf32>, tensor<?x32xf32>)
  %qh = loom.reshape %p#0 : (tensor<?x64xf32>) -> tensor<?x4x16xf32>
  %qnw = loom.weight @qn : tensor<16xf32>
  %qn = loom.rms_norm %qh, %qnw {eps = 1.0e-6 : f64} : (tensor<?x4x16xf32>, tensor<16xf32>) -> tensor<?x4x16xf32>
  %query = loom.rope %qn, %s {theta = 1.0e4 : f64, rotated_pairs = 8 : i64} : (tensor<?x4x16xf32>, i32) -> tensor<?x4x16xf32>
  %kh = loom.reshape %p#1 : (tensor<?x32xf32>) -> tensor<?x2x16xf32>
  %knw = loom.weight @kn : tensor<16xf32>
  %kn = loom.rms_norm %kh, %knw {eps = 1.0e-5 : f64} : (tensor<?x2x16xf32>, tensor<16xf32>) -> tensor<?x2x16xf32>
  %key = loom.rope %kn, %s {theta = 1.0e4 : f64, rotated_pairs = 8 : i64} : (tensor<?x2x16xf32>, i32) -> tensor<?x2x16xf32>
  %value = loom.rms_norm %kh {eps = 1.0e-6 : f64} : (tensor<?x2x16xf32>) -> tensor<?x2x16xf32>
  return %query, %key, %value : tensor<?x4x16xf32>, tensor<?x2x16xf32>, tensor<?x2x16xf32>
}

// CHECK-LABEL: func.func @query_not_rotated
// CHECK: loom.fused_linear
// CHECK-NOT: loom.attention_input
func.func @query_not_rotated(%x: tensor<?x64xf32>, %s: i32) -> (tensor<?x4x16xf32>, tensor<?x2x16xf32>, tensor<?x2x16xf32>) attributes {loom.entry} {
  %wq = loom.weight @q : tensor<64x64xf32>
  %wk = loom.weight @k : tensor<32x64xf32>
  %p:2 = loom.fused_linear %x weights(%wq, %wk) : (tensor<?x64xf32>, tensor<64x64xf32>, tensor<32x64xf32>) -> (tensor<?x64xf32>, tensor<?x32xf32>)
  %qh = loom.reshape %p#0 : (tensor<?x64xf32>) -> tensor<?x4x16xf32>
  %qnw = loom.weight @qn : tensor<16xf32>
  %qn = loom.rms_norm %qh, %qnw {eps = 1.0e-6 : f64} : (tensor<?x4x16xf32>, tensor<16xf32>) -> tensor<?x4x16xf32>
  %kh = loom.reshape %p#1 : (tensor<?x32xf32>) -> tensor<?x2x16xf32>
  %knw = loom.weight @kn : tensor<16xf32>
  %kn = loom.rms_norm %kh, %knw {eps = 1.0e-6 : f64} : (tensor<?x2x16xf32>, tensor<16xf32>) -> tensor<?x2x16xf32>
  %key = loom.rope %kn, %s {theta = 1.0e4 : f64, rotated_pairs = 8 : i64} : (tensor<?x2x16xf32>, i32) -> tensor<?x2x16xf32>
  %value = loom.rms_norm %kh {eps = 1.0e-6 : f64} : (tensor<?x2x16xf32>) -> tensor<?x2x16xf32>
  return %qn, %key, %value : tensor<?x4x16xf32>, tensor<?x2x16xf32>, tensor<?x2x16xf32>
}

// -----

// Tests that an entry with more than one block is refused: the pass rewrites straight-line code.

// expected-error @+1 {{loom-fuse-attention-input expects a single-block entry}}
func.func @branches(%x: tensor<?x64xf32>) -> tensor<?x64xf32> attributes {loom.entry} {
  "test.br"()[^bb1] : () -> ()
^bb1:
  return %x : tensor<?x64xf32>
}
