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


def test_compile_with_a_tuning_record(tmp_path, checkpoint):
    record = {"format": "loom-tuning", "version": 1, "target": "x86-64-v3",
              "cpu": {"vendor": "GenuineIntel", "model_name": "Test CPU", "family": 6,
                      "model": 143, "cores": 8, "l1d_bytes": 49152, "l2_bytes": 2097152,
                      "l3_bytes": 110100480},
              "runtime": {"prefill_threads": 1, "decode_threads": 1},
              "kernels": {"linear_f32 weights=f32 in=64 out=128":
                          {"params": {"gemv_rows_per_task": 16}}}}
    path = tmp_path / "tuning.json"
    path.write_text(json.dumps(record))
    out = tmp_path / "tuned.loom"
    with pytest.raises(loom.LoomError, match="the record was tuned on GenuineIntel"):
        loom.compile(checkpoint, out, target="x86-64-v3", quant="f32", tuning=path)
    assert not out.exists()
    record["kernels"]["linear_f32 weights=f32 in=64 out=128"]["params"]["gemv_rows_per_task"] = 0
    path.write_text(json.dumps(record))
    with pytest.raises(loom.LoomError, match="'gemv_rows_per_task' = 0 is out of range"):
        loom.compile(checkpoint, out, target="x86-64-v3", quant="f32", tuning=path,
                     tuning_mismatch="warn")
    record["kernels"]["linear_f32 weights=f32 in=64 out=128"]["params"]["gemv_rows_per_task"] = 16
    path.write_text(json.dumps(record))
    loom.compile(checkpoint, out, target="x86-64-v3", quant="f32", max_context=256,
                 tuning=path, tuning_mismatch="warn")
    target = loom.Model(out).info["kernel_sets"][0]["target"]
    assert target["tuning"]["kernels"] == record["kernels"]
    assert target["runtime_tuning"] == {"prefill_threads": 1, "decode_threads": 1,
                                        "huge_pages": False, "prefill_chunk": 0}
    with pytest.raises(loom.LoomError, match="tuning_mismatch='maybe'"):
        loom.compile(checkpoint, out, tuning=path, tuning_mismatch="maybe")


def test_a_failing_progress_callback_is_raised(checkpoint, tmp_path):
    def fail(line):
        raise KeyError("stop here")

    with pytest.raises(KeyError, match="stop here"):
        loom.compile(checkpoint, tmp_path / "x.loom", quant="f32", progress=fail)
