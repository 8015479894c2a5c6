#include "loom/Dialect/LoomDialect.h"
#include "loom/Dialect/LoomOps.h"

using namespace mlir;

#include "loom/Dialect/LoomOpsDialect.cpp.inc"

void loom::LoomDialect::initialize() {
  addOperations<
#define GET_OP_LIST
#include "loom/Dialect/LoomOps.cpp.inc"
      >();
}
