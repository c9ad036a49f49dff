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
