// config.json <-> a builtin dictionary attribute on the module (ModuleConfig.h).
#include "loom/Driver/ModuleConfig.h"

#include "loom/Checkpoint/ConfigJson.h"
#include "loom/Error.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"

#include <nlohmann/json.hpp>

using namespace mlir;

namespace loom {
namespace {

Attribute toAttribute(Builder &builder, const nlohmann::json &json) {
  switch (json.type()) {
  case nlohmann::json::value_t::object: {
    SmallVector<NamedAttribute> entries;
    for (auto &[key, value] : json.items())
      entries.push_back(builder.getNamedAttr(key, toAttribute(builder, value)));
    return builder.getDictionaryAttr(entries);
  }
  case nlohmann::json::value_t::array: {
    SmallVector<Attribute> elements;
    for (const auto &value : json)
      elements.push_back(toAttribute(builder, value));
    return builder.getArrayAttr(elements);
  }
  case nlohmann::json::value_t::string:
    return builder.getStringAttr(json.get<std::string>());
  case nlohmann::json::value_t::boolean:
    return builder.getBoolAttr(json.get<bool>());
  case nlohmann::json::value_t::number_integer:
  case nlohmann::json::value_t::number_unsigned:
    return builder.getI64IntegerAttr(json.get<int64_t>());
  case nlohmann::json::value_t::number_float:
    return builder.getF64FloatAttr(json.get<double>());
  default:
    return builder.getUnitAttr(); // null
  }
}

nlohmann::json toJson(Attribute attr, const std::string &source) {
  if (auto dict = dyn_cast<DictionaryAttr>(attr)) {
    nlohmann::json object = nlohmann::json::object();
    for (NamedAttribute entry : dict)
      object[entry.getName().str()] = toJson(entry.getValue(), source);
    return object;
  }
  if (auto array = dyn_cast<ArrayAttr>(attr)) {
    nlohmann::json list = nlohmann::json::array();
    for (Attribute element : array)
      list.push_back(toJson(element, source));
    return list;
  }
  if (auto text = dyn_cast<StringAttr>(attr))
    return text.str();
  if (auto flag = dyn_cast<BoolAttr>(attr))
    return flag.getValue();
  if (auto integer = dyn_cast<IntegerAttr>(attr))
    return integer.getInt();
  if (auto number = dyn_cast<FloatAttr>(attr))
    return number.getValueAsDouble();
  if (isa<UnitAttr>(attr))
    return nullptr;
  fail(source, ": attribute '", kConfigAttr,
       "' holds a value that is not a JSON value (expected dictionaries, arrays, strings, "
       "booleans, i64 and f64)");
}

} // namespace

void attachModelConfig(ModuleOp module, const ModelConfig &config, const std::string &checkpointDir) {
  Builder builder(module.getContext());
  module->setAttr(kConfigAttr, toAttribute(builder, nlohmann::json::parse(toConfigJson(config))));
  module->setAttr(kCheckpointAttr, builder.getStringAttr(checkpointDir));
}

ModelConfig modelConfigOf(ModuleOp module, const std::string &source) {
  auto dict = module->getAttrOfType<DictionaryAttr>(kConfigAttr);
  if (!dict)
    fail(source, ": the module has no '", kConfigAttr,
         "' dictionary (the model configuration loom-compile attaches at import); expected IR "
         "written by loom-compile --compile-to");
  return parseModelConfigText(toJson(dict, source).dump(), source + " (" + kConfigAttr + ")");
}

std::string checkpointDirOf(ModuleOp module, const std::string &source) {
  auto dir = module->getAttrOfType<StringAttr>(kCheckpointAttr);
  if (!dir)
    fail(source, ": the module has no '", kCheckpointAttr,
         "' string (the checkpoint folder loom-compile attaches at import)");
  return dir.str();
}

} // namespace loom
