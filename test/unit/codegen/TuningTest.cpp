// TuningTest: the schedule parameters as data (loom/Codegen/Tuning.h): the checked-in defaults
// cover every parameter of every family within its range, and a tuning record is read with
// every error named (the entry, the parameter, the range) and every mismatch refused or warned.
#include "loom/Codegen/Tuning.h"
#include "loom/Error.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <array>
#include <filesystem>
#include <fstream>
#include <functional>

#include <unistd.h>

using namespace loom::codegen;
using nlohmann::json;

namespace {

const CpuIdentity kCpu{"AuthenticAMD", "Test CPU", 25, 17, 2, 32768, 1048576, 33554432};
const ProductKey kQ4{ElementType::Q4G32, 3840, 15360};
const AttentionKey kFullAttention{16, 1, 512};

json recordFor(const std::string &target, const json &kernels) {
  return {{"format", "loom-tuning"},
          {"version", 1},
          {"target", target},
          {"cpu",
           {{"vendor", kCpu.vendor}, {"model_name", kCpu.modelName}, {"family", kCpu.family},
            {"model", kCpu.model}, {"cores", kCpu.cores}, {"l1d_bytes", kCpu.l1dBytes},
            {"l2_bytes", kCpu.l2Bytes}, {"l3_bytes", kCpu.l3Bytes}}},
          {"kernels", kernels}};
}

Tuning read(const json &record, const std::string &target = "zen4",
            TuningMismatch mismatch = TuningMismatch::Refuse, const CpuIdentity &cpu = kCpu) {
  std::vector<std::string> warnings;
  return Tuning::fromRecord(record.dump(), "rec.json", target, cpu, mismatch, warnings);
}

std::string errorOf(const std::function<void()> &f) {
  try {
    f();
  } catch (const loom::Error &e) {
    return e.what();
  }
  return "(no error)";
}

TEST(Tuning, DefaultsCoverEveryParameterWithinItsRange) {
  for (const CpuTarget &target : cpuTargets()) {
    const Tuning tuning = Tuning::defaults(target.name);
    for (const TuningKey &key :
         {TuningKey(ProductKey{ElementType::F32, 3840, 4096}),
          TuningKey(ProductKey{ElementType::Q8, 3840, 4096}),
          TuningKey(ProductKey{ElementType::Q4G32, 3840, 4096}), TuningKey(kFullAttention)}) {
      const ScheduleParameters values = tuning.parameters(key);
      for (const TunableParameter &p : tunableParameters(keyFamily(key))) {
        ASSERT_TRUE(values.count(p.name)) << target.name << " " << p.name;
        EXPECT_NO_THROW(checkParameter(keyFamily(key), p.name, values.at(p.name), "defaults"));
      }
    }
    EXPECT_TRUE(tuning.recordText().empty());
  }
  // Today's values (the generators' constants before they became data).
  EXPECT_EQ(Tuning::defaults("zen4").value(kQ4, "prefetch_blocks"), 16);
  EXPECT_EQ(Tuning::defaults("zen4").value(kQ4, "unpack_from_tokens"), 64);
  EXPECT_EQ(Tuning::defaults("x86-64-v3").value(kFullAttention, "heads_per_task"), 2);
  EXPECT_EQ(Tuning::defaults("zen4").value(ProductKey{ElementType::BF16, 3840, 4096},
                                           "gemm_from_tokens"),
            64);
  EXPECT_EQ(Tuning::defaults("x86-64-v3").value(ProductKey{ElementType::Q8, 3840, 4096}, "gemm_task_rows"), 48);
}

// A target's entry in defaults.json overrides the '*' entry's values it names and keeps the rest.
TEST(Tuning, ATargetsDefaultsOverrideTheSharedOnes) {
  const ProductKey q8{ElementType::Q8, 3840, 4096};
  EXPECT_EQ(Tuning::defaults("x86-64-v3").value(q8, "gemm_tile_rows"), 2);
  EXPECT_EQ(Tuning::defaults("zen4").value(q8, "gemm_tile_rows"), 4);
  EXPECT_EQ(Tuning::defaults("sapphirerapids").value(q8, "gemm_tile_rows"), 4);
  for (const char *target : {"x86-64-v3", "zen4"}) {
    EXPECT_EQ(Tuning::defaults(target).value(q8, "gemm_tile_tokens"), 4) << target;
    EXPECT_EQ(Tuning::defaults(target).value(q8, "gemm_task_rows"), 48) << target;
  }
}

TEST(Tuning, ARecordOverridesItsProductOnly) {
  const Tuning tuning =
      read(recordFor("zen4", {{kQ4.str(), {{"params", {{"prefetch_blocks", 4}}}}}}));
  EXPECT_EQ(tuning.value(kQ4, "prefetch_blocks"), 4);
  EXPECT_EQ(tuning.value(kQ4, "gemm_groups_per_task"), 8); // not in the entry: the default
  EXPECT_EQ(tuning.value(ProductKey{ElementType::Q4G32, 3840, 4096}, "prefetch_blocks"), 16);
  EXPECT_NE(tuning.recordText().find("\"prefetch_blocks\":4"), std::string::npos);
}

TEST(Tuning, ProductKeysRoundTripAndNameTheirFamily) {
  EXPECT_EQ(kQ4.str(), "linear_q4 weights=q4g32 in=3840 out=15360");
  EXPECT_EQ(ProductKey::parse(kQ4.str()).str(), kQ4.str());
  // Q8 rows that are not whole 32-column blocks take the float product.
  EXPECT_EQ(ProductKey({ElementType::Q8, 48, 64}).str(), "linear_f32 weights=q8 in=48 out=64");
  EXPECT_EQ(errorOf([] { ProductKey::parse("linear_q8 weights=q4g32 in=64 out=64"); }),
            "tuning entry 'linear_q8 weights=q4g32 in=64 out=64': expected 'linear_q4 "
            "weights=q4g32 in=64 out=64'");
  EXPECT_EQ(errorOf([] { ProductKey::parse("linear_q4 weights=q4g32 in=x out=64"); }),
            "tuning entry 'linear_q4 weights=q4g32 in=x out=64': in and out must be integers");
}

TEST(Tuning, AttentionKeysRoundTripAndTakeTheirOwnEntries) {
  EXPECT_EQ(kFullAttention.str(), "attention q_heads=16 kv_heads=1 head_dim=512");
  EXPECT_EQ(keyText(parseTuningKey(kFullAttention.str())), kFullAttention.str());
  EXPECT_EQ(keyFamily(parseTuningKey(kFullAttention.str())), "attention");
  EXPECT_EQ(errorOf([] { AttentionKey::parse("attention q_heads=16 kv_heads=3 head_dim=64"); }),
            "tuning entry 'attention q_heads=16 kv_heads=3 head_dim=64': expected 'attention "
            "q_heads=<N> kv_heads=<N> head_dim=<N>' with q_heads a multiple of kv_heads");
  EXPECT_NE(errorOf([] { parseTuningKey("attention q_heads=16 head_dim=64"); })
                .find("expected 'attention q_heads=<N> kv_heads=<N> head_dim=<N>'"),
            std::string::npos);
  const Tuning tuning = read(recordFor(
      "zen4", {{kFullAttention.str(), {{"params", {{"heads_per_task", 8}}}}},
               {kQ4.str(), {{"params", {{"gemm_token_block", 128}}}}}}));
  EXPECT_EQ(tuning.value(kFullAttention, "heads_per_task"), 8);
  EXPECT_EQ(tuning.value(kFullAttention, "score_accumulators"), 8);
  EXPECT_EQ(tuning.value(AttentionKey{16, 8, 256}, "heads_per_task"), 2);
  EXPECT_EQ(tuning.value(kQ4, "gemm_token_block"), 128);
  EXPECT_EQ(errorOf([&] {
              read(recordFor("zen4", {{kFullAttention.str(),
                                       {{"params", {{"score_accumulators", 0}}}}}}));
            }),
            "rec.json: kernel 'attention q_heads=16 kv_heads=1 head_dim=512': parameter "
            "'score_accumulators' = 0 is out of range: expected [1, 32]");
}

TEST(Tuning, IllegalValuesAreRefusedWithTheKernelAndParameterNamed) {
  auto entry = [](const json &params) {
    return recordFor("zen4", {{kQ4.str(), {{"params", params}}}});
  };
  EXPECT_EQ(errorOf([&] { read(entry({{"prefetch_blocks", 300}})); }),
            "rec.json: kernel 'linear_q4 weights=q4g32 in=3840 out=15360': parameter "
            "'prefetch_blocks' = 300 is out of range: expected [0, 256]");
  EXPECT_EQ(errorOf([&] { read(entry({{"gemm_groups_per_task", 3}})); }),
            "rec.json: kernel 'linear_q4 weights=q4g32 in=3840 out=15360': parameter "
            "'gemm_groups_per_task' = 3 is out of range: expected a multiple of 2 in [2, 128]");
  EXPECT_EQ(errorOf([&] { read(entry({{"tile_rows", 4}})); }),
            "rec.json: kernel 'linear_q4 weights=q4g32 in=3840 out=15360': unknown parameter "
            "'tile_rows' (linear_q4 has gemv_groups_per_task, gemm_groups_per_task, "
            "prefetch_blocks, gemm_token_block, unpack_from_tokens, unpacked_tile_groups, "
            "unpacked_vector_groups)");
  EXPECT_EQ(errorOf([&] { read(entry({{"prefetch_blocks", "8"}})); }),
            "rec.json: kernel 'linear_q4 weights=q4g32 in=3840 out=15360': parameter "
            "'prefetch_blocks' must be an integer");
}

TEST(Tuning, OtherTargetsAndCpusAreRefusedOrWarned) {
  const json record = recordFor("zen4", json::object());
  EXPECT_EQ(errorOf([&] { read(record, "x86-64-v3"); }),
            "rec.json: the record was tuned for target 'zen4', not 'x86-64-v3' "
            "(--tuning-mismatch=warn uses it anyway)");
  CpuIdentity other = kCpu;
  other.l3Bytes *= 2;
  EXPECT_NE(errorOf([&] { read(record, "zen4", TuningMismatch::Refuse, other); })
                .find("the record was tuned on AuthenticAMD family 25 model 17 (Test CPU), 2 "
                      "cores, L1d 32 KiB, L2 1024 KiB, L3 32768 KiB, not on this CPU"),
            std::string::npos);
  std::vector<std::string> warnings;
  Tuning::fromRecord(record.dump(), "rec.json", "x86-64-v3", other, TuningMismatch::Warn,
                     warnings);
  ASSERT_EQ(warnings.size(), 2u);
  EXPECT_NE(warnings[0].find("tuned for target 'zen4', not 'x86-64-v3'; used anyway"),
            std::string::npos);
}

// The caches come from sysfs as the kernel lists them, the model from /proc/cpuinfo.
TEST(Tuning, CpuIdentityReadsTheCachesSysfsLists) {
  const std::filesystem::path root =
      std::filesystem::temp_directory_path() / ("loom-cpu-" + std::to_string(getpid()));
  std::filesystem::remove_all(root);
  auto write = [&](const std::filesystem::path &path, const std::string &text) {
    std::filesystem::create_directories(path.parent_path());
    std::ofstream(path) << text << "\n";
  };
  write(root / "cpuinfo", "processor\t: 0\nvendor_id\t: AuthenticAMD\ncpu family\t: 26\n"
                          "model\t\t: 2\nmodel name\t: AMD EPYC\n\nprocessor\t: 1");
  const std::vector<std::array<std::string, 3>> caches = {
      {"1", "Data", "48K"}, {"1", "Instruction", "32K"}, {"2", "Unified", "1024K"},
      {"3", "Unified", "32M"}};
  for (size_t i = 0; i < caches.size(); ++i) {
    const std::filesystem::path index = root / "cache" / ("index" + std::to_string(i));
    write(index / "level", caches[i][0]);
    write(index / "type", caches[i][1]);
    write(index / "size", caches[i][2]);
  }
  const CpuIdentity cpu = CpuIdentity::fromFiles(root / "cpuinfo", root / "cache");
  std::filesystem::remove_all(root);
  EXPECT_EQ(cpu.vendor, "AuthenticAMD");
  EXPECT_EQ(cpu.modelName, "AMD EPYC");
  EXPECT_EQ(cpu.family, 26);
  EXPECT_EQ(cpu.model, 2);
  EXPECT_EQ(cpu.l1dBytes, 48 << 10);
  EXPECT_EQ(cpu.l2Bytes, 1 << 20);
  EXPECT_EQ(cpu.l3Bytes, 32 << 20);
}

// Found: records said "L3 393216 KiB" on a Zen 5 VM whose L3 is 32 MiB (glibc's sysconf derives
// it from CPUID); the host's figures are sysfs's.
TEST(Tuning, HostCachesAreTheKernelsFigures) {
  std::ifstream l3("/sys/devices/system/cpu/cpu0/cache/index3/size");
  std::string size;
  if (!(l3 >> size) || size.back() != 'K')
    GTEST_SKIP() << "no L3 size in KiB in sysfs";
  EXPECT_EQ(CpuIdentity::host().l3Bytes, std::stoll(size) * 1024);
}

TEST(Tuning, FilesThatAreNotRecordsAreRefused) {
  std::vector<std::string> warnings;
  auto fromText = [&](const std::string &text) {
    return errorOf([&] {
      Tuning::fromRecord(text, "rec.json", "zen4", kCpu, TuningMismatch::Refuse, warnings);
    });
  };
  EXPECT_EQ(fromText("{\"format\": \"loom-tuning\"").rfind("rec.json: not valid JSON: ", 0), 0u);
  EXPECT_EQ(fromText("{\"format\": \"other\", \"version\": 1}"),
            "rec.json: 'format' must be \"loom-tuning\" (a loom-tune record)");
  json future = recordFor("zen4", json::object());
  future["version"] = 2;
  EXPECT_EQ(fromText(future.dump()), "rec.json: 'version' 2 is not supported (expected 1)");
  json noCpu = recordFor("zen4", json::object());
  noCpu.erase("cpu");
  EXPECT_EQ(fromText(noCpu.dump()), "rec.json: 'cpu' is missing (the CPU model the record was tuned on)");
  EXPECT_EQ(fromText(recordFor("zen4", {{"linear_q4 weights=q4g32 in=64 out=64", 3}}).dump()),
            "rec.json: kernel 'linear_q4 weights=q4g32 in=64 out=64': expected an object with "
            "'params'");
  EXPECT_EQ(Tuning::recordTarget(recordFor("zen4", json::object()).dump()), "zen4");
  EXPECT_EQ(Tuning::recordTarget("not json"), "");
}

} // namespace
