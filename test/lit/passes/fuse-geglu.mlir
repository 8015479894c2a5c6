// RUN: loom-opt %s --split-input-file --verify-diagnostics --allow-unregistered-dialect --loom-fuse-geglu | FileCheck %s

// Tests that the gate and up projections of one input and their GeGLU become one op.

loom.weight_decl @g {name = "gate_proj", source_file = "m.safetensors", source_offset = 0 : i64, source_type = bf16, type = tensor<128x64xbf16>}
loom.weight_decl @u {name = "up_proj", source_file = "m.safetensors", source_offset = 16384 : i64, source_type = bf16, type = tensor<128x64xbf16>}

// CHECK-LABEL: func.func @mlp
// CHECK-SAME: (%[[X:[^:]*]]: tensor<?x64xf32>)
func.func @mlp(%x: tensor<?x64xf32>) -> tensor<?x128xf32> attributes {loom.entry} {
  // CHECK: %[[WG:.*]] = loom.weight @g
  // CHECK: %[[WU:.*]] = loom.weight @u
  // CHECK-NEXT: %[[H:.*]] = loom.geglu_linear %[[X]] gate %[[WG]] up %[[WU]] : (tensor<?x64xf32>, tensor<128x64xbf16>, tensor<128x64xbf16>) -> tensor<?x128xf32>
  // CHECK-NEXT: return %[[H]]
  %wg = loom.weight @g : tensor<128x64xbf16>
  %gate = loom.linear %x, %wg : (tensor<?x64xf32>, tensor<128x64xbf16>) -> tensor<?x128xf32>
  %wu = loom.weight @u : tensor<128x64xbf16>
  %up = loom.linear %x, %wu : (tensor<?x64xf32>, tensor<128x64xbf16>) -> tensor<?x128xf32>
  %h = loom.geglu %gate, %up : (tensor<?x128xf32>, tensor<?x128xf32>) -> tensor<?x128xf32>
  return %h : tensor<?x128xf32>
}

// -----

// Tests the cases left alone: projections of different inputs, and a gate projection that is
// also read elsewhere (it must still be written out).

loom.weight_decl @g {name = "gate_proj", source_file = "m.safetensors", source_offset = 0 : i64, source_type = f32, type = tensor<128x64xf32>}
loom.weight_decl @u {name = "up_proj", source_file = "m.safetensors", source_offset = 32768 : i64, source_type = f32, type = tensor<128x64xf32>}

// CHECK-LABEL: func.func @two_inputs
// CHECK: loom.geglu %
// CHECK-NOT: loom.geglu_linear
func.func @two_inputs(%x: tensor<?x64xf32>, %y: tensor<?x64xf32>) -> tensor<?x128xf32> attributes {loom.entry} {
  %wg = loom.weight @g : tensor<128x64xf32>
  %gate = loom.linear %x, %wg : (tensor<?x64xf32>, tensor<128x64xf32>) -> tensor<?x128xf32>
  %wu = loom.weight @u : tensor<128x64xf32>
  %up = loom.linear %y, %wu : (tensor<?x64xf32>, tensor<128x64xf32>) -> tensor<?x128xf32>
  %h = loom.geglu %gate, %up : (tensor<?x128xf32>, tensor<?x128xf32>) -> tensor<?x128xf32>
  return %h : tensor<?x128xf32>
}

// CHECK-LABEL: func.func @gate_escapes
// CHECK: %[[GATE:.*]] = loom.linear
// CHECK: loom.geglu %[[GATE]]
// CHECK-NOT: loom.geglu_linear
func.func @gate_escapes(%x: tensor<?x64xf32>) -> (tensor<?x128xf32>, tensor<?x128xf32>) attributes {loom.entry} {
  %wg = loom.weight @g : tensor<128x64xf32>
  %gate = loom.linear %x, %wg : (tensor<?x64xf32>, tensor<128x64xf32>) -> tensor<?x128xf32>
  %wu = loom.weight @u : tensor<128x64xf32>
  %up = loom.linear %x, %wu : (tensor<?x64xf32>, tensor<128x64xf32>) -> tensor<?x128xf32>
  %h = loom.geglu %gate, %up : (tensor<?x128xf32>, tensor<?x128xf32>) -> tensor<?x128xf32>
  return %h, %gate : tensor<?x128xf32>, tensor<?x128xf32>
}

// -----

// Tests that an entry with more than one block is refused: the pass rewrites straight-line code.

// expected-error @+1 {{loom-fuse-geglu expects a single-block entry}}
func.func @branches(%x: tensor<?x64xf32>) -> tensor<?x64xf32> attributes {loom.entry} {
  "test.br"()[^bb1] : () -> ()
^bb1:
  return %x : tensor<?x64xf32>
}
