"""The number-of-classes study's figure, drawn from ``classes.Study`` records (matplotlib), and how a page
shows a figure with its alternative text.

``ratio_figure``: left, each loss's threshold-lr ratio to the reference against C on log–log axes, one
dot per seed (seeds nudged sideways so that equal values stay visible), a triangle per bound (▲ at
least, ▼ at most), the predicted ratio dashed with the ``LAW_TOLERANCE`` band around it, the fitted
power law thin and solid; right, the initial logit-gradient ratio per seed against its declared value.
None when there is nothing to draw (no measured ratio and no bound). The caption and the alt text are
``classes_words``.

``curves_figure``: one panel per C, each seed's validation accuracy after epoch 1 against the lr, the
threshold's level and each threshold lr found inside its grid.

``show(fig, alt)`` puts the figure on the page as an ``<img>`` with that alt text: nbconvert writes a
matplotlib output without one ("No description has been provided for this image").
"""

from __future__ import annotations

import base64
import html
import io

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from .classes import Law, Study
from .plots import _palette, legend_outside

MARKERS = ["o", "s", "D", "P", "*", "p", "h"]  # no "^"/"v": triangles mark bounds


def _log_axes(ax, classes) -> None:
    """Both axes logarithmic, labelled in plain numbers: x at the study's C values, y at 1, 2, 5 × 10^k."""
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xticks(classes)
    ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1, 2, 5)))
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        axis.set_minor_formatter(NullFormatter())


def _nudge(seed_index: int, seeds: int) -> float:
    """×10^±0.012 per seed: seeds with the same ratio sit side by side, not on top of each other."""
    return 10 ** (0.012 * (seed_index - (seeds - 1) / 2))


def _ratio_panel(ax, study: Study, law: Law, colour, marker: str, tolerance: float) -> None:
    order = {seed: i for i, seed in enumerate(study.seeds)}
    n = len(study.seeds)
    for row in law.at:
        for r in row.seeds:
            x = row.classes * _nudge(order[r.seed], n)
            if not np.isnan(r.ratio):
                ax.plot(x, r.ratio, linestyle="none", marker=marker, color=colour, markersize=7, zorder=4)
            elif r.bound:
                ax.plot(x, r.bound_value, linestyle="none", marker="^" if r.bound == "at least" else "v",
                        markerfacecolor="none", color=colour, markersize=9, markeredgewidth=1.8, zorder=4)
    cs = np.array([row.classes for row in law.at], dtype=float)
    if law.declared:
        predicted = np.array([row.predicted for row in law.at], dtype=float)
        ax.plot(cs, predicted, linestyle="--", color=colour, linewidth=1.6, zorder=3)
        ax.fill_between(cs, predicted / tolerance, predicted * tolerance, color=colour, alpha=0.12, linewidth=0)
    if law.fit is not None:
        line = np.geomspace(cs.min(), cs.max(), 50)
        ax.plot(line, law.fit.coefficient * line**law.fit.exponent, color=colour, linewidth=0.9, zorder=2)
    ax.plot([], [], marker=marker, color=colour, linewidth=0.9, label=law.loss)


def _gradient_panel(ax, study: Study, law: Law, colour, marker: str) -> bool:
    drawn = False
    n = len(study.seeds)
    for row in law.at:
        for i, value in enumerate(row.gradient):
            ax.plot(row.classes * _nudge(i, n), value, linestyle="none", marker=marker, color=colour, markersize=7)
            drawn = True
    if law.declared:
        ax.plot([row.classes for row in law.at], [row.gradient_predicted for row in law.at], linestyle="--",
                color=colour, linewidth=1.6)
    return drawn


def ratio_figure(study: Study) -> plt.Figure | None:
    """The threshold-lr ratio (left) and the initial gradient ratio (right) against C; None with nothing to draw."""
    if not any(r.bound or not np.isnan(r.ratio) for law in study.laws for row in law.at for r in row.seeds):
        return None
    palette = _palette([law.loss for law in study.laws])
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    gradients = False
    for i, law in enumerate(study.laws):
        marker = MARKERS[i % len(MARKERS)]
        _ratio_panel(left, study, law, palette[law.loss], marker, study.tolerance)
        gradients |= _gradient_panel(right, study, law, palette[law.loss], marker)
    for ax in (left, right):
        _log_axes(ax, study.classes)
        ax.set_xlabel("number of classes C")
        ax.grid(True, which="major", alpha=0.3)
    left.set_ylabel(f"threshold lr ÷ {study.reference}'s")
    left.set_title("threshold-lr ratio (dashed: predicted)")
    right.set_ylabel(f"initial logit-gradient norm ÷ {study.reference}'s")
    right.set_title("initial gradient ratio (dashed: declared)")
    if not gradients:
        right.set_visible(False)
    left.legend()
    legend_outside(fig, left, "loss")
    return fig


def curves_figure(study: Study) -> plt.Figure | None:
    """One panel per C: each seed's validation accuracy after epoch 1 against the lr (log), each loss in its colour,
    the level that defines the threshold lr dotted, each seed's threshold lr inside its grid as a vertical tick.
    None without curves."""
    if not study.curves:
        return None
    palette = _palette(study.losses)
    fig, axes = plt.subplots(1, len(study.classes), figsize=(3.4 * len(study.classes), 3.4), squeeze=False,
                             sharey=True)
    for ax, c in zip(axes[0], study.classes):
        for curve in (k for k in study.curves if k.classes == c):
            ax.plot(curve.lrs, curve.values, color=palette[curve.loss], linewidth=1.2, marker=".",
                    linestyle="-" if curve.seed == study.seeds[0] else (0, (3, 1.5)))
        for t in study.thresholds:
            if t.classes == c and t.place == "inside":
                ax.plot([t.lr, t.lr], [t.level - 0.04, t.level + 0.04], color=palette[t.loss], linewidth=2)
        level = next((t.level for t in study.thresholds if t.classes == c), None)
        if level is not None:
            ax.axhline(level, color="0.4", linestyle=":", linewidth=1)
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.set_ylim(0, 1)
        ax.set_title(f"C = {c}")
        ax.set_xlabel("lr")
        ax.grid(True, alpha=0.3)
    axes[0][0].set_ylabel("validation accuracy after epoch 1")
    for loss in study.losses:
        axes[0][0].plot([], [], color=palette[loss], label=loss)
    axes[0][0].legend()
    legend_outside(fig, axes[0][0], "loss")
    return fig


def img_html(fig: plt.Figure, alt: str) -> str:
    """``fig`` as an ``<img>`` (PNG inline, as nbconvert embeds figures) with ``alt`` as its alt text; closes it."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", bbox_inches="tight", dpi=100)
    plt.close(fig)
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" alt="{html.escape(alt, quote=True)}">'


def show(fig: plt.Figure | None, alt: str) -> None:
    """Display ``fig`` with its alt text (nothing when ``fig`` is None); it is closed, so the notebook does
    not draw it a second time without one."""
    if fig is None:
        return
    from IPython.display import HTML, display

    display(HTML(img_html(fig, alt)))
