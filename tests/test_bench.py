"""The benchmark command on tiny data (figures are checked for shape, never for speed)."""

from __future__ import annotations

import json

import pytest
import torch

from lossbench import bench, cli


def test_bench_times_notebook_and_project_paths_and_writes_json(tiny_data, tmp_path, monkeypatch, capsys):
    torch.save(tiny_data, tmp_path / "data.pt")
    small = dict(train_size=200, val_size=50, hidden=(32,))
    original = bench.TrainConfig

    def tiny_config(**kwargs):
        return original(**{**kwargs, **small})

    monkeypatch.setattr(bench, "TrainConfig", tiny_config)
    assert cli.main(["bench", "--data", str(tmp_path / "data.pt"), "--repeats", "2", "--epochs", "1",
                     "--device", "cpu", "--packed", "3", "--json", str(tmp_path / "bench.json")]) == 0
    result = json.loads((tmp_path / "bench.json").read_text())
    assert set(result["median_seconds"]) == {"notebook", "project"}  # no CUDA here: no graph, no floor
    assert len(result["seconds"]["notebook"]) == 2 and all(s > 0 for s in result["seconds"]["project"])
    assert result["ratio_to_notebook"] == result["median_seconds"]["project"] / result["median_seconds"]["notebook"]
    assert result["device"].startswith("cpu") and result["versions"]["torch"]
    packed = result["packed"]
    assert packed["seeds"] == 3 and packed["wall_seconds"] >= packed["train_seconds"] > 0
    assert packed["per_seed_ratio_to_project"] == pytest.approx(
        packed["train_seconds"] / 3 / result["median_seconds"]["project"])
    out = capsys.readouterr().out
    assert "ratio_to_notebook (project)" in out and "packed 3 seeds: training" in out


def test_bench_times_a_packed_learning_rate_grid(tiny_data, tmp_path, monkeypatch, capsys):
    """--packed N --packed-lrs ...: the grid lrs x seeds 0..N-1 of one loss in one process, a diverging lr included."""
    torch.save(tiny_data, tmp_path / "data.pt")
    original = bench.TrainConfig
    monkeypatch.setattr(bench, "TrainConfig", lambda **kw: original(**{**kw, "train_size": 200, "val_size": 50,
                                                                       "hidden": (32,)}))
    assert cli.main(["bench", "--data", str(tmp_path / "data.pt"), "--repeats", "1", "--epochs", "1",
                     "--device", "cpu", "--packed", "2", "--packed-lrs", "0.1", "1", "1e30",
                     "--json", str(tmp_path / "bench.json")]) == 0
    packed = json.loads((tmp_path / "bench.json").read_text())["packed"]
    assert (packed["seeds"], packed["runs"], packed["diverged"], packed["lrs"]) == (2, 6, 2, [0.1, 1.0, 1e30])
    assert packed["test_accuracy_by_lr"]["1e+30"] is None and 0 < packed["test_accuracy_by_lr"]["0.1"] <= 1
    assert packed["per_seed_ratio_to_project"] == pytest.approx(
        packed["train_seconds"] / 6 / json.loads((tmp_path / "bench.json").read_text())["median_seconds"]["project"])
    out = capsys.readouterr().out
    assert "packed 3 lrs x 2 seeds = 6 runs: training" in out and "1e+30: diverged" in out


@pytest.mark.parametrize("extra, words", [
    (["--packed-lrs", "0.1"], "--packed-lrs: expected with --packed N"),
    (["--packed", "2", "--packed-lrs", "0.1", "0.1"], "--packed-lrs: expected distinct learning rates"),
])
def test_bench_refuses_a_packed_grid_it_cannot_run(tmp_path, capsys, extra, words):
    assert cli.main(["bench", "--data", str(tmp_path / "none.pt"), "--device", "cpu", *extra]) == cli.USAGE
    assert words in capsys.readouterr().err


def test_startup_compares_like_for_like_on_the_bench_device(monkeypatch, tmp_path):
    """Finding 10 of issue #21: on CUDA the bare process also starts the device (context, allocator, cuBLAS)
    as lossbench train does before its first step; the train is run on the same device."""
    calls = []

    def fake_run(argv, **kwargs):
        calls.append(argv)
        if "train" in argv:
            out = argv[argv.index("--out-dir") + 1]
            (tmp_path / "m.json").write_text(json.dumps({"startup_seconds": 2.0}))
            import shutil

            shutil.copy(tmp_path / "m.json", f"{out}/metrics.json")

    monkeypatch.setattr(bench.subprocess, "run", fake_run)
    result = bench.time_startup(1, "data.pt", "cuda:1")
    bare, train = calls
    assert bare == bench.bare_startup_command("cuda:1") and "cuda" in bench.BARE_START and bare[-1] == "cuda:1"
    assert train[train.index("--device") + 1] == "cuda:1"
    assert result["device"] == "cuda:1" and "start CUDA" in result["bare"] and result["train_startup_seconds"] == 2.0
    assert "start CUDA" not in bench.time_startup(1, "data.pt", "cpu")["bare"]


def test_the_bare_start_runs_on_cpu():
    import subprocess
    import sys

    out = subprocess.run(bench.bare_startup_command("cpu"), capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert bench.bare_startup_command("cpu")[0] == sys.executable
