"""The number-of-classes study (config ``classes_study:``), read into records: numbers and decisions only.

The study trains each loss on the dataset's first C classes, for several C, over an lr grid per
(C, loss), for one epoch, over seeds. It tests the gradient-scale law: a loss whose initial logit
gradient is ``predicted_scale(C)`` times the reference's should reach the reference's accuracy at
an lr ``1 / predicted_scale(C)`` times larger (``C^2/2`` for MSE on softmax as ``nn.MSELoss``
averages it, ``C/2`` summed over the classes). ``analyse`` takes the study's tables and returns a
frozen ``Study``; the words are ``classes_words``, the figures ``classes_figures``; the "Number of
classes" page calls the three in turn. tests/test_classes.py checks the records on constructed tables.

Input: ``classes_study_runs.csv`` and ``classes_study_epochs.csv`` (``lossbench gather --prefix
classes_study_``); runs.csv carries each run's ``classes``. A run is keyed on (variant, seed,
config_hash): two values of C may share a variant name, never a config hash. What a loss is comes
from ``lossbench.losses``, every threshold from ``lossbench.decisions``. The rules:

- **Gradient ratio** at C, per seed: the run's ``initial_logit_grad_norm`` (the untrained network,
  the same at every lr: the mean over the lrs) over the reference's of the same seed and C.
  Predicted: the quotient of the two losses' declared scales (None: measured only).
- **Threshold lr** of (C, loss, seed): where the seed's validation accuracy after epoch 1 first
  reaches chance + threshold × (1 − chance), chance = 1/C, interpolated linearly in log lr between
  the grid's neighbouring points (``lrstudy.threshold_lr``; a run diverged by epoch 1 is skipped).
  Reached at the grid's smallest lr already: **below the grid**; reached by no lr while the accuracy still
  rises at the grid's largest: **above the grid**; reached by no lr while the accuracy peaks inside the grid
  below the level: **not reached** (no lr gives it within the budget: no threshold, not a bound).
  Neither is a point estimate, only a bound.
- **Threshold-lr ratio** of a loss at C, per seed: its threshold lr over the reference's, a number
  only where both lie inside their grids; a bound ("at least", "at most") where one is outside on
  the side that bounds it; else none. Predicted: 1 / predicted gradient ratio. A bound enters no fit.
- **The law at C**: each measured per-seed ratio within a factor ``decisions.LAW_TOLERANCE`` of the
  predicted one (either way): it holds for every seed, some, or none. A seed whose bound lies wholly
  beyond the band counts as outside it; one whose bound reaches into the band is not read.
- **Exponent** k of ratio ≈ a·C^k: least squares of log ratio on log C over every per-seed ratio
  (both inside the grid), its 95% t-interval (df = points − 2); the predicted exponent is the same
  fit of the predicted factors (exactly 2 for C^2/2). Fewer than two values of C: no fit.

Run the page by hand: ``lossbench report --notebook reports/notebooks/classes.py --out classes.html
--title "Number of classes" --parameters '{"classes_study_runs_csv": ..., "classes_study_epochs_csv": ...,
"reference_loss": ..., "slow_loss": ..., "threshold": ...}'``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats as sps

from . import decisions
from .decisions import LAW_TOLERANCE
from .lrstudy import theory_ratio, threshold_lr
from .tables import read_gathered

RUN_COLUMNS = ["variant", "loss", "seed", "config_hash", "classes", "lr", "status", "diverged_epoch", "epochs",
               "initial_logit_grad_norm", "val_accuracy", "test_accuracy"]
EPOCH_COLUMNS = ["variant", "loss", "seed", "config_hash", "epoch", "logit_grad_norm", "val_accuracy"]
KEY = ["variant", "seed", "config_hash"]
NAN = math.nan
# lrstudy.threshold_lr's kinds -> where the threshold lies relative to the grid ("not reached": "above" or
# "never", as the curve still rises at the grid's largest lr or peaks inside it: _not_reached)
PLACE = {"interpolated": "inside", "below": "below"}


# --- the records -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Threshold:
    """One seed's threshold lr of one loss at C. ``lr`` is NaN unless ``place`` is "inside";
    "below": the grid's smallest lr already reaches the level; "above": no lr of the grid does and the accuracy
    is highest at the grid's largest lr (a larger one may reach it); "never": no lr does and the accuracy
    peaks inside the grid, at ``peak`` (lr ``peak_lr``), below the level (a larger lr does worse)."""

    loss: str
    classes: int
    seed: int
    level: float  # the validation accuracy after epoch 1 that defines it: chance + threshold × (1 − chance)
    lr: float
    place: str  # "inside", "below", "above", "never"
    grid_low: float
    grid_high: float
    diverged: int  # runs of this seed diverged by epoch 1 (skipped)
    peak: float = NAN  # the highest validation accuracy after epoch 1 along the grid (NaN: every run diverged)
    peak_lr: float = NAN


@dataclass(frozen=True)
class Curve:
    """One seed's validation accuracy after epoch 1 along its loss's grid at C (NaN: diverged by epoch 1)."""

    loss: str
    classes: int
    seed: int
    lrs: tuple[float, ...]
    values: tuple[float, ...]


@dataclass(frozen=True)
class SeedRatio:
    """One seed's threshold-lr ratio (loss ÷ reference) at C: a number only where both thresholds lie
    inside their grids; else a bound ("at least"/"at most" ``bound_value``) or nothing. ``unreached``: the loss
    (of the two) whose accuracy reaches the level at no lr, peaking inside its grid below it, while the other's
    threshold is placed: no ratio exists, and the law, which says both reach it an lr factor apart, fails."""

    seed: int
    ratio: float = NAN
    bound: str = ""
    bound_value: float = NAN
    unreached: str = ""
    # within LAW_TOLERANCE of the predicted ratio; False too for a bound beyond the band (the seed's ratio lies
    # outside it, wherever in the bound); None: no ratio, a bound that reaches into the band, or no prediction
    within: bool | None = None


@dataclass(frozen=True)
class AtC:
    """One loss against the reference at one C."""

    loss: str
    classes: int
    chance: float
    level: float
    gradient: tuple[float, ...]  # initial logit-gradient ratio loss ÷ reference, per seed (seed order)
    gradient_mean: float
    gradient_predicted: float | None  # the declared scales' quotient; None: no theory
    grid: tuple[float, ...]  # the loss's lrs at C
    reference_grid: tuple[float, ...]
    seeds: tuple[SeedRatio, ...]
    predicted: float | None  # predicted threshold-lr ratio (1 / gradient_predicted); None: no theory
    reading: str  # "every", "some", "none" (seeds within tolerance); "" (no measured ratio, or no prediction)

    @property
    def measured(self) -> tuple[float, ...]:
        """The per-seed ratios that are numbers (both thresholds inside their grids)."""
        return tuple(s.ratio for s in self.seeds if not math.isnan(s.ratio))

    @property
    def mean(self) -> float:
        return float(np.mean(self.measured)) if self.measured else NAN

    @property
    def unread(self) -> tuple[int, ...]:
        """Seeds with a ratio neither measured nor decided by a bound (a bound reaching into the band, or none)."""
        return tuple(s.seed for s in self.seeds if s.within is None) if self.predicted is not None else ()

    @property
    def gradient_factor(self) -> float:
        """The mean measured initial gradient ratio over its declared value (NaN without a declaration)."""
        return NAN if self.gradient_predicted is None else self.gradient_mean / self.gradient_predicted

    @property
    def excess(self) -> tuple[float, ...]:
        """Measured ÷ predicted, per measured seed (empty without a prediction)."""
        return () if self.predicted is None else tuple(r / self.predicted for r in self.measured)


@dataclass(frozen=True)
class Fit:
    """log y = log a + k log C by least squares: k with its 95% t-interval (NaN with fewer than 3 points
    or no spread of C), over ``points`` values at the C values ``classes``."""

    exponent: float
    low: float
    high: float
    coefficient: float  # a
    points: int
    classes: tuple[int, ...]

    def contains(self, value: float) -> bool | None:
        """Whether the 95% interval contains ``value``; None without an interval."""
        if math.isnan(self.low):
            return None
        return self.low - decisions.EPS <= value <= self.high + decisions.EPS


@dataclass(frozen=True)
class Law:
    """One loss's threshold-lr ratio to the reference over C: the measured law and, where the loss
    declares a gradient scale, the predicted one and where it stops holding."""

    loss: str
    declared: bool  # both losses declare a gradient scale at every C: there is a prediction
    at: tuple[AtC, ...]  # C ascending
    fit: Fit | None  # of the measured per-seed ratios; None: fewer than two values of C measured
    predicted_fit: Fit | None  # of the predicted ratios at the same C values; None: no prediction
    gradient_fit: Fit | None  # of the measured initial gradient ratios (per seed) over every C

    @property
    def holds_up_to(self) -> int | None:
        """The largest C up to which every C with a reading holds for every seed; None when the smallest does not."""
        last = None
        for row in self.at:
            if not row.reading:
                continue
            if row.reading != "every":
                return last
            last = row.classes
        return last

    @property
    def stops_at(self) -> int | None:
        """The smallest C with a reading other than "every" (the law stops holding there); None: never."""
        return next((row.classes for row in self.at if row.reading and row.reading != "every"), None)

    @property
    def readings(self) -> tuple[str, ...]:
        return tuple(row.reading for row in self.at if row.reading)


@dataclass(frozen=True)
class Study:
    """Everything the page says, computed once from the two tables."""

    reference: str
    slow_loss: str
    threshold: float
    tolerance: float = LAW_TOLERANCE
    classes: tuple[int, ...] = ()
    losses: tuple[str, ...] = ()
    seeds: tuple[int, ...] = ()
    epochs: tuple[int, ...] = ()
    thresholds: tuple[Threshold, ...] = ()
    laws: tuple[Law, ...] = ()  # every loss but the reference, the slow loss first
    curves: tuple[Curve, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.thresholds

    def law(self, loss: str) -> Law | None:
        return next((law for law in self.laws if law.loss == loss), None)

    def thresholds_of(self, loss: str, classes: int) -> tuple[Threshold, ...]:
        return tuple(t for t in self.thresholds if t.loss == loss and t.classes == classes)


# --- tables ----------------------------------------------------------------------------------------

def load(runs_csv: str, epochs_csv: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The study's tables as gather wrote them (``tables.read_gathered``); two empty tables when it is off ("")."""
    if not runs_csv or not epochs_csv:
        return pd.DataFrame(columns=RUN_COLUMNS), pd.DataFrame(columns=EPOCH_COLUMNS)
    return read_gathered(runs_csv), read_gathered(epochs_csv)


def per_run(runs: pd.DataFrame, epochs: pd.DataFrame) -> pd.DataFrame:
    """One row per run: loss, classes, lr (its CSV noise removed), seed, diverged by epoch 1, validation
    accuracy after epoch 1 and the initial logit-gradient norm."""
    out = runs[[c for c in RUN_COLUMNS if c in runs]].copy()
    out["lr"] = out["lr"].map(lambda v: float(f"{float(v):.10g}"))
    out["classes"] = out["classes"].astype(int)
    diverged = out["status"] != "ok"
    out["diverged1"] = diverged & (pd.to_numeric(out["diverged_epoch"], errors="coerce") <= 1)
    first = epochs[epochs["epoch"] == 1].drop_duplicates(KEY).set_index(KEY)["val_accuracy"]
    out["val_epoch1"] = np.asarray(first.reindex(pd.MultiIndex.from_frame(out[KEY])), dtype=float)
    out["initial_grad"] = pd.to_numeric(out["initial_logit_grad_norm"], errors="coerce")
    return out.drop_duplicates(["loss", "classes", "lr", "seed"]).sort_values(["classes", "seed", "lr"],
                                                                            kind="stable")


def level(threshold: float, classes: int) -> float:
    """The validation accuracy a threshold names: a fraction ``threshold`` of the way from chance (1/C) to 1."""
    chance = 1 / classes
    return chance + threshold * (1 - chance)


def _not_reached(g: pd.DataFrame, values: pd.Series) -> str:
    """Where a level no lr of the grid reaches lies: "above" the grid while the accuracy (``values``, NaN where
    diverged) is highest at its largest lr (not diverged), else "never" (it peaks inside the grid; a larger lr
    does worse)."""
    top = g.loc[g["lr"].idxmax()]
    rising = not top["diverged1"] and values.notna().any() and top["val_epoch1"] >= values.max()
    return "above" if rising else "never"


def _thresholds(table: pd.DataFrame, threshold: float) -> tuple[Threshold, ...]:
    out = []
    for (loss, classes, seed), g in table.groupby(["loss", "classes", "seed"], sort=False):
        at = level(threshold, classes)
        values = g["val_epoch1"].where(~g["diverged1"])
        lr, kind = threshold_lr(g["lr"], values, at)
        place = PLACE.get(kind) or _not_reached(g, values)
        best = values.idxmax() if values.notna().any() else None
        out.append(Threshold(loss=loss, classes=int(classes), seed=int(seed), level=at,
                             lr=lr if place == "inside" else NAN, place=place, grid_low=float(g["lr"].min()),
                             grid_high=float(g["lr"].max()), diverged=int(g["diverged1"].sum()),
                             peak=NAN if best is None else float(values[best]),
                             peak_lr=NAN if best is None else float(g.loc[best, "lr"])))
    return tuple(out)


def _curves(table: pd.DataFrame) -> tuple[Curve, ...]:
    return tuple(Curve(loss=loss, classes=int(c), seed=int(seed), lrs=tuple(g["lr"]),
                       values=tuple(float(v) for v in g["val_epoch1"].where(~g["diverged1"])))
                 for (loss, c, seed), g in table.groupby(["loss", "classes", "seed"], sort=False))


def _seed_ratio(mine: Threshold | None, ref: Threshold | None, predicted: float | None) -> SeedRatio | None:
    """One seed's ratio, or the bound the grids give, or nothing (see ``SeedRatio``)."""
    if mine is None or ref is None:
        return None
    seed = mine.seed
    never = [t.loss for t in (mine, ref) if t.place == "never"]
    if len(never) == 1:  # one reaches the level at some lr (or beyond its grid), the other at none
        return SeedRatio(seed, unreached=never[0], within=None if predicted is None else False)
    if never:
        return SeedRatio(seed)
    if mine.place == "inside" and ref.place == "inside":
        ratio = mine.lr / ref.lr
        within = None if predicted is None else abs(math.log(ratio / predicted)) <= math.log(LAW_TOLERANCE) + 1e-12
        return SeedRatio(seed, ratio=ratio, within=within)
    # a threshold outside its grid bounds the ratio on one side only: below = at most its smallest lr,
    # above = more than its largest. A bound beyond the tolerance band decides the seed all the same.
    mine_at_most = {"inside": mine.lr, "below": mine.grid_low}.get(mine.place)
    mine_at_least = {"inside": mine.lr, "above": mine.grid_high}.get(mine.place)
    ref_at_most = {"inside": ref.lr, "below": ref.grid_low}.get(ref.place)
    ref_at_least = {"inside": ref.lr, "above": ref.grid_high}.get(ref.place)
    if mine_at_least is not None and ref_at_most is not None:
        value = mine_at_least / ref_at_most
        outside = predicted is not None and value > predicted * LAW_TOLERANCE * (1 + 1e-12)
        return SeedRatio(seed, bound="at least", bound_value=value, within=False if outside else None)
    if mine_at_most is not None and ref_at_least is not None:
        value = mine_at_most / ref_at_least
        outside = predicted is not None and value < predicted / LAW_TOLERANCE * (1 - 1e-12)
        return SeedRatio(seed, bound="at most", bound_value=value, within=False if outside else None)
    return SeedRatio(seed)


def _reading(ratios: tuple[SeedRatio, ...]) -> str:
    within = [r.within for r in ratios if r.within is not None]
    if not within:
        return ""
    return "every" if all(within) else "some" if any(within) else "none"


def fit(classes, values) -> Fit | None:
    """``Fit`` of values ≈ a·C^k over (C, value) pairs with a positive value; None with fewer than two values of C."""
    pairs = [(c, v) for c, v in zip(classes, values) if v is not None and not math.isnan(v) and v > 0]
    distinct = tuple(sorted({int(c) for c, _ in pairs}))
    if len(distinct) < 2:
        return None
    x = np.log([c for c, _ in pairs])
    y = np.log([v for _, v in pairs])
    result = sps.linregress(x, y)
    low = high = NAN
    if len(pairs) > 2:
        half = sps.t.ppf(0.975, len(pairs) - 2) * result.stderr
        low, high = result.slope - half, result.slope + half
    return Fit(exponent=float(result.slope), low=float(low), high=float(high),
               coefficient=float(math.exp(result.intercept)), points=len(pairs), classes=distinct)


def _law(loss: str, reference: str, table: pd.DataFrame, found: dict, threshold: float) -> Law:
    rows, gradients = [], []
    for classes in sorted(table["classes"].unique()):
        classes = int(classes)
        here = table[table["classes"] == classes]
        mine, ref = here[here["loss"] == loss], here[here["loss"] == reference]
        if mine.empty or ref.empty:
            continue
        theory = theory_ratio(loss, reference, classes)  # reference's scale ÷ the loss's: the lr factor
        norms = pd.concat([mine.groupby("seed")["initial_grad"].mean(), ref.groupby("seed")["initial_grad"].mean()],
                          axis=1, keys=["mine", "ref"], join="inner").dropna()
        ratio = norms["mine"] / norms["ref"]
        gradients += [(classes, float(v)) for v in ratio]
        seeds = sorted(set(mine["seed"]) & set(ref["seed"]))
        ratios = tuple(r for r in (_seed_ratio(found.get((loss, classes, s)), found.get((reference, classes, s)),
                                               theory) for s in seeds) if r is not None)
        rows.append(AtC(loss=loss, classes=classes, chance=1 / classes, level=level(threshold, classes),
                        gradient=tuple(float(v) for v in ratio), gradient_mean=float(ratio.mean()) if len(ratio)
                        else NAN, gradient_predicted=None if theory is None else 1 / theory,
                        grid=tuple(sorted(mine["lr"].unique())), reference_grid=tuple(sorted(ref["lr"].unique())),
                        seeds=ratios, predicted=theory, reading=_reading(ratios)))
    measured = [(row.classes, r) for row in rows for r in row.measured]
    declared = bool(rows) and all(row.predicted is not None for row in rows)
    predicted_fit = fit([row.classes for row in rows], [row.predicted for row in rows]) if declared else None
    return Law(loss=loss, declared=declared, at=tuple(rows), fit=fit(*zip(*measured)) if measured else None,
               predicted_fit=predicted_fit, gradient_fit=fit(*zip(*gradients)) if gradients else None)


def analyse(runs: pd.DataFrame, epochs: pd.DataFrame, reference: str, slow_loss: str, threshold: float) -> Study:
    """The study read from its tables (``load``); the three settings are the page's parameters (config)."""
    common = dict(reference=reference, slow_loss=slow_loss, threshold=threshold)
    if runs.empty:
        return Study(**common)
    table = per_run(runs, epochs)
    thresholds = _thresholds(table, threshold)
    found = {(t.loss, t.classes, t.seed): t for t in thresholds}
    losses = tuple(dict.fromkeys(table["loss"]))
    others = sorted((loss for loss in losses if loss != reference), key=lambda loss: loss != slow_loss)
    laws = tuple(_law(loss, reference, table, found, threshold) for loss in others) if reference in losses else ()
    return Study(**common, classes=tuple(int(c) for c in sorted(table["classes"].unique())), losses=losses,
                 seeds=tuple(int(s) for s in sorted(table["seed"].unique())),
                 epochs=tuple(int(e) for e in sorted(pd.to_numeric(runs["epochs"]).unique())),
                 thresholds=thresholds, laws=laws, curves=_curves(table))


def record(runs_csv: str, epochs_csv: str, reference: str, slow_loss: str, threshold: float) -> Study:
    """``analyse`` of the tables at these paths ("" paths: the study is off, an empty Study)."""
    return analyse(*load(runs_csv, epochs_csv), reference, slow_loss, threshold)
