#!/usr/bin/env python3
"""Where a Loom run's time goes, by generated kernel.

perf cannot name the kernels: the runtime dlopens the artifact's kernel library from a memfd,
which is gone when perf reports. This extracts that segment, maps perf's unresolved addresses
in it (offsets into the file) to the library's symbols, and prints the shares per symbol, with
everything outside the library grouped by perf's own symbol names.

    perf record -F 999 -o perf.data -- loom-bench --e2e model.loom ...
    scripts/perf-kernels.py model.loom perf.data [--top 30]
"""
import argparse
import bisect
import collections
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

LOOM_INSPECT = Path(__file__).resolve().parent.parent / "build" / "bin" / "loom-inspect"


def extract_kernel_library(artifact: Path, out: Path) -> None:
    info = json.loads(subprocess.check_output([str(LOOM_INSPECT), "--json", str(artifact)]))
    segment = info["segments"][info["kernel_library_segment"]]
    with open(artifact, "rb") as f:
        f.seek(segment["offset"])
        out.write_bytes(f.read(segment["size"]))


def load_segments(library: Path):
    """(file offset, size, vaddr) of each PT_LOAD."""
    text = subprocess.check_output(["readelf", "-lW", str(library)], text=True)
    segments = []
    for line in text.splitlines():
        fields = line.split()
        if fields and fields[0] == "LOAD":
            segments.append((int(fields[1], 16), int(fields[4], 16), int(fields[2], 16)))
    return segments


def function_symbols(library: Path):
    text = subprocess.check_output(["nm", "--defined-only", "-n", str(library)], text=True)
    symbols = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) == 3 and fields[1] in "tTwW":
            symbols.append((int(fields[0], 16), fields[2]))
    return symbols


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("artifact", type=Path)
    parser.add_argument("perf_data", type=Path)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--kernels-only", action="store_true",
                        help="only the artifact's kernels, as shares of their total (setup such as "
                             "loading the artifact and the probes' buffers left out)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        library = Path(tmp) / "kernels.so"
        extract_kernel_library(args.artifact, library)
        segments = load_segments(library)
        symbols = function_symbols(library)
    starts = [address for address, _ in symbols]

    def kernel_symbol(file_offset: int) -> str:
        for offset, size, vaddr in segments:
            if offset <= file_offset < offset + size:
                index = bisect.bisect_right(starts, file_offset - offset + vaddr) - 1
                return symbols[index][1] if index >= 0 else "?"
        return "?"

    report = subprocess.check_output(
        ["perf", "report", "-i", str(args.perf_data), "--no-children", "--sort", "dso,sym",
         "--stdio", "-g", "none", "--percent-limit", "0"],
        text=True, stderr=subprocess.DEVNULL)
    line_pattern = re.compile(r"^\s*([\d.]+)%\s+(.*?)\s+\[([.k])\]\s+(.*)$")
    shares = collections.Counter()
    for line in report.splitlines():
        match = line_pattern.match(line)
        if not match:
            continue
        share, dso, _, symbol = float(match[1]), match[2], match[3], match[4].strip()
        if dso.startswith("memfd:loom-kernels"):
            symbol = kernel_symbol(int(symbol, 16)) if symbol.startswith("0x") else symbol
            shares["kernel " + symbol] += share
        else:
            shares[f"{dso}: {symbol}"] += share
    total = sum(shares.values())
    kernels = sum(v for k, v in shares.items() if k.startswith("kernel "))
    print(f"{total:6.2f}% sampled, {kernels:6.2f}% in the artifact's kernels")
    if args.kernels_only:
        shares = collections.Counter({k[len("kernel "):]: 100.0 * v / kernels
                                      for k, v in shares.items() if k.startswith("kernel ")})
    for name, share in shares.most_common(args.top):
        print(f"{share:6.2f}%  {name[:150]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
