// Runs loom-run on one golden case and compares its logits with the Hugging Face reference
// stored in the case's JSON (made by tools/golden/make_goldens.py).
//
//   golden-check CASE.json MODEL.loom LOOM_RUN SOURCE_DIR WORK_DIR
//
// Passes when every stored logit is within 1e-4 of the case's logit range, every row's argmax
// and maximum agree, and the greedy tokens are identical.
//
//   golden-check --compare CASE.json FUSED.loom UNFUSED.loom LOOM_RUN SOURCE_DIR WORK_DIR
//
// The differential test of fusion: runs the case's prompt on both artifacts and passes when
// every logit of every row agrees within 1e-5 of the unfused logit range (floating-point
// reassociation) and the greedy tokens are identical.
#include "NpyReader.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

namespace {

using loom::test::Npy;
using loom::test::readNpy;

constexpr double kRelativeTolerance = 1e-4;
constexpr double kReassociationTolerance = 1e-5;

std::string joinIds(const nlohmann::json &ids) {
  std::string text;
  for (const auto &id : ids)
    text += (text.empty() ? "" : ",") + std::to_string(id.get<int64_t>());
  return text;
}

} // namespace

// Runs loom-run on the case's prompt; writes WORK_DIR/<tag>.npy and <tag>.txt (its --json).
bool runCase(const nlohmann::json &golden, const std::string &model, const std::string &loomRun,
             const std::string &sourceDir, const std::string &workDir, const std::string &tag) {
  std::string command = "'" + loomRun + "' '" + model + "' --prompt-ids " +
                        joinIds(golden["prompt_ids"]) + " --max-tokens " +
                        std::to_string(golden["max_tokens"].get<int>()) +
                        " --greedy --ignore-eos --json --logits-out '" + workDir + "/" + tag + ".npy'";
  if (golden.contains("image_budget"))
    command += " --image-budget " + std::to_string(golden["image_budget"].get<int>());
  for (const auto &image : golden["images"])
    command += " --image '" + sourceDir + "/" + image.get<std::string>() + "'";
  for (const auto &audio : golden["audios"])
    command += " --audio '" + sourceDir + "/" + audio.get<std::string>() + "'";
  command += " > '" + workDir + "/" + tag + ".txt'";
  std::cout << "running: " << command << "\n";
  return std::system(command.c_str()) == 0;
}

std::vector<int64_t> generatedIds(const std::string &textPath) {
  std::ifstream textFile(textPath);
  nlohmann::json run = nlohmann::json::parse(textFile, nullptr, false);
  if (!run.is_discarded() && run.contains("generated_ids"))
    return run["generated_ids"].get<std::vector<int64_t>>();
  return {};
}

// --compare: one artifact against another on the case's prompt (fused against unfused, tuned
// against the defaults).
int compareArtifacts(const nlohmann::json &golden, const std::string &fused,
                     const std::string &unfused, const std::string &loomRun,
                     const std::string &sourceDir, const std::string &workDir) {
  std::string name = golden["case"].get<std::string>();
  for (const auto &[model, tag] : {std::pair{fused, name + "-fused"}, std::pair{unfused, name + "-unfused"}})
    if (!runCase(golden, model, loomRun, sourceDir, workDir, tag)) {
      std::cerr << name << ": loom-run failed on " << model << "\n";
      return 1;
    }
  Npy a, b;
  std::string error;
  if (!readNpy(workDir + "/" + name + "-fused.npy", a, error) ||
      !readNpy(workDir + "/" + name + "-unfused.npy", b, error)) {
    std::cerr << error << "\n";
    return 1;
  }
  if (a.shape != b.shape || a.shape.size() != 2) {
    std::cerr << name << ": the fused and unfused logits differ in shape\n";
    return 1;
  }
  auto [lowest, highest] = std::minmax_element(b.data.begin(), b.data.end());
  double range = double(*highest) - double(*lowest), worst = 0;
  for (size_t i = 0; i < a.data.size(); ++i)
    worst = std::max(worst, std::fabs(double(a.data[i]) - double(b.data[i])));
  bool sameTokens = generatedIds(workDir + "/" + name + "-fused.txt") ==
                    generatedIds(workDir + "/" + name + "-unfused.txt");
  std::printf("%s: %s vs %s: rows %lld x %lld, logit range %.4f, max |diff| %.3g (%.3g of "
              "the range, bound %.0e), greedy tokens %s\n",
              name.c_str(), fused.c_str(), unfused.c_str(), (long long)a.shape[0], (long long)a.shape[1], range, worst,
              worst / range, kReassociationTolerance, sameTokens ? "identical" : "DIFFERENT");
  return worst <= kReassociationTolerance * range && sameTokens ? 0 : 1;
}

int main(int argc, char **argv) {
  if (argc == 8 && std::string(argv[1]) == "--compare") {
    std::ifstream caseFile(argv[2]);
    nlohmann::json golden = nlohmann::json::parse(caseFile, nullptr, false);
    if (golden.is_discarded()) {
      std::cerr << argv[2] << ": not valid JSON\n";
      return 1;
    }
    return compareArtifacts(golden, argv[3], argv[4], argv[5], argv[6], argv[7]);
  }
  if (argc != 6) {
    std::cerr << "usage: golden-check CASE.json MODEL.loom LOOM_RUN SOURCE_DIR WORK_DIR\n"
                 "       golden-check --compare CASE.json FUSED.loom UNFUSED.loom LOOM_RUN SOURCE_DIR WORK_DIR\n";
    return 2;
  }
  std::string casePath = argv[1], model = argv[2], loomRun = argv[3], sourceDir = argv[4],
              workDir = argv[5];
  std::ifstream caseFile(casePath);
  nlohmann::json golden = nlohmann::json::parse(caseFile, nullptr, false);
  if (golden.is_discarded()) {
    std::cerr << casePath << ": not valid JSON\n";
    return 1;
  }
  std::string name = golden["case"];
  std::string logitsPath = workDir + "/" + name + ".npy";
  std::string textPath = workDir + "/" + name + ".txt";
  if (!runCase(golden, model, loomRun, sourceDir, workDir, name)) {
    std::cerr << name << ": loom-run failed\n";
    return 1;
  }

  Npy logits;
  std::string error;
  if (!readNpy(logitsPath, logits, error)) {
    std::cerr << error << "\n";
    return 1;
  }
  const auto &rows = golden["logits"];
  const auto &columns = golden["columns"];
  size_t expectedRows = rows.size();
  if (logits.shape.size() != 2 || size_t(logits.shape[0]) != expectedRows) {
    std::cerr << name << ": expected " << expectedRows << " logit rows, found shape ["
              << (logits.shape.empty() ? 0 : logits.shape[0]) << ", ...]\n";
    return 1;
  }
  int64_t vocab = logits.shape[1];

  double lowest = 1e300, highest = -1e300;
  for (size_t r = 0; r < expectedRows; ++r) {
    lowest = std::min(lowest, golden["row_min"][r].get<double>());
    highest = std::max(highest, golden["row_max"][r].get<double>());
  }
  double range = highest - lowest, tolerance = kRelativeTolerance * range;

  double worst = 0;
  size_t argmaxMismatches = 0;
  for (size_t r = 0; r < expectedRows; ++r) {
    const float *row = &logits.data[r * vocab];
    for (size_t c = 0; c < columns.size(); ++c)
      worst = std::max(worst, std::fabs(double(row[columns[c].get<int64_t>()]) - rows[r][c].get<double>()));
    worst = std::max(worst, std::fabs(double(*std::max_element(row, row + vocab)) -
                                      golden["row_max"][r].get<double>()));
    worst = std::max(worst, std::fabs(double(*std::min_element(row, row + vocab)) -
                                      golden["row_min"][r].get<double>()));
    if (std::max_element(row, row + vocab) - row != golden["row_argmax"][r].get<int64_t>())
      ++argmaxMismatches;
  }

  std::ifstream textFile(textPath);
  nlohmann::json run = nlohmann::json::parse(textFile, nullptr, false);
  std::vector<int64_t> tokens;
  if (!run.is_discarded() && run.contains("generated_ids"))
    tokens = run["generated_ids"].get<std::vector<int64_t>>();
  auto expectedTokens = golden["tokens"].get<std::vector<int64_t>>();

  std::printf("%s: rows %zu, logit range %.4f, max |diff| %.3g (%.3g of the range, bound %.0e), "
              "argmax mismatches %zu, greedy tokens %s\n",
              name.c_str(), expectedRows, range, worst, worst / range, kRelativeTolerance,
              argmaxMismatches, tokens == expectedTokens ? "identical" : "DIFFERENT");
  bool ok = worst <= tolerance && argmaxMismatches == 0 && tokens == expectedTokens;
  return ok ? 0 : 1;
}
