#ifndef LOOM_PASSES_TD
#define LOOM_PASSES_TD

include "mlir/Pass/PassBase.td"

def LoomSetWeightType : Pass<"loom-set-weight-type", "mlir::ModuleOp"> {
  let summary = "Chooses the element type the artifact stores weights in";
  let description = [{
    Rewrites every `loom.weight_decl` type and every `loom.weight` use to `element-type`,
    keeping `source_type`, so the artifact writer converts once at compile time and the
    kernels are generated for that type.

    Before (`element-type=f32`):
    ```mlir
    loom.weight_decl @w {..., source_type = bf16, type = tensor<64xbf16>}
    %0 = loom.weight @w : tensor<64xbf16>
    ```
    After:
    ```mlir
    loom.weight_decl @w {..., source_type = bf16, type = tensor<64xf32>}
    %0 = loom.weight @w : tensor<64xf32>
    ```
  }];
  let options = [
    Option<"elementType", "element-type", "std::string", /*default=*/"\"f32\"",
           "Element type of stored weights: f32 or bf16">,
  ];
}

def LoomOutlineKernels : Pass<"loom-outline-kernels", "mlir::ModuleOp"> {
  let summary = "Outlines each graph op into a shared loom.kernel and calls it with loom.dispatch";
  let description = [{
    Every compute op of an entry function becomes a `loom.dispatch` of a `loom.kernel` whose
    body holds a copy of the op over block arguments. Ops with the same signature (op, types
    and attributes other than `layer`) share one kernel, so the 40 sliding layers of a 12B
    model call the same generated code. `loom.weight`, `loom.reshape`, `loom.kv_append` and
    `loom.kv_append_raw` stay: they are views and runtime commands, not kernels. The fused ops
    of the fuse phase are outlined like the others, one kernel each.

    Before:
    ```mlir
    %1 = loom.rms_norm %0, %w {eps = 1.0e-06} : (tensor<?x64xf32>, tensor<64xf32>) -> tensor<?x64xf32>
    ```
    After:
    ```mlir
    loom.kernel @rms_norm_0 attributes {function_type = (tensor<?x64xf32>, tensor<64xf32>) -> tensor<?x64xf32>} {
    ^bb0(%x: tensor<?x64xf32>, %w: tensor<64xf32>):
      %0 = loom.rms_norm %x, %w {eps = 1.0e-06} : ...
    }
    %1 = loom.dispatch @rms_norm_0(%0, %w) : (tensor<?x64xf32>, tensor<64xf32>) -> tensor<?x64xf32>
    ```
  }];
}

def LoomPlanBuffers : Pass<"loom-plan-buffers", "mlir::ModuleOp"> {
  let summary = "Places every intermediate activation in the entry's arena";
  let description = [{
    Activations are [tokens, ...] with a per-token size fixed at compile time, so one static
    plan in bytes per token serves any call: a value at `arena_offset` = o lives at byte
    o * max_tokens of an arena of `loom.arena_bytes_per_token` * max_tokens bytes. Values whose
    lifetimes do not overlap share space (first fit over a linear scan); results returned by
    the entry go to the caller's output buffers instead, and `loom.reshape` results alias their
    input.

    After:
    ```mlir
    func.func @decoder(...) attributes {loom.arena_bytes_per_token = 1536 : i64} {
      %1 = loom.dispatch @rms_norm_0(%0, %w) {arena_offset = 0 : i64} : ...
    ```
  }];
}

def LoomQuantizeWeights : Pass<"loom-quantize-weights", "mlir::ModuleOp"> {
  let summary = "Chooses which weights are stored quantized (int8 per row, int4 group-wise)";
  let description = [{
    The policy, per `loom.weight_decl`, by how the weight is used:
    - a matrix used only as the weight of `loom.linear` (projections, MLP, the vision and
      audio projections) is stored as `mode`;
    - the embedding table (used by `loom.embed`, and by the lm_head `loom.linear` when tied)
      is stored as `embedding` (default `q8`: the 262144-row table drives every logit, and
      int4 there costs the most accuracy for the least size; see bench/RESULTS.md);
    - everything else (norms, biases, layer scalars, position tables) keeps its type.
    A q4 scheme needs whole groups: with columns not a multiple of 128 a q4g128 matrix falls
    back to q4g32, and with columns not a multiple of 32 a q4 matrix falls back to q8. The
    choice is the weight's type (loom/Dialect/WeightQuant.h), so it reaches the kernels and
    the artifact, which records it per tensor.

    Before (`mode=q4g32`):
    ```mlir
    loom.weight_decl @w {..., source_type = bf16, type = tensor<128x64xf32>}
    %0 = loom.weight @w : tensor<128x64xf32>
    %1 = loom.linear %x, %0 : (tensor<?x64xf32>, tensor<128x64xf32>) -> tensor<?x128xf32>
    ```
    After:
    ```mlir
    loom.weight_decl @w {..., source_type = bf16, type = tensor<128x64xi4, "q4g32">}
    %0 = loom.weight @w : tensor<128x64xi4, "q4g32">
    ```
  }];
  let options = [
    Option<"mode", "mode", "std::string", /*default=*/"\"q8\"",
           "Scheme of the layer matrices: q8, q4g32 or q4g128">,
    Option<"embedding", "embedding", "std::string", /*default=*/"\"q8\"",
           "Scheme of the (tied) embedding table: q8, q4g32, q4g128 or keep">,
  ];
}

//===----------------------------------------------------------------------===//
// Fusion (the "fuse" phase of loom-compile, in this order; graph level, before outlining)
//===----------------------------------------------------------------------===//

def LoomCacheRawKeys : Pass<"loom-cache-raw-keys", "mlir::ModuleOp"> {
  let summary = "Caches the raw k once for k_eq_v layers instead of keys and values";
  let description = [{
    On a full layer with attention_k_eq_v, K = rope(k_norm(k)) and V = v_norm(k) come from
    one raw projection k. The cache then only needs k: `loom.kv_append` of K and V becomes
    `loom.kv_append_raw` of k (half the memory), and the attention becomes
    `loom.raw_key_attention`, which derives K and V from the raw keys as it reads them.
    Layers whose value has its own projection are left alone.

    Before:
    ```mlir
    %kn = loom.rms_norm %k, %kw {eps = 1.0e-06 : f64} : ...
    %key = loom.rope %kn, %start {rotated_pairs = 4 : i64, theta = 1.0e+06 : f64} : ...
    %value = loom.rms_norm %k {eps = 1.0e-06 : f64} : ...
    %a = loom.attention %q, %key, %value, %blocks, %start {layer = 3 : i64, scale = 1.0 : f64, window = 0 : i64} : ...
    loom.kv_append %key, %value, %start {layer = 3 : i64} : ...
    ```
    After:
    ```mlir
    %a = loom.raw_key_attention %q, %k, %kw, %blocks, %start {eps = 1.0e-06 : f64, layer = 3 : i64,
        rotated_pairs = 4 : i64, scale = 1.0 : f64, theta = 1.0e+06 : f64, window = 0 : i64} : ...
    loom.kv_append_raw %k, %start {layer = 3 : i64} : tensor<?x1x32xf32>
    ```
  }];
}

def LoomFuseGeglu : Pass<"loom-fuse-geglu", "mlir::ModuleOp"> {
  let summary = "Fuses the gate and up projections with the GeGLU they feed";
  let description = [{
    `loom.geglu` of two bias-free projections of one input becomes one `loom.geglu_linear`:
    the kernel computes both dot products of an output column together and writes only
    gelu_tanh(gate) * up, never the two [tokens, intermediate] projections.

    Before:
    ```mlir
    %g = loom.linear %x, %wg : (tensor<?x64xf32>, tensor<128x64xf32>) -> tensor<?x128xf32>
    %u = loom.linear %x, %wu : (tensor<?x64xf32>, tensor<128x64xf32>) -> tensor<?x128xf32>
    %h = loom.geglu %g, %u : (tensor<?x128xf32>, tensor<?x128xf32>) -> tensor<?x128xf32>
    ```
    After:
    ```mlir
    %h = loom.geglu_linear %x gate %wg up %wu : (tensor<?x64xf32>, tensor<128x64xf32>, tensor<128x64xf32>) -> tensor<?x128xf32>
    ```
  }];
}

def LoomFuseProjections : Pass<"loom-fuse-projections", "mlir::ModuleOp"> {
  let summary = "Merges bias-free projections of the same input into one loom.fused_linear";
  let description = [{
    The Q, K and V projections of a layer (Q and K on k_eq_v layers) read the same normalised
    input; one `loom.fused_linear` with one result per weight reads it once. The weights'
    `loom.weight` reads move up to the first projection, which the fused op replaces.

    Before:
    ```mlir
    %q = loom.linear %x, %wq : (tensor<?x64xf32>, tensor<64x64xf32>) -> tensor<?x64xf32>
    %k = loom.linear %x, %wk : (tensor<?x64xf32>, tensor<32x64xf32>) -> tensor<?x32xf32>
    ```
    After:
    ```mlir
    %q, %k = loom.fused_linear %x weights(%wq, %wk) : (...) -> (tensor<?x64xf32>, tensor<?x32xf32>)
    ```
  }];
}

def LoomFuseAttentionInput : Pass<"loom-fuse-attention-input", "mlir::ModuleOp"> {
  let summary = "Fuses a layer's Q|K|V projection with its QK-norm, V-norm and RoPE";
  let description = [{
    A `loom.fused_linear` of a layer's q, k (and v) projections whose results are reshaped
    into heads, head-normalised and rotated becomes one `loom.attention_input` producing the
    query, key and value the attention reads and the cache stores. On k_eq_v layers the value
    comes from the k projection; when the cache holds raw keys (`loom-cache-raw-keys`), the
    key result is the raw projection (`raw_key`).

    Before:
    ```mlir
    %q, %k, %v = loom.fused_linear %x weights(%wq, %wk, %wv) : ...
    %qh = loom.reshape %q : ...
    %qn = loom.rms_norm %qh, %qnw {eps = 1.0e-06 : f64} : ...
    %qr = loom.rope %qn, %start {rotated_pairs = 8 : i64, theta = 1.0e+04 : f64} : ...
    ... the same for k with %knw; %vn = loom.rms_norm (reshape %v) without weight
    ```
    After:
    ```mlir
    %query, %key, %value = loom.attention_input %x q %wq k %wk v %wv q_norm %qnw k_norm %knw start %start
        {head_eps = 1.0e-06 : f64, rotated_pairs = 8 : i64, theta = 1.0e+04 : f64} : ...
    ```
  }];
}

def LoomFuseResidual : Pass<"loom-fuse-residual", "mlir::ModuleOp"> {
  let summary = "Fuses a block's output projection with its post-norm, residual add and scalar";
  let description = [{
    `r + rms_norm(x W^T, w)`, optionally followed by the layer scalar, becomes one
    `loom.linear_residual`: the ends of a Gemma 4 layer's attention block (o_proj,
    post_attention_layernorm) and MLP block (down_proj, post_feedforward_layernorm,
    layer_scalar).

    Before:
    ```mlir
    %d = loom.linear %h, %wd : ...
    %n = loom.rms_norm %d, %nw {eps = 1.0e-06 : f64} : ...
    %s = loom.add %r, %n : ...
    %o = loom.scale %s, %ls : ...
    ```
    After:
    ```mlir
    %o = loom.linear_residual %h, %wd, %nw, %r scalar %ls {eps = 1.0e-06 : f64} : ...
    ```
  }];
}

def LoomFuseVisionEmbed : Pass<"loom-fuse-vision-embed", "mlir::ModuleOp"> {
  let summary = "Fuses the vision embedder chain into one loom.patch_embed";
  let description = [{
    LayerNorm, the 6912->hidden dense (with bias), LayerNorm, the factorized coordinate add,
    LayerNorm, the unscaled RMSNorm and the projection become one kernel, whose two GEMMs
    are the text projections' code.

    Before:
    ```mlir
    %a = loom.layer_norm %p, %w1, %b1 ...   %d = loom.linear %a, %wd, %bd ...
    %b = loom.layer_norm %d, %w2, %b2 ...   %c = loom.vision_position_add %b, %pos, %table ...
    %e = loom.layer_norm %c, %w3, %b3 ...   %f = loom.rms_norm %e ...   %o = loom.linear %f, %wp ...
    ```
    After:
    ```mlir
    %o = loom.patch_embed %p, %pos ln1(%w1, %b1) dense(%wd, %bd) ln2(%w2, %b2) positions(%table)
        pos_norm(%w3, %b3) projection(%wp) {ln_eps = 1.0e-05 : f64, rms_eps = 1.0e-06 : f64} : ...
    ```
  }];
}

def LoomFoldNorms : Pass<"loom-fold-norms", "mlir::ModuleOp"> {
  let summary = "Folds a norm into the projections that read it as their input norm";
  let description = [{
    An RMSNorm or LayerNorm of [tokens, width] rows whose every user is a projection
    (`loom.linear`, `loom.fused_linear`; for RMSNorm also `loom.geglu_linear` and
    `loom.attention_input`) moves into those users as their input norm: the kernel
    normalises each row once, exactly as the norm kernel did, so the normalised activation
    is never written. Other norms (per-head norms, norms whose result leaves the entry) stay.

    Before:
    ```mlir
    %n = loom.rms_norm %x, %w {eps = 1.0e-06 : f64} : (tensor<?x64xf32>, tensor<64xf32>) -> tensor<?x64xf32>
    %h = loom.geglu_linear %n gate %wg up %wu : ...
    ```
    After:
    ```mlir
    %h = loom.geglu_linear %x norm_weight %w gate %wg up %wu {norm_eps = 1.0e-06 : f64} : ...
    ```
  }];
}

#endif // LOOM_PASSES_TD
