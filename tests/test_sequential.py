"""Sequential packing (pack_seeds auto on CPU): one `lossbench train-seeds` process trains its runs one after
another, each by train() itself, so every run is bit for bit its single run, and the start-up is paid once."""

from __future__ import annotations

import json
import time

import pytest
import torch

from lossbench import cli, packed
from lossbench.compare import differences
from lossbench.config import SEQUENTIAL, STACKED, TrainConfig, pack_shape
from lossbench.packed import grid_configs, train_runs, train_sequential
from lossbench.train import train


def tiny(**overrides) -> TrainConfig:
    # 200 training images in batches of 30: six full batches and a last one of 20
    settings = dict(variant="v", loss="cross_entropy", seed=0, train_size=200, val_size=50, hidden=(32, 16), lr=0.5,
                    batch_size=30, epochs=3)
    return TrainConfig(**{**settings, **overrides})


@pytest.mark.parametrize("by_lr", [False, True])
def test_each_run_of_a_sequential_job_is_bit_for_bit_its_single_run(tiny_data, tmp_path, by_lr):
    """Metrics, history, model.pt and predictions.csv of every run equal its own `lossbench train`'s (all but
    wall-clock facts, lossbench.compare), in a job of seeds and in an lr grid with a run that diverges."""
    if by_lr:
        configs = grid_configs(tiny(variant="cross_entropy"), [0.5, 1e30], [2, 0])
    else:
        configs = [tiny(seed=s) for s in (3, 0, 1)]
    results = train_sequential(configs, tiny_data, out_dir=tmp_path / "job", by_lr=by_lr)
    statuses = set()
    for cfg, got in zip(configs, results):
        folder = packed.run_dir(tmp_path / "job", cfg, by_lr)
        alone = train(cfg, tiny_data, out_dir=tmp_path / "alone" / folder.relative_to(tmp_path / "job"))
        assert differences(folder, tmp_path / "alone" / folder.relative_to(tmp_path / "job")) == []
        assert json.loads((folder / "metrics.json").read_text())["files"]["model.pt"] == alone["files"]["model.pt"]
        assert "packed_seeds" not in got and got["test_accuracy"] == alone["test_accuracy"]
        statuses.add(got["status"])
    assert statuses == ({"ok", "diverged"} if by_lr else {"ok"})


def test_each_later_run_counts_its_own_start_up_not_the_runs_before_it(tiny_data):
    t0 = time.time()
    first, second = train_sequential([tiny(seed=0), tiny(seed=1)], tiny_data)
    assert second["startup_seconds"] < time.time() - t0  # not counted from the process's start
    assert first["startup_seconds"] > second["startup_seconds"]


@pytest.mark.parametrize("setting, on_cuda, shape", [
    ("auto", False, SEQUENTIAL), ("auto", True, STACKED),  # CPU: one after another; CUDA: stacked
    (True, False, STACKED), (True, True, STACKED), (False, False, None), (False, True, None),
])
def test_pack_shape_is_decided_in_one_place(setting, on_cuda, shape):
    assert pack_shape(setting, on_cuda) == shape


@pytest.mark.parametrize("shape, called", [("auto", "train_sequential"), ("sequential", "train_sequential"),
                                           ("stacked", "train_seeds")])
def test_train_seeds_on_the_cpu_takes_the_shape_asked_and_auto_is_sequential(tiny_data, tmp_path, monkeypatch,
                                                                             shape, called):
    taken = []
    for name in ("train_sequential", "train_seeds"):
        real = getattr(packed, name)
        monkeypatch.setattr(packed, name, lambda *a, _n=name, _real=real, **k: taken.append(_n) or _real(*a, **k))
    torch.save(tiny_data, tmp_path / "data.pt")
    argv = ["train-seeds", "--variant", "v", "--loss", "cross_entropy", "--seeds", "0", "1", "--train-size", "200",
            "--val-size", "50", "--hidden", "16", "--epochs", "1", "--batch-size", "50", "--device", "cpu",
            "--shape", shape, "--data", str(tmp_path / "data.pt"), "--out-dir", str(tmp_path / "v")]
    assert cli.main(argv) == 0 and taken == [called]
    assert all((tmp_path / "v" / f"seed-{s}" / "metrics.json").is_file() for s in (0, 1))


def test_train_runs_refuses_an_unknown_shape(tiny_data):
    with pytest.raises(ValueError, match="shape: expected auto, stacked or sequential, found 'diagonal'"):
        train_runs([tiny()], tiny_data, shape="diagonal")


def test_a_sequential_job_checks_every_run_folder_before_training_any(tiny_data, tmp_path):
    (tmp_path / "v").mkdir()
    (tmp_path / "v" / "seed-1").write_text("a file where run seed 1's folder goes")
    with pytest.raises(Exception, match="seed-1: is a file"):
        train_sequential([tiny(seed=0), tiny(seed=1)], tiny_data, out_dir=tmp_path / "v")
    assert not (tmp_path / "v" / "seed-0").exists()


def untimed(history: list[dict]) -> list[dict]:
    return [{k: v for k, v in row.items() if "seconds" not in k} for row in history]


def test_the_runs_of_one_seed_at_other_lrs_draw_the_split_and_compute_epoch_0_once(tiny_data, monkeypatch):
    """An lr grid's runs of a seed start from the same untrained network on the same split with the same loss:
    the split is drawn and epoch 0's training statistics and validation are computed once per seed and read by the
    others (the same tensors and numbers; every epoch of every run as its single run's)."""
    from lossbench import train as train_module

    calls, splits, validations = [], [], []
    real, real_split, real_evaluate = train_module.initial_row, train_module.make_split, train_module.evaluate
    monkeypatch.setattr(train_module, "initial_row", lambda *a, **k: calls.append(1) or real(*a, **k))
    monkeypatch.setattr(train_module, "evaluate", lambda *a: validations.append(1) or real_evaluate(*a))
    monkeypatch.setattr(train_module, "make_split", lambda data, cfg, *a: splits.append(cfg.seed) or
                        real_split(data, cfg, *a))
    configs = grid_configs(tiny(epochs=2), [0.05, 0.5, 2.0], [0, 4])
    results = train_sequential(configs, tiny_data, history=True)
    monkeypatch.setattr(train_module, "make_split", real_split)
    assert len(calls) == 2  # seeds 0 and 4, not 6 runs
    monkeypatch.setattr(train_module, "initial_row", real)
    assert splits == [0, 4]  # each seed's split drawn once (and its batch order after it: the histories below)
    assert len(validations) == 2 + 6 * 2  # the untrained network's once per seed, then each run's epochs 1 and 2
    monkeypatch.setattr(train_module, "evaluate", real_evaluate)
    for cfg, got in zip(configs, results):
        alone = train(cfg, tiny_data, history=True)
        assert untimed(got["history"]) == untimed(alone["history"])
        assert got["train_loss"] == alone["train_loss"] and got["test_accuracy"] == alone["test_accuracy"]
