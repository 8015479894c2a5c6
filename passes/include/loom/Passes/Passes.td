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
    model call the same generated code. `loom.weight`, `loom.reshape` and `loom.kv_append`
    stay: they are views and runtime commands, not kernels.

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

#endif // LOOM_PASSES_TD
