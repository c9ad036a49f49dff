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
from .alt import describe
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
WIDTH = 1.8  # a line's width; in a group of lines drawn on top of each other, the first drawn is wider
TWIN_WIDTHS = (4.5, 2.6, 1.4, 0.9)  # widths of the 1st, 2nd, ... line of such a group, in drawing order
SEED_LINES = ["-", "--", ":", "-."]  # one seed's line from another's, within one colour


def _dashes(variants) -> dict:
    return {v: DASHES[i % len(DASHES)] for i, v in enumerate(variants)}


def _markers(variants) -> dict:
    return {v: MARKERS[i % len(MARKERS)] for i, v in enumerate(variants)}


def styles(variants) -> dict[str, dict]:
    """Each variant's colour, dash pattern and marker, from its place in ``variants`` (a page's whole
    variant order, so a variant looks the same in every figure of the page): no two variants share
    a colour or a dash pattern within the first 9, so lines that coincide stay told apart."""
    palette, dashes, markers = _palette(variants), _dashes(variants), _markers(variants)
    return {v: {"color": palette[v], "dashes": dashes[v], "marker": markers[v]} for v in variants}


def widths(data: pd.DataFrame, metric: str, drawn, relative: bool = False, x: str = "epoch") -> dict[str, float]:
    """Line width per variant in one panel, so that no line hides another: lines whose mean curves lie
    on top of each other (``stats.coinciding`` at ``decisions.COINCIDE``'s tolerance of ``metric``,
    relative on a log axis; 1% where the metric has none) get ``TWIN_WIDTHS`` in drawing order (``drawn``),
    the first drawn widest, each later one narrower on top of it, so every one shows at its edges;
    every other line ``WIDTH``. Any variants, not named ones: read from the data."""
    from .decisions import COINCIDE
    from .stats import coinciding

    tolerance = COINCIDE.get(metric, (0.01,))[0]
    table = data.rename(columns={x: "epoch"}) if x != "epoch" else data
    groups = coinciding(table, metric, tolerance, relative=relative) if metric in table else []
    out = {v: WIDTH for v in drawn}
    order = list(drawn)
    for group in groups:
        members = sorted((v for v in group if v in out), key=order.index)
        for rank, v in enumerate(members):
            out[v] = TWIN_WIDTHS[min(rank, len(TWIN_WIDTHS) - 1)]
    return out


def banded(data: pd.DataFrame) -> bool:
    """Whether a figure draws 95% bands for these runs: every variant has ``decisions.MIN_SEEDS_FOR_BAND``
    seeds or more (with fewer the band of a t with df = 1 hides what the seeds show; each seed is drawn)."""
    from .decisions import MIN_SEEDS_FOR_BAND

    seeds = data.groupby("variant")["seed"].nunique()
    return bool(len(seeds)) and bool((seeds >= MIN_SEEDS_FOR_BAND).all())


def mean_lines(ax: plt.Axes) -> list:
    """The lines of a panel that are means (not one seed's line, gid "seed"), in drawing order."""
    return [line for line in ax.get_lines() if line.get_gid() != "seed"]


def _describe_curves(epochs: pd.DataFrame, metric: str, shown) -> str:
    """The alt text's main numbers: each variant's mean ``metric`` at the last epoch."""
    last = epochs[epochs["epoch"] == epochs["epoch"].max()].groupby("variant")[metric].mean()
    values = ", ".join(f"{v} {last[v]:.4g}" for v in shown if v in last and pd.notna(last[v]))
    return f"{label(metric).capitalize()} at epoch {int(epochs['epoch'].max())}, mean over seeds: {values}." \
        if values else ""


def learning_curves(epochs: pd.DataFrame, metrics=("val_accuracy", "train_loss_relative"), log_y=(),
                    ylim=None, variants=None, ncols: int | None = None) -> plt.Figure:
    """One panel per metric: mean over seeds per variant and epoch; with ``decisions.MIN_SEEDS_FOR_BAND``
    seeds or more per variant its 95% CI band, with fewer each seed as a thin line (``banded``).

    Each variant has its own colour, dash pattern and marker (``styles``), and lines that coincide
    get widths that keep each visible (``widths``); the legend sits outside the panels.
    ``train_loss_relative`` is computed here (``relative_loss``); its axis starts at 0 and shows
    at least 0 to 1. ``ylim`` fixes every panel's range. ``variants``, the sweep's whole variant
    order, keeps each variant's colour and dashes the same in every figure of a page, whichever
    subset a figure draws. ``ncols`` panels per row (default: all in one row).
    """
    if "train_loss_relative" in metrics and "train_loss_relative" not in epochs:
        epochs = relative_loss(epochs)
    present = set(epochs["variant"])
    order = list(variants if variants is not None else dict.fromkeys(epochs["variant"]))
    order += [v for v in dict.fromkeys(epochs["variant"]) if v not in order]
    look = styles(order)
    shown = [v for v in order if v in present]
    with_band = banded(epochs)
    ncols = ncols or len(metrics)
    nrows = -(-len(metrics) // ncols)
    fig, grid = plt.subplots(nrows, ncols, figsize=(5.4 * ncols, 4.2 * nrows), squeeze=False)
    axes = [list(grid.flat)]
    for ax in axes[0][len(metrics):]:
        ax.set_visible(False)
    palette = {v: look[v]["color"] for v in shown}
    for ax, metric in zip(axes[0], metrics):
        if not with_band:  # each seed, thin and light, under the means (gid "seed": told from the means)
            sns.lineplot(data=epochs, x="epoch", y=metric, hue="variant", hue_order=shown, palette=palette,
                         units="seed", estimator=None, linewidth=0.8, alpha=0.45, legend=False, ax=ax)
            for line in ax.get_lines():
                line.set_gid("seed")
        sizes = widths(epochs, metric, shown, relative=metric in log_y)
        sns.lineplot(data=epochs, x="epoch", y=metric, hue="variant", hue_order=shown, palette=palette,
                     style="variant", style_order=shown, dashes={v: look[v]["dashes"] for v in shown},
                     markers={v: look[v]["marker"] for v in shown}, markersize=7,
                     size="variant", size_order=shown, sizes=sizes,
                     errorbar=band(metric) if with_band else None, ax=ax, legend=ax is axes[0][0])
        ax.set(ylabel=label(metric), yscale=_scale(epochs[metric], metric in log_y))
        if metric in SHARES:  # a share axis never shows negative values (all zeros drew -0.04 ... 0.04)
            ax.set_ylim(bottom=0)
        if metric in RELATIVE:  # 0 to at least 1: a 0.25% change stays a flat line, not a steep one
            ax.set_ylim(0, max(1.05, ax.get_ylim()[1]))
        if ylim is not None:
            ax.set_ylim(*ylim)
        ax.set_xticks(sorted(epochs["epoch"].unique()))
    legend_outside(fig, axes[0][0], "variant")
    seeds = epochs.groupby("variant")["seed"].nunique()
    describe(fig, f"Learning curves of {len(shown)} variant{'s' if len(shown) != 1 else ''} "
                  f"({seeds.min()}{'' if seeds.min() == seeds.max() else f'–{seeds.max()}'} seeds each; "
                  + ("mean with its 95% band" if with_band else "mean bold, each seed a thin line, no band")
                  + "). " + _describe_curves(epochs, metrics[0], shown))
    return fig


def paired_difference(epochs: pd.DataFrame, pairs, metric: str = "val_accuracy") -> plt.Figure | None:
    """Per pair (a, b) of variants that share seeds (seed s: the same split, initial weights and batch
    order), ``metric`` of a minus that of b, seed by seed, per epoch: each seed a line, with the mean and
    its 95% band only from ``decisions.MIN_SEEDS_FOR_BAND`` paired seeds (``banded``). The zero line is
    no difference. None when no pair shares a seed."""
    from .stats import ci95

    rows = []
    for a, b in pairs:
        wide = epochs[epochs["variant"].isin([a, b])].pivot_table(index=["seed", "epoch"], columns="variant",
                                                                  values=metric)
        if a not in wide or b not in wide:
            continue
        diff = (wide[a] - wide[b]).dropna().rename("difference").reset_index()
        rows.append(diff.assign(pair=f"{a} − {b}"))
    if not rows:
        return None
    data = pd.concat(rows, ignore_index=True)
    data["points"] = data["difference"] * (100 if metric in SHARES else 1)
    names = list(dict.fromkeys(data["pair"]))
    palette = _palette(names)
    fig, ax = plt.subplots(figsize=(7.5, 3.8))
    ax.axhline(0, color="0.3", linewidth=1)
    seeds = data.groupby("pair")["seed"].nunique()
    for name in names:
        part = data[data["pair"] == name]
        for i, (seed, line) in enumerate(part.groupby("seed")):
            ax.plot(line["epoch"], line["points"], color=palette[name], linestyle=SEED_LINES[i % len(SEED_LINES)],
                    marker=MARKERS[i % len(MARKERS)], linewidth=1.4, label=f"{name}, seed {seed}")
        if seeds[name] >= _min_band():
            by = part.groupby("epoch")["points"]
            low_high = by.apply(lambda v: ci95(v.to_numpy()))
            ax.fill_between(low_high.index, [x[0] for x in low_high], [x[1] for x in low_high], color=palette[name],
                            alpha=0.12, linewidth=0, label=f"{name}: 95% band of the mean")
    unit = "points" if metric in SHARES else ""
    ax.set(xlabel="epoch", ylabel=f"paired difference of\n{label(metric)}" + (f" ({unit})" if unit else ""))
    ax.set_xticks(sorted(data["epoch"].unique()))
    ax.legend()
    legend_outside(fig, ax, "pair (same seed)")
    last = data[data["epoch"] == data["epoch"].max()]
    describe(fig, f"Paired per-seed difference of {label(metric)}" + (" in points" if unit else "") + ": "
             + "; ".join(f"{name} at epoch {int(data['epoch'].max())}: "
                         + ", ".join(f"seed {r.seed} {r.points:+.2f}" for r in last[last['pair'] == name].itertuples())
                         for name in names) + ".")
    return fig


def paired_final(runs: pd.DataFrame, reference: str, metric: str = "test_accuracy") -> plt.Figure | None:
    """Each variant's final ``metric`` minus the reference's on the same seed (the same split, initial
    weights and batch order), in points: one marker per seed, a row per variant, 0 marked; the evidence
    the paired tests read, drawn without an interval (the table beside it gives the 95% CI). None
    when no variant shares a seed with the reference."""
    wide = runs.pivot_table(index="seed", columns="variant", values=metric)
    if reference not in wide:
        return None
    others = [v for v in dict.fromkeys(runs["variant"]) if v != reference and v in wide]
    rows = [(v, int(seed), 100 * (wide.loc[seed, v] - wide.loc[seed, reference])) for v in others
            for seed in wide.index if pd.notna(wide.loc[seed, v]) and pd.notna(wide.loc[seed, reference])]
    if not rows:
        return None
    data = pd.DataFrame(rows, columns=["variant", "seed", "points"])
    shown = list(dict.fromkeys(data["variant"]))
    palette = _palette(list(dict.fromkeys(runs["variant"])))
    fig, ax = plt.subplots(figsize=(9, 0.55 * len(shown) + 1.5))
    ax.axvline(0, color="0.3", linewidth=1)
    seeds = sorted(data["seed"].unique())
    for i, v in enumerate(shown):
        part = data[data["variant"] == v]
        for seed, x in zip(part["seed"], part["points"]):
            k = seeds.index(seed)
            ax.plot([x], [i + 0.25 * (k / max(len(seeds) - 1, 1) - 0.5)], linestyle="none", color=palette[v],
                    marker=MARKERS[k % len(MARKERS)], markersize=7)
    ax.set_yticks(range(len(shown)), shown)
    ax.invert_yaxis()
    ax.set(xlabel=f"{label(metric)} minus {reference}'s on the same seed (points)", ylabel="")
    from matplotlib.lines import Line2D

    ax.legend(handles=[Line2D([], [], color="0.35", marker=MARKERS[k % len(MARKERS)], linestyle="none",
                              label=f"seed {seed}") for k, seed in enumerate(seeds)])
    legend_outside(fig, ax, "seed (marker)")
    spans = data.groupby("variant", sort=False)["points"].agg(["min", "max"])
    return describe(fig, f"Paired per-seed difference of {label(metric)} from {reference}, in points: " + "; ".join(
        f"{v} {spans.loc[v, 'min']:+.2f} to {spans.loc[v, 'max']:+.2f}" for v in shown) + ".")


def _min_band() -> int:
    from .decisions import MIN_SEEDS_FOR_BAND

    return MIN_SEEDS_FOR_BAND


def final_accuracy(runs: pd.DataFrame) -> plt.Figure:
    """Per-seed final test accuracy: box per variant with every seed as a point."""
    variants = list(dict.fromkeys(runs["variant"]))
    fig, ax = plt.subplots(figsize=(9, 0.55 * len(variants) + 1.5))
    sns.boxplot(data=runs, y="variant", x="test_accuracy", order=variants, color="0.92", fliersize=0, ax=ax)
    sns.stripplot(data=runs, y="variant", x="test_accuracy", order=variants, hue="variant", hue_order=variants,
                  palette=_palette(variants), size=7, jitter=0.15, legend=False, ax=ax)
    ax.set(xlabel="final test accuracy (one point per seed)", ylabel="")
    fig.tight_layout()
    means = runs.groupby("variant", sort=False)["test_accuracy"].agg(["mean", "min", "max", "count"])
    return describe(fig, "Final test accuracy per variant, one point per seed: " + "; ".join(
        f"{v} mean {r['mean']:.4f} (seeds {r['min']:.4f} to {r['max']:.4f}, {int(r['count'])} seeds)"
        for v, r in means.iterrows()) + ".")


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
    medians = runs.groupby("variant", sort=False)["train_seconds"].median()
    return describe(fig, "Train seconds per run by variant (median over seeds, wall clock): "
                    + ", ".join(f"{v} {t:.3g} s" for v, t in medians.items()) + ".")


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
    seeds as whiskers). Epoch 0 is one network under both losses: the ratio of the losses alone, where
    the numerator's declared initial ratio (``why.ByEpoch.predicted``) applies, drawn there only (a
    loss that declares none is drawn as measured only). Later epochs compare two networks, each
    trained with its own loss: drawn hollow and apart, with no theory line across them, since no
    bound on one network's ratio bounds theirs."""
    fig, ax = plt.subplots(figsize=(7.5, 3.8))
    first, later = ratios[ratios["epoch"] == 0], ratios[ratios["epoch"] > 0]
    colour = "tab:blue"
    for part, hollow, text in ((first, False, "epoch 0: one network, both losses"),
                               (later, True, "later: two networks, each trained with its own loss")):
        if part.empty:
            continue
        ax.errorbar(part["epoch"], part["mean"], yerr=[part["mean"] - part["min"], part["max"] - part["mean"]],
                    marker="o", markersize=7, capsize=3, color=colour, linestyle="--" if hollow else "none",
                    markerfacecolor="white" if hollow else colour, label=f"{text} (mean; whiskers: min–max over seeds)")
    top = float(ratios["max"].max()) if len(ratios) else 0.0
    if predicted is not None:
        ax.plot([-0.25, 0.25], [predicted, predicted], color="tab:green", linewidth=3,
                label=f"declared at uniform outputs, one network (epoch 0): {predicted:.4g}")
        top = max(top, predicted)
    ax.set(xlabel="epoch", ylabel=f"ratio of ‖∂ℓ/∂z‖\n{name}", ylim=(0, (top or 1.0) * 1.1))
    ax.set_xticks(sorted(ratios["epoch"].unique()))
    ax.legend()
    legend_outside(fig, ax, "")
    text = f"Ratio of mean logit-gradient norms, {name}, per epoch."
    if len(first):
        text += f" Epoch 0 (one network): {first['mean'].iloc[0]:.4f}"
        text += f", declared {predicted:.4g}." if predicted is not None else " (no declared theory)."
    if len(later):
        text += (f" Epochs {int(later['epoch'].min())}–{int(later['epoch'].max())} (two networks): "
                 f"{later['mean'].min():.4f} to {later['mean'].max():.4f}.")
    describe(fig, text)
    return fig


def saturation(epochs: pd.DataFrame, variants=None, left_out=()) -> plt.Figure | None:
    """How confident the network is, and how often confidently wrong, over training; the variants of
    the losses in ``left_out`` (``why.capped``: their targets cap the softmax) are not drawn: for them
    a low share is automatic, not evidence (``why_words.saturation_caption`` says so). None when
    nothing is left to draw."""
    shown = epochs[~epochs["loss"].isin(list(left_out))] if "loss" in epochs else epochs
    if shown.empty:
        return None
    return learning_curves(shown, metrics=("val_mean_max_prob", "val_confident_wrong"), variants=variants)


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
    last = epochs[epochs["epoch"] == epochs["epoch"].max()].sort_values("seed")
    return describe(fig, f"One variant's validation accuracy and relative train loss per epoch, one line per seed; "
                    f"validation accuracy at epoch {int(epochs['epoch'].max())}: "
                    + ", ".join(f"seed {r.seed} {r.val_accuracy:.4f}" for r in last.itertuples()) + ".")


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
    right = float(np.trace(counts.to_numpy())) / max(int(counts.to_numpy().sum()), 1)
    worst = share.to_numpy().copy()
    np.fill_diagonal(worst, 0)
    i, j = np.unravel_index(int(worst.argmax()), worst.shape)
    describe(fig, f"Confusion matrix, true class against predicted, each row a share of its class; {right:.1%} on the "
             f"diagonal (correct). Most confused: true {classes[i]} predicted as {classes[j]} ({worst[i, j]:.0%} of "
             f"its images).")
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
    wrong = data[data["outcome"] == "wrong"]
    return describe(fig, f"Histogram of the max softmax probability of {len(data)} test predictions, correct and wrong "
                    f"apart; {len(wrong)} wrong, {int((wrong['confidence'] > 0.9).sum())} of them with probability "
                    "above 0.9.")


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
    return describe(fig, f"Test images: the first {min(first, len(predictions))}, then the "
                    f"{len(confidently_wrong)} most confidently wrong, each titled with its predicted class, "
                    "probability and true class"
                    + (": " + "; ".join(f"true {classes[r.label]} predicted {classes[r.predicted]} at "
                                        f"{r.confidence:.2f}" for r in confidently_wrong.head(3).itertuples())
                       if len(confidently_wrong) else "") + ".")
