"""The learning-rate study in words: ``lrstudy.Study`` records -> markdown and display tables.

Every sentence here reads a decision already made in ``lrstudy`` (numbers and decisions) or in
``lossbench.decisions`` (thresholds, the difference verdict); nothing here computes a result or
names a loss. Direction words (larger, smaller, lags, ahead) come from the numbers. The "Learning
rate" page shows ``method``, ``conclusion``, the captions and the displays; the *why* page
``why_note``. tests/test_lrstudy_words.py keeps the page's text as golden markdown per scenario.
"""

from __future__ import annotations

import pandas as pd

from . import decisions, stats
from .decisions import ALPHA, COLLAPSE, CONFIDENT, MIN_SEEDS_TO_RANK, NEAR_CHANCE, NEGLIGIBLE, SATURATED, VANISHED
from .losses import loss_info
from .lrstudy import (
    Comparison,
    Crossing,
    Saturation,
    Selected,
    Study,
    Sweep,
    most_confidently_wrong,
    saturated_anywhere,
)
from .words import acc as _acc
from .words import ci, margin_text, resolution_sentence, seeds
from .words import ci_points as _ci_points
from .words import number as _number
from .words import p_value as _p
from .words import points as _points

# --- small pieces ------------------------------------------------------------------------------------


def _lr_text(value: float) -> str:
    return _number(value, ".3g")


def _ratio(value: float) -> str:
    return _number(value, ".3g") + "×"


def _shift(ratio: float) -> str:
    """An lr ratio as words: 'a 50× larger lr', 'a 10× smaller lr', 'the same lr' (direction from the number)."""
    if ratio > 1:
        return f"a {_ratio(ratio)} larger lr"
    if ratio < 1:
        return f"a {_ratio(1 / ratio)} smaller lr"
    return "the same lr"


def _seed_counts(study: Study) -> str:
    counts = study.seeds
    return seeds(counts[0]) if len(counts) == 1 else f"{counts[0]}–{counts[-1]} seeds"


def _grid_text(grid) -> str:
    return (f"lr {_lr_text(grid[0])}" if len(grid) == 1 else
            f"{len(grid)} lrs from {_lr_text(grid[0])} to {_lr_text(grid[-1])}")


def _grids_text(grids: dict) -> str:
    """Losses' grids (loss -> grid) in words: the one grid when they share it, else each named."""
    if len(set(grids.values())) == 1:
        return _grid_text(next(iter(grids.values())))
    return "; ".join(f"`{loss}` {_grid_text(grid)}" for loss, grid in grids.items())


def _grid_step(grid) -> str:
    """'×3.16 apart' or '×3 to ×3.33 apart': how far apart neighbouring lrs of a grid are."""
    steps = [b / a for a, b in zip(grid, grid[1:])]
    if not steps:
        return ""
    low, high = min(steps), max(steps)
    return f"×{low:.3g} apart" if high / low < 1.01 else f"×{low:.3g} to ×{high:.3g} apart"


def _steps_of(grid, reference_grid, reference: str) -> str:
    """How far apart the points are that a crossing of the loss and of the reference is interpolated between:
    one phrase when the two grids' steps read alike, else each grid's ("×1.67 to ×2 apart; `cross_entropy`'s
    ×3 apart")."""
    own, theirs = _grid_step(grid), _grid_step(reference_grid)
    return own if own == theirs or not theirs else f"{own}; `{reference}`'s {theirs}" if own else theirs


def _mean_sd(spread) -> str:
    return _acc(spread.mean) + ("" if pd.isna(spread.sd) else f" ± {spread.sd:.4f}")


def _interval(spread, n: int, classes: int) -> str:
    """A 95% CI of an accuracy as the comparison page words it (clipped, below chance)."""
    if not spread.values:
        return "n/a"
    return ci(spread.low, spread.high, n, 1 / classes)


def _budget(study: Study) -> str:
    epochs = study.epochs
    return str(epochs[0]) if len(epochs) == 1 else f"{epochs[0]}–{epochs[-1]}"


def _epochs_text(study: Study) -> str:
    epochs = study.epochs
    return f"{_budget(study)} epoch{'s' if epochs[-1] != 1 else ''}"


def _names(losses) -> str:
    return " and ".join(f"`{x}`" for x in losses)


def empty_text() -> str:
    return ("No learning-rate study in these tables (config `lr_study:` is off, or it trained nothing): nothing to "
            "show. Turn the block on in `config/config.yaml` to train each loss over a grid of learning rates.")


# --- the method --------------------------------------------------------------------------------------

def method(study: Study) -> str:
    """The rules the page applies, with this study's numbers (markdown)."""
    if study.empty:
        return empty_text()
    grids = {row.loss: row.grid for row in study.selected}
    if len(set(grids.values())) == 1:
        step = _grid_step(next(iter(grids.values())))
        grids_text = f"the same for every loss: {_grids_text(grids)}" + (f", {step}" if step else "")
    else:
        grids_text = _grids_text(grids)
    ranking = ("" if study.can_rank else
               f", and with {_seed_counts(study)} per point (fewer than the {MIN_SEEDS_TO_RANK} a ranking needs) "
               "they could not be")
    return (f"Each loss trains the same network over a grid of learning rates ({grids_text}), "
            f"{_epochs_text(study)}, {_seed_counts(study)} per point; seed *s* starts every point from the same "
            "network and batch order. "
            "**Selected lr** of a loss: the lr of its grid with the highest mean **validation** accuracy after the "
            "final epoch; test accuracy is read only there, never used to choose. It is the grid's highest mean, not "
            f"a ranking of the lrs: neighbouring lrs are not tested against each other{ranking}. A point (loss, lr) "
            "with any diverged seed is **marked diverged** and is never selected: its final accuracy is what a "
            "non-finite network predicts. A selected lr at the smallest or largest lr of the loss's grid is not an "
            "optimum: the grid is too narrow on that side.")


# --- one loss's selected lr --------------------------------------------------------------------------

EDGE_TEXT = {"high": "; the highest is at the largest lr: the grid is too narrow on the high side for this loss",
             "low": "; the highest is at the smallest lr: the grid is too narrow on the low side for this loss"}


def selected_sentence(row: Selected, classes: int) -> str:
    """One loss's selected lr in words, saying when it is no optimum (edge of the grid), next to
    divergence, or no better than guessing at any lr of the grid."""
    name = f"`{row.loss}`"
    chance = 1 / classes
    if row.near_chance:
        return (f"{name}: below {NEAR_CHANCE * chance:.0%} validation accuracy at every lr of its grid "
                f"({_grid_text(row.grid)}; the highest, {_acc(row.val.mean)} at lr {_lr_text(row.lr)}, where guessing "
                f"gives {chance:.0%}): no lr of this grid trains it in this budget, so it has no selected lr worth "
                "the name" + EDGE_TEXT.get(row.edge, "") + ".")
    if pd.isna(row.lr):
        return f"{name}: every lr of its grid diverged ({_grid_text(row.grid)}): no lr is selected."
    if not pd.isna(row.diverged_from):
        who = "every seed" if row.every_seed_from else "at least one seed"
        from_ = f"; {who} diverged from lr {_lr_text(row.diverged_from)} up"
    elif row.diverged_lrs:
        from_ = f"; diverged (at least one seed) at lr {', '.join(map(_lr_text, row.diverged_lrs))}"
    else:
        from_ = "; no lr of its grid diverged"
    acc = f"validation accuracy {_mean_sd(row.val)}"
    if row.edge == "both":
        return (f"{name}: one lr only ({_lr_text(row.lr)}, {acc}): the grid is too narrow on both sides to "
                "show an optimum" + from_ + ".")
    if row.edge in ("low", "high"):
        end, side, other = (("smallest", "low", "smaller") if row.edge == "low" else ("largest", "high", "larger"))
        return (f"{name}: highest validation accuracy at the **{end}** lr of its grid, {_lr_text(row.lr)} "
                f"({acc}): the grid is **too narrow on the {side} side** for this loss, a {other} lr may do better; "
                "no optimum is shown" + from_ + ".")
    text = (f"{name}: selected lr **{_lr_text(row.lr)}** (the highest mean validation accuracy of its grid: "
            f"{_mean_sd(row.val)})" + from_)
    if row.next_diverged:
        text += "; the next lr of the grid diverged, so the optimum may lie between the two"
    return text + "."


def _edge_words(losses: list[str]) -> str:
    """'The selected lr of `a` is at the edge of its grid', or for several: '... are at the edges ...'."""
    return (f"The selected lr of {_names(losses)} is at the edge of its grid" if len(losses) == 1 else
            f"The selected lrs of {_names(losses)} are at the edges of their grids")


# --- the tuned comparison ----------------------------------------------------------------------------

_MARGIN = margin_text(decisions.EQUIVALENCE_MARGIN)  # '±1 point'
HEADLINES = {decisions.NEGLIGIBLE_KIND: "Tuned, `{loss}` matches `{reference}`",
             decisions.EQUIVALENT: "Tuned, `{loss}` is equivalent to `{reference}` within " + _MARGIN,
             decisions.NOT_WORSE: "Tuned, `{loss}` is not worse than `{reference}` by " + _MARGIN.removeprefix("±")
                                  + " or more",
             decisions.HIGHER: "Tuned, `{loss}` beats `{reference}`",
             decisions.LOWER: "Tuned, `{loss}` falls short of `{reference}`",
             decisions.TOO_FEW_SEEDS: "Tuned, `{loss}` against `{reference}`: too few seeds to rank them",
             decisions.UNCLEAR: "Tuned, `{loss}` against `{reference}`: no difference detected, and too uncertain "
                                "to call them equal",
             decisions.UNTESTED: "Tuned, `{loss}` against `{reference}`: one seed, not tested",
             decisions.IDENTICAL: "Tuned, `{loss}` and `{reference}` give the same test accuracy on every seed",
             decisions.DIVERGED: "Tuned, `{loss}` against `{reference}`: a run diverged, nothing to compare",
             "same function": "Tuned, `{loss}` against `{reference}`: the same function, not ranked"}
VERDICTS = {decisions.NEGLIGIBLE_KIND: "matches", decisions.EQUIVALENT: f"equivalent within {_MARGIN}",
            decisions.NOT_WORSE: f"not worse by {_MARGIN.removeprefix('±')} or more",
            decisions.HIGHER: "beats", decisions.LOWER: "falls short",
            decisions.TOO_FEW_SEEDS: "too few seeds to rank", decisions.UNCLEAR: "too uncertain to tell",
            decisions.UNTESTED: "not tested (one seed)", decisions.IDENTICAL: "identical",
            decisions.DIVERGED: "diverged", "same function": "the same function"}


def _kind(row: Comparison) -> str:
    return "same function" if row.same_function else row.verdict.kind


def headline(row: Comparison) -> str:
    """The comparison of a tuned loss with the tuned reference in a few words."""
    return HEADLINES[_kind(row)].format(loss=row.loss, reference=row.reference)


def _reason(row: Comparison) -> str:
    v = row.verdict
    kind = _kind(row)
    if kind == "same function":
        return (f"`{row.loss}` is declared the same function as `{row.reference}`: its runs repeat the experiment, "
                "so they are not ranked against it")
    if kind == decisions.NEGLIGIBLE_KIND:
        return f"the whole interval lies within ±{NEGLIGIBLE * 100:g} points"
    if kind in (decisions.HIGHER, decisions.LOWER):
        return (f"{kind}, detected at Holm-adjusted p < {ALPHA} with {seeds(v.seeds)} per side, and not "
                "negligible" + (f"; the whole interval lies within the pre-stated margin of {_MARGIN}, so {kind} by "
                                "less than the margin" if v.within_margin else ""))
    if kind == decisions.EQUIVALENT:
        return (f"the whole interval lies within the pre-stated margin of {_MARGIN} (not within "
                f"±{NEGLIGIBLE * 100:g} points: not negligible)")
    if kind == decisions.NOT_WORSE:
        width = _MARGIN.removeprefix("±")
        return (f"the whole interval lies above -{width}, the pre-stated margin, but reaches past +{width}, so "
                "not equivalent"
                + ("" if decisions.can_rank(v.seeds) else
                   f"; with {seeds(v.seeds)} per side this ranks nothing (a ranking needs {MIN_SEEDS_TO_RANK} or "
                   "more)"))
    if kind == decisions.TOO_FEW_SEEDS:
        df = "one degree" if v.seeds == 2 else f"{v.seeds - 1} degrees"
        return (f"{seeds(v.seeds)} per side (a t-test with {df} of freedom), fewer than the {MIN_SEEDS_TO_RANK} a "
                "ranking needs, whatever the interval and p")
    if kind == decisions.UNCLEAR:
        if v.low > 0 or v.high < 0:  # the interval is per comparison; the test is adjusted for all of them
            return (f"not detected at Holm-adjusted p < {ALPHA} across the losses compared, although this "
                    "interval, not adjusted for them, excludes 0")
        return (f"no difference detected, and the interval reaches below -{_MARGIN.removeprefix('±')}, the "
                "pre-stated margin, too wide to call them equal, equivalent or one not worse")
    if kind == decisions.IDENTICAL:
        return "every seed of both gives the same test accuracy: nothing to test"
    return "one seed on a side: no interval and no test"


def comparison_sentence(row: Comparison, named: bool = True) -> str:
    """One loss at its selected lr against the reference at its own, in words: the numbers, then the
    verdict in bold and why (``named``: the verdict word too; else only why, after a headline)."""
    v = row.verdict
    text = (f"`{row.loss}` at lr {_lr_text(row.lr)} against `{row.reference}` at lr {_lr_text(row.reference_lr)}: "
            f"test accuracy {_acc(row.mean)} vs {_acc(row.reference_mean)}, {_points(v.difference)} points")
    if not pd.isna(v.low):
        pairing = (f"paired over {row.n_paired} seeds" if row.n_paired >= 2 else
                   "Welch interval: the seeds do not pair up")
        test = f", Holm-adjusted p {_p(v.p_holm)}" if not pd.isna(v.p_holm) else ""
        text += f" ({_ci_points(v.low, v.high)}, {pairing}{test})"
    return text + (f": **{VERDICTS[_kind(row)]}** — " if named else ": ") + _reason(row)


# --- the gradient scale ------------------------------------------------------------------------------

def _threshold_text(row: Selected) -> str:
    if row.threshold_kind == "interpolated":
        return _lr_text(row.threshold_lr)
    if row.threshold_kind == "below":
        return f"≤ {_lr_text(row.threshold_lr)} (the smallest lr)"
    return "not reached"


def _bound_text(scale) -> str:
    return {"at most": "≤ ", "at least": "≥ "}[scale.bound] + _ratio(scale.bound_value) if scale.bound else ""


def _theory_text(study: Study, loss: str, theory: float | None) -> str:
    """The theory's ratio, or that there is none (measured only), naming the loss that declares nothing."""
    if theory is not None:
        return f"; theory (the declared gradient scales): {_shift(theory)}"
    return f"; no theory ({_undeclared(study, loss)}): measured only"


def _undeclared(study: Study, loss: str) -> str:
    missing = [x for x in dict.fromkeys((loss, study.reference)) if loss_info(x).predicted_scale(study.classes) is None]
    return f"{_names(missing)} declare{'s' if len(missing) == 1 else ''} no gradient scale"


def _unmeasured(study: Study, loss: str) -> str:
    """Why a loss has no measured gradient scale: whose epoch-0 gradient norm is missing or not finite."""
    who = [x for x in dict.fromkeys((loss, study.reference))
           if study.of(x, "scales") is None or pd.isna(study.of(x, "scales").initial_norm)]
    return f"no finite epoch-0 logit-gradient norm of {_names(who)}"


def scale_sentence(study: Study, loss: str) -> str:
    """How much of ``loss``'s shift in lr its gradient scale explains: the threshold-lr ratio measured
    against the one its initial gradient predicts (and the theory), and how well the curves collapse."""
    ref, threshold = study.reference, f"{study.threshold:g}"
    r, row, ref_row = study.of(loss, "scales"), study.of(loss), study.of(ref)
    if pd.isna(r.predicted):
        return f"`{loss}`: the gradient scale is not measured ({_unmeasured(study, loss)})."
    scale = _number(r.scale, ".4f" if r.scale < 1 else ".3g")
    predicted = (f"its initial logit gradient is {scale}× `{ref}`'s (measured), so {_shift(r.predicted)} is "
                 f"predicted{_theory_text(study, loss, r.theory)}")
    reached = f"the lr at which it first reaches {threshold} validation accuracy after epoch 1"
    if row.threshold_kind == "not reached" or ref_row.threshold_kind == "not reached":
        who = [x for x in (loss, ref) if study.of(x).threshold_kind == "not reached"]
        return (f"`{loss}`: {predicted}; {reached} is not measured: {_names(who)} never reach"
                f"{'es' if len(who) == 1 else ''} it on the grid.")
    if pd.isna(r.measured) and r.seeds_outside:
        return (f"`{loss}`: {predicted}; {reached} is **not a point estimate** on this grid: the curves of the means "
                f"cross inside the grids ({_lr_text(row.threshold_lr)} against {_lr_text(ref_row.threshold_lr)} for "
                f"`{ref}`), but {_outside_text(study, r.seeds_outside, study.threshold)}, so the means mix a located "
                "crossing with one that is not. Seed by seed and over thresholds: below.")
    if pd.isna(r.measured):
        bound = _bound_text(r)
        bounds = (f"({bound + '; ' if bound else ''}{_threshold_text(row)} against {_threshold_text(ref_row)} "
                  f"for `{ref}`)")
        return (f"`{loss}`: {predicted}; {reached} is only bounded {bounds}: the smallest lr of a grid already "
                "reaches it, so the grid cannot place it.")
    text = (f"`{loss}`: {predicted}; **{_ratio(r.measured)} is measured** ({reached}: "
            f"{_lr_text(row.threshold_lr)} against {_lr_text(ref_row.threshold_lr)} for `{ref}`, each "
            f"interpolated between grid points {_steps_of(row.grid, ref_row.grid, ref)}"
            + (f"; seed by seed: {', '.join(_ratio(v) for v in r.per_seed)}" if len(r.per_seed) > 1 else "")
            + "). ")
    if r.reading == "whole":
        text += "The gradient scale accounts for the whole shift."
    elif r.reading == "more" and r.predicted > 1:
        text += (f"The gradient scale accounts for a factor {_number(r.predicted, '.3g')} of it; a further "
                 f"{_ratio(r.factor)} is not explained by it.")
    elif r.reading == "more":
        text += (f"It needs a {_ratio(r.factor)} larger lr than the gradient scale predicts: after epoch 1 it lags "
                 f"`{ref}` at the same effective lr.")
    else:
        text += (f"It needs a {_ratio(1 / r.factor)} smaller lr than the gradient scale predicts: after epoch 1 it "
                 f"is ahead of `{ref}` at the same effective lr.")
    if len(r.per_seed) > 1 and r.reading != "whole":
        if r.seeds_straddle:
            text += " The seeds fall on both sides of the prediction, so these seeds do not settle the difference."
        else:
            text += f" Every seed's ratio is {'above' if r.reading == 'more' else 'below'} the predicted one."
    return text + collapse_text(study, loss)


# --- the threshold-lr ratio over thresholds and seeds --------------------------------------------------

def _grid_end(study: Study, loss: str, kind: str) -> str:
    grid = study.of(loss).grid
    return f"≤ {_lr_text(grid[0])}" if kind == "below" else f"> {_lr_text(grid[-1])}"


def _outside_text(study: Study, outside, threshold: float) -> str:
    """'seed 1 of `cross_entropy` reaches 0.5 below its grid (< 0.03)' for each (loss, seed, kind)."""
    parts = []
    for loss, seed, kind in outside:
        where = (f"reaches {threshold:g} already at its smallest lr, below its grid ({_grid_end(study, loss, kind)})"
                 if kind == "below" else f"never reaches {threshold:g} on its grid")
        parts.append(f"seed {seed} of `{loss}` {where}")
    return "; ".join(parts)


def crossing_cell(study: Study, c: Crossing) -> str:
    """One crossing as a table cell: the ratio, a bound naming the grid's end, or why there is none."""
    if c.measured:
        return _ratio(c.ratio)
    if c.seed is None and c.seeds_outside and (c.kind, c.reference_kind) == ("interpolated", "interpolated"):
        who = ", ".join(f"{loss} seed {seed}" for loss, seed, _ in c.seeds_outside)
        return f"— ({who} outside the grid)"
    if c.bound:
        loss = c.loss if c.bound == "at most" else study.reference
        return (f"{'≤' if c.bound == 'at most' else '≥'} {_ratio(c.bound_value)} ({loss} below the grid: ≤ "
                f"{_lr_text(study.of(loss).grid[0])})")
    missing = [(x, k) for x, k in ((c.loss, c.kind), (study.reference, c.reference_kind)) if k != "interpolated"]
    return "— (" + "; ".join(f"{x} {'below the grid' if k == 'below' else 'never reaches it'}"
                             for x, k in missing) + ")"


def sweep_display(study: Study, loss: str) -> pd.DataFrame | None:
    """Per threshold (rows): the threshold-lr ratio of ``loss`` to the reference for the means and each seed,
    and the means' ratio over the predicted one (the residual), as strings."""
    sweep = study.of(loss, "sweeps")
    if sweep is None:
        return None
    rows = []
    for t in sweep.thresholds:
        means = sweep.at(t)
        row = {"val. accuracy after epoch 1": f"{t:g}" + (" (the page's)" if t == study.threshold else ""),
               "means": crossing_cell(study, means)}
        row |= {f"seed {seed}": crossing_cell(study, sweep.at(t, seed)) for seed in sweep.seeds}
        row["means ÷ predicted"] = (_ratio(means.ratio / sweep.predicted) if means.measured
                                    and not pd.isna(sweep.predicted) else "—")
        rows.append(row)
    return pd.DataFrame(rows).set_index("val. accuracy after epoch 1")


def _widen_text(study: Study, sweep: Sweep) -> str:
    parts = [f"{'below' if side == 'below' else 'above'} {_lr_text(study.of(x).grid[0 if side == 'below' else -1])} "
             f"for `{x}`" for x, side in sweep.widen]
    return ("To place every crossing the grid must be widened " + " and ".join(parts) + ". ") if parts else ""


def sweep_text(study: Study, loss: str) -> str:
    """How the threshold-lr ratio of ``loss`` moves with the threshold and the seed, against the prediction,
    at the grids' resolution; where a grid cannot place a crossing (markdown)."""
    sweep = study.of(loss, "sweeps")
    if sweep is None:
        return ""
    ref = study.reference
    thresholds = f"{sweep.thresholds[0]:g}–{sweep.thresholds[-1]:g}" if len(sweep.thresholds) > 1 else \
        f"{sweep.thresholds[0]:g}"
    resolution = (f"each crossing interpolated in log lr between neighbouring grid points, at most "
                  f"×{sweep.step:.3g} apart: that factor is the grid's resolution" if not pd.isna(sweep.step) else
                  "one lr per grid: no crossing can be interpolated")
    text = (f"`{loss}` against `{ref}` at thresholds {thresholds} (validation accuracy after epoch 1; {resolution}). ")
    outside = sweep.outside
    if not sweep.ratios():
        return text + ("No threshold gives a ratio: at every one, a curve crosses outside its grid or never. "
                       + _widen_text(study, sweep))
    n_seed = sum(1 for c in sweep.crossings if c.seed is not None)
    span = (f"is **{_ratio(sweep.low)}**" if _ratio(sweep.low) == _ratio(sweep.high) else
            f"runs from **{_ratio(sweep.low)} to {_ratio(sweep.high)}**")
    text += (f"Where both cross inside their grids ({len(sweep.ratios())} of {len(sweep.crossings)} crossings, means "
             f"and seeds) the ratio {span}")
    if not pd.isna(sweep.predicted):
        low, high = sweep.low / sweep.predicted, sweep.high / sweep.predicted
        part = _ratio(low) if _ratio(low) == _ratio(high) else f"{_ratio(low)} to {_ratio(high)}"
        text += (f", against {_ratio(sweep.predicted)} predicted by the initial gradient scale: measured ÷ predicted "
                 f"is {part} (1 where the scale accounts for the whole shift). ")
        means = [c.ratio / sweep.predicted for c in sweep.crossings if c.seed is None and c.measured]
        if len(means) > 1:
            text += (f"The threshold's choice moves it: the means give {_ratio(min(means))} to "
                     f"{_ratio(max(means))} over the {len(means)} thresholds where they are a point estimate. ")
        elif len(means) == 1:
            text += "The means are a point estimate at one threshold only. "
        if sweep.within_step:
            text += (f"Each crossing is placed only within its grid interval (×{sweep.step:.3g}), and the whole "
                     "departure from the prediction is smaller than that: a denser grid around the crossings is "
                     "needed to resolve it. ")
    else:
        text += ": no prediction (the gradient scale is not measured). "
    if outside:
        text += (f"{len(outside)} of {n_seed} seed crossings lie outside a grid and are given as bounds, never as "
                 "point estimates. ")
    return text + _widen_text(study, sweep)


def collapse_text(study: Study, loss: str) -> str:
    """The collapse measure for ``loss`` in words, after epoch 1 and after the final epoch."""
    parts, span = [], ""
    for row, when in ((study.of(loss, "collapse1"), "after epoch 1"),
                      (study.of(loss, "collapse_final"), "after the final epoch")):
        if row is None or not row.compared:
            continue
        span = (f"on `{study.reference}`'s rising side (lr {_lr_text(row.rising_low)}–"
                f"{_lr_text(row.rising_high)}, {row.compared} of its points there), collapsed meaning within "
                f"{COLLAPSE * 100:g} points at every lr compared (looser than the ±{NEGLIGIBLE * 100:g} points that "
                "make a difference negligible)")
        gap = abs(row.largest)
        text = (f"{when} {'within' if row.collapsed else 'up to'} {gap * 100:.1f} points of `{study.reference}`'s "
                f"curve (largest gap {_points(row.largest)} points at its lr {_lr_text(row.at_lr)}, median gap "
                f"{row.median * 100:.1f} points")
        if not pd.isna(row.seed_spread):
            text += f"; the seeds of one point differ by up to {row.seed_spread * 100:.1f} there"
        text += ")"
        if row.collapsed:
            text += ": **collapsed**"
        elif row.within_seed_spread:
            text += ": not collapsed, though no gap exceeds the seeds' own spread"
        else:
            text += ": **not collapsed**"
        parts.append(text)
    if not parts:
        return (f" Against the effective lr its curves are not compared with `{study.reference}`'s: no point of it "
                f"falls on `{study.reference}`'s rising side, or that side has fewer than two points.")
    return f" Against the effective lr, {span}: " + "; ".join(parts) + "."


# --- saturation --------------------------------------------------------------------------------------

def _capped_text(row: Saturation, classes: int) -> str:
    return (f"it declares capped outputs (its minimiser's largest softmax probability is {row.cap:.2f} with "
            f"C = {classes}, not above the {CONFIDENT:g} that counts as confident)")


def saturation_sentence(row: Saturation, classes: int) -> str:
    """Where saturation shows for one loss, or that it does not, or cannot."""
    name = f"`{row.loss}`"
    if row.reading == "capped":
        return (f"{name}: not read — {_capped_text(row, classes)}, so a low share of confidently wrong images is "
                "no evidence.")
    if row.reading == "diverged":
        return f"{name}: not read — every lr diverged."
    if row.reading == "none":
        return (f"{name}: no saturation on its grid — at its largest lr that did not diverge, {_lr_text(row.lr)}, "
                f"{row.confident_wrong * 100:.1f}% of validation images are confidently wrong (p > {CONFIDENT:g}) "
                "after the final epoch" + (" (mean over seeds)." if row.n > 1 else "."))
    seeds = ("its one seed" if row.n == 1 else "every seed" if row.saturated == row.n else
             f"{row.saturated} of {row.n} seeds") + (" (mean over them)" if row.saturated > 1 else "")
    against = ("its selected lr" if row.lr == row.selected_lr else
               f"against {_acc(row.selected_val)} at its selected lr {_lr_text(row.selected_lr)}")
    text = (f"{name} at lr {_lr_text(row.lr)}: final validation accuracy {_acc(row.val_mean)} ({against}); "
            f"in {seeds} **{row.confident_wrong * 100:.0f}% of validation images are confidently wrong** "
            f"(p > {CONFIDENT:g}) after the final epoch, with a logit-gradient norm of "
            f"{_number(row.final_grad, '.2g')} in the last epoch against {_number(row.initial_grad, '.2g')} at "
            "initialisation")
    if row.vanished and row.softmax_head:
        text += (": the outputs saturate, and where the softmax saturates its Jacobian, and with it the gradient of a "
                 "loss on its outputs, vanishes")
    elif row.vanished:
        text += f": the outputs saturate, and the logit gradient has fallen below {VANISHED:g}× its initial value"
    else:
        text += ": the outputs saturate"
    if row.saturated < row.n:
        other = "the other seed ends" if row.n - row.saturated == 1 else "the other seeds end"
        text += (f"; {other} with validation accuracy {_acc(row.others_val)} and mean max-probability "
                 f"{_number(row.others_max_prob, '.2f')} (uniform outputs: 1/C = {1 / classes:.2f}), not "
                 "confidently wrong")
    return text + "."


# --- the conclusion ----------------------------------------------------------------------------------

def conclusion(study: Study) -> str:
    """The page's conclusion in plain words, every claim read from the study (markdown list)."""
    if study.empty:
        return empty_text()
    ref, slow = study.reference, study.slow_loss
    lines = [f"- {selected_sentence(row, study.classes)}" for row in study.selected]
    ref_row = study.of(ref)
    if ref_row is None:
        lines.append(f"- The reference `{ref}` is not in the study: no loss is compared with it, no effective lr "
                     "and no threshold-lr ratio is computed.")
    elif pd.isna(ref_row.lr):
        lines.append(f"- The reference `{ref}` diverged at every lr: no loss is compared with it.")
    slow_row = study.of(slow, "comparisons")
    if study.of(slow) is None:
        lines.append(f"- `{slow}` is not in the study: whether it matches `{ref}` once tuned is not measured here.")
    elif slow_row is not None:
        caveat = [x for x in (slow, ref) if study.of(x).edge]
        untrained = [x for x in (slow, ref) if study.of(x).near_chance]
        lines.append(f"- **{headline(slow_row)}** at this budget ({_epochs_text(study)}): "
                     + comparison_sentence(slow_row, named=False) + "."
                     + (f" ⚠ {_edge_words(caveat)}: a better lr may lie outside the grid, so this may not compare "
                        "each loss at the lr that suits it." if caveat else "")
                     + (f" ⚠ {_names(untrained)} stay{'s' if len(untrained) == 1 else ''} below "
                        f"{NEAR_CHANCE / study.classes:.0%} validation accuracy at every lr of the grid: this compares "
                        "a loss that did not train, not a tuned one." if untrained else ""))
    lines += [f"- {comparison_sentence(row)}." for row in study.comparisons if row.loss != slow]
    resolution = resolution_sentence(f"`{ref}` (lr {_lr_text(ref_row.lr)})" if ref_row is not None else "", [
        (f"`{row.loss}` (lr {_lr_text(row.lr)})", row.verdict, row.resolution)
        for row in study.comparisons if not row.same_function])
    lines += [f"- {resolution}"] if resolution else []
    if ref_row is not None:
        lines += [f"- Gradient scale: {scale_sentence(study, loss)}" for loss in study.losses if loss != ref]
    lines += [f"- Saturation: {saturation_sentence(row, study.classes)}" for row in study.saturation]
    if study.seeds == (1,):
        lines.append("- One seed per point: no interval and no test; add seeds to the study to measure the spread.")
    return "\n".join(lines)


# --- tables ------------------------------------------------------------------------------------------

def table_display(study: Study) -> pd.DataFrame | None:
    """Per loss: selected lr, validation and test accuracy there (mean ± sd, 95% CI), the threshold lr
    after epoch 1, its ratio to the reference's, the predicted ratio and the theory (strings)."""
    if study.empty:
        return None
    rows = []
    for row in study.selected:
        chosen = _lr_text(row.lr) if not pd.isna(row.lr) else "— every lr diverged"
        if row.edge:
            chosen += {"low": " ⚠ smallest of grid", "high": " ⚠ largest of grid", "both": " ⚠ only lr"}[row.edge]
        r = study.of(row.loss, "scales")
        reference = row.loss == study.reference
        measured = _ratio(r.measured) if not pd.isna(r.measured) else _bound_text(r)
        rows.append({
            "loss": row.loss, "selected lr (validation)": chosen,
            "val. accuracy": _mean_sd(row.val), "val. 95% CI": _interval(row.val, row.val.n, study.classes),
            "test accuracy": _mean_sd(row.test), "test 95% CI": _interval(row.test, row.test.n, study.classes),
            f"lr reaching {study.threshold:g} val. after epoch 1": _threshold_text(row),
            f"÷ {study.reference}'s": "1 (reference)" if reference else (measured or "n/a"),
            "predicted (gradient scale)": "" if reference else _number(r.predicted, ".3g") + (
                "×" if not pd.isna(r.predicted) else ""),
            "theory (declared)": "" if reference else ("none declared" if r.theory is None else
                                                       _ratio(r.theory)),
        })
    return pd.DataFrame(rows).set_index("loss")


def comparison_caption(study: Study) -> str:
    """What the comparison table holds, or why there is none."""
    if study.empty:
        return empty_text()
    if not study.comparisons:
        ref = study.of(study.reference)
        if ref is None:
            why = f"the reference `{study.reference}` is not in the study"
        elif pd.isna(ref.lr):
            why = f"the reference `{study.reference}` diverged at every lr"
        elif len(study.selected) == 1:
            why = f"`{study.reference}` is the only loss in the study"
        else:
            why = "every other loss diverged at every lr"
        return f"Nothing to compare: {why}."
    return (f"Test accuracy, paired by seed (seed *s* starts both from the same network). A difference is called "
            f"negligible only when its whole 95% CI lies within ±{NEGLIGIBLE * 100:g} points, whatever the test says; "
            f"it ranks the losses only at Holm-adjusted p < {ALPHA} (Holm's method across the losses "
            f"compared) with at least {MIN_SEEDS_TO_RANK} seeds per side. Not ranked, it is equivalent when its whole "
            f"95% CI lies within {_MARGIN} (the pre-stated margin), and not worse when the whole CI lies above "
            f"-{_MARGIN.removeprefix('±')}.")


def comparison_display(study: Study) -> pd.DataFrame | None:
    """The paired comparisons at the selected lrs, for reading; None when there is none."""
    c = study.comparisons
    if not c:
        return None
    return pd.DataFrame({
        "loss (selected lr)": [f"{row.loss} ({_lr_text(row.lr)})" for row in c],
        f"{study.reference} (selected lr)": [f"{study.reference} ({_lr_text(row.reference_lr)})" for row in c],
        "difference (points)": [_points(row.verdict.difference) for row in c],
        "95% CI of the difference": [_ci_points(row.verdict.low, row.verdict.high).removeprefix("95% CI ")
                                     .replace(" points", "") for row in c],
        "seeds paired": [row.n_paired for row in c], "test": [row.test or "none" for row in c],
        "Holm-adjusted p": ["" if pd.isna(row.verdict.p_holm) else _p(row.verdict.p_holm).removeprefix("= ")
                            for row in c],
        "verdict": [VERDICTS[_kind(row)] for row in c],
    }).set_index("loss (selected lr)")


def points_display(study: Study) -> pd.DataFrame | None:
    """Every point of the grid: seeds, divergence, final and epoch-1 validation, final test accuracy
    (mean ± sd over seeds), confidently-wrong share (mean, and the seeds' range where they differ;
    not read for a capped loss). Strings; a diverged point's accuracies are not shown."""
    if study.empty:
        return None
    capped = {row.loss for row in study.saturation if row.reading == "capped"}

    def acc(spread, diverged):
        return "⚠ diverged" if diverged else _mean_sd(spread)

    def wrong(p):
        if p.loss in capped:
            return "not read (capped)"
        share = p.confident_wrong
        if p.diverged or pd.isna(share.mean):
            return ""
        low, high = min(share.values), max(share.values)
        return f"{share.mean * 100:.1f}%" + (f" ({low * 100:.1f}–{high * 100:.1f}%)" if high > low else "")

    p = study.points
    return pd.DataFrame({
        "loss": [x.loss for x in p], "lr": [_lr_text(x.lr) for x in p],
        "effective lr": [_number(x.effective_lr, ".3g") for x in p],
        "seeds (diverged)": [f"{x.n}" + (f" ({x.n_diverged})" if x.n_diverged else "") for x in p],
        "val. after epoch 1": [acc(x.val1, x.diverged1) for x in p],
        "val. final": [acc(x.val, x.diverged) for x in p],
        "test final": [acc(x.test, x.diverged) for x in p],
        "confidently wrong (final)": [wrong(x) for x in p],
    }).set_index(["loss", "lr"])


# --- captions ----------------------------------------------------------------------------------------

def _band_text(study: Study) -> str:
    counts = set(study.seeds)
    if counts == {1}:
        return "One seed per point: each line is that run, with no band (an interval needs two seeds)."
    from .decisions import MIN_SEEDS_FOR_BAND

    if min(counts) < MIN_SEEDS_FOR_BAND:  # lrstudy_figures.banded: no band drawn
        why = ("a point has one seed" if min(counts) == 1 else
               f"with 2 seeds a 95% t-interval of the mean reaches {stats.t95(2) / 2:.1f} times the gap between them "
               "either side of the mean" if min(counts) == 2 else
               f"with {min(counts)} seeds a 95% t-interval is ± {stats.t95(min(counts)):.3g} × sd/√{min(counts)}")
        return (f"Line: the mean over seeds; dots: each seed. No band ({why}; a band is drawn from "
                f"{MIN_SEEDS_FOR_BAND} seeds per point): read the dots.")
    return "Line: the mean over seeds; band: its 95% t-interval, clipped to [0, 1]; dots: each seed."


def _diverged_text(study: Study, losses, epoch1: bool = False) -> str:
    """Which points the × marks stand for among ``losses`` (those drawn), and that nothing else is drawn
    there; ``epoch1``: the figure's right panel reads epoch 1, where only a seed diverged by then counts."""
    bad = [p for p in study.points if p.loss in losses and (p.diverged or (epoch1 and p.diverged1))]
    if not bad:
        elsewhere = any(p.diverged for p in study.points)  # a point of a loss not drawn here diverged
        return (" No point drawn here diverged." if elsewhere else
                " No point diverged after epoch 1 or at all." if epoch1 else " No point diverged.")
    by_loss = {}
    for p in bad:
        by_loss.setdefault(p.loss, []).append(_lr_text(p.lr))
    listed = "; ".join(f"`{loss}` at lr {', '.join(lrs)}" for loss, lrs in by_loss.items())
    lrs = [p.lr for p in bad]
    shared = " (side by side where losses diverged at the same lr)" if len(set(lrs)) < len(lrs) else ""
    which = ("a point with a seed diverged by epoch 1 (right) or at all (left)" if epoch1 else
             "a point with a diverged seed")
    return (f" × on the axis bottom{shared}: {which} ({listed}); its values are what a non-finite network gives, "
            "not real ones, so they are not drawn.")


def lr_caption(study: Study) -> str:
    if study.empty:
        return empty_text()
    return (f"Validation accuracy after the final epoch ({_budget(study)}) against the learning rate, log scale, one "
            "curve per loss (the same colour on every figure of this page). " + _band_text(study)
            + _diverged_text(study, study.losses))


def effective_caption(study: Study) -> str:
    """What the effective-lr figure shows, with each loss's measured gradient scale."""
    if study.empty:
        return empty_text()
    if not study.reference_measured:
        return (f"No effective lr: the reference `{study.reference}` has no runs in the study, so no loss's "
                "gradient scale can be measured against it.")
    scales = ", ".join(f"`{r.loss}` {r.scale:.4g}" for r in study.scales
                       if r.loss != study.reference and not pd.isna(r.scale))
    others = [x for x in study.losses if x != study.reference]
    if not others:
        return (f"No effective lr to compare: `{study.reference}`, the reference, is the only loss in the study (its "
                "effective lr is its lr).")
    if not scales:
        why = (_unmeasured(study, others[0]) if len(others) == 1 else
               "no loss other than the reference has a finite epoch-0 logit-gradient norm")
        return f"No effective lr to compare: {why}, so no gradient scale is measured."
    text = (f"The same validation accuracies against the **effective learning rate** lr × (mean initial "
            f"logit-gradient norm of the loss ÷ that of `{study.reference}`, over each loss's runs at epoch 0: "
            f"{scales}). Left: after the final epoch; right: after epoch 1, where the gradient "
            "scale measured at initialisation should predict most closely. If that scale is what sets each loss's "
            f"pace, the curves fall onto `{study.reference}`'s on its rising side")
    if study.collapse1:
        row = study.collapse1[0]
        text += (f" (grey, right: lr {_lr_text(row.rising_low)} to its peak after epoch 1 at "
                 f"{_lr_text(row.rising_high)})")
    return text + (f"; the conclusion calls them collapsed where within {COLLAPSE * 100:g} points of it at every lr "
                   f"compared, a tolerance looser than the ±{NEGLIGIBLE * 100:g} points that make a difference "
                   f"negligible. The dotted line is the threshold {study.threshold:g} that defines each loss's "
                   "threshold lr. " + _band_text(study) + _diverged_text(study, study.losses, epoch1=True))


def saturation_caption(study: Study) -> str:
    if study.empty:
        return empty_text()
    capped = [row for row in study.saturation if row.reading == "capped"]
    if not saturated_anywhere(study):  # the figure is not drawn: nothing crosses its line
        share, point = most_confidently_wrong(study)
        text = "No figure: no seed ends saturated anywhere on the grid"
        if point is not None:
            text += (f" (more than {SATURATED:.0%} of its validation images wrong with more than {CONFIDENT:g} "
                     f"probability after the final epoch); the largest share for one seed is {share:.1%}, "
                     f"`{point.loss}` at lr {_lr_text(point.lr)}.")
        else:
            text = "No figure: no point of a loss whose outputs can saturate stayed finite, so none is read here."
        for row in capped:
            text += f" `{row.loss}` is not read: {_capped_text(row, study.classes)}."
        return text
    text = (f"Share of validation images the network gets wrong with more than {CONFIDENT:g} probability, after the "
            f"final epoch: line, the mean over seeds; dots, each seed. Dotted: {SATURATED:.0%}; a seed above it is "
            "what this page calls saturated.")
    for row in capped:
        text += f" `{row.loss}` left out: {_capped_text(row, study.classes)}, so it is not read."
    shown = [x for x in study.losses if x not in {row.loss for row in capped}]
    return text + _diverged_text(study, shown)


# --- the why page ------------------------------------------------------------------------------------

def why_note(study: Study | None):
    """The *why* page's line on the study (IPython Markdown), or None when the study is off (``study`` None)."""
    from IPython.display import Markdown

    return None if study is None else Markdown(why_text(study))


def why_text(study: Study) -> str:
    """The study's answer for the *why* page, with a link to the page (markdown list item)."""
    link = "[Learning rate](learning-rate.html)"
    ref, slow = study.reference, study.slow_loss
    if study.of(slow) is None or study.of(ref) is None:
        missing = _names(x for x in (slow, ref) if study.of(x) is None)
        return f"- The learning-rate study ({link}) does not train {missing}, so it adds nothing here."
    grids = {x: study.of(x).grid for x in (slow, ref)}
    epochs = study.epochs[-1]
    single = [x for x in (slow, ref) if len(grids[x]) == 1]
    trains = ("tunes each loss's lr on validation accuracy" if not single else
              "trains each loss at one lr only, so it tunes nothing" if len(single) == 2 else
              f"tunes `{next(x for x in (slow, ref) if x not in single)}`'s lr on validation accuracy but trains "
              f"`{single[0]}` at one lr only")
    text = (f"- **The learning-rate study** ({link}) {trains} "
            f"({_grids_text(grids)}, {epochs} epoch{'s' if epochs != 1 else ''}, {_seed_counts(study)}). ")
    row = study.of(slow, "comparisons")
    if row is not None:
        v = row.verdict
        text += (f"{headline(row)}. Test accuracy {_acc(row.mean)} at lr {_lr_text(row.lr)} "
                 f"against {_acc(row.reference_mean)} at lr {_lr_text(row.reference_lr)} "
                 f"({_points(v.difference)} points, {_ci_points(v.low, v.high)})")
        edge = [x for x in (slow, ref) if study.of(x).edge]
        text += f"; ⚠ {_edge_words(edge)[0].lower() + _edge_words(edge)[1:]}. " if edge else ". "
    else:
        unselected = [x for x in (slow, ref) if pd.isna(study.of(x).lr)]
        why = f"every lr of {_names(unselected)} diverged" if unselected else "it is the reference"
        text += f"`{slow}` is not compared with `{ref}` there ({why}). "
    r = study.of(slow, "scales")
    if pd.isna(r.measured) and r.seeds_outside:
        return text + (f"Its threshold-lr ratio to `{ref}` is not a point estimate on this grid: "
                       f"{_outside_text(study, r.seeds_outside, study.threshold)}; seed by seed and over thresholds: "
                       "see the page.")
    if pd.isna(r.measured):
        return text + f"Its threshold-lr ratio to `{ref}` is not measured on this grid (see the page)."
    theory = (f" (theory from the declared gradient scales: {_shift(r.theory)})" if r.theory is not None else
              f" (no theory: {_undeclared(study, slow)}; measured only)")
    if pd.isna(r.predicted):
        reading = "its gradient scale is not measured"
        predicted = ""
    else:
        predicted = f", where its initial gradient scale predicts {_shift(r.predicted)}"
        reading = ("the scale accounts for the whole shift" if r.reading == "whole" else
                   f"the scale accounts for a factor {_number(r.predicted, '.3g')}, a further {_ratio(r.factor)} is "
                   "not explained by it" if r.reading == "more" and r.predicted > 1 else
                   f"it needs a {_ratio(r.factor)} larger lr than the scale predicts" if r.reading == "more" else
                   f"it needs a {_ratio(1 / r.factor)} smaller lr than the scale predicts")
    return text + (f"To first reach validation accuracy {study.threshold:g} after epoch 1 it needs "
                   f"{_shift(r.measured)} {'as' if r.measured == 1 else 'than'} `{ref}`{predicted}{theory}: {reading}.")



def sweep_alt(study: Study, loss: str) -> str:
    """The sweep figure's alt text: what it draws and the range it shows, from the record."""
    sweep = study.of(loss, "sweeps")
    if sweep is None:
        return ""
    measured = (f"measured ratios from {_ratio(sweep.low)} to {_ratio(sweep.high)}" if sweep.ratios() else
                "no measured ratio")
    predicted = f", against {_ratio(sweep.predicted)} predicted (dashed line)" if not pd.isna(sweep.predicted) else ""
    bounds = sum(1 for c in sweep.crossings if c.bound)
    return (f"The threshold-lr ratio of {loss} to {study.reference} against the threshold "
            f"({sweep.thresholds[0]:g} to {sweep.thresholds[-1]:g} validation accuracy after epoch 1), for the means "
            f"(line) and each seed (dots): {measured}{predicted}"
            + (f"; {bounds} bound{'s' if bounds != 1 else ''} (a crossing below a grid) drawn as hollow triangles."
               if bounds else "."))
