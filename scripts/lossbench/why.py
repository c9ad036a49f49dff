"""The why page: what the measurements say about the slow loss, as records, then words.

The page explains one loss (config ``slow_loss``) against a reference loss (the page's
``reference_loss``), both named by the page's parameters. Analysis (``analyse``) measures, on
the same networks, the initial logit-gradient ratio of the two losses and of every other loss,
the per-layer weight-gradient ratio, how confident the slow loss's network gets (saturation),
the direct test (the reference loss at the shared lr times the ratio) and what the slow loss's
lr-scaled ablations step like; it returns frozen records. Wording (``why_words``: ``conclusion``, captions)
turns them into markdown; figures (``lossbench.plots``) draw the same tables.

Theory comes only from what a loss declares in the registry (``losses.Loss.predicted_scale``,
``cap``, ``head``): a loss that declares no scale gets its measured ratio, said as measured, and
none of the derivation's readings; direction words (smaller, larger) come from the numbers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from . import stats
from .comparison import Ablation, ablation
from .decisions import EPS, LAYERS_AGREE, LR_MATCH, NEAR_UNIFORM, TRACK, never_confident
from .losses import loss_info, same_function

# --- analysis -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ratio:
    """The initial logit-gradient ratio ``slow`` / ``base`` over the seeds that trained both (the same
    untrained network), and why it is missing when it is."""

    slow: str
    base: str
    per_seed: tuple[tuple[int, float, float, float], ...]  # (seed, slow's norm, base's norm, ratio), finite only
    predicted: float | None  # declared: slow's predicted scale over base's; None: no theory
    untrained: tuple[str, ...] = ()  # losses no variant trains
    not_finite: tuple[tuple[str, tuple[int, ...]], ...] = ()  # (loss, seeds) whose initial norm is not finite

    @property
    def mean(self) -> float:
        return float(np.mean([r[3] for r in self.per_seed])) if self.per_seed else math.nan

    @property
    def measured(self) -> bool:
        return bool(self.per_seed)


@dataclass(frozen=True)
class Layers:
    """Epoch 0's weight-gradient ratio slow / base per layer (the same networks)."""

    ratios: tuple[float, ...]  # input to output; empty: not in the tables
    spread: float  # largest over smallest, minus 1

    @property
    def agree(self) -> bool:
        return self.spread <= LAYERS_AGREE + EPS


@dataclass(frozen=True)
class OtherLoss:
    """Another loss's measured initial ratio against the base, its declared theory and cap, and the
    lr that would give it the base's first steps at the shared lr."""

    loss: str
    ratio: float
    seeds: int
    predicted: float | None
    cap: float | None  # declared largest softmax probability of its minimiser
    shared_lr: float | None
    tuned: tuple[tuple[str, float], ...] = ()  # its variants at an lr moved the way the ratio suggests

    @property
    def suggested_lr(self) -> float | None:
        return None if self.shared_lr is None else self.shared_lr / self.ratio


@dataclass(frozen=True)
class Saturation:
    """How confident the slow loss's first trained variant gets over the epochs shown."""

    slow: str
    variant: str | None  # the variant read; None: see ``reason``
    reason: str = ""  # "", "no confidence", "diverged", "untrained"
    candidates: tuple[str, ...] = ()  # the slow loss's variants (for "diverged")
    first: int = 0
    last: int = 0
    prob_low: float = math.nan
    prob_high: float = math.nan
    wrong_high: float = math.nan
    grad_start: float = math.nan  # mean logit-gradient norm at the first epoch shown, and its range
    grad_low: float = math.nan
    grad_high: float = math.nan

    @property
    def uniform(self) -> bool:
        return self.prob_high < NEAR_UNIFORM[0] and self.wrong_high < NEAR_UNIFORM[1]


@dataclass(frozen=True)
class DirectTest:
    """The base loss at the shared lr times the slow loss's initial ratio (declared, else measured)
    against the slow loss at the shared lr: do their validation curves track?"""

    slow_variant: str
    base: str
    lr: float
    scale: float  # the ratio the lr is scaled by
    declared: bool  # ``scale`` is the declared theory (else the measured ratio)
    twin: str | None = None
    kind: str = "missing"  # missing, no shared epoch, tracks, early, apart
    first: int = 0
    last: int = 0
    gap: float = math.nan  # largest gap of mean validation accuracy, and where
    gap_epoch: int = 0
    twin_last: float = math.nan
    slow_last: float = math.nan
    step_gap: float = math.nan  # largest relative gap of their effective steps lr × ‖∂ℓ/∂z‖
    early_until: int = 0

    @property
    def target_lr(self) -> float:
        return self.lr * self.scale


@dataclass(frozen=True)
class Overshoot:
    """One lr-scaled ablation of the slow loss (its lr moved the way the initial ratio asks): its
    first-layer step lr × ‖∇W1‖ over the base's at the shared lr, per epoch."""

    variant: str
    base_variant: str
    lr: float
    shared_lr: float
    ratio: float  # the slow loss's initial ratio it compensates
    start: float  # epoch 0 step ratio (NaN: not measured)
    later_from: int = 0
    later_low: float = math.nan
    later_high: float = math.nan


@dataclass(frozen=True)
class Accuracy:
    """A variant's test accuracy beside the reference variant's (numbers only: the comparison page tests)."""

    variant: str
    loss: str
    lr: float
    mean: float
    reference_mean: float
    diverged: tuple[str, int, int] | None = None  # (who, diverged runs, runs)
    ablation: Ablation | None = None


@dataclass(frozen=True)
class Why:
    reference: str  # a variant
    base: str  # the reference loss
    slow: str
    classes: int
    ratio: Ratio
    softmax_reading: bool  # the derivation's saturation reading applies (see ``softmax_reading``)
    layers: Layers | None
    others: tuple[OtherLoss, ...]
    saturation: Saturation
    direct: DirectTest | None
    overshoots: tuple[Overshoot, ...]
    accuracies: tuple[Accuracy, ...]
    reference_state: str  # "ok", "missing", "alone"
    slow_cap: float | None = None  # the slow loss's declared cap, when it keeps it from being confident



def softmax_reading(slow: str, base: str, classes: int) -> bool:
    """Whether the derivation's reading of MSE on softmax (a gradient through the softmax Jacobian,
    scaled down at uniform outputs and vanishing where confidently wrong) applies to ``slow``: only
    when it declares so itself: it reads the softmax (``head``), declares a theory of its initial
    scale, smaller than the base's, and is not the same function as the base (whose log cancels
    the Jacobian)."""
    info, ref = loss_info(slow), loss_info(base)
    scale, ref_scale = info.predicted_scale(classes), ref.predicted_scale(classes)
    return (info.head == "softmax" and scale is not None and ref_scale is not None and scale < ref_scale
            and not same_function(slow, base))


def predicted_ratio(loss: str, base: str, classes: int) -> float | None:
    """``loss``'s declared initial scale over ``base``'s (both relative to cross-entropy), or None."""
    a, b = loss_info(loss).predicted_scale(classes), loss_info(base).predicted_scale(classes)
    return None if a is None or b is None or b == 0 else a / b


def gradient_ratio(runs: pd.DataFrame, slow: str, base: str, classes: int) -> Ratio:
    """Per seed, the initial logit-gradient norm ratio of two losses (any variant of each: the
    initial gradient does not depend on the lr); non-finite norms are left out and named."""
    trained = set(runs["loss"])
    untrained = tuple(loss for loss in dict.fromkeys((slow, base)) if loss not in trained)
    predicted = predicted_ratio(slow, base, classes)
    if untrained:
        return Ratio(slow, base, (), predicted, untrained=untrained)
    table = stats.initial_gradient_ratio(runs, slow, base)
    finite = table[np.isfinite(table["ratio"]) & (table["ratio"] > 0)] if len(table) else table
    bad = []
    for loss in dict.fromkeys((slow, base)):
        column = table[loss] if loss in table else pd.Series(dtype=float)
        wrong = tuple(int(s) for s, v in zip(table["seed"], column) if not np.isfinite(v)) if len(table) else ()
        if wrong:
            bad.append((loss, wrong))
    rows = tuple((int(r["seed"]), float(r[slow]), float(r[base]), float(r["ratio"])) for _, r in finite.iterrows())
    return Ratio(slow, base, rows, predicted, not_finite=tuple(bad))


def layer_ratios(epochs: pd.DataFrame, slow: str, base: str) -> Layers:
    ratios = stats.initial_layer_ratios(epochs, slow, base)
    if ratios.empty or ratios.isna().all():
        return Layers((), math.nan)
    values = tuple(float(v) for v in ratios)
    spread = ratios.max() / ratios.min() - 1 if ratios.min() > 0 else math.nan
    return Layers(values, float(spread))


def other_losses(runs: pd.DataFrame, summary: pd.DataFrame, slow: str, base: str, reference: str,
                 classes: int) -> tuple[OtherLoss, ...]:
    """Every other loss that is not the same function as the slow or the base loss."""
    shared = stats.shared_settings(runs, reference)
    shared_lr = shared.get("lr")
    found = []
    for loss in dict.fromkeys(summary["loss"]):
        if same_function(loss, slow) or same_function(loss, base):
            continue
        r = gradient_ratio(runs, loss, base, classes)
        if not r.measured:
            continue
        tuned = ()
        if shared_lr is not None:
            lrs = runs.loc[runs["loss"] == loss].drop_duplicates("variant")[["variant", "lr"]]
            tuned = tuple((v, float(lr)) for v, lr in lrs.itertuples(index=False)
                          if not math.isclose(lr, shared_lr) and (lr > shared_lr) == (r.mean < 1))
        info = loss_info(loss)
        found.append(OtherLoss(loss, r.mean, len(r.per_seed), r.predicted, info.cap(classes), shared_lr, tuned))
    return tuple(found)


def saturation(summary: pd.DataFrame, table: pd.DataFrame, reference: str, slow: str,
               saturation_table: pd.DataFrame | None) -> Saturation:
    """The first variant that trains the slow loss at the shared settings without diverging (else
    the first that trains it without diverging), read over every epoch shown."""
    s = summary.set_index("variant")
    ablated = stats.ablations(table, reference)
    variants = [v for v, row in s.iterrows() if row["loss"] == slow]
    trained = [v for v in variants if s.loc[v, "n_diverged"] == 0 and v not in ablated] or \
        [v for v in variants if s.loc[v, "n_diverged"] == 0]
    if not variants:
        return Saturation(slow, None, "untrained")
    if not trained:
        return Saturation(slow, None, "diverged", tuple(variants))
    variant = trained[0]
    measured = pd.DataFrame()
    if saturation_table is not None:
        measured = saturation_table[saturation_table["variant"] == variant].dropna(
            subset=["val_mean_max_prob", "val_confident_wrong"])
    if measured.empty:
        return Saturation(slow, variant, "no confidence")
    grad = measured["logit_grad_norm"].dropna() if "logit_grad_norm" in measured else pd.Series(dtype=float)
    record = dict(first=int(measured["epoch"].min()), last=int(measured["epoch"].max()),
                  prob_low=float(measured["val_mean_max_prob"].min()),
                  prob_high=float(measured["val_mean_max_prob"].max()),
                  wrong_high=float(measured["val_confident_wrong"].max()))
    if len(grad) > 1 and grad.iloc[0] > 0:
        record.update(grad_start=float(grad.iloc[0]), grad_low=float(grad.min()), grad_high=float(grad.max()))
    return Saturation(slow, variant, **record)


def twin_variants(table: pd.DataFrame, base: str, target_lr: float, like: str | None = None) -> list[str]:
    """The variants that train ``base`` at ``target_lr`` (within LR_MATCH) and, given ``like`` (a variant), with
    every other setting of ``like``'s (optimizer, batch, epochs, hidden): under Adam lr x scale matches no step."""
    rows = table.drop_duplicates("variant").set_index("variant", drop=False)
    same = [c for c in stats.SETTINGS if c != "lr" and c in rows.columns]
    model = rows.loc[like] if like is not None and like in rows.index else None
    if model is not None and str(model.get("optimizer", "sgd")) != "sgd":
        return []  # lr x gradient scale is the matched step of plain SGD only
    return [r.variant for _, r in rows.iterrows() if r["loss"] == base
            and math.isclose(r["lr"], target_lr, rel_tol=LR_MATCH)
            and (model is None or all(str(r[c]) == str(model[c]) for c in same))]


def direct_test(epochs: pd.DataFrame, table: pd.DataFrame, slow_variant: str, base: str, ratio: Ratio,
                reference: str) -> DirectTest | None:
    """The base loss at lr × ratio (declared, else measured) against ``slow_variant`` at lr; None
    without a ratio or a shared lr."""
    lr = stats.shared_settings(table, reference).get("lr")
    declared = ratio.predicted is not None
    scale = ratio.predicted if declared else ratio.mean
    if lr is None or missing_number(scale) or scale <= 0:
        return None
    record = dict(slow_variant=slow_variant, base=base, lr=float(lr), scale=float(scale), declared=declared)
    twins = twin_variants(table, base, lr * scale, like=slow_variant)
    if not twins:
        return DirectTest(**record)
    twin = twins[0]
    a, b = stats.mean_curve(epochs, twin, "val_accuracy"), stats.mean_curve(epochs, slow_variant, "val_accuracy")
    both = pd.concat([a, b], axis=1, keys=["twin", "slow"], join="inner").dropna()
    if both.empty:
        return DirectTest(**record, twin=twin, kind="no shared epoch")
    gap = (both["twin"] - both["slow"]).abs()
    last = int(both.index.max())
    steps = stats.with_lr(epochs, table)
    step = pd.concat([stats.mean_curve(steps, twin, "step_logit"), stats.mean_curve(steps, slow_variant, "step_logit")],
                     axis=1, join="inner").dropna()
    step_gap = float(((step.iloc[:, 0] / step.iloc[:, 1]) - 1).abs().max()) if len(step) else math.nan
    kind, until = "apart", 0
    if gap.max() <= TRACK + EPS:
        kind = "tracks"
    else:
        within = gap[gap <= TRACK + EPS]
        early = [e for e in both.index if e <= within.index.max()] if len(within) else []
        if len(early) > 1 and all(gap.loc[e] <= TRACK + EPS for e in early):
            kind, until = "early", int(early[-1])
    return DirectTest(**record, twin=twin, kind=kind, first=int(both.index.min()), last=last, gap=float(gap.max()),
                      gap_epoch=int(gap.idxmax()), twin_last=float(both.loc[last, "twin"]),
                      slow_last=float(both.loc[last, "slow"]), step_gap=step_gap, early_until=until)


def missing_number(value) -> bool:
    return value is None or (isinstance(value, float) and not math.isfinite(value))


def overshoots(epochs: pd.DataFrame, runs: pd.DataFrame, slow: str, base: str, ratio: float,
               reference: str) -> tuple[Overshoot, ...]:
    """The slow loss's ablations whose lr moves the way its initial ratio asks (up for a smaller
    gradient, down for a larger one), against the base loss's first variant at the shared settings."""
    shared = stats.shared_settings(runs, reference)
    if "lr" not in shared or missing_number(ratio) or ratio == 1:
        return ()
    ablated = set(stats.ablations(runs, reference))
    rows = runs.drop_duplicates("variant")
    bases = [r.variant for r in rows.itertuples() if r.loss == base and r.variant not in ablated]
    steps = stats.with_lr(epochs, runs)
    if not bases or "step_layer1" not in steps:
        return ()
    found = []
    for r in rows.itertuples():
        if r.loss != slow or r.variant not in ablated or r.lr == shared["lr"] or (r.lr > shared["lr"]) != (ratio < 1):
            continue
        by_epoch = stats.ratio_by_epoch(steps, r.variant, bases[0], "step_layer1").dropna(subset=["mean"])
        if by_epoch.empty:
            continue
        start = by_epoch.loc[by_epoch["epoch"] == 0, "mean"]
        later = by_epoch[by_epoch["epoch"] > 0]
        record = dict(variant=r.variant, base_variant=bases[0], lr=float(r.lr), shared_lr=float(shared["lr"]),
                      ratio=float(ratio), start=float(start.iloc[0]) if len(start) else math.nan)
        if len(later):
            record.update(later_from=int(later["epoch"].min()), later_low=float(later["mean"].min()),
                          later_high=float(later["mean"].max()))
        found.append(Overshoot(**record))
    return tuple(found)


def accuracies(summary: pd.DataFrame, runs: pd.DataFrame, reference: str) -> tuple[Accuracy, ...]:
    s = summary.set_index("variant")
    if reference not in s.index:
        return ()
    ablated = stats.ablations(runs, reference)
    ref_mean = float(s.loc[reference, "test_accuracy_mean"])
    found = []
    for variant, row in s.iterrows():
        if variant == reference:
            continue
        record = dict(variant=variant, loss=row["loss"], lr=float(row["lr"]), mean=float(row["test_accuracy_mean"]),
                      reference_mean=ref_mean)
        if row["n_diverged"] > 0 or s.loc[reference, "n_diverged"] > 0:
            who = variant if row["n_diverged"] > 0 else reference
            found.append(Accuracy(**record, diverged=(who, int(s.loc[who, "n_diverged"]), int(s.loc[who, "n"]))))
        elif variant in ablated:
            found.append(Accuracy(**record, ablation=ablation(variant, summary, runs, reference)))
        else:
            found.append(Accuracy(**record))
    return tuple(found)


def analyse(summary: pd.DataFrame, runs: pd.DataFrame, epochs: pd.DataFrame, reference: str, reference_loss: str,
            slow_loss: str, classes: int) -> Why:
    """The why page's records. ``reference`` is a variant (accuracies are set beside it);
    ``reference_loss`` and ``slow_loss`` are losses (gradients are slow over reference loss on the
    same networks); "" for ``reference_loss``: the reference variant's loss."""
    base = reference_loss or base_loss(runs, reference, slow_loss, classes)
    ratio = gradient_ratio(runs, slow_loss, base, classes)
    sat = saturation(summary, runs, reference, slow_loss, stats.saturation_table(epochs))
    scale = ratio.mean if ratio.measured else ratio.predicted
    direct = None
    if sat.variant is not None:
        direct = direct_test(epochs, runs, sat.variant, base, ratio, reference)
    state = "missing" if reference not in set(summary["variant"]) else "alone" if len(summary) == 1 else "ok"
    return Why(reference, base, slow_loss, classes, ratio, softmax_reading(slow_loss, base, classes),
               layer_ratios(epochs, slow_loss, base),
               other_losses(runs, summary, slow_loss, base, reference, classes), sat, direct,
               overshoots(epochs, runs, slow_loss, base, scale, reference), accuracies(summary, runs, reference), state,
               _confident_cap(slow_loss, classes))


def _confident_cap(loss: str, classes: int) -> float | None:
    """``loss``'s declared cap when it is at most CONFIDENT (it can hardly be confidently wrong), else None."""
    cap = loss_info(loss).cap(classes)
    return cap if never_confident(cap) else None


def base_loss(runs: pd.DataFrame, reference: str, slow: str = "", classes: int = 10) -> str:
    """The loss the slow loss's gradient is measured against: the reference variant's loss ("" when it
    has no runs), unless that is the slow loss's own function (``reference: mse_softmax``): then the
    first other loss of the sweep that declares cross-entropy's own scale (grad_scale 1: the scale
    every declared one is relative to), else the first other loss of the sweep."""
    found = runs.loc[runs["variant"] == reference, "loss"]
    base = str(found.iloc[0]) if len(found) else ""
    if not base or not slow or not same_function(base, slow):
        return base
    others = [loss for loss in dict.fromkeys(runs["loss"]) if not same_function(loss, slow)]
    unit = [loss for loss in others if loss_info(loss).predicted_scale(classes) == 1.0]
    return (unit or others or [base])[0]


# --- what the figures of the page draw --------------------------------------------------------------


@dataclass(frozen=True)
class ByEpoch:
    """The per-epoch logit-gradient ratio of two variants (``stats.ratio_by_epoch``), and the theory."""

    numerator: str
    denominator: str
    table: pd.DataFrame
    predicted: float | None


def by_epoch(epochs: pd.DataFrame, runs: pd.DataFrame, w: Why) -> ByEpoch | None:
    """The slow loss's and the base loss's first variants at the shared settings, per epoch; None
    when one is missing."""
    pair = stats.shared_variant(runs, w.slow, w.reference), stats.shared_variant(runs, w.base, w.reference)
    if not all(pair):
        return None
    return ByEpoch(*pair, stats.ratio_by_epoch(epochs, *pair), w.ratio.predicted)


def capped(epochs: pd.DataFrame, classes: int) -> dict[str, float]:
    """The losses in ``epochs`` whose declared cap keeps them from being confident (p > CONFIDENT)."""
    losses = dict.fromkeys(epochs["loss"]) if "loss" in epochs else {}
    caps = {loss: loss_info(loss).cap(classes) for loss in losses}
    return {loss: cap for loss, cap in caps.items() if never_confident(cap)}
