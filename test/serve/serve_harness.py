"""A loom-serve started on a free loopback port, for the tests (a module of its own, not the
conftest: see test/support/loom_cli.py)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from loom_cli import tool


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
