"""loom.compile runs loom-compile's driver: its artifact runs, its progress reaches the callback,
and Model.info is loom-inspect --json's document."""

import json

import pytest

import loom
from loom_cli import run_tool


def test_progress_reports_every_phase(compile_log):
    phases = [line.split(":")[0] for line in compile_log if line.endswith(" s")]
    assert phases == ["import", "fuse", "quantize", "plan", "codegen", "serialize"]


def test_info_is_loom_inspect_json(model, artifact):
    inspected = json.loads(run_tool("loom-inspect", artifact, "--json").stdout)
    assert inspected.pop("segments_verified") is None
    assert model.info == inspected
    assert model.info["config"]["vocab_size"] == model.vocab_size


def test_compile_errors_leave_no_artifact(tmp_path, checkpoint):
    out = tmp_path / "never.loom"
    with pytest.raises(loom.LoomError, match="config.json"):
        loom.compile(tmp_path / "missing", out)
    with pytest.raises(loom.LoomError, match="risc-v"):
        loom.compile(checkpoint, out, target="risc-v")
    with pytest.raises(loom.LoomError, match="q3"):
        loom.compile(checkpoint, out, quant="q3")
    assert not out.exists()


def test_a_failing_progress_callback_is_raised(checkpoint, tmp_path):
    def fail(line):
        raise KeyError("stop here")

    with pytest.raises(KeyError, match="stop here"):
        loom.compile(checkpoint, tmp_path / "x.loom", quant="f32", progress=fail)
