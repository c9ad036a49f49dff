"""The report's sentences and display tables, computed from hand-made tables."""

from __future__ import annotations

import math

import pandas as pd

from lossbench import prose, stats
from test_stats import runs_table


def summary_table(rows):
    columns = ["variant", "loss", "lr", "n", "n_diverged", "test_accuracy_mean", "test_accuracy_sd",
               "test_accuracy_ci95_low", "test_accuracy_ci95_high", "train_seconds_median", "target_val_accuracy",
               "epochs_to_target"]
    return pd.DataFrame(rows, columns=columns)


def test_comparison_conclusion_is_computed_from_the_numbers():
    runs = runs_table({"ce": [0.90, 0.91, 0.92], "good": [0.95, 0.96, 0.955], "same": [0.90, 0.915, 0.915]})
    summary = summary_table([
        ("ce", "ce", 0.1, 3, 0, 0.91, 0.01, 0.885, 0.935, 1.0, 0.9, 4),
        ("good", "good", 5.0, 3, 0, 0.955, 0.005, 0.94, 0.97, 1.0, 0.9, 3),
        ("same", "same", 0.1, 3, 1, 0.91, 0.0087, 0.89, 0.93, 1.0, 0.9, 4),
    ])
    comparison = stats.compare_to_reference(runs, "ce")
    text = prose.comparison_conclusion(summary, comparison, "ce")
    assert "**Best mean test accuracy:** `good` with 0.9550" in text
    good = comparison.set_index("variant").loc["good"]
    assert f"`good` vs `ce`: **4.5 points higher** (paired t test, Holm-adjusted p = {good['p_holm']:.2g}" in text
    assert "`same` vs `ce`: no detectable difference" in text
    assert "`same`: 1 of 3 runs **diverged**" in text
    assert "adjusted with Holm's method across the 2 comparisons with `ce`" in text


def test_the_conclusion_of_a_sweep_with_only_the_reference():
    summary = summary_table([("ce", "ce", 0.1, 2, 0, 0.91, 0.01, 0.82, 1.0, 1.0, 0.9, 4)])
    comparison = stats.compare_to_reference(runs_table({"ce": [0.90, 0.92]}), "ce")
    text = prose.comparison_conclusion(summary, comparison, "ce")
    assert "**Reference** `ce`: 0.9100" in text and "Holm" not in text
    assert prose.comparison_display(comparison).empty


def test_the_conclusion_uses_the_holm_adjusted_p_not_the_raw_one():
    # "edge" is a little better on every seed (raw paired p ~0.03), but it is one of four comparisons
    ref = [0.900, 0.910, 0.920, 0.930, 0.940]
    runs = runs_table({"ref": ref, "edge": [0.905, 0.911, 0.928, 0.932, 0.944], "big": [0.95, 0.961, 0.97, 0.982, 0.99],
                       "n1": [0.91, 0.90, 0.925, 0.926, 0.94], "n2": [0.895, 0.92, 0.915, 0.935, 0.937]})
    comparison = stats.compare_to_reference(runs, "ref").set_index("variant")
    assert comparison.loc["edge", "p"] < 0.05 <= comparison.loc["edge", "p_holm"]
    summary = summary_table([(v, v, 0.1, 5, 0, sum(a) / 5, 0.01, 0.9, 0.95, 1.0, 0.9, 3) for v, a in
                             [("ref", ref), ("edge", [0.92] * 5), ("big", [0.97] * 5), ("n1", [0.92] * 5),
                              ("n2", [0.92] * 5)]])
    text = prose.comparison_conclusion(summary, comparison.reset_index(), "ref")
    assert "`edge` vs `ref`: no detectable difference" in text and f"raw p = {comparison.loc['edge', 'p']:.2g}" in text
    shown = prose.comparison_display(comparison.reset_index())
    assert {"paired p", "Welch p", "test used", "Holm-adjusted p"} <= set(shown.columns)


def test_why_conclusion_measures_losses_whatever_the_reference_variant_is_called():
    """The reference is a variant (mse_softmax_lr5 here, not a loss name); the ratio is between losses."""
    ratios = pd.DataFrame({"seed": [0], "mse_softmax": [0.019], "cross_entropy": [0.95], "ratio": [0.02]})
    summary = summary_table([
        ("ce", "cross_entropy", 0.1, 1, 0, 0.91, math.nan, math.nan, math.nan, 1.0, 0.9, 4),
        ("mse", "mse_softmax", 0.1, 1, 0, 0.16, math.nan, math.nan, math.nan, 1.0, 0.9, math.nan),
        ("mse_softmax_lr5", "mse_softmax", 5.0, 1, 0, 0.94, math.nan, math.nan, math.nan, 1.0, 0.9, 3),
    ])
    text = prose.why_conclusion(summary, ratios, "mse_softmax_lr5", "mse_softmax")
    assert "ratio of the losses `mse_softmax` / `cross_entropy` is **0.0200**" in text
    assert "0.0% apart" in text and "~50× smaller" in text
    assert "`ce` (loss `cross_entropy`, lr 0.1) trails `mse_softmax_lr5`" in text
    assert "`mse` (loss `mse_softmax`, lr 0.1) trails `mse_softmax_lr5`" in text


def test_why_conclusion_says_when_a_loss_is_not_trained():
    summary = summary_table([("ce", "cross_entropy", 0.1, 1, 0, 0.91, math.nan, math.nan, math.nan, 1.0, 0.9, 4)])
    text = prose.why_conclusion(summary, pd.DataFrame(columns=["seed", "ratio"]), "ce", "mse_softmax")
    assert "is not measured here: no variant trains `mse_softmax`" in text


def test_why_conclusion_reads_saturation_of_the_slow_losss_first_variant():
    summary = summary_table([
        ("ce", "cross_entropy", 0.1, 1, 0, 0.91, math.nan, math.nan, math.nan, 1.0, 0.9, 4),
        ("slow", "mse_softmax", 0.1, 1, 0, 0.16, math.nan, math.nan, math.nan, 1.0, 0.9, math.nan),
    ])
    empty = pd.DataFrame(columns=["seed", "ratio"])
    uniform = pd.DataFrame({"variant": ["slow"], "epoch": [5], "val_mean_max_prob": [0.11],
                            "val_confident_wrong": [0.0]})
    assert "`slow` has mean max-probability 0.11" in prose.why_conclusion(summary, empty, "ce", "mse_softmax", uniform)
    assert "stay close to uniform" in prose.why_conclusion(summary, empty, "ce", "mse_softmax", uniform)
    saturated = uniform.assign(val_mean_max_prob=0.9, val_confident_wrong=0.05)
    text = prose.why_conclusion(summary, empty, "ce", "mse_softmax", saturated)
    assert "5.0% confidently wrong" in text and "shrinks its gradient further" in text


def test_summary_display_flags_divergence_and_names_the_target():
    summary = summary_table([("v", "v", 0.1, 3, 2, 0.5, 0.1, 0.2, 0.8, 1.0, 0.9, math.nan)])
    shown = prose.summary_display(summary)
    assert shown.index[0] == "v ⚠ diverged: 2" and shown.iloc[0]["epochs to 90% val"] == "never"
    assert shown.iloc[0]["CPU s (median)"] == ""  # not recorded: blank, not "nan"
    fashion = prose.summary_display(summary.assign(target_val_accuracy=0.8, epochs_to_target=3.0,
                                                   train_cpu_seconds_median=0.75))
    assert fashion.iloc[0]["epochs to 80% val"] == "3" and fashion.iloc[0]["CPU s (median)"] == "0.75"


def test_timing_caption_says_how_many_runs_shared_how_many_cpus():
    t = "2026-11-27T00:00:{:02d}+00:00".format
    runs = pd.DataFrame({"host": "h", "pid": [1, 2, 3, 4], "cpus": 2, "start_time": [t(0)] * 4,
                         "end_time": [t(10)] * 4})
    text = prose.timing_caption(runs)
    assert "on average 4.0 of them ran at once" in text and "on a host with 2 usable CPUs" in text
    assert "not recorded" in prose.timing_caption(runs.assign(end_time=None))
    waited = runs.assign(train_seconds=[2.0, 4.0, 6.0, 8.0], train_cpu_seconds=2.0)
    assert "Median wall / process-CPU ratio of a run: 2.50 (range 1.00–4.00)" in prose.timing_caption(waited)
    assert "ratio" not in prose.timing_caption(runs)  # no CPU seconds recorded: nothing said about them


def test_rerun_instructions_name_the_dataset_switch():
    mnist = prose.rerun_markdown({"dataset": "mnist"})
    assert "snakemake --cores 8\n" in mnist and "original MNIST" in mnist and "make determinism DATASET=mnist" in mnist
    fashion = prose.rerun_markdown({"dataset": "fashion_mnist"})
    assert "snakemake --cores 8 --config dataset=fashion_mnist" in fashion and "original Fashion-MNIST" in fashion
    packed = prose.rerun_markdown({"dataset": "fashion_mnist", "pack_seeds": True})
    assert "snakemake --cores 8 --config dataset=fashion_mnist pack_seeds=True\n" in packed
