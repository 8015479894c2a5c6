// RUN: loom-opt %s --split-input-file --loom-outline-kernels | FileCheck %s

// Tests that identical ops in two layers share one kernel and that the dispatch, not the
// kernel, says which layer's KV cache attention reads.

loom.weight_decl @n0 {name = "n0", source_file = "m.safetensors", source_offset = 0 : i64, source_type = f32, type = tensor<64xf32>}
loom.weight_decl @n1 {name = "n1", source_file = "m.safetensors", source_offset = 256 : i64, source_type = f32, type = tensor<64xf32>}

// CHECK-LABEL: func.func @two_layers
func.func @two_layers(%x: tensor<?x64xf32>, %q: tensor<?x4x16xf32>, %k: tensor<?x2x16xf32>, %b: tensor<?xi32>, %s: i32) -> tensor<?x64xf32> attributes {loom.entry} {
  // CHECK: %[[W0:.*]] = loom.weight @n0
  // CHECK: %[[A:.*]] = loom.dispatch @rms_norm_0(%{{.*}}, %[[W0]])
  // CHECK: %[[W1:.*]] = loom.weight @n1
  // CHECK: loom.dispatch @rms_norm_0(%[[A]], %[[W1]])
  // CHECK: loom.dispatch @attention_0({{.*}}) {layer = 2 : i64}
  // CHECK: loom.dispatch @attention_0({{.*}}) {layer = 7 : i64}
  // CHECK: loom.kv_append
  %w0 = loom.weight @n0 : tensor<64xf32>
  %a = loom.rms_norm %x, %w0 {eps = 1.0e-6 : f64} : (tensor<?x64xf32>, tensor<64xf32>) -> tensor<?x64xf32>
  %w1 = loom.weight @n1 : tensor<64xf32>
  %c = loom.rms_norm %a, %w1 {eps = 1.0e-6 : f64} : (tensor<?x64xf32>, tensor<64xf32>) -> tensor<?x64xf32>
  %o1 = loom.attention %q, %k, %k, %b, %s {layer = 2 : i64, window = 8 : i64, scale = 1.0 : f64, image_blocks} : (tensor<?x4x16xf32>, tensor<?x2x16xf32>, tensor<?x2x16xf32>, tensor<?xi32>, i32) -> tensor<?x4x16xf32>
  %o2 = loom.attention %o1, %k, %k, %b, %s {layer = 7 : i64, window = 8 : i64, scale = 1.0 : f64, image_blocks} : (tensor<?x4x16xf32>, tensor<?x2x16xf32>, tensor<?x2x16xf32>, tensor<?xi32>, i32) -> tensor<?x4x16xf32>
  loom.kv_append %k, %k, %s {layer = 7 : i64} : tensor<?x2x16xf32>, tensor<?x2x16xf32>
  return %c : tensor<?x64xf32>
}
// Kernels follow the functions; the body is the op over block arguments.
// CHECK-LABEL: loom.kernel @rms_norm_0 attributes {function_type = (tensor<?x64xf32>, tensor<64xf32>) -> tensor<?x64xf32>}
// CHECK-NEXT: ^bb0(%[[X:.*]]: tensor<?x64xf32>, %[[W:.*]]: tensor<64xf32>):
// CHECK-NEXT: loom.rms_norm %[[X]], %[[W]]
// CHECK: loom.kernel @attention_0
// CHECK: loom.attention {{.*}}layer = 0 : i64
// CHECK-NOT: loom.kernel @rms_norm_1
// CHECK-NOT: loom.kernel @attention_1

// -----

// Tests that ops differing in an attribute (eps) or a weight type get separate kernels.

loom.weight_decl @a {name = "a", source_file = "m.safetensors", source_offset = 0 : i64, source_type = f32, type = tensor<64xf32>}
loom.weight_decl @h {name = "h", source_file = "m.safetensors", source_offset = 0 : i64, source_type = bf16, type = tensor<64xbf16>}

// CHECK-LABEL: func.func @distinct
// CHECK: loom.dispatch @rms_norm_0
// CHECK: loom.dispatch @rms_norm_1
// CHECK: loom.dispatch @rms_norm_2
// CHECK: loom.kernel @rms_norm_0 {{.*}}tensor<64xf32>
// CHECK: loom.rms_norm {{.*}}eps = 9.9999999999999995E-7
// CHECK: loom.kernel @rms_norm_1 {{.*}}tensor<64xf32>
// CHECK: loom.rms_norm {{.*}}eps = 1.000000e-05
// CHECK: loom.kernel @rms_norm_2 {{.*}}tensor<64xbf16>
func.func @distinct(%x: tensor<?x64xf32>) -> tensor<?x64xf32> attributes {loom.entry} {
  %a = loom.weight @a : tensor<64xf32>
  %h = loom.weight @h : tensor<64xbf16>
  %0 = loom.rms_norm %x, %a {eps = 1.0e-6 : f64} : (tensor<?x64xf32>, tensor<64xf32>) -> tensor<?x64xf32>
  %1 = loom.rms_norm %0, %a {eps = 1.0e-5 : f64} : (tensor<?x64xf32>, tensor<64xf32>) -> tensor<?x64xf32>
  %2 = loom.rms_norm %1, %h {eps = 1.0e-6 : f64} : (tensor<?x64xf32>, tensor<64xbf16>) -> tensor<?x64xf32>
  return %2 : tensor<?x64xf32>
}

// -----

// Tests that functions not marked as entries are left alone.

// CHECK-LABEL: func.func @helper
// CHECK: loom.softcap
// CHECK-NOT: loom.dispatch
func.func @helper(%x: tensor<?x64xf32>) -> tensor<?x64xf32> {
  %0 = loom.softcap %x {cap = 30.0 : f64} : (tensor<?x64xf32>) -> tensor<?x64xf32>
  return %0 : tensor<?x64xf32>
}
