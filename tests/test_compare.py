"""`lossbench compare` and `make determinism`: two runs are bit-identical or the differences are named."""

from __future__ import annotations

import os
import subprocess

import pytest
import torch

from helpers import BIN, ROOT
from lossbench import cli, compare
from lossbench.config import TrainConfig
from lossbench.train import train

TINY = dict(variant="ce", loss="cross_entropy", train_size=200, val_size=50, hidden=(32, 16), lr=0.5,
            batch_size=25, epochs=2)


@pytest.fixture
def twin_runs(tiny_data, tmp_path):
    for name in ("a", "b"):
        train(TrainConfig(seed=0, **TINY), tiny_data, out_dir=tmp_path / name)
    return tmp_path / "a", tmp_path / "b"


def test_two_trainings_of_one_seed_are_identical(twin_runs, capsys):
    assert compare.differences(*twin_runs) == []
    assert cli.main(["compare", *map(str, twin_runs)]) == 0
    assert "IDENTICAL" in capsys.readouterr().out


def test_one_flipped_bit_in_the_weights_is_found(twin_runs, capsys):
    a, b = twin_runs
    state = torch.load(b / "model.pt", weights_only=True)
    state["net.2.bias"].view(torch.int32)[3] ^= 1  # the last bit of one float
    torch.save(state, b / "model.pt")
    (found,) = compare.differences(a, b)
    assert found.startswith("model.pt: net.2.bias differs (largest difference ") and "e-0" in found
    assert cli.main(["compare", str(a), str(b)]) == 1
    assert "DIFFERENT" in capsys.readouterr().out


def test_another_seed_differs_in_metrics_history_and_predictions(tiny_data, tmp_path):
    train(TrainConfig(seed=0, **TINY), tiny_data, out_dir=tmp_path / "a")
    train(TrainConfig(seed=1, **TINY), tiny_data, out_dir=tmp_path / "b")
    found = compare.differences(tmp_path / "a", tmp_path / "b")
    assert any(line.startswith("metrics.json: seed 0 vs 1") for line in found)
    assert any(line.startswith("history.csv: row 0 differs") for line in found)
    assert any(line.startswith("model.pt: net.0.weight differs") for line in found)


def test_a_folder_that_is_not_a_finished_run_is_named(twin_runs, tmp_path, capsys):
    a, b = twin_runs
    (b / "model.pt").unlink()
    assert cli.main(["compare", str(a), str(b)]) == 1
    assert f"{b}: not a finished run folder, lacks model.pt" in capsys.readouterr().err


def test_make_determinism_trains_twice_in_two_processes_and_compares(tiny_data, tmp_path):
    """The documented command (README "Determinism"), on tiny data."""
    torch.save(tiny_data, tmp_path / "data.pt")
    run = ("--variant ce --loss cross_entropy --seed 0 --train-size 200 --val-size 50 --hidden 32 16 --epochs 2 "
           "--batch-size 25")
    out = subprocess.run(
        ["make", "-C", str(ROOT), "determinism", f"DATA={tmp_path / 'data.pt'}", f"DET_DIR={tmp_path / 'det'}",
         f"DET_RUN={run}", "DEVICE=cpu"],
        capture_output=True, text=True, env={**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}"})
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"IDENTICAL: {tmp_path / 'det' / 'first'} and {tmp_path / 'det' / 'second'}" in out.stdout
    for run in ("first", "second"):  # each trained its 2 epochs, logged beside the run
        assert "epoch  2/2" in (tmp_path / "det" / f"{run}.log").read_text()
        assert {p.name for p in (tmp_path / "det" / run).iterdir()} == {
            "metrics.json", "history.csv", "model.pt", "predictions.csv"}
