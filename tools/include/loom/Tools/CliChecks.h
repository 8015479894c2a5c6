// CLI11 validators with messages people can read (CLI11 2.1's PositiveNumber prints DBL_MAX
// spelled out in full).
#pragma once

#include <CLI/CLI.hpp>

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

namespace loom::cli {

// Accepts integers >= minimum: "--layers: expected an integer >= 1, found 0".
inline CLI::Validator integerAtLeast(long long minimum) {
  return CLI::Validator(
      [minimum](std::string &text) -> std::string {
        try {
          size_t used = 0;
          long long value = std::stoll(text, &used);
          if (used == text.size() && value >= minimum)
            return {};
        } catch (const std::exception &) {
        }
        return "expected an integer >= " + std::to_string(minimum) + ", found " + text;
      },
      "INT>=" + std::to_string(minimum));
}

// Accepts integers in [minimum, maximum]: "expected an integer in [0, 256], found 100000".
inline CLI::Validator integerBetween(long long minimum, long long maximum) {
  const std::string range = "[" + std::to_string(minimum) + ", " + std::to_string(maximum) + "]";
  return CLI::Validator(
      [minimum, maximum, range](std::string &text) -> std::string {
        try {
          size_t used = 0;
          long long value = std::stoll(text, &used);
          if (used == text.size() && value >= minimum && value <= maximum)
            return {};
        } catch (const std::exception &) {
        }
        return "expected an integer in " + range + ", found " + text;
      },
      "INT in " + range);
}

// Accepts one of the listed integers: "expected one of 70, 140, 280, found 100".
inline CLI::Validator oneOf(std::vector<int64_t> allowed) {
  std::string list;
  for (int64_t v : allowed)
    list += (list.empty() ? "" : ", ") + std::to_string(v);
  return CLI::Validator(
      [allowed, list](std::string &value) -> std::string {
        try {
          size_t used = 0;
          long long n = std::stoll(value, &used, 10);
          if (used == value.size() && std::find(allowed.begin(), allowed.end(), n) != allowed.end())
            return "";
        } catch (const std::exception &) {
        }
        return "expected one of " + list + ", found " + value;
      },
      "{" + list + "}");
}

} // namespace loom::cli
