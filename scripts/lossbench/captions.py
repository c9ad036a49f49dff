"""Captions of the learning-curve figures that several pages draw (comparison, why): what the bands
are, which lines lie on top of each other (read from the data), and why the train loss is shown
relative to its start. What a loss is (which losses are one function) comes from the registry.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from . import stats
from .decisions import COINCIDE, LAYER_COINCIDE, MIN_SEEDS_FOR_BAND
from .losses import loss_info
from .words import names

RELATIVE = ("logit_grad_norm", "step_logit")  # compared relatively: drawn on log axes


def coinciding_text(epochs: pd.DataFrame, metrics) -> str:
    """Which variants' mean lines lie on top of each other in each drawn panel, said in words
    (the figure also draws them with their own dashes and markers)."""
    parts, layers = [], []
    for metric in metrics:
        if metric.startswith("step_layer") and metric in epochs:  # every layer's step: one clause if they agree
            layers.append(stats.coinciding(epochs, metric, LAYER_COINCIDE, relative=True))
            continue
        if metric not in COINCIDE:
            continue
        tolerance, name, within = COINCIDE[metric]
        data = stats.relative_loss(epochs) if metric == "train_loss_relative" and metric not in epochs else epochs
        if metric not in data:
            continue
        groups = [g for g in stats.coinciding(data, metric, tolerance, relative=metric in RELATIVE)
                  if _points_drawn(data, g[0], metric) > 1]  # one shared point is no line lying on another
        if groups:
            parts.append(f"in {name}, " + " and ".join(names(g) for g in groups) + f" ({within} at every epoch)")
    within = f"within {LAYER_COINCIDE * 100:g}% at every epoch"
    layers = [[g for g in groups if _points_drawn(epochs, g[0], f"step_layer{number}") > 1]
              for number, groups in enumerate(layers, start=1)]
    for number, groups in enumerate(layers, start=1):
        if groups and all(g == layers[0] for g in layers):
            parts.append("in every layer's step lr × ‖∇W‖, " + " and ".join(names(g) for g in groups) + f" ({within})")
            break
        if groups:
            parts.append(f"in layer {number}'s step, " + " and ".join(names(g) for g in groups) + f" ({within})")
    if not parts:
        return ""
    return (" Lines that lie on top of each other, told apart by their colour, dash pattern and marker, the first "
            "drawn widest so that each shows at its edges: " + "; ".join(parts)
            + ".")


def band_text(seeds: int) -> str:
    """Why a figure of runs with fewer than ``MIN_SEEDS_FOR_BAND`` seeds (at least one variant) has no band."""
    why = ("a variant has one seed" if seeds < 2 else
           # two seeds a and b: sd = |a - b|/√2, so the half-width t × sd/√2 is (t/2) × |a - b|
           f"with 2 seeds a 95% t-interval of the mean reaches {stats.t95(2) / 2:.1f} times the gap between them "
           "either side of the mean, hiding gaps between variants smaller than that" if seeds == 2 else
           f"with {seeds} seeds a 95% t-interval of the mean is ± {stats.t95(seeds):.3g} × sd/√{seeds}")
    return (f"Mean over seeds, bold; each seed, a thin line of the same colour. No band ({why}; a band is drawn from "
            f"{MIN_SEEDS_FOR_BAND} seeds per variant).")


def _points_drawn(epochs: pd.DataFrame, variant: str, metric: str) -> int:
    return int(stats.mean_curve(epochs, variant, metric).notna().sum())


def curves_caption(epochs: pd.DataFrame, gradients: bool = False,
                   metrics=("val_accuracy", "train_loss_relative")) -> str:
    """What the learning-curve bands show for these runs; which curves coincide (from the data);
    the shared start at epoch 0; why the train loss is shown relative to its start. With
    ``gradients``: what epoch 0 and the later epochs of the gradient norms are measured over.
    ``metrics``: the panels drawn (coinciding lines are looked for in each)."""
    seeds = epochs.groupby("variant", sort=False)["seed"].nunique()
    if (seeds < 2).all():
        text = "One seed per variant: each line is that run, with no band (an interval needs two seeds)."
    elif (seeds < MIN_SEEDS_FOR_BAND).any():
        text = band_text(int(seeds.min()))
    else:
        text = ("Mean over seeds; bands: the 95% t-interval of the mean over seeds, the same interval as the "
                "summary's \"95% CI\" column (clipped to [0, 1] for accuracy).")
        if (seeds < 2).any():
            verb = "has" if (seeds < 2).sum() == 1 else "have"
            text += f" {names(seeds.index[seeds < 2])} {verb} one seed: no band."
    text += " Epoch 0 is the untrained network."
    if gradients:
        text += (" There ‖∂ℓ/∂z‖ is measured over the whole training split and each layer's ‖∇W‖ is the mean over "
                 "the split's first 10 minibatches at the initial weights; later epochs are means over that epoch's "
                 "minibatches while the weights change, so the step from epoch 0 to 1 mixes the two. At epoch 0 "
                 "the variants of one loss have the same gradient norm (the same networks): their lines start "
                 "together, and the steps lr × norm start apart only by their learning rates.")
    first = epochs[epochs["epoch"] == 0]
    if "val_accuracy" in metrics and "val_accuracy" in first and first["variant"].nunique() > 1:
        start = first.groupby("seed")["val_accuracy"].nunique()
        if (start == 1).all():
            text += (" At epoch 0 every variant shows the same validation accuracy: seed by seed they start from "
                     "the same network, so their lines meet there.")
    text += coinciding_text(epochs, metrics)
    losses = list(dict.fromkeys(epochs["loss"])) if "loss" in epochs else []
    functions = {loss_info(loss).family for loss in losses}  # registered forms of one function: one kind
    if len(functions) > 1 and "train_loss" in epochs and "train_loss_relative" in metrics:
        starts = first.groupby("loss", sort=False)["train_loss"].mean().dropna()
        text += (" Losses of different kinds have different scales (at epoch 0: " + ", ".join(
            f"`{loss}` {value:.3g}" for loss, value in starts.items()) + "), so the train loss is shown as a share of "
            "each run's epoch-0 value, never as raw values on one axis.")
    if "train_loss" in epochs:
        # per variant and seed, the last epoch with a finite loss: a variant diverged if a seed stops early
        last = epochs.groupby(["variant", "seed"], sort=False)["epoch"].max()
        finite = (epochs[np.isfinite(epochs["train_loss"])].groupby(["variant", "seed"], sort=False)["epoch"].max()
                  .reindex(last.index, fill_value=-1))
        diverged = [v for v in dict.fromkeys(epochs["variant"]) if (finite[v] < last[v]).any()]
        mixed = [v for v in diverged if finite[v].nunique() > 1]  # some seeds' lines go on further than others
        if diverged:
            text += f" {names(diverged)}: lines stop where runs diverged (non-finite loss)"
            text += (f"; the later points of {names(mixed)} are means over the runs still finite." if mixed else ".")
    return text


def paired_final_caption(runs: pd.DataFrame, reference: str) -> str:
    """What ``plots.paired_final`` shows: each variant's final test accuracy minus the reference's, seed by seed."""
    n = int(runs.groupby("variant")["seed"].nunique().min()) if len(runs) else 0
    return (f"Seed by seed ({n} seed{'s' if n != 1 else ''}; seed s gives every variant the same split, initial "
            f"weights and batch order): each variant's final test accuracy minus `{reference}`'s on that seed, in "
            "points, one marker per seed; 0 is no difference.")
