// Schedule parameters as data (issue 21): the values the generators' schedules read (rows per
// task, panel depths, prefetch distances, switch points, attention tiles), their legal ranges,
// the checked-in defaults per target (compiler/codegen/tuning/defaults.json) and a tuning
// record made by loom-tune for one target and CPU model (docs/TUNING.md) that overrides them
// per kernel.
#pragma once

#include "loom/Codegen/KernelSpec.h"

#include <cstdint>
#include <map>
#include <string>
#include <variant>
#include <vector>

namespace loom::codegen {

// A parameter that a schedule reads, and the values it accepts: min <= v <= max and v a
// multiple of `multipleOf`.
struct TunableParameter {
  std::string name;
  int min = 0, max = 0, multipleOf = 1;
  std::string meaning;
};

// The product families with parameters, by the product the generator makes for the weights:
// "linear_q4" (Q4G32, Q4G128), "linear_q8" (Q8 rows of whole 32-column blocks: the int16
// product), "linear_f32" (the float product: F32, BF16 and other Q8 rows).
std::string productFamily(ElementType weights, int64_t in);
// Every family's parameters; throws loom::Error for an unknown family.
const std::vector<TunableParameter> &tunableParameters(const std::string &family);
// The product families and "attention".
const std::vector<std::string> &tuningFamilies();

// One matrix product of a model (a Linear kernel or a projection of a fused one): what a
// record's entry is keyed by, "linear_q4 weights=q4g32 in=3840 out=15360".
struct ProductKey {
  ElementType weights = ElementType::F32;
  int64_t in = 0, out = 0;
  std::string family() const { return productFamily(weights, in); }
  std::string str() const;
  // Throws loom::Error naming `text` when it is not a key.
  static ProductKey parse(const std::string &text);
  bool operator<(const ProductKey &other) const { return str() < other.str(); }
};

// One attention shape of a model (the Attention and RawKeyAttention kernels; family
// "attention"): "attention q_heads=16 kv_heads=8 head_dim=256".
struct AttentionKey {
  int64_t qHeads = 0, kvHeads = 0, headDim = 0;
  static constexpr const char *kFamily = "attention";
  std::string str() const;
  // Throws loom::Error naming `text` when it is not a key.
  static AttentionKey parse(const std::string &text);
};

// What a record's entry is keyed by: a matrix product or an attention shape.
using TuningKey = std::variant<ProductKey, AttentionKey>;
std::string keyText(const TuningKey &key);
std::string keyFamily(const TuningKey &key);
// Throws loom::Error naming `text` when it is neither key.
TuningKey parseTuningKey(const std::string &text);

using ScheduleParameters = std::map<std::string, int>;

// What identifies a CPU model for a record: a record tuned on one model is not assumed to suit
// another.
struct CpuIdentity {
  std::string vendor, modelName;
  int family = 0, model = 0, cores = 0;
  int64_t l1dBytes = 0, l2Bytes = 0, l3Bytes = 0;
  // The CPU this process runs on: /proc/cpuinfo, and the caches as the kernel lists them in
  // sysfs (glibc's sysconf derives L3 from CPUID, which in VMs can say 384 MiB for 32).
  static CpuIdentity host();
  // The same from the given files: a /proc/cpuinfo and a sysfs cpuN/cache folder (index0,
  // index1, ... each with level, type and size). Caches that folder lacks come from sysconf.
  static CpuIdentity fromFiles(const std::string &cpuinfoPath,
                               const std::string &cacheFolder);
  // "AuthenticAMD family 25 model 17 (AMD EPYC ...), 2 cores, L1d 32 KiB, L2 1024 KiB, L3 32768 KiB"
  std::string describe() const;
  // Vendor, family, model, core count and cache sizes all equal (the name is informative).
  bool sameModel(const CpuIdentity &other) const;
};

// The end-to-end choices of a record ("runtime"): threads per phase, huge pages, the prefill
// chunk of a server. Absent fields stay 0 / false: not tuned.
struct RuntimeChoices {
  int prefillThreads = 0, decodeThreads = 0;
  bool hugePages = false;
  int64_t prefillChunk = 0; // prompt tokens per prefill call; 0: the whole prompt
  bool tuned = false;       // the record has a "runtime" section
};

// What to do with a record made for another target or CPU model than the compile's.
enum class TuningMismatch { Refuse, Warn };

// The parameters the generators use for one target: the defaults, overridden per product by a
// record's entries.
class Tuning {
public:
  // The checked-in defaults for `loomTarget` (a resolved CPU target name, e.g. "zen4").
  static Tuning defaults(const std::string &loomTarget);
  // Reads a record (JSON text from `source`, a file name for errors) and checks it: format,
  // version, every entry's key, parameter names and legal ranges (an error names the entry and
  // the parameter). A record for another target or CPU model than `loomTarget` / `cpu` is
  // refused, or with TuningMismatch::Warn used and the mismatch appended to `warnings`.
  static Tuning fromRecord(const std::string &recordText, const std::string &source,
                           const std::string &loomTarget, const CpuIdentity &cpu,
                           TuningMismatch mismatch, std::vector<std::string> &warnings);

  // A copy with key's entry set to `params` (each checked against its range): loom-tune's
  // candidates.
  Tuning with(const TuningKey &key, const ScheduleParameters &params) const;

  // The text of the record file at `path`; throws loom::Error naming it when unreadable.
  static std::string readRecordFile(const std::string &path);

  // The target a record names; empty when the text is not a record (fromRecord says why).
  static std::string recordTarget(const std::string &recordText);

  // The parameters of `key`: its record entry's over the target's defaults.
  ScheduleParameters parameters(const TuningKey &key) const;
  // One of them; throws loom::Error if `name` is not a parameter of key's family.
  int value(const TuningKey &key, const std::string &name) const;
  const std::string &target() const { return target_; }
  const RuntimeChoices &runtimeChoices() const { return runtime_; }
  // The record as the artifact stores it (compact JSON); empty for the defaults.
  const std::string &recordText() const { return recordText_; }

private:
  std::string target_;
  std::map<std::string, ScheduleParameters> defaults_; // by family
  std::map<std::string, ScheduleParameters> entries_;  // by keyText()
  std::string recordText_;
  RuntimeChoices runtime_;
};

// Checks one parameter value against its family's range; throws loom::Error naming `where`,
// the parameter and the range.
void checkParameter(const std::string &family, const std::string &name, int value,
                    const std::string &where);

} // namespace loom::codegen
