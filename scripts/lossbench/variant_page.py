"""The variant page: one variant's runs, as records, then words (figures: ``lossbench.plots``).

``overview`` and ``guessing`` read the tables into records; the other functions word them. The
thresholds (guessing one class, confidently wrong) are ``lossbench.decisions``'s.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from . import stats
from .decisions import GUESSING
from .why import CONFIDENT
from .words import acc, seeds

FLAT = 0.01  # to decisions.py: a train loss within 1% of its epoch-0 value at every epoch draws as a flat line


@dataclass(frozen=True)
class Overview:
    loss: str
    lr: float
    batch_size: int
    epochs: int
    seeds: int
    mean: float
    low: float  # the seeds' lowest and highest test accuracy
    high: float
    diverged: tuple[int, ...]  # the seeds that diverged


@dataclass(frozen=True)
class Guessing:
    """The median seed predicting one class for most test images (class-prior guessing)."""

    label: int
    share: float  # of the test images predicted as that class
    prior: float  # that class's share of the test labels
    top: float  # the largest probability on any image


def overview(runs: pd.DataFrame) -> Overview | None:
    if len(runs) == 0:
        return None
    first = runs.iloc[0]
    test = runs["test_accuracy"]
    return Overview(str(first["loss"]), float(first["lr"]), int(first["batch_size"]), int(first["epochs"]), len(runs),
                    float(test.mean()), float(test.min()), float(test.max()),
                    tuple(int(s) for s in runs.loc[runs["status"] == "diverged", "seed"]))


def guessing(predictions: pd.DataFrame) -> Guessing | None:
    shares = stats.predicted_shares(predictions)
    if shares.empty or shares["predicted_share"].iloc[0] <= GUESSING:
        return None
    return Guessing(int(shares.index[0]), float(shares["predicted_share"].iloc[0]),
                    float(shares["label_share"].iloc[0]), float(predictions["confidence"].max()))


def overview_text(o: Overview | None) -> str:
    if o is None:
        return "No runs of this variant in the tables."
    spread = f" (min {acc(o.low)}, max {acc(o.high)})" if o.seeds > 1 else ""
    text = (f"Loss `{o.loss}`, lr {o.lr:g}, batch {o.batch_size}, {o.epochs} epochs, {seeds(o.seeds)}: test accuracy "
            f"{acc(o.mean)}{spread}.")
    if o.diverged:
        text += (f"\n\n⚠ **{len(o.diverged)} of {o.seeds} run(s) diverged** (seeds {', '.join(map(str, o.diverged))}); "
                 "a diverged run's accuracy is the last one measured before its loss became non-finite.")
    return text


def per_seed_caption(runs: pd.DataFrame, epochs: pd.DataFrame | None = None) -> str:
    """The every-seed section: what it shows for this many seeds, its fixed axes, and (with
    ``epochs``) when the seeds' loss lines lie on top of each other near their start."""
    text = ("Axes are fixed (accuracy 0 to 1; train loss as a share of its epoch-0 value, 0 to at least 1), so a "
            "small change looks small.")
    text = ("One seed only: one line per panel, no spread over seeds to show. " if len(runs) < 2 else
            f"{len(runs)} seeds, one line each. ") + text
    if epochs is not None and len(epochs) and "train_loss" in epochs:
        relative = stats.relative_loss(epochs)["train_loss_relative"]
        if relative.isna().any():  # a diverged run: its lines stop, and nothing is said about the ones left
            return text + " Lines stop where a run diverged (its loss not finite from that epoch on)."
        change = (relative - 1).abs().max() if len(relative) else math.nan
        if change < FLAT:
            text += (f" The train loss stays within {change * 100:.2g}% of its epoch-0 value at every epoch"
                     + (" of every seed, so those lines lie on top of each other at 1." if len(runs) > 1 else "."))
    return text


def guessing_text(g: Guessing | None, classes=tuple("0123456789")) -> str | None:
    if g is None:
        return None
    return (f"**Guessing one class:** this network predicts class {classes[g.label]} for {g.share:.0%} of the test "
            f"images (that class is {g.prior:.0%} of them), with a largest probability of {g.top:.2f} on any image. "
            "Its accuracy is close to what always naming one class scores (class-prior guessing): it has not learned "
            "to tell the classes apart. The confusion matrix below is mostly one column, and the \"most confidently "
            "wrong\" examples are only its least unsure wrong guesses.")


def examples_caption(predictions: pd.DataFrame) -> str:
    """How confident the most confidently wrong examples actually are."""
    wrong = predictions[predictions["label"] != predictions["predicted"]]
    text = "Title: predicted class (its probability) and true class; red = wrong."
    if wrong.empty:
        return text + " No test image is wrong: no wrong examples to show."
    top = wrong["confidence"].max()
    confident = (wrong["confidence"] > CONFIDENT).sum()
    if confident == 0:
        return text + (f" None of the {len(wrong)} wrong predictions is confident (p > {CONFIDENT:g}): the most "
                       f"confident wrong one has p = {top:.2f}.")
    return text + (f" {confident} of the {len(wrong)} wrong predictions have p > {CONFIDENT:g} (the most confident: "
                   f"{top:.2f}).")


def examples_note(runs: pd.DataFrame) -> str | None:
    """Why the median seed's test-set figures are missing (every run diverged), or None when they are shown."""
    if len(runs) == 0:
        return "No runs of this variant in the tables: nothing to show."
    if (runs["status"] == "diverged").all():
        return ("Every run of this variant diverged: its weights are not finite, so its test-set predictions "
                "(confusion matrix, examples, confidence) mean nothing and are not shown.")
    return None


def test_set_heading(runs: pd.DataFrame, run: pd.Series) -> str:
    """The heading of the test-set figures: which seed they show and why that one."""
    among = ", among the runs that did not diverge" if (runs["status"] == "diverged").any() else ""
    return f"## Test set of seed {run['seed']} (median test accuracy {acc(run['test_accuracy'])}{among})"
