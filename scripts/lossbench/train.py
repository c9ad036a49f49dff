"""Train one (variant, seed) run: ``lossbench train --variant V --loss L --seed S --data D --out-dir O``.

The whole split lives on the device; batches are slices of a seeded index permutation (no
per-sample DataLoader). Everything random derives from the seed, and the split, the initial
weights and the batch order do not depend on the loss: seed s of every variant sees the same
data in the same order from the same start (a paired design).

Per epoch it records the mean train loss, train/validation/test accuracy, the train-step
seconds (synchronised on GPU), the mean per-sample logit-gradient norm ||dl_i/dz_i||, the
mean per-batch weight-gradient norm of each layer, and on the validation set the mean
max-softmax probability and the share of confidently wrong samples. Row 0 is the initial
network, evaluated before any step (its logit-gradient norm is what the report compares with
theory). This module imports only torch: no pandas, no torchvision.
"""

from __future__ import annotations

import csv
import json
import logging
import math
import os
import time
from dataclasses import asdict, dataclass, fields
from datetime import datetime, timezone
from pathlib import Path

import torch
from torch import Tensor

from . import provenance
from .atomic import atomic_path
from .config import TrainConfig
from .losses import get_loss
from .model import MLP

log = logging.getLogger(__name__)

CONFIDENT = 0.9  # a prediction with max probability above this counts as confident
class SGD:
    """Plain SGD (no momentum, no weight decay): p <- p - lr * grad, as torch.optim.SGD does.

    Not torch.optim.SGD because constructing any torch.optim optimizer imports torch._dynamo,
    which costs ~1.5 s in every training process (measured with torch 2.14.1).
    """

    def __init__(self, params, lr: float):
        self.params, self.lr = list(params), lr

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.params:
            if set_to_none:
                p.grad = None
            elif p.grad is not None:
                p.grad.zero_()

    @torch.no_grad()
    def step(self) -> None:
        for p in self.params:
            p.add_(p.grad, alpha=-self.lr)


@dataclass
class Split:
    x_train: Tensor
    y_train: Tensor
    x_val: Tensor
    y_val: Tensor
    x_test: Tensor
    y_test: Tensor


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu ({os.cpu_count()} cores, {torch.get_num_threads()} threads)"


def make_split(data: dict, cfg: TrainConfig, generator: torch.Generator, device: torch.device) -> Split:
    """Seeded subset of the training images -> train/validation; the full test set. Pixels / 256."""
    n_total = len(data["train_labels"])
    n = cfg.train_size + cfg.val_size
    if n > n_total:
        raise ValueError(f"train_size + val_size = {n} exceeds the {n_total} training images")
    idx = torch.randperm(n_total, generator=generator)[:n]

    def prep(images: Tensor) -> Tensor:
        return (images.reshape(len(images), -1).float() / 256).to(device)  # /256: as the notebook

    x, y = prep(data["train_images"][idx]), data["train_labels"][idx].to(device)
    return Split(
        x[: cfg.train_size], y[: cfg.train_size], x[cfg.train_size :], y[cfg.train_size :],
        prep(data["test_images"]), data["test_labels"].to(device),
    )


@torch.no_grad()
def evaluate(model: MLP, x: Tensor, y: Tensor) -> dict[str, float]:
    """Accuracy, mean max-softmax probability and share of confidently wrong predictions."""
    p = torch.softmax(model(x), dim=1)
    confidence, predicted = p.max(dim=1)
    wrong = predicted != y
    # counts, not float32 means: accuracies come out as exact fractions (0.913, not 0.91299999)
    correct, conf_sum, conf_wrong = torch.stack([
        (~wrong).sum().double(), confidence.double().sum(), (wrong & (confidence > CONFIDENT)).sum().double()
    ]).tolist()
    n = len(y)
    return {"accuracy": correct / n, "mean_max_prob": conf_sum / n, "confident_wrong": conf_wrong / n}


def initial_row(model: MLP, loss_fn, split: Split) -> dict[str, float]:
    """Epoch 0: loss, accuracy and per-sample logit-gradient norm of the untrained network."""
    with torch.no_grad():
        logits = model(split.x_train)
    logits.requires_grad_(True)
    loss = loss_fn(logits, split.y_train)
    (grad,) = torch.autograd.grad(loss, logits)
    n = len(split.y_train)  # every loss is a mean over samples: n * grad is the per-sample gradient
    return {
        "train_loss": loss.item(),
        "train_accuracy": (logits.argmax(1) == split.y_train).sum().item() / n,
        "logit_grad_norm": (grad.norm(dim=1) * n).mean().item(),
        **{f"grad_norm_layer{i + 1}": math.nan for i in range(len(model.linears))},
        "epoch_seconds": 0.0,
    }


def capture_cuda_graph(step, model: MLP, optimizer) -> "torch.cuda.CUDAGraph":
    """Capture ``step`` (forward, backward, update on static tensors) in a CUDA graph.

    As the CUDA-graph docs require, it first runs a few warm-up steps on a side stream; those
    change the weights, so the weights are restored before returning. Gradients must be None
    at capture time: the graph then owns static gradient tensors that each replay overwrites.
    """
    saved = [p.detach().clone() for p in model.parameters()]
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(3):
            optimizer.zero_grad(set_to_none=True)
            step()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    optimizer.zero_grad(set_to_none=True)
    try:
        with torch.cuda.graph(graph):
            step()
    except RuntimeError as error:  # torch.AcceleratorError is one too
        raise RuntimeError(
            "could not capture the training step in a CUDA graph: something in it, most likely the loss, reads "
            "a value back to the host (.item(), .tolist(), `if tensor:`, a boolean mask, nonzero). Make the "
            "loss host-free (README, 'Add a loss'; tests/test_losses.py checks every registered loss on CPU) "
            f"or set cuda_graph: false to train it eagerly. CUDA said: {error}"
        ) from error
    with torch.no_grad():
        for p, value in zip(model.parameters(), saved):
            p.copy_(value)
    return graph


def make_step(model: MLP, optimizer, loss_fn, split: Split, sums: Tensor, batch_size: int, cuda_graph: bool):
    """A function that takes one SGD step on the training images at the given indices.

    Each step adds its statistics to ``sums`` on the device (no host sync). With
    ``cuda_graph`` the forward, backward, statistics and SGD update of a full batch are
    captured once in a CUDA graph and replayed: one launch per step instead of dozens.
    The same kernels run either way, so training is the same up to float noise.
    """
    layers = model.linears

    def sgd_step(idx: Tensor) -> None:
        xb, yb = split.x_train[idx], split.y_train[idx]
        logits = model(xb)
        logits.retain_grad()
        loss = loss_fn(logits, yb)
        loss.backward()
        with torch.no_grad():
            nb = len(idx)
            sums.add_(torch.stack([
                loss.detach() * nb,
                (logits.argmax(1) == yb).sum().float(),
                logits.grad.norm(dim=1).sum() * nb,
                *(layer.weight.grad.norm() for layer in layers),
            ]))
        optimizer.step()

    full_batch = torch.zeros(batch_size, dtype=torch.long, device=sums.device) if cuda_graph else None
    return as_step(sgd_step, model, optimizer, sums, full_batch)


def as_step(sgd_step, model: torch.nn.Module, optimizer, sums: Tensor, full_batch: Tensor | None):
    """The training step around ``sgd_step(idx)``: eager, or, given ``full_batch`` (the index
    tensor of a full batch, static), captured once in a CUDA graph and replayed for every full
    batch, with a smaller last batch run eagerly."""

    def eager(idx: Tensor) -> None:
        optimizer.zero_grad(set_to_none=True)
        sgd_step(idx)

    if full_batch is None:
        return eager

    graph = capture_cuda_graph(lambda: sgd_step(full_batch), model, optimizer)
    sums.zero_()  # the warm-up steps added to it

    def replay(idx: Tensor) -> None:
        if idx.shape != full_batch.shape:  # a last, smaller batch: eager, keeping the graph's grad tensors
            optimizer.zero_grad(set_to_none=False)
            sgd_step(idx)
            return
        full_batch.copy_(idx)
        graph.replay()

    return replay


def start_run(cfg: TrainConfig) -> tuple[str, torch.device]:
    """Process-wide settings of a run (determinism, threads); its start time and device."""
    start_time = datetime.now(timezone.utc).isoformat(timespec="seconds")
    if cfg.deterministic:
        # cuBLAS needs a fixed workspace for reproducible GEMMs; set before CUDA starts
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
    torch.set_num_threads(cfg.threads)
    return start_time, resolve_device(cfg.device)


def train(cfg: TrainConfig, data: dict, out_dir: str | os.PathLike | None = None,
          data_checksums: dict | None = None) -> dict:
    """Train one run; write metrics.json, history.csv, model.pt into ``out_dir`` if given.

    ``data_checksums`` (from the data manifest) goes into the run's provenance.
    """
    start_time, device = start_run(cfg)
    torch.manual_seed(cfg.seed)
    generator = torch.Generator().manual_seed(cfg.seed)  # split and batch order, independent of the loss
    split = make_split(data, cfg, generator, device)
    model = MLP(split.x_train.shape[1], cfg.hidden, classes=10).to(device)
    optimizer = SGD(model.parameters(), lr=cfg.lr)
    loss_fn = get_loss(cfg.loss)
    layers = model.linears
    n = len(split.y_train)
    n_batches = math.ceil(n / cfg.batch_size)
    dev_name = device_name(device)
    log.info("run %s seed %d on %s: %s", cfg.variant, cfg.seed, dev_name, json.dumps(asdict(cfg)))

    # per epoch: loss*n_b, correct, sum_i ||dl_i/dz_i||, then one weight-gradient norm per layer
    sums = torch.zeros(3 + len(layers), device=device)
    step = make_step(model, optimizer, loss_fn, split, sums, cfg.batch_size, cfg.cuda_graph and device.type == "cuda")
    history = []
    status, diverged_epoch, eval_seconds = "ok", None, 0.0
    # process start -> ready to take the first step (interpreter, imports, data on the device)
    startup_seconds = time.time() - provenance.process_start_time()
    for epoch in range(cfg.epochs + 1):
        if epoch == 0:
            row = initial_row(model, loss_fn, split)
        else:
            order = torch.randperm(n, generator=generator).to(device)
            sums.zero_()
            _sync(device)
            t0 = time.perf_counter()
            for start in range(0, n, cfg.batch_size):
                step(order[start : start + cfg.batch_size])
            _sync(device)
            row = step_row(sums.tolist(), n, n_batches, time.perf_counter() - t0)
        t_eval = time.perf_counter()
        row = evaluated_row(epoch, row, model, split)
        eval_seconds += time.perf_counter() - t_eval
        history.append(row)
        log_row(cfg, row)
        if epoch > 0 and not math.isfinite(row["train_loss"]):
            status, diverged_epoch = "diverged", epoch
            log.warning("run diverged at epoch %d (non-finite train loss); stopping", epoch)
            break

    metrics = run_metrics(cfg, history, status, diverged_epoch, eval_seconds, startup_seconds, start_time,
                          {**provenance.collect(dev_name), "data_sha256": data_checksums})
    if out_dir is not None:
        write_outputs(Path(out_dir), model, metrics, history, split)
    return metrics


def step_row(totals: list[float], n: int, n_batches: int, seconds: float) -> dict[str, float]:
    """An epoch's training statistics from the per-step sums (see ``make_step``)."""
    return {
        "train_loss": totals[0] / n,
        "train_accuracy": totals[1] / n,
        "logit_grad_norm": totals[2] / n,
        **{f"grad_norm_layer{i + 1}": v / n_batches for i, v in enumerate(totals[3:])},
        "epoch_seconds": seconds,
    }


def evaluated_row(epoch: int, row: dict, model: MLP, split: Split) -> dict:
    """The history row of an epoch: its training statistics plus validation and test results."""
    val, test = evaluate(model, split.x_val, split.y_val), evaluate(model, split.x_test, split.y_test)
    return {
        "epoch": epoch, **row,
        "val_accuracy": val["accuracy"], "test_accuracy": test["accuracy"],
        "val_mean_max_prob": val["mean_max_prob"], "val_confident_wrong": val["confident_wrong"],
    }


def log_row(cfg: TrainConfig, row: dict) -> None:
    log.info(
        "%s seed %d  epoch %2d/%d  loss %9.5f  train %.4f  val %.4f  test %.4f  |dL/dz| %.3e  %.2fs",
        cfg.variant, cfg.seed, row["epoch"], cfg.epochs, row["train_loss"], row["train_accuracy"],
        row["val_accuracy"], row["test_accuracy"], row["logit_grad_norm"], row["epoch_seconds"],
    )


def run_metrics(cfg: TrainConfig, history: list[dict], status: str, diverged_epoch: int | None,
                eval_seconds: float, startup_seconds: float, start_time: str, provenance_record: dict) -> dict:
    """metrics.json's content for one run, from its history (strict JSON: NaN/inf become null)."""
    final = history[-1]
    metrics = {
        "variant": cfg.variant, "loss": cfg.loss, "seed": cfg.seed, "status": status,
        "diverged_epoch": diverged_epoch, "epochs_run": final["epoch"],
        "train_loss": final["train_loss"], "train_accuracy": final["train_accuracy"],
        "val_accuracy": final["val_accuracy"], "test_accuracy": final["test_accuracy"],
        "initial_logit_grad_norm": history[0]["logit_grad_norm"],
        "train_seconds": sum(r["epoch_seconds"] for r in history),
        "eval_seconds": eval_seconds, "startup_seconds": startup_seconds,
        "start_time": start_time, "config": {**asdict(cfg), "hidden": list(cfg.hidden)},
        "config_hash": cfg.config_hash(),
        "provenance": provenance_record,
    }
    return {k: None if isinstance(v, float) and not math.isfinite(v) else v for k, v in metrics.items()}


def write_outputs(out_dir: Path, model: MLP, metrics: dict, history: list[dict], split: Split) -> None:
    """history.csv, model.pt (a state dict), predictions.csv and metrics.json, each atomic; metrics last."""
    out_dir.mkdir(parents=True, exist_ok=True)
    with atomic_path(out_dir / "history.csv") as tmp:
        with open(tmp, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(history[0]))
            writer.writeheader()
            writer.writerows(history)
    with atomic_path(out_dir / "model.pt") as tmp:
        torch.save(model.state_dict(), tmp)
    # Reload check: the saved weights, loaded safely into a fresh model, give the same test accuracy.
    fresh = MLP(split.x_train.shape[1], tuple(metrics["config"]["hidden"]), classes=10).to(split.x_test.device)
    fresh.load_state_dict(load_state_dict(out_dir / "model.pt"))
    reloaded = evaluate(fresh, split.x_test, split.y_test)["accuracy"]
    if metrics["status"] == "ok" and reloaded != metrics["test_accuracy"]:
        raise RuntimeError(f"{out_dir / 'model.pt'}: reloaded test accuracy {reloaded} != {metrics['test_accuracy']}")
    metrics["reload_test_accuracy"] = reloaded
    write_predictions(out_dir / "predictions.csv", fresh, split.x_test, split.y_test)
    with atomic_path(out_dir / "metrics.json") as tmp:
        Path(tmp).write_text(json.dumps(metrics, indent=2) + "\n")


@torch.no_grad()
def write_predictions(path: Path, model: MLP, x: Tensor, y: Tensor) -> None:
    """Per test image: true label, predicted label, its probability and the true class's (for the report)."""
    p = torch.softmax(model(x), dim=1)
    confidence, predicted = p.max(dim=1)
    p_true = p.gather(1, y[:, None]).squeeze(1)
    columns = torch.stack([y.double(), predicted.double(), confidence.double(), p_true.double()], 1).cpu().tolist()
    with atomic_path(path) as tmp:
        with open(tmp, "w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["index", "label", "predicted", "confidence", "p_true"])
            writer.writerows([i, int(r[0]), int(r[1]), f"{r[2]:.6g}", f"{r[3]:.6g}"] for i, r in enumerate(columns))


def load_state_dict(path: str | os.PathLike) -> dict:
    """Load saved weights without unpickling code (``weights_only=True``)."""
    return torch.load(path, map_location="cpu", weights_only=True)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def config_from_args(args) -> TrainConfig:
    """Build the frozen config from parsed CLI flags (one flag per field)."""
    values = {f.name: getattr(args, f.name) for f in fields(TrainConfig)}
    values["hidden"] = tuple(values["hidden"])
    return TrainConfig(**values)
