"""Training on tiny in-memory data: outputs, determinism, paired seeds, divergence, safe reload."""

from __future__ import annotations

import csv
import json
import math
import re
import subprocess
import sys
from dataclasses import replace

import pytest
import torch

from lossbench.compare import WALL_CLOCK_COLUMNS, WALL_CLOCK_METRICS
from lossbench.config import ConfigError, TrainConfig
from lossbench.losses import get_loss
from lossbench.model import MLP
from lossbench.runfolder import load_state_dict
from lossbench.train import SGD, STEP_SLOTS, Split, make_step, train

TIMINGS = (*WALL_CLOCK_METRICS, *WALL_CLOCK_COLUMNS)


def tiny(**overrides) -> TrainConfig:
    settings = dict(variant="ce", loss="cross_entropy", seed=0, train_size=200, val_size=50,
                    hidden=(32, 16), lr=0.5, batch_size=25, epochs=3)
    return TrainConfig(**{**settings, **overrides})


def read_history(run):
    with open(run / "history.csv") as fh:
        return list(csv.DictReader(fh))


def without_timings(record: dict) -> dict:
    return {k: v for k, v in record.items() if k not in TIMINGS}


def test_run_writes_metrics_history_and_reloadable_weights(tiny_data, tmp_path):
    metrics = train(tiny(), tiny_data, out_dir=tmp_path / "run")
    assert json.loads((tmp_path / "run" / "metrics.json").read_text()) == metrics
    history = read_history(tmp_path / "run")
    assert [int(r["epoch"]) for r in history] == [0, 1, 2, 3]
    columns = {"logit_grad_norm", "grad_norm_layer1", "grad_norm_layer3", "val_mean_max_prob", "epoch_seconds",
               "epoch_cpu_seconds"}
    assert columns <= set(history[0])
    assert all(float(history[0][f"grad_norm_layer{i}"]) > 0 for i in (1, 2, 3))  # measured at epoch 0 too
    assert metrics["status"] == "ok" and metrics["test_accuracy"] > 0.5  # the bands are easy to learn
    assert metrics["train_cpu_seconds"] > 0 and metrics["end_time"] >= metrics["start_time"]
    assert metrics["config"]["hidden"] == [32, 16] and len(metrics["config_hash"]) == 16
    for key in ("git_commit", "python", "torch", "torchvision", "device_name", "host"):
        assert key in metrics["provenance"]
    assert metrics["startup_seconds"] > 0 and metrics["train_seconds"] > 0
    state = load_state_dict(tmp_path / "run" / "model.pt")
    assert set(state) == {f"net.{i}.{w}" for i in (0, 2, 4) for w in ("weight", "bias")}
    predictions = list(csv.DictReader(open(tmp_path / "run" / "predictions.csv")))
    assert len(predictions) == 100 and set(predictions[0]) == {"index", "label", "predicted", "confidence", "p_true"}
    correct = sum(r["label"] == r["predicted"] for r in predictions)
    assert correct / 100 == metrics["test_accuracy"]
    assert not list((tmp_path / "run").glob(".*"))  # no temporary files left


def test_same_seed_gives_bit_identical_metrics_and_weights(tiny_data, tmp_path):
    a = train(tiny(), tiny_data, out_dir=tmp_path / "a")
    b = train(tiny(), tiny_data, out_dir=tmp_path / "b")
    assert without_timings(a) == without_timings(b)
    strip = lambda rows: [{k: v for k, v in r.items() if k not in TIMINGS} for r in rows]  # noqa: E731
    assert strip(read_history(tmp_path / "a")) == strip(read_history(tmp_path / "b"))
    wa, wb = load_state_dict(tmp_path / "a" / "model.pt"), load_state_dict(tmp_path / "b" / "model.pt")
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


def test_deterministic_switch_runs_and_matches_the_default_on_cpu(tiny_data):
    try:
        strict = train(tiny(deterministic=True, epochs=1), tiny_data)
    finally:
        torch.use_deterministic_algorithms(False)
    default = train(tiny(epochs=1), tiny_data)
    assert without_timings(strict) | {"config": None} == without_timings(default) | {"config": None}


def test_other_seed_gives_other_results(tiny_data):
    assert train(tiny(seed=0), tiny_data)["train_loss"] != train(tiny(seed=1), tiny_data)["train_loss"]


def test_variants_of_one_seed_start_from_the_same_network_and_data(tiny_data, tmp_path):
    """Paired design: the loss changes nothing before the first step."""
    train(tiny(loss="cross_entropy", epochs=1), tiny_data, out_dir=tmp_path / "ce")
    train(tiny(loss="mse_softmax", epochs=1), tiny_data, out_dir=tmp_path / "mse")
    ce, mse = read_history(tmp_path / "ce")[0], read_history(tmp_path / "mse")[0]
    assert ce["train_accuracy"] == mse["train_accuracy"] and ce["test_accuracy"] == mse["test_accuracy"]


def test_initial_logit_gradient_ratio_mse_softmax_to_ce_is_near_two_over_c_squared(tiny_data):
    ce = train(tiny(epochs=1), tiny_data)["initial_logit_grad_norm"]
    mse = train(tiny(loss="mse_softmax", epochs=1), tiny_data)["initial_logit_grad_norm"]
    assert mse / ce == pytest.approx(0.02, rel=0.1)


def test_epoch_zero_measures_every_layers_weight_gradient_and_changes_nothing(tiny_data):
    """Epoch 0's per-layer weight-gradient norms are measured (mean over the split's batches in
    order), at 2/C^2 of cross-entropy's for MSE on softmax as the logit gradient is; measuring them
    draws no random number, leaves the weights and their .grad alone."""
    from lossbench.train import initial_row, make_split

    cfg = tiny()
    rows = {}
    for loss in ("cross_entropy", "mse_softmax"):
        torch.manual_seed(0)
        model = MLP(784, cfg.hidden)
        split = make_split(tiny_data, cfg, torch.Generator().manual_seed(0), torch.device("cpu"))
        before = [p.detach().clone() for p in model.parameters()]
        rng = torch.get_rng_state()
        rows[loss] = initial_row(model, get_loss(loss), split, cfg.batch_size)
        assert torch.equal(torch.get_rng_state(), rng)
        assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
        assert all(p.grad is None for p in model.parameters())
        # the layer norm is the mean of the per-batch norms of the first INITIAL_BATCHES batches, in order
        norms = [torch.autograd.grad(get_loss(loss)(model(split.x_train[i:i + cfg.batch_size]),
                                                    split.y_train[i:i + cfg.batch_size]),
                                     model.linears[0].weight)[0].norm().item() for i in range(0, 200, cfg.batch_size)]
        assert rows[loss]["grad_norm_layer1"] == pytest.approx(sum(norms) / len(norms), rel=1e-5)
        few = initial_row(model, get_loss(loss), split, batch_size=10)  # 20 batches: only the first 10 count
        ten = [torch.autograd.grad(get_loss(loss)(model(split.x_train[i:i + 10]), split.y_train[i:i + 10]),
                                   model.linears[0].weight)[0].norm().item() for i in range(0, 100, 10)]
        assert few["grad_norm_layer1"] == pytest.approx(sum(ten) / 10, rel=1e-5)
    for layer in (1, 2, 3):
        ce, mse = rows["cross_entropy"][f"grad_norm_layer{layer}"], rows["mse_softmax"][f"grad_norm_layer{layer}"]
        assert ce > 0 and mse / ce == pytest.approx(0.02, rel=0.1)


def test_split_larger_than_the_data_is_refused(tiny_data):
    with pytest.raises(ConfigError, match="train_size \\+ val_size: 310 exceeds the 300 training images"):
        train(tiny(train_size=290, val_size=20), tiny_data)


def test_the_captured_step_never_reads_a_value_back_to_the_host():
    """What the CUDA graph captures (forward, loss, backward, per-step statistics, SGD update),
    run on meta tensors, which have no values: a read back to the host would raise here, on
    CPU, as it would break the capture on a GPU (see test_losses.backward_on_meta)."""
    meta = torch.device("meta")
    model = MLP(784, (32, 16)).to(meta)
    x, y = torch.empty(100, 784, device=meta), torch.empty(100, dtype=torch.long, device=meta)
    sums = torch.zeros(len(STEP_SLOTS) + len(model.linears), device=meta)
    step = make_step(model, SGD(model.parameters(), lr=0.1), get_loss("mse_softmax"), Split(x, y, x, y, x, y), sums,
                     batch_size=25, cuda_graph=False)
    step(torch.empty(25, dtype=torch.long, device=meta))
    assert all(p.grad is not None for p in model.parameters())


def test_the_cuda_graph_switch_is_a_runtime_setting_outside_the_config_hash():
    """cuda_graph changes how a step is launched, not the experiment: both settings share one hash
    (so switching it retrains nothing). Whether both paths train alike needs a GPU (below)."""
    assert tiny(cuda_graph=False).config_hash() == tiny(cuda_graph=True).config_hash()
    assert tiny(lr=0.4).config_hash() != tiny().config_hash()


def test_the_hand_written_sgd_step_equals_torch_optim_sgd():
    """One step of train.SGD moves every parameter exactly as torch.optim.SGD (no momentum) does."""
    torch.manual_seed(0)
    ours, theirs = MLP(784, (32, 16)), MLP(784, (32, 16))
    theirs.load_state_dict(ours.state_dict())
    x, y = torch.rand(25, 784), torch.randint(0, 10, (25,))
    optimizers = (SGD(ours.parameters(), lr=0.3), torch.optim.SGD(theirs.parameters(), lr=0.3))
    for model, optimizer in zip((ours, theirs), optimizers):
        optimizer.zero_grad()
        get_loss("cross_entropy")(model(x), y).backward()
        optimizer.step()
    moved = [not torch.equal(a, b) for a, b in zip(ours.parameters(), MLP(784, (32, 16)).parameters())]
    assert all(moved)
    assert all(torch.equal(a, b) for a, b in zip(ours.parameters(), theirs.parameters()))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("optimizer, lr", [("sgd", 0.5), ("adam", 0.003), ("nsgd", 0.5)])
def test_cuda_graph_trains_like_the_eager_path_on_gpu(tiny_data, optimizer, lr):
    """Per optimiser: the captured step (Adam's moments and step count put back after the warm-up and the
    probe, as the weights are) trains as the eager one does."""
    eager = train(tiny(device="cuda", cuda_graph=False, optimizer=optimizer, lr=lr), tiny_data)
    graph = train(tiny(device="cuda", cuda_graph=True, optimizer=optimizer, lr=lr), tiny_data)
    assert graph["test_accuracy"] == pytest.approx(eager["test_accuracy"], abs=0.02)
    assert graph["train_loss"] == pytest.approx(eager["train_loss"], rel=1e-3)


# A loss that reads a value back to the host: fine eagerly, impossible to capture in a CUDA graph.
SYNCING_LOSS_RUN = """
import sys, torch, torch.nn.functional as F
from lossbench.config import TrainConfig
from lossbench.losses import register_loss
from lossbench.train import train

@register_loss("syncing")
def syncing(logits, labels):
    return F.cross_entropy(logits, labels) * (labels.max().item() + 1) / 10

cfg = TrainConfig(variant="s", loss="syncing", seed=0, train_size=200, val_size=50, hidden=(32, 16), lr=0.5,
                  batch_size=25, epochs=1, device="cuda", cuda_graph=sys.argv[2] == "graph")
print(train(cfg, torch.load(sys.argv[1], weights_only=True))["status"])
"""


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("mode", ["eager", "graph"])
def test_a_loss_that_reads_back_to_the_host_gets_a_clear_error_under_cuda_graph(tiny_data, tmp_path, mode):
    # in a child process: a failed capture must not leave this test process's CUDA state behind
    torch.save(tiny_data, tmp_path / "data.pt")
    out = subprocess.run([sys.executable, "-c", SYNCING_LOSS_RUN, str(tmp_path / "data.pt"), mode],
                         capture_output=True, text=True)
    if mode == "eager":
        assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr
    else:
        assert out.returncode == 1
        assert "could not capture the training step in a CUDA graph" in out.stderr, out.stderr
        assert "cuda_graph: false" in out.stderr


def test_the_reload_check_refuses_weights_that_do_not_give_the_metrics(tiny_data, tmp_path):
    """write_run predicts the test set from model.pt as saved and reloaded; if that accuracy is not
    the trained network's, the run folder is refused and stays without metrics.json."""
    from lossbench.runfolder import write_run
    from lossbench.train import make_split

    cfg = tiny(epochs=1)
    metrics = train(cfg, tiny_data)
    split = make_split(tiny_data, cfg, torch.Generator().manual_seed(0), torch.device("cpu"))
    untrained = MLP(784, cfg.hidden)
    with pytest.raises(RuntimeError, match="reloaded weights give test accuracy"):
        write_run(tmp_path / "run", untrained, metrics, [{"epoch": 0}], split.x_test, split.y_test)
    assert not (tmp_path / "run" / "metrics.json").exists()


def test_the_runs_last_test_predictions_are_written_when_the_saved_weights_are_bit_for_bit_the_trained_ones(
        tiny_data, tmp_path, monkeypatch):
    """One pass over the test set fewer: predictions.csv comes from the last test of the run itself,
    and only because the weights reloaded from model.pt equal the trained ones bit for bit; weights
    that changed on the way (here: a reload that perturbs them) are predicted again, and refused."""
    import pandas as pd

    from lossbench import runfolder
    from lossbench.train import make_split

    cfg = tiny(epochs=1)
    metrics = train(cfg, tiny_data, out_dir=tmp_path / "run")
    predictions = pd.read_csv(tmp_path / "run" / "predictions.csv")
    split = make_split(tiny_data, cfg, torch.Generator().manual_seed(0), torch.device("cpu"))
    model = MLP(784, cfg.hidden)
    model.load_state_dict(runfolder.load_state_dict(tmp_path / "run" / "model.pt"))
    again = runfolder.predict(model, split.x_test, split.y_test)
    assert predictions[["label", "predicted"]].values.tolist() == [[a, b] for a, b, _, _ in again]
    assert (predictions["label"] == predictions["predicted"]).mean() == metrics["test_accuracy"]

    real_load = runfolder.load_state_dict
    monkeypatch.setattr(runfolder, "load_state_dict",
                        lambda path: {k: v + 1.0 for k, v in real_load(path).items()})  # saved != trained
    with pytest.raises(RuntimeError, match="reloaded weights give test accuracy"):
        train(cfg, tiny_data, out_dir=tmp_path / "perturbed")
    assert not (tmp_path / "perturbed").exists()


# --- the GPU path's failure modes, exercised on CPU (issue #21, findings 2, 3, 8) ---------------------


def test_steps_that_add_nothing_are_refused_by_name():
    """A run whose step sums are all exactly 0 took no step (an empty CUDA graph replays nothing): refused,
    not trained with a loss of 0. A diverged run's NaN sums and an ordinary run's are let through."""
    from lossbench.train import check_step_sums

    check_step_sums([[2.0, 3.0, 0.5, 0.1], [float("nan")] * 4], ["a", "b"], "epoch 1")
    check_step_sums([[0.0, 7.0, 0.0, 0.0]], ["a"], "epoch 1")  # a correct image is something
    with pytest.raises(RuntimeError, match=r"epoch 2: the training steps of v seed 1 did nothing .*cuda_graph: false"):
        check_step_sums([[1.0, 1.0, 1.0, 1.0], [0.0, 0.0, 0.0, 0.0]], ["v seed 0", "v seed 1"], "epoch 2")


def test_an_epoch_whose_steps_do_nothing_fails_the_run(tiny_data):
    """The epoch loop itself refuses it: a step function that never adds to the sums (as replays of an
    empty graph) stops the run at epoch 1 instead of recording a loss of 0."""
    from lossbench.train import Member, make_split, run_epochs

    cfg = tiny(epochs=2)
    generator = torch.Generator().manual_seed(0)
    member = Member(cfg, make_split(tiny_data, cfg, generator, torch.device("cpu")), generator)
    model = MLP(784, cfg.hidden)
    sums = torch.zeros(len(STEP_SLOTS) + 3)
    with pytest.raises(RuntimeError, match="epoch 1: the training steps of ce seed 0 did nothing"):
        run_epochs([member], lambda idx: None, sums, lambda s: model, get_loss("cross_entropy"), torch.device("cpu"))
    assert [row["epoch"] for row in member.history] == [0]


class FakeGraph:
    """Stands in for a torch.cuda.CUDAGraph: replay() runs ``step`` (or nothing, as an empty graph)."""

    def __init__(self, step=None):
        self.step = step

    def replay(self):
        if self.step:
            self.step()


def test_a_captured_graph_is_probed_once_and_an_empty_one_refused():
    from lossbench.train import probe_graph

    torch.manual_seed(0)
    model = MLP(784, (32, 16))
    before = [p.detach().clone() for p in model.parameters()]
    sums = torch.full((len(STEP_SLOTS) + 3,), 5.0)  # what the warm-up steps left
    with pytest.raises(RuntimeError, match="the captured CUDA graph's first replay: the training steps of run 0"):
        probe_graph(FakeGraph(), model, sums)

    def step():
        with torch.no_grad():
            for p in model.parameters():
                p.add_(1.0)
            sums.add_(1.0)

    probe_graph(FakeGraph(step), model, sums)
    assert all(torch.equal(p, b) for p, b in zip(model.parameters(), before))  # the probe step undone
    assert not sums.any()


def test_the_capture_is_made_on_the_weights_device_not_the_current_one(monkeypatch):
    """cuda:N with N > 0: side stream and capture stream must be cuda:N's. CPU stand-in: the capture runs
    inside torch.cuda.device(<the weights' device>)."""
    from lossbench import train as train_module

    entered = []

    class Recorder:
        def __init__(self, device):
            self.device = device

        def __enter__(self):
            entered.append(self.device)

        def __exit__(self, *exc):
            entered.append("exit")

    monkeypatch.setattr(torch.cuda, "device", Recorder)
    monkeypatch.setattr(train_module, "_capture", lambda step, model, optimizer: (entered.append("capture"), "g")[1])
    model = MLP(784, (32, 16))
    assert train_module.capture_cuda_graph(lambda: None, model, None) == "g"
    assert entered == [torch.device("cpu"), "capture", "exit"]


def test_start_run_pins_matmul_precision_and_sets_the_cuda_device_index(monkeypatch):
    from lossbench import train as train_module

    torch.set_float32_matmul_precision("medium")  # a site's TF32 default
    try:
        _, device = train_module.start_run(tiny(device="cpu"))
        assert device.type == "cpu" and torch.get_float32_matmul_precision() == "highest"
        chosen = []
        monkeypatch.setattr(train_module, "resolve_device", lambda name: torch.device(name))
        monkeypatch.setattr(torch.cuda, "set_device", chosen.append)
        train_module.start_run(tiny(device="cuda:1"))
        assert chosen == [torch.device("cuda:1")]
        train_module.start_run(tiny(device="cuda"))  # no index: the current device, nothing to set
        assert chosen == [torch.device("cuda:1")]
    finally:
        torch.set_float32_matmul_precision("highest")


def test_provenance_records_what_decides_the_arithmetic_null_where_cuda_is_not_used(tiny_data):
    metrics = train(tiny(epochs=1, device="cpu"), tiny_data)  # CPU also on a GPU machine (tests/gpu/check.sh)
    prov = metrics["provenance"]
    for key in ("cuda_runtime", "cuda_driver", "cublas", "compute_capability", "cublas_workspace_config"):
        assert key in prov and prov[key] is None, key
    assert prov["deterministic"] is False and prov["matmul_precision"] == "highest"
    assert prov["device_name"].startswith("cpu (")


def test_model_pt_holds_cpu_tensors_that_load_without_map_location(tiny_data, tmp_path):
    """Finding 3: a model.pt from a GPU run must load on a CPU-only login node as README says
    (torch.load(path, weights_only=True), no map_location), and its checksum must not depend on the
    device: the state dict is moved to CPU before saving."""
    from lossbench.atomic import sha256_file
    from lossbench.runfolder import cpu_state_dict

    train(tiny(epochs=1), tiny_data, out_dir=tmp_path / "run")
    state = torch.load(tmp_path / "run" / "model.pt", weights_only=True)
    assert all(v.device.type == "cpu" and v.is_contiguous() for v in state.values())
    model = MLP(784, (32, 16))
    model.load_state_dict(state)
    saved = cpu_state_dict(model)
    assert all(v.device.type == "cpu" for v in saved.values())
    assert all(v.untyped_storage().data_ptr() != p.untyped_storage().data_ptr()
               for v, p in zip(saved.values(), model.state_dict().values()))  # copies: saving holds no views
    (tmp_path / "again").mkdir()
    torch.save(saved, tmp_path / "again" / "model.pt")  # torch.save names the archive after the file
    assert sha256_file(tmp_path / "again" / "model.pt") == sha256_file(tmp_path / "run" / "model.pt")


# --- the number of classes and the optimiser (issue #22) ------------------------------------------------


def test_at_every_class_the_split_is_the_one_drawn_before_classes_existed(tiny_data):
    """classes at its default (10): the split is the seeded permutation of all the training images and the
    full test set, as before the setting existed (the same draw of the same generator), so runs at the
    defaults are bit for bit the runs made before it."""
    from lossbench.train import make_split

    generator = torch.Generator().manual_seed(4)
    split = make_split(tiny_data, tiny(), generator, torch.device("cpu"))
    reference = torch.Generator().manual_seed(4)
    idx = torch.randperm(300, generator=reference)[:250]
    x = tiny_data["train_images"][idx].reshape(250, -1).float() / 256
    assert torch.equal(split.x_train, x[:200]) and torch.equal(split.y_val, tiny_data["train_labels"][idx][200:])
    assert torch.equal(split.y_test, tiny_data["test_labels"]) and len(split.x_test) == 100
    assert torch.equal(torch.randperm(200, generator=generator), torch.randperm(200, generator=reference))


def test_a_run_on_the_first_c_classes_sees_only_their_images_and_has_c_outputs(tiny_data, tmp_path):
    from lossbench.train import make_split

    cfg = tiny(classes=3, train_size=60, val_size=20, batch_size=20, epochs=2)
    split = make_split(tiny_data, cfg, torch.Generator().manual_seed(0), torch.device("cpu"))
    for labels in (split.y_train, split.y_val, split.y_test):
        assert labels.max() < 3 and set(labels.tolist()) == {0, 1, 2}
    test_labels = tiny_data["test_labels"]
    assert torch.equal(split.y_test, test_labels[test_labels < 3])
    assert torch.equal(split.x_test, tiny_data["test_images"][test_labels < 3].reshape(-1, 784).float() / 256)
    # the subset is a seeded draw among the training images of those labels, different per seed
    other = make_split(tiny_data, replace(cfg, seed=1), torch.Generator().manual_seed(1), torch.device("cpu"))
    assert not torch.equal(split.x_train, other.x_train)

    metrics = train(cfg, tiny_data, out_dir=tmp_path / "run")
    assert metrics["status"] == "ok" and metrics["config"]["classes"] == 3
    assert load_state_dict(tmp_path / "run" / "model.pt")["net.4.weight"].shape == (3, 16)
    predictions = list(csv.DictReader(open(tmp_path / "run" / "predictions.csv")))
    assert len(predictions) == int((test_labels < 3).sum()) and {r["label"] for r in predictions} == {"0", "1", "2"}
    # cross-entropy's loss at the untrained network is near log C, not log 10
    assert float(read_history(tmp_path / "run")[0]["train_loss"]) == pytest.approx(math.log(3), rel=0.1)
    assert metrics["config_hash"] != replace(cfg, classes=10).config_hash()


@pytest.mark.parametrize("overrides, words", [
    (dict(classes=1), re.escape("classes: expected an integer from 2 to 10 (MNIST's classes), found 1")),
    (dict(classes=11), re.escape("classes: expected an integer from 2 to 10 (MNIST's classes), found 11")),
    (dict(classes=2, train_size=50, val_size=20),
     r"train_size \+ val_size: 50 \+ 20 = 70 exceeds the \d\d training images of MNIST's first 2 classes \(0, 1; "
     r"classes: 2\)"),
])
def test_classes_the_data_cannot_give_are_refused_naming_the_key_and_the_numbers(tiny_data, overrides, words):
    with pytest.raises(ConfigError, match=f"^{words}$"):
        train(tiny(**overrides), tiny_data)


def test_config_hash_of_settings_at_their_defaults_is_the_one_before_they_existed():
    """classes 10 and optimizer sgd leave the config hash as it was (the hashes below computed by the
    code before either setting existed, commit c1fe930): old runs keep their hashes, so gather mixes
    them with new ones of the same variant; any other value is another experiment."""
    default = TrainConfig(variant="cross_entropy", loss="cross_entropy", seed=0)
    assert default.config_hash() == "45212b64344ddf4c"
    small = TrainConfig(variant="v", loss="mse_softmax", seed=3, lr=0.5, hidden=(32, 16), train_size=200,
                        val_size=50, epochs=1)
    assert small.config_hash() == "86b85ed51b022c6b"
    assert replace(small, classes=10, optimizer="sgd").config_hash() == "86b85ed51b022c6b"
    hashes = {replace(small, **change).config_hash() for change in (
        {}, {"classes": 2}, {"classes": 3}, {"optimizer": "adam"}, {"optimizer": "nsgd"})}
    assert len(hashes) == 5


def test_the_hand_written_adam_steps_equal_torch_optim_adam():
    """train.Adam takes torch.optim.Adam's steps (its defaults), to float precision: fed the same gradients
    (over 30 steps, entries from 1e-6 to 1, where eps 1e-8 matters too), its moments are torch's and each
    step moves every parameter as torch's does, within 3 float32 epsilons of the parameter (the rounding of
    the update; float32 bias corrections would be 100 off; both start each step from torch's weights, so no
    rounding accumulates)."""
    from lossbench.train import Adam

    torch.manual_seed(0)
    shapes = [(32, 784), (32,), (10, 32)]
    ours = [torch.nn.Parameter(torch.randn(shape) * 0.05) for shape in shapes]
    theirs = [torch.nn.Parameter(p.detach().clone()) for p in ours]
    adam, reference = Adam(ours, lr=1e-3), torch.optim.Adam(theirs, lr=1e-3)
    g = torch.Generator().manual_seed(1)
    for _ in range(30):
        grads = [torch.randn(shape, generator=g) * 10.0 ** torch.randint(-6, 1, shape, generator=g) for shape in shapes]
        before = [p.detach().clone() for p in theirs]
        for p, q, grad in zip(ours, theirs, grads):
            p.grad, q.grad = grad.clone(), grad.clone()
        adam.step()
        reference.step()
        for p, q, m, v, start in zip(ours, theirs, adam.m, adam.v, before):
            state = reference.state[q]
            torch.testing.assert_close(m, state["exp_avg"], rtol=1e-6, atol=0)
            torch.testing.assert_close(v, state["exp_avg_sq"], rtol=1e-6, atol=0)
            ulp = torch.finfo(torch.float32).eps * torch.maximum(start.abs(), q.detach().abs())
            assert (p.detach() - q.detach()).abs().le(3 * ulp).all()
            assert (q.detach() - start).abs().max() > 1e-4  # it moved
            with torch.no_grad():
                p.copy_(q)
    assert adam.t.item() == 30


def test_adams_in_place_step_is_bit_for_bit_the_textbook_expression():
    """The step writes into scratch tensors (no allocation per step: 13 ms a step against 4.5 ms for this MLP on
    one core) and keeps the expression's order of operations, so its runs are the ones the out-of-place
    expression gave, to the bit: m / (sqrt(v) / sqrt(1 - b2^t) + eps) * (lr / (1 - b1^t))."""
    from lossbench.train import Adam

    torch.manual_seed(0)
    shapes = [(64, 784), (64,), (10, 64)]
    params = [torch.randn(shape) * 0.05 for shape in shapes]
    expected = [p.clone() for p in params]
    m, v = [torch.zeros_like(p) for p in params], [torch.zeros_like(p) for p in params]
    adam, t = Adam(params, lr=3e-3), torch.zeros((), dtype=torch.float64)
    g = torch.Generator().manual_seed(1)
    for _ in range(25):
        grads = [torch.randn(shape, generator=g) * 10.0 ** torch.randint(-6, 1, shape, generator=g) for shape in shapes]
        for p, grad in zip(params, grads):
            p.grad = grad
        adam.step()
        t += 1
        for p, mi, vi, grad in zip(expected, m, v, grads):
            mi.lerp_(grad, 0.1)
            vi.mul_(0.999).addcmul_(grad, grad, value=0.001)
            p.sub_(mi / ((vi.sqrt() / (1 - 0.999**t).sqrt()).add_(1e-8)) * (3e-3 / (1 - 0.9**t)))
    assert all(torch.equal(p, q) for p, q in zip(params, expected))


def test_normalised_sgd_moves_the_weights_by_lr_along_minus_the_gradient():
    """One nsgd step: the change of all the parameters together has norm lr and points along -g (g the
    gradient over every parameter at once), whatever the loss's gradient scale (10x the loss: same step)."""
    from lossbench.train import NormalisedSGD

    x, y = torch.rand(25, 784), torch.randint(0, 10, (25,))
    moved = []
    for scale in (1.0, 10.0):
        torch.manual_seed(0)
        model = MLP(784, (32, 16))
        start = [p.detach().clone() for p in model.parameters()]
        (scale * get_loss("cross_entropy")(model(x), y)).backward()
        grad = torch.cat([p.grad.flatten() for p in model.parameters()])
        NormalisedSGD(model.parameters(), lr=0.3).step()
        step = torch.cat([(p.detach() - s).flatten() for p, s in zip(model.parameters(), start)])
        assert step.norm().item() == pytest.approx(0.3, rel=1e-5)
        torch.testing.assert_close(step, -0.3 * grad / grad.norm(), rtol=1e-4, atol=1e-7)
        moved.append(step)
    torch.testing.assert_close(moved[0], moved[1], rtol=1e-4, atol=1e-7)
    model = MLP(784, (32, 16))  # a zero gradient takes no step (no division by zero)
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    before = [p.detach().clone() for p in model.parameters()]
    NormalisedSGD(model.parameters(), lr=0.3).step()
    assert all(torch.equal(p, b) for p, b in zip(model.parameters(), before))


@pytest.mark.parametrize("optimizer", ["adam", "nsgd"])
def test_a_run_with_another_optimizer_trains_records_it_and_differs_from_sgd(tiny_data, optimizer):
    lr = {"adam": 0.003, "nsgd": 0.5}[optimizer]
    metrics = train(tiny(optimizer=optimizer, lr=lr), tiny_data)
    sgd = train(tiny(lr=lr), tiny_data)
    assert metrics["status"] == "ok" and metrics["config"]["optimizer"] == optimizer
    assert metrics["test_accuracy"] > 0.5 and metrics["train_loss"] != sgd["train_loss"]
    assert metrics["initial_logit_grad_norm"] == sgd["initial_logit_grad_norm"]  # the same start
    with pytest.raises(ConfigError, match="^optimizer: expected one of sgd, adam, nsgd, found 'lbfgs'$"):
        train(tiny(optimizer="lbfgs"), tiny_data)


@pytest.mark.parametrize("optimizer", ["sgd", "adam", "nsgd"])
def test_every_optimizers_captured_step_never_reads_a_value_back_to_the_host(optimizer):
    from lossbench.train import make_optimizer

    meta = torch.device("meta")
    model = MLP(784, (32, 16)).to(meta)
    x, y = torch.empty(100, 784, device=meta), torch.empty(100, dtype=torch.long, device=meta)
    sums = torch.zeros(len(STEP_SLOTS) + len(model.linears), device=meta)
    step = make_step(model, make_optimizer(optimizer, model.parameters(), 0.1), get_loss("mse_softmax"),
                     Split(x, y, x, y, x, y), sums, batch_size=25, cuda_graph=False)
    step(torch.empty(25, dtype=torch.long, device=meta))
    step(torch.empty(25, dtype=torch.long, device=meta))


def test_the_probe_puts_the_optimizers_state_back_with_the_weights():
    """A captured step's warm-up and probe replays must leave Adam's moments and step count as they found
    them (else the run's first real step would be its fifth): the probe restores the optimiser's state."""
    from lossbench.train import Adam, probe_graph

    torch.manual_seed(0)
    model = MLP(784, (32, 16))
    optimizer = Adam(model.parameters(), lr=0.01)
    sums = torch.zeros(len(STEP_SLOTS) + 3)
    x, y = torch.rand(25, 784), torch.randint(0, 10, (25,))

    def step():
        optimizer.zero_grad()
        get_loss("cross_entropy")(model(x), y).backward()
        optimizer.step()
        sums.add_(1.0)

    before = [t.detach().clone() for t in (*model.parameters(), *optimizer.state())]
    probe_graph(FakeGraph(step), model, sums, optimizer)
    assert all(torch.equal(t, b) for t, b in zip((*model.parameters(), *optimizer.state()), before))
    assert optimizer.t.item() == 0
