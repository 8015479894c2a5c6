// loom-kernelgen-cuda: generates one Loom CUDA kernel from a KernelSpec given on the command
// line and prints its CUDA C++, PTX, ptxas report or launch table; for FileCheck tests of the
// generated GPU code and for looking at it by hand.
//
//   loom-kernelgen-cuda --kind linear --in 3840 --out 4096 --weights bf16 --target cuda:sm_80 --emit ptx
#include "loom/CodegenCuda/CudaCodegen.h"
#include "loom/Error.h"

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <fstream>
#include <iostream>

using namespace loom;
using namespace loom::codegen;
namespace gen = loom::codegen::cuda;

int main(int argc, char **argv) {
  CLI::App app{"Generates one Loom CUDA kernel and prints its source, PTX, ptxas report or launches"};
  std::string kind, weights = "f32", target = "cuda:sm_90a", emit = "ptx", output = "-";
  int64_t in = 0, out = 0, groups = 1, width = 0, vocab = 0, heads = 0, headDim = 0, kvHeads = 0;
  int64_t window = 0, capacity = 0, rotatedPairs = -1, tableSize = 0;
  double eps = 1e-6, theta = 10000.0, scale = 1.0, cap = 30.0;
  bool bias = false, noWeight = false, noImageBlocks = false;
  app.add_option("--kind", kind, "embed_tokens | rms_norm | layer_norm | linear | rope | attention | "
                                 "geglu | add | scale | softcap | vision_position_add")->required();
  app.add_option("--weights", weights, "f32 | bf16 | q8 | q4g32 | q4g128");
  app.add_option("--target", target, "cuda:sm_80 | cuda:sm_90a");
  app.add_option("--emit", emit, "source | ptx | ptxas (NVRTC's log of the cubin build) | launches");
  app.add_option("-o", output, "output file (- for stdout)");
  app.add_option("--in", in);
  app.add_option("--out", out);
  app.add_flag("--bias", bias);
  app.add_option("--groups", groups);
  app.add_option("--width", width);
  app.add_flag("--no-weight", noWeight, "rms_norm without a scale");
  app.add_option("--eps", eps);
  app.add_option("--vocab", vocab);
  app.add_option("--heads", heads, "query heads (rope: heads)");
  app.add_option("--kv-heads", kvHeads);
  app.add_option("--head-dim", headDim);
  app.add_option("--theta", theta);
  app.add_option("--rotated-pairs", rotatedPairs, "default head_dim / 2");
  app.add_option("--window", window);
  app.add_option("--capacity", capacity);
  app.add_option("--scale", scale);
  app.add_flag("--no-image-blocks", noImageBlocks);
  app.add_option("--cap", cap);
  app.add_option("--table-size", tableSize);
  CLI11_PARSE(app, argc, argv);

  try {
    KernelSpec spec;
    spec.symbol = "loom_" + kind;
    if (weights == "f32")
      spec.weightType = ElementType::F32;
    else if (weights == "bf16")
      spec.weightType = ElementType::BF16;
    else if (weights == "q8")
      spec.weightType = ElementType::Q8;
    else if (weights == "q4g32")
      spec.weightType = ElementType::Q4G32;
    else if (weights == "q4g128")
      spec.weightType = ElementType::Q4G128;
    else
      fail("--weights=", weights, ": expected f32, bf16, q8, q4g32 or q4g128");
    if (kind == "embed_tokens")
      spec.params = EmbedTokens{vocab, width, scale};
    else if (kind == "rms_norm")
      spec.params = RmsNorm{groups, width, !noWeight, eps};
    else if (kind == "layer_norm")
      spec.params = LayerNorm{width, eps};
    else if (kind == "linear")
      spec.params = Linear{in, out, bias};
    else if (kind == "rope")
      spec.params = Rope{heads, headDim, theta, rotatedPairs < 0 ? headDim / 2 : rotatedPairs};
    else if (kind == "attention")
      spec.params = Attention{heads, kvHeads, headDim, window, capacity, scale, !noImageBlocks};
    else if (kind == "geglu")
      spec.params = GeGlu{width};
    else if (kind == "add")
      spec.params = Add{width};
    else if (kind == "scale")
      spec.params = Scale{width};
    else if (kind == "softcap")
      spec.params = Softcap{width, cap};
    else if (kind == "vision_position_add")
      spec.params = VisionPositionAdd{width, tableSize};
    else
      fail("--kind=", kind, " is not a kernel kind");

    gen::CudaTarget gpu = gen::cudaTargetFor(target);
    gen::GeneratedModule module = gen::generateCudaSource({spec});
    std::string text;
    if (emit == "source") {
      text = module.source;
    } else if (emit == "ptx") {
      text = gen::compileToPtx(module.source, gpu);
    } else if (emit == "ptxas") {
      gen::compileToCubin(module.source, gpu, &text);
      text += "\n";
    } else if (emit == "launches") {
      nlohmann::ordered_json doc = nlohmann::ordered_json::array();
      for (const auto &variant : module.kernels.at(0).variants) {
        nlohmann::ordered_json launches = nlohmann::ordered_json::array();
        for (const auto &launch : variant.launches)
          launches.push_back({{"function", launch.function},
                              {"block", launch.block[0]},
                              {"shared_bytes", launch.sharedBytes}});
        doc.push_back({{"max_tokens", variant.maxTokens},
                       {"workspace_bytes_per_token", variant.workspaceBytesPerToken},
                       {"launches", launches}});
      }
      text = doc.dump(2) + "\n";
    } else {
      fail("--emit=", emit, ": expected source, ptx, ptxas or launches");
    }
    if (output == "-") {
      std::cout << text;
    } else {
      std::ofstream file(output, std::ios::binary);
      if (!(file << text))
        fail(output, ": cannot write");
    }
  } catch (const std::exception &e) {
    std::fprintf(stderr, "loom-kernelgen-cuda: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
