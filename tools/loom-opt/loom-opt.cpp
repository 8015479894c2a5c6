// loom-opt: runs loom passes on .mlir files, for lit tests and debugging.
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"
#include "mlir/Transforms/Passes.h"

#include "loom/Dialect/LoomDialect.h"
#include "loom/Passes/Passes.h"

int main(int argc, char **argv) {
  mlir::DialectRegistry registry;
  registry.insert<loom::LoomDialect, mlir::func::FuncDialect>();
  mlir::registerCanonicalizerPass();
  mlir::registerCSEPass();
  loom::registerLoomPasses();
  return mlir::asMainReturnCode(mlir::MlirOptMain(argc, argv, "Loom optimizer driver\n", registry));
}
