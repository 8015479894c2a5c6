#ifndef LOOM_DIALECT_LOOMOPS_TD
#define LOOM_DIALECT_LOOMOPS_TD

include "loom/Dialect/LoomDialect.td"
include "mlir/IR/SymbolInterfaces.td"
include "mlir/Interfaces/SideEffectInterfaces.td"
include "mlir/IR/RegionKindInterface.td"

// Activations are f32 tensors whose leading dimension is the token count of the call.
def Loom_Activation : RankedTensorOf<[F32]>;
// I8 / I4: quantized storage, with the scheme as the tensor encoding (WeightQuant.h).
def Loom_Weight : RankedTensorOf<[F32, BF16, F16, I8, I<4>]>;
def Loom_IndexTensor : RankedTensorOf<[I32]>;

//===----------------------------------------------------------------------===//
// Weights
//===----------------------------------------------------------------------===//

def Loom_WeightDeclOp : Loom_Op<"weight_decl", [Symbol]> {
  let summary = "A checkpoint tensor, referenced by file and offset";
  let description = [{
    Declares one weight of the model without its bytes: the safetensors file, the absolute
    byte offset of its data, the dtype it is stored with there, and its Hugging Face name.
    `type` is the tensor type kernels will read; it differs from the source dtype after
    `loom-set-weight-type`, and after `loom-quantize-weights` a quantized matrix has type
    `tensor<RxCxi8, "q8">`, `tensor<RxCxi4, "q4g32">` or `tensor<RxCxi4, "q4g128">`
    (loom/Dialect/WeightQuant.h): the artifact writer packs it from the source.

    ```mlir
    loom.weight_decl @w0 {name = "model.language_model.norm.weight",
        source_file = "model.safetensors", source_offset = 1024 : i64,
        source_type = bf16, type = tensor<64xbf16>}
    ```
  }];
  let arguments = (ins SymbolNameAttr:$sym_name, StrAttr:$name, StrAttr:$source_file,
                       I64Attr:$source_offset, TypeAttr:$source_type, TypeAttr:$type);
  let assemblyFormat = "$sym_name attr-dict";
  let hasVerifier = 1;
}

def Loom_WeightOp : Loom_Op<"weight", [Pure, DeclareOpInterfaceMethods<SymbolUserOpInterface>]> {
  let summary = "Reads a declared weight";
  let arguments = (ins FlatSymbolRefAttr:$weight);
  let results = (outs Loom_Weight:$result);
  let assemblyFormat = "$weight attr-dict `:` type($result)";
}

//===----------------------------------------------------------------------===//
// Graph ops
//===----------------------------------------------------------------------===//

def Loom_EmbedOp : Loom_Op<"embed", [Pure]> {
  let summary = "Scaled token embedding: table[ids] * scale";
  let description = [{
    Gemma's embedding multiplies the looked-up rows by sqrt(hidden), with the scale rounded to
    the table's dtype first (so 62.0 rather than 61.97 in bf16).
  }];
  let arguments = (ins Loom_IndexTensor:$ids, Loom_Weight:$table, F64Attr:$scale);
  let results = (outs Loom_Activation:$result);
  let assemblyFormat = "$ids `,` $table attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

def Loom_RmsNormOp : Loom_Op<"rms_norm", [Pure]> {
  let summary = "RMSNorm over the last dimension, with or without a scale";
  let description = [{
    y = x * (mean(x^2) + eps)^-0.5 * weight. Gemma 4 uses the weight directly (no 1 + w);
    without `weight` (the v-norm and the multimodal pre-projection norm) it is unscaled.
    Per-head norms take x as [tokens, heads, head_dim].
  }];
  let arguments = (ins Loom_Activation:$input, Optional<Loom_Weight>:$weight, F64Attr:$eps);
  let results = (outs Loom_Activation:$result);
  let assemblyFormat = "$input (`,` $weight^)? attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

def Loom_LayerNormOp : Loom_Op<"layer_norm", [Pure]> {
  let summary = "LayerNorm over the last dimension with weight and bias";
  let arguments = (ins Loom_Activation:$input, Loom_Weight:$weight, Loom_Weight:$bias, F64Attr:$eps);
  let results = (outs Loom_Activation:$result);
  let assemblyFormat = "$input `,` $weight `,` $bias attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

def Loom_LinearOp : Loom_Op<"linear", [Pure]> {
  let summary = "y = x W^T (+ b), W stored [out, in] as in PyTorch";
  let arguments = (ins Loom_Activation:$input, Loom_Weight:$weight, Optional<Loom_Weight>:$bias);
  let results = (outs Loom_Activation:$result);
  let assemblyFormat = "$input `,` $weight (`,` $bias^)? attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

def Loom_ReshapeOp : Loom_Op<"reshape", [Pure]> {
  let summary = "Reinterprets the per-token dimensions: [T, H*D] <-> [T, H, D]";
  let arguments = (ins Loom_Activation:$input);
  let results = (outs Loom_Activation:$result);
  let assemblyFormat = "$input attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

def Loom_RopeOp : Loom_Op<"rope", [Pure]> {
  let summary = "Rotary position embedding, split-half layout, default or proportional";
  let description = [{
    x is [tokens, heads, head_dim]; token t is at position start + t. Pair (j, j + head_dim/2)
    rotates with inverse frequency theta^(-2j/head_dim) for j < rotated_pairs; the other pairs
    pass through. Default RoPE rotates all head_dim/2 pairs; the proportional RoPE of full
    layers rotates partial_rotary_factor of them while the exponent keeps the full head_dim.
  }];
  let arguments = (ins Loom_Activation:$input, I32:$start, F64Attr:$theta, I64Attr:$rotated_pairs);
  let results = (outs Loom_Activation:$result);
  let assemblyFormat = "$input `,` $start attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

def Loom_AttentionOp : Loom_Op<"attention", [MemoryEffects<[MemRead]>]> {
  let summary = "Causal attention over a layer's KV cache and the call's own keys and values";
  let description = [{
    q is [T, q_heads, d]; key and value are [T, kv_heads, d] (GQA/MQA: q_heads is a multiple
    of kv_heads). Keys before `start` come from the cache of `layer`. Query t sees key p iff
    (p <= start + t, or `image_blocks` is set and both are in the same image block:
    block_ids >= 0 and equal) and, when `window` > 0, p > start + t - window. Gemma 4 sets
    `image_blocks` on sliding layers only. The softmax scale is `scale` (Gemma 4: 1.0).
  }];
  let arguments = (ins Loom_Activation:$query, Loom_Activation:$key, Loom_Activation:$value,
                       Loom_IndexTensor:$block_ids, I32:$start, I64Attr:$layer,
                       I64Attr:$window, F64Attr:$scale, UnitAttr:$image_blocks);
  let results = (outs Loom_Activation:$result);
  let assemblyFormat = [{
    $query `,` $key `,` $value `,` $block_ids `,` $start attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def Loom_KvAppendOp : Loom_Op<"kv_append", [MemoryEffects<[MemWrite]>]> {
  let summary = "Stores the call's keys and values into the KV cache of `layer`";
  let description = [{
    Sliding layers keep a ring of `window` slots, full layers one slot per position. Runs
    after the layer's attention so that a prefill longer than the window still sees its own
    keys.
  }];
  let arguments = (ins Loom_Activation:$key, Loom_Activation:$value, I32:$start, I64Attr:$layer);
  let assemblyFormat = "$key `,` $value `,` $start attr-dict `:` type($key) `,` type($value)";
  let hasVerifier = 1;
}

def Loom_GegluOp : Loom_Op<"geglu", [Pure]> {
  let summary = "gelu_tanh(gate) * up, the gated MLP activation";
  let arguments = (ins Loom_Activation:$gate, Loom_Activation:$up);
  let results = (outs Loom_Activation:$result);
  let assemblyFormat = "$gate `,` $up attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

def Loom_AddOp : Loom_Op<"add", [Pure]> {
  let summary = "Elementwise sum: the residual connection";
  let arguments = (ins Loom_Activation:$lhs, Loom_Activation:$rhs);
  let results = (outs Loom_Activation:$result);
  let assemblyFormat = "$lhs `,` $rhs attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

def Loom_ScaleOp : Loom_Op<"scale", [Pure]> {
  let summary = "Multiplies by a learned scalar: the per-layer residual scale";
  let arguments = (ins Loom_Activation:$input, Loom_Weight:$scalar);
  let results = (outs Loom_Activation:$result);
  let assemblyFormat = "$input `,` $scalar attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

def Loom_SoftcapOp : Loom_Op<"softcap", [Pure]> {
  let summary = "cap * tanh(x / cap): the final logit softcap";
  let arguments = (ins Loom_Activation:$input, F64Attr:$cap);
  let results = (outs Loom_Activation:$result);
  let assemblyFormat = "$input attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

def Loom_VisionPositionAddOp : Loom_Op<"vision_position_add", [Pure]> {
  let summary = "Adds the factorized (column, row) position embedding of image patches";
  let description = [{
    positions is [T, 2] as (column, row); table is [size, 2, width]: axis 1 selects the column
    table (0) or the row table (1). A position of -1 marks padding and adds nothing.
  }];
  let arguments = (ins Loom_Activation:$input, Loom_IndexTensor:$positions, Loom_Weight:$table);
  let results = (outs Loom_Activation:$result);
  let assemblyFormat = "$input `,` $positions `,` $table attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Program ops
//===----------------------------------------------------------------------===//

def Loom_KernelOp : Loom_Op<"kernel", [Symbol, IsolatedFromAbove, SingleBlock,
                                       NoTerminator]> {
  let summary = "A kernel outlined from graph ops, generated for the target";
  let description = [{
    The body holds the graph op(s) one generated kernel computes, over block arguments that
    are the kernel's inputs; the body's last op produces the kernel's result (if any).
    `loom-outline-kernels` creates one kernel per distinct signature and shares it.
  }];
  let arguments = (ins SymbolNameAttr:$sym_name, TypeAttr:$function_type);
  let regions = (region SizedRegion<1>:$body);
  let assemblyFormat = "$sym_name attr-dict-with-keyword $body";
  let hasVerifier = 1;
}

def Loom_DispatchOp : Loom_Op<"dispatch", [DeclareOpInterfaceMethods<SymbolUserOpInterface>]> {
  let summary = "Calls a generated kernel";
  let description = [{
    After `loom-plan-buffers`, `arena_offset` gives the result's place in the entry's arena in
    bytes per token (the byte offset is arena_offset * max_tokens). The results of a fused
    kernel with several lie back to back from there, each taking its bytes per token rounded
    up to 64; results returned by the entry take no arena space.
  }];
  let arguments = (ins FlatSymbolRefAttr:$kernel, Variadic<AnyType>:$operands,
                       OptionalAttr<I64Attr>:$layer, OptionalAttr<I64Attr>:$arena_offset);
  let results = (outs Variadic<Loom_Activation>:$results);
  let assemblyFormat = "$kernel `(` $operands `)` attr-dict `:` functional-type($operands, $results)";
}

//===----------------------------------------------------------------------===//
// Fused ops: made by the fusion passes (passes/lib/Fuse*.cpp, FoldNorms.cpp, CacheRawKeys.cpp)
// from the graph ops above, before loom-outline-kernels. Each is one generated kernel.
//
// A projection may normalise its input rows first (the "input norm"), which is exact: the
// kernel computes the same normalised row the separate norm kernel would have, once per token.
// `norm_eps` present means the input is normalised; with `norm_bias` it is a LayerNorm
// (weight and bias), otherwise an RMSNorm, scaled by `norm_weight` when present.
//===----------------------------------------------------------------------===//

def Loom_FusedLinearOp : Loom_Op<"fused_linear", [Pure, AttrSizedOperandSegments]> {
  let summary = "Projections of one (optionally normalised) input: y_i = norm(x) W_i^T (+ b_i)";
  let description = [{
    One pass over the input rows feeds several weights (Q|K|V of a layer sharing one input),
    and the input norm before them is folded in. Each weight is [out_i, in] and gives result i
    [T, out_i]; `biases` is empty or has one bias per weight.

    ```mlir
    %q, %k = loom.fused_linear %x norm_weight %n weights(%wq, %wk) {norm_eps = 1.0e-06 : f64}
        : (tensor<?x64xf32>, tensor<64xf32>, tensor<64x64xf32>, tensor<32x64xf32>)
        -> (tensor<?x64xf32>, tensor<?x32xf32>)
    ```
  }];
  let arguments = (ins Loom_Activation:$input, Optional<Loom_Weight>:$norm_weight,
                       Optional<Loom_Weight>:$norm_bias, Variadic<Loom_Weight>:$weights,
                       Variadic<Loom_Weight>:$biases, OptionalAttr<F64Attr>:$norm_eps);
  let results = (outs Variadic<Loom_Activation>:$results);
  let assemblyFormat = [{
    $input (`norm_weight` $norm_weight^)? (`norm_bias` $norm_bias^)? `weights` `(` $weights `)`
    (`biases` `(` $biases^ `)`)? attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def Loom_GegluLinearOp : Loom_Op<"geglu_linear", [Pure]> {
  let summary = "The gated MLP's first half: gelu_tanh(x' Wg^T) * (x' Wu^T), x' = rms_norm(x)";
  let description = [{
    Gate and up projections of one input, with the GeGLU applied to the pair of results in
    registers: neither [T, intermediate] projection is written out. The input norm (an RMSNorm:
    the pre-feedforward norm) is optional, as described for the fused ops.
  }];
  let arguments = (ins Loom_Activation:$input, Optional<Loom_Weight>:$norm_weight,
                       Loom_Weight:$gate_weight, Loom_Weight:$up_weight,
                       OptionalAttr<F64Attr>:$norm_eps);
  let results = (outs Loom_Activation:$result);
  let assemblyFormat = [{
    $input (`norm_weight` $norm_weight^)? `gate` $gate_weight `up` $up_weight attr-dict `:`
    functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def Loom_AttentionInputOp : Loom_Op<"attention_input", [Pure, AttrSizedOperandSegments]> {
  let summary = "A layer's attention inputs: the Q|K|V projection, QK-norm, V-norm and RoPE";
  let description = [{
    From the layer's (optionally normalised) input x:
      query = rope(rms_norm(x' Wq^T, q_norm_weight))                 [T, q_heads, head_dim]
      key   = rope(rms_norm(x' Wk^T, k_norm_weight))                 [T, kv_heads, head_dim]
      value = rms_norm(x' Wv^T) without scale (x' Wk^T when there is no v_weight: k_eq_v)
    RoPE as `loom.rope` with `theta` and `rotated_pairs`, at position start + t; the head
    norms use `head_eps`. With `raw_key` (k_eq_v layers whose cache holds the raw k), `key` is
    the raw projection x' Wk^T and there is no value: `loom.raw_key_attention` normalises and
    rotates it when it reads; k_norm_weight and v_weight are then absent.
  }];
  let arguments = (ins Loom_Activation:$input, Optional<Loom_Weight>:$norm_weight,
                       Loom_Weight:$q_weight, Loom_Weight:$k_weight, Optional<Loom_Weight>:$v_weight,
                       Loom_Weight:$q_norm_weight, Optional<Loom_Weight>:$k_norm_weight, I32:$start,
                       OptionalAttr<F64Attr>:$norm_eps, F64Attr:$head_eps, F64Attr:$theta,
                       I64Attr:$rotated_pairs, UnitAttr:$raw_key);
  let results = (outs Loom_Activation:$query, Loom_Activation:$key,
                      Optional<Loom_Activation>:$value);
  let assemblyFormat = [{
    $input (`norm_weight` $norm_weight^)? `q` $q_weight `k` $k_weight (`v` $v_weight^)?
    `q_norm` $q_norm_weight (`k_norm` $k_norm_weight^)? `start` $start attr-dict `:`
    functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def Loom_RawKeyAttentionOp : Loom_Op<"raw_key_attention", [MemoryEffects<[MemRead]>]> {
  let summary = "Attention of a k_eq_v layer whose KV cache holds the raw k once";
  let description = [{
    `loom.attention` with key = rope(rms_norm(raw_key, k_norm_weight)) and value =
    rms_norm(raw_key) without scale, both derived from the raw k projection when read: the
    call's own raw keys and the cached raw keys of `layer` (written by `loom.kv_append_raw`),
    so the cache keeps one tensor instead of keys and values. RoPE as `loom.rope` with `theta`
    and `rotated_pairs`; the norms use `eps`.
  }];
  let arguments = (ins Loom_Activation:$query, Loom_Activation:$raw_key,
                       Loom_Weight:$k_norm_weight, Loom_IndexTensor:$block_ids, I32:$start,
                       I64Attr:$layer, I64Attr:$window, F64Attr:$scale, UnitAttr:$image_blocks,
                       F64Attr:$eps, F64Attr:$theta, I64Attr:$rotated_pairs);
  let results = (outs Loom_Activation:$result);
  let assemblyFormat = [{
    $query `,` $raw_key `,` $k_norm_weight `,` $block_ids `,` $start attr-dict `:`
    functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def Loom_KvAppendRawOp : Loom_Op<"kv_append_raw", [MemoryEffects<[MemWrite]>]> {
  let summary = "Stores the call's raw keys into the keys-only cache of a k_eq_v `layer`";
  let description = [{
    The cache of a layer read by `loom.raw_key_attention`: one slot per position, holding the
    raw k projection [T, kv_heads, head_dim]. Runs after the layer's attention, as kv_append.
  }];
  let arguments = (ins Loom_Activation:$raw_key, I32:$start, I64Attr:$layer);
  let assemblyFormat = "$raw_key `,` $start attr-dict `:` type($raw_key)";
  let hasVerifier = 1;
}

def Loom_LinearResidualOp : Loom_Op<"linear_residual", [Pure]> {
  let summary = "A projection with the block's post-norm, residual add and layer scalar";
  let description = [{
    result = (residual + rms_norm(x W^T, norm_weight)) (* scalar[0]): the end of an attention
    or MLP block of a Gemma 4 layer (o_proj or down_proj, post-attention or post-feedforward
    norm, the residual connection and, after the MLP, the learned layer scalar).
  }];
  let arguments = (ins Loom_Activation:$input, Loom_Weight:$weight, Loom_Weight:$norm_weight,
                       Loom_Activation:$residual, Optional<Loom_Weight>:$scalar, F64Attr:$eps);
  let results = (outs Loom_Activation:$result);
  let assemblyFormat = [{
    $input `,` $weight `,` $norm_weight `,` $residual (`scalar` $scalar^)? attr-dict `:`
    functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def Loom_PatchEmbedOp : Loom_Op<"patch_embed", [Pure]> {
  let summary = "The vision embedder of encoder-free Gemma 4: raw 48x48 patches to soft tokens";
  let description = [{
    result = rms_norm(layer_norm(layer_norm(layer_norm(patches) Wd^T + bd) + position(column,
    row)))) Wp^T, with the LayerNorms ln1 (patch width), ln2 and pos_norm (`ln_eps`), the
    factorized position add of `loom.vision_position_add`, and an unscaled RMSNorm
    (`rms_eps`). Both GEMMs are the text projections' generated code.
  }];
  let arguments = (ins Loom_Activation:$patches, Loom_IndexTensor:$positions,
                       Loom_Weight:$ln1_weight, Loom_Weight:$ln1_bias,
                       Loom_Weight:$dense_weight, Loom_Weight:$dense_bias,
                       Loom_Weight:$ln2_weight, Loom_Weight:$ln2_bias, Loom_Weight:$position_table,
                       Loom_Weight:$pos_norm_weight, Loom_Weight:$pos_norm_bias,
                       Loom_Weight:$projection_weight, F64Attr:$ln_eps, F64Attr:$rms_eps);
  let results = (outs Loom_Activation:$result);
  let assemblyFormat = [{
    $patches `,` $positions `ln1` `(` $ln1_weight `,` $ln1_bias `)` `dense` `(` $dense_weight `,`
    $dense_bias `)` `ln2` `(` $ln2_weight `,` $ln2_bias `)` `positions` `(` $position_table `)`
    `pos_norm` `(` $pos_norm_weight `,` $pos_norm_bias `)` `projection` `(` $projection_weight `)`
    attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

#endif // LOOM_DIALECT_LOOMOPS_TD
