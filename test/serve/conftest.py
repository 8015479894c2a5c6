"""loom-serve under test: the tiny synthetic model compiled with the command-line tools, and
servers started on free loopback ports (LOOM_BUILD_DIR, default build/)."""

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


@pytest.fixture(scope="session")
def artifact(tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("serve")
    subprocess.run([tool("loom-model"), "make", "--preset", "tiny", "--seed", "1", "-o",
                    str(work / "tiny")], check=True, capture_output=True)
    subprocess.run([tool("loom-compile"), str(work / "tiny"), "-o", str(work / "tiny.loom"),
                    "--target=host", "--quant=f32", "--max-context", "1024"], check=True,
                   capture_output=True)
    return work / "tiny.loom"


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


@pytest.fixture(scope="session")
def server(artifact):
    s = Server(artifact, "--parallel", "4", "--model-name", "tiny")
    yield s
    s.stop()


@pytest.fixture(scope="session")
def client(server):
    import openai

    return openai.OpenAI(base_url=server.url + "/v1", api_key="unused", max_retries=0)
