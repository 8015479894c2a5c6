"""loom-serve under test: the tiny synthetic model compiled with the command-line tools, and
servers started on free loopback ports (LOOM_BUILD_DIR, default build/)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from loom_cli import tool
from serve_harness import Server


@pytest.fixture(scope="session")
def artifact(tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("serve")
    subprocess.run([tool("loom-model"), "make", "--preset", "tiny", "--seed", "1", "-o",
                    str(work / "tiny")], check=True, capture_output=True)
    subprocess.run([tool("loom-compile"), str(work / "tiny"), "-o", str(work / "tiny.loom"),
                    "--target=host", "--quant=f32", "--max-context", "1024"], check=True,
                   capture_output=True)
    return work / "tiny.loom"


@pytest.fixture(scope="session")
def server(artifact):
    # --prefill-yield-ms 0: concurrent requests also run inside each other's prefills.
    s = Server(artifact, "--parallel", "4", "--model-name", "tiny", "--prefill-yield-ms", "0")
    yield s
    s.stop()


@pytest.fixture(scope="session")
def client(server):
    import openai

    return openai.OpenAI(base_url=server.url + "/v1", api_key="unused", max_retries=0)
