"""tests/gpu/check.sh, the one-call GPU check, run here in its --cpu mode (tiny sizes on the CPU).

A GPU machine is lent rarely and briefly, so the script must work the first time: --cpu walks every
assertion path of tests/gpu/check.py (each check's success and its JSON figures) with the packages the
GPU machine's image lacks (snakemake, papermill, the notebook tools) made unimportable; the failure
paths (a check that fails, data that cannot be prepared) are driven here too.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from helpers import ROOT
from lossbench import data

pytestmark = pytest.mark.slow

NOT_ON_THE_GPU_IMAGE = ("snakemake", "papermill", "jupytext", "nbconvert", "nbformat", "snakefmt", "yaml")
CHECKS = ["pytest", "graph_vs_eager", "gpu_vs_cpu", "bench", "lr_grid", "packed_vs_single", "deterministic",
          "device_index", "four_processes", "model_pt", "peak_memory", "logs"]

HIDE = f"""
import sys

class HideWhatTheGpuImageLacks:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in {NOT_ON_THE_GPU_IMAGE!r}:
            raise ImportError(f"{{name}} is not on the GPU machine's image")

sys.meta_path.insert(0, HideWhatTheGpuImageLacks())
"""


def hiding_path(tmp_path):
    """A PYTHONPATH folder whose sitecustomize.py makes those packages unimportable."""
    hide = tmp_path / "hide"
    hide.mkdir(exist_ok=True)
    (hide / "sitecustomize.py").write_text(textwrap.dedent(HIDE))
    return str(hide)


def run_check(tmp_path, mirror, *args):
    environ = {k: v for k, v in os.environ.items() if k != data.MIRROR_ENV}  # it would override MIRROR
    env = {**environ, "PYTHONPATH": hiding_path(tmp_path), "PYTHON": sys.executable, "OUT": str(tmp_path / "out"),
           "WORK": str(tmp_path / "work"), "MIRROR": str(mirror)}
    return subprocess.run(["bash", str(ROOT / "tests" / "gpu" / "check.sh"), "--cpu", *args], capture_output=True,
                          text=True, env=env, timeout=900)


def test_the_hiding_works(tmp_path):
    out = subprocess.run([sys.executable, "-c", "import snakemake"], capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": hiding_path(tmp_path)})
    assert out.returncode != 0 and "not on the GPU machine's image" in out.stderr


def test_the_gpu_check_walks_every_assertion_on_cpu_and_prints_one_json_and_one_line(tmp_path, real_mirror):
    out = run_check(tmp_path, real_mirror)
    last = out.stdout.strip().splitlines()[-1]
    assert out.returncode == 0, last + "\n" + (tmp_path / "out" / "check.log").read_text()[-3000:]
    assert last.startswith(f"gpu check: all {len(CHECKS)} checks passed on cpu (driver ")
    report = json.loads((tmp_path / "out" / "check.json").read_text())
    assert report == json.loads(out.stdout[: out.stdout.rindex("\n", 0, len(out.stdout.rstrip()))])  # the JSON printed
    assert report["ok"] and report["mode"] == "cpu" and list(report["checks"]) == CHECKS
    for key in ("device_name", "driver", "cuda_runtime", "torch", "gpus"):
        assert key in report
    checks = report["checks"]
    assert all(c["ok"] for c in checks.values())
    assert {f"{loss}/{how}" for loss in ("cross_entropy", "logsoftmax_nll") for how in ("single", "packed")} \
        <= set(checks["graph_vs_eager"]["figures"])
    assert checks["bench"]["figures"]["startup"]["train_startup_seconds"] > 0
    assert checks["deterministic"]["figures"]["deterministic true: identical"] is True
    assert checks["model_pt"]["figures"]["devices"] == ["cpu"]
    assert set(checks["peak_memory"]["figures"]) == {"packed seeds", "lr grid"}
    assert checks["logs"]["figures"]["lines_read"] > 0 and checks["logs"]["figures"]["alerts"] == []


def test_a_failing_check_is_named_on_one_line_and_the_others_still_run(tmp_path, real_mirror, monkeypatch):
    """check.py's own failure paths, driven in-process: a check that fails (after warning that the CUDA graph
    is empty, as torch does): named with its reason, the alert found in the logs, the exit status 1."""
    sys.path.insert(0, str(ROOT / "tests" / "gpu"))
    try:
        import check
    finally:
        sys.path.remove(str(ROOT / "tests" / "gpu"))
    subprocess.run([sys.executable, "-m", "lossbench.cli", "data", "--dataset", "mnist", "--out",
                    str(tmp_path / "mnist"), "--mirror", str(real_mirror)], check=True, capture_output=True,
                   env={k: v for k, v in os.environ.items() if k != data.MIRROR_ENV})
    monkeypatch.setattr(check, "CHECK_ORDER", ["check_lr_grid", "check_gpu_vs_cpu", "check_logs"])

    def failing(self, figures):
        import warnings

        warnings.warn("The CUDA Graph is empty. This usually means that the graph was attempted to be captured "
                      "on wrong device or stream.", UserWarning, stacklevel=2)
        check.require(False, "epoch 0 val_accuracy: 0.1 on cuda, 0.2 on CPU")

    monkeypatch.setattr(check.Checker, "check_gpu_vs_cpu", failing)
    assert check.main(["--cpu", "--data", str(tmp_path / "mnist" / "data.pt"), "--out", str(tmp_path / "out")]) == 1
    report = json.loads((tmp_path / "out" / "check.json").read_text())
    assert [name for name, c in report["checks"].items() if not c["ok"]] == ["gpu_vs_cpu", "logs"]
    assert report["checks"]["lr_grid"]["ok"]  # it ran, and passed, before and beside the failures
    assert report["checks"]["gpu_vs_cpu"]["why"] == "epoch 0 val_accuracy: 0.1 on cuda, 0.2 on CPU"
    assert "CUDA Graph is empty" in report["checks"]["logs"]["why"]


def test_check_sh_fails_on_one_line_when_the_data_cannot_be_prepared(tmp_path):
    empty = tmp_path / "empty-mirror"
    empty.mkdir()
    out = run_check(tmp_path, empty)
    assert out.returncode == 1
    lines = out.stdout.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("gpu check: FAILED before any check: lossbench data:")
