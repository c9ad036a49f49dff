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

from .stats import ci95

sns.set_theme(style="whitegrid", context="notebook")
SHARES = {"val_accuracy", "test_accuracy", "train_accuracy", "val_mean_max_prob", "val_confident_wrong"}


def band(metric: str):
    """The 95% t-interval (stats.ci95) seaborn draws around each epoch's mean over seeds; for a
    share (accuracy, probability) it is clipped to [0, 1], where the quantity lives."""
    if metric not in SHARES:
        return ci95
    return lambda values: tuple(min(max(v, 0.0), 1.0) for v in ci95(values))


LABELS = {
    "val_accuracy": "validation accuracy", "test_accuracy": "test accuracy", "train_loss": "train loss",
    "logit_grad_norm": "mean ‖∂ℓ/∂z‖ per sample", "val_mean_max_prob": "mean max-softmax probability",
    "val_confident_wrong": "share confidently wrong (p > 0.9)", "train_seconds": "train seconds per run",
}


def _scale(values: pd.Series, log: bool) -> str:
    """Log scale only when asked for and the values span more than a factor of 10."""
    positive = values[values > 0]
    return "log" if log and len(positive) and positive.max() > 10 * positive.min() else "linear"


def _palette(variants) -> dict:
    return dict(zip(variants, sns.color_palette("tab10", len(variants))))


def learning_curves(epochs: pd.DataFrame, metrics=("val_accuracy", "train_loss"), log_y=("train_loss",)) -> plt.Figure:
    """One panel per metric: mean over seeds per variant and epoch, with a 95% CI band."""
    variants = list(dict.fromkeys(epochs["variant"]))
    fig, axes = plt.subplots(1, len(metrics), figsize=(6 * len(metrics), 4.2), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        sns.lineplot(data=epochs, x="epoch", y=metric, hue="variant", hue_order=variants, palette=_palette(variants),
                     errorbar=band(metric), marker="o", ax=ax, legend=ax is axes[0][0])
        ax.set(ylabel=LABELS.get(metric, metric), yscale=_scale(epochs[metric], metric in log_y))
        if metric in SHARES:  # a share axis never shows negative values (all zeros drew -0.04 ... 0.04)
            ax.set_ylim(bottom=0)
        ax.set_xticks(sorted(epochs["epoch"].unique()))
    if axes[0][0].get_legend():
        axes[0][0].legend(title="variant", fontsize=9)
    fig.tight_layout()
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
    ax.legend(title="seconds", fontsize=9)
    fig.tight_layout()
    return fig


def gradient_norms(epochs: pd.DataFrame) -> plt.Figure:
    """Measured per-sample logit-gradient norm over training, log scale (epoch 0 = initialisation)."""
    return learning_curves(epochs, metrics=("logit_grad_norm",), log_y=("logit_grad_norm",))


def saturation(epochs: pd.DataFrame) -> plt.Figure:
    """How confident the network is, and how often confidently wrong, over training."""
    return learning_curves(epochs, metrics=("val_mean_max_prob", "val_confident_wrong"), log_y=())


def per_seed_curves(epochs: pd.DataFrame) -> plt.Figure:
    """One variant's validation accuracy and train loss, one line per seed."""
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2))
    for ax, metric in zip(axes, ("val_accuracy", "train_loss")):
        sns.lineplot(data=epochs, x="epoch", y=metric, hue="seed", palette="viridis", marker="o",
                     ax=ax, legend=ax is axes[0])
        ax.set(ylabel=LABELS[metric], yscale=_scale(epochs[metric], metric == "train_loss"))
        ax.set_xticks(sorted(epochs["epoch"].unique()))
    fig.tight_layout()
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
    fig.tight_layout()
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
