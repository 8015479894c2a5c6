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

// -----

// expected-error @+1 {{a quantized weight must be tensor<RxCxi8, "q8">, tensor<RxCxi4, "q4g32"> or tensor<RxCxi4, "q4g128">, found 'tensor<32x64xi4, "q8">'}}
loom.weight_decl @q_mismatch {name = "w", source_file = "m.safetensors", source_offset = 0 : i64, source_type = f32, type = tensor<32x64xi4, "q8">}

// -----

// expected-error @+1 {{a quantized weight must have rank 2, found 'tensor<64xi8, "q8">'}}
loom.weight_decl @q_rank {name = "w", source_file = "m.safetensors", source_offset = 0 : i64, source_type = f32, type = tensor<64xi8, "q8">}

// -----

// expected-error @+1 {{a q4g128 weight needs columns in whole groups of 128, found 64}}
loom.weight_decl @q_group {name = "w", source_file = "m.safetensors", source_offset = 0 : i64, source_type = f32, type = tensor<32x64xi4, "q4g128">}

// -----

// ---- Fused ops

func.func @fused_linear_results(%x: tensor<?x64xf32>, %wq: tensor<64x64xf32>, %wk: tensor<32x64xf32>) -> tensor<?x64xf32> {
  // expected-error @+1 {{must have one result per weight: 2 weights, 1 results}}
  %0 = loom.fused_linear %x weights(%wq, %wk) : (tensor<?x64xf32>, tensor<64x64xf32>, tensor<32x64xf32>) -> tensor<?x64xf32>
  return %0 : tensor<?x64xf32>
}

// -----

func.func @fused_linear_norm_without_eps(%x: tensor<?x64xf32>, %n: tensor<64xf32>, %w: tensor<64x64xf32>) -> tensor<?x64xf32> {
  // expected-error @+1 {{norm_weight and norm_bias need norm_eps}}
  %0 = loom.fused_linear %x norm_weight %n weights(%w) : (tensor<?x64xf32>, tensor<64xf32>, tensor<64x64xf32>) -> tensor<?x64xf32>
  return %0 : tensor<?x64xf32>
}

// -----

func.func @fused_linear_bias_without_weight(%x: tensor<?x64xf32>, %n: tensor<64xf32>, %w: tensor<64x64xf32>) -> tensor<?x64xf32> {
  // expected-error @+1 {{a LayerNorm input norm (norm_bias) needs norm_weight too}}
  %0 = loom.fused_linear %x norm_bias %n weights(%w) {norm_eps = 1.0e-5 : f64} : (tensor<?x64xf32>, tensor<64xf32>, tensor<64x64xf32>) -> tensor<?x64xf32>
  return %0 : tensor<?x64xf32>
}

// -----

func.func @fused_linear_weight_in(%x: tensor<?x64xf32>, %w: tensor<64x32xf32>) -> tensor<?x64xf32> {
  // expected-error @+1 {{weight 0 [out, in] must have in = 64 to match the input}}
  %0 = loom.fused_linear %x weights(%w) : (tensor<?x64xf32>, tensor<64x32xf32>) -> tensor<?x64xf32>
  return %0 : tensor<?x64xf32>
}

// -----

func.func @fused_linear_result_shape(%x: tensor<?x64xf32>, %w: tensor<32x64xf32>) -> tensor<?x64xf32> {
  // expected-error @+1 {{result 0 must have shape [-9223372036854775808, 32]}}
  %0 = loom.fused_linear %x weights(%w) : (tensor<?x64xf32>, tensor<32x64xf32>) -> tensor<?x64xf32>
  return %0 : tensor<?x64xf32>
}

// -----

func.func @geglu_linear_widths(%x: tensor<?x64xf32>, %wg: tensor<128x64xf32>, %wu: tensor<64x64xf32>) -> tensor<?x128xf32> {
  // expected-error @+1 {{gate and up projections must have the same width, found 128 and 64}}
  %0 = loom.geglu_linear %x gate %wg up %wu : (tensor<?x64xf32>, tensor<128x64xf32>, tensor<64x64xf32>) -> tensor<?x128xf32>
  return %0 : tensor<?x128xf32>
}

// -----

func.func @attention_input_raw_with_value(%x: tensor<?x64xf32>, %wq: tensor<64x64xf32>, %wk: tensor<32x64xf32>, %hn: tensor<16xf32>, %s: i32) -> tensor<?x4x16xf32> {
  // expected-error @+1 {{with raw_key there is no value result, v_weight or k_norm_weight}}
  %q, %k, %v = loom.attention_input %x q %wq k %wk q_norm %hn k_norm %hn start %s {head_eps = 1.0e-6 : f64, theta = 1.0e4 : f64, rotated_pairs = 8 : i64, raw_key} : (tensor<?x64xf32>, tensor<64x64xf32>, tensor<32x64xf32>, tensor<16xf32>, tensor<16xf32>, i32) -> (tensor<?x4x16xf32>, tensor<?x2x16xf32>, tensor<?x2x16xf32>)
  return %q : tensor<?x4x16xf32>
}

// -----

func.func @attention_input_no_value(%x: tensor<?x64xf32>, %wq: tensor<64x64xf32>, %wk: tensor<32x64xf32>, %hn: tensor<16xf32>, %s: i32) -> tensor<?x4x16xf32> {
  // expected-error @+1 {{needs a value result and k_norm_weight (or raw_key)}}
  %q, %k = loom.attention_input %x q %wq k %wk q_norm %hn k_norm %hn start %s {head_eps = 1.0e-6 : f64, theta = 1.0e4 : f64, rotated_pairs = 8 : i64} : (tensor<?x64xf32>, tensor<64x64xf32>, tensor<32x64xf32>, tensor<16xf32>, tensor<16xf32>, i32) -> (tensor<?x4x16xf32>, tensor<?x2x16xf32>)
  return %q : tensor<?x4x16xf32>
}

// -----

func.func @attention_input_features(%x: tensor<?x64xf32>, %wq: tensor<64x64xf32>, %wk: tensor<16x64xf32>, %hn: tensor<16xf32>, %s: i32) -> tensor<?x4x16xf32> {
  // expected-error @+1 {{q_weight and k_weight must project to 64 and 32 features, found 64 and 16}}
  %q, %k = loom.attention_input %x q %wq k %wk q_norm %hn start %s {head_eps = 1.0e-6 : f64, theta = 1.0e4 : f64, rotated_pairs = 8 : i64, raw_key} : (tensor<?x64xf32>, tensor<64x64xf32>, tensor<16x64xf32>, tensor<16xf32>, i32) -> (tensor<?x4x16xf32>, tensor<?x2x16xf32>)
  return %q : tensor<?x4x16xf32>
}

// -----

func.func @attention_input_rope(%x: tensor<?x64xf32>, %wq: tensor<64x64xf32>, %wk: tensor<32x64xf32>, %hn: tensor<16xf32>, %s: i32) -> tensor<?x4x16xf32> {
  // expected-error @+1 {{rotated_pairs must be in [0, 8], found 9}}
  %q, %k = loom.attention_input %x q %wq k %wk q_norm %hn start %s {head_eps = 1.0e-6 : f64, theta = 1.0e4 : f64, rotated_pairs = 9 : i64, raw_key} : (tensor<?x64xf32>, tensor<64x64xf32>, tensor<32x64xf32>, tensor<16xf32>, i32) -> (tensor<?x4x16xf32>, tensor<?x2x16xf32>)
  return %q : tensor<?x4x16xf32>
}

// -----

func.func @raw_key_attention_heads(%q: tensor<?x3x16xf32>, %k: tensor<?x2x16xf32>, %n: tensor<16xf32>, %b: tensor<?xi32>, %s: i32) -> tensor<?x3x16xf32> {
  // expected-error @+1 {{query heads (3) must be a multiple of key/value heads (2)}}
  %0 = loom.raw_key_attention %q, %k, %n, %b, %s {layer = 0 : i64, window = 0 : i64, scale = 1.0 : f64, eps = 1.0e-6 : f64, theta = 1.0e6 : f64, rotated_pairs = 2 : i64} : (tensor<?x3x16xf32>, tensor<?x2x16xf32>, tensor<16xf32>, tensor<?xi32>, i32) -> tensor<?x3x16xf32>
  return %0 : tensor<?x3x16xf32>
}

// -----

func.func @raw_key_attention_norm(%q: tensor<?x4x16xf32>, %k: tensor<?x1x16xf32>, %n: tensor<32xf32>, %b: tensor<?xi32>, %s: i32) -> tensor<?x4x16xf32> {
  // expected-error @+1 {{k_norm_weight must have shape [16]}}
  %0 = loom.raw_key_attention %q, %k, %n, %b, %s {layer = 0 : i64, window = 0 : i64, scale = 1.0 : f64, eps = 1.0e-6 : f64, theta = 1.0e6 : f64, rotated_pairs = 2 : i64} : (tensor<?x4x16xf32>, tensor<?x1x16xf32>, tensor<32xf32>, tensor<?xi32>, i32) -> tensor<?x4x16xf32>
  return %0 : tensor<?x4x16xf32>
}

// -----

func.func @kv_append_raw_rank(%k: tensor<?x32xf32>, %s: i32) {
  // expected-error @+1 {{raw_key must have rank 3}}
  loom.kv_append_raw %k, %s {layer = 0 : i64} : tensor<?x32xf32>
  return
}

// -----

func.func @linear_residual_width(%x: tensor<?x128xf32>, %w: tensor<64x128xf32>, %n: tensor<64xf32>, %r: tensor<?x32xf32>) -> tensor<?x32xf32> {
  // expected-error @+1 {{residual must be [tokens, 64] like the projection}}
  %0 = loom.linear_residual %x, %w, %n, %r {eps = 1.0e-6 : f64} : (tensor<?x128xf32>, tensor<64x128xf32>, tensor<64xf32>, tensor<?x32xf32>) -> tensor<?x32xf32>
  return %0 : tensor<?x32xf32>
}

// -----

func.func @linear_residual_scalar(%x: tensor<?x128xf32>, %w: tensor<64x128xf32>, %n: tensor<64xf32>, %r: tensor<?x64xf32>, %s: tensor<2xf32>) -> tensor<?x64xf32> {
  // expected-error @+1 {{scalar must have shape [1]}}
  %0 = loom.linear_residual %x, %w, %n, %r scalar %s {eps = 1.0e-6 : f64} : (tensor<?x128xf32>, tensor<64x128xf32>, tensor<64xf32>, tensor<?x64xf32>, tensor<2xf32>) -> tensor<?x64xf32>
  return %0 : tensor<?x64xf32>
}

// -----

func.func @patch_embed_table(%p: tensor<?x96xf32>, %xy: tensor<?x2xi32>, %v96: tensor<96xf32>, %wd: tensor<48x96xf32>, %v48: tensor<48xf32>, %table: tensor<10x2x32xf32>, %wp: tensor<64x48xf32>) -> tensor<?x64xf32> {
  // expected-error @+1 {{position_table must be [size, 2, 48], found 'tensor<10x2x32xf32>'}}
  %e = loom.patch_embed %p, %xy ln1(%v96, %v96) dense(%wd, %v48) ln2(%v48, %v48) positions(%table) pos_norm(%v48, %v48) projection(%wp) {ln_eps = 1.0e-5 : f64, rms_eps = 1.0e-6 : f64} : (tensor<?x96xf32>, tensor<?x2xi32>, tensor<96xf32>, tensor<96xf32>, tensor<48x96xf32>, tensor<48xf32>, tensor<48xf32>, tensor<48xf32>, tensor<10x2x32xf32>, tensor<48xf32>, tensor<48xf32>, tensor<64x48xf32>) -> tensor<?x64xf32>
  return %e : tensor<?x64xf32>
}

// -----

func.func @patch_embed_ln1(%p: tensor<?x96xf32>, %xy: tensor<?x2xi32>, %v96: tensor<96xf32>, %wd: tensor<48x96xf32>, %v48: tensor<48xf32>, %table: tensor<10x2x48xf32>, %wp: tensor<64x48xf32>) -> tensor<?x64xf32> {
  // expected-error @+1 {{ln1_weight must have shape [96]}}
  %e = loom.patch_embed %p, %xy ln1(%v48, %v96) dense(%wd, %v48) ln2(%v48, %v48) positions(%table) pos_norm(%v48, %v48) projection(%wp) {ln_eps = 1.0e-5 : f64, rms_eps = 1.0e-6 : f64} : (tensor<?x96xf32>, tensor<?x2xi32>, tensor<48xf32>, tensor<96xf32>, tensor<48x96xf32>, tensor<48xf32>, tensor<48xf32>, tensor<48xf32>, tensor<10x2x48xf32>, tensor<48xf32>, tensor<48xf32>, tensor<64x48xf32>) -> tensor<?x64xf32>
  return %e : tensor<?x64xf32>
}
