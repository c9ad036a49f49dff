"""Statistical inference on hand-made tables, checked against scipy and hand computation."""

from __future__ import annotations

import math

import numpy as np
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
    pooled = math.sqrt((3 * pd.Series(mse).var() + 3 * pd.Series(ce).var()) / 6)
    assert result["cohens_d"] == pytest.approx(result["difference"] / pooled)
    assert result["test"] == "paired t" and result["p"] == result["paired_p"]
    assert result["p_holm"] == result["p"]  # one comparison: nothing to adjust


def test_identical_variants_are_not_tested_and_not_counted_by_holm():
    """Identical runs are identical, not 'no detectable difference, p = 1': no test, no p, out of Holm's m."""
    table = stats.compare_to_reference(runs_table({"ce": [0.9, 0.92], "copy": [0.9, 0.92], "other": [0.8, 0.83]}),
                                       "ce").set_index("variant")
    result = table.loc["copy"]
    assert result["identical"] and result["test"] == "" and math.isnan(result["p"]) and math.isnan(result["p_holm"])
    assert result["difference"] == 0 and result["cohens_d"] == 0 and result["paired_dz"] == 0
    assert table.loc["other", "p_holm"] == table.loc["other", "p"]  # one test in the family, not two


def test_a_reference_alone_gives_an_empty_table_with_every_column():
    table = stats.compare_to_reference(runs_table({"ce": [0.9, 0.91]}), "ce")
    assert table.empty and {"p", "p_holm", "test", "difference"} <= set(table.columns)


def test_unpaired_seeds_fall_back_to_welch():
    runs = runs_table({"ce": [0.90, 0.91, 0.92], "other": [0.80, 0.82, 0.81]})
    runs.loc[runs["variant"] == "other", "seed"] += 10  # no seed in common
    result = stats.compare_to_reference(runs, "ce").iloc[0]
    assert result["n_paired"] == 0 and result["test"] == "Welch t" and result["p"] == result["welch_p"]


def test_holm_adjusts_by_rank_keeps_order_and_skips_nan():
    # hand computation: sorted p 0.01, 0.02, 0.04 -> 3*0.01, max(0.03, 2*0.02), max(0.04, 1*0.04)
    assert stats.holm([0.04, 0.01, 0.02]).tolist() == pytest.approx([0.04, 0.03, 0.04])
    # monotone and capped at 1: 0.5 -> min(1, 2*0.5) = 1, 0.6 -> max(1, 0.6) = 1
    assert stats.holm([0.6, 0.5]).tolist() == [1.0, 1.0]
    adjusted = stats.holm([0.01, math.nan, 0.03])  # NaN is no test: m = 2
    assert adjusted[0] == pytest.approx(0.02) and math.isnan(adjusted[1]) and adjusted[2] == pytest.approx(0.03)
    assert stats.holm([]).tolist() == []


def test_holm_is_applied_across_the_comparisons_of_one_table():
    runs = runs_table({"ref": [0.90, 0.91, 0.92, 0.93], "a": [0.92, 0.925, 0.95, 0.94], "b": [0.80, 0.90, 0.85, 0.93],
                       "c": [0.10, 0.12, 0.11, 0.13]})
    table = stats.compare_to_reference(runs, "ref")
    assert list(table["variant"]) == ["a", "b", "c"]
    assert table["p_holm"].tolist() == pytest.approx(stats.holm(table["p"]).tolist())
    assert (table["p_holm"] >= table["p"]).all() and (table["p_holm"] > table["p"]).any()


def test_ci95_is_the_t_interval():
    values = [0.90, 0.91, 0.95, 0.93]
    low, high = stats.ci95(values)
    expected = sps.t.interval(0.95, 3, loc=np.mean(values), scale=sps.sem(values))
    assert (low, high) == pytest.approx(expected)
    assert all(math.isnan(v) for v in stats.ci95([0.9])) and all(math.isnan(v) for v in stats.ci95([0.9, math.nan]))


def test_initial_gradient_ratio_pairs_seeds_by_loss_whatever_the_variant():
    runs = runs_table({"ce": [0.9, 0.9], "mse_lr5": [0.9, 0.9]}, loss={"mse_lr5": "mse_softmax", "ce": "cross_entropy"},
                      grad={"ce": 0.95, "mse_lr5": 0.019})
    ratios = stats.initial_gradient_ratio(runs, "mse_softmax", "cross_entropy")
    assert list(ratios["seed"]) == [0, 1] and ratios["ratio"].tolist() == pytest.approx([0.02, 0.02])
    assert stats.variants_of(runs, "mse_softmax") == ["mse_lr5"]
    assert stats.initial_gradient_ratio(runs, "mse_logits", "cross_entropy").empty


def test_nearly_identical_samples_give_no_warning():
    """scipy warns of precision loss on (nearly) identical data; a page must show no warning text."""
    import warnings

    runs = runs_table({"ref": [0.07, 0.07, 0.07], "v": [0.07, 0.07, 0.0700000001], "w": [0.9, 0.91, 0.93]})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        table = stats.compare_to_reference(runs, "ref").set_index("variant")
    assert table.loc["w", "test"] == "paired t" and table.loc["w", "p"] < 0.05


def test_constant_samples_are_caught_exactly():
    table = stats.compare_to_reference(runs_table({"ref": [0.07] * 3, "v": [0.09] * 3}), "ref").iloc[0]
    assert math.isnan(table["welch_p"]) and math.isnan(table["paired_p"]) and table["cohens_d"] == math.inf


def test_median_run_skips_diverged_runs_when_it_can():
    runs = runs_table({"v": [0.3, 0.9, 0.5]}).assign(status=["ok", "diverged", "ok"])
    assert stats.median_run(runs)["test_accuracy"] == 0.3
    assert stats.median_run(runs.assign(status="diverged"))["test_accuracy"] == 0.5


def test_median_run():
    assert stats.median_run(runs_table({"v": [0.3, 0.9, 0.5]}))["test_accuracy"] == 0.5
    assert stats.median_run(runs_table({"v": [0.3, 0.9, 0.5, 0.7]}))["test_accuracy"] == 0.5  # lower middle


def test_concurrency_counts_overlapping_processes_per_host():
    t = "2026-11-27T00:00:{:02d}+00:00".format
    runs = pd.DataFrame({
        "host": ["a", "a", "a", "b", "a", "a"], "pid": [1, 2, 3, 1, 4, 4],
        "start_time": [t(0), t(0), t(10), t(0), t(40), t(40)],
        "end_time": [t(20), t(20), t(30), t(20), t(50), t(50)],
    })
    together = stats.concurrency(runs)
    # run 0 (0-20 s on a): itself, its twin, and the 10-30 s run for half its time -> 2.5
    assert together[0] == pytest.approx(2.5) and together[1] == pytest.approx(2.5)
    assert together[2] == pytest.approx(2.0)  # 10-30: the two 0-20 runs for 10 of its 20 s, itself
    assert together[3] == pytest.approx(1.0)  # alone on host b
    # rows 4 and 5 are two packed seeds of one process (same host, pid, start): they count once
    assert together[4] == pytest.approx(1.0) and together[5] == pytest.approx(1.0)
    assert stats.concurrency(runs.assign(end_time=None)).isna().all()


# --- issue 14: the words' numbers -----------------------------------------------------------------------

def test_each_difference_has_its_95_ci_paired_or_welch_as_scipy_gives_it():
    ce, mse = [0.90, 0.91, 0.92, 0.93], [0.10, 0.15, 0.12, 0.20]
    row = stats.compare_to_reference(runs_table({"ce": ce, "mse": mse}), "ce").iloc[0]
    paired = sps.ttest_rel(mse, ce).confidence_interval()
    assert (row["difference_ci95_low"], row["difference_ci95_high"]) == pytest.approx((paired.low, paired.high))
    runs = runs_table({"ce": ce, "mse": mse})
    runs.loc[runs["variant"] == "mse", "seed"] += 10  # no seed in common: Welch's interval
    row = stats.compare_to_reference(runs, "ce").iloc[0]
    welch = sps.ttest_ind(mse, ce, equal_var=False).confidence_interval()
    assert (row["difference_ci95_low"], row["difference_ci95_high"]) == pytest.approx((welch.low, welch.high))
    assert not row["identical"]


def test_the_intervals_are_the_t_intervals_computed_by_hand():
    """scipy's confidence_interval() gives the numbers lossbench computed by hand before: the paired
    t-interval of the differences and Welch's interval with Satterthwaite's degrees of freedom."""
    ce, mse = [0.90, 0.91, 0.92, 0.93], [0.10, 0.15, 0.12, 0.20]
    row = stats.compare_to_reference(runs_table({"ce": ce, "mse": mse}), "ce").iloc[0]
    diff = pd.Series(mse) - pd.Series(ce)
    half = sps.t.ppf(0.975, 3) * diff.std() / 2
    assert (row["difference_ci95_low"], row["difference_ci95_high"]) == pytest.approx(
        (diff.mean() - half, diff.mean() + half), rel=1e-12)
    assert (row["difference_ci95_low"], row["difference_ci95_high"]) == pytest.approx((-0.826656160459744,
                                                                                       -0.7183438395402562))
    a, b = [0.80, 0.82, 0.81, 0.86, 0.79], [0.90, 0.91, 0.92]
    runs = runs_table({"ce": b, "v": a})
    runs.loc[runs["variant"] == "v", "seed"] += 10
    row = stats.compare_to_reference(runs, "ce").iloc[0]
    va, vb = pd.Series(a).var() / 5, pd.Series(b).var() / 3
    df = (va + vb) ** 2 / (va**2 / 4 + vb**2 / 2)
    half = sps.t.ppf(0.975, df) * math.sqrt(va + vb)
    difference = np.mean(a) - np.mean(b)
    assert (row["difference_ci95_low"], row["difference_ci95_high"]) == pytest.approx(
        (difference - half, difference + half), rel=1e-12)


def test_samples_with_no_spread_keep_their_branch():
    """Differences that do not vary (paired) or two constant samples (Welch): the interval is the
    difference itself, no test is run, and no warning is raised."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        shifted = stats.compare_to_reference(runs_table({"ref": [0.5, 0.6, 0.7], "v": [0.52, 0.62, 0.72]}),
                                             "ref").iloc[0]
        runs = runs_table({"ref": [0.07] * 3, "v": [0.09] * 4})
        runs.loc[runs["variant"] == "v", "seed"] += 10
        constant = stats.compare_to_reference(runs, "ref").iloc[0]
        assert stats.ci95([0.5, 0.5, 0.5]) == (0.5, 0.5)
    assert shifted["difference_ci95_low"] == shifted["difference_ci95_high"] == pytest.approx(0.02)
    assert math.isnan(shifted["paired_p"])
    assert constant["difference_ci95_low"] == constant["difference_ci95_high"] == pytest.approx(0.02)
    assert constant["test"] == "" and math.isnan(constant["p"])


def test_a_run_without_a_value_is_left_out_of_n_p_and_the_interval_alike():
    """A NaN (a diverged run's test accuracy) made Welch's p NaN while the interval dropped it and n
    counted it; now every number is of the runs that have a value."""
    ref, v = [0.90, 0.91, 0.92], [0.80, math.nan, 0.82, 0.85]
    runs = runs_table({"ce": ref, "v": v})
    runs.loc[runs["variant"] == "v", "seed"] += 10  # no pairs: Welch
    row = stats.compare_to_reference(runs, "ce").iloc[0]
    measured = [0.80, 0.82, 0.85]
    welch = sps.ttest_ind(measured, ref, equal_var=False)
    assert row["n"] == 3 and row["test"] == "Welch t"
    assert row["welch_p"] == pytest.approx(welch.pvalue) and row["p"] == row["welch_p"]
    assert (row["difference_ci95_low"], row["difference_ci95_high"]) == pytest.approx(tuple(
        welch.confidence_interval()))
    assert row["cohens_d"] == pytest.approx((np.mean(measured) - np.mean(ref)) / stats.pooled_sd(
        pd.Series(measured), pd.Series(ref)))
    # paired: the seed without a value pairs with nothing
    paired = stats.compare_to_reference(runs_table({"ce": [0.90, 0.91, 0.92, 0.93], "v": v}), "ce").iloc[0]
    assert paired["n"] == 3 and paired["n_paired"] == 3 and paired["test"] == "paired t"
    assert paired["p"] == pytest.approx(sps.ttest_rel(measured, [0.90, 0.92, 0.93]).pvalue)
    # a run without a value is never shown identical to anything, even a copy missing the same seed
    both = stats.compare_to_reference(runs_table({"ce": [0.9, math.nan], "copy": [0.9, math.nan]}), "ce").iloc[0]
    assert not both["identical"] and both["n"] == 1


def test_cohens_d_pools_the_variances_weighted_by_their_degrees_of_freedom():
    """With unequal group sizes the n-weighted pooled sd differs from the root of the mean variance."""
    ref, v = [0.90, 0.91], [0.80, 0.86, 0.82, 0.85, 0.70, 0.95]
    row = stats.compare_to_reference(runs_table({"ce": ref, "v": v}), "ce").iloc[0]
    s_ref, s_v = pd.Series(ref).var(), pd.Series(v).var()
    weighted = math.sqrt((1 * s_ref + 5 * s_v) / 6)
    assert row["cohens_d"] == pytest.approx(row["difference"] / weighted) == pytest.approx(-1.0014847818, rel=1e-9)
    assert row["cohens_d"] != pytest.approx(row["difference"] / math.sqrt((s_ref + s_v) / 2))  # was -1.289
    assert stats.pooled_sd(pd.Series([1.0, 3.0]), pd.Series([2.0, 6.0])) == pytest.approx(math.sqrt(5))


def test_identical_means_every_seed_paired_and_equal():
    same = stats.compare_to_reference(runs_table({"ce": [0.9, 0.92], "copy": [0.9, 0.92]}), "ce").iloc[0]
    assert same["identical"] and same["difference_ci95_low"] == same["difference_ci95_high"] == 0
    one_off = stats.compare_to_reference(runs_table({"ce": [0.9, 0.92], "near": [0.9, 0.921]}), "ce").iloc[0]
    assert not one_off["identical"]


def settings_table(rows):
    return pd.DataFrame(rows, columns=["variant", "loss", "lr", "batch_size", "epochs"])


def test_ablations_are_the_variants_that_change_a_setting_besides_the_loss():
    runs = settings_table([("ce", "cross_entropy", 0.1, 100, 5), ("mse", "mse_softmax", 0.1, 100, 5),
                           ("mse_lr5", "mse_softmax", 5.0, 100, 5), ("ce_long", "cross_entropy", 0.1, 100, 9),
                           ("logits", "mse_logits", 0.1, 100, 5)])
    assert stats.shared_settings(runs) == {"lr": 0.1, "batch_size": 100, "epochs": 5}
    assert stats.ablations(runs) == ["mse_lr5", "ce_long"]
    assert stats.ablation_base(runs, "mse_lr5") == "mse" and stats.ablation_base(runs, "ce_long") == "ce"
    assert stats.changed_settings(runs, "ce_long") == {"epochs": (9, 5)}
    assert stats.shared_variant(runs, "mse_softmax") == "mse" and stats.shared_variant(runs, "hinge") is None
    # a tie between settings goes to the reference's, else to the first variant's
    tie = settings_table([("a", "x", 0.1, 100, 5), ("b", "y", 5.0, 100, 5)])
    assert stats.ablations(tie) == ["b"] and stats.ablations(tie, reference="b") == ["a"]
    assert stats.ablation_base(tie, "b") is None  # no variant of its loss at the shared settings
    assert stats.ablations(settings_table([("a", "x", 0.1, 100, 5)])[["variant", "loss", "lr"]]) == []


def test_a_variant_that_changes_only_the_hidden_layers_is_an_ablation():
    runs = settings_table([("ce", "cross_entropy", 0.1, 100, 5), ("mse", "mse_softmax", 0.1, 100, 5),
                           ("ce_small", "cross_entropy", 0.1, 100, 5)]).assign(
        hidden=["1200-600-300", "1200-600-300", "64-32"])
    assert stats.shared_settings(runs)["hidden"] == "1200-600-300"
    assert stats.ablations(runs) == ["ce_small"] and stats.ablation_base(runs, "ce_small") == "ce"
    assert stats.changed_settings(runs, "ce_small") == {"hidden": ("64-32", "1200-600-300")}
    from lossbench.words import changed_text as _changed_text
    from lossbench.words import settings_text as _settings_text

    assert _changed_text(stats.changed_settings(runs, "ce_small")) == "hidden layers 64-32 instead of 1200-600-300"
    assert _settings_text(stats.shared_settings(runs)) == "lr 0.1, batch 100, 5 epochs, hidden layers 1200-600-300"


def history(variant, values, loss="l"):
    return pd.DataFrame([{"variant": variant, "loss": loss, "seed": s, "epoch": e, "val_accuracy": v,
                          "epoch_seconds": 1.0 + s, "grad_norm_layer1": np.nan if e == 0 else 1.0}
                         for s in (0, 1) for e, v in enumerate(values)])


def test_identical_runs_compares_every_history_column_but_timings():
    a, b = history("a", [0.1, 0.5]), history("b", [0.1, 0.5]).assign(epoch_seconds=9.0)
    assert stats.identical_runs(pd.concat([a, b]), "a", "b")  # NaN equals NaN, timings ignored
    c = history("c", [0.1, 0.5000001])
    assert not stats.identical_runs(pd.concat([a, c]), "a", "c")
    assert not stats.identical_runs(pd.concat([a, history("d", [0.1])]), "a", "d")


def test_steps_ratios_and_coinciding_curves():
    epochs = pd.DataFrame([{"variant": v, "loss": loss, "seed": s, "epoch": e, "logit_grad_norm": g * (e + 1),
                            "grad_norm_layer1": g * 2, "grad_norm_layer2": g, "val_accuracy": 0.1 * e + (v == "far")}
                           for v, loss, g in [("ce", "cross_entropy", 1.0), ("mse", "mse_softmax", 0.02),
                                              ("far", "mse_softmax", 0.02)]
                           for s in (0, 1) for e in range(3)])
    steps = stats.with_lr(epochs, pd.DataFrame({"variant": ["ce", "mse", "far"], "lr": [0.1, 5.0, 0.1]}))
    assert steps.loc[steps["variant"] == "mse", "step_logit"].iloc[0] == pytest.approx(5.0 * 0.02)
    assert steps.loc[steps["variant"] == "ce", "step_layer1"].iloc[0] == pytest.approx(0.2)
    ratio = stats.ratio_by_epoch(epochs, "mse", "ce")
    assert list(ratio["epoch"]) == [0, 1, 2] and ratio["mean"].tolist() == pytest.approx([0.02] * 3)
    assert stats.ratio_by_epoch(steps, "mse", "ce", "step_layer1")["mean"].tolist() == pytest.approx([1.0] * 3)
    assert stats.initial_layer_ratios(epochs, "mse_softmax", "cross_entropy").tolist() == pytest.approx([0.02, 0.02])
    assert stats.initial_layer_ratios(epochs.assign(grad_norm_layer1=np.nan), "mse_softmax",
                                      "cross_entropy").isna().tolist() == [True, False]
    assert stats.coinciding(epochs, "val_accuracy") == [["ce", "mse"]]
    assert stats.coinciding(steps, "step_logit", 0.01, relative=True) == [["ce", "mse"]]
    assert stats.coinciding(epochs, "logit_grad_norm", 0.01, relative=True) == [["mse", "far"]]


def test_chance_is_one_over_the_number_of_classes():
    assert stats.chance() == 0.1 and stats.chance(4) == 0.25


def test_predicted_shares_and_relative_loss():
    predictions = pd.DataFrame({"label": [0, 1, 2, 3], "predicted": [3, 3, 3, 1]})
    shares = stats.predicted_shares(predictions)
    assert shares.index[0] == 3 and shares["predicted_share"].iloc[0] == 0.75 and shares["label_share"].iloc[0] == 0.25
    epochs = pd.DataFrame({"variant": "v", "seed": [0, 0, 1, 1], "epoch": [0, 1, 0, 1],
                           "train_loss": [2.0, 1.0, 0.1, np.inf]})
    assert stats.relative_loss(epochs)["train_loss_relative"].tolist()[:3] == [1.0, 0.5, 1.0]
    assert np.isnan(stats.relative_loss(epochs)["train_loss_relative"].iloc[3])  # a diverged run's inf


def test_the_initial_gradient_ratio_of_a_loss_with_itself_is_one():
    runs = runs_table({"a": [0.9, 0.9]}, loss={"a": "mse_softmax"}, grad={"a": 0.019})
    ratios = stats.initial_gradient_ratio(runs, "mse_softmax", "mse_softmax")
    assert list(ratios.columns) == ["seed", "mse_softmax", "ratio"] and ratios["ratio"].tolist() == [1.0, 1.0]
