"""The report's scenarios: the gathered tables of small real trainings, for golden pages and analysis tests.

Each scenario trains a tiny network (784-32-16-10) on synthetic digits (tests/helpers.py) with
the real training code and gathers the runs with the real ``lossbench.tables`` code, so a page's
analysis and wording see exactly the tables a sweep would give them; only the fields that change
from one run of the tests to the next (timings, host, commit, paths) are set to fixed values, so
the pages' words are the same every time on the same torch (CPU runs are bit-identical).

Scenarios (``SCENARIOS``; ``scenario(name)`` trains one once per test session):

- ``default``: the default config's losses and variants, smaller (3 seeds).
- ``fast_user_loss``: a user's loss with 10x cross-entropy's gradient (``ten_x_ce``, declares nothing).
- ``slow_user_loss``: a user's slow loss that is not MSE on softmax (``tenth_ce``, 0.1x cross-entropy,
  declares nothing) as the why page's slow loss, beside a focal loss (``focal``, declares nothing).
- ``capped_user_loss``: a user's sum of squares on the logits (``sq_logits_sum``) that declares its
  softmax cap, and one that declares nothing (``sq_logits_plain``).
- ``nan_loss``: a loss that is NaN from the first step (``nan_from_start``) as the slow loss.
- ``one_seed``: the default losses, one seed.
- ``all_diverged``: every run diverges (lr 1e30).

The user losses are registered only while a scenario trains or a page reads them
(``user_losses()``), so the registry of the other tests stays the package's.
"""

from __future__ import annotations

import atexit
import contextlib
import math
import shutil
import tempfile
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path

import pandas as pd

from helpers import synthetic_data

SCENARIOS = ("default", "fast_user_loss", "slow_user_loss", "capped_user_loss", "nan_loss", "one_seed",
             "all_diverged")
CLASSES = 10

# Fields that differ between two runs of the same training: fixed so that the pages' words are stable.
FIXED = {"train_seconds": 1.5, "train_cpu_seconds": 1.4, "eval_seconds": 0.2, "startup_seconds": 2.0,
         "device_name": "cpu (2 cores, 1 threads)", "git_commit": "0" * 40, "host": "host", "pid": 1, "cpus": 2,
         "start_time": "2026-12-05T00:00:00+00:00", "end_time": "2026-12-05T00:00:02+00:00"}
FIXED_EPOCH = {"epoch_seconds": 0.5, "epoch_cpu_seconds": 0.45}


# --- a user's losses, as a user writes them ---------------------------------------------------------

def _ten_x_ce(logits, labels):
    import torch.nn.functional as F

    return 10 * F.cross_entropy(logits, labels)


def _tenth_ce(logits, labels):
    import torch.nn.functional as F

    return 0.1 * F.cross_entropy(logits, labels)


def _focal(logits, labels):
    import torch

    log_p = torch.log_softmax(logits, dim=1).gather(1, labels[:, None]).squeeze(1)
    return (-(1 - log_p.exp()) ** 2 * log_p).mean()


def _sq_logits_sum(logits, labels):
    from lossbench.losses import one_hot

    return ((logits - one_hot(labels, logits)) ** 2).sum(dim=1).mean()


def _nan_from_start(logits, labels):
    import torch.nn.functional as F

    return F.cross_entropy(logits, labels) * float("nan")


USER_LOSSES = {
    "ten_x_ce": (_ten_x_ce, {}),
    "tenth_ce": (_tenth_ce, {}),
    "focal": (_focal, {}),
    "sq_logits_sum": (_sq_logits_sum, {"head": "logits", "softmax_cap": lambda c: math.e / (math.e + c - 1)}),
    "sq_logits_plain": (_sq_logits_sum, {}),
    "nan_from_start": (_nan_from_start, {}),
}


@contextlib.contextmanager
def user_losses():
    """The user losses above registered for the duration of the block, then removed."""
    from lossbench.losses import LOSSES, register_loss

    added = [name for name in USER_LOSSES if name not in LOSSES]
    for name in added:
        fn, properties = USER_LOSSES[name]
        register_loss(name, **properties)(fn)
    try:
        yield
    finally:
        for name in added:
            LOSSES.pop(name, None)


# --- what a scenario is --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Scenario:
    """The gathered tables of one scenario and the page parameters a config would give."""

    name: str
    reference: str
    slow_loss: str
    metrics: dict  # table prefix ("", "horizon_", "lr_study_") -> the runs' metrics.json paths (folders kept)
    runs: pd.DataFrame
    epochs: pd.DataFrame
    summary: pd.DataFrame
    horizon_runs: pd.DataFrame
    horizon_epochs: pd.DataFrame
    lr_study_runs: pd.DataFrame
    lr_study_epochs: pd.DataFrame
    lr_study_summary: pd.DataFrame
    lr_study_reference: str = "cross_entropy"
    lr_study_threshold: float = 0.5
    plateau_window: int = 2
    plateau_gain: float = 0.01
    classes: int = CLASSES


@dataclass(frozen=True)
class Plan:
    """What a scenario trains: variants name -> (loss, lr), seeds, a horizon and an lr grid."""

    variants: dict
    seeds: tuple = (0, 1, 2)
    reference: str = "cross_entropy"
    slow_loss: str = "mse_softmax"
    epochs: int = 3
    horizon: tuple = ("mse_softmax", "cross_entropy_lr0p002")
    horizon_epochs: int = 6
    horizon_seeds: tuple = (0, 1)
    lr_losses: tuple = ("cross_entropy", "mse_softmax", "mse_logits")
    lrs: tuple = (0.03, 0.3, 3.0, 30.0)
    lr_seeds: tuple = (0, 1)
    lr_reference: str = "cross_entropy"
    extra: dict = field(default_factory=dict)


DEFAULT_VARIANTS = {
    "softmax_nll": ("softmax_nll", 0.1), "logsoftmax_nll": ("logsoftmax_nll", 0.1),
    "cross_entropy": ("cross_entropy", 0.1), "mse_softmax": ("mse_softmax", 0.1),
    "mse_softmax_lr5": ("mse_softmax", 5.0), "mse_logits": ("mse_logits", 0.1),
    "cross_entropy_lr0p002": ("cross_entropy", 0.002), "mse_logits_lr0p5": ("mse_logits", 0.5),
}
BASE = {"cross_entropy": ("cross_entropy", 0.1), "mse_softmax": ("mse_softmax", 0.1)}

PLANS = {
    "default": Plan(DEFAULT_VARIANTS),
    "fast_user_loss": Plan({**BASE, "ten_x_ce": ("ten_x_ce", 0.1)}, lr_losses=("cross_entropy", "ten_x_ce"),
                           horizon=("ten_x_ce",)),
    "slow_user_loss": Plan({**BASE, "tenth_ce": ("tenth_ce", 0.1), "focal": ("focal", 0.1)}, slow_loss="tenth_ce",
                           lr_losses=("cross_entropy", "tenth_ce", "focal"), horizon=("tenth_ce", "focal")),
    "capped_user_loss": Plan({**BASE, "sq_logits_sum": ("sq_logits_sum", 0.1),
                              "sq_logits_plain": ("sq_logits_plain", 0.1)}, slow_loss="sq_logits_sum",
                             lr_losses=("cross_entropy", "sq_logits_sum", "sq_logits_plain"),
                             horizon=("sq_logits_sum",)),
    "nan_loss": Plan({**BASE, "nan_from_start": ("nan_from_start", 0.1)}, slow_loss="nan_from_start",
                     lr_losses=("cross_entropy", "nan_from_start"), horizon=("nan_from_start", "cross_entropy")),
    "one_seed": Plan(DEFAULT_VARIANTS, seeds=(0,), horizon_seeds=(0,), lr_seeds=(0,)),
    "all_diverged": Plan({"cross_entropy": ("cross_entropy", 1e30), "mse_softmax": ("mse_softmax", 1e30)},
                         horizon=("mse_softmax", "cross_entropy"), lrs=(1e30, 1e31), lr_losses=("cross_entropy",
                                                                                                "mse_softmax")),
}


def _train(root: Path, name: str, loss: str, lr: float, seed: int, epochs: int) -> Path:
    from lossbench.config import TrainConfig
    from lossbench.train import train

    cfg = TrainConfig(variant=name, loss=loss, seed=seed, train_size=250, val_size=50, hidden=(32, 16), lr=lr,
                      batch_size=25, epochs=epochs, threads=1, test_every=epochs)
    out = root / name / f"seed-{seed}"
    train(cfg, _data(), out_dir=out)
    return out / "metrics.json"


@cache
def _data() -> dict:
    return synthetic_data()


def _gather(paths: list[Path]) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    from lossbench.tables import load_runs, summarize

    runs, epochs = load_runs(paths)
    runs = runs.assign(**{k: v for k, v in FIXED.items() if k in runs}, path="results/run")
    epochs = epochs.assign(**{k: v for k, v in FIXED_EPOCH.items() if k in epochs})
    return runs, epochs, summarize(runs)


def _lr_name(loss: str, lr: float) -> str:
    from lossbench.config import TrainConfig
    from lossbench.packed import grid_configs  # the study's own variant names

    return grid_configs(TrainConfig(variant=loss, loss=loss, seed=0), [lr], [0])[0].variant


@cache
def _session_folder() -> Path:
    folder = Path(tempfile.mkdtemp(prefix="lossbench-scenarios-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


@cache
def scenario(name: str) -> Scenario:
    """Train and gather scenario ``name`` (once per test session; its run folders kept until the session ends)."""
    import torch

    plan = PLANS[name]
    root = _session_folder() / name
    threads = torch.get_num_threads()
    with user_losses():
        try:
            sweep = [_train(root / "runs", v, loss, lr, s, plan.epochs)
                     for v, (loss, lr) in plan.variants.items() for s in plan.seeds]
            horizon = [_train(root / "horizon", v, *plan.variants[v], s, plan.horizon_epochs)
                       for v in plan.horizon for s in plan.horizon_seeds]
            study = [_train(root / "lr-study", _lr_name(loss, lr), loss, lr, s, plan.epochs)
                     for loss in plan.lr_losses for lr in plan.lrs for s in plan.lr_seeds]
        finally:
            torch.set_num_threads(threads)
        runs, epochs, summary = _gather(sweep)
        horizon_runs, horizon_epochs, _ = _gather(horizon)
        lr_runs, lr_epochs, lr_summary = _gather(study)
    return Scenario(name, plan.reference, plan.slow_loss, {"": sweep, "horizon_": horizon, "lr_study_": study},
                    runs, epochs, summary, horizon_runs, horizon_epochs, lr_runs, lr_epochs, lr_summary,
                    lr_study_reference=plan.lr_reference)


def gathered(s: Scenario, folder: Path) -> dict[str, str]:
    """The scenario's run folders gathered by ``lossbench.tables`` (as ``lossbench gather`` writes them,
    timings as measured) into ``folder``; returns e.g. ``{"runs_csv": path, "horizon_epochs_csv": path}``."""
    from lossbench.tables import write_tables

    out = {}
    for prefix, paths in s.metrics.items():
        with user_losses():
            write_tables(paths, folder, prefix=prefix)
        out |= {f"{prefix}{table}_csv": str(folder / f"{prefix}{table}.csv") for table in ("runs", "epochs", "summary")}
    return out


def with_reference(s: Scenario, reference: str) -> Scenario:
    return replace(s, reference=reference)
