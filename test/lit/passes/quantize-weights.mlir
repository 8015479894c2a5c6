// RUN: loom-opt %s --split-input-file --loom-quantize-weights=mode=q4g32 | FileCheck %s --check-prefix=G32
// RUN: loom-opt %s --split-input-file --loom-quantize-weights="mode=q4g128 embedding=keep" | FileCheck %s --check-prefix=G128
// RUN: loom-opt %s --split-input-file --loom-quantize-weights=mode=q8 | FileCheck %s --check-prefix=Q8
// RUN: not loom-opt %s --split-input-file --loom-quantize-weights=mode=q5 2>&1 | FileCheck %s --check-prefix=BADMODE
// RUN: not loom-opt %s --split-input-file --loom-quantize-weights="mode=q8 embedding=f16" 2>&1 | FileCheck %s --check-prefix=BADEMBED

// BADMODE: loom-quantize-weights: mode must be q8, q4g32 or q4g128, found 'q5'
// BADEMBED: loom-quantize-weights: embedding must be q8, q4g32, q4g128 or keep, found 'f16'

// Tests that linear matrices take the mode, the tied embedding table its own scheme (q8 by
// default), and that norms and biases are left alone.

// G32-DAG: loom.weight_decl @proj {{{.*}}type = tensor<256x128xi4, "q4g32">}
// G32-DAG: loom.weight_decl @table {{{.*}}type = tensor<512x128xi8, "q8">}
// G32-DAG: loom.weight_decl @bias {{{.*}}type = tensor<256xf32>}
// G32-DAG: loom.weight_decl @norm {{{.*}}type = tensor<128xf32>}
// G128-DAG: loom.weight_decl @proj {{{.*}}type = tensor<256x128xi4, "q4g128">}
// G128-DAG: loom.weight_decl @table {{{.*}}type = tensor<512x128xf32>}
// Q8-DAG: loom.weight_decl @proj {{{.*}}type = tensor<256x128xi8, "q8">}
// Q8-DAG: loom.weight_decl @table {{{.*}}type = tensor<512x128xi8, "q8">}
loom.weight_decl @proj {name = "proj", source_file = "m.safetensors", source_offset = 0 : i64, source_type = bf16, type = tensor<256x128xf32>}
loom.weight_decl @bias {name = "bias", source_file = "m.safetensors", source_offset = 0 : i64, source_type = bf16, type = tensor<256xf32>}
loom.weight_decl @norm {name = "norm", source_file = "m.safetensors", source_offset = 0 : i64, source_type = bf16, type = tensor<128xf32>}
loom.weight_decl @table {name = "table", source_file = "m.safetensors", source_offset = 0 : i64, source_type = bf16, type = tensor<512x128xf32>}

// G32-LABEL: func.func @embed_text
// G32: %[[T:.*]] = loom.weight @table : tensor<512x128xi8, "q8">
// G32: loom.embed %{{.*}}, %[[T]]
func.func @embed_text(%ids: tensor<?xi32>) -> tensor<?x128xf32> attributes {loom.entry} {
  %t = loom.weight @table : tensor<512x128xf32>
  %e = loom.embed %ids, %t {scale = 11.3 : f64} : (tensor<?xi32>, tensor<512x128xf32>) -> tensor<?x128xf32>
  return %e : tensor<?x128xf32>
}

// G32-LABEL: func.func @decoder
// G32: %[[P:.*]] = loom.weight @proj : tensor<256x128xi4, "q4g32">
// G32: %[[B:.*]] = loom.weight @bias : tensor<256xf32>
// G32: loom.linear %{{.*}}, %[[P]], %[[B]] : (tensor<?x128xf32>, tensor<256x128xi4, "q4g32">, tensor<256xf32>)
func.func @decoder(%x: tensor<?x128xf32>) -> tensor<?x256xf32> attributes {loom.entry} {
  %n = loom.weight @norm : tensor<128xf32>
  %h = loom.rms_norm %x, %n {eps = 1.0e-06 : f64} : (tensor<?x128xf32>, tensor<128xf32>) -> tensor<?x128xf32>
  %p = loom.weight @proj : tensor<256x128xf32>
  %b = loom.weight @bias : tensor<256xf32>
  %y = loom.linear %h, %p, %b : (tensor<?x128xf32>, tensor<256x128xf32>, tensor<256xf32>) -> tensor<?x256xf32>
  return %y : tensor<?x256xf32>
}

// G32-LABEL: func.func @lm_head
// G32: %[[T:.*]] = loom.weight @table : tensor<512x128xi8, "q8">
// G32: loom.linear %{{.*}}, %[[T]] : (tensor<?x128xf32>, tensor<512x128xi8, "q8">)
func.func @lm_head(%x: tensor<?x128xf32>) -> tensor<?x512xf32> attributes {loom.entry} {
  %t = loom.weight @table : tensor<512x128xf32>
  %y = loom.linear %x, %t : (tensor<?x128xf32>, tensor<512x128xf32>) -> tensor<?x512xf32>
  return %y : tensor<?x512xf32>
}

// -----

// Tests the fallbacks to whole groups: 64 columns cannot hold a group of 128 (-> q4g32) and
// 48 columns no group of 32 (-> q8).

// G128-DAG: loom.weight_decl @cols64 {{{.*}}type = tensor<32x64xi4, "q4g32">}
// G128-DAG: loom.weight_decl @cols48 {{{.*}}type = tensor<32x48xi8, "q8">}
// G32-DAG: loom.weight_decl @cols48 {{{.*}}type = tensor<32x48xi8, "q8">}
loom.weight_decl @cols64 {name = "a", source_file = "m.safetensors", source_offset = 0 : i64, source_type = f32, type = tensor<32x64xf32>}
loom.weight_decl @cols48 {name = "b", source_file = "m.safetensors", source_offset = 0 : i64, source_type = f32, type = tensor<32x48xf32>}

func.func @decoder(%x: tensor<?x64xf32>, %z: tensor<?x48xf32>) -> (tensor<?x32xf32>, tensor<?x32xf32>) attributes {loom.entry} {
  %a = loom.weight @cols64 : tensor<32x64xf32>
  %y = loom.linear %x, %a : (tensor<?x64xf32>, tensor<32x64xf32>) -> tensor<?x32xf32>
  %b = loom.weight @cols48 : tensor<32x48xf32>
  %w = loom.linear %z, %b : (tensor<?x48xf32>, tensor<32x48xf32>) -> tensor<?x32xf32>
  return %y, %w : tensor<?x32xf32>, tensor<?x32xf32>
}

// -----

// Tests that a rank-2 weight used by something other than a loom op is left alone, and that
// an already quantized weight is not requantized.

// G32-DAG: loom.weight_decl @escapes {{{.*}}type = tensor<32x64xf32>}
// G32-DAG: loom.weight_decl @done {{{.*}}type = tensor<32x64xi8, "q8">}
loom.weight_decl @escapes {name = "e", source_file = "m.safetensors", source_offset = 0 : i64, source_type = f32, type = tensor<32x64xf32>}
loom.weight_decl @done {name = "d", source_file = "m.safetensors", source_offset = 0 : i64, source_type = f32, type = tensor<32x64xi8, "q8">}

func.func @decoder(%x: tensor<?x64xf32>) -> (tensor<32x64xf32>, tensor<?x32xf32>) attributes {loom.entry} {
  %e = loom.weight @escapes : tensor<32x64xf32>
  %d = loom.weight @done : tensor<32x64xi8, "q8">
  %y = loom.linear %x, %d : (tensor<?x64xf32>, tensor<32x64xi8, "q8">) -> tensor<?x32xf32>
  return %e, %y : tensor<32x64xf32>, tensor<?x32xf32>
}
