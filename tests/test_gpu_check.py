"""tests/gpu/check.sh, the one-call GPU check, run here on CPU with small settings.

A GPU machine is lent rarely and briefly, so the script must work the first time: this runs
it end to end (data, the CUDA test modules, bench with start-up and packing, the determinism
check) with DEVICE=cpu and with the packages the GPU machine's image lacks (snakemake,
papermill, the notebook tools) made unimportable.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap

import pytest

from helpers import ROOT
from lossbench import data

pytestmark = pytest.mark.slow

NOT_ON_THE_GPU_IMAGE = ("snakemake", "papermill", "jupytext", "nbconvert", "nbformat", "snakefmt", "yaml")

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
    hide.mkdir()
    (hide / "sitecustomize.py").write_text(textwrap.dedent(HIDE))
    return str(hide)


def run_check(tmp_path, mirror):
    environ = {k: v for k, v in os.environ.items() if k != data.MIRROR_ENV}  # it would override MIRROR
    env = {**environ, "PYTHONPATH": hiding_path(tmp_path), "PYTHON": sys.executable, "OUT": str(tmp_path / "out"),
           "WORK": str(tmp_path / "work"), "MIRROR": str(mirror), "DEVICE": "cpu", "REPEATS": "1",
           "PACKED": "2", "EPOCHS": "1", "LR_GRID_LOSSES": "mse_softmax", "LR_GRID": "0.1 3", "LR_GRID_SEEDS": "2"}
    return subprocess.run(["bash", str(ROOT / "tests" / "gpu" / "check.sh")], capture_output=True, text=True,
                          env=env, timeout=900)


def test_the_hiding_works(tmp_path):
    out = subprocess.run([sys.executable, "-c", "import snakemake"], capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": hiding_path(tmp_path)})
    assert out.returncode != 0 and "not on the GPU machine's image" in out.stderr


def test_gpu_check_script_runs_every_step_on_cpu_without_snakemake(tmp_path, real_mirror):
    out = run_check(tmp_path, real_mirror)
    assert out.returncode == 0, out.stdout + out.stderr
    summary = [re.sub(r" \(\d+ s\)$", "", line) for line in (tmp_path / "out" / "summary.txt").read_text().splitlines()]
    assert summary == [
        "versions: exit 0", "data: exit 0", "pytest: exit 0", "bench: exit 0", "lr-grid-mse_softmax: exit 0",
        "determinism-false-first: exit 0", "determinism-false-second: exit 0", "compare-false: exit 0 (informational)",
        "determinism-true-first: exit 0", "determinism-true-second: exit 0", "compare-true: exit 0",
    ]
    assert "passed" in (tmp_path / "out" / "pytest.txt").read_text()
    bench = json.loads((tmp_path / "out" / "bench.json").read_text())
    assert bench["epochs"] == 1 and bench["repeats"] == 1 and bench["packed"]["seeds"] == 2
    assert bench["startup"]["train_startup_seconds"] > 0
    grid = json.loads((tmp_path / "out" / "lr-grid-mse_softmax.json").read_text())["packed"]
    assert (grid["lrs"], grid["seeds"], grid["runs"]) == ([0.1, 3.0], 2, 4)
    assert "== lr-grid-mse_softmax" in out.stdout and "packed 2 lrs x 2 seeds = 4 runs" in out.stdout
    assert "== bench" in out.stdout and "ratio_to_notebook" in out.stdout  # the table is in the call's output


def test_gpu_check_script_goes_on_past_a_failed_step_and_fails_at_the_end(tmp_path):
    # a mirror without the files: data fails, and so does everything that needs data.pt, but each still runs
    empty = tmp_path / "empty-mirror"
    empty.mkdir()
    out = run_check(tmp_path, empty)
    assert out.returncode == 1
    summary = (tmp_path / "out" / "summary.txt").read_text()
    assert "data: exit 1" in summary and "bench: exit 1" in summary and "compare-true:" in summary
    assert "pytest: exit 0" in summary  # the unit tests do not need the data
    assert "== data failed (exit 1)" in out.stdout and str(empty) in out.stdout  # the error, in the call's output
