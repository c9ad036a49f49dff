"""Slow, or stuck? The figure: the long-horizon curves the criterion reads (``horizon``'s records marked).

Left, validation accuracy per variant (mean bold with its 95% band over seeds, each seed thin),
a marker where a variant levelled off; right, each run's train loss as a share of its own epoch-0
loss (``stats.relative_loss``: losses of different kinds share no axis as raw values). Each
variant keeps the colour the page's other figures give it (``plots._palette``).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns
from matplotlib.ticker import MaxNLocator

from .horizon import PLATEAU, Reading, curve_of
from .plots import _palette, band
from .stats import relative_loss


def _lines(data: pd.DataFrame, y: str, variants: list[str], palette: dict, ax, legend: bool) -> None:
    # each seed thin (with few seeds the band is wide: the seeds show why), the mean over seeds bold
    sns.lineplot(data=data, x="epoch", y=y, hue="variant", hue_order=variants, palette=palette, units="seed",
                 estimator=None, linewidth=1, alpha=0.6, linestyle="--", legend=False, ax=ax)
    sns.lineplot(data=data, x="epoch", y=y, hue="variant", hue_order=variants, palette=palette, errorbar=band(y),
                 err_kws={"alpha": 0.08}, linewidth=2.2, legend=legend, ax=ax)


def curves(epochs: pd.DataFrame, readings: list[Reading], order: list[str] | None = None) -> plt.Figure | None:
    """Validation accuracy and relative train loss against epoch per variant, plateaus marked; None
    when there are no horizon runs. ``order``: the page's variants, for their colours."""
    evaluated = epochs.dropna(subset=["val_accuracy"])
    if evaluated.empty:
        return None
    variants = list(dict.fromkeys(evaluated["variant"]))
    palette = _palette([*(order or []), *(v for v in variants if v not in (order or []))])
    fig, (acc, loss) = plt.subplots(1, 2, figsize=(13, 4.8))
    _lines(evaluated, "val_accuracy", variants, palette, acc, legend=True)
    for r in readings:
        if r.kind == PLATEAU:
            at = r.curve.plateau_epoch
            acc.plot([at], [curve_of(epochs, r.variant)[at]], marker="D", markersize=11, color=palette[r.variant],
                     markeredgecolor="black", linestyle="none")
    acc.set(ylabel="validation accuracy", ylim=(0, 1), xlim=(0, evaluated["epoch"].max()))
    relative = relative_loss(epochs).dropna(subset=["train_loss_relative"])
    _lines(relative, "train_loss_relative", variants, palette, loss, legend=False)
    loss.set(ylabel="train loss / its epoch-0 value", xlim=(0, evaluated["epoch"].max()))
    shares = relative["train_loss_relative"]
    if len(shares) and shares.min() > 0 and shares.max() / shares.min() > 10:
        loss.set_yscale("log")  # a loss that falls by decades: its last window is readable only on a log axis
        loss.set_ylabel("train loss / its epoch-0 value (log scale)")
    for ax in (acc, loss):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    handles, labels = acc.get_legend_handles_labels()
    acc.get_legend().remove()
    loss.legend(handles, labels, title="variant (◆ levelled off)", fontsize=9, loc="upper left",
                bbox_to_anchor=(1.01, 1))
    fig.tight_layout()
    return fig
