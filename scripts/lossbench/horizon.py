"""Slow, or stuck? The long-horizon runs (config ``horizon:``) read with one stated criterion: the analysis.

Five epochs cannot tell a loss that learns slowly from one that has stopped. The horizon runs
train a few variants for a longer epoch budget E (tables ``horizon_runs.csv`` and
``horizon_epochs.csv``, gathered with ``lossbench gather --prefix horizon_``). This module reads
them into records (numbers and decisions, no prose): ``readings`` gives one ``Reading`` per
variant, ``twin`` one ``Twin`` for the slow loss and its matched-step partner. The words are
``horizon_words``'s, the figure ``horizon_figures``'s; the *why* page ("Slow or stuck?") calls
the three in turn. tests/test_horizon.py checks the records on constructed tables.

The criterion, with a window of W epochs and a gain of g (config ``plateau_window``,
``plateau_gain``; defaults 4, 0.01 = 1 point). a(e) is a variant's mean validation accuracy over
its seeds at epoch e (an epoch some seed lacks is left out), a_s(e) seed s's own, L_s(e) seed s's
mean train loss in epoch e (recorded every epoch); the last window starts at E - W (the last
evaluated epoch at or before it):

- each seed's own last window is **rising** (a_s gained g or more), **falling** (lost g or more)
  or **level**; seeds whose windows differ (one rising, another level or falling; one falling,
  another level) make the variant **not settled**: the mean of opposite moves is no level;
- **still rising** when a(E) - a(E - W) >= g (and no seed disagrees);
- **levelled off** from epoch p, where p is the first evaluated epoch after which a never again
  reaches a(p) + g, provided p <= E - W (it held for W epochs or more), *and* every seed's train
  loss has settled: over the last window it fell (or rose) at less than
  ``decisions.TRAIN_LOSS_SETTLED`` times its mean pace since epoch 0,
  |L_s(E) - L_s(E - W)| / W < TRAIN_LOSS_SETTLED * (L_s(0) - L_s(E)) / E. A validation curve that is
  flat while the network still fits its training set at its full pace (or faster) has not stopped;
- **not settled** otherwise (no gain of g over the last window, yet not within g of one level for
  W epochs either: it rose and fell back late; or its train loss still moves; or its seeds disagree).

A variant with a diverged run, or a budget shorter than W, gets no verdict. "Levelled off" holds
within the budget only: a flat stretch can be a stall that a longer budget shows ending (docs/studies.md).

``twin`` follows the page's slow loss at lr η against the reference's family at lr η·s, where s is
the slow loss's declared initial logit-gradient scale over the reference's
(``losses.loss_info(...).predicted_scale(C)``): the same step while the outputs are uniform. They
*track* while their mean validation accuracies differ by less than ``decisions.TRACK``. A slow loss
that declares no scale has no matched step, so no twin (its ``Twin`` says so).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import pandas as pd

from .decisions import EPS, LR_MATCH, TRACK, TRAIN_LOSS_SETTLED
from .losses import loss_info, same_function
from .tables import read_gathered

# A reading's kinds, and why a curve is not settled (a reading can have several reasons).
RISING, PLATEAU, UNSETTLED, SHORT, DIVERGED = "rising", "plateau", "unsettled", "short", "diverged"
SEEDS_DISAGREE, LOSS_MOVING, LATE_MOVE = "seeds disagree", "train loss moving", "late move"
# A seed's own last window.
UP, LEVEL, DOWN = "rising", "level", "falling"
# A twin's kinds (``Twin``).
NO_SCALE, NO_TWIN, TRACKS, APART, PARTS = "no scale", "no twin", "tracks", "apart", "parts"


@dataclass(frozen=True)
class Verdict:
    """How one curve ends: ``kind`` is rising, plateau, unsettled or short (budget < window)."""

    kind: str
    budget: int
    start: int  # E - W (the last evaluated epoch at or before it): where the last window starts
    start_value: float
    end_value: float
    plateau_epoch: float = math.nan  # p, for a plateau
    low: float = math.nan  # range of the curve from p (plateau) or from the window's start (unsettled)
    high: float = math.nan
    peak: float = math.nan  # highest value over the whole curve, and where
    peak_epoch: float = math.nan

    @property
    def gain(self) -> float:
        return self.end_value - self.start_value


@dataclass(frozen=True)
class Seed:
    """One seed's own last window: its validation-accuracy move and its train loss."""

    seed: int
    start: int  # the window's first epoch (its own curve's), and the budget
    budget: int
    gain: float  # a_s(E) - a_s(start)
    direction: str  # UP, LEVEL or DOWN: the gain against ±g
    loss_first: float  # L_s at epoch 0, at the window's start, at the budget
    loss_start: float
    loss_end: float
    loss_settled: bool

    @property
    def loss_change(self) -> float:
        """L_s(E) - L_s(start): negative when the train loss fell over the window."""
        return self.loss_end - self.loss_start

    @property
    def loss_pace(self) -> float:
        """The window's train-loss pace (|change| per epoch) over the mean fall per epoch since epoch 0;
        NaN when the loss did not fall since epoch 0 (no pace to compare with)."""
        mean_fall = (self.loss_first - self.loss_end) / self.budget if self.budget else math.nan
        if not mean_fall > 0:
            return math.nan
        return abs(self.loss_change) / (self.budget - self.start) / mean_fall


@dataclass(frozen=True)
class Reading:
    """One horizon variant: its verdict by the criterion and the numbers behind it.

    ``kind``: RISING, PLATEAU, UNSETTLED, SHORT or DIVERGED (a run diverged: no verdict).
    ``curve``: the reading of the mean validation curve alone (None for a diverged variant);
    ``seeds_read``: each seed's own last window; ``reasons``: why it is not settled."""

    variant: str
    loss: str
    lr: float
    seeds: int
    budget: int
    kind: str
    curve: Verdict | None = None
    seeds_read: tuple[Seed, ...] = ()
    reasons: tuple[str, ...] = ()
    test_accuracy: float = math.nan  # mean over seeds, at the budget

    @property
    def judged(self) -> bool:
        return self.kind not in (SHORT, DIVERGED)


@dataclass(frozen=True)
class Phase:
    """A stretch where the slow variant is TRACK or more ahead (sign +1) or behind (-1) its twin."""

    sign: int
    since: int
    gap: float  # the largest |gap| in it, and where
    at: int


@dataclass(frozen=True)
class Twin:
    """The slow loss at lr η against the reference's family at η·scale, epoch by epoch.

    ``kind``: NO_SCALE (a loss declares no initial gradient scale: no matched step), NO_TWIN (no
    horizon run of the reference's family at the matched lr that did not diverge), TRACKS (within
    ``track`` at every epoch), APART (from the first epoch), PARTS (tracks, then ``phases``)."""

    kind: str
    slow_loss: str
    reference_loss: str
    classes: int
    scale: float | None  # slow loss's declared scale over the reference's; None: one declares none
    undeclared: tuple[str, ...] = ()  # the losses that declare no scale
    slow: str | None = None  # the slow variant, its lr, and the matched lr
    slow_lr: float = math.nan
    target_lr: float = math.nan
    other: str | None = None  # the twin variant, its loss and lr
    other_loss: str | None = None
    other_lr: float = math.nan
    track: float = TRACK
    budget: int = 0
    tracked_to: int | None = None  # last epoch of the first tracking stretch (kind "parts")
    phases: tuple[Phase, ...] = ()
    end_gap: float = math.nan  # slow minus twin at the budget


def verdict(curve: pd.Series, window: int, gain: float) -> Verdict:
    """Read one validation curve (index: evaluated epochs, ascending; values: accuracy)."""
    curve = curve.dropna().sort_index()
    epochs, values = list(curve.index), list(curve.values)
    budget = int(epochs[-1])
    peak_at = int(curve.idxmax())
    common = {"budget": budget, "end_value": values[-1], "peak": float(curve.max()), "peak_epoch": peak_at}
    if len(epochs) < 2 or budget - epochs[0] < window:
        return Verdict(SHORT, start=int(epochs[0]), start_value=values[0], **common)
    start = max(e for e in epochs if e <= budget - window)
    start_value = float(curve[start])
    if values[-1] - start_value >= gain - EPS:
        return Verdict(RISING, start=start, start_value=start_value, **common)
    plateau = next(e for i, e in enumerate(epochs) if all(v < values[i] + gain - EPS for v in values[i + 1:]))
    if plateau <= budget - window:
        after = curve[curve.index >= plateau]
        return Verdict(PLATEAU, start=start, start_value=start_value, plateau_epoch=plateau,
                       low=float(after.min()), high=float(after.max()), **common)
    late = curve[curve.index >= start]
    return Verdict(UNSETTLED, start=start, start_value=start_value, low=float(late.min()),
                   high=float(late.max()), **common)


def seed_window(rows: pd.DataFrame, seed: int, window: int, gain: float) -> Seed:
    """One seed's last window, from its epochs rows (``val_accuracy``, ``train_loss``)."""
    rows = rows.set_index("epoch").sort_index()
    own = verdict(rows["val_accuracy"], window, gain)
    loss = rows["train_loss"]
    first, start, end = (float(loss.get(e, math.nan)) for e in (int(loss.index.min()), own.start, own.budget))
    moved = abs(end - start)
    mean_fall = first - end  # over the whole budget; the window's pace is compared per epoch
    span = own.budget - own.start
    settled = moved * own.budget <= TRAIN_LOSS_SETTLED * max(mean_fall, 0.0) * span + EPS
    direction = UP if own.gain >= gain - EPS else DOWN if own.gain <= -gain + EPS else LEVEL
    return Seed(seed=seed, start=own.start, budget=own.budget, gain=own.gain, direction=direction,
                loss_first=first, loss_start=start, loss_end=end, loss_settled=bool(settled))


def load(runs_csv: str, epochs_csv: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The horizon tables as gather wrote them (``tables.read_gathered``: a table edited by hand is refused
    with one error naming it and the command that mends it); two empty tables when the block is off."""
    if not runs_csv or not epochs_csv:
        return (pd.DataFrame(columns=["variant", "loss", "lr", "seed", "status", "epochs", "diverged_epoch",
                                      "test_accuracy"]),
                pd.DataFrame(columns=["variant", "seed", "epoch", "val_accuracy", "train_loss"]))
    return read_gathered(runs_csv), read_gathered(epochs_csv)


def curve_of(epochs: pd.DataFrame, variant: str) -> pd.Series:
    """A variant's mean validation accuracy over its seeds at each epoch every seed evaluated."""
    rows = epochs[epochs["variant"] == variant]
    wide = rows.pivot_table(index="epoch", columns="seed", values="val_accuracy", aggfunc="first", dropna=False)
    return wide.dropna().mean(axis=1)


def reading(runs: pd.DataFrame, epochs: pd.DataFrame, variant: str, window: int, gain: float) -> Reading:
    """One variant's reading by the criterion (module docstring)."""
    group = runs[runs["variant"] == variant]
    base = {"variant": variant, "loss": str(group["loss"].iloc[0]), "lr": float(group["lr"].iloc[0]),
            "seeds": len(group), "budget": int(group["epochs"].iloc[0])}
    if (group["status"] != "ok").any():
        return Reading(kind=DIVERGED, **base)
    curve = verdict(curve_of(epochs, variant), window, gain)
    test = float(group["test_accuracy"].mean())
    if curve.kind == SHORT:
        return Reading(kind=SHORT, curve=curve, test_accuracy=test, **base)
    rows = epochs[epochs["variant"] == variant]
    seeds = tuple(seed_window(rows[rows["seed"] == s], int(s), window, gain) for s in group["seed"])
    reasons = []
    if len({s.direction for s in seeds}) > 1:
        reasons.append(SEEDS_DISAGREE)
    if curve.kind == PLATEAU and not all(s.loss_settled for s in seeds):
        reasons.append(LOSS_MOVING)
    if curve.kind == UNSETTLED:
        reasons.append(LATE_MOVE)
    return Reading(kind=UNSETTLED if reasons else curve.kind, curve=curve, seeds_read=seeds, reasons=tuple(reasons),
                   test_accuracy=test, **base)


def readings(runs: pd.DataFrame, epochs: pd.DataFrame, window: int, gain: float) -> list[Reading]:
    """One reading per horizon variant, in the tables' order (none when the block is off)."""
    return [reading(runs, epochs, variant, window, gain) for variant in dict.fromkeys(runs["variant"])]


def loss_of(runs: pd.DataFrame, variant: str) -> str:
    """The loss a page's variant trains (the sweep's runs table); the name itself if no variant has it."""
    rows = runs.loc[runs["variant"] == variant, "loss"]
    return str(rows.iloc[0]) if len(rows) else variant


def twin(runs: pd.DataFrame, epochs: pd.DataFrame, slow_loss: str, reference_loss: str, classes: int,
         track: float = TRACK) -> Twin | None:
    """The slow loss's horizon variant against its matched-step twin (module docstring); None when no
    horizon variant trains the slow loss without diverging, or the slow loss is the reference's function."""
    kinds = runs.drop_duplicates("variant").set_index("variant")
    ok = runs.groupby("variant", sort=False)["status"].agg(lambda s: (s == "ok").all())
    slows = [v for v in kinds.index[kinds["loss"] == slow_loss] if ok[v]]
    if not slows or same_function(slow_loss, reference_loss):
        return None
    scales = {name: loss_info(name).predicted_scale(classes) for name in (slow_loss, reference_loss)}
    base = {"slow_loss": slow_loss, "reference_loss": reference_loss, "classes": classes, "track": track}
    undeclared = tuple(name for name, s in scales.items() if s is None)
    if undeclared:
        return Twin(NO_SCALE, scale=None, undeclared=undeclared, slow=slows[0],
                    slow_lr=float(kinds.loc[slows[0], "lr"]), **base)
    scale = scales[slow_loss] / scales[reference_loss]
    family = [v for v in kinds.index if ok[v] and same_function(kinds.loc[v, "loss"], reference_loss)]
    for slow in slows:
        slow_lr = float(kinds.loc[slow, "lr"])
        target = slow_lr * scale
        twins = [v for v in family if math.isclose(kinds.loc[v, "lr"], target, rel_tol=LR_MATCH)]
        if twins:
            return _follow(epochs, slow, twins[0], Twin("", scale=scale, slow=slow, slow_lr=slow_lr, target_lr=target,
                                                         other=twins[0], other_loss=str(kinds.loc[twins[0], "loss"]),
                                                         other_lr=float(kinds.loc[twins[0], "lr"]), **base))
    slow_lr = float(kinds.loc[slows[0], "lr"])
    return Twin(NO_TWIN, scale=scale, slow=slows[0], slow_lr=slow_lr, target_lr=slow_lr * scale, **base)


def _follow(epochs: pd.DataFrame, slow: str, other: str, pair: Twin) -> Twin:
    """The pair's record filled in: where they track, and the phases where they part."""
    a, b = curve_of(epochs, slow), curve_of(epochs, other)
    common = a.index.intersection(b.index)
    diff = a[common] - b[common]  # > 0: the slow loss ahead
    apart = diff.abs() >= pair.track - EPS
    budget, end = int(common.max()), float(diff.iloc[-1])
    if not apart.any():
        return replace(pair, kind=TRACKS, budget=budget, end_gap=end)
    first = int(common[apart.argmax()])
    phases: list[list] = []  # (sign, first epoch, largest gap, its epoch): where the gap is `track` or more
    for epoch, gap in diff[diff.index >= first].items():
        sign = (gap > 0) - (gap < 0) if abs(gap) >= pair.track - EPS else 0
        if sign and (not phases or phases[-1][0] != sign):
            phases.append([sign, int(epoch), abs(gap), int(epoch)])
        elif sign and abs(gap) > phases[-1][2]:
            phases[-1][2:] = [abs(gap), int(epoch)]
    phases = tuple(Phase(sign, since, float(gap), at) for sign, since, gap, at in phases)
    if first == int(common.min()):
        return replace(pair, kind=APART, budget=budget, phases=phases, end_gap=end)
    return replace(pair, kind=PARTS, budget=budget, tracked_to=int(common[common < first].max()), phases=phases,
                   end_gap=end)
