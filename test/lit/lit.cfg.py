import os
import subprocess
import lit.formats

config.name = "Loom"
config.test_format = lit.formats.ShTest(execute_external=True)
config.suffixes = [".mlir", ".test"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.loom_binary_dir, "test", "lit")
config.excludes = ["CMakeLists.txt", "lit.cfg.py", "Inputs"]

# Loom's tools first, then LLVM 22's FileCheck and not (Debian has no unversioned names).
path = [config.loom_tools_dir, config.llvm_tools_dir, config.environment.get("PATH", os.environ["PATH"])]
config.environment["PATH"] = os.pathsep.join(path)
config.substitutions.append(("%loom_src", config.loom_source_dir))
config.substitutions.append(("%loom_bin", config.loom_binary_dir))

# A lit feature per CPU target this machine runs ("cpu-zen4"): tests that execute a target's
# code say REQUIRES: cpu-<target>; the others (assembly, audit) run on every machine.
listing = subprocess.run([os.path.join(config.loom_tools_dir, "loom-kernelgen"), "--list-targets"],
                         capture_output=True, text=True, check=True).stdout
for line in listing.splitlines():
    name, _, _, where = line.split()
    if where == "runs-here":
        config.available_features.add("cpu-" + name)
