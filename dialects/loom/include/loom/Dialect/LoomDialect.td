#ifndef LOOM_DIALECT_LOOMDIALECT_TD
#define LOOM_DIALECT_LOOMDIALECT_TD

include "mlir/IR/OpBase.td"

def Loom_Dialect : Dialect {
  let name = "loom";
  let cppNamespace = "::loom";
  let summary = "Encoder-free multimodal decoder models (Gemma 4 unified) and their kernel programs";
  let description = [{
    Two levels live in this dialect. The graph level expresses a model imported from a
    Hugging Face checkpoint: weights are referenced by symbol (never inlined), activations are
    tensors whose leading dimension is the token count of a call. The program level is what
    the lowering produces: `loom.kernel` bodies outlined from graph ops and `loom.dispatch`
    calls to them over planned arena buffers.
  }];
  let dependentDialects = ["::mlir::func::FuncDialect"];
}

class Loom_Op<string mnemonic, list<Trait> traits = []>
    : Op<Loom_Dialect, mnemonic, traits>;

#endif // LOOM_DIALECT_LOOMDIALECT_TD
