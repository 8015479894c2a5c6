"""The pytest suites' paths and Loom's command-line tools (LOOM_BUILD_DIR, default build/), for
python/tests and test/serve (on sys.path through pyproject.toml's pytest `pythonpath`). A module
of its own, not a conftest: when one run collects both folders, `from conftest import` finds
either folder's conftest."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("LOOM_BUILD_DIR", REPO / "build"))
MEDIA = REPO / "test" / "data" / "media"


def tool(name: str) -> Path:
    path = BUILD / "bin" / name
    if not path.exists():
        pytest.fail(f"{path} is missing: build Loom first (scripts/build.sh) or set LOOM_BUILD_DIR")
    return path


def run_tool(name: str, *args, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([str(tool(name)), *map(str, args)], check=True, capture_output=True,
                          text=True, **kwargs)
