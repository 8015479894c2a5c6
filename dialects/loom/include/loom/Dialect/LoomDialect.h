#pragma once

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Dialect.h"

#include "loom/Dialect/LoomOpsDialect.h.inc"
