"""The same-network gradient probe: ``lossbench probe --loss L --reference R --seed S --data D --out O``.

The first-order account (DESIGN.md, "Why MSE on softmax is slow") says: at uniform outputs the
slow loss's logit gradient is its declared scale (``Loss.predicted_scale``, 2/C^2 for MSE on
softmax) times the reference's, in the same direction, so the slow loss at lr tracks the reference
at lr x scale. The learning-rate study measures how far that holds over whole trajectories on two
*different* networks. This probe asks, on *one* network, which part of the account drifts first.

It trains one run of ``loss`` exactly as ``lossbench train`` would (the same split of the first C classes,
initial weights, batch order, optimiser and lr: train.py's ``make_split``, ``MLP``, ``make_optimizer`` and
``get_loss``), and every k
steps evaluates both losses on a fixed probe batch (the first ``probe_size`` training images) on
THE SAME NETWORK:

- ``norm_ratio``: mean per-sample logit-gradient norm of ``loss`` over ``scale`` x the reference's,
  ``scale`` the declared ``predicted_scale`` (NaN when either loss declares none: ``raw_norm_ratio``
  is then the measured quantity). 1 where the first-order theory holds. ``weight_norm_ratio``: the
  same for the probe batch's weight gradient (all parameters, one vector).
- ``logit_cosine``: mean over the probe samples of the cosine between the two losses' per-sample
  logit gradients; ``weight_cosine``: the cosine of the two probe-batch weight gradients.
- ``mean_max_prob`` / ``max_prob``: the mean and the largest softmax probability over the batch.
- The second-order term, per loss X in (loss, reference): one SGD step of X on the probe batch,
  d = -lr_X grad_w L_X (lr_X = the run's lr for ``loss``, lr x scale for the reference: the matched
  step), moves the logits by dz = z(w + d) - z(w). In logit space ``X_first`` = sum_i g_i . dz_i
  (the first-order change of the batch loss) and ``X_second`` = 1/2 sum_i dz_i^T H_i dz_i with H_i
  the per-sample logit Hessian of X (a Hessian-vector product, exact); ``X_second_ratio`` =
  second / first: how much the loss's own curvature changes that step's loss change (an SGD step whatever
  the run's optimiser: the matched step is SGD's). ``X_actual_ratio``
  = (L(w + d) - L(w)) / (grad_w L . d): the whole step's change over its first-order prediction in
  weight space (network and loss curvature together; 1 where first order is exact).

At exactly uniform outputs the per-sample logit Hessians are known in closed form
(``mse_softmax_uniform_hessian``, ``cross_entropy_uniform_hessian``; tests check them against
autograd): MSE on softmax (4/C^3) P - (2/C^2) P e_y e_y^T P, and (2/C^2) x cross-entropy
(2/C^3) P, P = I - 11^T/C. Only their average over classes agrees: along the true class MSE's
curvature is negative.

Writes ``probe.csv`` (``COLUMNS``, one row per probe point, step ascending) atomically: whole or
nothing. Imports only torch and the standard library, like ``train``.
"""

from __future__ import annotations

import csv
import json
import logging
import math
import os
import time

import torch
from torch import Tensor

from .atomic import atomic_path, sha256_file
from .config import ConfigError, TrainConfig
from .errors import LossbenchError
from .gathered import SINGLE_TABLES, manifest_path
from .losses import get_loss, loss_info
from .model import MLP
from .train import make_optimizer, make_split, start_run

log = logging.getLogger(__name__)

PROBE_SIZE = 100  # probe batch: the first 100 training images (~0.04 s a point on 1 CPU thread; docs/studies.md)
POINTS_PER_EPOCH = 10

COLUMNS = ["step", "epoch", "loss", "reference", "seed", "lr", "reference_lr", "classes", "probe_size",
           "predicted_scale", "mean_max_prob", "max_prob",
           "logit_norm", "reference_logit_norm", "raw_norm_ratio", "norm_ratio", "logit_cosine",
           "weight_norm", "reference_weight_norm", "weight_norm_ratio", "weight_cosine",
           "loss_first", "loss_second", "loss_second_ratio", "loss_actual_ratio",
           "reference_first", "reference_second", "reference_second_ratio", "reference_actual_ratio"]


# --- closed forms at uniform outputs ------------------------------------------------------------------

def centring(classes: int, dtype=torch.float64) -> Tensor:
    """P = I - 11^T/C, the projection onto logit changes that move the softmax."""
    return torch.eye(classes, dtype=dtype) - torch.full((classes, classes), 1 / classes, dtype=dtype)


def mse_softmax_uniform_hessian(classes: int, label: int, dtype=torch.float64) -> Tensor:
    """The per-sample logit Hessian of (1/C) ||softmax(z) - e_y||^2 at uniform outputs (z = c1):
    (4/C^3) P - (2/C^2) P e_y e_y^T P."""
    p = centring(classes, dtype)
    u = p[:, label : label + 1]  # P e_y
    return 4 / classes**3 * p - 2 / classes**2 * (u @ u.T)


def cross_entropy_uniform_hessian(classes: int, label: int = 0, dtype=torch.float64) -> Tensor:
    """The per-sample logit Hessian of cross-entropy at uniform outputs: diag(p) - pp^T = P/C (any label)."""
    return centring(classes, dtype) / classes


# --- one probe point ----------------------------------------------------------------------------------

def _per_sample_logit_grads(loss_fn, logits: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    """The batch loss (mean over samples, graph kept) and its per-sample logit gradients dl_i/dz_i ([N, C])."""
    z = logits.detach().requires_grad_(True)
    value = loss_fn(z, y)
    (g,) = torch.autograd.grad(value, z)
    return value.detach(), g * len(y)


def _second_order(loss_fn, z: Tensor, dz: Tensor, y: Tensor) -> tuple[float, float]:
    """(first, second): sum_i g_i . dz_i and 1/2 sum_i dz_i^T H_i dz_i of the batch-mean loss at logits z."""
    z = z.detach().requires_grad_(True)
    (g,) = torch.autograd.grad(loss_fn(z, y), z, create_graph=True)
    first = (g * dz).sum()
    (hvp,) = torch.autograd.grad(first, z)
    return float(first.detach()), float(0.5 * (hvp * dz).sum())


def _weight_grads(model: MLP, value: Tensor) -> list[Tensor]:
    return list(torch.autograd.grad(value, list(model.parameters()), retain_graph=True))


def _dot(a: list[Tensor], b: list[Tensor]) -> float:
    """The inner product of two parameter-shaped lists, as one flat vector's (float64 sum of float32 dots)."""
    return sum(float(torch.dot(u.reshape(-1), v.reshape(-1))) for u, v in zip(a, b))


@torch.no_grad()
def _logits_after(model: MLP, grads: list[Tensor], lr: float, x: Tensor) -> Tensor:
    """The logits at w - lr x grads; the weights restored bit for bit after (a copy, not w - s + s, which rounds)."""
    params = list(model.parameters())
    saved = [p.detach().clone() for p in params]
    for p, g in zip(params, grads):
        p.add_(g, alpha=-lr)
    try:
        return model(x)
    finally:
        for p, value in zip(params, saved):
            p.copy_(value)


def _cosine(a: Tensor, b: Tensor) -> Tensor:
    """Per row: the cosine of two [N, C] gradients (float64)."""
    return torch.nn.functional.cosine_similarity(a.double(), b.double(), dim=1, eps=1e-30)


def probe_point(model: MLP, x: Tensor, y: Tensor, loss_fn, reference_fn, lr: float, reference_lr: float,
                scale: float | None) -> dict[str, float]:
    """Both losses on the batch (x, y) at the model's current weights (the weights are left as they were).

    ``scale``: the slow loss's declared gradient scale against the reference (None: ``norm_ratio`` and
    ``weight_norm_ratio`` are NaN, ``raw_norm_ratio`` is the measurement)."""
    logits = model(x)
    row: dict[str, float] = {}
    with torch.no_grad():
        p = torch.softmax(logits.detach().double(), dim=1).max(dim=1).values
        row.update(mean_max_prob=float(p.mean()), max_prob=float(p.max()))
    values, grads_z, grads_w = {}, {}, {}
    for name, fn in (("loss", loss_fn), ("reference", reference_fn)):
        values[name], grads_z[name] = _per_sample_logit_grads(fn, logits, y)
        grads_w[name] = _weight_grads(model, fn(logits, y))
    norm, ref_norm = (float(grads_z[k].double().norm(dim=1).mean()) for k in ("loss", "reference"))
    squares = {k: _dot(grads_w[k], grads_w[k]) for k in ("loss", "reference")}
    w_norm, ref_w_norm = math.sqrt(squares["loss"]), math.sqrt(squares["reference"])
    raw = norm / ref_norm if ref_norm > 0 else math.nan
    row.update(logit_norm=norm, reference_logit_norm=ref_norm, raw_norm_ratio=raw,
               norm_ratio=raw / scale if scale else math.nan,
               logit_cosine=float(_cosine(grads_z["loss"], grads_z["reference"]).mean()),
               weight_norm=w_norm, reference_weight_norm=ref_w_norm,
               weight_norm_ratio=w_norm / (scale * ref_w_norm) if scale and ref_w_norm > 0 else math.nan,
               weight_cosine=_dot(grads_w["loss"], grads_w["reference"]) / (w_norm * ref_w_norm)
               if w_norm * ref_w_norm > 0 else math.nan)
    for name, fn, step_lr in (("loss", loss_fn, lr), ("reference", reference_fn, reference_lr)):
        after = _logits_after(model, grads_w[name], step_lr, x)
        first, second = _second_order(fn, logits, after - logits.detach(), y)
        predicted = -step_lr * squares[name]  # grad_w L . d with d = -lr grad_w L
        with torch.no_grad():  # the change in float64 from the float32 logits: no rounding of the loss sums
            actual = float(fn(after.double(), y)) - float(fn(logits.detach().double(), y))
        row.update({f"{name}_first": first, f"{name}_second": second,
                    f"{name}_second_ratio": second / first if first else math.nan,
                    f"{name}_actual_ratio": actual / predicted if predicted else math.nan})
    return row


# --- the run ------------------------------------------------------------------------------------------

def probe_steps(steps_per_epoch: int, epochs: int, points_per_epoch: int) -> list[int]:
    """The steps after which the probe reads the network (0 = before the first step), ascending:
    ``points_per_epoch`` evenly spaced per epoch (every ceil(steps/points) steps), and the last step."""
    every = max(1, math.ceil(steps_per_epoch / points_per_epoch))
    total = steps_per_epoch * epochs
    return sorted(set(range(0, total + 1, every)) | {total})


def matched_scale(loss: str, reference: str, classes: int) -> float | None:
    """The slow loss's declared gradient scale over the reference's, or None when either declares none."""
    mine, theirs = loss_info(loss).predicted_scale(classes), loss_info(reference).predicted_scale(classes)
    return mine / theirs if mine is not None and theirs and theirs > 0 else None


def run_probe(cfg: TrainConfig, data: dict, reference: str, points_per_epoch: int = POINTS_PER_EPOCH,
              probe_size: int = PROBE_SIZE, out: str | os.PathLike | None = None) -> list[dict]:
    """Train ``cfg`` as ``lossbench train`` does and probe it (see the module); write ``out`` if given.

    The reference's matched lr is ``cfg.lr`` x the declared scale, or x the measured norm ratio at step 0
    when either loss declares none. Returns the rows (``COLUMNS``)."""
    rows, _ = trained_probe(cfg, data, reference, points_per_epoch, probe_size)
    if out is not None:
        write_rows(out, rows)
    return rows


def trained_probe(cfg: TrainConfig, data: dict, reference: str, points_per_epoch: int = POINTS_PER_EPOCH,
                  probe_size: int = PROBE_SIZE) -> tuple[list[dict], MLP]:
    """``run_probe``'s rows and the trained network (tests compare it with ``train.train``'s)."""
    if probe_size < 1 or points_per_epoch < 1:
        raise ConfigError(f"probe: probe_size and points_per_epoch must be at least 1, found {probe_size}, "
                          f"{points_per_epoch}")
    _, device = start_run(cfg)
    torch.manual_seed(cfg.seed)
    generator = torch.Generator().manual_seed(cfg.seed)  # split and batch order: train.train's, in its order
    split = make_split(data, cfg, generator, device)
    classes = cfg.classes
    model = MLP(split.x_train.shape[1], cfg.hidden, classes=classes).to(device)
    optimizer = make_optimizer(cfg.optimizer, model.parameters(), cfg.lr)
    loss_fn, reference_fn = get_loss(cfg.loss), get_loss(reference)
    n = len(split.y_train)
    x_probe, y_probe = split.x_train[:probe_size], split.y_train[:probe_size]
    steps_per_epoch = math.ceil(n / cfg.batch_size)
    wanted = set(probe_steps(steps_per_epoch, cfg.epochs, points_per_epoch))
    scale = matched_scale(cfg.loss, reference, classes)
    common = dict(loss=cfg.loss, reference=reference, seed=cfg.seed, lr=cfg.lr, classes=classes,
                  probe_size=len(y_probe), predicted_scale=scale if scale is not None else math.nan)
    rows: list[dict] = []
    reference_lr = math.nan
    t0 = time.perf_counter()
    step = 0

    def read() -> bool:
        nonlocal reference_lr
        if math.isnan(reference_lr):  # the first point fixes the matched lr (declared, else measured)
            first = probe_point(model, x_probe, y_probe, loss_fn, reference_fn, cfg.lr, cfg.lr, scale)
            reference_lr = cfg.lr * (scale if scale is not None else first["raw_norm_ratio"])
        row = probe_point(model, x_probe, y_probe, loss_fn, reference_fn, cfg.lr, reference_lr, scale)
        rows.append({**common, "step": step, "epoch": step / steps_per_epoch, "reference_lr": reference_lr, **row})
        return all(math.isfinite(v) for v in (row["logit_norm"], row["reference_logit_norm"]))

    finite = read()
    for _epoch in range(cfg.epochs):
        if not finite:
            break
        order = torch.randperm(n, generator=generator).to(device)
        for start in range(0, n, cfg.batch_size):
            idx = order[start : start + cfg.batch_size]
            optimizer.zero_grad(set_to_none=True)
            loss_fn(model(split.x_train[idx]), split.y_train[idx]).backward()
            optimizer.step()
            step += 1
            if step in wanted:
                finite = read()
                if not finite:
                    log.warning("probe of %s seed %d: non-finite gradients at step %d; stopping", cfg.loss,
                                cfg.seed, step)
                    break
    log.info("probe of %s seed %d: %d points in %.1f s", cfg.loss, cfg.seed, len(rows), time.perf_counter() - t0)
    return rows, model


def write_rows(path: str | os.PathLike, rows: list[dict]) -> None:
    """probe.csv: ``COLUMNS`` in order, whole or not at all (``atomic.atomic_path``)."""
    with atomic_path(path) as tmp:
        with open(tmp, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=COLUMNS, lineterminator="\n")
            writer.writeheader()
            for row in rows:
                writer.writerow({k: (f"{v:.10g}" if isinstance(v, float) else v) for k, v in
                                 ((c, row[c]) for c in COLUMNS)})


TABLE = "probe.csv"  # the gathered table: every probed run's rows, in the order of the files given


class ProbeGatherError(LossbenchError):
    """A probe.csv that is not one ``lossbench probe`` writes (other columns), or none given."""


def gather(paths, out_dir: str | os.PathLike) -> None:
    """``lossbench gather-probe``: every probed run's probe.csv, one after another, as ``out_dir``/probe.csv, and
    gather's record of it (SHA-256, rows, columns) in ``probe_gathered.json`` (``lossbench.gathered``: a page reads
    it only through ``tables.read_gathered``). The table is written aside first, then the record, then the table
    put in place: a failure leaves the previous pair as it was."""
    if not paths:
        raise ProbeGatherError("gather-probe: no probe.csv given")
    rows = []
    for path in paths:
        with open(path, newline="") as fh:
            reader = csv.DictReader(fh)
            if reader.fieldnames != COLUMNS:
                raise ProbeGatherError(f"{path}: not a probe.csv of this lossbench (columns {reader.fieldnames}, "
                                       f"expected {COLUMNS}); rerun lossbench probe")
            rows += list(reader)
    out_dir = os.fspath(out_dir)
    table = os.path.join(out_dir, TABLE)
    with atomic_path(table) as tmp:
        with open(tmp, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=COLUMNS, lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
        record = {"written_by": "lossbench gather-probe",
                  "tables": {TABLE: {"sha256": sha256_file(tmp), "rows": len(rows), "columns": len(COLUMNS)}}}
        with atomic_path(manifest_path(out_dir, SINGLE_TABLES[TABLE])) as manifest:
            manifest.write_text(json.dumps(record, indent=1) + "\n")
