"""The why page: what the measurements say about the slow loss, as records, then words.

The page explains one loss (config ``slow_loss``) against a reference loss (the page's
``reference_loss``), both named by the page's parameters. Analysis (``analyse``) measures, on
the same networks, the initial logit-gradient ratio of the two losses and of every other loss,
the per-layer weight-gradient ratio, how confident the slow loss's network gets (saturation),
the direct test (the reference loss at the shared lr times the ratio) and what the slow loss's
lr-scaled ablations step like; it returns frozen records. Wording (``conclusion``, captions)
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
from .comparison import Ablation, ablation, ablation_text
from .decisions import CONFIDENT, EPS, LAYERS_AGREE, LR_MATCH, NEAR_UNIFORM, STEP_MATCH, TRACK, never_confident
from .losses import loss_info, same_function
from .words import acc, factor, names, number, points, seeds, settings_text

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


def twin_variants(table: pd.DataFrame, base: str, target_lr: float) -> list[str]:
    """The variants that train ``base`` at ``target_lr`` (within LR_MATCH)."""
    rows = table.drop_duplicates("variant")
    return [r.variant for r in rows.itertuples() if r.loss == base and math.isclose(r.lr, target_lr, rel_tol=LR_MATCH)]


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
    twins = twin_variants(table, base, lr * scale)
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


# --- wording ----------------------------------------------------------------------------------------


def ratio_missing(r: Ratio) -> str:
    """Why the initial gradient ratio of the two losses is not measured in these tables."""
    if r.untrained:
        because = f"no variant trains {' or '.join(f'`{loss}`' for loss in r.untrained)}"
    elif r.not_finite:
        because = "; ".join(f"`{loss}`'s initial logit-gradient norm is not finite on {_seed_list(s)} (its loss is not "
                            "a number from the first step)" for loss, s in r.not_finite)
    else:
        because = "no seed was trained with both"
    return f"The initial logit-gradient ratio `{r.slow}` / `{r.base}` is not measured here: {because}."


def _seed_list(found) -> str:
    return ("seed " if len(found) == 1 else "seeds ") + ", ".join(map(str, found))


def _ratio(value: float) -> str:
    """A ratio of gradient norms: 0.0200, 0.2110, 1.2230, 10.00."""
    return number(value, ".4f" if abs(value) < 10 else ".4g")


def _theory(predicted: float | None, measured: float) -> str:
    """', against 0.0200 declared in the registry: 0.0% apart' or '; measured: ... declares no theory'."""
    if predicted is None:
        return ("; measured: its registry entry declares no theory for it, so the derivation above is not applied "
                "to it")
    return f", against {_ratio(predicted)} declared in the registry: {abs(measured / predicted - 1) * 100:.1f}% apart"


def ratio_sentence(w: Why) -> str:
    r = w.ratio
    if not r.measured:
        return ratio_missing(r)
    size, direction = factor(r.mean)
    text = (f"At initialisation the measured logit-gradient ratio of the losses `{r.slow}` / `{r.base}` is "
            f"**{_ratio(r.mean)}** ({seeds(len(r.per_seed), mean=True)}){_theory(r.predicted, r.mean)}. ")
    text += (f"`{r.slow}` starts with the same gradient as `{r.base}`." if direction == "the same" else
             f"`{r.slow}` starts with a ~{size} {direction} gradient than `{r.base}`.")
    if r.not_finite:
        text += " Left out: " + "; ".join(f"`{loss}` is not finite on {_seed_list(s)}"
                                          for loss, s in r.not_finite) + "."
    if r.predicted is None:
        return text + " It does not by itself show what sets `" + r.slow + "`'s pace."
    return text + " This checks the algebra on these networks; it does not by itself show what makes training slow."


def layer_sentence(w: Why) -> str:
    layers = w.layers
    if (not layers.ratios or all(math.isnan(v) for v in layers.ratios)) and w.ratio.not_finite:
        return (f"The per-layer weight-gradient ratio `{w.slow}` / `{w.base}` at initialisation is not measured: "
                + "; ".join(f"`{loss}`'s gradients are not finite from the first step on {_seed_list(found)}"
                            for loss, found in w.ratio.not_finite) + ".")
    if not layers.ratios or all(math.isnan(v) for v in layers.ratios):
        return (f"The per-layer weight-gradient ratio `{w.slow}` / `{w.base}` at initialisation is not in these "
                "tables (no finite epoch-0 layer norms of both losses on one seed: runs recorded before they were "
                "measured, a loss missing, or a loss not finite from the start).")
    values = ", ".join(number(v, ".4f") for v in layers.ratios)
    theory = f"; declared {_ratio(w.ratio.predicted)}" if w.ratio.predicted is not None else ""
    text = (f"Every layer's weight gradient at initialisation (epoch 0, mean over the split's first minibatches) has "
            f"`{w.slow}` / `{w.base}` = {values} (layers 1–{len(layers.ratios)}{theory}), within "
            f"{number(layers.spread * 100, '.1f')}% of each other")
    if layers.agree:
        return text + (": one per-sample factor on ∂ℓ/∂z scales every parameter gradient alike, so at initialisation "
                       f"a learning rate acts on `{w.slow}` as that factor times it would on `{w.base}`.")
    return text + (f": more than {LAYERS_AGREE * 100:g}% apart, so the two losses' logit gradients differ by more "
                   f"than one per-sample factor, and a learning rate does not act on `{w.slow}` as one multiple of "
                   f"its action on `{w.base}`.")


def other_sentence(o: OtherLoss, base: str) -> str:
    size, direction = factor(o.ratio)
    text = (f"`{o.loss}` starts with a {size} {direction} logit gradient than `{base}`'s at initialisation "
            f"({seeds(o.seeds, mean=True)}: {_ratio(o.ratio)}×)" if direction != "the same" else
            f"`{o.loss}` starts with the same logit gradient as `{base}`'s at initialisation ({seeds(o.seeds)})")
    text += (f"; its declared scale is {_ratio(o.predicted)}" if o.predicted is not None else
             "; measured: its registry entry declares no theory for it")
    if never_confident(o.cap):
        text += (f". Its targets cap the softmax: at its minimiser the largest probability is {o.cap:.2f}, so it can "
                 f"hardly be confidently wrong (p > {CONFIDENT:g}): its low share of confidently wrong images is no "
                 "evidence")
    if o.suggested_lr is not None and direction != "the same":
        lr = o.shared_lr
        needs = "larger" if o.ratio < 1 else "smaller"  # from the ratio's side of 1, never from the loss
        text += (f". Taking `{base}`'s first steps at lr {lr:g} needs a {needs} lr for it: lr {lr:g} / {o.ratio:.2f} ≈ "
                 f"{o.suggested_lr:.2g}"
                 + (f"; tuned that way: {', '.join(f'`{v}` (lr {x:g})' for v, x in o.tuned)}" if o.tuned
                    else "; no variant runs it there"))
    return text + "."


def saturation_sentences(w: Why) -> list[str]:
    s = w.saturation
    if s.reason == "untrained":
        return [f"Saturation is not read for `{s.slow}`: no variant trains it."]
    if s.reason == "diverged":
        return [f"Saturation is not read for `{s.slow}`: every variant that trains it ({names(s.candidates)}) has "
                "diverged runs."]
    if s.reason == "no confidence":
        return [f"Saturation is not read for `{s.slow}`: `{s.variant}` has no validation confidence in the tables."]
    lines = []
    span = f"epochs {s.first}–{s.last}" if s.last > s.first else f"epoch {s.last}"
    if not math.isnan(s.grad_start):
        lines.append(
            f"Over {span}, every epoch shown, `{s.variant}`'s mean logit-gradient norm stays between "
            f"{s.grad_low:.4g} and {s.grad_high:.4g} ({s.grad_low / s.grad_start:.2f}–"
            f"{s.grad_high / s.grad_start:.2f}× its epoch-0 value) and its mean max-probability "
            + (f"at {s.prob_high:.3f} throughout." if f"{s.prob_low:.3f}" == f"{s.prob_high:.3f}"
               else f"between {s.prob_low:.3f} and {s.prob_high:.3f}."))
    state = (f"over {span} `{s.variant}` has mean max-probability at most {s.prob_high:.2f} and at most "
             f"{s.wrong_high * 100:.1f}% confidently wrong validation images")
    if w.slow_cap is not None:
        lines.append(f"Saturation: {state}. Its targets cap the softmax (largest probability at its minimiser: "
                     f"{w.slow_cap:.2f}, below the {CONFIDENT:g} that counts as confident), so outputs close to "
                     "uniform and few confidently wrong images are automatic for it: no evidence about saturation.")
    elif s.uniform:
        text = (f"Saturation: {state}. Its outputs stay close to uniform for the whole run (mean max-probability below "
                f"{NEAR_UNIFORM[0]:g}, under {NEAR_UNIFORM[1]:.0%} confidently wrong)")
        if w.softmax_reading:
            text += (", so saturated wrong answers (where the softmax Jacobian vanishes) do not explain its slowness "
                     "here. Its slow progress is consistent with the declared scale of its gradient; the direct test "
                     "of that reading is the reference loss at the same effective step (below).")
        else:
            text += ", so saturated outputs do not explain its pace here."
        lines.append(text)
    elif w.softmax_reading:
        lines.append(f"Saturation: {state}; where it is confidently wrong the softmax Jacobian shrinks its gradient "
                     "further.")
    else:
        lines.append(f"Saturation: {state}.")
    return lines


def _scale_words(d: DirectTest) -> str:
    return f"{number(d.lr, 'g')} × {_ratio(d.scale)} ({'declared' if d.declared else 'measured'} initial ratio)"


def direct_sentence(w: Why) -> str | None:
    d = w.direct
    if d is None:
        return None
    target = number(d.target_lr, ".2g")
    if d.twin is None:
        return (f"Direct test not in this sweep: `{d.base}` at lr {_scale_words(d)} = {target}, which should track "
                f"`{d.slow_variant}` at lr {number(d.lr, 'g')} while the two losses' gradient ratio stays at its "
                f"initial value (add it as a variant: `{{loss: {d.base}, lr: {target}}}`).")
    if d.kind == "no shared epoch":
        return f"Direct test: `{d.twin}` and `{d.slow_variant}` share no epoch with a validation accuracy."
    text = (f"Direct test: `{d.twin}` (`{d.base}` at lr {target} = {_scale_words(d)}) against `{d.slow_variant}` at lr "
            f"{number(d.lr, 'g')}: their mean validation accuracies differ by at most {d.gap * 100:.1f} points over "
            f"epochs {d.first}–{d.last} (epoch {d.last}: {d.twin_last:.4f} vs {d.slow_last:.4f}; largest gap at epoch "
            f"{d.gap_epoch})"
            + (f", while their effective steps lr × ‖∂ℓ/∂z‖ stay within {d.step_gap * 100:.1f}% of each other"
               if not math.isnan(d.step_gap) else ""))
    width = f"{TRACK * 100:g} points"
    if d.kind == "tracks":
        return text + (f": `{d.base}` given the same effective step tracks `{d.slow_variant}` (within {width}) at "
                       "every epoch shown, as the initial-ratio reading predicts; this supports it for these epochs "
                       "(figure below).")
    if d.kind == "early":
        return text + (f": within {width} up to epoch {d.early_until}, further apart later: consistent with the "
                       "initial-ratio reading for those epochs, not for the later ones.")
    return text + (f": more than {width} apart, so the initial gradient ratio alone does not account for "
                   f"`{d.slow_variant}`'s pace here.")


def overshoot_sentence(o: Overshoot, slow: str) -> str:
    scale = o.lr / o.shared_lr
    size, direction = factor(o.ratio)
    text = (f"`{o.variant}` runs `{slow}` at lr {o.lr:g} = {scale:.3g}× {o.shared_lr:g}. Its first-layer step "
            "lr × ‖∇W1‖ is ")
    initial = f"its {size} {direction} initial gradient"
    if math.isnan(o.start):
        text += "not measured at epoch 0"
    else:
        text += f"{o.start:.2f}× `{o.base_variant}`'s at epoch 0"
        if abs(o.start - 1) <= STEP_MATCH + EPS:
            text += f": ×{scale:.3g} offsets {initial} (within {STEP_MATCH:.0%})"
        elif (o.start < 1) == (o.ratio < 1):
            text += f": ×{scale:.3g} makes up only part of {initial}"
        else:
            text += f": ×{scale:.3g} more than offsets {initial}"
    if not math.isnan(o.later_low):
        span = (f"{o.later_low:.2f}×" if f"{o.later_low:.2f}" == f"{o.later_high:.2f}" else
                f"{o.later_low:.2f}–{o.later_high:.2f}×")
        text += f". From epoch {o.later_from} on it is {span} (mean over seeds per epoch)"
        larger, smaller = o.later_low > 1 + STEP_MATCH, o.later_high < 1 - STEP_MATCH
        if (larger and o.ratio < 1) or (smaller and o.ratio > 1):
            text += f": it over-compensates once training moves on ({'larger' if larger else 'smaller'} steps)"
        elif larger or smaller:
            text += f": its steps stay {'larger' if larger else 'smaller'} than `{o.base_variant}`'s"
    return text + (f". Its accuracy against `{o.base_variant}` compares a different effective step with an untuned "
                   "one, not the two losses.")


def accuracy_sentence(a: Accuracy, reference: str) -> str:
    if a.diverged is not None:
        who, k, n = a.diverged
        return (f"`{a.variant}` (loss `{a.loss}`, lr {a.lr:g}): not compared with `{reference}`, because `{who}` "
                f"diverged in {k} of {n} runs.")
    if a.ablation is not None:
        return ablation_text(a.ablation) + "."
    return (f"`{a.variant}` (loss `{a.loss}`, lr {a.lr:g}): {acc(a.mean)} test accuracy, against "
            f"{acc(a.reference_mean)} for `{reference}` ({points(a.mean - a.reference_mean)} points; the comparison "
            "page tests the difference).")


def conclusion(w: Why) -> str:
    """What the measurements say about the slow loss (markdown list)."""
    lines = [ratio_sentence(w), layer_sentence(w)]
    lines += [other_sentence(o, w.base) for o in w.others]
    lines += saturation_sentences(w)
    direct = direct_sentence(w)
    lines += [direct] if direct else []
    lines += [overshoot_sentence(o, w.slow) for o in w.overshoots]
    if w.reference_state == "missing":
        lines.append(f"The reference `{w.reference}` has no runs in these tables: no accuracy is compared with it.")
    elif w.reference_state == "alone":
        lines.append(f"`{w.reference}` is the only variant: no accuracy to compare with it.")
    else:
        lines += [accuracy_sentence(a, w.reference) for a in w.accuracies]
    return "\n".join(f"- {line}" for line in lines)


def ratio_display(r: Ratio) -> pd.DataFrame:
    """Per seed: both losses' initial norms and their ratio (finite seeds only), with the declared
    theory beside it where the slow loss declares one."""
    out = pd.DataFrame(list(r.per_seed), columns=["seed", r.slow, r.base, "ratio"])
    if r.slow == r.base:
        out = out.drop(columns=[r.base])
    if r.predicted is not None:
        out["declared"] = r.predicted
        out["ratio / declared"] = out["ratio"] / r.predicted
    return out.set_index("seed").round(5)


# --- captions of the why page's figures ---------------------------------------------------------------


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


def ratio_caption(b: ByEpoch | None, w: Why) -> str:
    """What the per-epoch ratio figure shows, with its measured range."""
    if b is None:
        return ratio_missing(w.ratio) if not w.ratio.measured else (
            f"No variant trains both `{w.slow}` and `{w.base}` at the shared settings: no ratio per epoch.")
    ratios = b.table
    if ratios.empty:
        if w.ratio.not_finite:
            return ("No ratio per epoch: " + "; ".join(f"`{loss}`'s logit-gradient norm is not finite on "
                                                       f"{_seed_list(found)}" for loss, found in w.ratio.not_finite)
                    + f" (`{b.numerator}` / `{b.denominator}`).")
        return f"No seed was trained as both `{b.numerator}` and `{b.denominator}`: no ratio per epoch."
    later = ratios[ratios["epoch"] > 0]
    text = (f"Mean per-sample logit-gradient norm of `{b.numerator}` over that of `{b.denominator}` on the same seed. "
            "At epoch 0 both are the same network, so the ratio is the losses' alone; later epochs compare the "
            "networks each trained into.")
    first = ratios[ratios["epoch"] == 0]
    if len(first):
        text += f" Epoch 0: {first['mean'].iloc[0]:.4f}"
        text += f" (declared {_ratio(b.predicted)})" if b.predicted is not None else " (measured; no declared theory)"
    if len(later):
        text += (f"; epochs {int(later['epoch'].min())}–{int(later['epoch'].max())}: {later['mean'].min():.4f} to "
                 f"{later['mean'].max():.4f}")
    return text + "."


def capped(epochs: pd.DataFrame, classes: int) -> dict[str, float]:
    """The losses in ``epochs`` whose declared cap keeps them from being confident (p > CONFIDENT)."""
    losses = dict.fromkeys(epochs["loss"]) if "loss" in epochs else {}
    caps = {loss: loss_info(loss).cap(classes) for loss in losses}
    return {loss: cap for loss, cap in caps.items() if never_confident(cap)}


def saturation_caption(epochs: pd.DataFrame, classes: int) -> str:
    """Which variants the saturation panels leave out, and why (losses whose targets cap the
    softmax, as they declare); which of the drawn lines coincide."""
    from .captions import coinciding_text

    text = "Bands, where there are two seeds or more: 95% t-interval of the mean over seeds, clipped to [0, 1]."
    if "loss" not in epochs:
        return text
    caps = capped(epochs, classes)
    drawn = epochs[~epochs["loss"].isin(caps)]
    text += coinciding_text(drawn, ("val_mean_max_prob", "val_confident_wrong"))
    left = epochs[epochs["loss"].isin(caps)]
    if len(left):
        variants = list(dict.fromkeys(left["variant"]))
        peak = left.groupby(["variant", "epoch"])["val_mean_max_prob"].mean().max()
        bounds = ", ".join(f"`{loss}` {cap:.2f}" for loss, cap in caps.items())
        one = len(variants) == 1
        whose = "its loss's" if one else "their losses'"
        text += (f" {names(variants)} {'is' if one else 'are'} left out: {whose} "
                 f"targets cap the softmax (largest probability at the minimiser: {bounds}), below the {CONFIDENT:g} "
                 "that counts as confident, so a low confidently-wrong share is automatic for "
                 f"{'it' if one else 'them'}, not evidence of anything (measured here: mean max-probability at most "
                 f"{peak:.2f}).")
    return text


def overlay_caption(epochs: pd.DataFrame, table: pd.DataFrame, w: Why) -> tuple[str, list[str]]:
    """The direct test's overlay: which variants it shows and what to look for; empty list when the
    twin is missing."""
    from .captions import coinciding_text

    d = w.direct
    base = stats.shared_variant(table, w.base, w.reference)
    if d is None:
        why_not = {"untrained": f"no variant trains `{w.slow}`",
                   "diverged": f"every variant that trains `{w.slow}` has diverged runs"}.get(
            w.saturation.reason, f"`{w.slow}`'s initial gradient ratio to `{w.base}` is not measured (above)")
        return f"No overlay: {why_not}, so there is no direct test to draw.", []
    if d.twin is None:
        return (f"No overlay: the sweep has no `{w.base}` variant at lr {number(d.target_lr, '.2g')} (the direct test "
                "above says what to add)."), []
    if base is None:
        return f"No overlay: no `{w.base}` variant at the shared settings to draw for scale.", []
    shown = [d.slow_variant, d.twin, base]
    return (f"`{d.twin}` against `{d.slow_variant}` (and `{base}` at the shared lr for scale): validation accuracy and "
            "the effective step lr × ‖∂ℓ/∂z‖. If the initial gradient ratio is what sets the slow loss's pace, the "
            "first two lines track each other while that ratio holds."
            + coinciding_text(stats.with_lr(epochs[epochs["variant"].isin(shown)], table),
                              ("val_accuracy", "step_logit"))), shown


def ablation_caption(runs: pd.DataFrame, w: Why, epochs: pd.DataFrame | None = None) -> tuple[str, list[str]]:
    """The ablation section: which variants change more than the loss and what each is shown
    beside (its loss at the shared settings); returns the text and the variants to draw."""
    from .captions import coinciding_text
    from .words import changed_text

    ablated = stats.ablations(runs, w.reference)
    if not ablated:
        return (f"This sweep has no ablation variant (no variant of `{w.slow}` or another loss at other settings): "
                "every variant trains at the same settings, as on the comparison page."), []
    shown, parts = [], []
    for variant in ablated:
        base = stats.ablation_base(runs, variant, w.reference)
        loss = runs.loc[runs["variant"] == variant, "loss"].iloc[0]
        changed = changed_text(stats.changed_settings(runs, variant, w.reference))
        beside = f"; beside `{base}`" if base else "; its loss has no variant at the shared settings"
        parts.append(f"`{variant}` (`{loss}` at {changed}{beside})")
        shown += [v for v in (base, variant) if v and v not in shown]
    shared = settings_text(stats.shared_settings(runs, w.reference))
    drawn = epochs[epochs["variant"].isin(shown)] if epochs is not None else None
    return ("Each ablation changes a setting besides the loss, and is drawn beside its own loss at the shared "
            f"settings ({shared}): " + "; ".join(parts) + ". What each shows is said above, never as a ranking of "
            "the losses." + (coinciding_text(drawn, ("val_accuracy", "train_loss_relative")) if drawn is not None
                             else "")), shown
