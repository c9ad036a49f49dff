"""Seed packing (`lossbench train-seeds`): many seeds in one process equal their single runs up to float noise."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import pytest
import torch

from lossbench import cli
from lossbench.compare import WALL_CLOCK_COLUMNS, WALL_CLOCK_METRICS
from lossbench.config import ConfigError, TrainConfig
from lossbench.losses import get_loss
from lossbench.model import MLP
from lossbench.packed import StackedMLP, StackedSGD, grid_configs, make_packed_step, packed_splits, train_seeds
from lossbench.runfolder import load_state_dict
from lossbench.train import STEP_SLOTS, make_split, train

TIMINGS = (*WALL_CLOCK_METRICS, *WALL_CLOCK_COLUMNS)


def seeds_of(cfg: TrainConfig, seeds: list[int]) -> list[TrainConfig]:
    return [replace(cfg, seed=s) for s in seeds]


def tiny(**overrides) -> TrainConfig:
    # 200 training images in batches of 30: six full batches and a last one of 20 (the eager path)
    settings = dict(variant="v", loss="cross_entropy", seed=0, train_size=200, val_size=50, hidden=(32, 16), lr=0.5,
                    batch_size=30, epochs=3)
    return TrainConfig(**{**settings, **overrides})


@pytest.mark.parametrize("loss", ["cross_entropy", "mse_softmax", "softmax_nll"])
def test_each_packed_seed_trains_like_its_single_run(tiny_data, loss):
    seeds = [0, 1, 2]
    packed = train_seeds(seeds_of(tiny(loss=loss), seeds), tiny_data)
    for seed, got in zip(seeds, packed):
        alone = train(tiny(loss=loss, seed=seed), tiny_data)
        assert got["seed"] == seed and got["packed_seeds"] == 3 and got["config_hash"] == alone["config_hash"]
        # same start: the untrained network's gradient is computed by the same code on the same weights
        assert got["initial_logit_grad_norm"] == alone["initial_logit_grad_norm"]
        assert got["train_loss"] == pytest.approx(alone["train_loss"], rel=1e-4)
        assert got["test_accuracy"] == pytest.approx(alone["test_accuracy"], abs=flipped(got, 100))


def flipped(metrics: dict, images: int) -> float:
    """How far a packed run's share of ``images`` may be from its single run's: one image on CPU, where the
    stacked products round as the single ones nearly always; helpers.FLIPPED_IMAGES on CUDA (finding 5)."""
    from helpers import FLIPPED_IMAGES

    return ((1 if metrics["provenance"]["cuda_runtime"] is None else FLIPPED_IMAGES) + 0.1) / images


def test_packed_seeds_keep_one_copy_of_the_data(tiny_data):
    """Each seed's split is the one train() draws, but its training and validation images are views of
    the stacked tensors the packed step and the all-runs evaluation read and the test set is shared: with
    100 seeds on a GPU, per-seed copies would take about 6 GB more device memory than the stacked set."""
    configs = [tiny(seed=s) for s in (0, 4, 7)]
    packed = packed_splits(tiny_data, configs, torch.device("cpu"))
    generators, splits, x_train, y_train, rows = (packed.generators, packed.splits, packed.x_train, packed.y_train,
                                                  packed.rows)
    assert x_train.shape == (3, 200, 784) and y_train.shape == (3, 200) and rows.tolist() == [0, 1, 2]
    assert packed.x_val.shape == (3, 50, 784) and packed.y_val.shape == (3, 50)
    for s, (c, split) in enumerate(zip(configs, splits)):
        generator = torch.Generator().manual_seed(c.seed)
        alone = make_split(tiny_data, c, generator, torch.device("cpu"))
        for name in ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test"):
            assert torch.equal(getattr(split, name), getattr(alone, name)), name
        assert split.x_train.data_ptr() == x_train[s].data_ptr() and split.y_train.data_ptr() == y_train[s].data_ptr()
        assert split.x_test.data_ptr() == splits[0].x_test.data_ptr()
        for name in ("x_val", "y_val"):  # a view of the stack, not of the seed's whole train+val tensor
            assert getattr(split, name).data_ptr() == getattr(packed, name)[s].data_ptr(), name
        # the generator is left where train()'s is after its split: the batch orders match too
        assert torch.equal(torch.randperm(200, generator=generators[s]), torch.randperm(200, generator=generator))


def test_packed_outputs_are_a_single_runs_files_per_seed(tiny_data, tmp_path):
    train_seeds(seeds_of(tiny(), [3, 5]), tiny_data, out_dir=tmp_path / "v")
    assert sorted(p.name for p in (tmp_path / "v").iterdir()) == ["seed-3", "seed-5"]
    for seed in (3, 5):
        run = tmp_path / "v" / f"seed-{seed}"
        assert sorted(p.name for p in run.iterdir()) == ["history.csv", "metrics.json", "model.pt", "predictions.csv"]
        metrics = json.loads((run / "metrics.json").read_text())
        assert metrics["seed"] == seed and metrics["config"]["seed"] == seed and metrics["status"] == "ok"
        predictions = (run / "predictions.csv").read_text().splitlines()[1:]
        correct = sum(row.split(",")[1] == row.split(",")[2] for row in predictions)
        assert correct / len(predictions) == metrics["test_accuracy"]
        alone = train(tiny(seed=seed), tiny_data, out_dir=tmp_path / f"alone-{seed}")
        weights, single = load_state_dict(run / "model.pt"), load_state_dict(tmp_path / f"alone-{seed}" / "model.pt")
        assert set(weights) == set(single)
        assert all(torch.allclose(weights[k], single[k], atol=1e-5) for k in weights)
        assert metrics["epochs_run"] == alone["epochs_run"] == 3
        # epoch 0's training columns (the untrained network, its logit and per-layer weight gradients) go
        # through the same code on the same weights: equal to the single run's, measured layer norms included.
        # Its validation (and test) columns come from the all-runs evaluation (stacked products): the same bit
        # for bit on CPU, within float noise on CUDA, where cuBLAS's batched and single GEMMs may round apart
        first = [(run / "history.csv").read_text().splitlines()[i].split(",") for i in (0, 1)]
        single_first = (tmp_path / f"alone-{seed}" / "history.csv").read_text().splitlines()[1].split(",")
        columns = [c for c in first[0] if c not in TIMINGS]
        evaluated = [c for c in columns if c.startswith(("val_", "test_"))]
        same = [c for c in columns if c not in evaluated or metrics["provenance"]["cuda_runtime"] is None]
        assert {"grad_norm_layer1", "grad_norm_layer3", "train_loss", "logit_grad_norm"} <= set(same)
        assert [v for c, v in zip(first[0], first[1]) if c in same] == \
            [v for c, v in zip(first[0], single_first) if c in same]
        for c in set(evaluated) - set(same):
            got, alone = float(first[1][first[0].index(c)]), float(single_first[first[0].index(c)])
            assert got == pytest.approx(alone, rel=1e-5, abs=flipped(metrics, 50)) or (got != got and alone != alone)
        assert float(first[1][first[0].index("grad_norm_layer1")]) > 0


def test_packed_training_is_deterministic(tiny_data):
    a, b = train_seeds(seeds_of(tiny(), [0, 1]), tiny_data), train_seeds(seeds_of(tiny(), [0, 1]), tiny_data)
    strip = lambda ms: [{k: v for k, v in m.items() if k not in TIMINGS} for m in ms]  # noqa: E731
    assert strip(a) == strip(b)


def test_packed_seeds_that_diverge_are_recorded_as_diverged(tiny_data):
    results = train_seeds(seeds_of(tiny(lr=1e30, epochs=4), [0, 1]), tiny_data)
    assert [m["status"] for m in results] == ["diverged", "diverged"]
    assert all(m["diverged_epoch"] == m["epochs_run"] >= 1 and m["train_loss"] is None for m in results)


def test_seeds_must_be_distinct(tiny_data):
    with pytest.raises(ConfigError, match="distinct"):
        train_seeds(seeds_of(tiny(), [1, 1]), tiny_data)


def test_only_runs_of_one_loss_are_packed(tiny_data):
    with pytest.raises(ValueError, match="may differ only in seed, lr and variant"):
        train_seeds([tiny(seed=0), tiny(seed=1, epochs=2)], tiny_data)
    with pytest.raises(ValueError, match="different variant names"):
        train_seeds([tiny(seed=0), tiny(seed=0, lr=0.4)], tiny_data)
    with pytest.raises(ConfigError, match=r"repeated lr, seed: \[\(0.5, 0\)\]"):
        train_seeds([tiny(seed=0), tiny(seed=0, variant="w")], tiny_data)


def test_the_train_seeds_command_writes_every_seed(tiny_data, tmp_path):
    torch.save(tiny_data, tmp_path / "data.pt")
    argv = ["train-seeds", "--variant", "v", "--loss", "cross_entropy", "--seeds", "0", "1", "--train-size", "200",
            "--val-size", "50", "--hidden", "32", "16", "--epochs", "1", "--batch-size", "25",
            "--data", str(tmp_path / "data.pt"), "--out-dir", str(tmp_path / "v")]
    assert cli.main(argv) == 0
    for seed in (0, 1):
        metrics = json.loads((tmp_path / "v" / f"seed-{seed}" / "metrics.json").read_text())
        assert metrics["seed"] == seed and math.isfinite(metrics["train_loss"])


def test_the_captured_packed_step_never_reads_a_value_back_to_the_host():
    """The packed step (gather per seed, stacked products, vmapped loss, statistics, update) on
    meta tensors, as tests/test_train.py does for the single step."""
    meta = torch.device("meta")
    model = StackedMLP([MLP(784, (32, 16)) for _ in range(3)]).to(meta)
    x, y = torch.empty(3, 100, 784, device=meta), torch.empty(3, 100, dtype=torch.long, device=meta)
    sums = torch.zeros(3, len(STEP_SLOTS) + len(model.weights), device=meta)
    step = make_packed_step(model, StackedSGD(model.parameters(), torch.tensor([0.1, 1.0, 3.0])),
                            get_loss("cross_entropy"), x, y, sums, batch_size=25, cuda_graph=False)
    step(torch.empty(3, 25, dtype=torch.long, device=meta))
    assert all(p.grad is not None for p in model.parameters())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("optimizer, lr", [("sgd", 0.5), ("adam", 0.003), ("nsgd", 0.5)])
def test_packed_cuda_graph_trains_like_packed_eager_on_gpu(tiny_data, optimizer, lr):
    eager = train_seeds(seeds_of(tiny(device="cuda", cuda_graph=False, optimizer=optimizer, lr=lr), [0, 1, 2]),
                        tiny_data)
    graph = train_seeds(seeds_of(tiny(device="cuda", cuda_graph=True, optimizer=optimizer, lr=lr), [0, 1, 2]),
                        tiny_data)
    for e, g in zip(eager, graph):
        assert g["test_accuracy"] == pytest.approx(e["test_accuracy"], abs=0.02)
        assert g["train_loss"] == pytest.approx(e["train_loss"], rel=1e-3)


# --- learning-rate grids: lrs x seeds of one loss in one process, each run with its own lr ---------------


def test_each_run_of_a_packed_lr_grid_trains_like_its_single_run_and_a_diverging_one_stays_alone(tiny_data):
    """A grid with an lr at which every seed diverges (NaN weights from the first epoch on): the
    other runs, stacked in the same tensors and graph, equal their single runs as if it were absent."""
    lrs, seeds = [0.05, 0.5, 1e30], [0, 2]
    configs = grid_configs(tiny(variant="cross_entropy"), lrs, seeds)
    assert [(c.variant, c.lr, c.seed) for c in configs[:2]] == [("cross_entropy_lr0.05", 0.05, 0),
                                                                ("cross_entropy_lr0.05", 0.05, 2)]
    packed = train_seeds(configs, tiny_data)
    for cfg, got in zip(configs, packed):
        alone = train(cfg, tiny_data)
        assert (got["variant"], got["seed"], got["config"]["lr"]) == (cfg.variant, cfg.seed, cfg.lr)
        assert got["packed_seeds"] == 6 and got["config_hash"] == alone["config_hash"]
        assert got["status"] == alone["status"] and got["epochs_run"] == alone["epochs_run"]
        assert got["initial_logit_grad_norm"] == alone["initial_logit_grad_norm"]
        if cfg.lr == 1e30:
            assert got["status"] == "diverged" and got["diverged_epoch"] == 1
            continue
        assert got["status"] == "ok"
        assert got["train_loss"] == pytest.approx(alone["train_loss"], rel=1e-4)
        assert got["val_accuracy"] == pytest.approx(alone["val_accuracy"], abs=flipped(got, 50))
        assert got["test_accuracy"] == pytest.approx(alone["test_accuracy"], abs=flipped(got, 100))
    # the finite runs are what they are without the diverging lr in the stack: nothing leaks across runs
    without = train_seeds(configs[:4], tiny_data)
    assert_same_stacked_runs(without, packed[:4], images=50)


def assert_same_stacked_runs(got: list[dict], expected: list[dict], images: int) -> None:
    """Runs trained in stacks of different sizes (a 4-run and a 6-run stack) are the same runs. On CPU bit
    for bit: the same products run on every slice of the stack. On CUDA up to float noise only, and that is
    no bug: cuBLAS picks its batched-GEMM algorithm by the batch count, so a 4-run and a 6-run stack may
    round differently (issue #21, finding 5); compared with tests/helpers.py's
    assert_same_training_up_to_float_noise (shares of ``images`` within 2 images, the rest within TRAINED_RTOL)."""
    import pandas as pd

    from helpers import assert_same_training_up_to_float_noise

    strip = lambda m: {k: v for k, v in m.items() if k not in (*TIMINGS, "packed_seeds")}  # noqa: E731
    if all(m["provenance"]["cuda_runtime"] is None for m in (*got, *expected)):  # trained on CPU
        assert [strip(m) for m in got] == [strip(m) for m in expected]
        return
    text = lambda m: {k: v for k, v in strip(m).items() if not isinstance(v, float | int) or isinstance(v, bool)}  # noqa: E731
    assert [text(m) for m in got] == [text(m) for m in expected]
    numbers = lambda ms: pd.DataFrame([{k: v for k, v in strip(m).items() if k not in text(m)} for m in ms])  # noqa: E731
    assert_same_training_up_to_float_noise(numbers(got).astype(float), numbers(expected).astype(float), images)


def test_a_packed_grid_shares_one_split_per_seed_and_each_run_draws_its_seeds_batches(tiny_data):
    configs = grid_configs(tiny(), [0.1, 1.0], [3, 5])  # (0.1, 3), (0.1, 5), (1.0, 3), (1.0, 5)
    packed = packed_splits(tiny_data, configs, torch.device("cpu"))
    generators, splits, x_train, rows = packed.generators, packed.splits, packed.x_train, packed.rows
    assert x_train.shape == (2, 200, 784) and rows.tolist() == [0, 1, 0, 1]
    assert splits[0].x_train.data_ptr() == splits[2].x_train.data_ptr() == x_train[0].data_ptr()
    for c, g in zip(configs, generators):
        alone = torch.Generator().manual_seed(c.seed)
        make_split(tiny_data, c, alone, torch.device("cpu"))
        assert torch.equal(torch.randperm(200, generator=g), torch.randperm(200, generator=alone))


def test_stacked_sgd_steps_each_run_by_its_own_lr():
    w = torch.nn.Parameter(torch.ones(3, 2, 2))
    w.grad = torch.full((3, 2, 2), 2.0)
    w.grad[1] = math.nan
    StackedSGD([w], torch.tensor([0.5, 1.0, 3.0])).step()
    assert torch.equal(w[0], torch.zeros(2, 2)) and torch.isnan(w[1]).all()
    assert torch.equal(w[2], torch.full((2, 2), -5.0))


def test_the_train_seeds_command_trains_an_lr_grid_into_a_folder_per_lr(tiny_data, tmp_path):
    torch.save(tiny_data, tmp_path / "data.pt")
    argv = ["train-seeds", "--variant", "mse_softmax", "--loss", "mse_softmax", "--seeds", "0", "1",
            "--lrs", "0.3", "3", "--train-size", "200", "--val-size", "50", "--hidden", "32", "--epochs", "1",
            "--batch-size", "25", "--data", str(tmp_path / "data.pt"), "--out-dir", str(tmp_path / "mse_softmax")]
    assert cli.main(argv) == 0
    for lr in ("0.3", "3"):
        for seed in (0, 1):
            metrics = json.loads((tmp_path / "mse_softmax" / f"lr-{lr}" / f"seed-{seed}" / "metrics.json").read_text())
            assert (metrics["variant"], metrics["seed"], metrics["config"]["lr"]) == \
                (f"mse_softmax_lr{lr}", seed, float(lr))
    assert sorted(p.name for p in (tmp_path / "mse_softmax").iterdir()) == ["lr-0.3", "lr-3"]


@pytest.mark.parametrize("extra, words", [
    (["--lr", "0.1"], "--lr 0.1 and --lrs: expected one of them"),
    (["--lrs", "0.1", "0.1"], "--lrs: expected distinct learning rates, found 0.1 0.1"),
    (["--lrs", "0"], "argument --lrs: expected a finite number > 0, found '0'"),
])
def test_the_train_seeds_command_refuses_a_bad_grid(tiny_data, tmp_path, capsys, extra, words):
    torch.save(tiny_data, tmp_path / "data.pt")
    argv = ["train-seeds", "--variant", "v", "--loss", "cross_entropy", "--seeds", "0", "--train-size", "200",
            "--val-size", "50", "--data", str(tmp_path / "data.pt"), "--out-dir", str(tmp_path / "v")]
    if "--lrs" not in extra:
        extra = [*extra, "--lrs", "1"]
    assert cli.main(argv + extra) == cli.USAGE
    assert words in capsys.readouterr().err and not (tmp_path / "v").exists()


def test_one_run_packed_alone_trains_like_its_single_run(tiny_data, tmp_path):
    """A grid of one lr and one seed, or pack_seeds with one seed: one stacked network, not a crash."""
    (got,) = train_seeds([tiny(seed=1)], tiny_data)
    alone = train(tiny(seed=1), tiny_data)
    assert got["status"] == "ok" and got["train_loss"] == pytest.approx(alone["train_loss"], rel=1e-4)
    torch.save(tiny_data, tmp_path / "data.pt")
    argv = ["train-seeds", "--variant", "v", "--loss", "cross_entropy", "--seeds", "0", "--lrs", "0.5",
            "--train-size", "200", "--val-size", "50", "--hidden", "32", "--epochs", "1", "--batch-size", "25",
            "--data", str(tmp_path / "data.pt"), "--out-dir", str(tmp_path / "v")]
    assert cli.main(argv) == 0 and (tmp_path / "v" / "lr-0.5" / "seed-0" / "metrics.json").is_file()


def test_all_runs_evaluated_at_once_give_each_runs_own_evaluation(tiny_data, monkeypatch):
    """A packed job evaluates every run in one stacked pass per chunk of runs (finding 7 of issue #21):
    the validation statistics and test predictions of each run are its own network's, as train.evaluate
    and runfolder.predict give them one run at a time (up to float noise: counts here are exact), also
    when the runs are cut into chunks."""
    from lossbench import packed as packed_module
    from lossbench.runfolder import predict
    from lossbench.train import evaluate

    configs = grid_configs(tiny(), [0.1, 1.0], [3, 5])
    data = packed_splits(tiny_data, configs, torch.device("cpu"))
    torch.manual_seed(0)
    models = [MLP(784, (32, 16)) for _ in configs]
    stacked = StackedMLP(models)
    for chunk_elements in (packed_module.EVAL_ELEMENTS, 50 * 32):  # every run at once; one run per chunk
        monkeypatch.setattr(packed_module, "EVAL_ELEMENTS", chunk_elements)
        val = packed_module.evaluate_stacked(stacked, data.x_val, data.y_val, data.rows, [0, 2, 3])
        test = packed_module.evaluate_stacked(stacked, data.splits[0].x_test, data.splits[0].y_test, None, [1, 3],
                                              predictions=True)
        assert sorted(val) == [0, 2, 3] and sorted(test) == [1, 3]
        for s in (0, 2, 3):
            alone = evaluate(models[s], data.splits[s].x_val, data.splits[s].y_val)
            assert val[s][0]["accuracy"] == alone["accuracy"] and val[s][1] is None
            assert val[s][0]["mean_max_prob"] == pytest.approx(alone["mean_max_prob"], rel=1e-5)
        for s in (1, 3):
            alone = predict(models[s], data.splits[s].x_test, data.splits[s].y_test)
            assert [r[:2] for r in test[s][1]] == [r[:2] for r in alone]
            assert [r[2] for r in test[s][1]] == pytest.approx([r[2] for r in alone], rel=1e-5)


def test_packed_run_folders_written_in_bulk_hold_each_runs_own_weights_only(tiny_data, tmp_path, monkeypatch):
    """The folders of a packed job are written in bulk (weights to the host per chunk of runs, a pool of
    threads): each model.pt holds its run's weights alone, byte for byte what saving that network on its
    own writes (not a view of the stacked tensor, which torch.save would write whole), in chunks too."""
    from lossbench import packed as packed_module
    from lossbench.atomic import sha256_file
    from lossbench.runfolder import cpu_state_dict

    monkeypatch.setattr(packed_module, "WRITE_CHUNK", 2)  # 3 runs: chunks of 2 and 1
    results = train_seeds(seeds_of(tiny(epochs=1), [0, 1, 2]), tiny_data, out_dir=tmp_path / "v")
    for seed, metrics in zip([0, 1, 2], results):
        run = tmp_path / "v" / f"seed-{seed}"
        state = load_state_dict(run / "model.pt")
        model = MLP(784, (32, 16))
        model.load_state_dict(state)
        (tmp_path / "alone" / str(seed)).mkdir(parents=True)
        torch.save(cpu_state_dict(model), tmp_path / "alone" / str(seed) / "model.pt")
        assert sha256_file(run / "model.pt") == sha256_file(tmp_path / "alone" / str(seed) / "model.pt")
        assert metrics["files"]["model.pt"]["sha256"] == sha256_file(run / "model.pt")
        assert json.loads((run / "metrics.json").read_text()) == metrics


def test_stacks_of_different_sizes_compare_exactly_on_cpu_and_within_float_noise_on_cuda():
    """The comparison above, on constructed records: exact for CPU runs; for CUDA runs a loss 1e-7 off and
    one validation image of 50 flipped pass, a loss 5% off (another run) or three images flipped fail."""
    def run(loss: float, val: float, cuda: str | None) -> dict:
        return {"variant": "v", "seed": 0, "status": "ok", "train_loss": loss, "val_accuracy": val,
                "test_accuracy": 0.5, "epochs_run": 3, "config": {"lr": 0.1},
                "provenance": {"cuda_runtime": cuda}, "packed_seeds": 4, "train_seconds": 1.0}

    assert_same_stacked_runs([run(0.3, 0.5, None)], [run(0.3, 0.5, None)], images=50)
    with pytest.raises(AssertionError):
        assert_same_stacked_runs([run(0.3 * (1 + 1e-7), 0.5, None)], [run(0.3, 0.5, None)], images=50)
    assert_same_stacked_runs([run(0.3 * (1 + 1e-7), 0.52, "13.0")], [run(0.3, 0.5, "13.0")], images=50)
    for loss, val in ((0.3 * 1.05, 0.5), (0.3, 0.56)):
        with pytest.raises(AssertionError):
            assert_same_stacked_runs([run(loss, val, "13.0")], [run(0.3, 0.5, "13.0")], images=50)


# --- the optimiser and the number of classes (issue #22) ------------------------------------------------


@pytest.mark.parametrize("optimizer, lrs", [("sgd", [0.05, 0.5]), ("adam", [0.001, 0.01]), ("nsgd", [0.1, 1.0])])
def test_every_packed_run_trains_like_its_single_run_with_each_optimizer(tiny_data, optimizer, lrs):
    """An lr x seed grid packed in one stacked optimiser (per-run lr; for nsgd a per-run norm; for Adam
    per-run moments): each run equals its single run up to float noise (TRAINED_RTOL, one image)."""
    configs = grid_configs(tiny(variant="v", optimizer=optimizer, epochs=2), lrs, [0, 2])
    packed = train_seeds(configs, tiny_data)
    for cfg, got in zip(configs, packed):
        alone = train(cfg, tiny_data)
        assert got["config"]["optimizer"] == optimizer and got["config_hash"] == alone["config_hash"]
        assert got["status"] == alone["status"] == "ok"
        assert got["initial_logit_grad_norm"] == alone["initial_logit_grad_norm"]
        assert got["train_loss"] == pytest.approx(alone["train_loss"], rel=1e-4)
        assert got["val_accuracy"] == pytest.approx(alone["val_accuracy"], abs=flipped(got, 50))
        assert got["test_accuracy"] == pytest.approx(alone["test_accuracy"], abs=flipped(got, 100))
    # and the optimiser matters: SGD at the same lrs is another training
    sgd = train_seeds(grid_configs(tiny(variant="v", epochs=2), lrs, [0, 2]), tiny_data)
    assert optimizer == "sgd" or all(a["train_loss"] != b["train_loss"] for a, b in zip(packed, sgd))


def test_packed_runs_on_the_first_c_classes_train_like_their_single_runs(tiny_data):
    configs = seeds_of(tiny(classes=3, train_size=60, val_size=20, batch_size=20, optimizer="adam", lr=0.003), [0, 1])
    packed = train_seeds(configs, tiny_data)
    for cfg, got in zip(configs, packed):
        alone = train(cfg, tiny_data)
        assert got["config"]["classes"] == 3 and got["config_hash"] == alone["config_hash"]
        assert got["initial_logit_grad_norm"] == alone["initial_logit_grad_norm"]
        assert got["train_loss"] == pytest.approx(alone["train_loss"], rel=1e-4)
        assert got["test_accuracy"] == pytest.approx(alone["test_accuracy"], abs=flipped(got, 30))


def test_stacked_nsgd_normalises_each_run_by_its_own_gradient_norm():
    from lossbench.packed import make_stacked_optimizer

    w, b = torch.nn.Parameter(torch.zeros(3, 2, 2)), torch.nn.Parameter(torch.zeros(3, 2))
    w.grad = torch.tensor([3.0, 1.0, 0.0])[:, None, None].expand(3, 2, 2).clone()  # norms 6, 2, 0 over w
    b.grad = torch.tensor([[0.0, 0.0], [0.0, 0.0], [math.nan, 0.0]])
    w.grad[2] = 0.0
    make_stacked_optimizer("nsgd", [w, b], torch.tensor([0.5, 2.0, 1.0])).step()
    assert torch.allclose(w[0], torch.full((2, 2), -0.25)) and torch.allclose(w[1], torch.full((2, 2), -1.0))
    assert torch.isnan(w[2]).all() and torch.isnan(b[2]).all()  # a NaN run stays alone ...
    assert torch.equal(b[:2].detach(), torch.zeros(2, 2))  # ... and no other run moves where its gradient is 0
    with pytest.raises(ConfigError, match="^optimizer: expected one of sgd, adam, nsgd, found 'sgdm'$"):
        make_stacked_optimizer("sgdm", [w], torch.tensor([1.0, 1.0, 1.0]))


@pytest.mark.parametrize("optimizer", ["adam", "nsgd"])
def test_the_captured_packed_step_of_every_optimizer_never_reads_a_value_back_to_the_host(optimizer):
    from lossbench.packed import make_stacked_optimizer

    meta = torch.device("meta")
    model = StackedMLP([MLP(784, (32, 16)) for _ in range(3)]).to(meta)
    x, y = torch.empty(3, 100, 784, device=meta), torch.empty(3, 100, dtype=torch.long, device=meta)
    sums = torch.zeros(3, len(STEP_SLOTS) + len(model.weights), device=meta)
    optimizer = make_stacked_optimizer(optimizer, list(model.parameters()), torch.tensor([0.1, 1.0, 3.0]))
    step = make_packed_step(model, optimizer, get_loss("cross_entropy"), x, y, sums, batch_size=25, cuda_graph=False)
    step(torch.empty(3, 25, dtype=torch.long, device=meta))
    step(torch.empty(3, 25, dtype=torch.long, device=meta))
    assert all(p.grad is not None for p in model.parameters())
