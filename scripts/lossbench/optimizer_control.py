"""The optimiser control (config ``optimizer_study:``), read into one record: numbers and decisions only.

A scale-free optimiser (Adam; normalised SGD) takes steps whose size does not follow the gradient's
scale. If the slow loss is slow under SGD only because its gradient is small, each loss at its own
tuned lr under such an optimiser should reach the reference's accuracy: the gap closes. If the gap
stays, the scale does not explain it. ``analyse`` reads the study's runs (each loss over an lr grid
under one optimiser, over seeds) and the sweep's runs (the same losses under SGD at one shared lr)
and returns a frozen ``Control``; ``optimizer_control_words`` words it for the *why* page.

Everything that selects and compares is ``lrstudy``'s and ``decisions``' own, not a copy: the study
is read by ``lrstudy.analyse`` (each loss's selected lr: the highest mean validation accuracy, test
accuracy read there; the slow loss at its lr against the reference at its lr, paired by seed, read
by ``decisions.difference``). The sweep's gap: the slow loss's variant at the shared settings against
the reference variant (``stats.compare_pair``, ``decisions.difference``). The reading:

- **closes**: the tuned difference under the optimiser is negligible (or identical): the gradient
  scale explains the gap.
- **smaller**: not negligible, but its 95% interval lies wholly above the sweep's difference: the scale
  explains all but what the interval still allows (its lower end, if below 0).
- **stays**: the interval reaches the sweep's difference: the scale does not explain the gap.
- **no gap**: the sweep's own difference is negligible: there is no gap to explain.
- "": a side is missing, diverged or untested (one seed): nothing to read.

Input: ``optimizer_study_runs.csv`` (``lossbench gather --prefix optimizer_study_``) and the sweep's
``runs.csv``. tests/test_optimizer_control.py checks the record on constructed tables.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from . import decisions, lrstudy, stats
from .horizon import loss_of
from .tables import read_gathered

NAN = math.nan


@dataclass(frozen=True)
class SweepGap:
    """The slow loss against the reference in the sweep, at the shared settings (one lr for both)."""

    optimizer: str
    lr: float
    epochs: int
    variant: str
    reference_variant: str
    mean: float
    reference_mean: float
    verdict: decisions.Difference


@dataclass(frozen=True)
class Control:
    """The slow loss at its tuned lr against the reference at its own under ``optimizer``, beside the sweep's gap."""

    optimizer: str
    reference: str  # a loss
    slow_loss: str
    epochs: tuple[int, ...]
    seeds: tuple[int, ...]  # seed counts of the study's points
    slow: lrstudy.Selected | None
    reference_selected: lrstudy.Selected | None
    tuned: lrstudy.Comparison | None
    sweep: SweepGap | None
    reading: str  # "closes", "smaller", "stays", "no gap", ""

    @property
    def can_rank(self) -> bool:
        return bool(self.seeds) and decisions.can_rank(min(self.seeds))


def load(runs_csv: str) -> pd.DataFrame:
    """The study's runs as gather wrote them; an empty table when the study is off ("")."""
    return read_gathered(runs_csv) if runs_csv else pd.DataFrame(columns=lrstudy.RUN_COLUMNS)


def _optimizer(runs: pd.DataFrame, default: str) -> str:
    """The optimiser a table's runs record (its ``optimizer`` column), or ``default`` for a table without one."""
    if "optimizer" not in runs or runs["optimizer"].dropna().empty:
        return default
    return ", ".join(str(v) for v in dict.fromkeys(runs["optimizer"].dropna()))


def sweep_gap(runs: pd.DataFrame, reference: str, slow_loss: str) -> SweepGap | None:
    """The slow loss's variant at the shared settings against the reference variant (test accuracy, paired by
    seed); None when the sweep has no such variant or the two do not share an lr."""
    if reference not in set(runs["variant"]):
        return None
    variant = stats.shared_variant(runs, slow_loss, reference)
    if variant is None or variant == reference:
        return None
    lrs = runs.drop_duplicates("variant").set_index("variant")["lr"]
    if not math.isclose(float(lrs[variant]), float(lrs[reference]), rel_tol=1e-9):
        return None
    r = stats.compare_pair(runs, variant, reference)
    diverged = bool((runs[runs["variant"].isin([variant, reference])]["status"] != "ok").any())
    seeds = r["n_paired"] if r["n_paired"] >= 2 else min(r["n"], int((runs["variant"] == reference).sum()))
    verdict = decisions.difference(r["difference"], r["difference_ci95_low"], r["difference_ci95_high"], r["p"],
                                   seeds, identical=bool(r["identical"]), diverged=diverged)
    return SweepGap(optimizer=_optimizer(runs[runs["variant"].isin([variant, reference])], "sgd"),
                    lr=float(lrs[reference]), epochs=int(runs.loc[runs["variant"] == reference, "epochs"].max()),
                    variant=variant, reference_variant=reference, mean=r["mean"],
                    reference_mean=r["reference_mean"], verdict=verdict)


def _reading(tuned: lrstudy.Comparison | None, sweep: SweepGap | None) -> str:
    if tuned is None or sweep is None:
        return ""
    if decisions.DIVERGED in (tuned.verdict.kind, sweep.verdict.kind) or tuned.verdict.kind == decisions.UNTESTED:
        return ""
    if sweep.verdict.kind in (decisions.NEGLIGIBLE_KIND, decisions.IDENTICAL):
        return "no gap"
    if tuned.verdict.kind in (decisions.NEGLIGIBLE_KIND, decisions.IDENTICAL):
        return "closes"
    v, gap = tuned.verdict, sweep.verdict.difference
    # the whole interval on the far side of the sweep's difference from 0: the gap is smaller under the optimiser
    smaller = v.low > gap if gap < 0 else v.high < gap
    return "smaller" if smaller else "stays"


def analyse(study_runs: pd.DataFrame, sweep_runs: pd.DataFrame, reference: str, slow_loss: str,
            classes: int = stats.CLASSES, optimizer: str = "") -> Control | None:
    """The control read from the study's runs and the sweep's; ``reference`` is the sweep's reference variant
    (its loss is the study's reference loss). None when the study is off (no runs)."""
    if study_runs.empty:
        return None
    reference_loss = loss_of(sweep_runs, reference)
    epochs = pd.DataFrame(columns=lrstudy.EPOCH_COLUMNS)  # selection and comparison read the runs table only
    study = lrstudy.analyse(study_runs, epochs, reference_loss, slow_loss, threshold=1.0, classes=classes)
    tuned = study.of(slow_loss, "comparisons")
    sweep = sweep_gap(sweep_runs, reference, slow_loss)
    return Control(optimizer=_optimizer(study_runs, optimizer or "?"), reference=reference_loss, slow_loss=slow_loss,
                   epochs=study.epochs, seeds=study.seeds, slow=study.of(slow_loss),
                   reference_selected=study.of(reference_loss), tuned=tuned, sweep=sweep,
                   reading=_reading(tuned, sweep))


def record(study_runs_csv: str, sweep_runs: pd.DataFrame, reference: str, slow_loss: str,
           classes: int = stats.CLASSES) -> Control | None:
    """``analyse`` of the study's table at this path ("" : the study is off, None)."""
    return analyse(load(study_runs_csv), sweep_runs, reference, slow_loss, classes)
