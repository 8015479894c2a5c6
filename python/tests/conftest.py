"""Fixtures: the tiny synthetic checkpoint (``loom-model``), compiled once with ``loom.compile``,
and the command-line tools the results are compared with (``LOOM_BUILD_DIR``, default build/)."""

from __future__ import annotations

from pathlib import Path

import pytest

import loom
from loom_cli import MEDIA, run_tool


@pytest.fixture(scope="session")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("loom")


@pytest.fixture(scope="session")
def checkpoint(workdir) -> Path:
    out = workdir / "tiny"
    run_tool("loom-model", "make", "--preset", "tiny", "--seed", "1", "-o", out)
    return out


@pytest.fixture(scope="session")
def compile_log(checkpoint, workdir) -> list[str]:
    lines: list[str] = []
    loom.compile(checkpoint, workdir / "tiny.loom", target="host", quant="f32",
                 max_context=2048, progress=lines.append)
    return lines


@pytest.fixture(scope="session")
def artifact(compile_log, workdir) -> Path:
    return workdir / "tiny.loom"


@pytest.fixture(scope="session")
def model(artifact) -> loom.Model:
    return loom.Model(artifact, threads=1)


@pytest.fixture
def image_path() -> Path:
    return MEDIA / "coffee_144x96.png"


@pytest.fixture
def audio_path() -> Path:
    return MEDIA / "hello_16k.wav"
