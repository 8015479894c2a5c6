// Tests the runtime's choice among an artifact's kernel sets: the most capable one whose every
// CPU feature this machine has, and a refusal naming what each set needs when none fits. "sse2"
// is on every x86-64 CPU and "warp-drive" on none, so the choice is the same on every machine.
#include "loom/Error.h"
#include "loom/Runtime/KernelSets.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace {

struct Manifest {
  flatbuffers::FlatBufferBuilder builder;
  const loom::fb::Model *model = nullptr;
};

std::unique_ptr<loom::fb::TargetT> target(const std::string &name,
                                          std::vector<std::string> features) {
  auto t = std::make_unique<loom::fb::TargetT>();
  t->name = name;
  t->cpu_features = std::move(features);
  return t;
}

// A manifest whose kernel sets have these targets (library segments 1, 3, 4, ...); with
// `asSets` false, only the first, as `target` (an artifact from before kernel sets).
void build(Manifest &out, std::vector<std::unique_ptr<loom::fb::TargetT>> targets,
           bool asSets = true) {
  loom::fb::ModelT m;
  m.target = std::make_unique<loom::fb::TargetT>(*targets[0]);
  m.kernel_library_segment = 1;
  if (asSets)
    for (size_t i = 0; i < targets.size(); ++i) {
      auto set = std::make_unique<loom::fb::KernelSetT>();
      set->target = std::move(targets[i]);
      set->library_segment = i == 0 ? 1 : uint32_t(2 + i);
      m.kernel_sets.push_back(std::move(set));
    }
  out.builder.Finish(loom::fb::Model::Pack(out.builder, &m));
  out.model = loom::fb::GetModel(out.builder.GetBufferPointer());
}

TEST(KernelSets, RunsTheMostCapableSetThisCpuHas) {
  Manifest m;
  std::vector<std::unique_ptr<loom::fb::TargetT>> targets;
  targets.push_back(target("base", {"sse2"}));
  targets.push_back(target("also-here", {"sse2", "sse"}));
  targets.push_back(target("nowhere", {"sse2", "warp-drive"}));
  build(m, std::move(targets));
  std::vector<loom::KernelSetRef> sets = loom::kernelSets(*m.model);
  ASSERT_EQ(sets.size(), 3u);
  EXPECT_EQ(sets[2].librarySegment, 4u);
  const size_t chosen = loom::chooseKernelSet(*m.model, "multi.loom");
  EXPECT_EQ(chosen, 1u);
  EXPECT_EQ(sets[chosen].target->name()->str(), "also-here");
  EXPECT_EQ(sets[chosen].librarySegment, 3u);
}

TEST(KernelSets, RefusesWhenNoSetFitsNamingWhatEachNeeds) {
  Manifest m;
  std::vector<std::unique_ptr<loom::fb::TargetT>> targets;
  targets.push_back(target("first", {"sse2", "warp-drive"}));
  targets.push_back(target("second", {"avx9000"}));
  build(m, std::move(targets));
  try {
    loom::chooseKernelSet(*m.model, "multi.loom");
    FAIL() << "expected loom::Error";
  } catch (const loom::Error &e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("multi.loom: cannot run this artifact on this machine: none of its 2 "
                           "kernel sets fits this CPU (second needs avx9000; first needs "
                           "warp-drive)"),
              std::string::npos)
        << message;
  }
}

TEST(KernelSets, ArtifactWithoutSetsRunsItsTargetOrRefusesIt) {
  Manifest ok;
  std::vector<std::unique_ptr<loom::fb::TargetT>> targets;
  targets.push_back(target("old", {"sse2"}));
  build(ok, std::move(targets), false);
  ASSERT_EQ(loom::kernelSets(*ok.model).size(), 1u);
  EXPECT_EQ(loom::chooseKernelSet(*ok.model, "old.loom"), 0u);

  Manifest lacking;
  targets.clear();
  targets.push_back(target("old", {"sse2", "warp-drive"}));
  build(lacking, std::move(targets), false);
  try {
    loom::chooseKernelSet(*lacking.model, "old.loom");
    FAIL() << "expected loom::Error";
  } catch (const loom::Error &e) {
    EXPECT_NE(std::string(e.what()).find("old.loom: cannot run this artifact on this machine: it "
                                         "requires CPU features this runtime does not know: "
                                         "'warp-drive'"),
              std::string::npos)
        << e.what();
  }
}

} // namespace
