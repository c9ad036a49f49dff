"""Statistical inference on the gathered tables (tested in tests/test_stats.py).

Intervals, tests against the reference with Holm's correction, the initial-gradient ratio,
saturation, the median run and how many runs shared a machine. The sentences and display
tables built from these numbers are in ``lossbench.prose``.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
from scipy import stats

ALPHA = 0.05
CLASSES = 10


def ci95(values) -> tuple[float, float]:
    """Two-sided 95% t-interval of the mean (NaN for fewer than two values).

    The one meaning of "95% CI" in lossbench: the tables, the text and the curves' bands.
    """
    v = pd.Series(values, dtype=float).dropna()
    if len(v) < 2:
        return math.nan, math.nan
    half = stats.t.ppf(0.975, len(v) - 1) * v.std(ddof=1) / math.sqrt(len(v))
    return v.mean() - half, v.mean() + half


def holm(p_values) -> np.ndarray:
    """Holm's step-down adjusted p-values (family-wise error control); NaN stays NaN, not counted."""
    p = np.asarray(p_values, dtype=float)
    adjusted = np.full_like(p, np.nan)
    tested = np.flatnonzero(~np.isnan(p))
    m = len(tested)
    running = 0.0
    for rank, i in enumerate(tested[np.argsort(p[tested], kind="stable")]):
        running = max(running, min(1.0, (m - rank) * p[i]))
        adjusted[i] = running
    return adjusted


def compare_to_reference(runs: pd.DataFrame, reference: str, metric: str = "test_accuracy") -> pd.DataFrame:
    """Each variant against ``reference``: mean difference, paired and Welch t-tests, effect sizes.

    Runs are paired by seed (seed s gives every variant the same split, init and batch order).
    Cohen's d uses the pooled sd; d_z is the mean paired difference over its sd. ``p`` is the
    paired test's p-value where seeds pair up (else Welch's), and ``p_holm`` that p adjusted
    with Holm's method across all the comparisons of the table.
    """
    with warnings.catch_warnings():
        # scipy warns of precision loss when values are nearly identical; constant samples are
        # caught below and the p-value stays what scipy computes: no warning text on a page
        warnings.simplefilter("ignore", RuntimeWarning)
        return _compare_to_reference(runs, reference, metric)


def _constant(values: pd.Series) -> bool:
    """Every value equal (exactly: a float sd of identical values can be 1e-17, not 0)."""
    return len(values) == 0 or values.max() == values.min()


def _compare_to_reference(runs: pd.DataFrame, reference: str, metric: str) -> pd.DataFrame:
    ref = runs[runs["variant"] == reference].set_index("seed")[metric]
    rows = []
    for variant, group in runs.groupby("variant", sort=False):
        if variant == reference:
            continue
        values = group.set_index("seed")[metric]
        paired = pd.concat([values, ref], axis=1, keys=["v", "r"], join="inner").dropna()
        diff = paired["v"] - paired["r"]
        row = {
            "variant": variant, "reference": reference, "n": len(values), "n_paired": len(paired),
            "mean": values.mean(), "reference_mean": ref.mean(), "difference": values.mean() - ref.mean(),
            "welch_p": math.nan, "paired_p": math.nan, "cohens_d": math.nan, "paired_dz": math.nan,
        }
        if len(values) >= 2 and len(ref) >= 2:
            if not (_constant(values) and _constant(ref)):
                row["welch_p"] = stats.ttest_ind(values, ref, equal_var=False).pvalue
            pooled = 0.0 if _constant(values) and _constant(ref) else math.sqrt((values.var() + ref.var()) / 2)
            if pooled > 0:
                row["cohens_d"] = row["difference"] / pooled
            else:  # every run of both equal: no spread to scale by
                row["cohens_d"] = 0.0 if row["difference"] == 0 else math.copysign(math.inf, row["difference"])
        if len(paired) >= 2:
            sd = 0.0 if _constant(diff) else diff.std()
            if sd > 0:
                row["paired_p"] = stats.ttest_rel(paired["v"], paired["r"]).pvalue
                row["paired_dz"] = diff.mean() / sd
            elif diff.mean() == 0:
                row["paired_p"], row["paired_dz"] = 1.0, 0.0
        row["test"], row["p"] = ("paired t", row["paired_p"]) if not math.isnan(row["paired_p"]) else \
            ("Welch t", row["welch_p"]) if not math.isnan(row["welch_p"]) else ("", math.nan)
        rows.append(row)
    columns = ["variant", "reference", "n", "n_paired", "mean", "reference_mean", "difference", "welch_p", "paired_p",
               "cohens_d", "paired_dz", "test", "p"]
    table = pd.DataFrame(rows, columns=columns)  # the columns also when the reference is the only variant
    table["p_holm"] = holm(table["p"])
    return table


def initial_gradient_ratio(runs: pd.DataFrame, numerator_loss: str, denominator_loss: str) -> pd.DataFrame:
    """Per seed, the ratio of initial logit-gradient norms of two *losses* (same seed = same network).

    The initial gradient does not depend on the lr, so any variant of each loss serves. Empty
    when no run trains one of the losses.
    """
    def first_per_seed(loss: str) -> pd.Series:
        return runs[runs["loss"] == loss].groupby("seed")["initial_logit_grad_norm"].first()

    num, den = first_per_seed(numerator_loss), first_per_seed(denominator_loss)
    both = pd.concat([num, den], axis=1, keys=[numerator_loss, denominator_loss], join="inner")
    both["ratio"] = both[numerator_loss] / both[denominator_loss]
    return both.reset_index()


def theoretical_ratio(classes: int = CLASSES) -> float:
    """MSE-on-softmax over CE logit-gradient norm at uniform output p = 1/C: 2/C^2."""
    return 2 / classes**2


def variants_of(runs: pd.DataFrame, loss: str) -> list[str]:
    """The variants that train ``loss``, in table order."""
    return list(dict.fromkeys(runs.loc[runs["loss"] == loss, "variant"]))


def saturation_table(epochs: pd.DataFrame) -> pd.DataFrame:
    """Per variant and epoch: mean over seeds of max-probability, confident-wrong share, gradient norm."""
    cols = ["val_mean_max_prob", "val_confident_wrong", "logit_grad_norm", "val_accuracy"]
    return epochs.groupby(["variant", "epoch"], sort=False)[cols].mean().reset_index()


def median_run(runs: pd.DataFrame) -> pd.Series:
    """The run whose test accuracy is the median (lower middle for an even count), among the runs
    that did not diverge when there are any (a diverged run's weights are not finite)."""
    if "status" in runs and (runs["status"] != "diverged").any():
        runs = runs[runs["status"] != "diverged"]
    ordered = runs.sort_values(["test_accuracy", "seed"]).reset_index(drop=True)
    return ordered.iloc[(len(ordered) - 1) // 2]


def concurrency(runs: pd.DataFrame) -> pd.Series:
    """Per run, the mean number of training processes running at the same time on its host
    (itself included), from the runs' start and end times; NaN where a time is missing.

    Packed seeds share one process (same host, process id and start) and count once. This is
    what turns one run's wall seconds into a share of a contended machine.
    """
    def column(name):
        return runs[name] if name in runs else pd.Series("", index=runs.index)

    start = pd.to_datetime(column("start_time"), utc=True, format="ISO8601", errors="coerce")
    end = pd.to_datetime(column("end_time").replace("", None), utc=True, format="ISO8601", errors="coerce")
    processes = pd.DataFrame({"host": column("host"), "pid": column("pid"), "start": start, "end": end})
    processes = processes.dropna().drop_duplicates(["host", "pid", "start"])
    result = pd.Series(math.nan, index=runs.index)
    for i in runs.index:
        if pd.isna(start[i]) or pd.isna(end[i]) or end[i] <= start[i]:
            continue
        same_host = processes[processes["host"] == column("host")[i]]
        overlap = (np.minimum(same_host["end"], end[i]) - np.maximum(same_host["start"], start[i])).dt.total_seconds()
        result[i] = overlap.clip(lower=0).sum() / (end[i] - start[i]).total_seconds()
    return result
