"""Train many runs of one loss together: ``lossbench train-seeds --seeds 0 1 2 ... [--lrs 0.01 0.1 ...]``.

One process, one device, every run's network stacked along a leading axis: each layer is a
batched matrix product (``baddbmm``) over the runs, the loss is ``torch.func.vmap``-ed over
them, and one optimiser step (SGD, Adam or normalised SGD: ``make_stacked_optimizer``) updates all
of them, each with its own learning rate (a per-run lr tensor: the runs may be a grid of lrs x
seeds); on CUDA that whole step is one captured graph.
The runs stay independent: the gradient of the sum of per-run mean losses with respect to a
run's weights is that run's own gradient, and a run that diverges (NaN weights) stays NaN
alone: nothing mixes values across the stacked axis.

Each run starts exactly where ``lossbench train --seed s --lr lr`` starts (same split, initial
weights and batch order, drawn from the same generators in the same order), and its epoch-0
row, evaluation and outputs go through the same code (``train.run_epochs``, ``runfolder``).
Runs of the same seed share one copy of their split on the device. Only the arithmetic of the
stacked products may round differently, so a packed run equals the single run up to float
noise, not bit for bit. Outputs per run are those of a single run (``DIR/seed-<s>/``, or
``DIR/lr-<lr>/seed-<s>/`` for a grid), plus ``packed_seeds`` (how many runs shared the process)
in metrics.json; a run's ``epoch_seconds`` is its share of the packed epoch (epoch time /
number of runs).
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch
from torch import Tensor, nn

from . import provenance
from .config import SEQUENTIAL, STACKED, ConfigError, TrainConfig, lr_study_variant, lr_text, pack_shape
from .devices import device_name, job_cores, resolve_device
from .losses import get_loss
from .model import MLP
from .runfolder import check_out_dir, install_run, remove_empty, stage_run
from .train import (
    CONFIDENT,
    SGD,
    STEP_SLOTS,
    Adam,
    Member,
    NormalisedSGD,
    Split,
    as_step,
    make_split,
    run_epochs,
    run_metrics,
    split_key,
    start_run,
    step_sums,
    train,
)

log = logging.getLogger(__name__)


class StackedMLP(nn.Module):
    """The MLPs of several seeds as one module: weights ``[S, in, out]`` (each run's ``nn.Linear`` weight
    transposed), biases ``[S, out]``.

    ``[S, in, out]``, not ``[S, out, in]``: a layer is then ``baddbmm(b, x, w)`` and its weight gradient
    ``x^T @ grad`` comes out contiguous in the weight's own layout. With ``[S, out, in]`` the product reads
    ``w.transpose(1, 2)``, whose gradient is a transposed view that autograd copies into the parameter's
    layout every step (about 20% of a packed step at 100 seeds). The arithmetic is the same products."""

    def __init__(self, models: list[MLP]):
        super().__init__()
        layers = [m.linears for m in models]
        self.weights = nn.ParameterList(
            nn.Parameter(torch.stack([ls[i].weight.detach().t() for ls in layers]).contiguous())
            for i in range(len(layers[0])))
        self.biases = nn.ParameterList(
            nn.Parameter(torch.stack([ls[i].bias.detach() for ls in layers])) for i in range(len(layers[0])))

    def forward(self, x: Tensor, runs: Tensor | None = None) -> Tensor:
        """``x`` ``[S, B, in]`` -> logits ``[S, B, classes]``; given ``runs`` (indices), only those runs'
        networks, ``x`` then ``[len(runs), B, in]``."""
        last = len(self.weights) - 1
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            if runs is not None:
                w, b = w[runs], b[runs]
            x = torch.baddbmm(b.unsqueeze(1), x, w)
            if i < last:
                x = torch.relu(x)
        return x

    @torch.no_grad()
    def load_seed(self, s: int, model: MLP) -> MLP:
        """Copy seed ``s``'s weights into ``model`` (an MLP of the same shape) and return it."""
        for layer, w, b in zip(model.linears, self.weights, self.biases):
            layer.weight.copy_(w[s].t())
            layer.bias.copy_(b[s])
        return model


def _per_run_lrs(params: list[Tensor], lrs: Tensor) -> list[Tensor]:
    """Each stacked parameter's per-run lrs, on its device and shaped ``[S, 1, ...]`` to scale it."""
    return [lrs.to(p.device, p.dtype).reshape(-1, *[1] * (p.dim() - 1)) for p in params]


class StackedSGD(SGD):
    """Plain SGD over stacked parameters, each run with its own lr: p[s] <- p[s] - lrs[s] * grad[s].

    ``lrs`` lives on the parameters' device, so the update is part of a captured CUDA graph."""

    def __init__(self, params, lrs: Tensor):
        super().__init__(params, lr=math.nan)  # one lr per run instead: self.lrs
        self.lrs = _per_run_lrs(self.params, lrs)

    def lr_of(self, i: int) -> Tensor:
        return self.lrs[i]

    @torch.no_grad()
    def step(self) -> None:
        for p, lr in zip(self.params, self.lrs):
            p.addcmul_(p.grad, lr, value=-1)


class StackedAdam(Adam):
    """``train.Adam`` over stacked parameters, each run with its own lr (its moments are per element, so per
    run already; the step count is shared: every run steps together)."""

    def __init__(self, params, lrs: Tensor):
        super().__init__(params, lr=math.nan)
        self.lrs = _per_run_lrs(self.params, lrs)

    def lr_of(self, i: int) -> Tensor:
        return self.lrs[i]


class StackedNormalisedSGD(NormalisedSGD):
    """``train.NormalisedSGD`` over stacked parameters: each run's step is lrs[s] * g[s] / ||g[s]||, the norm
    over all of run s's parameters (its own rows of every stacked tensor), never mixing runs."""

    def __init__(self, params, lrs: Tensor):
        super().__init__(params, lr=math.nan)
        self.lrs = _per_run_lrs(self.params, lrs)

    def lr_of(self, i: int) -> Tensor:
        return self.lrs[i]

    def sq_norm(self, grad: Tensor) -> Tensor:
        return grad.flatten(1).pow(2).sum(1)

    def per_run(self, p: Tensor, value: Tensor) -> Tensor:
        return value.reshape(-1, *[1] * (p.dim() - 1))


STACKED_OPTIMIZERS = {"sgd": StackedSGD, "adam": StackedAdam, "nsgd": StackedNormalisedSGD}


def make_stacked_optimizer(name: str, params, lrs: Tensor) -> SGD:
    """The optimiser ``name`` (TrainConfig.optimizer) over stacked parameters, run s at lr ``lrs[s]``."""
    if name not in STACKED_OPTIMIZERS:
        raise ConfigError(f"optimizer: expected one of {', '.join(STACKED_OPTIMIZERS)}, found {name!r}")
    return STACKED_OPTIMIZERS[name](params, lrs)


def make_packed_step(model: StackedMLP, optimizer: SGD, loss_fn, x_train: Tensor, y_train: Tensor,
                     sums: Tensor, batch_size: int, cuda_graph: bool, rows: Tensor | None = None):
    """Like train.make_step, for every run at once; ``idx`` is ``[S, B]``, ``sums`` ``[S, slots + layers]``.

    ``x_train``/``y_train`` hold one training split per row; run s reads row ``rows[s]`` (runs of one
    seed share a row; default: run s reads row s)."""
    per_seed_loss = torch.func.vmap(loss_fn)
    if rows is None:
        rows = torch.arange(x_train.shape[0])
    seeds = rows.to(x_train.device)[:, None]

    def sgd_step(idx: Tensor) -> None:
        xb, yb = x_train[seeds, idx], y_train[seeds, idx]
        logits = model(xb)
        logits.retain_grad()
        losses = per_seed_loss(logits, yb)
        losses.sum().backward()  # each seed's weights get the gradient of its own mean loss
        with torch.no_grad():
            nb = idx.shape[1]
            sums.add_(step_sums(loss=losses.detach() * nb, correct=(logits.argmax(2) == yb).sum(1).float(),
                                logit_grad_norm=logits.grad.norm(dim=2).sum(1) * nb,
                                layer_grad_norms=[w.grad.flatten(1).norm(dim=1) for w in model.weights], dim=1))
        optimizer.step()

    shape = (len(rows), batch_size)
    full_batch = torch.zeros(shape, dtype=torch.long, device=sums.device) if cuda_graph else None
    return as_step(sgd_step, model, optimizer, sums, full_batch)



@dataclass
class PackedData:
    """One copy of a packed job's data on the device (``packed_splits``): the distinct seeds' training and
    validation images stacked (``x_train`` ``[seeds, n, in]``, ``x_val`` ``[seeds, n_val, in]``), run s
    reading row ``rows[s]``; each run's split (views of those rows, the test set shared) and its
    batch-order generator."""

    generators: list[torch.Generator]
    splits: list[Split]
    x_train: Tensor
    y_train: Tensor
    rows: Tensor
    x_val: Tensor
    y_val: Tensor


def packed_splits(data: dict, configs: list[TrainConfig], device: torch.device) -> PackedData:
    """Each run's split and batch-order generator, drawn exactly as train() draws them, with one
    copy of the data on the device: runs of one seed share one split, the distinct seeds'
    training and validation images are stacked (each split's images a view of its seed's row; the
    seed's train+val tensor is not kept), and the test set, the same for all runs, is kept once."""
    seeds = list(dict.fromkeys(c.seed for c in configs))
    first = {}  # seed -> (its split, its generator's state right after the split was drawn)
    for row, seed in enumerate(seeds):
        c = next(c for c in configs if c.seed == seed)
        generator = torch.Generator().manual_seed(seed)
        split = make_split(data, c, generator, device)
        if row == 0:
            stacks = {name: getattr(split, name).new_empty((len(seeds), *getattr(split, name).shape))
                      for name in ("x_train", "y_train", "x_val", "y_val")}
            test = split.x_test, split.y_test
        for name, stack in stacks.items():
            stack[row] = getattr(split, name)
        first[seed] = (Split(*(stacks[name][row] for name in ("x_train", "y_train", "x_val", "y_val")), *test),
                       generator.get_state())
    generators = []
    for c in configs:  # each run its own generator, where its seed's was after drawing the split
        generators.append(torch.Generator())
        generators[-1].set_state(first[c.seed][1])
    splits = [first[c.seed][0] for c in configs]
    rows = torch.tensor([seeds.index(c.seed) for c in configs])
    return PackedData(generators, splits, stacks["x_train"], stacks["y_train"], rows, stacks["x_val"], stacks["y_val"])


EVAL_ELEMENTS = 2**27  # activations per chunk of runs evaluated at once (512 MiB of float32)


@torch.no_grad()
def evaluate_stacked(model: StackedMLP, x: Tensor, y: Tensor, rows: Tensor | None, runs: list[int],
                     predictions: bool = False) -> dict[int, tuple[dict, list | None]]:
    """``train.evaluate`` (and, with ``predictions``, ``runfolder.predict``) for the runs ``runs`` at once.

    ``x`` ``[seeds, n, in]`` with run s reading row ``rows[s]``, or ``[n, in]`` shared by all (``rows``
    None); ``y`` likewise. Runs go through in chunks whose widest activation stays within
    ``EVAL_ELEMENTS``, and everything comes to the host in one read per chunk."""
    n = x.shape[-2]
    widest = max(w.shape[2] for w in model.weights)
    chunk = max(1, EVAL_ELEMENTS // (n * widest))
    found: dict[int, tuple[dict, list | None]] = {}
    for start in range(0, len(runs), chunk):
        part = torch.tensor(runs[start : start + chunk])
        if rows is None:
            xb, yb = x.expand(len(part), *x.shape), y.expand(len(part), *y.shape)
        else:
            picked = rows[part].to(x.device)
            xb, yb = x[picked], y[picked]
        p = torch.softmax(model(xb, part.to(x.device)), dim=2)
        confidence, predicted = p.max(dim=2)
        wrong = predicted != yb
        stats = torch.stack([(~wrong).sum(1).double(), confidence.double().sum(1),
                             (wrong & (confidence > CONFIDENT)).sum(1).double()], 1)
        if predictions:
            p_true = p.gather(2, yb[..., None]).squeeze(2)
            per_image = torch.stack([yb.double(), predicted.double(), confidence.double(), p_true.double()], 2)
            stats, per_image = stats.cpu(), per_image.cpu()
        for i, s in enumerate(part.tolist()):
            correct, conf_sum, conf_wrong = stats[i].tolist()
            rows_s = None
            if predictions:
                rows_s = [(int(label), int(pred), conf, true) for label, pred, conf, true in per_image[i].tolist()]
            found[s] = ({"accuracy": correct / n, "mean_max_prob": conf_sum / n, "confident_wrong": conf_wrong / n},
                        rows_s)
    return found


WRITE_CHUNK = 64  # runs whose weights are on the host at once while their folders are written


def stage_all(stacked: StackedMLP, scratch: MLP, members: list[Member], results: list[dict], folder_of,
              staged: list) -> None:
    """Write every run's folder aside (``runfolder.stage_run``), in bulk: the weights of a chunk of runs
    come to the host in one copy per layer, and the runs' folders are written by a pool of threads (saving,
    hashing and file writes release the GIL). Each staged (temporary folder, run folder) is appended to
    ``staged`` as soon as it is written, so the caller can remove them all (and the parent folders it made)
    if any fails; ``results[s]``
    becomes run s's metrics as written. The first failure is raised once every write has ended."""
    keys = list(scratch.state_dict())  # net.0.weight, net.0.bias, net.2.weight, ...: layer by layer
    for member in members:  # parents made here, once: no thread removes a parent another is writing in
        folder_of(member.cfg).parent.mkdir(parents=True, exist_ok=True)
    workers = max(1, min(8, job_cores()))
    with ThreadPoolExecutor(workers) as pool:
        for start in range(0, len(members), WRITE_CHUNK):
            part = range(start, min(len(members), start + WRITE_CHUNK))
            weights = [w[part.start : part.stop].detach().cpu() for w in stacked.weights]
            biases = [b[part.start : part.stop].detach().cpu() for b in stacked.biases]

            def write(s: int, i: int, weights: list[Tensor], biases: list[Tensor]) -> tuple[Path, Path, dict]:
                member, state = members[s], {}
                for layer, (w, b) in enumerate(zip(weights, biases)):  # own storage each: torch.save saves it all
                    state[keys[2 * layer]] = w[i].t().clone(memory_format=torch.contiguous_format)
                    state[keys[2 * layer + 1]] = b[i].clone()
                folder = folder_of(member.cfg)
                tmp, written = stage_run(folder, scratch, results[s], member.history, member.split.x_test,
                                         member.split.y_test, member.predictions, state=state)
                return tmp, folder, written

            futures = {pool.submit(write, s, s - part.start, weights, biases): s for s in part}
            error = None
            for future in futures:  # every write ends before anything is raised: no folder left behind
                try:
                    tmp, folder, results[futures[future]] = future.result()
                    staged.append((tmp, folder))
                except BaseException as exc:  # noqa: BLE001 - re-raised below, after the others
                    error = error or exc
            if error is not None:
                raise error


def run_dir(out_dir: str | os.PathLike, cfg: TrainConfig, grid: bool) -> Path:
    """A packed run's folder: ``out_dir/seed-<s>``, or ``out_dir/lr-<lr>/seed-<s>`` in an lr grid."""
    return Path(out_dir) / (f"lr-{lr_text(cfg.lr)}" if grid else "") / f"seed-{cfg.seed}"


def grid_configs(cfg: TrainConfig, lrs: list[float], seeds: list[int]) -> list[TrainConfig]:
    """The runs of an lr x seed grid of one loss: ``cfg`` at each lr (variant ``<variant>_lr<lr>``) and seed."""
    return [replace(cfg, variant=lr_study_variant(cfg.variant, lr), lr=lr, seed=seed) for lr in lrs for seed in seeds]


def check_runs(configs: list[TrainConfig], out_dir: str | os.PathLike | None, by_lr: bool | None) -> bool:
    """Refuse, before any work, runs one packed job cannot train (see ``train_seeds``) and run folders that could
    not be written; return whether the run folders go by lr (``run_dir``'s ``grid``)."""
    seeds = [c.seed for c in configs]
    points = [(c.lr, c.seed) for c in configs]
    if not configs or len(set(points)) != len(points):
        repeated = sorted({p for p in points if points.count(p) > 1})
        raise ConfigError(f"--seeds: expected distinct seeds (per lr), at least one, found {seeds}"
                          + (f" (repeated lr, seed: {repeated})" if repeated else ""))
    if len({replace(c, seed=0, lr=1.0, variant="") for c in configs}) != 1:
        raise ValueError("train_seeds packs runs of one loss: the configs may differ only in seed, lr and variant")
    grid = len({c.lr for c in configs}) > 1 if by_lr is None else by_lr
    if len({(c.variant, c.seed) for c in configs}) != len(configs):
        raise ValueError("train_seeds: runs at different lrs need different variant names (grid_configs gives them)")
    if out_dir is not None:
        for c in configs:
            check_out_dir(run_dir(out_dir, c, grid))
    return grid


def train_runs(configs: list[TrainConfig], data: dict, out_dir: str | os.PathLike | None = None,
               data_checksums: dict | None = None, by_lr: bool | None = None, shape: str = "auto") -> list[dict]:
    """Train the runs of one packed job (``lossbench train-seeds``) in the shape ``shape``: ``STACKED``
    (``train_seeds``), ``SEQUENTIAL`` (``train_sequential``), or ``"auto"``: the shape
    ``config.pack_shape`` gives pack_seeds auto on the device the runs resolve to (stacked on CUDA,
    sequential elsewhere). Arguments and outputs as ``train_seeds``'s."""
    if shape == "auto":
        shape = pack_shape("auto", resolve_device(configs[0].device).type == "cuda") if configs else SEQUENTIAL
    if shape not in (STACKED, SEQUENTIAL):
        raise ValueError(f"shape: expected auto, {STACKED} or {SEQUENTIAL}, found {shape!r}")
    trainer = train_seeds if shape == STACKED else train_sequential
    return trainer(configs, data, out_dir=out_dir, data_checksums=data_checksums, by_lr=by_lr)


def train_sequential(configs: list[TrainConfig], data: dict, out_dir: str | os.PathLike | None = None,
                     data_checksums: dict | None = None, by_lr: bool | None = None,
                     history: bool = False) -> list[dict]:
    """Train the runs ``configs`` one after another in this process, each by ``train.train`` itself (the
    path of ``lossbench train``), so each run's metrics, history, model.pt and predictions.csv are bit for
    bit a single run's (on the same device and thread count); only the process start-up (imports, data
    loaded) is paid once. The runs, folders and arguments are ``train_seeds``'s, checked the same way before
    any training. Each run folder appears whole as its run ends (``runfolder.write_run``); a failed run stops
    the job, and the runs it finished stay, whole (Snakemake reruns the job: its ``packed.done`` is missing).
    A run's ``startup_seconds`` is the process's start-up for the first run, and for each later one the
    seconds from the previous run's end to its first step (its split drawn, its network built). Runs of one seed
    at other lrs share its split and its epoch-0 training statistics (``train``'s ``splits`` and ``initial_rows``):
    one ``make_split`` and one ``initial_row`` per seed.
    """
    grid = check_runs(configs, out_dir, by_lr)
    results, since = [], None  # None: the first run's start-up counts from the process's start
    initial_rows = {}  # epoch 0 of a seed's untrained network, computed once for all its lrs
    splits, uses = {}, Counter(split_key(cfg) for cfg in configs)  # a seed's split, drawn once for all its lrs
    for cfg in configs:
        folder = None if out_dir is None else run_dir(out_dir, cfg, grid)
        results.append(train(cfg, data, out_dir=folder, data_checksums=data_checksums, history=history,
                             startup_from=since, initial_rows=initial_rows, splits=splits))
        key = split_key(cfg)
        uses[key] -= 1
        if not uses[key]:  # no later run draws it: its tensors are freed
            splits.pop(key, None)
        since = time.time()
    return results


def train_seeds(configs: list[TrainConfig], data: dict, out_dir: str | os.PathLike | None = None,
                data_checksums: dict | None = None, by_lr: bool | None = None, history: bool = False) -> list[dict]:
    """Train the runs ``configs`` together; return each run's metrics.

    The runs are the seeds of one variant, or a grid of one loss over lrs and seeds: they may differ
    only in seed, lr and variant name, and no two in both lr and seed. Writes each run's folder
    (``run_dir``: ``out_dir/seed-<s>/``, or ``out_dir/lr-<lr>/seed-<s>/`` with ``by_lr``, by default when
    the lrs differ) if ``out_dir`` is given: every run's folder is written aside first and put in place only when all
    are, so a failure leaves none. ``history``: each run's metrics also hold its history rows (as train's).
    """
    seeds = [c.seed for c in configs]
    grid = check_runs(configs, out_dir, by_lr)
    cfg = configs[0]
    start_time, device = start_run(cfg)
    packed = packed_splits(data, configs, device)
    x_train, rows = packed.x_train, packed.rows
    members = [Member(c, split, g) for c, split, g in zip(configs, packed.splits, packed.generators)]
    models = []
    for c in configs:  # each run's initial weights, drawn as train() draws them
        torch.manual_seed(c.seed)
        models.append(MLP(x_train.shape[2], c.hidden, classes=c.classes).to(device))
    stacked = StackedMLP(models)
    scratch = models[0]  # one MLP to evaluate each run's weights with train()'s own code
    del models
    optimizer = make_stacked_optimizer(cfg.optimizer, list(stacked.parameters()), torch.tensor([c.lr for c in configs]))
    loss_fn = get_loss(cfg.loss)
    dev_name = device_name(device)
    what = f"{len(set(seeds))} seeds x {len({c.lr for c in configs})} lrs" if grid else f"{len(seeds)} seeds"
    log.info("variant %s, %s packed on %s: %s", cfg.variant, what, dev_name, json.dumps(asdict(cfg)))

    sums = torch.zeros(len(configs), len(STEP_SLOTS) + len(stacked.weights), device=device)
    step = make_packed_step(stacked, optimizer, loss_fn, x_train, packed.y_train, sums, cfg.batch_size,
                            cfg.cuda_graph and device.type == "cuda", rows=rows)
    startup_seconds = time.time() - provenance.process_start_time()
    test_set = packed.splits[0].x_test, packed.splits[0].y_test

    def evaluate_runs(alive: list[int], tested: list[int]) -> dict:
        found = evaluate_stacked(stacked, packed.x_val, packed.y_val, rows, alive)
        predicted = evaluate_stacked(stacked, *test_set, None, tested, predictions=True) if tested else {}
        return {s: (val, predicted[s][1] if s in predicted else None) for s, (val, _) in found.items()}

    run_epochs(members, step, sums, lambda s: stacked.load_seed(s, scratch), loss_fn, device, stacked=True,
               evaluate_runs=evaluate_runs)

    record = {**provenance.collect(dev_name, device), "data_sha256": data_checksums}
    results = [{**run_metrics(member, startup_seconds, start_time, record), "packed_seeds": len(configs)}
               for member in members]
    if out_dir is None:
        return [{**m, "history": member.history} for m, member in zip(results, members)] if history else results
    out_dir = Path(out_dir)
    created = [p for p in (out_dir, *out_dir.parents) if not p.exists()]  # removed again on failure
    created_lr = [d for d in dict.fromkeys(run_dir(out_dir, c, grid).parent for c in configs)
                  if d != out_dir and not d.exists()]
    staged = []  # (temporary folder, run folder): every run written aside, then all put in place
    try:
        stage_all(stacked, scratch, members, results, lambda c: run_dir(out_dir, c, grid), staged)
        for tmp, folder in staged:
            install_run(tmp, folder)
    except BaseException:
        for tmp, _ in staged:
            shutil.rmtree(tmp, ignore_errors=True)
        for folder in created_lr:
            remove_empty([folder])
        remove_empty(created)
        raise
    return [{**m, "history": member.history} for m, member in zip(results, members)] if history else results
