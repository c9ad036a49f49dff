"""README's key figure, drawn from a run's gathered tables (``lossbench figure``, ``make figure``).

The figure is the comparison page's learning curves (``plots.learning_curves``: validation
accuracy and train loss ÷ its epoch-0 value per epoch, mean over seeds with a 95% band from
``decisions.MIN_SEEDS_FOR_BAND`` seeds, each seed a thin line with fewer, every variant of the
sweep), saved as a PNG; the index opens with it (``report.key_figure_html``, with its alt text).
The tables are read through ``tables.read_gathered``, so a table edited by hand is refused, never
drawn. Nothing is drawn by hand: rerun ``make figure`` after ``make run`` and the picture is the
new run's.
"""

from __future__ import annotations

import os
from pathlib import Path

from .atomic import atomic_path


def draw(tables_dir: str | os.PathLike):
    """The figure of the tables in ``tables_dir`` (its ``epochs.csv``)."""
    from . import plots, tables

    epochs = tables.read_gathered(Path(tables_dir) / "epochs.csv")
    fig = plots.learning_curves(epochs)
    seeds = epochs.groupby("variant")["seed"].nunique()
    across = f"{seeds.min()}" if seeds.min() == seeds.max() else f"{seeds.min()}–{seeds.max()}"
    drawn = "mean over seeds, 95% band" if plots.banded(epochs) else "mean over seeds bold, each seed a thin line"
    fig.suptitle(f"{len(seeds)} variants, {across} seeds each, {int(epochs['epoch'].max())} epochs: {drawn}",
                 y=1.02, fontsize=11)
    return fig


def write(tables_dir: str | os.PathLike, out: str | os.PathLike) -> Path:
    """Draw the figure of ``tables_dir`` and write it to ``out`` as a PNG (whole or not at all)."""
    import matplotlib.pyplot as plt

    fig = draw(tables_dir)
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    return Path(out)
