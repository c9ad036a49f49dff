"""The learning-rate study's figures, drawn from ``lrstudy.Study`` records (matplotlib).

Every figure draws each loss in the same colour and marker (the study's loss order), the mean
over seeds as a line, its 95% band (from ``decisions.MIN_SEEDS_FOR_BAND`` seeds; with fewer the seeds'
dots are the evidence, a df = 1 band would hide it), each seed as a dot and × on the axis bottom at a
diverged point; each loss its own dash pattern too, and lines that lie on top of each other keep
their edges visible (``plots.widths``). The captions are ``lrstudy_words``. Each function returns
None when it has nothing to draw; every figure carries its alt text (``alt.describe``).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from .alt import describe
from .decisions import CONFIDENT, MIN_SEEDS_FOR_BAND, SATURATED
from .lrstudy import Study, most_confidently_wrong, saturated_anywhere
from .plots import _dashes, _palette, legend_outside, widths

MARKERS = ["o", "s", "D", "^", "v", "P", "*", "p", "h"]  # no "x"/"X": × marks a diverged point


def _log_axis(ax) -> None:
    """Log x with plain-number labels at the powers of ten (0.01, 0.1, 1, 10), none at minor ticks."""
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(LogLocator(base=10))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())


def _crosses(ax, xs, colour, index: int, count: int) -> None:
    """× on the axis bottom at diverged points, each loss nudged sideways (×10^±0.04 per loss) so that
    losses diverging at the same lr stay visible side by side."""
    nudge = 10 ** (0.04 * (index - (count - 1) / 2))
    ax.plot(np.asarray(xs, dtype=float) * nudge, np.zeros(len(xs)), linestyle="none", marker="x", markersize=9,
            markeredgewidth=2.2, color=colour, clip_on=False, zorder=5)


def _colours(study: Study) -> tuple[dict, dict]:
    """Each loss's colour (plots' palette, in the study's loss order) and marker, the same on every figure."""
    return _palette(study.losses), {loss: MARKERS[i % len(MARKERS)] for i, loss in enumerate(study.losses)}


def banded(study: Study) -> bool:
    """Whether the accuracy panels draw 95% bands: every point has ``MIN_SEEDS_FOR_BAND`` seeds or more."""
    return bool(study.points) and all(p.n >= MIN_SEEDS_FOR_BAND for p in study.points)


def _widths(study: Study, x: str, metric: str) -> dict:
    """``plots.widths`` of the losses' mean lines in one panel (the losses as variants, the lr as the epoch)."""
    import pandas as pd

    rows = [{"variant": loss, "epoch": getattr(p, x), "seed": 0, "value": getattr(p, metric).mean}
            for loss in study.losses for p in study.points_of(loss)
            if not getattr(p, "diverged1" if metric == "val1" else "diverged")]
    table = pd.DataFrame(rows, columns=["variant", "epoch", "seed", "value"]).dropna()
    return widths(table.rename(columns={"value": "val_accuracy"}), "val_accuracy", study.losses) if len(table) else {}


def _panel(ax, study: Study, x: str, metric: str, palette: dict, markers: dict) -> bool:
    """One accuracy panel: per loss the mean over seeds (line, its own dashes; widths that keep lines on top
    of each other visible), its 95% band (clipped to [0, 1]; ``banded``), each seed (small dots), and × on the
    axis bottom at each diverged point. Returns whether any point diverged."""
    flag = "diverged1" if metric == "val1" else "diverged"
    any_diverged = False
    dashes, sizes, with_band = _dashes(study.losses), _widths(study, x, metric), banded(study)
    for i, loss in enumerate(study.losses):
        pts = study.points_of(loss)
        xs = np.array([getattr(p, x) for p in pts], dtype=float)
        if not len(pts) or np.isnan(xs).all():
            continue
        bad = [getattr(p, flag) for p in pts]
        spreads = [getattr(p, metric) for p in pts]
        y = [np.nan if b else s.mean for s, b in zip(spreads, bad)]  # NaN breaks the line at a diverged point
        colour = palette[loss]
        (line,) = ax.plot(xs, y, color=colour, marker=markers[loss], markersize=6, linewidth=sizes.get(loss, 1.8),
                          label=loss)
        if dashes[loss]:
            line.set_dashes(dashes[loss])
        ok = [j for j, b in enumerate(bad) if not b]
        if with_band:
            ax.fill_between(xs[ok], [np.clip(spreads[j].low, 0, 1) for j in ok],
                            [np.clip(spreads[j].high, 0, 1) for j in ok], color=colour, alpha=0.1, linewidth=0)
        dots = [(xs[j], v) for j in ok for v in spreads[j].values]
        if dots:
            ax.plot(*zip(*dots), linestyle="none", marker=".", markersize=4, color=colour, alpha=0.6)
        if any(bad):
            any_diverged = True
            _crosses(ax, xs[[j for j, b in enumerate(bad) if b]], colour, i, len(study.losses))
    ax.set_ylim(0, 1)
    _log_axis(ax)
    return any_diverged


def _legend(fig, ax, study: Study, palette: dict, markers: dict, diverged: bool, extra=(), losses=None) -> None:
    dashes = _dashes(study.losses)
    handles = [Line2D([], [], color=palette[loss], marker=markers[loss], label=loss,
                      **({"dashes": dashes[loss]} if dashes[loss] else {}))
               for loss in losses or study.losses]
    if losses is None and banded(study):
        handles.append(Patch(color="0.5", alpha=0.3, label="95% CI over seeds"))
    handles.append(Line2D([], [], color="0.4", marker=".", linestyle="none", label="one seed"))
    if diverged:
        handles.append(Line2D([], [], color="0.2", marker="x", markeredgewidth=2, linestyle="none",
                              label="diverged (any seed)"))
    handles += list(extra)
    ax.legend(handles=handles)
    legend_outside(fig, ax, "loss")


def _budget(study: Study) -> str:
    epochs = study.epochs
    return str(epochs[0]) if len(epochs) == 1 else f"{epochs[0]}–{epochs[-1]}"


def lr_figure(study: Study) -> plt.Figure | None:
    """Final validation accuracy against lr (log), one curve per loss; None without points."""
    if study.empty:
        return None
    palette, markers = _colours(study)
    fig, ax = plt.subplots(figsize=(8, 4.4))
    diverged = _panel(ax, study, "lr", "val", palette, markers)
    ax.set(xlabel="learning rate (log scale)", ylabel=f"validation accuracy after epoch {_budget(study)}")
    _legend(fig, ax, study, palette, markers, diverged)
    return describe(fig, "Validation accuracy against the learning rate per loss. " + _best_text(study, "val"))


def _best_text(study: Study, metric: str) -> str:
    """The alt text's main numbers: each loss's highest mean ``metric`` over its grid, and where."""
    parts = []
    for loss in study.losses:
        pts = [p for p in study.points_of(loss) if not np.isnan(getattr(p, metric).mean)]
        if pts:
            best = max(pts, key=lambda p: getattr(p, metric).mean)
            parts.append(f"{loss} {getattr(best, metric).mean:.4f} at lr {best.lr:g}")
    return ("Highest mean: " + ", ".join(parts) + ".") if parts else ""


def effective_figure(study: Study) -> plt.Figure | None:
    """Validation accuracy against the effective lr: after the final epoch and after epoch 1 (with the
    threshold and the reference's rising side); None when no other loss has an effective lr."""
    if study.empty or all(np.isnan(p.effective_lr) for p in study.points if p.loss != study.reference):
        return None
    palette, markers = _colours(study)
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.4), sharey=True)
    diverged = False
    # the gradient scale is measured at initialisation (epoch 0); each panel says at which epoch it reads
    # the accuracy and that its x axis keeps that scale, not the one at the epoch it plots
    for ax, metric, when in ((axes[0], "val", f"after epoch {_budget(study)}"), (axes[1], "val1", "after epoch 1")):
        diverged |= _panel(ax, study, "effective_lr", metric, palette, markers)
        ax.set(xlabel=f"effective lr = lr × epoch-0 gradient scale vs {study.reference} (log)",
               ylabel=f"validation accuracy {when}",
               title=f"{when}; x: the scale at epoch 0" + ("" if when == "after epoch 1" else ", not at this epoch"))
        ax.yaxis.set_tick_params(labelleft=True)
    extra = []
    if study.collapse1:
        row = study.collapse1[0]
        axes[1].axvspan(row.rising_low, row.rising_high, color="0.85", alpha=0.5, zorder=0)
        extra.append(Patch(color="0.85", label=f"{study.reference}'s rising side"))
    axes[1].axhline(study.threshold, color="0.3", linestyle=":", linewidth=1.2)
    extra.append(Line2D([], [], color="0.3", linestyle=":", label=f"threshold {study.threshold:g}"))
    _legend(fig, axes[0], study, palette, markers, diverged, extra)
    return describe(fig, "Validation accuracy against the effective learning rate (lr times the gradient scale "
                    f"measured at epoch 0 against {study.reference}), after the final epoch and after epoch 1. "
                    + _best_text(study, "val1").replace("Highest mean", "Highest mean after epoch 1"))


def saturation_figure(study: Study) -> plt.Figure | None:
    """The final share of confidently wrong validation images (p > 0.9) against lr, for the losses
    whose outputs can saturate (a loss declaring capped outputs left out); None when none is left,
    or when no seed of them ended saturated anywhere on the grid (``saturated_anywhere``): a figure of
    lines along its bottom edge shows nothing."""
    shown = [row.loss for row in study.saturation if row.reading != "capped"]
    if not [p for p in study.points if p.loss in shown] or not saturated_anywhere(study):
        return None
    palette, markers = _colours(study)
    fig, ax = plt.subplots(figsize=(8, 3.6))
    diverged = False
    for i, loss in enumerate(shown):
        pts = study.points_of(loss)
        ax.plot([p.lr for p in pts], [p.confident_wrong.mean for p in pts], color=palette[loss],
                marker=markers[loss], label=loss)
        dots = [(p.lr, v) for p in pts if not p.diverged for v in p.confident_wrong.values]
        if dots:
            ax.plot(*zip(*dots), linestyle="none", marker=".", markersize=5, color=palette[loss], alpha=0.7)
        bad = [p.lr for p in pts if p.diverged]
        diverged |= bool(bad)
        _crosses(ax, bad, palette[loss], i, len(shown))
    ax.axhline(SATURATED, color="0.3", linestyle=":", linewidth=1.2)
    ax.set(ylim=(0, 1), xlabel="learning rate (log scale)",
           ylabel=f"share confidently wrong (p > {CONFIDENT:g})\nafter the final epoch")
    _log_axis(ax)
    extra = [Line2D([], [], color="0.3", linestyle=":", label=f"{SATURATED:.0%}: a seed above is saturated")]
    _legend(fig, ax, study, palette, markers, diverged, extra, losses=shown)
    share, point = most_confidently_wrong(study)
    return describe(fig, "Share of validation images confidently wrong against the learning rate for "
                    f"{', '.join(shown)}; "
                    f"largest for one seed: {share:.1%} ({point.loss} at lr {point.lr:g}).")


def sweep_figure(study: Study, loss: str) -> plt.Figure | None:
    """The threshold-lr ratio of ``loss`` to the reference against the threshold: the means (line), each seed
    (dots), a bound where a crossing lies below a grid (▲ at least, ▼ at most: hollow, never a point), and the
    ratio the initial gradient scale predicts (dashed) and the declared theory (dotted). None: nothing to draw."""
    sweep = study.of(loss, "sweeps")
    if sweep is None or not any(c.measured or c.bound for c in sweep.crossings):
        return None
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    colours = _palette(("means", *(f"seed {s}" for s in sweep.seeds)))
    means = [sweep.at(t) for t in sweep.thresholds]
    ax.plot(sweep.thresholds, [c.ratio for c in means], color=colours["means"], marker="o", linewidth=1.8,
            label="means over seeds")
    for seed in sweep.seeds:
        cs = [sweep.at(t, seed) for t in sweep.thresholds]
        ax.plot(sweep.thresholds, [c.ratio for c in cs], color=colours[f"seed {seed}"], marker=".", linestyle="none",
                markersize=9, label=f"seed {seed}")
    bounds = [c for c in sweep.crossings if c.bound]
    for kind, marker in (("at least", "^"), ("at most", "v")):
        mine = [c for c in bounds if c.bound == kind]
        if mine:
            ax.plot([c.threshold for c in mine], [c.bound_value for c in mine], linestyle="none", marker=marker,
                    markerfacecolor="none", color="0.35", markersize=8,
                    label=f"bound ({kind}: a crossing below its grid)")
    if not np.isnan(sweep.predicted):
        ax.axhline(sweep.predicted, color="0.2", linestyle="--", linewidth=1.2,
                   label=f"predicted by the initial gradient scale ({sweep.predicted:.3g}×)")
    if sweep.theory is not None:
        ax.axhline(sweep.theory, color="0.5", linestyle=":", linewidth=1.2, label=f"theory ({sweep.theory:.3g}×)")
    ax.set_yscale("log")
    ax.set_xlabel("threshold: validation accuracy after epoch 1")
    ax.set_ylabel(f"threshold lr ÷ {study.reference}'s")
    ax.set_title(f"{loss}: the threshold-lr ratio against the threshold")
    ax.legend()
    legend_outside(fig, ax)
    return fig
