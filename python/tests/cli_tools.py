"""Paths and the command-line tools the package is compared with (LOOM_BUILD_DIR, default
build/). A module of its own, not conftest: test/serve has a conftest too, and when one pytest
run collects both directories `from conftest import` would find whichever came first."""

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
