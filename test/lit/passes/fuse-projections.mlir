// RUN: loom-opt %s --split-input-file --verify-diagnostics --allow-unregistered-dialect --loom-fuse-projections | FileCheck %s

// Tests that the Q, K and V projections of one input become one fused_linear in place of the
// first, with the later weight reads moved up, and that each result replaces its projection.

loom.weight_decl @q {name = "q_proj", source_file = "m.safetensors", source_offset = 0 : i64, source_type = f32, type = tensor<64x64xf32>}
loom.weight_decl @k {name = "k_proj", source_file = "m.safetensors", source_offset = 16384 : i64, source_type = f32, type = tensor<32x64xf32>}
loom.weight_decl @v {name = "v_proj", source_file = "m.safetensors", source_offset = 24576 : i64, source_type = f32, type = tensor<32x64xf32>}

// CHECK-LABEL: func.func @qkv
// CHECK-SAME: (%[[X:[^:]*]]: tensor<?x64xf32>)
func.func @qkv(%x: tensor<?x64xf32>) -> (tensor<?x32xf32>, tensor<?x4x16xf32>, tensor<?x32xf32>) attributes {loom.entry} {
  // CHECK: %[[WQ:.*]] = loom.weight @q
  // CHECK-NEXT: %[[WK:.*]] = loom.weight @k
  // CHECK-NEXT: %[[WV:.*]] = loom.weight @v
  // CHECK-NEXT: %[[P:.*]]:3 = loom.fused_linear %[[X]] weights(%[[WQ]], %[[WK]], %[[WV]]) : (tensor<?x64xf32>, tensor<64x64xf32>, tensor<32x64xf32>, tensor<32x64xf32>) -> (tensor<?x64xf32>, tensor<?x32xf32>, tensor<?x32xf32>)
  // CHECK-NEXT: %[[QH:.*]] = loom.reshape %[[P]]#0
  // CHECK-NEXT: %[[S:.*]] = loom.softcap %[[P]]#1
  // CHECK-NEXT: return %[[P]]#2, %[[QH]], %[[S]]
  %wq = loom.weight @q : tensor<64x64xf32>
  %q = loom.linear %x, %wq : (tensor<?x64xf32>, tensor<64x64xf32>) -> tensor<?x64xf32>
  %qh = loom.reshape %q : (tensor<?x64xf32>) -> tensor<?x4x16xf32>
  %wk = loom.weight @k : tensor<32x64xf32>
  %k = loom.linear %x, %wk : (tensor<?x64xf32>, tensor<32x64xf32>) -> tensor<?x32xf32>
  %s = loom.softcap %k {cap = 30.0 : f64} : (tensor<?x32xf32>) -> tensor<?x32xf32>
  %wv = loom.weight @v : tensor<32x64xf32>
  %v = loom.linear %x, %wv : (tensor<?x64xf32>, tensor<32x64xf32>) -> tensor<?x32xf32>
  return %v, %qh, %s : tensor<?x32xf32>, tensor<?x4x16xf32>, tensor<?x32xf32>
}

// -----

// Tests the cases left alone: a single projection, projections of different inputs, and a
// projection with a bias.

loom.weight_decl @q {name = "q_proj", source_file = "m.safetensors", source_offset = 0 : i64, source_type = f32, type = tensor<64x64xf32>}
loom.weight_decl @b {name = "bias", source_file = "m.safetensors", source_offset = 16384 : i64, source_type = f32, type = tensor<64xf32>}

// CHECK-LABEL: func.func @alone
// CHECK-COUNT-3: loom.linear
// CHECK-NOT: loom.fused_linear
func.func @alone(%x: tensor<?x64xf32>, %y: tensor<?x64xf32>) -> (tensor<?x64xf32>, tensor<?x64xf32>, tensor<?x64xf32>) attributes {loom.entry} {
  %w = loom.weight @q : tensor<64x64xf32>
  %bias = loom.weight @b : tensor<64xf32>
  %a = loom.linear %x, %w : (tensor<?x64xf32>, tensor<64x64xf32>) -> tensor<?x64xf32>
  %b = loom.linear %y, %w : (tensor<?x64xf32>, tensor<64x64xf32>) -> tensor<?x64xf32>
  %c = loom.linear %x, %w, %bias : (tensor<?x64xf32>, tensor<64x64xf32>, tensor<64xf32>) -> tensor<?x64xf32>
  return %a, %b, %c : tensor<?x64xf32>, tensor<?x64xf32>, tensor<?x64xf32>
}

// -----

// Tests that an entry with more than one block is refused: the pass rewrites straight-line code.

// expected-error @+1 {{loom-fuse-projections expects a single-block entry}}
func.func @branches(%x: tensor<?x64xf32>) -> tensor<?x64xf32> attributes {loom.entry} {
  "test.br"()[^bb1] : () -> ()
^bb1:
  return %x : tensor<?x64xf32>
}
