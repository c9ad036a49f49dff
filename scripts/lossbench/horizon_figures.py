"""Slow, or stuck? The figure: the long-horizon curves the criterion reads (``horizon``'s records marked).

Left, validation accuracy per variant (mean bold, each seed thin; the mean's 95% band over seeds only
from ``decisions.MIN_SEEDS_FOR_BAND`` seeds, ``plots.banded``: a df = 1 band would span most of the axis),
a marker where a variant levelled off; right, each run's train loss as a share of its own epoch-0
loss (``stats.relative_loss``: losses of different kinds share no axis as raw values). Each
variant keeps the colour the page's other figures give it (``plots._palette``).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns
from matplotlib.ticker import MaxNLocator

from .alt import describe
from .horizon import PLATEAU, Reading, curve_of
from .plots import band, banded, styles, widths
from .stats import relative_loss


def _lines(data: pd.DataFrame, y: str, variants: list[str], palette: dict, ax, legend: bool, dashes: dict) -> None:
    # each seed thin, the mean over seeds bold in the variant's own dashes (widths keep twins visible)
    sns.lineplot(data=data, x="epoch", y=y, hue="variant", hue_order=variants, palette=palette, units="seed",
                 estimator=None, linewidth=1, alpha=0.6, linestyle="--", legend=False, ax=ax)
    sizes = {v: w + 0.4 for v, w in widths(data, y, variants).items()}
    sns.lineplot(data=data, x="epoch", y=y, hue="variant", hue_order=variants, palette=palette,
                 style="variant", style_order=variants, dashes={v: dashes[v] for v in variants},
                 size="variant", size_order=variants, sizes=sizes,
                 errorbar=band(y) if banded(data) else None, err_kws={"alpha": 0.08}, legend=legend, ax=ax)


def curves(epochs: pd.DataFrame, readings: list[Reading], order: list[str] | None = None) -> plt.Figure | None:
    """Validation accuracy and relative train loss against epoch per variant, plateaus marked; None
    when there are no horizon runs. ``order``: the page's variants, for their colours."""
    evaluated = epochs.dropna(subset=["val_accuracy"])
    if evaluated.empty:
        return None
    variants = list(dict.fromkeys(evaluated["variant"]))
    look = styles([*(order or []), *(v for v in variants if v not in (order or []))])
    palette, dashes = {v: s["color"] for v, s in look.items()}, {v: s["dashes"] for v, s in look.items()}
    fig, (acc, loss) = plt.subplots(1, 2, figsize=(13, 4.8))
    _lines(evaluated, "val_accuracy", variants, palette, acc, legend=True, dashes=dashes)
    for r in readings:
        if r.kind == PLATEAU:
            at = r.curve.plateau_epoch
            acc.plot([at], [curve_of(epochs, r.variant)[at]], marker="D", markersize=11, color=palette[r.variant],
                     markeredgecolor="black", linestyle="none")
    acc.set(ylabel="validation accuracy", ylim=(0, 1), xlim=(0, evaluated["epoch"].max()))
    relative = relative_loss(epochs).dropna(subset=["train_loss_relative"])
    _lines(relative, "train_loss_relative", variants, palette, loss, legend=False, dashes=dashes)
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
    last = evaluated[evaluated["epoch"] == evaluated["epoch"].max()].groupby("variant")["val_accuracy"].mean()
    return describe(fig, f"Long-horizon learning curves to epoch {int(evaluated['epoch'].max())}: validation "
                    "accuracy (mean bold, each seed thin) and train loss relative to epoch 0. Mean validation accuracy "
                    "at the last epoch: " + ", ".join(f"{v} {last[v]:.4f}" for v in variants if v in last) + ".")
