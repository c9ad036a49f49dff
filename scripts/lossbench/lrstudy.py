"""The learning-rate study (config ``lr_study:``): each loss at its own best learning rate, and the
2/C² prediction tested over the whole lr range. The "Learning rate" page and a line of the *why*
page show what this module computes; tests/test_lrstudy.py checks it on constructed tables.

Input: ``lr_study_runs.csv`` and ``lr_study_epochs.csv`` (``lossbench gather --prefix lr_study_``).
Everything is keyed on (loss, lr), never on the variant name: a study point the sweep already
trained carries the sweep's name. The rules, as the page states them:

- A **point** is one (loss, lr) over its seeds. A point with any diverged seed is **diverged**: its
  final accuracies are what a non-finite network predicts, so it is drawn as ×, never "best".
  After epoch 1 a point is diverged only if a seed had diverged by then.
- **Best lr** of a loss: the highest mean *validation* accuracy at the final epoch among the points
  that did not diverge (ties: the smaller lr); test accuracy is read there, never used to choose.
  A best lr at the smallest or largest lr of the loss's grid is not an optimum: the grid is too
  narrow on that side.
- **Gradient scale** of a loss: the mean initial logit-gradient norm ‖∂ℓ/∂z‖ of its runs (their
  epoch-0 rows: the untrained networks, the same for every lr) over the reference loss's.
  **Effective lr** = lr × scale. The lr ratio it predicts is the inverse: 1/scale.
- **Threshold lr**: the lr at which the mean validation accuracy after epoch 1 first reaches a
  stated value, interpolated linearly in log lr between the last grid point below it and the
  first at or above it; "≤ the smallest lr" when the smallest already reaches it; "not reached".
- **Collapse**: on the rising side of the reference's curve (its smallest lr to its peak), each other
  loss's accuracy at its effective lrs minus the reference's curve interpolated there (log lr);
  "collapsed" when every gap is within ``COLLAPSE``.
- **Saturation**: a seed of a point above the best lr (a point that did not diverge) with more than
  ``SATURATED`` of the validation images confidently wrong (max p > 0.9) after the final epoch.
- **Tuned comparison**: each loss at its best lr against the reference at its best lr, test accuracy
  paired by seed, Holm-adjusted across the losses; negligible only when the whole 95% CI of the
  difference lies within ±0.5 points (``prose.NEGLIGIBLE``).

Run the page by hand: ``lossbench report --notebook reports/notebooks/learning_rate.py --out
learning-rate.html --title "Learning rate" --parameters '{"lr_study_runs_csv": ..., "lr_study_epochs_csv": ...}'``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from . import stats
from .plots import _palette, legend_outside
from .prose import CROSS_ENTROPY_FORMS, NEGLIGIBLE, _acc, _ci, _ci_points, _number, _p, _points
from .stats import ALPHA, CAPPED_LOSSES, CLASSES, ci95, theoretical_ratio

THRESHOLD = 0.5  # validation accuracy after epoch 1 that defines a loss's threshold lr (the page's default)
SATURATED = 0.5  # more than half the validation images confidently wrong (p > 0.9): saturated outputs
COLLAPSE = 0.05  # curves within 5 points of the reference's at every compared lr: they collapse onto it
RUN_COLUMNS = ["variant", "loss", "seed", "lr", "status", "diverged_epoch", "epochs", "epochs_run", "val_accuracy",
               "test_accuracy"]
EPOCH_COLUMNS = ["variant", "loss", "seed", "epoch", "logit_grad_norm", "val_accuracy", "val_confident_wrong",
                 "val_mean_max_prob"]


def load(runs_csv: str, epochs_csv: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The study's tables; two empty tables when the study is off (the pages pass "")."""
    if not runs_csv or not epochs_csv:
        return pd.DataFrame(columns=RUN_COLUMNS), pd.DataFrame(columns=EPOCH_COLUMNS)
    return pd.read_csv(runs_csv), pd.read_csv(epochs_csv)


def _lr(value) -> float:
    """An lr as a key: the CSV's float with its last-digit noise removed (0.30000000000000004 -> 0.3)."""
    return float(f"{float(value):.10g}")


def _lr_text(value: float) -> str:
    return _number(value, ".3g")


def per_run(runs: pd.DataFrame, epochs: pd.DataFrame) -> pd.DataFrame:
    """One row per run: loss, lr, seed, status, final validation and test accuracy, validation accuracy
    after epoch 1, the final epoch's confidently-wrong share and mean max-probability, and the mean
    logit-gradient norm at initialisation (``initial_grad``) and in the last epoch (``final_grad``).

    ``diverged1``: the run had diverged by epoch 1 (its epoch-1 accuracy is not a real one)."""
    out = runs[[c for c in RUN_COLUMNS if c in runs]].copy()
    out["lr"] = out["lr"].map(_lr)
    out["diverged"] = out["status"] != "ok"
    out["diverged1"] = out["diverged"] & (pd.to_numeric(out["diverged_epoch"], errors="coerce") <= 1)
    key = pd.MultiIndex.from_frame(out[["variant", "seed"]])
    first = epochs[epochs["epoch"] == 1].set_index(["variant", "seed"])["val_accuracy"]
    out["val_epoch1"] = np.asarray(first.reindex(key), dtype=float)
    last = epochs.sort_values("epoch").groupby(["variant", "seed"]).tail(1).set_index(["variant", "seed"])
    for column in ("val_confident_wrong", "val_mean_max_prob", "logit_grad_norm"):
        values = last[column] if column in last else pd.Series(math.nan, index=last.index)
        out["final_grad" if column == "logit_grad_norm" else column] = np.asarray(values.reindex(key), dtype=float)
    start = epochs[epochs["epoch"] == 0].set_index(["variant", "seed"])["logit_grad_norm"]
    out["initial_grad"] = np.asarray(start.reindex(key), dtype=float)
    return out.reset_index(drop=True)


def losses_of(runs: pd.DataFrame) -> list[str]:
    """The study's losses in table order (the config's): every figure gives each the same colour."""
    return list(dict.fromkeys(runs["loss"]))


def _spread(values: pd.Series, prefix: str) -> dict:
    low, high = ci95(values)
    return {f"{prefix}_mean": values.mean(), f"{prefix}_sd": values.std(ddof=1) if len(values) > 1 else math.nan,
            f"{prefix}_low": low, f"{prefix}_high": high}


POINT_COLUMNS = ["loss", "lr", "variants", "n", "n_diverged", "diverged", "diverged1", "epochs",
                 "val_mean", "val_sd", "val_low", "val_high", "test_mean", "test_sd", "test_low", "test_high",
                 "val1_mean", "val1_sd", "val1_low", "val1_high", "confident_wrong", "max_prob"]


def points(table: pd.DataFrame) -> pd.DataFrame:
    """One row per (loss, lr) of ``per_run``'s table, losses in table order, lr ascending: mean, sd and
    95% CI over seeds of the final validation and test accuracy (NaN for a diverged point) and of the
    validation accuracy after epoch 1 (NaN for a point diverged by then), the final confidently-wrong
    share and mean max-probability (mean over seeds)."""
    rows = []
    for (loss, lr), g in table.groupby(["loss", "lr"], sort=False):
        diverged, diverged1 = bool(g["diverged"].any()), bool(g["diverged1"].any())
        row = {"loss": loss, "lr": lr, "variants": ", ".join(dict.fromkeys(g["variant"])), "n": len(g),
               "n_diverged": int(g["diverged"].sum()), "diverged": diverged, "diverged1": diverged1,
               "epochs": int(g["epochs"].max())}
        row.update(_spread(g["val_accuracy"] if not diverged else pd.Series(dtype=float), "val"))
        row.update(_spread(g["test_accuracy"] if not diverged else pd.Series(dtype=float), "test"))
        row.update(_spread(g["val_epoch1"] if not diverged1 else pd.Series(dtype=float), "val1"))
        row["confident_wrong"] = g["val_confident_wrong"].mean() if not diverged else math.nan
        row["max_prob"] = g["val_mean_max_prob"].mean() if not diverged else math.nan
        rows.append(row)
    out = pd.DataFrame(rows, columns=POINT_COLUMNS)
    order = {loss: i for i, loss in enumerate(dict.fromkeys(table["loss"]))}
    return out.sort_values(["loss", "lr"], key=lambda c: c.map(order) if c.name == "loss" else c,
                           kind="stable").reset_index(drop=True)


def gradient_scale(epochs: pd.DataFrame, reference: str) -> pd.DataFrame:
    """Per loss: the mean initial logit-gradient norm over its runs (epoch-0 rows), how many runs,
    ``scale`` = that norm over the reference loss's (NaN when the reference has none) and
    ``predicted_ratio`` = 1/scale, the lr ratio to the reference's the gradient scale predicts."""
    first = epochs[epochs["epoch"] == 0]
    norms = first.groupby("loss", sort=False)["logit_grad_norm"].agg(["mean", "count"])
    norms = norms.rename(columns={"mean": "initial_norm", "count": "runs"})
    ref = norms["initial_norm"].get(reference, math.nan)
    norms["scale"] = norms["initial_norm"] / ref if ref and ref > 0 else math.nan
    norms["predicted_ratio"] = 1 / norms["scale"]
    return norms.reset_index()


def theory_ratio(loss: str, reference: str, classes: int = CLASSES) -> float:
    """The lr ratio to cross-entropy's that the derivation predicts at uniform output: C²/2 for
    MSE on softmax, 1 / stats.mse_logits_initial_ratio for MSE on logits; NaN for another loss or
    when the reference is not a form of cross-entropy (the theory is against cross-entropy)."""
    if reference not in CROSS_ENTROPY_FORMS:
        return math.nan
    if loss == "mse_softmax":
        return 1 / theoretical_ratio(classes)
    if loss == "mse_logits":
        return 1 / stats.mse_logits_initial_ratio(classes)
    return 1.0 if loss in CROSS_ENTROPY_FORMS else math.nan


def effective(pts: pd.DataFrame, scale: pd.DataFrame) -> pd.DataFrame:
    """``points`` with ``effective_lr`` = lr × the loss's gradient scale (NaN without the reference)."""
    factor = scale.set_index("loss")["scale"] if len(scale) else pd.Series(dtype=float)
    return pts.assign(effective_lr=pts["lr"] * pts["loss"].map(factor).astype(float))


def threshold_lr(lrs, values, threshold: float) -> tuple[float, str]:
    """Where a curve of (lr, mean accuracy) first reaches ``threshold``, lr ascending, NaN values
    (diverged points) skipped: (lr, "interpolated") linear in log lr between the last point below
    and the first at or above; (smallest lr, "below") when the smallest already reaches it;
    (NaN, "not reached")."""
    curve = sorted((lr, v) for lr, v in zip(lrs, values) if not pd.isna(v))
    for i, (lr, value) in enumerate(curve):
        if value >= threshold:
            if i == 0:
                return lr, "below"
            lr0, v0 = curve[i - 1]
            t = (threshold - v0) / (value - v0)
            return float(math.exp(math.log(lr0) + t * (math.log(lr) - math.log(lr0)))), "interpolated"
    return math.nan, "not reached"


def threshold_by_seed(table: pd.DataFrame, threshold: float = THRESHOLD) -> pd.DataFrame:
    """Per loss and seed (``per_run``'s table): the threshold lr of that seed's own curve after epoch 1
    (``threshold_lr``, runs diverged by then skipped), and how it was found (``kind``)."""
    rows = []
    for (loss, seed), g in table.groupby(["loss", "seed"], sort=False):
        lr, kind = threshold_lr(g["lr"], g["val_epoch1"].where(~g["diverged1"]), threshold)
        rows.append({"loss": loss, "seed": seed, "threshold_lr": lr, "kind": kind})
    return pd.DataFrame(rows, columns=["loss", "seed", "threshold_lr", "kind"])


def _edge(lr: float, grid: list[float]) -> str:
    if len(grid) == 1:
        return "both"
    return "low" if lr == grid[0] else "high" if lr == grid[-1] else ""


BEST_COLUMNS = ["loss", "grid", "best_lr", "edge", "diverged_from", "next_diverged", "n", "val_mean", "val_sd",
                "val_low", "val_high", "test_mean", "test_sd", "test_low", "test_high", "threshold_lr",
                "threshold_kind"]


SPREAD_COLUMNS = [f"{m}_{s}" for m in ("val", "test") for s in ("mean", "sd", "low", "high")]


def best_lrs(pts: pd.DataFrame, threshold: float = THRESHOLD) -> pd.DataFrame:
    """Per loss: its grid, the best lr (highest mean final validation accuracy among the points that
    did not diverge; NaN when every point diverged), ``edge`` (low, high, both: the best lr is at that
    end of the grid; "" inside), the smallest lr from which every larger one diverged
    (``diverged_from``), whether the next lr above the best diverged, the validation and test
    accuracy there, and the threshold lr after epoch 1 (``threshold_lr``)."""
    rows = []
    for loss, g in pts.groupby("loss", sort=False):
        grid = sorted(g["lr"])
        lr_at, kind = threshold_lr(g["lr"], g["val1_mean"], threshold)
        row = {"loss": loss, "grid": grid, "threshold_lr": lr_at, "threshold_kind": kind, "edge": "",
               "next_diverged": False, "best_lr": math.nan}
        flags = list(g.sort_values("lr")["diverged"])
        tail = [lr for i, lr in enumerate(grid) if all(flags[i:])]
        row["diverged_from"] = tail[0] if tail else math.nan
        eligible = g[~g["diverged"] & g["val_mean"].notna()]
        if len(eligible):
            best = eligible.loc[eligible["val_mean"].idxmax()]  # lr ascending: a tie goes to the smaller lr
            above = g[g["lr"] > best["lr"]].sort_values("lr")
            row.update({"best_lr": best["lr"], "edge": _edge(best["lr"], grid),
                        "next_diverged": bool(len(above) and above["diverged"].iloc[0]), "n": best["n"],
                        **{c: best[c] for c in SPREAD_COLUMNS}})
        rows.append(row)
    return pd.DataFrame(rows, columns=BEST_COLUMNS)


def _at(table: pd.DataFrame, loss: str, lr: float) -> pd.DataFrame:
    """The runs of one point (one per seed: a seed trained twice under two names counts once)."""
    return table[(table["loss"] == loss) & np.isclose(table["lr"], lr, rtol=1e-9, atol=0)].drop_duplicates("seed")


def compare(table: pd.DataFrame, best: pd.DataFrame, reference: str) -> pd.DataFrame:
    """Each loss at its best lr against the reference at its best lr: test accuracy, paired by seed
    (``stats.compare_pair`` on the two sets of runs), Holm-adjusted across the losses, and a
    ``verdict``: beats, falls short, matches (the whole 95% CI within ±NEGLIGIBLE), unclear (the CI
    too wide to tell), untested (no interval: fewer than two seeds). Empty without a reference best."""
    b = best.set_index("loss")
    if reference not in b.index or pd.isna(b.loc[reference, "best_lr"]):
        return pd.DataFrame(columns=[*stats.COMPARISON_COLUMNS, "loss", "lr", "reference_lr", "p_holm", "verdict"])
    ref_label = f"{reference} (reference)"
    ref_runs = _at(table, reference, b.loc[reference, "best_lr"]).assign(variant=ref_label)
    rows = []
    for loss, row in b.iterrows():
        if loss == reference or pd.isna(row["best_lr"]):
            continue
        frame = pd.concat([_at(table, loss, row["best_lr"]).assign(variant=loss), ref_runs])
        rows.append({**stats.compare_pair(frame, loss, ref_label), "loss": loss, "lr": row["best_lr"],
                     "reference": reference, "reference_lr": b.loc[reference, "best_lr"]})
    out = pd.DataFrame(rows, columns=[*stats.COMPARISON_COLUMNS, "loss", "lr", "reference_lr"])
    out["p_holm"] = stats.holm(out["p"]) if len(out) else []
    out["verdict"] = [verdict(r) for r in out.itertuples()] if len(out) else []
    return out


def verdict(row) -> str:
    """beats / falls short / matches / unclear / untested, from one row of ``compare``."""
    low, high = row.difference_ci95_low, row.difference_ci95_high
    if pd.isna(low) or pd.isna(high):
        return "untested"
    if -NEGLIGIBLE <= low and high <= NEGLIGIBLE:
        return "matches"
    if not pd.isna(row.p_holm) and row.p_holm < ALPHA:
        return "beats" if row.difference > 0 else "falls short"
    return "unclear"


PER_SEED = {"val1_mean": "val_epoch1", "val_mean": "val_accuracy"}  # a point's column -> its runs' column


def collapse(pts: pd.DataFrame, reference: str, column: str = "val1_mean",
             table: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per other loss, how far its curve against the effective lr lies from the reference's on the
    reference's rising side (its smallest lr to its peak, points not diverged): at each of the loss's
    effective lrs inside that range, its ``column`` minus the reference's, interpolated linearly in
    log lr. Columns: loss, compared (how many lrs), largest (the signed gap largest in size), at_lr
    (the loss's own lr there), median (of the gaps' sizes), rising_low, rising_high, and with ``table``
    (``per_run``) ``seed_spread``: the largest range over seeds of one point among the points compared
    and the reference's rising side (how far apart seed noise alone puts two curves). Empty when the
    reference has fewer than two points on its rising side or no effective lr is known."""
    columns = ["loss", "compared", "largest", "at_lr", "median", "rising_low", "rising_high", "seed_spread"]
    ref = pts[(pts["loss"] == reference) & pts[column].notna()].sort_values("lr")
    if len(ref) < 2 or "effective_lr" not in pts or pts["effective_lr"].isna().all():
        return pd.DataFrame(columns=columns)
    peak = ref["lr"].iloc[int(np.argmax(ref[column].to_numpy()))]
    rising = ref[ref["lr"] <= peak]
    if len(rising) < 2:
        return pd.DataFrame(columns=columns)
    x, y = np.log(rising["lr"].to_numpy()), rising[column].to_numpy()
    rows = []
    for loss, g in pts[(pts["loss"] != reference) & pts[column].notna()].groupby("loss", sort=False):
        inside = g[(g["effective_lr"] >= rising["lr"].min() * (1 - 1e-9))
                   & (g["effective_lr"] <= peak * (1 + 1e-9))]
        row = {"loss": loss, "compared": len(inside), "largest": math.nan, "at_lr": math.nan, "median": math.nan,
               "rising_low": rising["lr"].min(), "rising_high": peak, "seed_spread": math.nan}
        if len(inside):
            gaps = inside[column].to_numpy() - np.interp(np.log(inside["effective_lr"].to_numpy()), x, y)
            i = int(np.argmax(np.abs(gaps)))
            row.update(largest=float(gaps[i]), at_lr=float(inside["lr"].iloc[i]), median=float(np.median(np.abs(gaps))))
            if table is not None:
                involved = pd.concat([_at(table, reference, lr) for lr in rising["lr"]]
                                     + [_at(table, loss, lr) for lr in inside["lr"]])
                ranges = involved.groupby(["loss", "lr"])[PER_SEED[column]].agg(lambda v: v.max() - v.min())
                row["seed_spread"] = float(ranges.max())
        rows.append(row)
    return pd.DataFrame(rows, columns=columns)


def saturation(table: pd.DataFrame, best: pd.DataFrame) -> pd.DataFrame:
    """Per loss, read from its runs (``per_run``) at and above its best lr that did not diverge: the first lr
    where a seed has more than ``SATURATED`` of the validation images confidently wrong at the final
    epoch (``saturated_lr``, NaN if none), how many seeds there, their share and their last epoch's
    logit-gradient norm against the initial one, the point's mean final validation accuracy and the
    other seeds' mean max-probability; without one, the largest lr that did not diverge and its mean
    share. ``capped``: a loss whose targets cap the softmax (stats.CAPPED_LOSSES): not read."""
    rows = []
    for row in best.itertuples():
        out = {"loss": row.loss, "capped": row.loss in CAPPED_LOSSES, "best_lr": row.best_lr,
               "best_val": row.val_mean, "saturated_lr": math.nan, "lr": math.nan, "n": 0, "saturated": 0,
               "val_mean": math.nan, "confident_wrong": math.nan, "final_grad": math.nan, "initial_grad": math.nan,
               "others_max_prob": math.nan, "others_val": math.nan}
        runs = table[table["loss"] == row.loss]
        stable = runs[~runs["lr"].isin(runs.loc[runs["diverged"], "lr"])]  # points without a diverged seed
        # from the best lr itself: a best lr at the top of the grid (or the only one) can be saturated too
        above = stable[stable["lr"] >= row.best_lr] if not pd.isna(row.best_lr) else stable.iloc[:0]
        hit = above[above["val_confident_wrong"] > SATURATED]
        if len(hit):
            at = stable[stable["lr"] == hit["lr"].min()]
            seeds = at[at["val_confident_wrong"] > SATURATED]
            others = at[at["val_confident_wrong"] <= SATURATED]
            out.update(saturated_lr=at["lr"].iloc[0], lr=at["lr"].iloc[0], n=len(at), saturated=len(seeds),
                       val_mean=at["val_accuracy"].mean(), confident_wrong=seeds["val_confident_wrong"].mean(),
                       final_grad=seeds["final_grad"].mean(), initial_grad=seeds["initial_grad"].mean(),
                       others_max_prob=others["val_mean_max_prob"].mean() if len(others) else math.nan,
                       others_val=others["val_accuracy"].mean() if len(others) else math.nan)
        elif len(stable):
            at = stable[stable["lr"] == stable["lr"].max()]
            out.update(lr=at["lr"].iloc[0], n=len(at), val_mean=at["val_accuracy"].mean(),
                       confident_wrong=at["val_confident_wrong"].mean())
        rows.append(out)
    return pd.DataFrame(rows, columns=["loss", "capped", "best_lr", "best_val", "saturated_lr", "lr", "n", "saturated",
                                       "val_mean", "confident_wrong", "final_grad", "initial_grad",
                                       "others_max_prob", "others_val"])


@dataclass
class Study:
    """Everything the page shows, computed once from the two tables."""

    runs: pd.DataFrame  # per_run
    points: pd.DataFrame  # with effective_lr
    scale: pd.DataFrame
    best: pd.DataFrame
    comparison: pd.DataFrame
    collapse1: pd.DataFrame  # after epoch 1
    collapse_final: pd.DataFrame
    saturation: pd.DataFrame
    losses: list
    reference: str
    slow_loss: str
    threshold: float
    classes: int

    @property
    def empty(self) -> bool:
        return self.points.empty


def analyse(runs: pd.DataFrame, epochs: pd.DataFrame, reference: str = "cross_entropy",
            slow_loss: str = "mse_softmax", threshold: float = THRESHOLD, classes: int = CLASSES) -> Study:
    """The study read from its tables (``load``)."""
    table = per_run(runs, epochs)
    scale = gradient_scale(epochs, reference)
    pts = effective(points(table), scale)
    best = best_lrs(pts, threshold)
    return Study(runs=table, points=pts, scale=scale, best=best, comparison=compare(table, best, reference),
                 collapse1=collapse(pts, reference, "val1_mean", table),
                 collapse_final=collapse(pts, reference, "val_mean", table),
                 saturation=saturation(table, best), losses=losses_of(runs), reference=reference, slow_loss=slow_loss,
                 threshold=threshold, classes=classes)


# --- sentences -----------------------------------------------------------------------------------

def _seeds(n) -> str:
    return "one seed" if n == 1 else f"{n} seeds"


def _seed_counts(study: Study) -> str:
    counts = sorted(set(study.points["n"]))
    return _seeds(counts[0]) if len(counts) == 1 else f"{counts[0]}–{counts[-1]} seeds"


def _grid_text(grid: list[float]) -> str:
    return (f"lr {_lr_text(grid[0])}" if len(grid) == 1 else
            f"{len(grid)} lrs from {_lr_text(grid[0])} to {_lr_text(grid[-1])}")


def _mean_sd(mean: float, sd: float) -> str:
    return _acc(mean) + ("" if pd.isna(sd) else f" ± {sd:.4f}")


def _interval(low: float, high: float, n) -> str:
    """A 95% CI of an accuracy as the comparison page words it (prose._ci: clipped, below chance)."""
    return _ci(pd.Series({"test_accuracy_ci95_low": low, "test_accuracy_ci95_high": high, "n": n}))


def method(study: Study) -> str:
    """The rules the page applies, with this study's numbers (markdown)."""
    if study.empty:
        return empty_text()
    epochs = sorted(set(study.points["epochs"]))
    budget = (f"{epochs[0]} epoch{'s' if epochs[0] != 1 else ''}" if len(epochs) == 1 else
              f"{epochs[0]}–{epochs[-1]} epochs")
    grids = [tuple(g) for g in study.best["grid"]]
    if len(set(grids)) == 1:
        step = _grid_step(list(grids[0]))
        grids_text = f"the same for every loss: {_grid_text(list(grids[0]))}" + (f", {step}" if step else "")
    else:
        grids_text = "; ".join(f"`{row.loss}` {_grid_text(row.grid)}" for row in study.best.itertuples())
    return (f"Each loss trains the same network over a grid of learning rates ({grids_text}), {budget}, "
            f"{_seed_counts(study)} per point; seed *s* starts every point from the same network and batch order. "
            "**Best lr** of a loss: the highest mean **validation** accuracy after the final epoch; test accuracy is "
            "read only there, never used to choose. A point (loss, lr) with any diverged seed is **marked diverged** "
            "and is never the best: its final accuracy is what a non-finite network predicts. A best lr at the "
            "smallest or largest lr of the loss's grid is not an optimum: the grid is too narrow on that side.")


def empty_text() -> str:
    return ("No learning-rate study in these tables (config `lr_study:` is off, or it trained nothing): nothing to "
            "show. Turn the block on in `config/config.yaml` to train each loss over a grid of learning rates.")


NEAR_CHANCE = 2  # a best validation accuracy below twice chance (1/C): no lr of the grid trains the loss


def best_sentence(row, pts: pd.DataFrame, classes: int = CLASSES) -> str:
    """One loss's best lr in words, saying when it is no optimum (edge of the grid), next to divergence,
    or no better than guessing at any lr of the grid (below ``NEAR_CHANCE`` times chance)."""
    name = f"`{row.loss}`"
    near = NEAR_CHANCE * stats.chance(classes)
    if not pd.isna(row.best_lr) and row.val_mean < near:
        return (f"{name}: below {near:.0%} validation accuracy at every lr of its grid ({_grid_text(row.grid)}; "
                f"the highest, {_acc(row.val_mean)} at lr {_lr_text(row.best_lr)}, where guessing gives "
                f"{stats.chance(classes):.0%}): no lr of this grid trains it in this budget, so it has no best lr "
                "worth the name" + {"high": "; the highest is at the largest lr: the grid is too narrow on the high "
                                    "side for this loss", "low": "; the highest is at the smallest lr: the grid is "
                                    "too narrow on the low side for this loss"}.get(row.edge, "") + ".")
    diverged = pts[(pts["loss"] == row.loss) & pts["diverged"]]
    if not pd.isna(row.diverged_from):
        tail = diverged[diverged["lr"] >= row.diverged_from]
        who = "every seed" if (tail["n_diverged"] == tail["n"]).all() else "at least one seed"
        from_ = f"; {who} diverged from lr {_lr_text(row.diverged_from)} up"
    elif len(diverged):
        from_ = f"; diverged (at least one seed) at lr {', '.join(map(_lr_text, diverged['lr']))}"
    else:
        from_ = "; no lr of its grid diverged"
    if pd.isna(row.best_lr):
        return f"{name}: every lr of its grid diverged ({_grid_text(row.grid)}): no best lr."
    acc = f"validation accuracy {_mean_sd(row.val_mean, row.val_sd)}"
    if row.edge == "both":
        return (f"{name}: one lr only ({_lr_text(row.best_lr)}, {acc}): the grid is too narrow on both sides to "
                "show an optimum" + from_ + ".")
    if row.edge == "low":
        return (f"{name}: highest validation accuracy at the **smallest** lr of its grid, {_lr_text(row.best_lr)} "
                f"({acc}): the grid is **too narrow on the low side** for this loss, a smaller lr may do better; "
                "no optimum is shown" + from_ + ".")
    if row.edge == "high":
        return (f"{name}: highest validation accuracy at the **largest** lr of its grid, {_lr_text(row.best_lr)} "
                f"({acc}): the grid is **too narrow on the high side** for this loss, a larger lr may do better; "
                "no optimum is shown" + from_ + ".")
    text = f"{name}: best lr **{_lr_text(row.best_lr)}** ({acc})" + from_
    if row.next_diverged:
        text += "; the next lr of the grid diverged, so the optimum may lie between the two"
    return text + "."


REASONS = {"matches": f"the whole interval lies within ±{NEGLIGIBLE * 100:g} points",
           "beats": f"higher, detected at Holm-adjusted p < {ALPHA}, and not negligible",
           "falls short": f"lower, detected at Holm-adjusted p < {ALPHA}, and not negligible",
           "unclear": f"no difference detected, and the interval reaches past ±{NEGLIGIBLE * 100:g} points, too wide "
                      "to call them equal", "untested": "one seed on a side: no interval and no test"}


def _edge_words(losses: list[str]) -> str:
    """'The best lr of `a` is at the edge of its grid', or for several: 'The best lrs of ... are at the edges ...'."""
    names = " and ".join(f"`{x}`" for x in losses)
    return (f"The best lr of {names} is at the edge of its grid" if len(losses) == 1 else
            f"The best lrs of {names} are at the edges of their grids")


VERDICTS = {"matches": "matches", "beats": "beats", "falls short": "falls short", "unclear": "too few seeds to tell",
            "untested": "not tested"}


def compare_sentence(row, reference: str, named: bool = True) -> str:
    """One loss at its best lr against the reference at its best lr, in words: the numbers, then the
    verdict in bold and why (``named``: the verdict word too; else only why, after a headline)."""
    text = (f"`{row.loss}` at lr {_lr_text(row.lr)} against `{reference}` at lr {_lr_text(row.reference_lr)}: "
            f"test accuracy {_acc(row.mean)} vs {_acc(row.reference_mean)}, {_points(row.difference)} points")
    if row.verdict != "untested":
        pairing = (f"paired over {row.n_paired} seeds" if row.n_paired >= 2 else
                   "Welch interval: the seeds do not pair up")
        test = (f", Holm-adjusted p {_p(row.p_holm)}" if not pd.isna(row.p_holm) else "")
        text += f" ({_ci_points(row.difference_ci95_low, row.difference_ci95_high)}, {pairing}{test})"
    reason = REASONS[row.verdict]
    if row.verdict == "unclear" and (row.difference_ci95_low > 0 or row.difference_ci95_high < 0):
        # the interval is per comparison; the test is adjusted for all of them: say why they disagree
        reason = (f"not detected at Holm-adjusted p < {ALPHA} across the losses compared, although this "
                  "interval, not adjusted for them, excludes 0")
    return text + (f": **{VERDICTS[row.verdict]}** — " if named else ": ") + reason


def _ratio(value: float) -> str:
    return _number(value, ".3g") + "×"


def scale_rows(study: Study) -> pd.DataFrame:
    """Per loss: the threshold lr's ratio to the reference's (``measured``; ``measured_text`` also gives
    bounds), the same ratio seed by seed (``per_seed``: each seed's own curves, where both cross by
    interpolation), the ratio the gradient scale predicts and the theory's."""
    b = study.best.set_index("loss")
    scale = study.scale.set_index("loss") if len(study.scale) else pd.DataFrame(columns=["predicted_ratio"])
    ref = b.loc[study.reference] if study.reference in b.index else None
    seeds = threshold_by_seed(study.runs, study.threshold)
    seeds = seeds[seeds["kind"] == "interpolated"].set_index(["loss", "seed"])["threshold_lr"]
    rows = []
    for loss, row in b.iterrows():
        measured, text, per_seed = math.nan, "", []
        if ref is not None and loss != study.reference:
            kinds = (row["threshold_kind"], ref["threshold_kind"])
            value = row["threshold_lr"] / ref["threshold_lr"]
            if kinds == ("interpolated", "interpolated"):
                measured, text = value, _ratio(value)
                if loss in seeds.index.get_level_values(0) and study.reference in seeds.index.get_level_values(0):
                    both = pd.concat([seeds[loss], seeds[study.reference]], axis=1, join="inner")
                    per_seed = list((both.iloc[:, 0] / both.iloc[:, 1]).sort_index())
            elif kinds == ("below", "interpolated"):
                text = "≤ " + _ratio(value)
            elif kinds == ("interpolated", "below"):
                text = "≥ " + _ratio(value)
        predicted = scale["predicted_ratio"].get(loss, math.nan) if study.reference in scale.index else math.nan
        rows.append({"loss": loss, "measured": measured, "measured_text": text, "predicted": predicted,
                     "theory": theory_ratio(loss, study.reference, study.classes), "per_seed": per_seed})
    return pd.DataFrame(rows, columns=["loss", "measured", "measured_text", "predicted", "theory", "per_seed"])


def _threshold_text(row) -> str:
    if row.threshold_kind == "interpolated":
        return _lr_text(row.threshold_lr)
    if row.threshold_kind == "below":
        return f"≤ {_lr_text(row.threshold_lr)} (the smallest lr)"
    return "not reached"


def _grid_step(grid: list[float]) -> str:
    """'×3.16 apart' or '×3 to ×3.33 apart': how far apart neighbouring lrs of a grid are."""
    steps = [b / a for a, b in zip(grid, grid[1:])]
    if not steps:
        return ""
    low, high = min(steps), max(steps)
    return f"×{low:.3g} apart" if high / low < 1.01 else f"×{low:.3g} to ×{high:.3g} apart"


def scale_sentence(study: Study, loss: str) -> str:
    """How much of ``loss``'s slowness its gradient scale explains: the threshold-lr ratio measured
    against the one its initial gradient predicts (and the theory), and how well the curves collapse."""
    ref, threshold = study.reference, f"{study.threshold:g}"
    b = study.best.set_index("loss")
    r = scale_rows(study).set_index("loss").loc[loss]
    row = b.loc[loss]
    theory = (f"; the derivation gives {_number(r['theory'], '.3g')}" + (" (C²/2)" if loss == "mse_softmax" else "")
              if not pd.isna(r["theory"]) else "")
    predicted = (f"its initial logit gradient is {_number(1 / r['predicted'], '.4f')}× `{ref}`'s, so a "
                 f"{_ratio(r['predicted'])} larger lr is predicted{theory}")
    reached = f"the lr at which it first reaches {threshold} validation accuracy after epoch 1"
    if pd.isna(r["predicted"]):
        return f"`{loss}`: the gradient scale is not measured (no epoch-0 gradient norm of `{ref}` or of `{loss}`)."
    ref_row = b.loc[ref]
    if row["threshold_kind"] == "not reached" or ref_row["threshold_kind"] == "not reached":
        who = [f"`{x}`" for x in (loss, ref) if b.loc[x, "threshold_kind"] == "not reached"]
        return (f"`{loss}`: {predicted}; {reached} is not measured: {' and '.join(who)} never reach"
                f"{'es' if len(who) == 1 else ''} it on the grid.")
    if pd.isna(r["measured"]):
        bounds = (f"({r['measured_text'] + '; ' if r['measured_text'] else ''}{_threshold_text(row)} against "
                  f"{_threshold_text(ref_row)} for `{ref}`)")
        return (f"`{loss}`: {predicted}; {reached} is only bounded {bounds}: the smallest lr of a grid already "
                "reaches it, so the grid cannot place it.")
    factor = r["measured"] / r["predicted"]
    text = (f"`{loss}`: {predicted}; **{_ratio(r['measured'])} is measured** ({reached}: "
            f"{_lr_text(row['threshold_lr'])} against {_lr_text(ref_row['threshold_lr'])} for `{ref}`, each "
            f"interpolated between grid points {_grid_step(row['grid'])}"
            + (f"; seed by seed: {', '.join(_ratio(v) for v in r['per_seed'])}" if len(r["per_seed"]) > 1 else "")
            + "). ")
    if abs(math.log(factor)) < math.log(1.005):
        text += "The gradient scale accounts for the whole shift."
    elif factor > 1:
        text += (f"The gradient scale accounts for a factor {_number(r['predicted'], '.3g')} of it; a further "
                 f"{_ratio(factor)} is not explained by it.")
    else:
        text += (f"It needs a {_ratio(1 / factor)} smaller lr than the gradient scale predicts: after epoch 1 it is "
                 f"ahead of `{ref}` at the same effective lr.")
    seeds = r["per_seed"]
    if len(seeds) > 1 and abs(math.log(factor)) >= math.log(1.005):
        if min(seeds) < r["predicted"] < max(seeds):
            text += " The seeds fall on both sides of the prediction, so these seeds do not settle the difference."
        else:
            text += f" Every seed's ratio is {'above' if factor > 1 else 'below'} the predicted one."
    return text + collapse_text(study, loss)


def collapse_text(study: Study, loss: str) -> str:
    """The collapse measure for ``loss`` in words, after epoch 1 and after the final epoch."""
    parts, span = [], ""
    for table, when in ((study.collapse1, "after epoch 1"), (study.collapse_final, "after the final epoch")):
        row = table.set_index("loss").loc[loss] if loss in set(table["loss"]) else None
        if row is None or not row["compared"]:
            continue
        span = (f"on `{study.reference}`'s rising side (lr {_lr_text(row['rising_low'])}–"
                f"{_lr_text(row['rising_high'])}, {int(row['compared'])} of its points there)")
        gap = abs(row["largest"])
        text = (f"{when} {'within' if gap <= COLLAPSE else 'up to'} {gap * 100:.1f} points of `{study.reference}`'s "
                f"curve (largest gap {_points(row['largest'])} points at its lr {_lr_text(row['at_lr'])}, median gap "
                f"{row['median'] * 100:.1f} points")
        if not pd.isna(row["seed_spread"]):
            text += f"; the seeds of one point differ by up to {row['seed_spread'] * 100:.1f} there"
        text += ")"
        if gap <= COLLAPSE:
            text += ": **collapsed**"
        elif not pd.isna(row["seed_spread"]) and gap <= row["seed_spread"]:
            text += ": not collapsed, though no gap exceeds the seeds' own spread"
        else:
            text += ": **not collapsed**"
        parts.append(text)
    if not parts:
        return (f" Against the effective lr its curves are not compared with `{study.reference}`'s: no point of it "
                f"falls on `{study.reference}`'s rising side, or that side has fewer than two points.")
    return f" Against the effective lr, {span}: " + "; ".join(parts) + "."


def saturation_sentence(row, classes: int = CLASSES) -> str:
    """Where saturation shows for one loss (a row of ``saturation``), or that it does not, or cannot."""
    name = f"`{row.loss}`"
    if row.capped:
        return (f"{name}: not read — its targets cap the softmax at e/(e + C − 1) ≈ {stats.softmax_cap(classes):.2f}, "
                "so it cannot be confidently wrong; a low share is no evidence.")
    if pd.isna(row.lr):
        return f"{name}: not read — every lr diverged."
    if pd.isna(row.saturated_lr):
        return (f"{name}: no saturation on its grid — at its largest lr that did not diverge, {_lr_text(row.lr)}, "
                f"{row.confident_wrong * 100:.1f}% of validation images are confidently wrong (p > 0.9) after the "
                "final epoch" + (" (mean over seeds)." if row.n > 1 else "."))
    seeds = ("every seed" if row.saturated == row.n else f"{row.saturated} of {row.n} seeds") + (
        " (mean over them)" if row.saturated > 1 else "")
    against = ("its best lr" if row.lr == row.best_lr else
               f"against {_acc(row.best_val)} at its best lr {_lr_text(row.best_lr)}")
    text = (f"{name} at lr {_lr_text(row.lr)}: final validation accuracy {_acc(row.val_mean)} ({against}); "
            f"in {seeds} **"
            f"{row.confident_wrong * 100:.0f}% of validation images are confidently wrong** (p > 0.9) after the "
            f"final epoch, with a logit-gradient norm of {_number(row.final_grad, '.2g')} in the last epoch against "
            f"{_number(row.initial_grad, '.2g')} at initialisation")
    text += (": the outputs saturate, and where the softmax saturates its Jacobian, and with it the gradient of a "
             "loss on its outputs, vanishes" if row.final_grad < 0.1 * row.initial_grad else
             ": the outputs saturate")
    if row.saturated < row.n:
        other = "the other seed ends" if row.n - row.saturated == 1 else "the other seeds end"
        text += (f"; {other} with validation accuracy {_acc(row.others_val)} and mean max-probability "
                 f"{_number(row.others_max_prob, '.2f')} (uniform outputs: 1/C = {1 / classes:.2f}), not "
                 "confidently wrong")
    return text + "."


HEADLINES = {"matches": "Tuned, `{loss}` matches `{reference}`", "beats": "Tuned, `{loss}` beats `{reference}`",
             "falls short": "Tuned, `{loss}` falls short of `{reference}`",
             "unclear": "Tuned, `{loss}` against `{reference}`: too few seeds to tell whether they differ",
             "untested": "Tuned, `{loss}` against `{reference}`: one seed, not tested"}


def headline(verdict: str, loss: str, reference: str) -> str:
    """The comparison of a tuned loss with the tuned reference in a few words."""
    return HEADLINES[verdict].format(loss=loss, reference=reference)


def conclusion(study: Study) -> str:
    """The page's conclusion in plain words, every claim computed from the study (markdown list)."""
    if study.empty:
        return empty_text()
    ref, slow = study.reference, study.slow_loss
    b = study.best.set_index("loss")
    epochs = int(study.points["epochs"].max())
    lines = [f"- {best_sentence(row, study.points, study.classes)}" for row in study.best.itertuples()]
    by_loss = study.comparison.set_index("loss") if len(study.comparison) else None
    if ref not in b.index:
        lines.append(f"- The reference `{ref}` is not in the study: no loss is compared with it, no effective lr "
                     "and no threshold-lr ratio is computed.")
    elif pd.isna(b.loc[ref, "best_lr"]):
        lines.append(f"- The reference `{ref}` diverged at every lr: no loss is compared with it.")
    if slow not in b.index:
        lines.append(f"- `{slow}` is not in the study: whether it matches `{ref}` once tuned is not measured here.")
    elif by_loss is not None and slow in by_loss.index:
        row = next(r for r in study.comparison.itertuples() if r.loss == slow)
        caveat = [x for x in (slow, ref) if b.loc[x, "edge"]]
        lines.append(f"- **{headline(row.verdict, slow, ref)}** at this budget ({epochs} epochs): "
                     + compare_sentence(row, ref, named=False) + "."
                     + (f" ⚠ {_edge_words(caveat)}: a better lr may lie outside the grid, so this may not compare "
                        "the losses at their best." if caveat else ""))
    for row in study.comparison.itertuples():
        if row.loss != slow:
            lines.append(f"- {compare_sentence(row, ref)}.")
    if ref in b.index:
        for loss in b.index:
            if loss != ref:
                lines.append(f"- Gradient scale: {scale_sentence(study, loss)}")
    for row in study.saturation.itertuples():
        lines.append(f"- Saturation: {saturation_sentence(row, study.classes)}")
    if (study.points["n"] < 2).all():
        lines.append("- One seed per point: no interval and no test; add seeds to the study to measure the spread.")
    return "\n".join(lines)


# --- tables --------------------------------------------------------------------------------------

def table_display(study: Study) -> pd.DataFrame | None:
    """Per loss: best lr, validation and test accuracy there (mean ± sd, 95% CI), the threshold lr
    after epoch 1, its ratio to the reference's, the predicted ratio and the theory (strings)."""
    if study.empty:
        return None
    ratios = scale_rows(study).set_index("loss")
    rows = []
    for row in study.best.itertuples():
        best = _lr_text(row.best_lr) if not pd.isna(row.best_lr) else "— every lr diverged"
        if row.edge:
            best += {"low": " ⚠ smallest of grid", "high": " ⚠ largest of grid", "both": " ⚠ only lr"}[row.edge]
        r = ratios.loc[row.loss]
        reference = row.loss == study.reference
        rows.append({
            "loss": row.loss, "best lr (validation)": best,
            "val. accuracy": _mean_sd(row.val_mean, row.val_sd), "val. 95% CI": _interval(row.val_low, row.val_high,
                                                                                           row.n),
            "test accuracy": _mean_sd(row.test_mean, row.test_sd),
            "test 95% CI": _interval(row.test_low, row.test_high, row.n),
            f"lr reaching {study.threshold:g} val. after epoch 1": _threshold_text(row),
            f"÷ {study.reference}'s": "1 (reference)" if reference else (r["measured_text"] or "n/a"),
            "predicted (gradient scale)": "" if reference else (_ratio(r["predicted"]) if not pd.isna(r["predicted"])
                                                                else "n/a"),
            "theory": "" if reference or pd.isna(r["theory"]) else
            _ratio(r["theory"]) + (" (C²/2)" if row.loss == "mse_softmax" else ""),
        })
    return pd.DataFrame(rows).set_index("loss")


def comparison_caption(study: Study) -> str:
    """What the comparison table holds, or why there is none."""
    if study.empty:
        return empty_text()
    if study.comparison.empty:
        b = study.best.set_index("loss")
        if study.reference not in b.index:
            why = f"the reference `{study.reference}` is not in the study"
        elif pd.isna(b.loc[study.reference, "best_lr"]):
            why = f"the reference `{study.reference}` diverged at every lr"
        elif len(b) == 1:
            why = f"`{study.reference}` is the only loss in the study"
        else:
            why = "every other loss diverged at every lr"
        return f"Nothing to compare: {why}."
    return (f"Test accuracy, paired by seed (seed *s* starts both from the same network). A difference is called "
            f"negligible only when its whole 95% CI lies within ±{NEGLIGIBLE * 100:g} points; p-values are adjusted "
            "with Holm's method across the losses compared.")


def comparison_display(study: Study) -> pd.DataFrame | None:
    """The paired comparisons at the best lrs, for reading; None when there is none."""
    c = study.comparison
    if c.empty:
        return None
    return pd.DataFrame({
        "loss (best lr)": [f"{loss} ({_lr_text(lr)})" for loss, lr in zip(c["loss"], c["lr"])],
        f"{study.reference} (best lr)": [f"{study.reference} ({_lr_text(lr)})" for lr in c["reference_lr"]],
        "difference (points)": c["difference"].map(_points),
        "95% CI of the difference": [_ci_points(lo, hi).removeprefix("95% CI ").replace(" points", "")
                                     for lo, hi in zip(c["difference_ci95_low"], c["difference_ci95_high"])],
        "seeds paired": c["n_paired"], "test": c["test"].replace("", "none"),
        "Holm-adjusted p": c["p_holm"].map(lambda p: "" if pd.isna(p) else _p(p).removeprefix("= ")),
        "verdict": c["verdict"].replace({"unclear": "too few seeds to tell", "untested": "not tested (one seed)"}),
    }).set_index("loss (best lr)")


def points_display(study: Study) -> pd.DataFrame | None:
    """Every point of the grid: seeds, divergence, final and epoch-1 validation, final test accuracy
    (mean ± sd over seeds), confidently-wrong share (mean, and the seeds' range where they differ;
    not read for a capped loss). Strings; a diverged point's accuracies are not shown."""
    p = study.points
    if p.empty:
        return None

    def acc(mean, sd, diverged):
        return "⚠ diverged" if diverged else _mean_sd(mean, sd)

    spread = study.runs.groupby(["loss", "lr"])["val_confident_wrong"].agg(["min", "max"])

    def wrong(row):
        if row.loss in CAPPED_LOSSES:
            return "not read (capped)"
        if row.diverged or pd.isna(row.confident_wrong):
            return ""
        low, high = spread.loc[(row.loss, row.lr)]
        return f"{row.confident_wrong * 100:.1f}%" + (f" ({low * 100:.1f}–{high * 100:.1f}%)" if high > low else "")

    return pd.DataFrame({
        "loss": p["loss"], "lr": p["lr"].map(_lr_text),
        "effective lr": p["effective_lr"].map(lambda v: _number(v, ".3g")),
        "seeds (diverged)": [f"{n}" + (f" ({d})" if d else "") for n, d in zip(p["n"], p["n_diverged"])],
        "val. after epoch 1": [acc(m, s, d) for m, s, d in zip(p["val1_mean"], p["val1_sd"], p["diverged1"])],
        "val. final": [acc(m, s, d) for m, s, d in zip(p["val_mean"], p["val_sd"], p["diverged"])],
        "test final": [acc(m, s, d) for m, s, d in zip(p["test_mean"], p["test_sd"], p["diverged"])],
        "confidently wrong (final)": [wrong(row) for row in p.itertuples()],
    }).set_index(["loss", "lr"])


# --- figures -------------------------------------------------------------------------------------

def _log_axis(ax) -> None:
    """Log x with plain-number labels at the powers of ten (0.01, 0.1, 1, 10), none at minor ticks."""
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(LogLocator(base=10))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())


def _crosses(ax, xs, colour, index: int, count: int) -> None:
    """× on the axis bottom at diverged points, each loss nudged sideways (×10^±0.04 per loss) so that
    losses diverging at the same lr stay visible side by side."""
    nudge = 10 ** (0.04 * (index - (count - 1) / 2))
    ax.plot(np.asarray(xs, dtype=float) * nudge, np.zeros(len(xs)), linestyle="none", marker="x", markersize=9,
            markeredgewidth=2.2, color=colour, clip_on=False, zorder=5)


def _panel(ax, study: Study, x: str, metric: str, palette: dict, markers: dict) -> bool:
    """One accuracy panel: per loss the mean over seeds (line), its 95% band (clipped to [0, 1]), each
    seed (small dots), and × on the axis bottom at each diverged point. Returns whether any point diverged."""
    per_seed = {"val": "val_accuracy", "val1": "val_epoch1"}[metric]
    flag = "diverged1" if metric == "val1" else "diverged"
    factor = study.scale.set_index("loss")["scale"]
    any_diverged = False
    for loss in study.losses:
        g = study.points[study.points["loss"] == loss].sort_values("lr")
        if g.empty or g[x].isna().all():
            continue
        ok = g[~g[flag]]
        colour = palette[loss]
        y = g[f"{metric}_mean"].where(~g[flag])  # NaN breaks the line at a diverged point
        ax.plot(g[x], y, color=colour, marker=markers[loss], markersize=6, linewidth=1.8, label=loss)
        low, high = ok[f"{metric}_low"].clip(0, 1), ok[f"{metric}_high"].clip(0, 1)
        ax.fill_between(ok[x], low, high, color=colour, alpha=0.1, linewidth=0)
        seeds = study.runs[(study.runs["loss"] == loss) & ~study.runs["lr"].isin(g.loc[g[flag], "lr"])]
        xs = seeds["lr"] * (factor[loss] if x == "effective_lr" else 1.0)
        ax.plot(xs, seeds[per_seed], linestyle="none", marker=".", markersize=4, color=colour, alpha=0.6)
        bad = g[g[flag]]
        if len(bad):
            any_diverged = True
            _crosses(ax, bad[x], colour, study.losses.index(loss), len(study.losses))
    ax.set_ylim(0, 1)
    _log_axis(ax)
    return any_diverged


def _legend(fig, ax, study: Study, palette: dict, markers: dict, diverged: bool, extra=()) -> None:
    handles = [Line2D([], [], color=palette[loss], marker=markers[loss], label=loss) for loss in study.losses]
    handles.append(Patch(color="0.5", alpha=0.3, label="95% CI over seeds"))
    handles.append(Line2D([], [], color="0.4", marker=".", linestyle="none", label="one seed"))
    if diverged:
        handles.append(Line2D([], [], color="0.2", marker="x", markeredgewidth=2, linestyle="none",
                              label="diverged (any seed)"))
    handles += list(extra)
    ax.legend(handles=handles)
    legend_outside(fig, ax, "loss")


MARKERS = ["o", "s", "D", "^", "v", "P", "*", "p", "h"]  # no "x"/"X": × marks a diverged point


def _colours(study: Study) -> tuple[dict, dict]:
    """Each loss's colour (plots' palette, in the study's loss order) and marker, the same on every figure."""
    return _palette(study.losses), {loss: MARKERS[i % len(MARKERS)] for i, loss in enumerate(study.losses)}


def lr_figure(study: Study) -> plt.Figure | None:
    """Final validation accuracy against lr (log), one curve per loss; None without points."""
    if study.empty:
        return None
    palette, markers = _colours(study)
    fig, ax = plt.subplots(figsize=(8, 4.4))
    diverged = _panel(ax, study, "lr", "val", palette, markers)
    ax.set(xlabel="learning rate (log scale)", ylabel=f"validation accuracy after epoch {_budget(study)}")
    _legend(fig, ax, study, palette, markers, diverged)
    return fig


def _budget(study: Study) -> str:
    epochs = sorted(set(study.points["epochs"]))
    return str(epochs[0]) if len(epochs) == 1 else f"{epochs[0]}–{epochs[-1]}"


def effective_figure(study: Study) -> plt.Figure | None:
    """Validation accuracy against the effective lr: after the final epoch and after epoch 1 (with the
    threshold and the reference's rising side); None when no effective lr is known."""
    if study.empty or study.points.loc[study.points["loss"] != study.reference, "effective_lr"].isna().all():
        return None
    palette, markers = _colours(study)
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.4), sharey=True)
    diverged = False
    for ax, metric, when in ((axes[0], "val", f"after epoch {_budget(study)}"), (axes[1], "val1", "after epoch 1")):
        diverged |= _panel(ax, study, "effective_lr", metric, palette, markers)
        ax.set(xlabel=f"effective lr = lr × gradient scale vs {study.reference} (log)",
               ylabel=f"validation accuracy {when}", title=when)
        ax.yaxis.set_tick_params(labelleft=True)
    extra = []
    rising = study.collapse1
    if len(rising):
        axes[1].axvspan(rising["rising_low"].iloc[0], rising["rising_high"].iloc[0], color="0.85", alpha=0.5, zorder=0)
        extra.append(Patch(color="0.85", label=f"{study.reference}'s rising side"))
    axes[1].axhline(study.threshold, color="0.3", linestyle=":", linewidth=1.2)
    extra.append(Line2D([], [], color="0.3", linestyle=":", label=f"threshold {study.threshold:g}"))
    _legend(fig, axes[0], study, palette, markers, diverged, extra)
    return fig


def saturation_figure(study: Study) -> plt.Figure | None:
    """The final share of confidently wrong validation images (p > 0.9) against lr, for the losses
    whose outputs can saturate (capped losses left out); None when none is left."""
    shown = [loss for loss in study.losses if loss not in CAPPED_LOSSES]
    pts = study.points[study.points["loss"].isin(shown)]
    if pts.empty:
        return None
    palette, markers = _colours(study)
    fig, ax = plt.subplots(figsize=(8, 3.6))
    for i, loss in enumerate(shown):
        g = pts[pts["loss"] == loss].sort_values("lr")
        ax.plot(g["lr"], g["confident_wrong"], color=palette[loss], marker=markers[loss], label=loss)
        seeds = study.runs[(study.runs["loss"] == loss) & ~study.runs["lr"].isin(g.loc[g["diverged"], "lr"])]
        ax.plot(seeds["lr"], seeds["val_confident_wrong"], linestyle="none", marker=".", markersize=5,
                color=palette[loss], alpha=0.7)
        _crosses(ax, g.loc[g["diverged"], "lr"], palette[loss], i, len(shown))
    ax.axhline(SATURATED, color="0.3", linestyle=":", linewidth=1.2)
    ax.set(ylim=(0, 1), xlabel="learning rate (log scale)",
           ylabel="share confidently wrong (p > 0.9)\nafter the final epoch")
    _log_axis(ax)
    handles = [Line2D([], [], color=palette[loss], marker=markers[loss], label=loss) for loss in shown]
    handles.append(Line2D([], [], color="0.4", marker=".", linestyle="none", label="one seed"))
    if pts["diverged"].any():
        handles.append(Line2D([], [], color="0.2", marker="x", markeredgewidth=2, linestyle="none",
                              label="diverged (any seed)"))
    handles.append(Line2D([], [], color="0.3", linestyle=":", label=f"{SATURATED:.0%}: a seed above is saturated"))
    ax.legend(handles=handles)
    legend_outside(fig, ax, "loss")
    return fig


# --- captions ------------------------------------------------------------------------------------

def _band_text(study: Study) -> str:
    counts = set(study.points["n"])
    if counts == {1}:
        return "One seed per point: each line is that run, with no band (an interval needs two seeds)."
    text = ("Line: the mean over seeds; band: its 95% t-interval, clipped to [0, 1]; dots: each seed.")
    if min(counts) == 2:
        text += (" With two seeds the interval is the mean ± 12.7 × sd/√2 (t with one degree of freedom): wide "
                 "wherever the seeds differ, so read the dots there.")
    elif 1 in counts:
        text += " Points with one seed have no band."
    return text


def _diverged_text(study: Study, flag: str = "diverged", losses=None) -> str:
    """Which points the × marks stand for (``losses``: those drawn), and that nothing else is drawn there."""
    bad = study.points[study.points[flag] & study.points["loss"].isin(losses or study.losses)]
    if bad.empty:
        elsewhere = study.points[flag].any()  # a point of a loss not drawn here diverged
        return " No point drawn here diverged." if elsewhere else " No point diverged."
    listed = "; ".join(f"`{loss}` at lr {', '.join(map(_lr_text, g['lr']))}" for loss, g in bad.groupby("loss",
                                                                                                          sort=False))
    shared = " (side by side where losses diverged at the same lr)" if bad["lr"].duplicated().any() else ""
    return (f" × on the axis bottom{shared}: a point with a diverged seed ({listed}); its values are what a "
            "non-finite network gives, not real ones, so they are not drawn.")


def lr_caption(study: Study) -> str:
    if study.empty:
        return empty_text()
    return (f"Validation accuracy after the final epoch ({_budget(study)}) against the learning rate, log scale, one "
            "curve per loss (the same colour on every figure of this page). " + _band_text(study)
            + _diverged_text(study))


def effective_caption(study: Study) -> str:
    """What the effective-lr figure shows, with each loss's measured gradient scale."""
    if study.empty:
        return empty_text()
    scale = study.scale.dropna(subset=["scale"])
    if study.reference not in set(study.scale["loss"]) or scale.empty:
        return (f"No effective lr: the reference `{study.reference}` has no runs in the study, so no loss's "
                "gradient scale can be measured against it.")
    scales = ", ".join(f"`{r.loss}` {r.scale:.4g}" for r in scale.itertuples() if r.loss != study.reference)
    if not scales:
        return (f"No effective lr to compare: `{study.reference}`, the reference, is the only loss in the study (its "
                "effective lr is its lr).")
    text = (f"The same validation accuracies against the **effective learning rate** lr × (mean initial "
            f"logit-gradient norm of the loss ÷ that of `{study.reference}`, over each loss's runs at epoch 0: "
            f"{scales or 'no other loss'}). Left: after the final epoch; right: after epoch 1, where the gradient "
            "scale measured at initialisation should predict best. If that scale is what sets each loss's pace, the "
            f"curves fall onto `{study.reference}`'s on its rising side")
    if len(study.collapse1):
        row = study.collapse1.iloc[0]
        text += (f" (grey, right: lr {_lr_text(row['rising_low'])} to its peak after epoch 1 at "
                 f"{_lr_text(row['rising_high'])})")
    text += (f"; the conclusion calls them collapsed where within {COLLAPSE * 100:g} points of it at every lr "
             "compared. "
             f"The dotted line is the threshold {study.threshold:g} that defines each loss's threshold lr. "
             + _band_text(study) + _diverged_text(study, "diverged1").replace(" No point", " No point after epoch 1")
             .replace("a point with a diverged seed", "a point with a seed diverged by epoch 1 (right) or at all "
                      "(left)"))
    return text


def saturation_caption(study: Study) -> str:
    if study.empty:
        return empty_text()
    capped = [loss for loss in study.losses if loss in CAPPED_LOSSES]
    text = (f"Share of validation images the network gets wrong with more than 0.9 probability, after the final "
            f"epoch: line, the mean over seeds; dots, each seed. Dotted: {SATURATED:.0%}; a seed above it is what "
            "this page calls saturated.")
    if capped:
        text += (f" {', '.join(f'`{x}`' for x in capped)} left out: its targets cap the softmax at "
                 f"{stats.softmax_cap(study.classes):.2f}, so it cannot be confidently wrong.")
    return text + _diverged_text(study, losses=[x for x in study.losses if x not in CAPPED_LOSSES])


# --- the why page ---------------------------------------------------------------------------------

def why_note(runs_csv: str, epochs_csv: str, reference: str = "cross_entropy", slow_loss: str = "mse_softmax",
             threshold: float = THRESHOLD, classes: int = CLASSES):
    """The *why* page's line on the study (Markdown), or None when the study is off ("" paths)."""
    from IPython.display import Markdown

    runs, epochs = load(runs_csv, epochs_csv)
    if runs.empty:
        return None
    return Markdown(why_text(analyse(runs, epochs, reference, slow_loss, threshold, classes)))


def why_text(study: Study) -> str:
    """The study's answer for the *why* page, with a link to the page (markdown list item)."""
    link = "[Learning rate](learning-rate.html)"
    ref, slow = study.reference, study.slow_loss
    b = study.best.set_index("loss")
    if slow not in b.index or ref not in b.index:
        missing = " and ".join(f"`{x}`" for x in (slow, ref) if x not in b.index)
        return f"- The learning-rate study ({link}) does not train {missing}, so it adds nothing here."
    epochs = int(study.points["epochs"].max())
    trains = ("tunes each loss's lr on validation accuracy" if len(b.loc[slow, "grid"]) > 1 else
              "trains each loss at one lr only, so it tunes nothing")
    text = (f"- **The learning-rate study** ({link}) {trains} "
            f"({_grid_text(b.loc[slow, 'grid'])}, {epochs} epoch{'s' if epochs != 1 else ''}, {_seed_counts(study)}). ")
    c = study.comparison.set_index("loss") if len(study.comparison) else None
    if c is not None and slow in c.index:
        row = c.loc[slow]
        text += (f"{headline(row['verdict'], slow, ref)}. Test accuracy {_acc(row['mean'])} "
                 f"at lr {_lr_text(row['lr'])} "
                 f"against {_acc(row['reference_mean'])} at lr {_lr_text(row['reference_lr'])} "
                 f"({_points(row['difference'])} points, "
                 f"{_ci_points(row['difference_ci95_low'], row['difference_ci95_high'])})")
        edge = [x for x in (slow, ref) if b.loc[x, "edge"]]
        text += (f"; ⚠ {_edge_words(edge)[0].lower() + _edge_words(edge)[1:]}. " if edge
                 else ". ")
    else:
        text += f"`{slow}` is not compared with `{ref}` there (no best lr for one of them). "
    r = scale_rows(study).set_index("loss").loc[slow]
    if not pd.isna(r["measured"]):
        theory = (f" (theory: {_ratio(r['theory'])}" + (", C²/2)" if slow == "mse_softmax" else ")")
                  if not pd.isna(r["theory"]) else "")
        factor = r["measured"] / r["predicted"]
        reading = ("the scale accounts for the whole shift" if abs(math.log(factor)) < math.log(1.005) else
                   f"the scale accounts for a factor {_number(r['predicted'], '.3g')}, a further {_ratio(factor)} is "
                   "not explained by it" if factor > 1 else
                   f"it needs a {_ratio(1 / factor)} smaller lr than the scale predicts")
        text += (f"To first reach validation accuracy {study.threshold:g} after epoch 1 it needs a "
                 f"{_ratio(r['measured'])} larger lr than `{ref}`, where its initial gradient scale predicts "
                 f"{_ratio(r['predicted'])}{theory}: {reading}.")
    else:
        text += f"Its threshold-lr ratio to `{ref}` is not measured on this grid (see the page)."
    return text
