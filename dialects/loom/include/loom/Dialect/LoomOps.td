#ifndef LOOM_DIALECT_LOOMOPS_TD
#define LOOM_DIALECT_LOOMOPS_TD

include "loom/Dialect/LoomDialect.td"
include "mlir/IR/SymbolInterfaces.td"
include "mlir/Interfaces/SideEffectInterfaces.td"
include "mlir/IR/RegionKindInterface.td"

// Activations are f32 tensors whose leading dimension is the token count of the call.
def Loom_Activation : RankedTensorOf<[F32]>;
def Loom_Weight : RankedTensorOf<[F32, BF16, F16]>;
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
    `loom-set-weight-type`.

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
    bytes per token (the byte offset is arena_offset * max_tokens).
  }];
  let arguments = (ins FlatSymbolRefAttr:$kernel, Variadic<AnyType>:$operands,
                       OptionalAttr<I64Attr>:$layer, OptionalAttr<I64Attr>:$arena_offset);
  let results = (outs Variadic<Loom_Activation>:$results);
  let assemblyFormat = "$kernel `(` $operands `)` attr-dict `:` functional-type($operands, $results)";
}

#endif // LOOM_DIALECT_LOOMOPS_TD
