#include "RooflinePlot.h"

#include "loom/Error.h"

#include <nlohmann/json.hpp>

#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>

namespace loom::bench {
namespace {

std::string shellQuote(const std::string &s) {
  std::string out = "'";
  for (char c : s)
    out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// A gnuplot single-quoted string ('' stands for a quote inside).
std::string gnuplotString(const std::string &s) {
  std::string out = "'";
  for (char c : s)
    out += c == '\'' ? std::string("''") : std::string(1, c);
  return out + "'";
}

} // namespace

void plotRoofline(const std::string &jsonPath, const std::string &pngPath) {
  std::ifstream in(jsonPath);
  if (!in)
    fail("--plot: cannot read the benchmark results ", jsonPath);
  nlohmann::json results;
  try {
    results = nlohmann::json::parse(in);
  } catch (const std::exception &e) {
    fail("--plot: ", jsonPath, " is not Google Benchmark JSON: ", e.what());
  }
  struct Roof {
    double bandwidth = 0, peak = 0;
  };
  std::map<int, Roof> roofs;                 // per thread count
  std::map<int, std::ostringstream> points;  // "intensity gflops label" rows per thread count
  for (const auto &b : results.value("benchmarks", nlohmann::json::array())) {
    if (b.value("aggregate_name", "") != "median")
      continue;
    const std::string name = b.value("run_name", "");
    const auto at = name.rfind("/threads:");
    if (at == std::string::npos || !b.contains("GFLOPs") || !b.contains("GBps"))
      continue;
    const int threads = std::atoi(name.c_str() + at + 9);
    const double gflops = b["GFLOPs"].get<double>(), gbps = b["GBps"].get<double>();
    if (b.contains("probe_GBps"))
      roofs[threads].bandwidth = std::max(roofs[threads].bandwidth, b["probe_GBps"].get<double>());
    if (b.contains("peak_GFLOPs"))
      roofs[threads].peak = std::max(roofs[threads].peak, b["peak_GFLOPs"].get<double>());
    std::string label = name.substr(0, at);
    for (char &c : label)
      if (c == ' ')
        c = '_';
    points[threads] << gflops / gbps << " " << gflops << " " << label << "\n";
  }
  if (points.empty())
    fail("--plot: ", jsonPath, " holds no median results of gemv/gemm cases (run with ",
         "--benchmark_repetitions > 1)");

  const std::string dataPath = pngPath + ".dat", scriptPath = pngPath + ".gp";
  {
    std::ofstream data(dataPath);
    for (auto &[threads, rows] : points)
      data << "# threads " << threads << "\n" << rows.str() << "\n\n";
  }
  std::ofstream gp(scriptPath);
  gp << "set terminal pngcairo size 1400,900 noenhanced\n"
     << "set output " << gnuplotString(pngPath) << "\n"
     << "set logscale xy\nset grid\nset key left top\n"
     << "set xlabel 'arithmetic intensity (flop per weight byte)'\nset ylabel 'GFLOP/s'\n"
     << "set title " << gnuplotString("loom-bench roofline (" + jsonPath + ")") << "\nset xrange [0.1:2000]\n"
     << "roof(x, bw, peak) = x * bw < peak ? x * bw : peak\n";
  std::ostringstream plot;
  int index = 0, colour = 1;
  for (auto &[threads, rows] : points) {
    const Roof &r = roofs[threads];
    // A roof not measured in this run (gemv-only or gemm-only) is drawn out of the way.
    const double bw = r.bandwidth > 0 ? r.bandwidth : 1e9, peak = r.peak > 0 ? r.peak : 1e9;
    plot << (plot.tellp() ? ", " : "") << "roof(x, " << bw << ", " << peak << ") lc " << colour
         << " lw 2 title 'roof, " << threads << " thread(s): "
         << (r.bandwidth > 0 ? std::to_string(int(r.bandwidth)) + " GB/s" : "bandwidth not measured")
         << ", " << (r.peak > 0 ? std::to_string(int(r.peak)) + " GFLOP/s" : "peak not measured")
         << "'";
    plot << ", " << gnuplotString(dataPath) << " index " << index << " using 1:2 with points pt 7 lc " << colour
         << " title 'kernels, " << threads << " thread(s)'";
    plot << ", " << gnuplotString(dataPath) << " index " << index
         << " using 1:2:3 with labels font ',7' offset 0.5,0.5 left notitle";
    ++index;
    ++colour;
  }
  gp << "plot " << plot.str() << "\n";
  gp.close();
  const std::string command = "gnuplot " + shellQuote(scriptPath) + " 2>&1";
  if (std::system(command.c_str()) != 0)
    fail("--plot: gnuplot failed on ", scriptPath,
         " (is gnuplot installed? scripts/setup.sh installs gnuplot-nox)");
}

} // namespace loom::bench
