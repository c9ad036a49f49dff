"""The residual factor's figure, drawn from the probe table and ``residual.Residual`` (matplotlib).

Three panels against the probed epoch, one line per probed seed: the norm ratio (1 dashed: the first-order
account), the weight-gradient cosine, and each loss's second-order share of one step (0 dashed). The caption
is ``residual_words.caption``. None when nothing was probed.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd

from .plots import _palette, legend_outside
from .residual import Residual


def figure(probe: pd.DataFrame, r: Residual) -> plt.Figure | None:
    if not r.probed:
        return None
    rows = probe[(probe["loss"] == r.slow_loss) & (probe["reference"] == r.reference)].sort_values(["seed", "step"])
    losses = (r.slow_loss, r.reference)
    colours = _palette(losses)
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.4))
    for seed, g in rows.groupby("seed", sort=True):
        declared = g["norm_ratio"].notna().any()
        norm = g["norm_ratio"] if declared else g["raw_norm_ratio"] / g["raw_norm_ratio"].iloc[0]
        axes[0].plot(g["epoch"], norm, color=colours[r.slow_loss], label=f"seed {seed}")
        axes[1].plot(g["epoch"], g["weight_cosine"], color=colours[r.slow_loss], label=f"seed {seed}")
        for loss, column in zip(losses, ("loss_second_ratio", "reference_second_ratio")):
            axes[2].plot(g["epoch"], g[column], color=colours[loss], label=f"{loss}, seed {seed}")
    axes[0].axhline(1, color="0.3", linestyle="--", linewidth=1)
    axes[2].axhline(0, color="0.3", linestyle="--", linewidth=1)
    axes[0].set_ylabel("norm ratio ÷ declared scale")
    axes[1].set_ylabel("weight-gradient cosine")
    axes[2].set_ylabel("second-order ÷ first-order term")
    for ax, title in zip(axes, ("norm ratio", "direction", "second order")):
        ax.set_xlabel("epoch (probed run)")
        ax.set_title(title)
    axes[2].legend()
    legend_outside(fig, axes[2])
    return fig
