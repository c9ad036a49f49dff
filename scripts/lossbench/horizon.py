"""Slow, or stuck? The long-horizon runs (config ``horizon:``) read with one stated criterion.

Five epochs cannot tell a loss that learns slowly from one that has stopped. The horizon runs
train a few variants for a longer epoch budget E (tables ``horizon_runs.csv`` and
``horizon_epochs.csv``, gathered with ``lossbench gather --prefix horizon_``); this module
reads each variant's curve and says which it is. The *why* page ("Slow or stuck?") shows
``statement``, ``twin``, ``caption``, ``curves`` and ``display``; tests/test_horizon.py checks
every sentence on constructed tables.

The criterion, on a variant's curve a(e) = mean validation accuracy over its seeds at each
epoch e (measured every epoch; an epoch some seed lacks is left out), with a window of W
epochs and a gain of g (config ``plateau_window``, ``plateau_gain``; defaults 4, 0.01 = 1 point):

- **still rising** when a(E) - a(E - W) >= g: it gained g or more over the last W epochs of
  the budget (E - W: the last evaluated epoch at or before it);
- **levelled off** from epoch p otherwise, where p is the first evaluated epoch after which the
  curve never again reaches a(p) + g, provided p <= E - W (it held for W epochs or more);
- **not settled** otherwise (no gain of g over the last W epochs, yet not within g of one level
  for W epochs either: it rose and fell back late).

A variant with a diverged run, or a budget shorter than W, gets no verdict, and says why.
"Levelled off" holds within the budget only: mse_softmax at lr 0.1 on MNIST levels off from
epoch 15 of 20, dips, and climbs past its cross-entropy twin by epoch 40 (README).

``twin`` follows mse_softmax at lr η against cross_entropy at η·2/C² (the same step while the
outputs are uniform) epoch by epoch: up to when they track within g, and how they part.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns
from matplotlib.ticker import MaxNLocator

from .plots import _palette, band
from .prose import _acc
from .stats import theoretical_ratio

EPS = 1e-9  # accuracies are fractions of the validation set: compare gains with this slack
COLUMNS = ["variant", "loss", "lr", "seeds", "budget", "verdict", "plateau_epoch", "val_accuracy_start",
           "val_accuracy_end", "last_window_gain", "low", "high", "peak", "peak_epoch", "test_accuracy"]


@dataclass(frozen=True)
class Verdict:
    """How one curve ends: ``kind`` is rising, plateau, unsettled or short (budget < window)."""

    kind: str
    budget: int
    start: int  # E - W (the last evaluated epoch at or before it): where the last window starts
    start_value: float
    end_value: float
    plateau_epoch: float = math.nan  # p, for a plateau
    low: float = math.nan  # range of the curve from p (plateau) or from the window's start (unsettled)
    high: float = math.nan
    peak: float = math.nan  # highest value over the whole curve, and where
    peak_epoch: float = math.nan

    @property
    def gain(self) -> float:
        return self.end_value - self.start_value


def verdict(curve: pd.Series, window: int, gain: float) -> Verdict:
    """Read one curve (index: evaluated epochs, ascending; values: mean validation accuracy)."""
    curve = curve.dropna().sort_index()
    epochs, values = list(curve.index), list(curve.values)
    budget = int(epochs[-1])
    peak_at = int(curve.idxmax())
    common = {"budget": budget, "end_value": values[-1], "peak": float(curve.max()), "peak_epoch": peak_at}
    if len(epochs) < 2 or budget - epochs[0] < window:
        return Verdict("short", start=int(epochs[0]), start_value=values[0], **common)
    start = max(e for e in epochs if e <= budget - window)
    start_value = float(curve[start])
    if values[-1] - start_value >= gain - EPS:
        return Verdict("rising", start=start, start_value=start_value, **common)
    plateau = next(e for i, e in enumerate(epochs) if all(v < values[i] + gain - EPS for v in values[i + 1:]))
    if plateau <= budget - window:
        after = curve[curve.index >= plateau]
        return Verdict("plateau", start=start, start_value=start_value, plateau_epoch=plateau,
                       low=float(after.min()), high=float(after.max()), **common)
    late = curve[curve.index >= start]
    return Verdict("unsettled", start=start, start_value=start_value, low=float(late.min()),
                   high=float(late.max()), **common)


def load(runs_csv: str, epochs_csv: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The horizon tables; two empty tables when the block is off (the page passes "")."""
    if not runs_csv or not epochs_csv:
        return (pd.DataFrame(columns=["variant", "loss", "lr", "seed", "status", "epochs", "diverged_epoch",
                                      "test_accuracy"]),
                pd.DataFrame(columns=["variant", "seed", "epoch", "val_accuracy"]))
    return pd.read_csv(runs_csv), pd.read_csv(epochs_csv)


def curve_of(epochs: pd.DataFrame, variant: str) -> pd.Series:
    """A variant's mean validation accuracy over its seeds at each epoch every seed evaluated."""
    rows = epochs[epochs["variant"] == variant]
    wide = rows.pivot_table(index="epoch", columns="seed", values="val_accuracy", aggfunc="first", dropna=False)
    return wide.dropna().mean(axis=1)


def verdicts(runs: pd.DataFrame, epochs: pd.DataFrame, window: int, gain: float) -> pd.DataFrame:
    """One row per horizon variant, in the tables' order: its verdict and the numbers behind it.

    ``verdict`` is rising, plateau, unsettled, short, or diverged (a run diverged: no verdict)."""
    rows = []
    for variant, group in runs.groupby("variant", sort=False):
        base = {"variant": variant, "loss": group["loss"].iloc[0], "lr": group["lr"].iloc[0],
                "seeds": len(group), "budget": int(group["epochs"].iloc[0])}
        if (group["status"] != "ok").any():
            rows.append({**base, "verdict": "diverged"})
            continue
        v = verdict(curve_of(epochs, variant), window, gain)
        rows.append({**base, "verdict": v.kind, "plateau_epoch": v.plateau_epoch, "val_accuracy_start": v.start_value,
                     "start_epoch": v.start, "val_accuracy_end": v.end_value, "last_window_gain": v.gain,
                     "low": v.low, "high": v.high, "peak": v.peak, "peak_epoch": v.peak_epoch,
                     "test_accuracy": group["test_accuracy"].mean()})
    return pd.DataFrame(rows, columns=[*COLUMNS, "start_epoch"])


def _pts(value: float) -> str:
    return f"{value * 100:.1f}"


def _gain_words(gain: float) -> str:
    """The criterion's gain in points of accuracy: 0.01 -> '1 point', 0.02 -> '2 points'."""
    return f"{gain * 100:g} point{'' if gain * 100 == 1 else 's'}"


def _seeds(n: int) -> str:
    return "1 seed" if n == 1 else f"mean of {n} seeds"


def criterion(window: int, gain: float) -> str:
    """The criterion in words, with this page's window and gain."""
    points = _gain_words(gain)
    return (f"A curve is **still rising** if its mean validation accuracy gained at least {points} over the "
            f"last {window} epochs of the budget; it has **levelled off** from the first epoch after which it "
            f"never again gets {points} higher, if that epoch is {window} or more epochs before the budget; "
            f"otherwise it is **not settled**. Levelled off holds within the budget only: a flat stretch can be a "
            f"stall that a longer budget shows ending (`--config 'horizon={{epochs: 40}}'`; README, \"Slow or "
            f"stuck?\").")


def sentence(row: pd.Series, best: pd.Series | None, window: int, gain: float) -> str:
    """One variant's verdict in words (markdown list item); ``best``: the variant ending highest."""
    name, budget = f"`{row['variant']}` (lr {row['lr']:g}, {_seeds(int(row['seeds']))})", int(row["budget"])
    if row["verdict"] == "diverged":
        return f"- ⚠ {name}: runs **diverged** within the {budget}-epoch budget; no verdict."
    if row["verdict"] == "short":
        return (f"- {name}: its budget ({budget} epochs) is shorter than the plateau window ({window} epochs); "
                f"no verdict.")
    start, end = int(row["start_epoch"]), _acc(row["val_accuracy_end"])
    if row["verdict"] == "rising":
        return (f"- {name}: **still rising at the budget** — +{_pts(row['last_window_gain'])} points of "
                f"validation accuracy over its last {budget - start} epochs ({_acc(row['val_accuracy_start'])} at "
                f"epoch {start}, {end} at epoch {budget}): slow, not stuck, within {budget} epochs.")
    if row["verdict"] == "unsettled":
        return (f"- {name}: **not settled at the budget** — it gained less than {_gain_words(gain)} over its last "
                f"{budget - start} epochs ({_acc(row['val_accuracy_start'])} → {end}) but moved between "
                f"{_acc(row['low'])} and {_acc(row['high'])} in them.")
    plateau = int(row["plateau_epoch"])
    text = (f"- {name}: **levelled off from epoch {plateau}** — from there to the budget ({budget} epochs) its "
            f"validation accuracy stays between {_acc(row['low'])} and {_acc(row['high'])}, {end} at epoch {budget}")
    if row["peak"] - row["val_accuracy_end"] >= gain - EPS:
        fell = row["peak"] - row["val_accuracy_end"]
        text += f" ({_pts(fell)} points below its peak at epoch {int(row['peak_epoch'])})"
    if best is not None and best["variant"] != row["variant"]:
        below = best["val_accuracy_end"] - row["val_accuracy_end"]
        if below >= gain - EPS:
            text += f"; {_pts(below)} points below `{best['variant']}` ({_acc(best['val_accuracy_end'])})"
    return text + "."


def statement(table: pd.DataFrame, window: int, gain: float) -> str:
    """The section's computed text: the criterion, one sentence per variant, and the reading."""
    if table.empty:
        return ("No long-horizon runs in this sweep (config `horizon:` is off): five epochs cannot tell slow "
                "from stuck. Turn the block on in `config/config.yaml` to train the key variants longer.")
    judged = table[~table["verdict"].isin(["diverged", "short"])]
    best = judged.loc[judged["val_accuracy_end"].idxmax()] if len(judged) else None
    lines = [criterion(window, gain), "", *(sentence(row, best, window, gain) for _, row in table.iterrows())]
    rising = list(table.loc[table["verdict"] == "rising", "variant"])
    levelled = list(table.loc[table["verdict"] == "plateau", "variant"])
    if rising or levelled:
        parts = []
        if rising:
            parts.append(f"**slow** (still rising): {', '.join(f'`{v}`' for v in rising)}")
        if levelled:
            parts.append("**levelled off**: " + ", ".join(
                f"`{v}` at {_acc(table.set_index('variant').loc[v, 'val_accuracy_end'])}" for v in levelled))
        lines += ["", f"Within {int(table['budget'].max())} epochs: " + "; ".join(parts) + "."]
    return "\n".join(lines)


def twin(runs: pd.DataFrame, epochs: pd.DataFrame, slow_loss: str, gain: float) -> str:
    """The long-range test of the 2/C² reading: ``mse_softmax`` at lr η against ``cross_entropy`` at η·2/C²
    (the same step while outputs are uniform), epoch by epoch; "" when the horizon lacks that pair.

    They *track* while their mean validation accuracies differ by less than ``gain``; the sentence says
    up to which epoch, and how far apart they are at the budget."""
    ok = runs.groupby("variant", sort=False)["status"].agg(lambda s: (s == "ok").all())
    kinds = runs.drop_duplicates("variant").set_index("variant")
    if slow_loss != "mse_softmax":
        return ""
    for slow, row in kinds[kinds["loss"] == slow_loss].iterrows():
        target = row["lr"] * theoretical_ratio()
        twins = kinds[(kinds["loss"] == "cross_entropy") & ((kinds["lr"] - target).abs() <= 1e-9 * target)]
        if twins.empty or not ok[slow] or not ok[twins.index[0]]:
            continue
        other = twins.index[0]
        a, b = curve_of(epochs, slow), curve_of(epochs, other)
        common = a.index.intersection(b.index)
        diff = a[common] - b[common]  # > 0: the slow loss ahead
        apart = diff.abs() >= gain - EPS
        budget = int(common.max())
        pair = (f"`{slow}` (lr {row['lr']:g}) and `{other}` (`cross_entropy` at lr {row['lr']:g} × 2/C² = "
                f"{target:g}, the same step while the outputs are uniform)")
        if not apart.any():
            return (f"{pair} stay within {_gain_words(gain)} of each other (mean validation accuracy) at every epoch "
                    f"to the budget ({budget}): over this horizon the 2/C² scale accounts for the whole difference "
                    f"in pace.")
        first = int(common[apart.argmax()])
        if first == int(common.min()):
            return f"{pair} differ by {_gain_words(gain)} or more from epoch {first} on."
        phases = []  # (sign, first epoch, largest gap, its epoch): where the gap is `gain` or more, by sign
        for epoch, gap in diff[diff.index >= first].items():
            sign = (gap > 0) - (gap < 0) if abs(gap) >= gain - EPS else 0
            if sign and (not phases or phases[-1][0] != sign):
                phases.append([sign, int(epoch), abs(gap), int(epoch)])
            elif sign and abs(gap) > phases[-1][2]:
                phases[-1][2:] = [abs(gap), int(epoch)]
        seen, words = set(), []
        for sign, since, gap, at in phases:
            side = "ahead" if sign > 0 else "behind"
            again = " again" if side in seen else ""
            seen.add(side)
            words.append(f"{side}{again} from epoch {since} (by up to {_pts(gap)} points, at epoch {at})")
        listed = words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]
        end = diff.iloc[-1]
        where = f"{_pts(abs(end))} points {'below' if end < 0 else 'above'}" if abs(end) >= EPS else "level with"
        return (f"{pair} stay within {_gain_words(gain)} of each other (mean validation accuracy) up to epoch "
                f"{int(common[common < first].max())}; then `{slow}` is {listed}; at the budget ({budget}) it is "
                f"{where} `{other}`. The early pace is consistent with the 2/C² scale; the later gaps are not "
                f"explained by it, since `{other}` starts with the same step.")
    return ""


def caption(runs: pd.DataFrame) -> str:
    """What the figure shows: seeds, budget, how often the runs were evaluated, the band."""
    if runs.empty:
        return ""
    seeds = runs.groupby("variant", sort=False)["seed"].nunique()
    n = f"{seeds.min()}" if seeds.min() == seeds.max() else f"{seeds.min()}–{seeds.max()}"
    text = (f"Validation accuracy of the long-horizon runs, mean over {n} seed{'s' if seeds.max() > 1 else ''} "
            f"per variant and epoch, to a budget of {int(runs['epochs'].max())} epochs. ")
    if seeds.max() < 2:
        return text + "One seed: no band (an interval needs two seeds or more)."
    text += ("Bold line: the mean; band: its 95% t-interval over seeds, clipped to [0, 1]; thin dashed lines: each "
             "seed. A large marker shows where a curve levelled off by the criterion above.")
    if seeds.min() == 2:
        text += (" With two seeds the interval is the mean ± 12.7 × sd/√2 (t with one degree of freedom), wide "
                 "wherever the seeds differ: read the seeds' own lines there.")
    return text


WORDS = {"rising": "still rising", "plateau": "levelled off", "unsettled": "not settled", "short": "no verdict",
         "diverged": "⚠ diverged"}


def display(table: pd.DataFrame):
    """The verdicts as a table for the page (an empty cell: does not apply); None without horizon runs."""
    if table.empty:
        return None
    shown = table.assign(plateau_epoch=table["plateau_epoch"].map(lambda e: "" if pd.isna(e) else f"{int(e)}"),
                         verdict=table["verdict"].map(WORDS))
    names = {"plateau_epoch": "levelled off from epoch", "val_accuracy_end": "val. accuracy at budget",
             "last_window_gain": "gain over last window", "test_accuracy": "test accuracy at budget"}
    columns = ["variant", "lr", "seeds", "budget", "verdict", *names.values()]
    formats = {names["val_accuracy_end"]: "{:.4f}", names["test_accuracy"]: "{:.4f}", "lr": "{:g}",
               names["last_window_gain"]: lambda v: "" if pd.isna(v) else f"{v * 100:+.1f} points"}
    return shown.rename(columns=names)[columns].style.format(formats, na_rep="").hide(axis="index")


def curves(epochs: pd.DataFrame, table: pd.DataFrame, order: list[str] | None = None) -> plt.Figure | None:
    """Validation accuracy against epoch per variant (mean, 95% band over seeds), plateau marked;
    None when there are no horizon runs. ``order``: the page's variants, so that each keeps the
    colour the page's other figures give it (``plots._palette``)."""
    evaluated = epochs.dropna(subset=["val_accuracy"])
    if evaluated.empty:
        return None
    variants = list(dict.fromkeys(evaluated["variant"]))
    palette = _palette([*(order or []), *(v for v in variants if v not in (order or []))])
    fig, ax = plt.subplots(figsize=(10, 4.8))
    # each seed thin (with few seeds the band is wide: the seeds show why), the mean over seeds bold
    sns.lineplot(data=evaluated, x="epoch", y="val_accuracy", hue="variant", hue_order=variants, palette=palette,
                 units="seed", estimator=None, linewidth=1, alpha=0.6, linestyle="--", legend=False, ax=ax)
    sns.lineplot(data=evaluated, x="epoch", y="val_accuracy", hue="variant", hue_order=variants, palette=palette,
                 errorbar=band("val_accuracy"), err_kws={"alpha": 0.08}, linewidth=2.2, ax=ax)
    for row in table[table["verdict"] == "plateau"].itertuples():
        level = curve_of(epochs, row.variant)[row.plateau_epoch]
        ax.plot([row.plateau_epoch], [level], marker="D", markersize=11, color=palette[row.variant],
                markeredgecolor="black", linestyle="none")
    ax.set(ylabel="validation accuracy", ylim=(0, 1), xlim=(0, evaluated["epoch"].max()))
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(title="variant (◆ levelled off)", fontsize=9, loc="upper left", bbox_to_anchor=(1.01, 1))
    fig.tight_layout()
    return fig
