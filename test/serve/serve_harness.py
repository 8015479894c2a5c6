"""loom-serve under test: paths, the command-line tools and a server started on a free loopback
port (LOOM_BUILD_DIR, default build/). A module of its own, not conftest: python/tests has a
conftest too, and when one pytest run collects both `from conftest import` finds either."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("LOOM_BUILD_DIR", REPO / "build"))
MEDIA = REPO / "test" / "data" / "media"


def tool(name: str) -> str:
    path = BUILD / "bin" / name
    if not path.exists():
        pytest.fail(f"{path} is missing: build Loom first (scripts/build.sh) or set LOOM_BUILD_DIR")
    return str(path)


class Server:
    """A running loom-serve; `url` is its base URL."""

    def __init__(self, artifact: Path, *args: str):
        self.process = subprocess.Popen([tool("loom-serve"), str(artifact), "--port", "0",
                                         "--threads", "1", *args], stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, text=True)
        line = self.process.stdout.readline()
        match = re.search(r"listening on (http://[0-9.]+:[0-9]+)", line)
        if not match:
            self.process.kill()
            raise RuntimeError(f"loom-serve did not start: {line}{self.process.stderr.read()}")
        self.url = match.group(1)

    def stop(self) -> None:
        self.process.terminate()
        assert self.process.wait(timeout=30) == 0
