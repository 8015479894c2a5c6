// The distinct matrix products of a compiled model: every Linear kernel and every projection of
// a fused one (gate/up, q/k/v, o_proj + residual, the patch embedding's two), read from the
// artifact's kernel descriptions (codegen describe()), each once.
#pragma once

#include "loom/Codegen/Tuning.h"

#include <string>
#include <vector>

namespace loom::tune {

// Throws loom::Error naming the artifact and a description it cannot read.
std::vector<codegen::ProductKey> modelProducts(const std::string &artifactPath);

} // namespace loom::tune
