"""Figures for the report; each function takes a table and returns a matplotlib Figure.

Bands are the 95% t-interval of the mean over seeds (``stats.ci95``), the same interval the
tables and the text give, so a number and its band agree; for shares (accuracy, probability)
it is clipped to [0, 1]. In a notebook the inline backend shows each figure
when its cell ends; elsewhere matplotlib falls back to a file-only backend by itself.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from . import alt
from .stats import ci95, relative_loss

sns.set_theme(style="whitegrid", context="notebook")
alt.register()  # in a notebook kernel: every figure's image carries its alt text (lossbench.alt)
SHARES = {"val_accuracy", "test_accuracy", "train_accuracy", "val_mean_max_prob", "val_confident_wrong"}
# Quantities whose axis starts at 0 and always reaches 1 (a ratio to the start: 1 is where it began)
RELATIVE = {"train_loss_relative"}


def band(metric: str):
    """The 95% t-interval (stats.ci95) seaborn draws around each epoch's mean over seeds; for a
    share (accuracy, probability) it is clipped to [0, 1], where the quantity lives."""
    if metric not in SHARES:
        return ci95
    return lambda values: tuple(min(max(v, 0.0), 1.0) for v in ci95(values))


LABELS = {
    "val_accuracy": "validation accuracy", "test_accuracy": "test accuracy", "train_loss": "train loss",
    "train_loss_relative": "train loss ÷ its epoch-0 value",
    "logit_grad_norm": "mean ‖∂ℓ/∂z‖ per sample", "step_logit": "lr × mean ‖∂ℓ/∂z‖ (effective step)",
    "val_mean_max_prob": "mean max-softmax probability",
    "val_confident_wrong": "share confidently wrong (p > 0.9)", "train_seconds": "train seconds per run",
}


def label(metric: str) -> str:
    if metric.startswith("step_layer"):
        return f"lr × ‖∇W{metric.removeprefix('step_layer')}‖ (layer {metric.removeprefix('step_layer')} step)"
    return LABELS.get(metric, metric)


def legend_outside(fig: plt.Figure, ax: plt.Axes, title: str | None = None) -> None:
    """Move ``ax``'s legend to the right of the figure, outside every panel: it never covers data.

    nbconvert saves figures with a tight bounding box, so the legend stays in the picture.
    """
    legend = ax.get_legend()
    fig.tight_layout()
    if legend is None:
        return
    handles, labels = legend.legend_handles, [t.get_text() for t in legend.get_texts()]
    title = legend.get_title().get_text() if title is None else title
    legend.remove()
    fig.legend(handles, labels, title=title, fontsize=9, loc="upper left", bbox_to_anchor=(1.0, 0.97),
               frameon=False)


def _scale(values: pd.Series, log: bool) -> str:
    """Log scale only when asked for and the values span more than a factor of 10."""
    positive = values[values > 0]
    return "log" if log and len(positive) and positive.max() > 10 * positive.min() else "linear"


def _palette(variants) -> dict:
    return dict(zip(variants, sns.color_palette("tab10", len(variants))))


DASHES = ["", (4, 1.5), (1, 1), (3, 1.25, 1.5, 1.25), (5, 1, 1, 1), (2, 2), (6, 2), (1, 2, 4, 2), (3, 3)]
MARKERS = ["o", "X", "s", "P", "D", "^", "v", "*", "p", "h"]


def _dashes(variants) -> dict:
    return {v: DASHES[i % len(DASHES)] for i, v in enumerate(variants)}


def _markers(variants) -> dict:
    return {v: MARKERS[i % len(MARKERS)] for i, v in enumerate(variants)}


def learning_curves(epochs: pd.DataFrame, metrics=("val_accuracy", "train_loss_relative"), log_y=(),
                    ylim=None, variants=None, ncols: int | None = None) -> plt.Figure:
    """One panel per metric: mean over seeds per variant and epoch, with a 95% CI band.

    Each variant has its own colour, dash pattern and marker, so lines that coincide stay
    distinguishable; the legend sits outside the panels. ``train_loss_relative`` is computed
    here (``relative_loss``); its axis starts at 0 and shows at least 0 to 1. ``ylim`` fixes
    every panel's range. ``variants``, the sweep's whole variant order, keeps each variant's
    colour and dashes the same in every figure of a page, whichever subset a figure draws.
    ``ncols`` panels per row (default: all in one row).
    """
    if "train_loss_relative" in metrics and "train_loss_relative" not in epochs:
        epochs = relative_loss(epochs)
    present = set(epochs["variant"])
    order = list(variants if variants is not None else dict.fromkeys(epochs["variant"]))
    order += [v for v in dict.fromkeys(epochs["variant"]) if v not in order]
    palette, dashes, markers = _palette(order), _dashes(order), _markers(order)
    shown = [v for v in order if v in present]
    ncols = ncols or len(metrics)
    nrows = -(-len(metrics) // ncols)
    fig, grid = plt.subplots(nrows, ncols, figsize=(5.4 * ncols, 4.2 * nrows), squeeze=False)
    axes = [list(grid.flat)]
    for ax in axes[0][len(metrics):]:
        ax.set_visible(False)
    for ax, metric in zip(axes[0], metrics):
        sns.lineplot(data=epochs, x="epoch", y=metric, hue="variant", hue_order=shown, palette=palette,
                     style="variant", style_order=shown, dashes={v: dashes[v] for v in shown},
                     markers={v: markers[v] for v in shown}, markersize=7,
                     errorbar=band(metric), ax=ax, legend=ax is axes[0][0])
        ax.set(ylabel=label(metric), yscale=_scale(epochs[metric], metric in log_y))
        if metric in SHARES:  # a share axis never shows negative values (all zeros drew -0.04 ... 0.04)
            ax.set_ylim(bottom=0)
        if metric in RELATIVE:  # 0 to at least 1: a 0.25% change stays a flat line, not a steep one
            ax.set_ylim(0, max(1.05, ax.get_ylim()[1]))
        if ylim is not None:
            ax.set_ylim(*ylim)
        ax.set_xticks(sorted(epochs["epoch"].unique()))
    legend_outside(fig, axes[0][0], "variant")
    return fig


def final_accuracy(runs: pd.DataFrame) -> plt.Figure:
    """Per-seed final test accuracy: box per variant with every seed as a point."""
    variants = list(dict.fromkeys(runs["variant"]))
    fig, ax = plt.subplots(figsize=(9, 0.55 * len(variants) + 1.5))
    sns.boxplot(data=runs, y="variant", x="test_accuracy", order=variants, color="0.92", fliersize=0, ax=ax)
    sns.stripplot(data=runs, y="variant", x="test_accuracy", order=variants, hue="variant", hue_order=variants,
                  palette=_palette(variants), size=7, jitter=0.15, legend=False, ax=ax)
    ax.set(xlabel="final test accuracy (one point per seed)", ylabel="")
    fig.tight_layout()
    return fig


def timing(runs: pd.DataFrame) -> plt.Figure:
    """Train seconds per run by variant, wall and process-CPU side by side, titled with the device(s)."""
    variants = list(dict.fromkeys(runs["variant"]))
    measures = {"train_seconds": "wall", "train_cpu_seconds": "process CPU"}
    long = runs.melt(id_vars=["variant"], value_vars=[c for c in measures if c in runs], var_name="measure",
                     value_name="seconds").dropna(subset=["seconds"])
    long["measure"] = long["measure"].map(measures)
    fig, ax = plt.subplots(figsize=(9, 0.8 * len(variants) + 1.5))
    sns.barplot(data=long, y="variant", x="seconds", order=variants, hue="measure",
                hue_order=[m for m in measures.values() if m in set(long["measure"])], estimator="median",
                errorbar=("pi", 100), ax=ax)
    ax.set(xlabel="train seconds per run (median; whiskers: min–max over seeds)", ylabel="",
           title="device: " + ", ".join(sorted(runs["device_name"].astype(str).unique())))
    legend_outside(fig, ax, "seconds")
    return fig


def gradient_norms(epochs: pd.DataFrame) -> plt.Figure:
    """Measured per-sample logit-gradient norm over training, log scale (epoch 0 = initialisation)."""
    return learning_curves(epochs, metrics=("logit_grad_norm",), log_y=("logit_grad_norm",))


def gradient_steps(epochs: pd.DataFrame, variants=None) -> plt.Figure:
    """The raw logit-gradient norm beside the step it makes, lr x norm (``stats.with_lr``), log scale."""
    return learning_curves(epochs, metrics=("logit_grad_norm", "step_logit"),
                           log_y=("logit_grad_norm", "step_logit"), variants=variants)


def layer_steps(epochs: pd.DataFrame, variants=None) -> plt.Figure:
    """Per layer, lr x mean per-batch weight-gradient norm (``stats.with_lr``), log scale, two panels a row."""
    metrics = [c for c in epochs.columns if c.startswith("step_layer")]
    return learning_curves(epochs, metrics=tuple(metrics), log_y=tuple(metrics), variants=variants, ncols=2)


def gradient_ratio(ratios: pd.DataFrame, name: str, predicted: float | None = None) -> plt.Figure:
    """The logit-gradient ratio of two variants per epoch (``stats.ratio_by_epoch``; min-max over
    seeds as whiskers), with the initial ratio the numerator's loss declares drawn where it declares one
    (``why.ByEpoch.predicted``); a loss that declares none is drawn as measured only."""
    fig, ax = plt.subplots(figsize=(7.5, 3.8))
    ax.errorbar(ratios["epoch"], ratios["mean"], yerr=[ratios["mean"] - ratios["min"], ratios["max"] - ratios["mean"]],
                marker="o", capsize=3, label=f"measured {name} (mean; whiskers: min–max over seeds)")
    top = float(ratios["max"].max()) if len(ratios) else 0.0
    if predicted is not None:
        ax.axhline(predicted, color="tab:green", linestyle="--", label=f"declared initial ratio ({predicted:.4g})")
        top = max(top, predicted)
    ax.set(xlabel="epoch", ylabel="ratio of ‖∂ℓ/∂z‖", ylim=(0, (top or 1.0) * 1.1))
    ax.set_xticks(sorted(ratios["epoch"].unique()))
    ax.legend()
    legend_outside(fig, ax, "")
    return fig


def saturation(epochs: pd.DataFrame, variants=None, left_out=()) -> plt.Figure:
    """How confident the network is, and how often confidently wrong, over training; the variants of
    the losses in ``left_out`` (``why.capped``: their targets cap the softmax) are not drawn: for them
    a low share is automatic, not evidence (``why_words.saturation_caption`` says so)."""
    shown = epochs[~epochs["loss"].isin(list(left_out))] if "loss" in epochs else epochs
    return learning_curves(shown if len(shown) else epochs, metrics=("val_mean_max_prob", "val_confident_wrong"),
                           variants=variants)


def per_seed_curves(epochs: pd.DataFrame) -> plt.Figure:
    """One variant's validation accuracy and train loss ÷ its epoch-0 value, one line per seed.

    Both axes have a fixed range (accuracy 0 to 1, loss ratio 0 to at least 1): a change of a
    fraction of a percent looks as small as it is.
    """
    epochs = relative_loss(epochs)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for ax, metric in zip(axes, ("val_accuracy", "train_loss_relative")):
        sns.lineplot(data=epochs, x="epoch", y=metric, hue="seed", palette="viridis", marker="o",
                     ax=ax, legend=ax is axes[0])
        ax.set(ylabel=label(metric))
        finite = epochs[metric].dropna()
        top = 1.0 if metric in SHARES else max(1.05, float(finite.max()) * 1.05 if len(finite) else 1.05)
        ax.set_ylim(0, top)
        ax.set_xticks(sorted(epochs["epoch"].unique()))
    legend_outside(fig, axes[0], "seed")
    return fig


DIGITS = tuple("0123456789")


def confusion_matrix(predictions: pd.DataFrame, classes: Sequence[str] = DIGITS) -> plt.Figure:
    """Row-normalised confusion matrix (true label x predicted), pooled over the given runs.

    ``classes[i]`` names label i on both axes.
    """
    labels = range(len(classes))
    counts = pd.crosstab(predictions["label"], predictions["predicted"]).reindex(
        index=labels, columns=labels, fill_value=0)
    share = counts.div(counts.sum(axis=1).replace(0, 1), axis=0)
    share.index, share.columns = list(classes), list(classes)
    fig, ax = plt.subplots(figsize=(7, 6))
    sns.heatmap(share, annot=True, fmt=".2f", cmap="Blues", vmin=0, vmax=1, cbar=False, ax=ax,
                annot_kws={"fontsize": 8})
    ax.set(xlabel="predicted", ylabel="true")
    if max(map(len, classes)) > 2:  # names, not digits: slant them so they do not overlap
        ax.tick_params(axis="x", labelrotation=40)
        plt.setp(ax.get_xticklabels(), ha="right", rotation_mode="anchor")
        ax.tick_params(axis="y", labelrotation=0)
    fig.tight_layout()
    return fig


def confidence_histogram(predictions: pd.DataFrame) -> plt.Figure:
    """Max-softmax probability of test predictions, right and wrong separately."""
    data = predictions.assign(outcome=np.where(predictions["label"] == predictions["predicted"], "correct", "wrong"))
    fig, ax = plt.subplots(figsize=(8, 4))
    sns.histplot(data=data, x="confidence", hue="outcome", hue_order=["correct", "wrong"], bins=np.linspace(0, 1, 41),
                 multiple="layer", element="step", fill=False, linewidth=2, stat="count", ax=ax)
    # log counts: a few confidently wrong images stay visible beside thousands of right ones
    ax.set(xlabel="max softmax probability", ylabel="test images (log scale)", yscale="log", xlim=(0, 1))
    ax.set_ylim(bottom=0.8)
    legend_outside(fig, ax, "outcome")
    return fig


def example_grid(images, predictions: pd.DataFrame, classes: Sequence[str] = DIGITS, first: int = 8,
                 wrong: int = 16) -> plt.Figure:
    """The first test images, then the most confidently wrong ones, titled predicted/true class."""
    confidently_wrong = (predictions[predictions["label"] != predictions["predicted"]]
                         .sort_values("confidence", ascending=False).head(wrong))
    chosen = [*predictions.head(first).itertuples(), *confidently_wrong.itertuples()]
    cols = 8
    rows = max(1, -(-len(chosen) // cols))
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 1.35, rows * 1.6), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, r in zip(axes.flat, chosen):
        ax.imshow(np.asarray(images[r.index]), cmap="gray_r")
        color = "tab:red" if r.predicted != r.label else "black"
        ax.set_title(f"pred {classes[r.predicted]} ({r.confidence:.2f})\ntrue {classes[r.label]}", fontsize=8,
                     color=color)
    fig.tight_layout()
    return fig
