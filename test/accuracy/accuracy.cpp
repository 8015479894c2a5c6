// loom-accuracy: how much each weight format changes the model's next-token distributions.
//
//   loom-accuracy --model DIR [--reference REF.loom] --loom-compile BIN --loom-run BIN
//                 --cases a.json,b.json --source-dir SRC --work DIR
//                 [--modes bf16,q8,q4g32,q4g128] [--compile-arg ARG]...
//                 [--bound MODE:KL:TOP1:MAXERR]... [--markdown FILE]
//
// Compiles the checkpoint DIR once per mode (loom-compile --quant=MODE), runs the prompts of
// the golden cases (prompt_ids, images and audios of test/golden/data/*.json) through the
// mode's artifact and through the f32 reference artifact (compiled with the same compile
// arguments unless --reference names one) (loom-run --logits-out, prefill only:
// one next-token distribution per prompt position, the same inputs for both), and reports per
// mode over all positions: the mean and max KL(p_f32 || p_mode) of softmax(logits), the top-1
// agreement and the max |logit - logit_f32|. With --bound, exits 1 when a mode exceeds its
// bound (KL is the mean KL; TOP1 the minimum agreement; MAXERR the max logit error).
#include "NpyReader.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <sys/stat.h>
#include <vector>

namespace {

using loom::test::Npy;
using loom::test::readNpy;

std::vector<std::string> split(const std::string &text, char sep) {
  std::vector<std::string> parts;
  std::stringstream in(text);
  std::string part;
  while (std::getline(in, part, sep))
    if (!part.empty())
      parts.push_back(part);
  return parts;
}

std::string quote(const std::string &s) { return "'" + s + "'"; }

int run(const std::string &command) {
  std::cerr << "loom-accuracy: " << command << "\n";
  return std::system(command.c_str());
}

struct Stats {
  double klSum = 0, klMax = 0, maxErr = 0;
  int64_t positions = 0, agree = 0;
  double bytes = 0;
  double meanKl() const { return positions ? klSum / double(positions) : 0; }
  double top1() const { return positions ? double(agree) / double(positions) : 0; }
};

// Accumulates KL(p || q), top-1 agreement and max |a - b| of rows of logits.
void compare(const Npy &ref, const Npy &got, Stats &stats) {
  const int64_t rows = ref.shape[0], vocab = ref.shape[1];
  for (int64_t r = 0; r < rows; ++r) {
    const float *a = &ref.data[r * vocab], *b = &got.data[r * vocab];
    double maxA = *std::max_element(a, a + vocab), maxB = *std::max_element(b, b + vocab);
    double sumA = 0, sumB = 0;
    for (int64_t v = 0; v < vocab; ++v) {
      sumA += std::exp(double(a[v]) - maxA);
      sumB += std::exp(double(b[v]) - maxB);
    }
    double logZA = maxA + std::log(sumA), logZB = maxB + std::log(sumB), kl = 0;
    for (int64_t v = 0; v < vocab; ++v) {
      double logP = double(a[v]) - logZA, logQ = double(b[v]) - logZB;
      kl += std::exp(logP) * (logP - logQ);
      stats.maxErr = std::max(stats.maxErr, std::fabs(double(a[v]) - double(b[v])));
    }
    kl = std::max(kl, 0.0);
    stats.klSum += kl;
    stats.klMax = std::max(stats.klMax, kl);
    stats.agree += (std::max_element(a, a + vocab) - a) == (std::max_element(b, b + vocab) - b);
    ++stats.positions;
  }
}

} // namespace

int main(int argc, char **argv) {
  std::string model, reference, loomCompile, loomRun, sourceDir, work, markdown;
  std::vector<std::string> cases, modes{"bf16", "q8", "q4g32", "q4g128"}, compileArgs;
  struct Bound {
    double kl, top1, maxErr;
  };
  std::map<std::string, Bound> bounds;
  for (int i = 1; i < argc; ++i) {
    std::string flag = argv[i];
    if (i + 1 >= argc) {
      std::cerr << "loom-accuracy: " << flag << " needs a value\n";
      return 2;
    }
    std::string value = argv[++i];
    if (flag == "--model")
      model = value;
    else if (flag == "--reference")
      reference = value;
    else if (flag == "--loom-compile")
      loomCompile = value;
    else if (flag == "--loom-run")
      loomRun = value;
    else if (flag == "--cases")
      cases = split(value, ',');
    else if (flag == "--source-dir")
      sourceDir = value;
    else if (flag == "--work")
      work = value;
    else if (flag == "--modes")
      modes = split(value, ',');
    else if (flag == "--compile-arg")
      compileArgs.push_back(value);
    else if (flag == "--markdown")
      markdown = value;
    else if (flag == "--bound") {
      auto parts = split(value, ':');
      if (parts.size() != 4) {
        std::cerr << "loom-accuracy: --bound " << value << ": expected MODE:KL:TOP1:MAXERR\n";
        return 2;
      }
      bounds[parts[0]] = {std::stod(parts[1]), std::stod(parts[2]), std::stod(parts[3])};
    } else {
      std::cerr << "loom-accuracy: unknown flag " << flag << "\n";
      return 2;
    }
  }
  if (model.empty() || loomCompile.empty() || loomRun.empty() ||
      cases.empty() || work.empty()) {
    std::cerr << "usage: loom-accuracy --model DIR [--reference REF.loom] --loom-compile BIN "
                 "--loom-run BIN --cases A.json,... --source-dir SRC --work DIR [--modes ...] "
                 "[--compile-arg ARG]... [--bound MODE:KL:TOP1:MAXERR]... [--markdown FILE]\n";
    return 2;
  }
  ::mkdir(work.c_str(), 0755);
  auto compileMode = [&](const std::string &mode, const std::string &artifact) {
    std::string command = quote(loomCompile) + " " + quote(model) + " -o " + quote(artifact) +
                          " --quant=" + mode + " -q";
    for (const std::string &arg : compileArgs)
      command += " " + arg;
    return run(command) == 0;
  };
  if (reference.empty()) {
    reference = work + "/f32.loom";
    if (!compileMode("f32", reference)) {
      std::cerr << "loom-accuracy: compiling the f32 reference failed\n";
      return 1;
    }
  }

  // The prompts, and the f32 reference logits of each.
  struct Case {
    std::string name, args;
    Npy logits;
  };
  std::vector<Case> prompts;
  for (const std::string &path : cases) {
    std::ifstream file(path);
    nlohmann::json golden = nlohmann::json::parse(file, nullptr, false);
    if (golden.is_discarded() || !golden.contains("prompt_ids")) {
      std::cerr << "loom-accuracy: " << path << ": not a golden case (no prompt_ids)\n";
      return 2;
    }
    Case c;
    c.name = golden["case"].get<std::string>();
    std::string ids;
    for (const auto &id : golden["prompt_ids"])
      ids += (ids.empty() ? "" : ",") + std::to_string(id.get<int64_t>());
    c.args = " --prompt-ids " + ids + " --max-tokens 1 --greedy --ignore-eos --json";
    for (const auto &image : golden["images"])
      c.args += " --image " + quote(sourceDir + "/" + image.get<std::string>());
    for (const auto &audio : golden["audios"])
      c.args += " --audio " + quote(sourceDir + "/" + audio.get<std::string>());
    std::string out = work + "/f32." + c.name + ".npy", npyError;
    if (run(quote(loomRun) + " " + quote(reference) + c.args + " --logits-out " + quote(out) +
            " > /dev/null") != 0 ||
        !readNpy(out, c.logits, npyError)) {
      std::cerr << "loom-accuracy: the reference run of " << c.name << " failed " << npyError << "\n";
      return 1;
    }
    prompts.push_back(std::move(c));
  }

  bool ok = true;
  std::ostringstream table;
  table << "| mode | artifact MiB | positions | mean KL | max KL | top-1 agreement | max abs logit error |\n"
        << "|---|---|---|---|---|---|---|\n";
  struct stat refInfo {};
  ::stat(reference.c_str(), &refInfo);
  table << "| f32 | " << std::fixed;
  table.precision(1);
  table << double(refInfo.st_size) / 1048576.0 << " | (reference) | 0 | 0 | 100% | 0 |\n";
  for (const std::string &mode : modes) {
    std::string artifact = work + "/" + mode + ".loom";
    if (!compileMode(mode, artifact)) {
      std::cerr << "loom-accuracy: compiling " << mode << " failed\n";
      return 1;
    }
    Stats stats;
    struct stat info {};
    ::stat(artifact.c_str(), &info);
    stats.bytes = double(info.st_size);
    for (const Case &c : prompts) {
      std::string out = work + "/" + mode + "." + c.name + ".npy", npyError;
      Npy logits;
      if (run(quote(loomRun) + " " + quote(artifact) + c.args + " --logits-out " + quote(out) +
              " > /dev/null") != 0 ||
          !readNpy(out, logits, npyError) || logits.shape != c.logits.shape) {
        std::cerr << "loom-accuracy: the " << mode << " run of " << c.name << " failed " << npyError
                  << "\n";
        return 1;
      }
      compare(c.logits, logits, stats);
    }
    std::remove(artifact.c_str()); // disk: the 12B-shaped artifacts are GBs
    char line[256];
    std::snprintf(line, sizeof line, "| %s | %.1f | %lld | %.3g | %.3g | %.2f%% | %.3g |\n",
                  mode.c_str(), stats.bytes / 1048576.0, (long long)stats.positions,
                  stats.meanKl(), stats.klMax, 100.0 * stats.top1(), stats.maxErr);
    table << line;
    std::printf("%s: positions %lld, mean KL %.4g, max KL %.4g, top-1 %.2f%%, max |logit err| %.4g\n",
                mode.c_str(), (long long)stats.positions, stats.meanKl(), stats.klMax,
                100.0 * stats.top1(), stats.maxErr);
    if (auto b = bounds.find(mode); b != bounds.end()) {
      bool within = stats.meanKl() <= b->second.kl && stats.top1() >= b->second.top1 &&
                    stats.maxErr <= b->second.maxErr;
      std::printf("%s: bound mean KL <= %g, top-1 >= %g, max err <= %g: %s\n", mode.c_str(),
                  b->second.kl, b->second.top1, b->second.maxErr, within ? "ok" : "EXCEEDED");
      ok = ok && within;
    }
  }
  std::cout << table.str();
  if (!markdown.empty())
    std::ofstream(markdown) << table.str();
  return ok ? 0 : 1;
}
