"""Train many seeds of one variant together: ``lossbench train-seeds --seeds 0 1 2 ... --out-dir DIR``.

One process, one device, every seed's network stacked along a leading seed axis: each layer
is a batched matrix product (``baddbmm``) over the seeds, the loss is ``torch.func.vmap``-ed
over them, and one SGD step updates all of them; on CUDA that whole step is one captured
graph. The seeds stay independent: the gradient of the sum of per-seed mean losses with
respect to a seed's weights is that seed's own gradient.

Each seed starts exactly where ``lossbench train --seed s`` starts (same split, initial
weights and batch order, drawn from the same generators in the same order), and its epoch-0
row, evaluation and outputs go through the same code (``train.run_epochs``, ``runfolder``).
Only the arithmetic of the stacked products may round differently, so a packed run equals
the single run up to float noise, not bit for bit. Outputs per seed are those of a single run (``DIR/seed-<s>/``), plus
``packed_seeds`` in metrics.json; a seed's ``epoch_seconds`` is its share of the packed
epoch (epoch time / number of seeds).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from dataclasses import asdict, replace
from pathlib import Path

import torch
from torch import Tensor, nn

from . import provenance
from .config import ConfigError, TrainConfig
from .devices import device_name
from .losses import get_loss
from .model import MLP
from .runfolder import check_out_dir, install_run, remove_empty, stage_run
from .train import SGD, STEP_SLOTS, Member, as_step, make_split, run_epochs, run_metrics, start_run, step_sums

log = logging.getLogger(__name__)


class StackedMLP(nn.Module):
    """The MLPs of several seeds as one module: weights ``[S, out, in]``, biases ``[S, out]``."""

    def __init__(self, models: list[MLP]):
        super().__init__()
        layers = [m.linears for m in models]
        self.weights = nn.ParameterList(
            nn.Parameter(torch.stack([ls[i].weight.detach() for ls in layers])) for i in range(len(layers[0])))
        self.biases = nn.ParameterList(
            nn.Parameter(torch.stack([ls[i].bias.detach() for ls in layers])) for i in range(len(layers[0])))

    def forward(self, x: Tensor) -> Tensor:
        """``x`` ``[S, B, in]`` -> logits ``[S, B, classes]``."""
        last = len(self.weights) - 1
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            x = torch.baddbmm(b.unsqueeze(1), x, w.transpose(1, 2))
            if i < last:
                x = torch.relu(x)
        return x

    @torch.no_grad()
    def load_seed(self, s: int, model: MLP) -> MLP:
        """Copy seed ``s``'s weights into ``model`` (an MLP of the same shape) and return it."""
        for layer, w, b in zip(model.linears, self.weights, self.biases):
            layer.weight.copy_(w[s])
            layer.bias.copy_(b[s])
        return model


def make_packed_step(model: StackedMLP, optimizer: SGD, loss_fn, x_train: Tensor, y_train: Tensor, sums: Tensor,
                     batch_size: int, cuda_graph: bool):
    """Like train.make_step, for every seed at once; ``idx`` is ``[S, B]``, ``sums`` ``[S, slots + layers]``."""
    per_seed_loss = torch.func.vmap(loss_fn)
    seeds = torch.arange(x_train.shape[0], device=x_train.device)[:, None]

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

    shape = (x_train.shape[0], batch_size)
    full_batch = torch.zeros(shape, dtype=torch.long, device=sums.device) if cuda_graph else None
    return as_step(sgd_step, model, optimizer, sums, full_batch)



def packed_splits(data: dict, configs: list[TrainConfig], device: torch.device):
    """Each seed's split and batch-order generator, drawn exactly as train() draws them, with one
    copy of the data on the device: every split's training images are a view of the stacked
    ``x_train`` ``[S, n, in]`` the packed step reads, the validation images are copied out of
    the seed's train+val tensor (a view would keep all of it alive), and the test set, the same
    for all seeds, is kept once. Returns (generators, splits, x_train, y_train)."""
    generators, splits = [], []
    for s, c in enumerate(configs):
        generators.append(torch.Generator().manual_seed(c.seed))
        split = make_split(data, c, generators[-1], device)
        if s == 0:
            x_train = split.x_train.new_empty((len(configs), *split.x_train.shape))
            y_train = split.y_train.new_empty((len(configs), *split.y_train.shape))
            test = split.x_test, split.y_test
        x_train[s], y_train[s] = split.x_train, split.y_train
        splits.append(replace(split, x_train=x_train[s], y_train=y_train[s], x_val=split.x_val.clone(),
                              y_val=split.y_val.clone(), x_test=test[0], y_test=test[1]))
    return generators, splits, x_train, y_train


def train_seeds(configs: list[TrainConfig], data: dict, out_dir: str | os.PathLike | None = None,
                data_checksums: dict | None = None) -> list[dict]:
    """Train the runs ``configs`` (one variant, distinct seeds) together; return each run's metrics.

    Writes each run's folder ``out_dir/seed-<s>/`` if ``out_dir`` is given: every seed's folder
    is written aside first and put in place only when all are, so a failure leaves none.
    """
    seeds = [c.seed for c in configs]
    if not configs or len(set(seeds)) != len(seeds):
        raise ConfigError(f"--seeds: expected distinct seeds, at least one, found {seeds}")
    if len({replace(c, seed=0) for c in configs}) != 1:
        raise ValueError("train_seeds packs the seeds of one variant: the configs may differ only in their seed")
    if out_dir is not None:
        for c in configs:
            check_out_dir(Path(out_dir) / f"seed-{c.seed}")
    cfg = configs[0]
    start_time, device = start_run(cfg)
    generators, splits, x_train, y_train = packed_splits(data, configs, device)
    members = [Member(c, split, g) for c, split, g in zip(configs, splits, generators)]
    models = []
    for c in configs:  # each seed's initial weights, drawn as train() draws them
        torch.manual_seed(c.seed)
        models.append(MLP(x_train.shape[2], c.hidden, classes=10).to(device))
    stacked = StackedMLP(models)
    scratch = models[0]  # one MLP to evaluate each seed's weights with train()'s own code
    del models
    optimizer = SGD(stacked.parameters(), lr=cfg.lr)
    loss_fn = get_loss(cfg.loss)
    dev_name = device_name(device)
    log.info("variant %s, %d seeds packed on %s: %s", cfg.variant, len(seeds), dev_name, json.dumps(asdict(cfg)))

    sums = torch.zeros(len(seeds), len(STEP_SLOTS) + len(stacked.weights), device=device)
    step = make_packed_step(stacked, optimizer, loss_fn, x_train, y_train, sums, cfg.batch_size,
                            cfg.cuda_graph and device.type == "cuda")
    startup_seconds = time.time() - provenance.process_start_time()
    run_epochs(members, step, sums, lambda s: stacked.load_seed(s, scratch), loss_fn, device)

    record = {**provenance.collect(dev_name), "data_sha256": data_checksums}
    results = [{**run_metrics(member, startup_seconds, start_time, record), "packed_seeds": len(seeds)}
               for member in members]
    if out_dir is None:
        return results
    out_dir = Path(out_dir)
    created = [p for p in (out_dir, *out_dir.parents) if not p.exists()]  # removed again on failure
    staged = []  # (temporary folder, run folder): every seed written aside, then all put in place
    try:
        for s, member in enumerate(members):
            folder = out_dir / f"seed-{member.cfg.seed}"
            tmp, results[s] = stage_run(folder, stacked.load_seed(s, scratch), results[s], member.history,
                                        member.split.x_test, member.split.y_test)
            staged.append((tmp, folder))
        for tmp, folder in staged:
            install_run(tmp, folder)
    except BaseException:
        for tmp, _ in staged:
            shutil.rmtree(tmp, ignore_errors=True)
        remove_empty(created)
        raise
    return results
