"""Statistical inference on the gathered tables (tested in tests/test_stats.py).

Intervals, tests against the reference with Holm's correction, the initial-gradient ratio,
saturation, the median run and how many runs shared a machine. The sentences and display
tables built from these numbers are in each page's wording module (``lossbench.comparison``, ``lossbench.why``...).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
from scipy import stats

from .decisions import ALPHA  # noqa: F401  (re-exported for the modules that still import it from here)

CLASSES = 10


def ci95(values) -> tuple[float, float]:
    """Two-sided 95% t-interval of the mean (NaN for fewer than two values; NaN values dropped).

    The one meaning of "95% CI" in lossbench: the tables, the text and the curves' bands. scipy's
    one-sample t-test gives it (``ttest_1samp(...).confidence_interval()``); values that are all
    equal have no spread, and the interval is that value (scipy would divide zero by zero).
    """
    v = pd.Series(values, dtype=float).dropna()
    if len(v) < 2:
        return math.nan, math.nan
    if _constant(v):
        return float(v.iloc[0]), float(v.iloc[0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # precision loss on nearly equal values
        interval = stats.ttest_1samp(v, 0.0).confidence_interval(0.95)
    return float(interval.low), float(interval.high)


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

    Runs are paired by seed (seed s gives every variant the same split, init and batch order); a run
    without a value (NaN) is left out (``_compare``). Cohen's d uses the n-weighted pooled sd
    (``pooled_sd``); d_z is the mean paired difference over its sd, the effect size of the paired
    test. ``difference_ci95_*`` is the 95% t-interval of the difference (of the paired differences
    where seeds pair up, else Welch's; scipy's ``confidence_interval()``). ``p`` is the paired test's p-value
    where seeds pair up (else Welch's), and ``p_holm`` that p adjusted with Holm's method across
    all the comparisons of the table. ``identical``: every seed of both paired and equal; then
    no test is run (``test`` empty, ``p`` NaN: not counted by Holm), as there is nothing to test.
    """
    with warnings.catch_warnings():
        # scipy warns of precision loss when values are nearly identical; constant samples are
        # caught below and the p-value stays what scipy computes: no warning text on a page
        warnings.simplefilter("ignore", RuntimeWarning)
        return _compare_to_reference(runs, reference, metric)


def _constant(values: pd.Series) -> bool:
    """Every value equal (exactly: a float sd of identical values can be 1e-17, not 0)."""
    return len(values) == 0 or values.max() == values.min()


def _difference_ci(v: pd.Series, r: pd.Series, paired: pd.DataFrame) -> tuple[float, float]:
    """95% t-interval of the difference of means (no NaN in ``v``, ``r``, ``paired``): of the mean
    paired difference where seeds pair up (two or more, ``ttest_rel``), else Welch's (``ttest_ind``
    with ``equal_var=False``), each scipy's ``confidence_interval()``. When the differences (paired)
    or both samples (Welch) do not vary, the interval is the difference itself: no spread, and
    scipy's would be 0/0."""
    if len(paired) >= 2:
        diff = paired["v"] - paired["r"]
        if _constant(diff):
            return diff.mean(), diff.mean()
        interval = stats.ttest_rel(paired["v"], paired["r"]).confidence_interval(0.95)
    elif len(v) < 2 or len(r) < 2:
        return math.nan, math.nan
    elif _constant(v) and _constant(r):
        return v.mean() - r.mean(), v.mean() - r.mean()
    else:
        interval = stats.ttest_ind(v, r, equal_var=False).confidence_interval(0.95)
    return float(interval.low), float(interval.high)


def pooled_sd(a: pd.Series, b: pd.Series) -> float:
    """The pooled standard deviation of Cohen's d: each sample's variance weighted by its degrees of
    freedom, sqrt(((n_a - 1) s_a^2 + (n_b - 1) s_b^2) / (n_a + n_b - 2)) (equal sizes: the root of
    the mean variance). Both samples need two values."""
    return math.sqrt(((len(a) - 1) * a.var() + (len(b) - 1) * b.var()) / (len(a) + len(b) - 2))


def compare_pair(runs: pd.DataFrame, variant: str, reference: str, metric: str = "test_accuracy") -> dict:
    """One variant against another: difference of means, its 95% CI (paired where seeds pair up),
    paired and Welch t-tests, Cohen's d (pooled sd) and d_z (paired), and ``identical``: every
    seed of both paired and equal (then there is nothing to test). NaN values: see ``_compare``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # see compare_to_reference
        return _compare(runs[runs["variant"] == variant].set_index("seed")[metric],
                        runs[runs["variant"] == reference].set_index("seed")[metric], variant, reference)


def _compare(runs: pd.Series, ref_runs: pd.Series, variant: str, reference: str) -> dict:
    """One comparison. A run with no value (NaN: a diverged run has no test accuracy) is left out of
    everything computed here, alike: ``n``, the means, Welch's p and interval, Cohen's d, and the
    pairs (a seed pairs only where both have a value). Dropping, not refusing, keeps the measured
    runs' statistics readable beside a verdict that says first that a run diverged
    (``decisions.difference``), and it is what the paired test already did; refusing would throw
    those numbers away. Before, Welch's p was NaN (scipy propagates NaN) while its interval dropped
    the NaN and ``n`` still counted it. ``identical`` still needs every run of both, NaN included,
    paired and equal: a run without a value is not shown equal to anything."""
    values, ref = runs.dropna(), ref_runs.dropna()
    paired = pd.concat([values, ref], axis=1, keys=["v", "r"], join="inner")
    diff = paired["v"] - paired["r"]
    row = {
        "variant": variant, "reference": reference, "n": len(values), "n_paired": len(paired),
        "mean": values.mean(), "reference_mean": ref.mean(), "difference": values.mean() - ref.mean(),
        "welch_p": math.nan, "paired_p": math.nan, "cohens_d": math.nan, "paired_dz": math.nan,
    }
    row["difference_ci95_low"], row["difference_ci95_high"] = _difference_ci(values, ref, paired)
    row["identical"] = bool(len(paired) and len(paired) == len(runs) == len(ref_runs) and (diff == 0).all())
    if len(values) >= 2 and len(ref) >= 2:
        if not (_constant(values) and _constant(ref)):
            row["welch_p"] = stats.ttest_ind(values, ref, equal_var=False).pvalue
        pooled = 0.0 if _constant(values) and _constant(ref) else pooled_sd(values, ref)
        if pooled > 0:
            row["cohens_d"] = row["difference"] / pooled
        else:  # every run of both equal: no spread to scale by
            row["cohens_d"] = 0.0 if row["difference"] == 0 else math.copysign(math.inf, row["difference"])
    if row["identical"]:  # nothing differs: no test to run (not "p = 1"), and none counted by Holm
        row["welch_p"] = math.nan
        row["paired_dz"] = 0.0
    elif len(paired) >= 2:
        sd = 0.0 if _constant(diff) else diff.std()
        if sd > 0:
            row["paired_p"] = stats.ttest_rel(paired["v"], paired["r"]).pvalue
            row["paired_dz"] = diff.mean() / sd
    row["test"], row["p"] = ("paired t", row["paired_p"]) if not math.isnan(row["paired_p"]) else \
        ("Welch t", row["welch_p"]) if not math.isnan(row["welch_p"]) else ("", math.nan)
    return row


COMPARISON_COLUMNS = ["variant", "reference", "n", "n_paired", "mean", "reference_mean", "difference",
                      "difference_ci95_low", "difference_ci95_high", "identical", "welch_p", "paired_p", "cohens_d",
                      "paired_dz", "test", "p"]


def _compare_to_reference(runs: pd.DataFrame, reference: str, metric: str) -> pd.DataFrame:
    ref = runs[runs["variant"] == reference].set_index("seed")[metric]
    rows = [_compare(group.set_index("seed")[metric], ref, variant, reference)
            for variant, group in runs.groupby("variant", sort=False) if variant != reference]
    table = pd.DataFrame(rows, columns=COMPARISON_COLUMNS)  # the columns also when the reference is the only variant
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
    both = pd.concat([num, den], axis=1, keys=["numerator", "denominator"], join="inner")
    both["ratio"] = both["numerator"] / both["denominator"]
    if numerator_loss == denominator_loss:  # a loss against itself: one column, ratio 1
        both = both.drop(columns="denominator")
    return both.reset_index().rename(columns={"numerator": numerator_loss, "denominator": denominator_loss})


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


def chance(classes: int = CLASSES) -> float:
    """The accuracy of guessing uniformly at random: 1/C."""
    return 1 / classes


# What a variant can override besides its loss, as the tables record it (hidden as "1200-600-300")
# what a variant may change besides its loss (an ablation changes one); a table without a column (optimizer:
# tables gathered before it, constructed ones) simply does not compare it
SETTINGS = ("lr", "batch_size", "epochs", "hidden", "optimizer")


def _settings(table: pd.DataFrame) -> pd.DataFrame:
    """One row per variant, in table order: its loss and the settings the table records."""
    columns = [c for c in ("loss", *SETTINGS) if c in table]
    return table.drop_duplicates("variant").set_index("variant")[columns]


def shared_settings(table: pd.DataFrame, reference: str | None = None) -> dict:
    """The settings most variants train with (runs or summary table): the sweep's shared settings.

    Ties go to the reference's settings, else to the first variant's in table order.
    """
    settings = _settings(table).drop(columns="loss")
    if settings.empty:
        return {}
    keys = [tuple(row) for row in settings.itertuples(index=False)]
    counts = pd.Series(keys).value_counts(sort=False)
    tied = [key for key in dict.fromkeys(keys) if counts[key] == counts.max()]
    chosen = tied[0]
    if reference in settings.index and tuple(settings.loc[reference]) in tied:
        chosen = tuple(settings.loc[reference])
    return dict(zip(settings.columns, chosen))


def ablations(table: pd.DataFrame, reference: str | None = None) -> list[str]:
    """The variants that change more than the loss: any recorded setting other than the shared one."""
    shared = shared_settings(table, reference)
    settings = _settings(table)
    return [v for v, row in settings.iterrows() if any(row[k] != value for k, value in shared.items())]


def ablation_base(table: pd.DataFrame, variant: str, reference: str | None = None) -> str | None:
    """The variant that trains ``variant``'s loss at the shared settings (what the ablation changes), or None."""
    settings = _settings(table)
    others = set(ablations(table, reference))
    same = [v for v in settings.index if v != variant and v not in others
            and settings.loc[v, "loss"] == settings.loc[variant, "loss"]]
    return same[0] if same else None


def changed_settings(table: pd.DataFrame, variant: str, reference: str | None = None) -> dict:
    """What ``variant`` changes: {setting: (its value, the shared value)}."""
    shared = shared_settings(table, reference)
    row = _settings(table).loc[variant]
    return {k: (row[k], value) for k, value in shared.items() if row[k] != value}


TIMING_COLUMNS = ("epoch_seconds", "epoch_cpu_seconds")


def identical_runs(epochs: pd.DataFrame, a: str, b: str) -> bool:
    """Every seed of ``a`` and ``b`` has the same history, bit for bit (timings aside)."""
    columns = [c for c in epochs.columns if c not in (*TIMING_COLUMNS, "variant", "loss", "config_hash")]
    ha = epochs[epochs["variant"] == a][columns].sort_values(["seed", "epoch"]).reset_index(drop=True)
    hb = epochs[epochs["variant"] == b][columns].sort_values(["seed", "epoch"]).reset_index(drop=True)
    return len(ha) > 0 and ha.shape == hb.shape and bool(((ha == hb) | (ha.isna() & hb.isna())).all().all())


def with_lr(epochs: pd.DataFrame, table: pd.DataFrame) -> pd.DataFrame:
    """``epochs`` with each variant's lr (from runs or summary) and the steps it takes: ``step_logit``
    = lr x ||dl/dz||, ``step_layer<i>`` = lr x ||grad W_i|| (what one SGD step moves)."""
    lr = table.drop_duplicates("variant").set_index("variant")["lr"]
    out = epochs.assign(lr=epochs["variant"].map(lr))
    out["step_logit"] = out["lr"] * out["logit_grad_norm"]
    for column in layer_columns(epochs):
        out["step_" + column.removeprefix("grad_norm_")] = out["lr"] * out[column]
    return out


def layer_columns(epochs: pd.DataFrame, prefix: str = "grad_norm_layer") -> list[str]:
    """epochs.csv's per-layer weight-gradient norm columns (``step_layer``: their steps), input to output."""
    columns = [c for c in epochs.columns if c.startswith(prefix)]
    return sorted(columns, key=lambda c: int(c.removeprefix(prefix)))


def ratio_by_epoch(epochs: pd.DataFrame, numerator: str, denominator: str, column: str = "logit_grad_norm"
                   ) -> pd.DataFrame:
    """Per epoch, the mean over seeds of ``column``'s ratio of two *variants* on the same seed
    (epoch 0: the same network; later: the networks each trained into). Empty if they share no seed."""
    def table(variant):
        return epochs[epochs["variant"] == variant].set_index(["seed", "epoch"])[column]

    both = pd.concat([table(numerator), table(denominator)], axis=1, keys=["n", "d"], join="inner")
    both = both[(both["d"] > 0) & np.isfinite(both["n"])]
    ratio = (both["n"] / both["d"]).rename("ratio").reset_index()
    return ratio.groupby("epoch")["ratio"].agg(["mean", "min", "max", "count"]).reset_index()


def initial_layer_ratios(epochs: pd.DataFrame, numerator_loss: str, denominator_loss: str) -> pd.Series:
    """Per layer, the mean over seeds of the epoch-0 weight-gradient norm ratio of two losses (same
    network); NaN where the tables have no epoch-0 layer norms."""
    first = epochs[epochs["epoch"] == 0]
    result = {}
    for column in layer_columns(epochs):
        norms = [first[first["loss"] == loss].groupby("seed")[column].first()
                 for loss in (numerator_loss, denominator_loss)]
        both = pd.concat(norms, axis=1, join="inner").dropna()
        result[column] = (both.iloc[:, 0] / both.iloc[:, 1]).mean() if len(both) else math.nan
    return pd.Series(result, dtype=float)


def mean_curve(epochs: pd.DataFrame, variant: str, column: str) -> pd.Series:
    """Mean over seeds of ``column`` per epoch for one variant (index: epoch)."""
    return epochs[epochs["variant"] == variant].groupby("epoch")[column].mean()


def coinciding(epochs: pd.DataFrame, column: str = "val_accuracy", tolerance: float = 1e-3,
               relative: bool = False) -> list[list[str]]:
    """Groups of two or more variants whose mean ``column`` curves are within ``tolerance`` of each
    other at every epoch (they draw on top of each other); ``relative``: within that fraction (log axes)."""
    curves = {v: mean_curve(epochs, v, column).dropna() for v in dict.fromkeys(epochs["variant"])}
    groups: list[list[str]] = []
    for variant, curve in curves.items():
        for group in groups:
            other = curves[group[0]]
            gap = (curve / other - 1) if relative else (curve - other)
            if len(curve) and curve.index.equals(other.index) and bool((gap.abs() <= tolerance).all()):
                group.append(variant)
                break
        else:
            groups.append([variant])
    return [g for g in groups if len(g) > 1]


def predicted_shares(predictions: pd.DataFrame) -> pd.DataFrame:
    """Per predicted class: its share of the predictions and that class's share of the true labels."""
    predicted = predictions["predicted"].value_counts(normalize=True)
    labels = predictions["label"].value_counts(normalize=True)
    return pd.DataFrame({"predicted_share": predicted, "label_share": labels.reindex(predicted.index).fillna(0.0)})


def shared_variant(table: pd.DataFrame, loss: str, reference: str | None = None) -> str | None:
    """The first variant that trains ``loss`` at the shared settings (not an ablation), or None."""
    ablated = set(ablations(table, reference))
    rows = table.drop_duplicates("variant")
    found = [v for v, trained in zip(rows["variant"], rows["loss"]) if trained == loss and v not in ablated]
    return found[0] if found else None


def relative_loss(epochs: pd.DataFrame) -> pd.DataFrame:
    """``epochs`` with ``train_loss_relative``: each run's train loss over its own epoch-0 loss.

    Losses of different kinds (cross-entropy starts near ln C ~ 2.3, MSE on softmax near 0.09)
    never share an axis as raw values: as a share of where each began, they do.
    """
    first = epochs[epochs["epoch"] == 0].set_index(["variant", "seed"])["train_loss"]
    start = pd.MultiIndex.from_frame(epochs[["variant", "seed"]]).map(first.to_dict().get)
    out = epochs.assign(train_loss_relative=epochs["train_loss"].to_numpy() / np.asarray(start, dtype=float))
    out.loc[~np.isfinite(out["train_loss_relative"]), "train_loss_relative"] = np.nan
    return out
