// loom-cuda-pack: moves a compiled artifact to a machine that cannot compile it, without its
// weights. The GPU check (scripts/gpu-check.sh) compiles CUDA artifacts here, where the compiler
// and its libraries are, but the device machine takes at most 64 MiB of files and has neither
// MLIR nor Halide. So:
//
//   loom-cuda-pack strip MODEL.loom OUT.pack         (here)  manifest + kernel segment only
//   loom-cuda-pack fill OUT.pack CHECKPOINT OUT.loom  (there) the same artifact again, its
//                                                     weights streamed from CHECKPOINT (made
//                                                     there by loom-model with the same flags)
//
// fill uses the artifact writer: every tensor is read from CHECKPOINT/<its source file's name>
// at the recorded offset and converted as recorded, then the result is verified by the
// runtime's reader. The tokenizer comes from CHECKPOINT/tokenizer.json.
#include "loom/Artifact.h"
#include "loom/Artifact/ArtifactWriter.h"
#include "loom/Error.h"
#include "loom/Schema/loom_generated.h"

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

namespace {

constexpr char kMagic[8] = {'L', 'O', 'O', 'M', 'P', 'A', 'C', 'K'};

std::string readFile(const std::string &path, const char *what) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    loom::fail(path, ": cannot read ", what);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// [magic 8][u64 manifest bytes][manifest][u64 kernel bytes][kernels]
void strip(const std::string &input, const std::string &output) {
  auto artifact = loom::Artifact::open(input);
  flatbuffers::FlatBufferBuilder builder;
  std::unique_ptr<loom::fb::ModelT> model(artifact->manifest().UnPack());
  builder.Finish(loom::fb::Model::Pack(builder, model.get()), "LOOM");
  loom::ByteSpan kernels = artifact->segment(artifact->manifest().kernel_library_segment());
  std::ofstream out(output, std::ios::binary);
  uint64_t manifestSize = builder.GetSize(), kernelSize = kernels.size;
  out.write(kMagic, 8);
  out.write(reinterpret_cast<const char *>(&manifestSize), 8);
  out.write(reinterpret_cast<const char *>(builder.GetBufferPointer()), std::streamsize(manifestSize));
  out.write(reinterpret_cast<const char *>(&kernelSize), 8);
  out.write(reinterpret_cast<const char *>(kernels.data), std::streamsize(kernelSize));
  if (!out)
    loom::fail(output, ": cannot write");
}

void fill(const std::string &pack, const std::string &checkpoint, const std::string &output) {
  std::string bytes = readFile(pack, "the pack");
  auto take = [&](size_t &at, size_t size) {
    if (size > bytes.size() - std::min(at, bytes.size()))
      loom::fail(pack, ": truncated (needs ", at + size, " bytes, has ", bytes.size(), ")");
    size_t start = at;
    at += size;
    return start;
  };
  size_t at = 0;
  if (bytes.size() < 8 || std::memcmp(bytes.data(), kMagic, 8) != 0)
    loom::fail(pack, ": not a loom-cuda-pack file");
  take(at, 8);
  uint64_t manifestSize, kernelSize;
  std::memcpy(&manifestSize, bytes.data() + take(at, 8), 8);
  size_t manifestAt = take(at, manifestSize);
  flatbuffers::Verifier verifier(reinterpret_cast<const uint8_t *>(bytes.data() + manifestAt), manifestSize);
  if (!loom::fb::VerifyModelBuffer(verifier))
    loom::fail(pack, ": the manifest does not verify");
  std::memcpy(&kernelSize, bytes.data() + take(at, 8), 8);
  size_t kernelAt = take(at, kernelSize);

  loom::ArtifactContents contents;
  loom::fb::GetModel(bytes.data() + manifestAt)->UnPackTo(&contents.manifest);
  for (auto &tensor : contents.manifest.tensors)
    tensor->source_file =
        (std::filesystem::path(checkpoint) / std::filesystem::path(tensor->source_file).filename()).string();
  contents.kernelLibrary.assign(bytes.begin() + kernelAt, bytes.begin() + kernelAt + kernelSize);
  contents.tokenizerJson = readFile(checkpoint + "/tokenizer.json", "the tokenizer");
  loom::writeArtifact(std::move(contents), output);
}

} // namespace

int main(int argc, char **argv) {
  try {
    std::string command = argc > 1 ? argv[1] : "";
    if (command == "strip" && argc == 4)
      strip(argv[2], argv[3]);
    else if (command == "fill" && argc == 5)
      fill(argv[2], argv[3], argv[4]);
    else {
      std::fprintf(stderr, "usage: loom-cuda-pack strip MODEL.loom OUT.pack\n"
                           "       loom-cuda-pack fill PACK CHECKPOINT_DIR OUT.loom\n");
      return 2;
    }
  } catch (const std::exception &e) {
    std::fprintf(stderr, "loom-cuda-pack: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
