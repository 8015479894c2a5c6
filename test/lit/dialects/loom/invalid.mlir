// RUN: loom-opt %s --split-input-file --verify-diagnostics

// Tests that each loom op verifier rejects malformed IR with a diagnostic naming the problem.

func.func @linear_in_mismatch(%x: tensor<?x64xf32>, %w: tensor<128x32xbf16>) -> tensor<?x128xf32> {
  // expected-error @+1 {{weight [out, in] must have in = 64 to match the input}}
  %0 = loom.linear %x, %w : (tensor<?x64xf32>, tensor<128x32xbf16>) -> tensor<?x128xf32>
  return %0 : tensor<?x128xf32>
}

// -----

func.func @linear_bias_shape(%x: tensor<?x64xf32>, %w: tensor<128x64xbf16>, %b: tensor<64xbf16>) -> tensor<?x128xf32> {
  // expected-error @+1 {{bias must have shape [128]}}
  %0 = loom.linear %x, %w, %b : (tensor<?x64xf32>, tensor<128x64xbf16>, tensor<64xbf16>) -> tensor<?x128xf32>
  return %0 : tensor<?x128xf32>
}

// -----

func.func @rms_norm_weight(%x: tensor<?x64xf32>, %w: tensor<32xf32>) -> tensor<?x64xf32> {
  // expected-error @+1 {{weight must have shape [64]}}
  %0 = loom.rms_norm %x, %w {eps = 1.0e-6 : f64} : (tensor<?x64xf32>, tensor<32xf32>) -> tensor<?x64xf32>
  return %0 : tensor<?x64xf32>
}

// -----

func.func @rms_norm_eps(%x: tensor<?x64xf32>) -> tensor<?x64xf32> {
  // expected-error @+1 {{eps must be positive}}
  %0 = loom.rms_norm %x {eps = 0.0 : f64} : (tensor<?x64xf32>) -> tensor<?x64xf32>
  return %0 : tensor<?x64xf32>
}

// -----

func.func @layer_norm_bias(%x: tensor<?x64xf32>, %w: tensor<64xf32>, %b: tensor<63xf32>) -> tensor<?x64xf32> {
  // expected-error @+1 {{bias must have shape [64]}}
  %0 = loom.layer_norm %x, %w, %b {eps = 1.0e-5 : f64} : (tensor<?x64xf32>, tensor<64xf32>, tensor<63xf32>) -> tensor<?x64xf32>
  return %0 : tensor<?x64xf32>
}

// -----

func.func @embed_width(%ids: tensor<?xi32>, %t: tensor<100x64xbf16>) -> tensor<?x32xf32> {
  // expected-error @+1 {{result must have shape [-9223372036854775808, 64]}}
  %0 = loom.embed %ids, %t {scale = 8.0 : f64} : (tensor<?xi32>, tensor<100x64xbf16>) -> tensor<?x32xf32>
  return %0 : tensor<?x32xf32>
}

// -----

func.func @reshape_elements(%x: tensor<?x64xf32>) -> tensor<?x4x8xf32> {
  // expected-error @+1 {{must keep the elements per token: 64 vs 32}}
  %0 = loom.reshape %x : (tensor<?x64xf32>) -> tensor<?x4x8xf32>
  return %0 : tensor<?x4x8xf32>
}

// -----

func.func @rope_pairs(%x: tensor<?x4x16xf32>, %start: i32) -> tensor<?x4x16xf32> {
  // expected-error @+1 {{rotated_pairs must be in [0, 8], found 9}}
  %0 = loom.rope %x, %start {theta = 10000.0 : f64, rotated_pairs = 9 : i64} : (tensor<?x4x16xf32>, i32) -> tensor<?x4x16xf32>
  return %0 : tensor<?x4x16xf32>
}

// -----

func.func @rope_odd(%x: tensor<?x4x15xf32>, %start: i32) -> tensor<?x4x15xf32> {
  // expected-error @+1 {{head_dim must be even, found 15}}
  %0 = loom.rope %x, %start {theta = 10000.0 : f64, rotated_pairs = 1 : i64} : (tensor<?x4x15xf32>, i32) -> tensor<?x4x15xf32>
  return %0 : tensor<?x4x15xf32>
}

// -----

func.func @attention_groups(%q: tensor<?x4x16xf32>, %k: tensor<?x3x16xf32>, %b: tensor<?xi32>, %s: i32) -> tensor<?x4x16xf32> {
  // expected-error @+1 {{query heads (4) must be a multiple of key/value heads (3)}}
  %0 = loom.attention %q, %k, %k, %b, %s {layer = 0 : i64, window = 0 : i64, scale = 1.0 : f64} : (tensor<?x4x16xf32>, tensor<?x3x16xf32>, tensor<?x3x16xf32>, tensor<?xi32>, i32) -> tensor<?x4x16xf32>
  return %0 : tensor<?x4x16xf32>
}

// -----

func.func @attention_head_dim(%q: tensor<?x4x16xf32>, %k: tensor<?x2x32xf32>, %b: tensor<?xi32>, %s: i32) -> tensor<?x4x16xf32> {
  // expected-error @+1 {{query and key must agree on tokens and head_dim}}
  %0 = loom.attention %q, %k, %k, %b, %s {layer = 0 : i64, window = 0 : i64, scale = 1.0 : f64} : (tensor<?x4x16xf32>, tensor<?x2x32xf32>, tensor<?x2x32xf32>, tensor<?xi32>, i32) -> tensor<?x4x16xf32>
  return %0 : tensor<?x4x16xf32>
}

// -----

func.func @attention_window(%q: tensor<?x4x16xf32>, %k: tensor<?x2x16xf32>, %b: tensor<?xi32>, %s: i32) -> tensor<?x4x16xf32> {
  // expected-error @+1 {{window and layer must be non-negative}}
  %0 = loom.attention %q, %k, %k, %b, %s {layer = 0 : i64, window = -1 : i64, scale = 1.0 : f64} : (tensor<?x4x16xf32>, tensor<?x2x16xf32>, tensor<?x2x16xf32>, tensor<?xi32>, i32) -> tensor<?x4x16xf32>
  return %0 : tensor<?x4x16xf32>
}

// -----

func.func @kv_append_types(%k: tensor<?x2x16xf32>, %v: tensor<?x2x8xf32>, %s: i32) {
  // expected-error @+1 {{value must have type 'tensor<?x2x16xf32>'}}
  loom.kv_append %k, %v, %s {layer = 0 : i64} : tensor<?x2x16xf32>, tensor<?x2x8xf32>
  return
}

// -----

func.func @geglu_types(%g: tensor<?x64xf32>, %u: tensor<?x32xf32>) -> tensor<?x64xf32> {
  // expected-error @+1 {{up must have type 'tensor<?x64xf32>'}}
  %0 = loom.geglu %g, %u : (tensor<?x64xf32>, tensor<?x32xf32>) -> tensor<?x64xf32>
  return %0 : tensor<?x64xf32>
}

// -----

func.func @scale_shape(%x: tensor<?x64xf32>, %s: tensor<2xbf16>) -> tensor<?x64xf32> {
  // expected-error @+1 {{scalar must have shape [1]}}
  %0 = loom.scale %x, %s : (tensor<?x64xf32>, tensor<2xbf16>) -> tensor<?x64xf32>
  return %0 : tensor<?x64xf32>
}

// -----

func.func @softcap_cap(%x: tensor<?x64xf32>) -> tensor<?x64xf32> {
  // expected-error @+1 {{cap must be positive}}
  %0 = loom.softcap %x {cap = 0.0 : f64} : (tensor<?x64xf32>) -> tensor<?x64xf32>
  return %0 : tensor<?x64xf32>
}

// -----

func.func @vision_table(%x: tensor<?x48xf32>, %p: tensor<?x2xi32>, %t: tensor<1120x2x32xf32>) -> tensor<?x48xf32> {
  // expected-error @+1 {{table must be [size, 2, 48]}}
  %0 = loom.vision_position_add %x, %p, %t : (tensor<?x48xf32>, tensor<?x2xi32>, tensor<1120x2x32xf32>) -> tensor<?x48xf32>
  return %0 : tensor<?x48xf32>
}

// -----

// expected-error @+1 {{type must be a statically shaped tensor}}
loom.weight_decl @dynamic {name = "w", source_file = "model.safetensors", source_offset = 0 : i64, source_type = bf16, type = tensor<?x64xbf16>}

// -----

// expected-error @+1 {{source_offset must be non-negative}}
loom.weight_decl @negative {name = "w", source_file = "model.safetensors", source_offset = -8 : i64, source_type = bf16, type = tensor<64xbf16>}

// -----

loom.weight_decl @w {name = "w", source_file = "model.safetensors", source_offset = 0 : i64, source_type = bf16, type = tensor<64xbf16>}
func.func @weight_type() -> tensor<64xf32> {
  // expected-error @+1 {{result must have type 'tensor<64xbf16>'}}
  %0 = loom.weight @w : tensor<64xf32>
  return %0 : tensor<64xf32>
}

// -----

func.func @weight_missing() -> tensor<64xf32> {
  // expected-error @+1 {{'missing' does not name a loom.weight_decl}}
  %0 = loom.weight @missing : tensor<64xf32>
  return %0 : tensor<64xf32>
}

// -----

func.func @dispatch_missing(%x: tensor<?x64xf32>) -> tensor<?x64xf32> {
  // expected-error @+1 {{'nothing' does not name a loom.kernel}}
  %0 = loom.dispatch @nothing(%x) : (tensor<?x64xf32>) -> tensor<?x64xf32>
  return %0 : tensor<?x64xf32>
}

// -----

loom.kernel @softcap_0 attributes {function_type = (tensor<?x64xf32>) -> tensor<?x64xf32>} {
^bb0(%x: tensor<?x64xf32>):
  %0 = loom.softcap %x {cap = 30.0 : f64} : (tensor<?x64xf32>) -> tensor<?x64xf32>
}
func.func @dispatch_types(%x: tensor<?x32xf32>) -> tensor<?x32xf32> {
  // expected-error @+1 {{operand and result types must match kernel @softcap_0}}
  %0 = loom.dispatch @softcap_0(%x) : (tensor<?x32xf32>) -> tensor<?x32xf32>
  return %0 : tensor<?x32xf32>
}

// -----

// expected-error @+1 {{body arguments must match the function_type inputs}}
loom.kernel @bad_kernel attributes {function_type = (tensor<?x64xf32>) -> tensor<?x64xf32>} {
^bb0(%x: tensor<?x32xf32>):
  %0 = loom.softcap %x {cap = 30.0 : f64} : (tensor<?x32xf32>) -> tensor<?x32xf32>
}
