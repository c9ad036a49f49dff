"""The learning-rate study (config ``lr_study:``), read into records: numbers and decisions only.

Each loss over a grid of learning rates: the lr its grid selects, each loss at its selected lr
against the reference at its own, and the gradient-scale prediction tested over the whole lr
range. ``analyse`` takes the study's tables and returns a frozen ``Study``; the words are
``lrstudy_words`` (records -> markdown), the figures ``lrstudy_figures`` (records -> matplotlib).
The "Learning rate" page calls the three in turn; the *why* page calls ``why_record`` and
``lrstudy_words.why_note``. tests/test_lrstudy.py checks the records on constructed tables.

Input: ``lr_study_runs.csv`` and ``lr_study_epochs.csv`` (``lossbench gather --prefix lr_study_``).
Everything is keyed on (loss, lr), never on the variant name: a study point the sweep already
trained carries the sweep's name. What a loss is (its declared gradient scale, a cap on its
outputs, which losses are the same function) comes from ``lossbench.losses``; every threshold
from ``lossbench.decisions``. The rules:

- A **point** is one (loss, lr) over its seeds. A point with any diverged seed is **diverged**: its
  final accuracies are what a non-finite network predicts, so it is never selected. After epoch 1
  a point is diverged only if a seed had diverged by then.
- **Selected lr** of a loss: the highest mean *validation* accuracy at the final epoch among the
  points that did not diverge (ties: the smaller lr); test accuracy is read there, never used to
  choose. It is the grid's highest mean, not a tested optimum. One at the smallest or largest lr of
  the grid is not an optimum (the grid is too narrow on that side); one below
  ``decisions.NEAR_CHANCE`` times chance means no lr of the grid trains the loss.
- **Gradient scale** of a loss: the mean initial logit-gradient norm ‖∂ℓ/∂z‖ of its runs (their
  epoch-0 rows: the untrained networks, the same for every lr) over the reference loss's: measured.
  **Effective lr** = lr × scale. The lr ratio it predicts is the inverse: 1/scale. The **theory**
  ratio is the quotient of the two losses' declared scales (``Loss.predicted_scale``), absent
  when either declares none: then the ratio is measured only.
- **Threshold lr**: the lr at which the mean validation accuracy after epoch 1 first reaches the
  page's threshold, interpolated linearly in log lr between the last grid point below it and the
  first at or above it; "below" when the smallest lr already reaches it; "not reached".
- **Collapse**: on the rising side of the reference's curve (its smallest lr to its peak), each
  other loss's accuracy at its effective lrs minus the reference's curve interpolated there (log
  lr); collapsed when every gap is within ``decisions.COLLAPSE``.
- **Saturation**: a seed of a point at or above the selected lr (a point that did not diverge) with
  more than ``decisions.SATURATED`` of the validation images confidently wrong (max p > 0.9) after
  the final epoch. Not read for a loss that declares a cap on its outputs at or below 0.9.
- **Tuned comparison**: each loss at its selected lr against the reference at its selected lr,
  test accuracy paired by seed, Holm-adjusted across the losses, read by ``decisions.difference``.

Run the page by hand: ``lossbench report --notebook reports/notebooks/learning_rate.py --out
learning-rate.html --title "Learning rate" --parameters '{"lr_study_runs_csv": ..., "lr_study_epochs_csv": ...,
"reference_loss": ..., "slow_loss": ..., "threshold": ..., "classes": ...}'``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from . import decisions, stats
from .decisions import VANISHED, WHOLE_SHIFT
from .losses import loss_info, same_function
from .tables import read_gathered

RUN_COLUMNS = ["variant", "loss", "seed", "lr", "status", "diverged_epoch", "epochs", "epochs_run", "val_accuracy",
               "test_accuracy"]
EPOCH_COLUMNS = ["variant", "loss", "seed", "epoch", "logit_grad_norm", "val_accuracy", "val_confident_wrong",
                 "val_mean_max_prob"]
NAN = math.nan


# --- the records -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Spread:
    """Values over seeds (seed order) and their mean, sd and 95% t-interval (NaN where undefined)."""

    values: tuple[float, ...] = ()
    mean: float = NAN
    sd: float = NAN
    low: float = NAN
    high: float = NAN

    @property
    def n(self) -> int:
        return len(self.values)


@dataclass(frozen=True)
class Point:
    """One (loss, lr) over its seeds. A diverged point's final spreads are empty (not real values);
    ``val1`` is empty only when a seed had diverged by epoch 1."""

    loss: str
    lr: float
    variants: tuple[str, ...]
    n: int
    n_diverged: int
    diverged: bool
    diverged1: bool
    epochs: int
    val: Spread
    test: Spread
    val1: Spread
    confident_wrong: Spread  # final share of validation images wrong with p > 0.9
    max_prob: float  # final mean max-probability, mean over seeds
    effective_lr: float  # lr × the loss's measured gradient scale; NaN without the reference


@dataclass(frozen=True)
class Selected:
    """One loss's grid and the lr it selects (``lr`` NaN when every point diverged)."""

    loss: str
    grid: tuple[float, ...]
    lr: float
    edge: str  # "low", "high", "both": the selected lr is at that end of the grid; "" inside
    near_chance: bool  # below NEAR_CHANCE × chance there: no lr of the grid trains the loss
    diverged_lrs: tuple[float, ...]  # points with a diverged seed
    diverged_from: float  # the smallest lr from which every larger one diverged (NaN: none)
    every_seed_from: bool  # every seed of those points diverged
    next_diverged: bool  # the lr of the grid above the selected one diverged
    val: Spread
    test: Spread
    threshold_lr: float
    threshold_kind: str  # "interpolated", "below" (the smallest lr reaches it), "not reached"


@dataclass(frozen=True)
class Scale:
    """One loss's gradient scale against the reference's, and its threshold lr's ratio to the reference's.

    ``predicted`` = 1/scale (measured); ``theory``: the declared scales' quotient, None when either
    loss declares none (measured only). ``measured``: the threshold-lr ratio where both cross by
    interpolation; else ``bound`` ("at most", "at least", "") with ``bound_value``."""

    loss: str
    initial_norm: float
    runs: int
    scale: float
    predicted: float
    theory: float | None
    measured: float = NAN
    bound: str = ""
    bound_value: float = NAN
    per_seed: tuple[float, ...] = ()
    reading: str = ""  # "whole" (within WHOLE_SHIFT), "more" (needs more than predicted), "less"; "" unmeasured
    seeds_straddle: bool = False  # some seeds above the prediction and some below
    # (loss, seed, kind) of each seed whose own curve crosses outside the grid ("below", "not reached"): the mean
    # curves' crossing then mixes a located seed with one that is not, so no point estimate is given (measured NaN)
    seeds_outside: tuple[tuple[str, int, str], ...] = ()

    @property
    def factor(self) -> float:
        return self.measured / self.predicted


@dataclass(frozen=True)
class Crossing:
    """One loss's and the reference's epoch-1 curves at one threshold: each one's threshold lr (``threshold_lr``)
    and their ratio, where both are interpolated inside their grids; else a bound or nothing.

    ``seed`` None: the curves of the means over seeds (a point estimate only when every seed's own crossing
    is inside the grid: ``seeds_outside`` empty)."""

    loss: str
    threshold: float
    seed: int | None
    lr: float
    kind: str  # threshold_lr's kind for the loss: "interpolated", "below", "not reached"
    reference_lr: float
    reference_kind: str
    ratio: float = NAN  # lr / reference_lr where both are interpolated (and, for the means, every seed is)
    bound: str = ""  # "at most" (the loss's crossing is below its grid), "at least" (the reference's is), ""
    bound_value: float = NAN
    seeds_outside: tuple[tuple[str, int, str], ...] = ()  # means only: (loss, seed, kind) crossing outside the grid

    @property
    def measured(self) -> bool:
        return not pd.isna(self.ratio)


@dataclass(frozen=True)
class Sweep:
    """The threshold-lr ratio of one loss to the reference over a range of thresholds, per seed and for the
    means: how much of it the gradient scale predicts, how far the threshold's choice moves the rest, and
    where the grids cannot place a crossing."""

    loss: str
    reference: str
    thresholds: tuple[float, ...]
    predicted: float  # 1/scale (measured); NaN unmeasured
    theory: float | None
    crossings: tuple[Crossing, ...]  # per threshold ascending: the means' crossing, then each seed's
    step: float  # the largest factor between neighbouring lrs of the loss's and the reference's grids
    grid_low: tuple[float, float]  # (loss's, reference's) smallest lr
    grid_high: tuple[float, float]  # largest lr
    widen: tuple[tuple[str, str], ...]  # (loss, "below" | "above"): a crossing lies outside that grid there

    def at(self, threshold: float, seed: int | None = None) -> Crossing | None:
        return next((c for c in self.crossings if math.isclose(c.threshold, threshold) and c.seed == seed), None)

    @property
    def seeds(self) -> tuple[int, ...]:
        return tuple(dict.fromkeys(c.seed for c in self.crossings if c.seed is not None))

    def ratios(self, seeds: bool = True) -> tuple[float, ...]:
        """Every measured ratio (the means' and, with ``seeds``, each seed's), over every threshold."""
        return tuple(c.ratio for c in self.crossings if c.measured and (seeds or c.seed is None))

    @property
    def low(self) -> float:
        return min(self.ratios(), default=NAN)

    @property
    def high(self) -> float:
        return max(self.ratios(), default=NAN)

    @property
    def outside(self) -> tuple[Crossing, ...]:
        """The seeds' crossings that give no ratio: one of the two curves crosses outside its grid."""
        return tuple(c for c in self.crossings if c.seed is not None and not c.measured)

    @property
    def within_step(self) -> bool:
        """The departure from the prediction (the larger of highest/predicted and predicted/lowest) is smaller
        than one grid step: the interval each crossing is interpolated in could hold all of it."""
        if pd.isna(self.predicted) or pd.isna(self.high) or pd.isna(self.step):
            return False
        return max(self.high / self.predicted, self.predicted / self.low) < self.step


@dataclass(frozen=True)
class Comparison:
    """One loss at its selected lr against the reference at its own: test accuracy, paired by seed."""

    loss: str
    lr: float
    reference: str
    reference_lr: float
    n: int
    n_paired: int
    mean: float
    reference_mean: float
    test: str  # "paired t", "Welch t" or "" (no test)
    p: float
    same_function: bool  # declared the same function as the reference: the same experiment, never ranked
    verdict: decisions.Difference
    resolution: decisions.Resolution | None = None  # what its seeds can conclude (None: no interval)


@dataclass(frozen=True)
class Collapse:
    """How far one loss's curve against the effective lr lies from the reference's on its rising side."""

    loss: str
    after: str  # "epoch 1" or "final"
    compared: int  # the loss's effective lrs inside the rising side
    largest: float  # the signed gap largest in size
    at_lr: float  # the loss's own lr there
    median: float  # of the gaps' sizes
    rising_low: float
    rising_high: float
    seed_spread: float  # the largest range over seeds of one point involved
    collapsed: bool  # every gap within decisions.COLLAPSE
    within_seed_spread: bool  # not collapsed, yet no gap exceeds the seeds' own spread


@dataclass(frozen=True)
class Saturation:
    """Where one loss's outputs saturate on its grid, at or above its selected lr."""

    loss: str
    cap: float | None  # declared largest softmax probability at or below CONFIDENT: not read
    reading: str  # "capped", "diverged" (every lr), "none" (not saturated), "saturated"
    selected_lr: float
    selected_val: float
    lr: float  # the first saturated lr, or (none) the largest lr that did not diverge
    n: int
    saturated: int  # seeds saturated there
    val_mean: float
    confident_wrong: float  # mean over the saturated seeds (none: over every seed)
    final_grad: float
    initial_grad: float
    others_max_prob: float
    others_val: float
    vanished: bool  # the saturated seeds' last-epoch logit gradient under VANISHED × the initial one
    softmax_head: bool  # the loss reads softmax outputs (declared): the Jacobian reading applies


@dataclass(frozen=True)
class Study:
    """Everything the page says, computed once from the two tables."""

    reference: str
    slow_loss: str
    threshold: float
    classes: int
    losses: tuple[str, ...] = ()
    points: tuple[Point, ...] = ()
    selected: tuple[Selected, ...] = ()
    scales: tuple[Scale, ...] = ()
    comparisons: tuple[Comparison, ...] = ()
    collapse1: tuple[Collapse, ...] = ()
    collapse_final: tuple[Collapse, ...] = ()
    saturation: tuple[Saturation, ...] = ()
    sweeps: tuple[Sweep, ...] = ()  # per loss other than the reference: the threshold-lr ratio over thresholds
    reference_measured: bool = False  # the reference has epoch-0 gradient norms: scales are measured

    @property
    def empty(self) -> bool:
        return not self.points

    @property
    def seeds(self) -> tuple[int, ...]:
        """The seed counts of the points, ascending and distinct."""
        return tuple(sorted({p.n for p in self.points}))

    @property
    def epochs(self) -> tuple[int, ...]:
        return tuple(sorted({p.epochs for p in self.points}))

    @property
    def can_rank(self) -> bool:
        return bool(self.points) and decisions.can_rank(min(self.seeds))

    def of(self, loss: str, records: str = "selected"):
        """The record of ``loss`` among ``records`` (selected, scales, comparisons, saturation,
        collapse1, collapse_final), or None."""
        return next((r for r in getattr(self, records) if r.loss == loss), None)

    def points_of(self, loss: str) -> tuple[Point, ...]:
        return tuple(p for p in self.points if p.loss == loss)

    def point(self, loss: str, lr: float) -> Point | None:
        return next((p for p in self.points if p.loss == loss and math.isclose(p.lr, lr, rel_tol=1e-9)), None)


# --- tables ----------------------------------------------------------------------------------------

def load(runs_csv: str, epochs_csv: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The study's tables as gather wrote them (``tables.read_gathered``: an edited table is refused with
    one error naming it and the command that rebuilds it); two empty tables when the study is off ("")."""
    if not runs_csv or not epochs_csv:
        return pd.DataFrame(columns=RUN_COLUMNS), pd.DataFrame(columns=EPOCH_COLUMNS)
    return read_gathered(runs_csv), read_gathered(epochs_csv)


def _lr(value) -> float:
    """An lr as a key: the CSV's float with its last-digit noise removed (0.30000000000000004 -> 0.3)."""
    return float(f"{float(value):.10g}")


def per_run(runs: pd.DataFrame, epochs: pd.DataFrame) -> pd.DataFrame:
    """One row per run: loss, lr, seed, status, final validation and test accuracy, validation accuracy
    after epoch 1, the final epoch's confidently-wrong share and mean max-probability, and the mean
    logit-gradient norm at initialisation (``initial_grad``) and in the last epoch (``final_grad``).

    ``diverged1``: the run had diverged by epoch 1 (its epoch-1 accuracy is not a real one)."""
    out = runs[[c for c in RUN_COLUMNS if c in runs]].copy()
    out["lr"] = out["lr"].map(_lr)
    out["diverged"] = out["status"] != "ok"
    out["diverged1"] = out["diverged"] & (pd.to_numeric(out["diverged_epoch"], errors="coerce") <= 1)
    key = pd.MultiIndex.from_frame(out[["variant", "seed"]])
    first = epochs[epochs["epoch"] == 1].set_index(["variant", "seed"])["val_accuracy"]
    out["val_epoch1"] = np.asarray(first.reindex(key), dtype=float)
    last = epochs.sort_values("epoch").groupby(["variant", "seed"]).tail(1).set_index(["variant", "seed"])
    for column in ("val_confident_wrong", "val_mean_max_prob", "logit_grad_norm"):
        values = last[column] if column in last else pd.Series(NAN, index=last.index)
        out["final_grad" if column == "logit_grad_norm" else column] = np.asarray(values.reindex(key), dtype=float)
    start = epochs[epochs["epoch"] == 0].set_index(["variant", "seed"])["logit_grad_norm"]
    out["initial_grad"] = np.asarray(start.reindex(key), dtype=float)
    return out.sort_values("seed", kind="stable").reset_index(drop=True)


def _spread(values: pd.Series) -> Spread:
    values = pd.Series(values, dtype=float).dropna()
    if values.empty:
        return Spread()
    low, high = stats.ci95(values)
    return Spread(tuple(float(v) for v in values), float(values.mean()),
                  float(values.std(ddof=1)) if len(values) > 1 else NAN, low, high)


def _points(table: pd.DataFrame, factor: dict) -> tuple[Point, ...]:
    """One Point per (loss, lr) of ``per_run``'s table, losses in table order, lr ascending."""
    order = {loss: i for i, loss in enumerate(dict.fromkeys(table["loss"]))}
    out = []
    for (loss, lr), g in sorted(table.groupby(["loss", "lr"], sort=False), key=lambda kv: (order[kv[0][0]], kv[0][1])):
        g = g.drop_duplicates("seed")  # a seed trained twice under two names counts once
        diverged, diverged1 = bool(g["diverged"].any()), bool(g["diverged1"].any())
        empty = pd.Series(dtype=float)
        out.append(Point(
            loss=loss, lr=lr, variants=tuple(dict.fromkeys(g["variant"])), n=len(g),
            n_diverged=int(g["diverged"].sum()), diverged=diverged, diverged1=diverged1, epochs=int(g["epochs"].max()),
            val=_spread(empty if diverged else g["val_accuracy"]),
            test=_spread(empty if diverged else g["test_accuracy"]),
            val1=_spread(empty if diverged1 else g["val_epoch1"]),
            confident_wrong=_spread(empty if diverged else g["val_confident_wrong"]),
            max_prob=NAN if diverged else float(g["val_mean_max_prob"].mean()),
            effective_lr=lr * factor.get(loss, NAN)))
    return tuple(out)


def _norms(epochs: pd.DataFrame) -> pd.DataFrame:
    """Per loss: the mean initial logit-gradient norm over its runs (epoch-0 rows) and how many runs."""
    first = epochs[epochs["epoch"] == 0]
    norms = first.groupby("loss", sort=False)["logit_grad_norm"].agg(["mean", "count"])
    return norms.rename(columns={"mean": "initial_norm", "count": "runs"})


def theory_ratio(loss: str, reference: str, classes: int) -> float | None:
    """The lr ratio to the reference's that the two losses' declared gradient scales predict
    (reference's scale ÷ the loss's), or None when either declares none: measured only."""
    mine, theirs = loss_info(loss).predicted_scale(classes), loss_info(reference).predicted_scale(classes)
    if mine is None or theirs is None or mine <= 0:
        return None
    return theirs / mine


def threshold_lr(lrs, values, threshold: float) -> tuple[float, str]:
    """Where a curve of (lr, mean accuracy) first reaches ``threshold``, lr ascending, NaN values
    (diverged points) skipped: (lr, "interpolated") linear in log lr between the last point below
    and the first at or above; (smallest lr, "below") when the smallest already reaches it;
    (NaN, "not reached")."""
    curve = sorted((lr, v) for lr, v in zip(lrs, values) if not pd.isna(v))
    for i, (lr, value) in enumerate(curve):
        if value >= threshold:
            if i == 0:
                return lr, "below"
            lr0, v0 = curve[i - 1]
            t = (threshold - v0) / (value - v0)
            return float(math.exp(math.log(lr0) + t * (math.log(lr) - math.log(lr0)))), "interpolated"
    return NAN, "not reached"


def threshold_by_seed(table: pd.DataFrame, threshold: float) -> dict:
    """{(loss, seed): (threshold lr, kind)} of each seed's own curve after epoch 1 (runs diverged by then skipped)."""
    return {(loss, seed): threshold_lr(g["lr"], g["val_epoch1"].where(~g["diverged1"]), threshold)
            for (loss, seed), g in table.groupby(["loss", "seed"], sort=False)}


def _crossing(loss: str, reference: str, threshold: float, seed: int | None, mine: tuple[float, str],
              theirs: tuple[float, str], outside: tuple = ()) -> Crossing:
    """The ratio of two threshold lrs (``threshold_lr``'s pairs), a bound when one of them is below its grid,
    nothing when one is not reached; for the means (``seed`` None) no ratio while a seed crosses outside."""
    record = dict(loss=loss, threshold=threshold, seed=seed, lr=mine[0], kind=mine[1], reference_lr=theirs[0],
                  reference_kind=theirs[1], seeds_outside=outside)
    value = mine[0] / theirs[0] if mine[0] > 0 and theirs[0] > 0 else NAN
    kinds = (mine[1], theirs[1])
    if kinds == ("interpolated", "interpolated"):
        return Crossing(**record) if outside else Crossing(**record, ratio=value)
    if kinds == ("below", "interpolated"):
        return Crossing(**record, bound="at most", bound_value=value)
    if kinds == ("interpolated", "below"):
        return Crossing(**record, bound="at least", bound_value=value)
    return Crossing(**record)


def _seeds_outside(seeds: dict, losses: tuple[str, ...]) -> tuple[tuple[str, int, str], ...]:
    """(loss, seed, kind) of each seed of ``losses`` whose own crossing (``threshold_by_seed``) is outside its grid."""
    return tuple((loss, seed, kind) for loss in losses for (name, seed), (_, kind) in sorted(seeds.items(), key=str)
                 if name == loss and kind != "interpolated")


def _rising_at_top(pts: tuple[Point, ...], loss: str) -> bool:
    """The loss's mean epoch-1 curve is highest at its grid's largest lr (which did not diverge by then): a
    threshold it never reaches may lie above the grid. A curve that peaks inside the grid will not reach it higher."""
    curve = [p for p in pts if p.loss == loss and not pd.isna(p.val1.mean)]
    top = max((p for p in pts if p.loss == loss), key=lambda p: p.lr)
    return bool(curve) and not top.diverged1 and top.val1.mean >= max(p.val1.mean for p in curve)


def _step(grid) -> float:
    grid = sorted(grid)
    return max((b / a for a, b in zip(grid, grid[1:])), default=NAN)


def _sweep(pts: tuple[Point, ...], table: pd.DataFrame, loss: str, reference: str, thresholds: tuple[float, ...],
           scale: Scale) -> Sweep:
    """``Sweep`` of ``loss`` against ``reference`` over ``thresholds`` (ascending)."""
    def curve(name):
        mine = [p for p in pts if p.loss == name]
        return [p.lr for p in mine], [p.val1.mean for p in mine]

    crossings, widen = [], []
    for t in thresholds:
        seeds = threshold_by_seed(table, t)
        outside = _seeds_outside(seeds, (loss, reference))
        crossings.append(_crossing(loss, reference, t, None, threshold_lr(*curve(loss), t),
                                   threshold_lr(*curve(reference), t), outside))
        for seed in sorted({s for (name, s) in seeds if name == loss and (reference, s) in seeds}):
            crossings.append(_crossing(loss, reference, t, seed, seeds[(loss, seed)], seeds[(reference, seed)]))
    for c in crossings:
        for name, kind in ((loss, c.kind), (reference, c.reference_kind)):
            above = kind == "not reached" and _rising_at_top(pts, name)
            side = "below" if kind == "below" else "above" if above else ""
            if side and (name, side) not in widen:
                widen.append((name, side))
    grids = [sorted(p.lr for p in pts if p.loss == name) for name in (loss, reference)]
    return Sweep(loss=loss, reference=reference, thresholds=thresholds, predicted=scale.predicted, theory=scale.theory,
                 crossings=tuple(crossings), step=max(_step(grids[0]), _step(grids[1])),
                 grid_low=(grids[0][0], grids[1][0]), grid_high=(grids[0][-1], grids[1][-1]), widen=tuple(widen))


def _edge(lr: float, grid: tuple) -> str:
    if len(grid) == 1:
        return "both"
    return "low" if lr == grid[0] else "high" if lr == grid[-1] else ""


def _selected(pts: tuple[Point, ...], loss: str, threshold: float, classes: int) -> Selected:
    mine = [p for p in pts if p.loss == loss]
    grid = tuple(p.lr for p in mine)
    lr_at, kind = threshold_lr(grid, [p.val1.mean for p in mine], threshold)
    tail = [p for i, p in enumerate(mine) if all(q.diverged for q in mine[i:])]
    eligible = [p for p in mine if not p.diverged and not pd.isna(p.val.mean)]
    best = max(eligible, key=lambda p: p.val.mean) if eligible else None  # lr ascending: a tie keeps the smaller
    above = [p for p in mine if best is not None and p.lr > best.lr]
    return Selected(
        loss=loss, grid=grid, lr=best.lr if best else NAN, edge=_edge(best.lr, grid) if best else "",
        near_chance=bool(best) and decisions.near_chance(best.val.mean, classes),
        diverged_lrs=tuple(p.lr for p in mine if p.diverged), diverged_from=tail[0].lr if tail else NAN,
        every_seed_from=all(p.n_diverged == p.n for p in tail), next_diverged=bool(above) and above[0].diverged,
        val=best.val if best else Spread(), test=best.test if best else Spread(), threshold_lr=lr_at,
        threshold_kind=kind)


def _scale(loss: str, reference: str, norms: pd.DataFrame, selected: dict, seeds: dict, classes: int) -> Scale:
    """The gradient scale of ``loss`` and its threshold-lr ratio to the reference's (see ``Scale``)."""
    ref_norm = norms["initial_norm"].get(reference, NAN)
    norm = norms["initial_norm"].get(loss, NAN)
    scale = norm / ref_norm if ref_norm and ref_norm > 0 else NAN
    record = dict(loss=loss, initial_norm=norm, runs=int(norms["runs"].get(loss, 0)), scale=scale,
                  predicted=1 / scale if scale and scale > 0 else NAN, theory=theory_ratio(loss, reference, classes))
    row, ref = selected[loss], selected.get(reference)
    if ref is None or loss == reference:
        return Scale(**record)
    value = row.threshold_lr / ref.threshold_lr
    kinds = (row.threshold_kind, ref.threshold_kind)
    if kinds == ("below", "interpolated"):
        return Scale(**record, bound="at most", bound_value=value)
    if kinds == ("interpolated", "below"):
        return Scale(**record, bound="at least", bound_value=value)
    if kinds != ("interpolated", "interpolated"):
        return Scale(**record)
    outside = _seeds_outside(seeds, (loss, reference))
    if outside:  # the means cross inside the grids, a seed does not: no point estimate
        return Scale(**record, seeds_outside=outside)
    both = [(s, seeds[(loss, s)][0] / seeds[(reference, s)][0]) for (name, s), (_, kind) in seeds.items()
            if name == loss and kind == "interpolated" and seeds.get((reference, s), (0, ""))[1] == "interpolated"]
    per_seed = tuple(v for _, v in sorted(both))
    predicted = record["predicted"]
    reading, straddle = "", False
    if not pd.isna(predicted):
        factor = value / predicted
        reading = "whole" if abs(math.log(factor)) < math.log(WHOLE_SHIFT) else "more" if factor > 1 else "less"
        straddle = len(per_seed) > 1 and min(per_seed) < predicted < max(per_seed)
    return Scale(**record, measured=value, per_seed=per_seed, reading=reading, seeds_straddle=straddle)


def _at(table: pd.DataFrame, loss: str, lr: float) -> pd.DataFrame:
    """The runs of one point (one per seed: a seed trained twice under two names counts once)."""
    return table[(table["loss"] == loss) & np.isclose(table["lr"], lr, rtol=1e-9, atol=0)].drop_duplicates("seed")


def _comparisons(table: pd.DataFrame, selected: dict, reference: str) -> tuple[Comparison, ...]:
    """Each loss at its selected lr against the reference at its own (``stats.compare_pair``), Holm-adjusted
    across the losses, read by ``decisions.difference``. Empty without a reference lr."""
    ref = selected.get(reference)
    if ref is None or pd.isna(ref.lr):
        return ()
    label = f"{reference} (reference)"
    ref_runs = _at(table, reference, ref.lr).assign(variant=label)
    rows = []
    for loss, row in selected.items():
        if loss == reference or pd.isna(row.lr):
            continue
        frame = pd.concat([_at(table, loss, row.lr).assign(variant=loss), ref_runs])
        rows.append((loss, row.lr, stats.compare_pair(frame, loss, label)))
    holm = stats.holm([r["p"] for _, _, r in rows]) if rows else []
    out = []
    for (loss, lr, r), p_holm in zip(rows, holm):
        seeds = r["n_paired"] if r["n_paired"] >= 2 else min(r["n"], len(ref_runs))
        verdict = decisions.difference(r["difference"], r["difference_ci95_low"], r["difference_ci95_high"],
                                       float(p_holm), seeds, identical=bool(r["identical"]))
        out.append(Comparison(loss=loss, lr=lr, reference=reference, reference_lr=ref.lr, n=r["n"],
                              n_paired=r["n_paired"], mean=r["mean"], reference_mean=r["reference_mean"],
                              test=r["test"], p=r["p"], same_function=same_function(loss, reference),
                              verdict=verdict, resolution=stats.resolution(r["difference_ci95_low"],
                                                                           r["difference_ci95_high"], seeds,
                                                                           r["n_paired"] >= 2)))
    return tuple(out)


PER_SEED = {"val1": "val_epoch1", "val": "val_accuracy"}  # a point's spread -> its runs' column


def _collapse(pts: tuple[Point, ...], reference: str, metric: str, table: pd.DataFrame) -> tuple[Collapse, ...]:
    """Per other loss, how far its curve against the effective lr lies from the reference's on the
    reference's rising side (its smallest lr to its peak, points not diverged): at each of the loss's
    effective lrs inside that range, its mean minus the reference's, interpolated linearly in log lr.
    Empty when the reference has fewer than two points on its rising side or no effective lr is known."""
    def mean(p):
        return getattr(p, metric).mean

    ref = [p for p in pts if p.loss == reference and not pd.isna(mean(p))]
    if len(ref) < 2 or all(pd.isna(p.effective_lr) for p in pts):
        return ()
    peak = ref[int(np.argmax([mean(p) for p in ref]))].lr
    rising = [p for p in ref if p.lr <= peak]
    if len(rising) < 2:
        return ()
    x, y = np.log([p.lr for p in rising]), np.array([mean(p) for p in rising])
    out = []
    for loss in dict.fromkeys(p.loss for p in pts if p.loss != reference):
        mine = [p for p in pts if p.loss == loss and not pd.isna(mean(p))]
        if not mine:
            continue
        inside = [p for p in mine if rising[0].lr * (1 - 1e-9) <= p.effective_lr <= peak * (1 + 1e-9)]
        record = dict(loss=loss, after="epoch 1" if metric == "val1" else "final", compared=len(inside),
                      largest=NAN, at_lr=NAN, median=NAN, rising_low=rising[0].lr, rising_high=peak, seed_spread=NAN,
                      collapsed=False, within_seed_spread=False)
        if inside:
            gaps = np.array([mean(p) for p in inside]) - np.interp(np.log([p.effective_lr for p in inside]), x, y)
            i = int(np.argmax(np.abs(gaps)))
            involved = pd.concat([_at(table, reference, p.lr) for p in rising]
                                 + [_at(table, loss, p.lr) for p in inside])
            spread = float(involved.groupby(["loss", "lr"])[PER_SEED[metric]].agg(lambda v: v.max() - v.min()).max())
            largest = float(gaps[i])
            collapsed = abs(largest) <= decisions.COLLAPSE + decisions.EPS
            record.update(largest=largest, at_lr=inside[i].lr, median=float(np.median(np.abs(gaps))),
                          seed_spread=spread, collapsed=collapsed,
                          within_seed_spread=not collapsed and not pd.isna(spread) and abs(largest) <= spread)
        out.append(Collapse(**record))
    return tuple(out)


def _saturation(table: pd.DataFrame, row: Selected, classes: int) -> Saturation:
    """Where ``row.loss``'s outputs saturate, read from its runs at and above its selected lr that did not diverge."""
    info = loss_info(row.loss)
    cap = info.cap(classes)
    record = dict(loss=row.loss, cap=None, reading="none", selected_lr=row.lr, selected_val=row.val.mean, lr=NAN, n=0,
                  saturated=0, val_mean=NAN, confident_wrong=NAN, final_grad=NAN, initial_grad=NAN,
                  others_max_prob=NAN, others_val=NAN, vanished=False, softmax_head=info.head == "softmax")
    if decisions.never_confident(cap):
        return Saturation(**{**record, "cap": cap, "reading": "capped"})
    runs = table[table["loss"] == row.loss]
    stable = runs[~runs["lr"].isin(runs.loc[runs["diverged"], "lr"])]  # points without a diverged seed
    if stable.empty:
        return Saturation(**{**record, "reading": "diverged"})
    # from the selected lr itself: one at the top of the grid (or the only one) can be saturated too
    above = stable[stable["lr"] >= row.lr] if not pd.isna(row.lr) else stable.iloc[:0]
    hit = above[above["val_confident_wrong"].map(decisions.saturated)]
    if hit.empty:
        at = stable[stable["lr"] == stable["lr"].max()]
        return Saturation(**{**record, "lr": at["lr"].iloc[0], "n": len(at), "val_mean": at["val_accuracy"].mean(),
                             "confident_wrong": at["val_confident_wrong"].mean()})
    at = stable[stable["lr"] == hit["lr"].min()]
    flag = at["val_confident_wrong"].map(decisions.saturated)
    seeds, others = at[flag], at[~flag]
    final, initial = seeds["final_grad"].mean(), seeds["initial_grad"].mean()
    return Saturation(**{**record, "reading": "saturated", "lr": at["lr"].iloc[0], "n": len(at),
                         "saturated": len(seeds), "val_mean": at["val_accuracy"].mean(),
                         "confident_wrong": seeds["val_confident_wrong"].mean(), "final_grad": final,
                         "initial_grad": initial, "vanished": bool(final < VANISHED * initial),
                         "others_max_prob": others["val_mean_max_prob"].mean() if len(others) else NAN,
                         "others_val": others["val_accuracy"].mean() if len(others) else NAN})


def analyse(runs: pd.DataFrame, epochs: pd.DataFrame, reference: str, slow_loss: str, threshold: float,
            classes: int, thresholds: tuple[float, ...] = decisions.THRESHOLD_SWEEP) -> Study:
    """The study read from its tables (``load``); the four settings are the page's parameters (config).
    ``thresholds``: the sweep of ``Sweep`` (the page's own threshold is added to it)."""
    common = dict(reference=reference, slow_loss=slow_loss, threshold=threshold, classes=classes)
    if runs.empty:
        return Study(**common)
    table = per_run(runs, epochs)
    norms = _norms(epochs)
    ref_norm = norms["initial_norm"].get(reference, NAN)
    factor = {loss: n / ref_norm for loss, n in norms["initial_norm"].items()} if ref_norm and ref_norm > 0 else {}
    pts = _points(table, factor)
    losses = tuple(dict.fromkeys(runs["loss"]))
    selected = {loss: _selected(pts, loss, threshold, classes) for loss in losses}
    seeds = threshold_by_seed(table, threshold)
    scales = tuple(_scale(loss, reference, norms, selected, seeds, classes) for loss in losses)
    sweep = tuple(sorted({*thresholds, threshold}))
    sweeps = tuple(_sweep(pts, table, s.loss, reference, sweep, s) for s in scales
                   if s.loss != reference and reference in selected)
    return Study(**common, losses=losses, points=pts, selected=tuple(selected.values()), scales=scales, sweeps=sweeps,
                 comparisons=_comparisons(table, selected, reference),
                 collapse1=_collapse(pts, reference, "val1", table),
                 collapse_final=_collapse(pts, reference, "val", table),
                 saturation=tuple(_saturation(table, row, classes) for row in selected.values()),
                 reference_measured=bool(factor))


def why_record(runs_csv: str, epochs_csv: str, reference: str, slow_loss: str, threshold: float,
               classes: int = stats.CLASSES) -> Study | None:
    """The study for the *why* page's line (``lrstudy_words.why_note``), or None when the study is off ("" paths)."""
    runs, epochs = load(runs_csv, epochs_csv)
    if runs.empty:
        return None
    return analyse(runs, epochs, reference, slow_loss, threshold, classes)



def _saturable_points(study: Study) -> list[Point]:
    """The points that did not diverge of the losses whose outputs can saturate (not declared capped)."""
    shown = {row.loss for row in study.saturation if row.reading != "capped"}
    return [p for p in study.points if p.loss in shown and not p.diverged]


def most_confidently_wrong(study: Study) -> tuple[float, Point | None]:
    """The largest final share of confidently wrong validation images of any one seed, and its point, over
    the losses whose outputs can saturate; (NaN, None) without such a point."""
    found = [(v, p) for p in _saturable_points(study) for v in p.confident_wrong.values if not math.isnan(v)]
    return max(found, key=lambda t: t[0]) if found else (NAN, None)


def saturated_anywhere(study: Study) -> bool:
    """Whether any seed at any lr of a loss whose outputs can saturate ended saturated
    (``decisions.saturated``). When none did, the saturation figure has nothing to show and is not drawn
    (``lrstudy_figures.saturation_figure``); the page says so in a sentence (``lrstudy_words``)."""
    share, _ = most_confidently_wrong(study)
    return not math.isnan(share) and decisions.saturated(share)
