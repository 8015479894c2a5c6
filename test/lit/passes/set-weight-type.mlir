// RUN: loom-opt %s --split-input-file --loom-set-weight-type=element-type=f32 | FileCheck %s --check-prefix=F32
// RUN: loom-opt %s --split-input-file --loom-set-weight-type=element-type=bf16 | FileCheck %s --check-prefix=BF16
// RUN: not loom-opt %s --loom-set-weight-type=element-type=q5 2>&1 | FileCheck %s --check-prefix=BAD

// Tests that the stored weight type changes on declarations and uses while the source type stays.

// F32: loom.weight_decl @w {{{.*}}source_type = bf16, type = tensor<128x64xf32>}
// BF16: loom.weight_decl @w {{{.*}}source_type = bf16, type = tensor<128x64xbf16>}
// BAD: element-type must be f32 or bf16, found 'q5'
loom.weight_decl @w {name = "w", source_file = "model.safetensors", source_offset = 0 : i64, source_type = bf16, type = tensor<128x64xbf16>}

// F32-LABEL: func.func @uses
// BF16-LABEL: func.func @uses
func.func @uses(%x: tensor<?x64xf32>) -> tensor<?x128xf32> attributes {loom.entry} {
  // F32: %[[W:.*]] = loom.weight @w : tensor<128x64xf32>
  // F32: loom.linear %{{.*}}, %[[W]] : (tensor<?x64xf32>, tensor<128x64xf32>) -> tensor<?x128xf32>
  // BF16: loom.linear %{{.*}}, %{{.*}} : (tensor<?x64xf32>, tensor<128x64xbf16>)
  %w = loom.weight @w : tensor<128x64xbf16>
  %y = loom.linear %x, %w : (tensor<?x64xf32>, tensor<128x64xbf16>) -> tensor<?x128xf32>
  return %y : tensor<?x128xf32>
}

// -----

// Tests that f32 source weights are narrowed to bf16 on request.

// F32: loom.weight_decl @v {{{.*}}source_type = f32, type = tensor<64xf32>}
// BF16: loom.weight_decl @v {{{.*}}source_type = f32, type = tensor<64xbf16>}
loom.weight_decl @v {name = "v", source_file = "model.safetensors", source_offset = 0 : i64, source_type = f32, type = tensor<64xf32>}
