#!/usr/bin/env python3
"""loom-isa-audit: fails on any machine instruction that needs a CPU feature outside a target.

Decodes every executable section of ELF objects and shared libraries with iced-x86, which
knows for each x86 instruction and encoding the CPUID features it needs (so VEX `{vex}
vpdpwssd` is AVX-VNNI and EVEX `vpdpwssd` AVX512-VNNI), and checks them against the target's
feature list (the names __builtin_cpu_supports uses, as in the .loom manifest).

  loom-isa-audit --features avx2,fma,... FILE...       ELF files against one feature list
  loom-isa-audit --target zen4 FILE...                 against a Loom target's features (as
                                                        `loom-kernelgen --list-targets` gives)
  loom-isa-audit --artifact MODEL.loom [--inspect BIN]  each kernel set of an artifact against
                                                        the cpu_features it declares
Exit status: 0 clean, 1 an instruction outside its target, 2 bad input.
"""
import argparse
import collections
import io
import json
import os
import shutil
import subprocess
import sys

import iced_x86
from elftools.common.exceptions import ELFError
from elftools.elf.constants import SH_FLAGS
from elftools.elf.elffile import ELFFile

# x86-64's baseline (what every x86-64 CPU runs), in iced's CpuidFeature names. CPUID, RDTSC
# and XGETBV appear in Halide's runtime, which probes the CPU with them; XGETBV needs XSAVE,
# which every AVX CPU has. CET_IBT's endbr64 is a NOP on CPUs without it.
BASELINE = {
    "INTEL8086", "INTEL186", "INTEL286", "INTEL386", "INTEL486", "X64", "CMOV", "CX8", "FPU",
    "FPU287", "FPU387", "FXSAVE_FXRSTOR", "MMX", "SSE", "SSE2", "MULTIBYTENOP", "PAUSE", "CPUID",
    "TSC", "CET_IBT",
}

# __builtin_cpu_supports name -> the iced CpuidFeature names it covers.
FEATURES = {
    "sse3": {"SSE3"}, "ssse3": {"SSSE3"}, "sse4.1": {"SSE4_1"}, "sse4.2": {"SSE4_2"},
    "popcnt": {"POPCNT"}, "avx": {"AVX", "XSAVE"}, "avx2": {"AVX2"}, "fma": {"FMA"},
    "f16c": {"F16C"}, "bmi": {"BMI1"}, "bmi2": {"BMI2"}, "lzcnt": {"LZCNT"},
    "movbe": {"MOVBE"}, "aes": {"AES"}, "pclmul": {"PCLMULQDQ"},
    "avx512f": {"AVX512F"}, "avx512bw": {"AVX512BW"}, "avx512cd": {"AVX512CD"},
    "avx512dq": {"AVX512DQ"}, "avx512vl": {"AVX512VL"}, "avx512ifma": {"AVX512_IFMA"},
    "avx512vbmi": {"AVX512_VBMI"}, "avx512vbmi2": {"AVX512_VBMI2"},
    "avx512vnni": {"AVX512_VNNI"}, "avx512bf16": {"AVX512_BF16"},
    "avx512bitalg": {"AVX512_BITALG"}, "avx512vpopcntdq": {"AVX512_VPOPCNTDQ"},
    "gfni": {"GFNI"}, "vaes": {"VAES"}, "vpclmulqdq": {"VPCLMULQDQ"},
    "avxvnni": {"AVX_VNNI"}, "avx512fp16": {"AVX512_FP16"},
    "amx-tile": {"AMX_TILE"}, "amx-int8": {"AMX_INT8"}, "amx-bf16": {"AMX_BF16"},
}

CPUID_NAMES = {value: name for name, value in vars(iced_x86.CpuidFeature).items()
               if isinstance(value, int) and not name.startswith("_")}


class AuditError(Exception):
    """Bad input: exit status 2."""


def allowed_set(features, where):
    allowed = set(BASELINE)
    for feature in features:
        if feature not in FEATURES:
            raise AuditError(f"{where}: unknown CPU feature '{feature}' (known: "
                             f"{', '.join(sorted(FEATURES))})")
        allowed |= FEATURES[feature]
    return allowed


def function_symbols(elf):
    """(section index, start, end, name) of every sized function symbol, by start."""
    symbols = []
    for table_name in (".symtab", ".dynsym"):
        table = elf.get_section_by_name(table_name)
        if table is None:
            continue
        for sym in table.iter_symbols():
            if sym["st_info"]["type"] == "STT_FUNC" and sym["st_size"] > 0 and \
                    isinstance(sym["st_shndx"], int):
                start = sym["st_value"]
                symbols.append((sym["st_shndx"], start, start + sym["st_size"], sym.name))
    return sorted(set(symbols))


def symbol_at(symbols, section_index, address):
    best = None
    for index, start, end, name in symbols:
        if index == section_index and start <= address < end:
            best = f"{name}+{address - start:#x}"
    return best or f"{address:#x}"


def audit_elf(data, name, allowed):
    """Returns the violations: (where, instruction text, missing features)."""
    try:
        elf = ELFFile(io.BytesIO(data))
    except ELFError as error:
        raise AuditError(f"{name}: not an ELF file: {error}")
    if elf["e_machine"] != "EM_X86_64":
        raise AuditError(f"{name}: ELF machine is {elf['e_machine']}, expected EM_X86_64")
    symbols = function_symbols(elf)
    formatter = iced_x86.Formatter(iced_x86.FormatterSyntax.GAS)
    encodings = {iced_x86.EncodingKind.VEX: " (VEX)", iced_x86.EncodingKind.EVEX: " (EVEX)"}
    violations = []
    decoded = 0
    for index, section in enumerate(elf.iter_sections()):
        if not section["sh_flags"] & SH_FLAGS.SHF_EXECINSTR or section["sh_type"] == "SHT_NOBITS":
            continue
        code = section.data()
        base = section["sh_addr"]
        for instruction in iced_x86.Decoder(64, code, ip=base):
            decoded += 1
            if instruction.code == iced_x86.Code.INVALID:
                where = f"{section.name}+{instruction.ip - base:#x}"
                violations.append((where, "(bytes that do not decode)", ["INVALID"]))
                continue
            needed = [CPUID_NAMES[f] for f in instruction.cpuid_features()]
            missing = [f for f in needed if f not in allowed]
            if missing:
                address = instruction.ip if elf["e_type"] != "ET_REL" else instruction.ip - base
                where = f"{section.name}:{symbol_at(symbols, index, address)}"
                text = formatter.format(instruction) + encodings.get(instruction.encoding, "")
                violations.append((where, text, missing))
    if decoded == 0:
        raise AuditError(f"{name}: no executable code to audit")
    return violations, decoded


def report(name, target_label, violations, decoded):
    if not violations:
        print(f"{name}: {target_label}: {decoded} instructions, all within the target")
        return True
    counts = collections.Counter(f for _, _, missing in violations for f in missing)
    summary = ", ".join(f"{feature} x{count}" for feature, count in counts.most_common())
    print(f"{name}: {target_label}: {len(violations)} of {decoded} instructions need features "
          f"outside the target: {summary}")
    for where, text, missing in violations[:40]:
        print(f"  {where}: {text}  [needs {', '.join(missing)}]")
    if len(violations) > 40:
        print(f"  ... and {len(violations) - 40} more")
    return False


def find_tool(name, explicit):
    if explicit:
        return explicit
    here = os.path.dirname(os.path.abspath(__file__))
    for candidate in (os.path.join(here, name), shutil.which(name)):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise AuditError(f"{name} not found: pass --{name.split('-')[1]} PATH")


def target_features(target, kernelgen):
    result = subprocess.run([kernelgen, "--list-targets"], capture_output=True, text=True)
    if result.returncode != 0:
        raise AuditError(f"{kernelgen} --list-targets failed: {result.stderr.strip()}")
    names = []
    for line in result.stdout.splitlines():
        name, _, features, _ = line.split()
        names.append(name)
        if name == target:
            return features.split(",")
    raise AuditError(f"unknown target '{target}' (targets: {', '.join(names)})")


def audit_artifact(path, inspect):
    result = subprocess.run([inspect, path, "--json"], capture_output=True, text=True)
    if result.returncode != 0:
        raise AuditError(f"{path}: loom-inspect failed: {result.stderr.strip()}")
    doc = json.loads(result.stdout)
    segments = doc.get("segments", [])
    sets = doc.get("kernel_sets", [])
    if not sets:
        raise AuditError(f"{path}: the manifest lists no kernel sets")
    clean = True
    with open(path, "rb") as artifact:
        for kernel_set in sets:
            target = kernel_set["target"]
            if target["name"].startswith("cuda:"):
                print(f"{path}: {target['name']}: a CUDA bundle, not x86 code: skipped")
                continue
            segment = segments[kernel_set["library_segment"]]
            artifact.seek(segment["offset"])
            data = artifact.read(segment["size"])
            label = f"kernel set {target['name']}"
            allowed = allowed_set(target["cpu_features"], f"{path}: {label}")
            violations, decoded = audit_elf(data, f"{path} ({segment['name']})", allowed)
            clean = report(f"{path} ({segment['name']})", label, violations, decoded) and clean
    return clean


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("files", nargs="*", help="ELF objects or shared libraries")
    parser.add_argument("--features", help="comma-separated __builtin_cpu_supports names")
    parser.add_argument("--target", help="a Loom CPU target, for its features")
    parser.add_argument("--artifact", action="append", default=[], help="a .loom artifact")
    parser.add_argument("--inspect", help="the loom-inspect binary (default: beside this script)")
    parser.add_argument("--kernelgen", help="the loom-kernelgen binary (default: beside this script)")
    args = parser.parse_args()
    try:
        if not args.files and not args.artifact:
            raise AuditError("nothing to audit: give ELF files with --features, or --artifact")
        if args.files and (args.features is None) == (args.target is None):
            raise AuditError("ELF files need one of --features or --target")
        clean = True
        if args.files:
            if args.target:
                features = target_features(args.target, find_tool("loom-kernelgen", args.kernelgen))
                label = "target " + args.target
            else:
                features = [f for f in args.features.split(",") if f]
                label = "features " + ",".join(features)
            allowed = allowed_set(features, "--features")
            for path in args.files:
                try:
                    with open(path, "rb") as f:
                        data = f.read()
                except OSError as error:
                    raise AuditError(f"{path}: cannot read: {error.strerror}")
                violations, decoded = audit_elf(data, path, allowed)
                clean = report(path, label, violations, decoded) and clean
        for path in args.artifact:
            clean = audit_artifact(path, find_tool("loom-inspect", args.inspect)) and clean
    except AuditError as error:
        print(f"loom-isa-audit: error: {error}", file=sys.stderr)
        return 2
    return 0 if clean else 1


if __name__ == "__main__":
    sys.exit(main())
