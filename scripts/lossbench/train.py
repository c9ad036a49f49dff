"""Train one (variant, seed) run: ``lossbench train --variant V --loss L --seed S --data D --out-dir O``.

The whole split lives on the device; batches are slices of a seeded index permutation (no
per-sample DataLoader). Everything random derives from the seed, and the split, the initial
weights and the batch order do not depend on the loss: seed s of every variant sees the same
data in the same order from the same start (a paired design).

Per epoch it records the mean train loss, train/validation/test accuracy, the train-step
wall and process-CPU seconds (synchronised on GPU), the mean per-sample logit-gradient norm
||dl_i/dz_i||, the mean per-batch weight-gradient norm of each layer, and on the validation set
the mean max-softmax probability and the share of confidently wrong samples. Row 0 is the
initial network, evaluated before any step (its logit-gradient norm is what the report
compares with theory; its layer norms are means over the split's first 10 batches in order).
With ``test_every`` k > 1 the test set, 5x the validation set, is evaluated every k-th epoch
and at the run's last (not at epoch 0); test accuracy is NaN in the rows between (everything
else stays per epoch). The workflow's runs use k = their epochs: the test set once, at the end.

``run_epochs`` is the one epoch loop: ``train`` runs it for one network, ``packed.train_seeds``
for many seeds stacked. This module imports only torch: no pandas, no torchvision.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime

import torch
from torch import Tensor

from . import provenance
from .config import ConfigError, TrainConfig
from .data import DATASETS, N_CLASSES
from .decisions import CONFIDENT
from .devices import device_name, resolve_device, sync
from .losses import get_loss
from .model import MLP
from .runfolder import check_out_dir, predict, write_run

log = logging.getLogger(__name__)

# What each training step adds up on the device, in this order (one slot per layer at the end)
STEP_SLOTS = ("loss", "correct", "logit_grad_norm")


class SGD:
    """Plain SGD (no momentum, no weight decay): p <- p - lr * grad, as torch.optim.SGD does.

    Not torch.optim.SGD because constructing any torch.optim optimizer imports torch._dynamo,
    which costs ~1.5 s in every training process (measured with torch 2.14.1). The optimisers here
    keep every value on the device and never branch on one: a step is captured in a CUDA graph.
    """

    def __init__(self, params, lr: float):
        self.params, self.lr = list(params), lr

    def lr_of(self, i: int):
        """Parameter i's learning rate: a number here; a per-run tensor in a packed job (lossbench.packed)."""
        return self.lr

    def state(self) -> list[Tensor]:
        """The tensors a step changes besides the weights (none for SGD): put back after a CUDA graph's
        warm-up steps and probe, as the weights are."""
        return []

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


class Adam(SGD):
    """Adam (Kingma & Ba) as torch.optim.Adam computes it with its defaults: betas (0.9, 0.999), eps 1e-8,
    no weight decay, no amsgrad. With g the gradient and t the step count (from 1):
    m <- b1 m + (1 - b1) g, v <- b2 v + (1 - b2) g^2, p <- p - lr / (1 - b1^t) * m / (sqrt(v / (1 - b2^t)) + eps).

    Written by hand for the same reason as ``SGD``; t is a tensor on the device (a CUDA graph replays
    the step, so nothing in it may be a host value that changes), in float64 as torch's host floats are:
    1 - 0.999^t in float32 loses five digits to cancellation. tests/test_train.py compares its steps with
    torch.optim.Adam's.
    """

    def __init__(self, params, lr, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8):
        super().__init__(params, lr)
        self.betas, self.eps = betas, eps
        self.m = [torch.zeros_like(p) for p in self.params]
        self.v = [torch.zeros_like(p) for p in self.params]
        self.t = torch.zeros((), dtype=torch.float64, device=self.params[0].device)
        # scratch for the update, one per parameter: a step allocates nothing (on CPU a fresh tensor of a
        # layer's size is fresh pages, and faulting them in cost twice the arithmetic: 13 ms a step against 5)
        self.update = [torch.empty_like(p) for p in self.params]

    def state(self) -> list[Tensor]:
        return [*self.m, *self.v, self.t]

    @torch.no_grad()
    def step(self) -> None:
        b1, b2 = self.betas
        self.t.add_(1)
        correction1 = 1 - b1**self.t
        correction2_sqrt = (1 - b2**self.t).sqrt()
        for i, (p, m, v, update) in enumerate(zip(self.params, self.m, self.v, self.update)):
            m.lerp_(p.grad, 1 - b1)
            v.mul_(b2).addcmul_(p.grad, p.grad, value=1 - b2)
            # update = m / (sqrt(v) / correction2_sqrt + eps) * (lr / correction1), in that order of operations
            torch.sqrt(v, out=update).div_(correction2_sqrt).add_(self.eps)
            torch.div(m, update, out=update).mul_(self.lr_of(i) / correction1)
            p.sub_(update)


class NormalisedSGD(SGD):
    """Normalised SGD: every step moves the weights by lr in total, p <- p - lr * g / ||g||, with ||g|| the
    norm of the gradient over all the run's parameters together (every layer's weights and biases), so
    the loss's gradient scale does not enter the step size, only its direction. A zero gradient takes no
    step (||g|| is floored at the smallest normal float instead of dividing by 0)."""

    def sq_norm(self, grad: Tensor) -> Tensor:
        """The squared norm of one parameter's gradient (per run in a packed job)."""
        return grad.pow(2).sum()

    def per_run(self, p: Tensor, value: Tensor) -> Tensor:
        """``value`` shaped to scale parameter ``p`` (a per-run vector in a packed job; a scalar here)."""
        return value

    @torch.no_grad()
    def step(self) -> None:
        norm = torch.stack([self.sq_norm(p.grad) for p in self.params]).sum(0).sqrt()
        norm = norm.clamp_min(torch.finfo(norm.dtype).tiny)
        for i, p in enumerate(self.params):
            p.sub_(p.grad * (self.lr_of(i) / self.per_run(p, norm)))


OPTIMIZER_CLASSES = {"sgd": SGD, "adam": Adam, "nsgd": NormalisedSGD}  # config.OPTIMIZERS, in that order


def make_optimizer(name: str, params, lr: float) -> SGD:
    """The optimiser ``name`` (TrainConfig.optimizer) over ``params`` at learning rate ``lr``."""
    if name not in OPTIMIZER_CLASSES:
        raise ConfigError(f"optimizer: expected one of {', '.join(OPTIMIZER_CLASSES)}, found {name!r}")
    return OPTIMIZER_CLASSES[name](params, lr=lr)


@dataclass
class Split:
    x_train: Tensor
    y_train: Tensor
    x_val: Tensor
    y_val: Tensor
    x_test: Tensor
    y_test: Tensor


@dataclass
class Member:
    """One seed's run inside the epoch loop: its config, data, batch-order generator and record."""

    cfg: TrainConfig
    split: Split
    generator: torch.Generator
    history: list[dict] = field(default_factory=list)
    status: str = "ok"
    diverged_epoch: int | None = None
    eval_seconds: float = 0.0
    predictions: list | None = None  # per test image, from its last test (runfolder.predict's rows)
    initial: dict | None = None  # epoch 0's training statistics (initial_row's): computed at epoch 0, or given
    initial_val: dict | None = None  # epoch 0's validation (evaluate's): computed at epoch 0, or given with initial


def make_split(data: dict, cfg: TrainConfig, generator: torch.Generator, device: torch.device) -> Split:
    """Seeded subset of the training images -> train/validation; the test set. Pixels / 256.

    With ``cfg.classes`` C below the dataset's classes, only images of labels 0..C-1 take part: the subset
    is drawn from the training images of those labels, and the test set keeps only theirs. With every
    class the draw is what it always was (the same permutation of all the training images)."""
    spec = DATASETS.get(cfg.dataset)
    title, names = (spec.title, spec.classes) if spec else (cfg.dataset, tuple(map(str, range(N_CLASSES))))
    if not 2 <= cfg.classes <= len(names):
        raise ConfigError(f"classes: expected an integer from 2 to {len(names)} ({title}'s classes), "
                          f"found {cfg.classes}")
    labels = data["train_labels"]
    subset = cfg.classes < len(names)
    pool = (labels < cfg.classes).nonzero().squeeze(1) if subset else None
    n_total = len(labels) if pool is None else len(pool)
    n = cfg.train_size + cfg.val_size
    if n > n_total:
        if subset:
            raise ConfigError(
                f"train_size + val_size: {cfg.train_size} + {cfg.val_size} = {n} exceeds the {n_total:,} training "
                f"images of {title}'s first {cfg.classes} classes ({', '.join(names[:cfg.classes])}; "
                f"classes: {cfg.classes})")
        raise ConfigError(f"train_size + val_size: {n} exceeds the {n_total} training images of the data")
    idx = torch.randperm(n_total, generator=generator)[:n]
    if pool is not None:
        idx = pool[idx]

    def prep(images: Tensor) -> Tensor:
        return (images.reshape(len(images), -1).float() / 256).to(device)  # /256: as the notebook

    x_test, y_test = data["test_images"], data["test_labels"]
    if subset:
        keep = y_test < cfg.classes
        x_test, y_test = x_test[keep], y_test[keep]
    x, y = prep(data["train_images"][idx]), labels[idx].to(device)
    return Split(
        x[: cfg.train_size], y[: cfg.train_size], x[cfg.train_size :], y[cfg.train_size :],
        prep(x_test), y_test.to(device),
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


INITIAL_BATCHES = 10  # epoch 0's layer norms: the first 10 minibatches (all of them cost another epoch)


def initial_row(model: MLP, loss_fn, split: Split, batch_size: int) -> dict[str, float]:
    """Epoch 0: loss, accuracy and per-sample logit-gradient norm of the untrained network over the
    whole training split, and the mean weight-gradient norm of each layer over the split's first
    ``INITIAL_BATCHES`` minibatches of ``batch_size`` in order, a minibatch mean as later epochs
    record (a pass over every batch would cost as much compute as a training epoch).

    No step is taken and nothing random is drawn: gradients come from ``torch.autograd.grad``
    (the parameters' ``.grad`` stay untouched), so training after it is bit for bit what it was
    without it.
    """
    with torch.no_grad():
        logits = model(split.x_train)
    logits.requires_grad_(True)
    loss = loss_fn(logits, split.y_train)
    (grad,) = torch.autograd.grad(loss, logits)
    n = len(split.y_train)  # every loss is a mean over samples: n * grad is the per-sample gradient
    weights = [layer.weight for layer in model.linears]
    layer_sums = torch.zeros(len(weights), dtype=torch.float64, device=grad.device)
    starts = range(0, n, batch_size)[:INITIAL_BATCHES]
    for start in starts:
        batch = slice(start, start + batch_size)
        grads = torch.autograd.grad(loss_fn(model(split.x_train[batch]), split.y_train[batch]), weights)
        layer_sums += torch.stack([g.norm() for g in grads]).double()
    layer_means = (layer_sums / len(starts)).tolist()
    return {
        "train_loss": loss.item(),
        "train_accuracy": (logits.argmax(1) == split.y_train).sum().item() / n,
        "logit_grad_norm": (grad.norm(dim=1) * n).mean().item(),
        **{f"grad_norm_layer{i + 1}": v for i, v in enumerate(layer_means)},
        "epoch_seconds": 0.0,
        "epoch_cpu_seconds": 0.0,
    }


def step_sums(*, loss: Tensor, correct: Tensor, logit_grad_norm: Tensor, layer_grad_norms, dim: int = 0) -> Tensor:
    """One step's contribution to the epoch sums, stacked in ``STEP_SLOTS`` order then one per layer."""
    return torch.stack([loss, correct, logit_grad_norm, *layer_grad_norms], dim=dim)


def step_row(totals: list[float], n: int, n_batches: int, seconds: float, cpu_seconds: float) -> dict[str, float]:
    """An epoch's training statistics from its step sums (``step_sums``)."""
    sums = dict(zip(STEP_SLOTS, totals))
    layers = totals[len(STEP_SLOTS):]
    return {
        "train_loss": sums["loss"] / n,
        "train_accuracy": sums["correct"] / n,
        "logit_grad_norm": sums["logit_grad_norm"] / n,
        **{f"grad_norm_layer{i + 1}": v / n_batches for i, v in enumerate(layers)},
        "epoch_seconds": seconds,
        "epoch_cpu_seconds": cpu_seconds,
    }


def capture_cuda_graph(step, model: torch.nn.Module, optimizer) -> torch.cuda.CUDAGraph:
    """Capture ``step`` (forward, backward, update on static tensors) in a CUDA graph.

    As the CUDA-graph docs require, it first runs a few warm-up steps on a side stream; those
    change the weights, so the weights are restored before returning. Gradients must be None
    at capture time: the graph then owns static gradient tensors that each replay overwrites.
    Streams and capture are made on the device the weights live on (``cuda:N``, not the current
    device): a capture on another device's stream records nothing of the step.
    """
    with torch.cuda.device(next(model.parameters()).device):
        return _capture(step, model, optimizer)


def _capture(step, model: torch.nn.Module, optimizer) -> torch.cuda.CUDAGraph:
    tensors = [*model.parameters(), *optimizer.state()]  # the warm-up steps change them all (Adam's moments too)
    saved = [t.detach().clone() for t in tensors]
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
            "loss host-free (docs/losses.md; tests/test_losses.py checks every registered loss on CPU) "
            f"or set cuda_graph: false to train it eagerly. CUDA said: {error}"
        ) from error
    with torch.no_grad():
        for t, value in zip(tensors, saved):
            t.copy_(value)
    return graph


def make_step(model: MLP, optimizer, loss_fn, split: Split, sums: Tensor, batch_size: int, cuda_graph: bool):
    """A function that takes one optimiser step on the training images at the given indices.

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
            sums.add_(step_sums(loss=loss.detach() * nb, correct=(logits.argmax(1) == yb).sum().float(),
                                logit_grad_norm=logits.grad.norm(dim=1).sum() * nb,
                                layer_grad_norms=[layer.weight.grad.norm() for layer in layers]))
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
    probe_graph(graph, model, sums, optimizer)

    def replay(idx: Tensor) -> None:
        if idx.shape != full_batch.shape:  # a last, smaller batch: eager, keeping the graph's grad tensors
            optimizer.zero_grad(set_to_none=False)
            sgd_step(idx)
            return
        full_batch.copy_(idx)
        graph.replay()

    return replay


def check_step_sums(totals: list[list[float]], labels: list[str], where: str) -> None:
    """Refuse steps that did nothing: a run whose step sums (``step_sums``: loss, correct count, gradient
    norms) are every one exactly 0 took no step at all, whatever its loss (a step that ran has a non-zero
    loss or gradient or a correct image). ``totals`` one row per run, ``labels`` naming each. Non-finite
    sums (a diverged run) are not nothing."""
    empty = [label for label, row in zip(labels, totals) if row and all(v == 0.0 for v in row)]
    if empty:
        raise RuntimeError(
            f"{where}: the training steps of {', '.join(empty)} did nothing (loss, correct count and gradient "
            "norms all exactly 0), so the run would 'train' with a loss of 0. On CUDA this is an empty CUDA "
            "graph: the step captured on another device's stream than its tensors', or a step with no kernels. "
            "Set cuda_graph: false to train eagerly, and report it with this run's log")


def probe_graph(graph: torch.cuda.CUDAGraph, model: torch.nn.Module, sums: Tensor, optimizer=None) -> None:
    """Replay a freshly captured step once (on the static index buffer's batch) and refuse it, through
    ``check_step_sums``, if it added nothing; the weights, the optimiser's state and sums are put back as they were."""
    tensors = [*model.parameters(), *(optimizer.state() if optimizer is not None else [])]
    saved = [t.detach().clone() for t in tensors]
    sums.zero_()  # the warm-up steps added to it
    graph.replay()
    totals = sums.reshape(-1, sums.shape[-1]).tolist()  # one host read, once per run
    check_step_sums(totals, [f"run {i}" for i in range(len(totals))], "the captured CUDA graph's first replay")
    with torch.no_grad():
        for t, value in zip(tensors, saved):
            t.copy_(value)
    sums.zero_()


MATMUL_PRECISION = "highest"  # float32 matmuls in float32 (no TF32): a site default cannot change results


def start_run(cfg: TrainConfig) -> tuple[str, torch.device]:
    """Process-wide settings of a run (determinism, threads); its start time and device."""
    start_time = datetime.now(UTC).isoformat(timespec="milliseconds")
    if cfg.deterministic:
        # cuBLAS needs a fixed workspace for reproducible GEMMs; set before CUDA starts
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
    torch.set_num_threads(cfg.threads)
    # pinned, not inherited: TORCH_ALLOW_TF32_CUBLAS_OVERRIDE or a site's sitecustomize would otherwise switch
    # float32 matmuls to TF32 on Ampere and newer, changing results without a trace
    torch.set_float32_matmul_precision(getattr(cfg, "matmul_precision", None) or MATMUL_PRECISION)
    device = resolve_device(cfg.device)
    if device.type == "cuda" and device.index is not None:
        torch.cuda.set_device(device)  # cuda:N: streams, graphs and allocations default to it from here
    return start_time, device


def run_epochs(members: list[Member], step: Callable[[Tensor], None], sums: Tensor, model_of: Callable[[int], MLP],
               loss_fn, device: torch.device, stacked: bool = False, evaluate_runs: Callable | None = None) -> None:
    """The epoch loop, for one network or several stacked; fills each member's history and status.

    Epoch 0 evaluates the untrained networks. Each later epoch draws every member's batch order
    from its own generator, runs ``step`` on each batch of indices (``[B]`` for one network,
    ``[S, B]`` for ``stacked`` ones, one member included), reads the step sums once, and evaluates
    every member's network (``model_of(s)``; or, given ``evaluate_runs(alive, tested)``, every member at once:
    it returns ``{s: (validation dict as evaluate's, predict's rows or None)}``, the predictions for the members in
    ``tested``). A member whose train loss is not finite is marked diverged and no longer
    evaluated (its weights are NaN; the others go on); the loop ends when all have diverged.
    Epoch seconds are each member's share of the epoch (the epoch's time / number of members).
    """
    cfg, n = members[0].cfg, len(members[0].split.y_train)
    n_batches = math.ceil(n / cfg.batch_size)
    for epoch in range(cfg.epochs + 1):
        if epoch > 0:
            orders = [torch.randperm(n, generator=m.generator) for m in members]
            order = (torch.stack(orders) if stacked else orders[0]).to(device)
            sums.zero_()
            sync(device)
            t0, cpu0 = time.perf_counter(), time.process_time()
            for start in range(0, n, cfg.batch_size):
                step(order[..., start : start + cfg.batch_size])
            sync(device)
            seconds = (time.perf_counter() - t0) / len(members)
            cpu_seconds = (time.process_time() - cpu0) / len(members)
            totals = sums.reshape(len(members), -1).tolist()
            check_step_sums([t for t, m in zip(totals, members) if m.status != "diverged"],
                            [f"{m.cfg.variant} seed {m.cfg.seed}" for m in members if m.status != "diverged"],
                            f"epoch {epoch}")
        alive = [s for s, m in enumerate(members) if m.status != "diverged"]
        rows = {}
        for s in alive:
            if epoch == 0:
                if members[s].initial is None:
                    members[s].initial = initial_row(model_of(s), loss_fn, members[s].split, cfg.batch_size)
                rows[s] = dict(members[s].initial)
            else:
                rows[s] = step_row(totals[s], n, n_batches, seconds, cpu_seconds)
        # the test set every test_every-th epoch (epoch 0 only when that is every epoch of a run of several: for
        # a one-epoch run every epoch and the last are the same, the study's case) and always at a run's last
        # (budget or divergence): 5x the validation set, it is most of an epoch's evaluation
        tests = {s: (epoch % cfg.test_every == 0 and (epoch > 0 or cfg.test_every == 1 < cfg.epochs))
                 or epoch == cfg.epochs or not math.isfinite(rows[s]["train_loss"]) for s in alive}
        evaluated, shared = {}, 0.0
        if evaluate_runs is not None and alive:  # every run at once: one pass per chunk of runs, one host read
            t_eval = time.perf_counter()
            evaluated = evaluate_runs(alive, [s for s in alive if tests[s]])
            shared = (time.perf_counter() - t_eval) / len(alive)
        for s in alive:
            member = members[s]
            t_eval = time.perf_counter()
            given = evaluated.get(s)
            if epoch == 0 and given is None and member.initial_val is not None:  # the untrained network's, shared
                given = member.initial_val, None
            row = evaluated_row(epoch, rows[s], model_of(s) if evaluate_runs is None else None, member,
                                test=tests[s], evaluated=given)
            if epoch == 0:
                member.initial_val = {"accuracy": row["val_accuracy"], "mean_max_prob": row["val_mean_max_prob"],
                                      "confident_wrong": row["val_confident_wrong"]}
            member.eval_seconds += time.perf_counter() - t_eval + shared
            member.history.append(row)
            log_row(member.cfg, row)
            if epoch > 0 and not math.isfinite(row["train_loss"]):
                member.status, member.diverged_epoch = "diverged", epoch
                log.warning("%s seed %d diverged at epoch %d (non-finite train loss); stopping it",
                            member.cfg.variant, member.cfg.seed, epoch)
        if all(m.status == "diverged" for m in members):
            break


def split_key(cfg: TrainConfig) -> tuple:
    """What a run's split (``make_split``) depends on besides the data: runs with the same key draw the same split."""
    return cfg.dataset, cfg.seed, cfg.classes, cfg.train_size, cfg.val_size


def train(cfg: TrainConfig, data: dict, out_dir: str | os.PathLike | None = None,
          data_checksums: dict | None = None, history: bool = False, startup_from: float | None = None,
          initial_rows: dict | None = None, splits: dict | None = None) -> dict:
    """Train one run and return its metrics; write its run folder into ``out_dir`` if given.

    The run trains on the dataset's first ``cfg.classes`` classes (``make_split``) with ``cfg.optimizer``
    (``make_optimizer``: sgd, adam or nsgd).

    ``data_checksums`` (from the data manifest) goes into the run's provenance. The run folder
    appears whole at the end or not at all (``runfolder.write_run``); a folder that could not be
    written is refused before training starts. ``history``: the returned metrics also hold the run's
    history rows under "history" (tests/gpu/check.py compares them; metrics.json never holds them).
    ``startup_from``: when the run's start-up began (``time.time()``; default the process's start), for a
    run that is not its process's first (``packed.train_sequential``). ``initial_rows``: epoch 0's training
    statistics (``initial_row``'s) and validation, by config but lr and variant, shared by the runs of one process:
    a run whose untrained network, split and loss another run already evaluated (a sequential lr grid's runs of a
    seed) reads them instead of computing them again (the same numbers, from the same code on the same tensors),
    else adds its own. ``splits``: the splits runs of this process drew from ``data``, by ``split_key``, each with its
    generator's state after the draw: a run of the same key reads them instead of drawing again (the same tensors
    and the same batch order after them), else adds its own.
    """
    if out_dir is not None:
        check_out_dir(out_dir)
    start_time, device = start_run(cfg)
    torch.manual_seed(cfg.seed)
    generator = torch.Generator().manual_seed(cfg.seed)  # split and batch order, independent of the loss
    drawn = None if splits is None else splits.get(split_key(cfg))
    if drawn is not None:
        split, state = drawn
        generator.set_state(state)
    else:
        split = make_split(data, cfg, generator, device)
        if splits is not None:
            splits[split_key(cfg)] = split, generator.get_state()
    initial_key = replace(cfg, lr=0.0, variant="")  # what epoch 0's statistics depend on
    initial, initial_val = (None, None) if initial_rows is None else initial_rows.get(initial_key, (None, None))
    member = Member(cfg, split, generator, initial=initial, initial_val=initial_val)
    model = MLP(member.split.x_train.shape[1], cfg.hidden, classes=cfg.classes).to(device)
    optimizer = make_optimizer(cfg.optimizer, model.parameters(), cfg.lr)
    loss_fn = get_loss(cfg.loss)
    dev_name = device_name(device)
    log.info("run %s seed %d on %s: %s", cfg.variant, cfg.seed, dev_name, json.dumps(asdict(cfg)))

    sums = torch.zeros(len(STEP_SLOTS) + len(model.linears), device=device)
    step = make_step(model, optimizer, loss_fn, member.split, sums, cfg.batch_size,
                     cfg.cuda_graph and device.type == "cuda")
    # process start -> ready to take the first step (interpreter, imports, data on the device)
    startup_seconds = time.time() - (provenance.process_start_time() if startup_from is None else startup_from)
    run_epochs([member], step, sums, lambda s: model, loss_fn, device)
    if initial_rows is not None:
        initial_rows.setdefault(initial_key, (member.initial, member.initial_val))

    record = {**provenance.collect(dev_name, device), "data_sha256": data_checksums}
    metrics = run_metrics(member, startup_seconds, start_time, record)
    if out_dir is not None:  # what metrics.json holds: the metrics plus its files' checksums
        metrics = write_run(out_dir, model, metrics, member.history, member.split.x_test, member.split.y_test,
                            member.predictions)
    return {**metrics, "history": member.history} if history else metrics


def evaluated_row(epoch: int, row: dict, model: MLP | None, member: Member, test: bool = True,
                  evaluated: tuple[dict, list | None] | None = None) -> dict:
    """The history row of an epoch: its training statistics plus validation and (``test``) test results.

    A test keeps its per-image predictions in ``member.predictions``: the last test's are the run's
    predictions.csv (``runfolder.stage_run`` checks the saved weights are the ones that made them).
    ``evaluated``: the validation dict and test predictions already computed (a packed job evaluates
    every run at once); else ``model`` is evaluated here."""
    split = member.split
    val, predictions = evaluated if evaluated is not None else (evaluate(model, split.x_val, split.y_val), None)
    test_accuracy = math.nan
    if test:
        member.predictions = predictions if predictions is not None else predict(model, split.x_test, split.y_test)
        test_accuracy = sum(label == predicted for label, predicted, _, _ in member.predictions) / len(split.y_test)
    return {
        "epoch": epoch, **row,
        "val_accuracy": val["accuracy"],
        "test_accuracy": test_accuracy,
        "val_mean_max_prob": val["mean_max_prob"], "val_confident_wrong": val["confident_wrong"],
    }


def log_row(cfg: TrainConfig, row: dict) -> None:
    log.info(
        "%s seed %d  epoch %2d/%d  loss %9.5f  train %.4f  val %.4f  test %.4f  |dL/dz| %.3e  %.2fs",
        cfg.variant, cfg.seed, row["epoch"], cfg.epochs, row["train_loss"], row["train_accuracy"],
        row["val_accuracy"], row["test_accuracy"], row["logit_grad_norm"], row["epoch_seconds"],
    )


def run_metrics(member: Member, startup_seconds: float, start_time: str, provenance_record: dict) -> dict:
    """metrics.json's content for one run, from its history (strict JSON: NaN/inf become null)."""
    cfg, history = member.cfg, member.history
    final = history[-1]
    metrics = {
        "variant": cfg.variant, "loss": cfg.loss, "seed": cfg.seed, "status": member.status,
        "diverged_epoch": member.diverged_epoch, "epochs_run": final["epoch"],
        "train_loss": final["train_loss"], "train_accuracy": final["train_accuracy"],
        "val_accuracy": final["val_accuracy"], "test_accuracy": final["test_accuracy"],
        "initial_logit_grad_norm": history[0]["logit_grad_norm"],
        "train_seconds": sum(r["epoch_seconds"] for r in history),
        "train_cpu_seconds": sum(r["epoch_cpu_seconds"] for r in history),
        "eval_seconds": member.eval_seconds, "startup_seconds": startup_seconds,
        "start_time": start_time, "end_time": datetime.now(UTC).isoformat(timespec="milliseconds"),
        "config": {**asdict(cfg), "hidden": list(cfg.hidden)},
        "config_hash": cfg.config_hash(),
        "provenance": provenance_record,
    }
    return {k: None if isinstance(v, float) and not math.isfinite(v) else v for k, v in metrics.items()}
