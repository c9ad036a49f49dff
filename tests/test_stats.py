"""Statistics and computed conclusions on hand-made tables."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from scipy import stats as sps

from lossbench import stats


def runs_table(values: dict[str, list[float]], **extra) -> pd.DataFrame:
    rows = []
    for variant, accs in values.items():
        for seed, acc in enumerate(accs):
            rows.append({"variant": variant, "loss": extra.get("loss", {}).get(variant, variant), "seed": seed,
                         "test_accuracy": acc, "initial_logit_grad_norm": extra.get("grad", {}).get(variant, 1.0)})
    return pd.DataFrame(rows)


def test_paired_and_welch_tests_match_scipy():
    ce, mse = [0.90, 0.91, 0.92, 0.93], [0.10, 0.15, 0.12, 0.20]
    result = stats.compare_to_reference(runs_table({"ce": ce, "mse": mse}), "ce").iloc[0]
    assert result["variant"] == "mse" and result["n_paired"] == 4
    assert result["difference"] == pytest.approx(sum(mse) / 4 - sum(ce) / 4)
    assert result["paired_p"] == pytest.approx(sps.ttest_rel(mse, ce).pvalue)
    assert result["welch_p"] == pytest.approx(sps.ttest_ind(mse, ce, equal_var=False).pvalue)
    pooled = math.sqrt((pd.Series(mse).var() + pd.Series(ce).var()) / 2)
    assert result["cohens_d"] == pytest.approx(result["difference"] / pooled)


def test_identical_variants_are_no_difference_not_nan():
    result = stats.compare_to_reference(runs_table({"ce": [0.9, 0.92], "copy": [0.9, 0.92]}), "ce").iloc[0]
    assert result["paired_p"] == 1.0 and result["difference"] == 0 and result["cohens_d"] == 0


def summary_table(rows):
    columns = ["variant", "loss", "lr", "n", "n_diverged", "test_accuracy_mean", "test_accuracy_sd",
               "test_accuracy_ci95_low", "test_accuracy_ci95_high", "train_seconds_median", "target_val_accuracy", "epochs_to_target"]
    return pd.DataFrame(rows, columns=columns)


def test_comparison_conclusion_is_computed_from_the_numbers():
    runs = runs_table({"ce": [0.90, 0.91, 0.92], "good": [0.95, 0.96, 0.955], "same": [0.90, 0.915, 0.915]})
    summary = summary_table([
        ("ce", "ce", 0.1, 3, 0, 0.91, 0.01, 0.885, 0.935, 1.0, 0.9, 4),
        ("good", "good", 5.0, 3, 0, 0.955, 0.005, 0.94, 0.97, 1.0, 0.9, 3),
        ("same", "same", 0.1, 3, 1, 0.91, 0.0087, 0.89, 0.93, 1.0, 0.9, 4),
    ])
    text = stats.comparison_conclusion(summary, stats.compare_to_reference(runs, "ce"), "ce")
    assert "**Best mean test accuracy:** `good` with 0.9550" in text
    assert "`good` vs `ce`: **4.5 points higher**" in text
    assert "`same` vs `ce`: no detectable difference" in text
    assert "`same`: 1 of 3 runs **diverged**" in text


def test_initial_gradient_ratio_pairs_seeds_by_loss_whatever_the_variant():
    runs = runs_table({"ce": [0.9, 0.9], "mse_lr5": [0.9, 0.9]}, loss={"mse_lr5": "mse_softmax", "ce": "cross_entropy"},
                      grad={"ce": 0.95, "mse_lr5": 0.019})
    ratios = stats.initial_gradient_ratio(runs, "mse_softmax", "cross_entropy")
    assert list(ratios["seed"]) == [0, 1] and ratios["ratio"].tolist() == pytest.approx([0.02, 0.02])
    assert stats.theoretical_ratio() == 0.02


def test_why_conclusion_reports_ratio_and_ablations():
    ratios = pd.DataFrame({"seed": [0], "mse_softmax": [0.019], "cross_entropy": [0.95], "ratio": [0.02]})
    summary = summary_table([
        ("ce", "cross_entropy", 0.1, 1, 0, 0.91, math.nan, math.nan, math.nan, 1.0, 0.9, 4),
        ("mse", "mse_softmax", 0.1, 1, 0, 0.16, math.nan, math.nan, math.nan, 1.0, 0.9, math.nan),
        ("mse5", "mse_softmax", 5.0, 1, 0, 0.94, math.nan, math.nan, math.nan, 1.0, 0.9, 3),
    ])
    text = stats.why_conclusion(summary, ratios, "ce", "mse_softmax")
    assert "**0.0200**" in text and "0.0% apart" in text and "~50× smaller" in text
    assert "`mse` (loss `mse_softmax`, lr 0.1) trails `ce`" in text
    assert "`mse5` (loss `mse_softmax`, lr 5) beats `ce`" in text


def test_median_run_and_summary_display_flags_divergence():
    runs = runs_table({"v": [0.3, 0.9, 0.5]})
    assert stats.median_run(runs)["test_accuracy"] == 0.5
    summary = summary_table([("v", "v", 0.1, 3, 2, 0.5, 0.1, 0.2, 0.8, 1.0, 0.9, math.nan)])
    shown = stats.summary_display(summary)
    assert shown.index[0] == "v ⚠ diverged: 2" and shown.iloc[0]["epochs to 90% val"] == "never"
    fashion = stats.summary_display(summary.assign(target_val_accuracy=0.8, epochs_to_target=3.0))
    assert fashion.iloc[0]["epochs to 80% val"] == "3"


def test_why_conclusion_reads_saturation_from_the_numbers():
    summary = summary_table([("ce", "cross_entropy", 0.1, 1, 0, 0.91, math.nan, math.nan, math.nan, 1.0, 0.9, 4)])
    empty = pd.DataFrame(columns=["seed", "ratio"])
    uniform = pd.DataFrame({"variant": ["mse"], "epoch": [5], "val_mean_max_prob": [0.11], "val_confident_wrong": [0.0]})
    assert "stay close to uniform" in stats.why_conclusion(summary, empty, "ce", "mse", uniform)
    saturated = uniform.assign(val_mean_max_prob=0.9, val_confident_wrong=0.05)
    text = stats.why_conclusion(summary, empty, "ce", "mse", saturated)
    assert "5.0% confidently wrong" in text and "shrinks its gradient further" in text


def test_rerun_instructions_name_the_dataset_switch():
    mnist = stats.rerun_markdown({"dataset": "mnist"})
    assert "snakemake --cores 8\n" in mnist and "original MNIST" in mnist and "make determinism DATASET=mnist" in mnist
    fashion = stats.rerun_markdown({"dataset": "fashion_mnist"})
    assert "snakemake --cores 8 --config dataset=fashion_mnist" in fashion and "original Fashion-MNIST" in fashion
    packed = stats.rerun_markdown({"dataset": "fashion_mnist", "pack_seeds": True})
    assert "snakemake --cores 8 --config dataset=fashion_mnist pack_seeds=True\n" in packed
