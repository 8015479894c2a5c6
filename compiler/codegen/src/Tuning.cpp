// See Tuning.h. The parameter table (names, ranges, meanings) belongs to the generators that
// read the values; the values themselves are data: the defaults in tuning/defaults.json
// (embedded at build time, TuningDefaults.cpp), a record from loom-tune.
#include "loom/Codegen/Tuning.h"
#include "loom/Error.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include <unistd.h>

namespace loom::codegen {

// The text of tuning/defaults.json (generated TuningDefaults.cpp).
extern const char *const kTuningDefaultsJson;

namespace {

using nlohmann::json;

constexpr const char *kRecordFormat = "loom-tuning";
constexpr int kRecordVersion = 1;

const std::map<std::string, std::vector<TunableParameter>> &parameterTable() {
  // Ranges: what the schedules stay correct and sensible for (LinearSchedule.cpp,
  // QuantizedLinear.cpp, Q4RowGroupLinear.cpp, AttentionCore.cpp); the search (loom-tune) stays
  // inside them.
  static const std::map<std::string, std::vector<TunableParameter>> table = {
      {"linear_f32",
       {{"gemv_rows_per_task", 1, 1024, 1, "GEMV (T < 64): weight rows per parallel task"},
        {"gemm_task_rows", 32, 4096, 16,
         "GEMM (T >= 64): rows per task (its packed panels stay in L2), rounded to a register "
         "tile's rows"},
        {"gemm_depth", 32, 4096, 8, "GEMM: inputs per packed weight panel"},
        {"gemm_from_tokens", 6, 4096, 1,
         "the token count from which the GEMM runs instead of the GEMV"},
        {"gemm_tile_tokens", 1, 16, 1, "GEMM: tokens of a register tile"},
        {"gemm_tile_vectors", 1, 4, 1,
         "GEMM: vectors of rows of a register tile (cut to the matrix's rows)"}}},
      {"linear_q8",
       {{"gemv_rows_per_task", 1, 1024, 1, "GEMV: weight rows per parallel task"},
        {"gemm_task_rows", 2, 1024, 2,
         "GEMM: rows per task (rounded down to whole register tiles, at least one)"},
        {"gemm_from_tokens", 4, 64, 1,
         "the token count from which the tiled GEMM runs instead of the GEMV"},
        {"gemm_token_block", 4, 512, 4,
         "GEMM: tokens per block (a task's activation scales once per block)"},
        {"gemm_block_activation_kib", 1, 8192, 1,
         "GEMM: the most KiB of int16 activations a token block holds (long rows get fewer "
         "tokens than gemm_token_block, at least one tile's)"},
        {"gemm_tile_rows", 1, 8, 1, "GEMM: weight rows of a register tile"},
        {"gemm_tile_tokens", 1, 8, 1, "GEMM: tokens of a register tile"}}},
      {"linear_q4",
       {{"gemv_groups_per_task", 1, 128, 1, "GEMV: row groups of 8 per parallel task"},
        {"gemm_groups_per_task", 2, 128, 2,
         "GEMM: row groups of 8 per task (even: VNNI tiles hold 2 groups)"},
        {"prefetch_blocks", 0, 256, 1,
         "short-T tiles: weights prefetched this many 32-column blocks ahead (0: none)"},
        {"gemm_token_block", 4, 512, 4,
         "GEMM: tokens per block (the task's weights and the block's activations stay in L2)"},
        {"unpack_from_tokens", 5, 4096, 1,
         "the token count from which the GEMM unpacks a row group's nibbles once per token "
         "block rather than in each tile (above the tiles' 4 tokens)"},
        {"unpacked_tile_groups", 1, 8, 1,
         "AVX-512 VNNI: row groups of 8 per tile of the unpacked GEMM (each activation broadcast "
         "serves all of them)"},
        {"unpacked_vector_groups", 1, 2, 1,
         "AVX-512 VNNI: row groups per vector of the unpacked GEMM tile (2: 512-bit vectors of "
         "16 rows)"}}},
      {AttentionKey::kFamily,
       {{"heads_per_task", 1, 16, 1,
         "query heads of one key/value head per parallel task, each key and value read once for "
         "them (the largest divisor of the group not above it)"},
        {"score_accumulators", 1, 32, 1,
         "accumulator vectors of a score tile (keys x the task's heads)"},
        {"value_accumulators", 1, 32, 1,
         "accumulator vectors of a weighted-value tile (output vectors x the task's heads)"}}},
  };
  return table;
}

const TunableParameter *findParameter(const std::string &family, const std::string &name) {
  for (const TunableParameter &p : tunableParameters(family))
    if (p.name == name)
      return &p;
  return nullptr;
}

std::string parameterNames(const std::string &family) {
  std::string names;
  for (const TunableParameter &p : tunableParameters(family))
    names += (names.empty() ? "" : ", ") + p.name;
  return names;
}

int intField(const json &object, const std::string &where, const std::string &name) {
  if (!object.contains(name) || !object[name].is_number_integer())
    fail(where, ": '", name, "' must be an integer");
  return object[name].get<int>();
}

std::string stringField(const json &object, const std::string &where, const std::string &name) {
  if (!object.contains(name) || !object[name].is_string())
    fail(where, ": '", name, "' must be a string");
  return object[name].get<std::string>();
}

// Reads {"name": value, ...} for `family`, checking every name and range.
ScheduleParameters readParameters(const json &object, const std::string &family,
                                  const std::string &where) {
  if (!object.is_object())
    fail(where, ": expected an object of parameters");
  ScheduleParameters values;
  for (auto it = object.begin(); it != object.end(); ++it) {
    if (!findParameter(family, it.key()))
      fail(where, ": unknown parameter '", it.key(), "' (", family, " has ", parameterNames(family),
           ")");
    if (!it.value().is_number_integer())
      fail(where, ": parameter '", it.key(), "' must be an integer");
    const int64_t value = it.value().get<int64_t>();
    checkParameter(family, it.key(), int(std::clamp<int64_t>(value, INT32_MIN, INT32_MAX)), where);
    values[it.key()] = int(value);
  }
  return values;
}

json parseJson(const std::string &text, const std::string &source) {
  try {
    return json::parse(text);
  } catch (const json::exception &e) {
    fail(source, ": not valid JSON: ", e.what());
  }
}

CpuIdentity readCpuIdentity(const json &cpu, const std::string &where) {
  if (!cpu.is_object())
    fail(where, ": 'cpu' must be an object");
  CpuIdentity id;
  id.vendor = stringField(cpu, where + " cpu", "vendor");
  id.modelName = stringField(cpu, where + " cpu", "model_name");
  id.family = intField(cpu, where + " cpu", "family");
  id.model = intField(cpu, where + " cpu", "model");
  id.cores = intField(cpu, where + " cpu", "cores");
  id.l1dBytes = intField(cpu, where + " cpu", "l1d_bytes");
  id.l2Bytes = intField(cpu, where + " cpu", "l2_bytes");
  id.l3Bytes = intField(cpu, where + " cpu", "l3_bytes");
  return id;
}

// The record's "runtime" section: each field optional, each checked against its range.
RuntimeChoices readRuntimeChoices(const json &runtime, const std::string &where) {
  if (!runtime.is_object())
    fail(where, ": expected an object");
  RuntimeChoices choices;
  choices.tuned = true;
  auto integer = [&](const char *name, int64_t min, int64_t max) -> int64_t {
    if (!runtime.contains(name))
      return 0;
    if (!runtime[name].is_number_integer())
      fail(where, ": '", name, "' must be an integer");
    const int64_t value = runtime[name].get<int64_t>();
    if (value < min || value > max)
      fail(where, ": '", name, "' = ", value, " is out of range: expected [", min, ", ", max, "]");
    return value;
  };
  choices.prefillThreads = int(integer("prefill_threads", 1, 256));
  choices.decodeThreads = int(integer("decode_threads", 1, 256));
  choices.prefillChunk = integer("prefill_chunk", 0, int64_t(1) << 20);
  if (runtime.contains("huge_pages")) {
    if (!runtime["huge_pages"].is_boolean())
      fail(where, ": 'huge_pages' must be true or false");
    choices.hugePages = runtime["huge_pages"].get<bool>();
  }
  return choices;
}

} // namespace

const std::vector<std::string> &tuningFamilies() {
  static const std::vector<std::string> families = [] {
    std::vector<std::string> names;
    for (const auto &entry : parameterTable())
      names.push_back(entry.first);
    return names;
  }();
  return families;
}

std::string productFamily(ElementType weights, int64_t in) {
  switch (weights) {
  case ElementType::Q8: // QuantizedLinear.cpp hasIntegerProduct()
    return in % 32 == 0 ? "linear_q8" : "linear_f32";
  case ElementType::Q4G32:
  case ElementType::Q4G128:
    return "linear_q4";
  default:
    return "linear_f32";
  }
}

const std::vector<TunableParameter> &tunableParameters(const std::string &family) {
  auto it = parameterTable().find(family);
  if (it == parameterTable().end())
    fail("unknown tuning family '", family,
         "' (expected linear_f32, linear_q8, linear_q4 or attention)");
  return it->second;
}

void checkParameter(const std::string &family, const std::string &name, int value,
                    const std::string &where) {
  const TunableParameter *p = findParameter(family, name);
  if (!p)
    fail(where, ": unknown parameter '", name, "' (", family, " has ", parameterNames(family), ")");
  if (value < p->min || value > p->max || value % p->multipleOf != 0)
    fail(where, ": parameter '", name, "' = ", value, " is out of range: expected ",
         p->multipleOf > 1 ? "a multiple of " + std::to_string(p->multipleOf) + " in " : "",
         "[", p->min, ", ", p->max, "]");
}

std::string ProductKey::str() const {
  std::ostringstream text;
  text << family() << " weights=" << elementTypeName(weights) << " in=" << in
       << " out=" << out;
  return text.str();
}

ProductKey ProductKey::parse(const std::string &text) {
  std::istringstream in(text);
  std::string family, weights, inField, outField, rest;
  in >> family >> weights >> inField >> outField;
  auto value = [&](const std::string &field, const std::string &prefix) -> std::string {
    if (field.rfind(prefix, 0) != 0)
      fail("tuning entry '", text, "': expected '<family> weights=<type> in=<N> out=<N>'");
    return field.substr(prefix.size());
  };
  ProductKey key;
  key.weights = parseElementType(value(weights, "weights="));
  try {
    size_t used = 0;
    const std::string inText = value(inField, "in="), outText = value(outField, "out=");
    key.in = std::stoll(inText, &used);
    if (used != inText.size())
      throw std::invalid_argument(inText);
    key.out = std::stoll(outText, &used);
    if (used != outText.size())
      throw std::invalid_argument(outText);
  } catch (const std::logic_error &) {
    fail("tuning entry '", text, "': in and out must be integers");
  }
  if (in >> rest || key.in <= 0 || key.out <= 0 || family != key.family())
    fail("tuning entry '", text, "': expected '", key.str(), "'");
  return key;
}

std::string AttentionKey::str() const {
  std::ostringstream text;
  text << kFamily << " q_heads=" << qHeads << " kv_heads=" << kvHeads << " head_dim=" << headDim;
  return text.str();
}

AttentionKey AttentionKey::parse(const std::string &text) {
  std::istringstream in(text);
  std::string family, rest;
  AttentionKey key;
  in >> family;
  for (auto [prefix, field] : {std::pair{"q_heads=", &key.qHeads}, {"kv_heads=", &key.kvHeads},
                               {"head_dim=", &key.headDim}}) {
    std::string word;
    in >> word;
    const std::string number = word.rfind(prefix, 0) == 0 ? word.substr(strlen(prefix)) : "";
    if (number.empty() || number.size() > 9 ||
        number.find_first_not_of("0123456789") != std::string::npos)
      fail("tuning entry '", text,
           "': expected 'attention q_heads=<N> kv_heads=<N> head_dim=<N>'");
    *field = std::stoll(number);
  }
  if (family != kFamily || in >> rest || key.kvHeads <= 0 || key.headDim <= 0 ||
      key.qHeads <= 0 || key.qHeads % key.kvHeads != 0)
    fail("tuning entry '", text, "': expected 'attention q_heads=<N> kv_heads=<N> head_dim=<N>'",
         " with q_heads a multiple of kv_heads");
  return key;
}

std::string keyText(const TuningKey &key) {
  return std::visit([](const auto &k) { return k.str(); }, key);
}

std::string keyFamily(const TuningKey &key) {
  if (const ProductKey *product = std::get_if<ProductKey>(&key))
    return product->family();
  return AttentionKey::kFamily;
}

TuningKey parseTuningKey(const std::string &text) {
  if (text.rfind(std::string(AttentionKey::kFamily) + " ", 0) == 0)
    return AttentionKey::parse(text);
  return ProductKey::parse(text);
}

namespace {

std::string firstLineOf(const std::string &path) {
  std::ifstream file(path);
  std::string line;
  std::getline(file, line);
  return line;
}

// "48K", "32768K", "1M" as sysfs writes cache sizes; -1 when the text is none of these.
int64_t sysfsCacheBytes(const std::string &text) {
  char *end = nullptr;
  const long long value = std::strtoll(text.c_str(), &end, 10);
  if (end == text.c_str() || value < 0)
    return -1;
  const std::string unit(end);
  if (unit.empty())
    return value;
  if (unit == "K")
    return value << 10;
  if (unit == "M")
    return value << 20;
  if (unit == "G")
    return value << 30;
  return -1;
}

} // namespace

CpuIdentity CpuIdentity::host() {
  return fromFiles("/proc/cpuinfo", "/sys/devices/system/cpu/cpu0/cache");
}

CpuIdentity CpuIdentity::fromFiles(const std::string &cpuinfoPath, const std::string &cacheFolder) {
  CpuIdentity id;
  std::ifstream cpuinfo(cpuinfoPath);
  std::string line;
  auto valueOf = [](const std::string &l) {
    const size_t colon = l.find(':');
    std::string v = colon == std::string::npos ? "" : l.substr(colon + 1);
    v.erase(0, v.find_first_not_of(" \t"));
    return v;
  };
  while (std::getline(cpuinfo, line)) {
    if (line.empty())
      break; // the first processor's block describes the model
    if (line.rfind("vendor_id", 0) == 0)
      id.vendor = valueOf(line);
    else if (line.rfind("cpu family", 0) == 0)
      id.family = std::atoi(valueOf(line).c_str());
    else if (line.rfind("model name", 0) == 0)
      id.modelName = valueOf(line);
    else if (line.rfind("model", 0) == 0 && line.find("model name") != 0)
      id.model = std::atoi(valueOf(line).c_str());
  }
  id.cores = int(sysconf(_SC_NPROCESSORS_ONLN));
  id.l1dBytes = id.l2Bytes = id.l3Bytes = -1;
  for (int index = 0;; ++index) {
    const std::string folder = cacheFolder + "/index" + std::to_string(index);
    const std::string level = firstLineOf(folder + "/level");
    if (level.empty())
      break;
    const std::string type = firstLineOf(folder + "/type");
    const int64_t bytes = sysfsCacheBytes(firstLineOf(folder + "/size"));
    if (level == "1" && type == "Data")
      id.l1dBytes = bytes;
    else if (level == "2" && type != "Instruction")
      id.l2Bytes = bytes;
    else if (level == "3" && type != "Instruction")
      id.l3Bytes = bytes;
  }
  if (id.l1dBytes < 0)
    id.l1dBytes = std::max<long>(0, sysconf(_SC_LEVEL1_DCACHE_SIZE));
  if (id.l2Bytes < 0)
    id.l2Bytes = std::max<long>(0, sysconf(_SC_LEVEL2_CACHE_SIZE));
  if (id.l3Bytes < 0)
    id.l3Bytes = std::max<long>(0, sysconf(_SC_LEVEL3_CACHE_SIZE));
  return id;
}

std::string CpuIdentity::describe() const {
  std::ostringstream out;
  out << vendor << " family " << family << " model " << model << " (" << modelName << "), "
      << cores << " cores, L1d " << l1dBytes / 1024 << " KiB, L2 " << l2Bytes / 1024
      << " KiB, L3 " << l3Bytes / 1024 << " KiB";
  return out.str();
}

bool CpuIdentity::sameModel(const CpuIdentity &other) const {
  return vendor == other.vendor && family == other.family && model == other.model &&
         cores == other.cores && l1dBytes == other.l1dBytes && l2Bytes == other.l2Bytes &&
         l3Bytes == other.l3Bytes;
}

Tuning Tuning::defaults(const std::string &loomTarget) {
  const json all = parseJson(kTuningDefaultsJson, "tuning/defaults.json");
  const std::string where = "tuning/defaults.json";
  if (stringField(all, where, "format") != "loom-tuning-defaults" ||
      intField(all, where, "version") != 1)
    fail(where, ": expected format 'loom-tuning-defaults' version 1");
  Tuning tuning;
  tuning.target_ = loomTarget;
  for (const std::string &family : tuningFamilies()) {
    if (!all["families"].contains(family))
      fail(where, ": no defaults for family '", family, "'");
    // The target's entry, if any, over the '*' entry.
    const json &byTarget = all["families"][family];
    ScheduleParameters values;
    for (const std::string &entry : {std::string("*"), loomTarget})
      if (byTarget.contains(entry))
        for (auto &[name, value] :
             readParameters(byTarget[entry], family, where + " " + family + " " + entry))
          values[name] = value;
    for (const TunableParameter &p : tunableParameters(family))
      if (!values.count(p.name))
        fail(where, ": family '", family, "' has no value for '", p.name, "' on target '",
             loomTarget, "'");
    tuning.defaults_[family] = std::move(values);
  }
  return tuning;
}

Tuning Tuning::fromRecord(const std::string &recordText, const std::string &source,
                          const std::string &loomTarget, const CpuIdentity &cpu,
                          TuningMismatch mismatch, std::vector<std::string> &warnings) {
  const json record = parseJson(recordText, source);
  if (!record.is_object())
    fail(source, ": expected a JSON object (a loom-tune record)");
  if (!record.contains("format") || record["format"] != kRecordFormat)
    fail(source, ": 'format' must be \"", kRecordFormat, "\" (a loom-tune record)");
  if (intField(record, source, "version") != kRecordVersion)
    fail(source, ": 'version' ", record["version"].dump(), " is not supported (expected ",
         kRecordVersion, ")");
  const std::string recordTarget = stringField(record, source, "target");
  if (!record.contains("cpu"))
    fail(source, ": 'cpu' is missing (the CPU model the record was tuned on)");
  const CpuIdentity recordCpu = readCpuIdentity(record["cpu"], source);
  auto mismatched = [&](const std::string &what) {
    if (mismatch == TuningMismatch::Refuse)
      fail(source, ": ", what, " (--tuning-mismatch=warn uses it anyway)");
    warnings.push_back(source + ": " + what + "; used anyway");
  };
  if (recordTarget != loomTarget)
    mismatched("the record was tuned for target '" + recordTarget + "', not '" + loomTarget + "'");
  if (!recordCpu.sameModel(cpu))
    mismatched("the record was tuned on " + recordCpu.describe() + ", not on this CPU, " +
               cpu.describe());

  Tuning tuning = defaults(loomTarget);
  if (!record.contains("kernels") || !record["kernels"].is_object())
    fail(source, ": 'kernels' must be an object of entries keyed by product");
  for (auto it = record["kernels"].begin(); it != record["kernels"].end(); ++it) {
    const std::string where = source + ": kernel '" + it.key() + "'";
    TuningKey key;
    try {
      key = parseTuningKey(it.key());
    } catch (const Error &e) {
      fail(source, ": ", e.what());
    }
    if (!it.value().is_object() || !it.value().contains("params"))
      fail(where, ": expected an object with 'params'");
    tuning.entries_[keyText(key)] = readParameters(it.value()["params"], keyFamily(key), where);
  }
  if (record.contains("runtime"))
    tuning.runtime_ = readRuntimeChoices(record["runtime"], source + ": runtime");
  tuning.recordText_ = record.dump();
  return tuning;
}

Tuning Tuning::with(const TuningKey &key, const ScheduleParameters &params) const {
  Tuning copy = *this;
  for (const auto &[name, value] : params)
    checkParameter(keyFamily(key), name, value, "kernel '" + keyText(key) + "'");
  copy.entries_[keyText(key)] = params;
  return copy;
}

std::string Tuning::readRecordFile(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  if (!in || !(text << in.rdbuf()))
    fail(path, ": cannot read the tuning record (--tuning)");
  return text.str();
}

std::string Tuning::recordTarget(const std::string &recordText) {
  const json record = json::parse(recordText, nullptr, /*allow_exceptions=*/false);
  return record.is_object() && record.contains("target") && record["target"].is_string()
             ? record["target"].get<std::string>()
             : "";
}

ScheduleParameters Tuning::parameters(const TuningKey &key) const {
  const std::string family = keyFamily(key);
  auto defaults = defaults_.find(family);
  if (defaults == defaults_.end())
    fail("tuning: no defaults for family '", family, "'");
  ScheduleParameters values = defaults->second;
  auto entry = entries_.find(keyText(key));
  if (entry != entries_.end())
    for (const auto &[name, value] : entry->second)
      values[name] = value;
  return values;
}

int Tuning::value(const TuningKey &key, const std::string &name) const {
  const ScheduleParameters values = parameters(key);
  auto it = values.find(name);
  if (it == values.end())
    fail("tuning: '", name, "' is not a parameter of ", keyText(key));
  return it->second;
}

} // namespace loom::codegen
