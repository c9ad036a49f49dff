"""The comparison page: its records from hand-made tables, and the words for them."""

from __future__ import annotations

import math
import re

import pandas as pd
import pytest

from golden import assert_golden
from lossbench import comparison, comparison_words, decisions, stats
from lossbench.captions import curves_caption
from scenarios import SCENARIOS, scenario, user_losses

C = 10  # classes of the constructed tables


def summary_table(rows):
    columns = ["variant", "loss", "lr", "n", "n_diverged", "test_accuracy_mean", "test_accuracy_sd",
               "test_accuracy_ci95_low", "test_accuracy_ci95_high", "train_seconds_median", "target_val_accuracy",
               "epochs_to_target"]
    return pd.DataFrame(rows, columns=columns)


def row(variant, n=3, diverged=0, mean=0.9, low=0.85, high=0.95, loss=None, lr=0.1, sd=0.02):
    return (variant, loss or variant, lr, n, diverged, mean, sd if n > 1 else math.nan,
            low if n > 1 else math.nan, high if n > 1 else math.nan, 1.0, 0.9, 3)


def sweep(accuracies: dict[str, list[float]], lrs: dict[str, float] | None = None,
          losses: dict[str, str] | None = None) -> pd.DataFrame:
    """A runs table with settings: one row per (variant, seed)."""
    lrs, losses = lrs or {}, losses or {}
    return pd.DataFrame([{"variant": v, "loss": losses.get(v, v), "seed": s, "lr": lrs.get(v, 0.1), "batch_size": 100,
                          "epochs": 5, "test_accuracy": a, "status": "ok",
                          "initial_logit_grad_norm": {"mse_softmax": 0.019, "mse_logits": 0.2}.get(losses.get(v), 0.95)}
                         for v, accs in accuracies.items() for s, a in enumerate(accs)])


def summary_of(runs: pd.DataFrame, diverged=()) -> pd.DataFrame:
    rows = []
    for v, g in runs.groupby("variant", sort=False):
        low, high = stats.ci95(g["test_accuracy"])
        rows.append((v, g["loss"].iloc[0], g["lr"].iloc[0], len(g), len(g) if v in diverged else 0,
                     g["test_accuracy"].mean(), g["test_accuracy"].std(), low, high, 1.0, 0.9, 4))
    return summary_table(rows)


LOSSES = {"ce": "cross_entropy", "nll": "logsoftmax_nll", "mse": "mse_softmax", "mse_lr5": "mse_softmax",
          "ce_slow": "cross_entropy", "logits": "mse_logits", "logits_lr0p5": "mse_logits"}
LRS = {"ce": 0.1, "nll": 0.1, "mse": 0.1, "mse_lr5": 5.0, "ce_slow": 0.002, "logits": 0.1, "logits_lr0p5": 0.5}


def default_like():
    return sweep({"ce": [0.91, 0.92, 0.915, 0.905], "nll": [0.91, 0.92, 0.915, 0.905],
                  "mse": [0.12, 0.2, 0.15, 0.11], "mse_lr5": [0.94, 0.945, 0.935, 0.94],
                  "ce_slow": [0.12, 0.19, 0.15, 0.12], "logits": [0.76, 0.77, 0.765, 0.76],
                  "logits_lr0p5": [0.915, 0.92, 0.918, 0.91]}, LRS, LOSSES)


def analyse(summary, runs, reference, epochs=None):
    return comparison.analyse(summary, runs, reference, C, epochs)


def conclude(summary, runs, reference, epochs=None) -> str:
    return comparison_words.conclusion(analyse(summary, runs, reference, epochs))


def verdicts(found) -> dict:
    return {v.variant: v for v in found.verdicts}


# --- analysis: records ------------------------------------------------------------------------------


def test_a_detected_difference_is_higher_and_a_diverged_variant_is_not_judged():
    runs = sweep({"ce": [0.90, 0.91, 0.92], "good": [0.95, 0.96, 0.955], "same": [0.90, 0.915, 0.915]})
    summary = summary_table([row("ce", mean=0.91), row("good", mean=0.955), row("same", diverged=1, mean=0.91)])
    found = analyse(summary, runs, "ce")
    v = verdicts(found)
    assert v["good"].difference.kind == decisions.HIGHER and v["good"].test == "paired t"
    assert v["same"].difference.kind == decisions.DIVERGED and v["same"].diverged == (("same", 1, 3),)
    assert found.best.variants == ("good",) and found.best.ranked and found.best.left_out == ("same",)
    assert found.tested == 2
    text = comparison_words.conclusion(found)
    good = stats.compare_to_reference(runs, "ce").set_index("variant").loc["good"]
    assert "**Best mean test accuracy:** `good` with 0.9550" in text
    assert "at the shared settings (lr 0.1, batch 100, 5 epochs; one lr for every loss, not tuned per loss" in text
    ci = f"95% CI +{good['difference_ci95_low'] * 100:.2f} to +{good['difference_ci95_high'] * 100:.2f} points"
    assert (f"`good` vs `ce`: **4.5 points higher** ({ci}; paired t test, Holm-adjusted p = {good['p_holm']:.2g}"
            in text)
    assert f"d_z = {good['paired_dz']:.2g})" in text and "Cohen's d" not in text  # the paired test's effect size
    assert "`same` vs `ce`: not judged: `same` diverged in 1 of 3 runs" in text  # never "no difference"
    assert "`same`: 1 of 3 runs **diverged**" in text and "Holm's method across the 2 comparisons with `ce`" in text


def test_negligibility_is_read_before_significance():
    """A 0.1-point difference a paired test detects (p < 0.05) is negligible, not "higher": decisions'
    order, the same on every page."""
    ref = [0.900, 0.910, 0.920, 0.930, 0.940]
    runs = sweep({"ref": ref, "tiny": [r + 0.001 + 0.0001 * i for i, r in enumerate(ref)]})
    found = analyse(summary_of(runs), runs, "ref")
    tiny = verdicts(found)["tiny"]
    assert tiny.p < decisions.ALPHA and tiny.difference.kind == decisions.NEGLIGIBLE_KIND
    text = comparison_words.conclusion(found)
    assert "`tiny` vs `ref`: negligible:" in text and "the whole interval lies within ±0.5 points" in text
    assert "higher" not in text.split("`tiny` vs `ref`")[1]


def test_two_seeds_never_rank_nor_say_best():
    runs = sweep({"ce": [0.90, 0.91], "good": [0.95, 0.962]})
    found = analyse(summary_of(runs), runs, "ce")
    good = verdicts(found)["good"]
    assert good.difference.kind == decisions.TOO_FEW_SEEDS and not good.difference.detected
    assert not found.best.ranked and found.best.seeds == 2
    text = comparison_words.conclusion(found)
    assert "**Highest mean test accuracy:** `good`" in text and "with 2 seeds per variant this is no ranking" in text
    assert "best" not in text.lower() and "higher**" not in text and "detected" not in text
    assert "`good` vs `ce`: not ranked: " in text and "a ranking needs 3 or more" in text


def test_best_never_singles_out_one_form_of_a_function():
    """softmax_nll 0.0144 points above cross_entropy is the same function: the family is named."""
    runs = sweep({"ce": [0.9140, 0.9150, 0.9130], "snll": [0.9141, 0.9151, 0.9133], "mse": [0.1, 0.2, 0.15]},
                 losses={"ce": "cross_entropy", "snll": "softmax_nll", "mse": "mse_softmax"})
    found = analyse(summary_of(runs), runs, "ce")
    assert found.best.variants == ("ce", "snll") and found.best.family == "cross_entropy" and not found.best.tied
    first = comparison_words.conclusion(found).splitlines()[0]
    assert first.startswith("- **Best mean test accuracy:** `ce`, `snll` (one function, registered as 2 forms: "
                            "`cross_entropy`'s family) with 0.9140–0.9142")
    # two different functions at one mean share it, as a tie
    tie = sweep({"a": [0.9, 0.9, 0.9], "b": [0.9, 0.9, 0.9]})
    found = analyse(summary_table([row("a", mean=0.9), row("b", mean=0.9)]), tie, "a")
    assert found.best.variants == ("a", "b") and found.best.tied and found.best.family is None
    text = comparison_words.conclusion(found)
    assert "`a`, `b` with 0.9000 (tied)" in text
    assert verdicts(found)["b"].difference.kind == decisions.IDENTICAL
    assert "`b` vs `a`: the same test accuracy on every one of the 3 seeds (difference 0 on each)" in text


def test_the_holm_adjusted_p_decides_not_the_raw_one():
    # "edge" is a little better on every seed (raw paired p ~0.03), but it is one of four comparisons
    ref = [0.900, 0.910, 0.920, 0.930, 0.940]
    runs = sweep({"ref": ref, "edge": [0.905, 0.911, 0.928, 0.932, 0.944], "big": [0.95, 0.961, 0.97, 0.982, 0.99],
                  "n1": [0.91, 0.90, 0.925, 0.926, 0.94], "n2": [0.895, 0.92, 0.915, 0.935, 0.937]})
    found = analyse(summary_of(runs), runs, "ref")
    edge = verdicts(found)["edge"]
    assert edge.p < 0.05 <= edge.difference.p_holm and edge.difference.kind == decisions.UNCLEAR
    text = comparison_words.conclusion(found)
    assert "`edge` vs `ref`: no detectable difference" in text and f"raw p = {edge.p:.2g}" in text
    assert "too wide to call the difference negligible" in text.split("`edge` vs `ref`")[1].splitlines()[0]
    shown = comparison_words.comparison_display(stats.compare_to_reference(runs, "ref"))
    assert {"paired p", "Welch p", "test used", "Holm-adjusted p"} <= set(shown.columns)


def test_no_spread_is_said_only_when_every_run_of_each_side_gives_one_accuracy():
    runs = sweep({"a": [0.9, 0.9], "b": [0.8, 0.8]})
    found = analyse(summary_table([row("a", n=2, mean=0.9, sd=0.0), row("b", n=2, mean=0.8, sd=0.0)]), runs, "a")
    b = verdicts(found)["b"]
    assert b.difference.kind == decisions.UNTESTED and b.no_spread
    assert ("`b` vs `a`: not tested: every run of `b` gives one accuracy and every run of `a` another, so there is no "
            "spread to test; -10.00 points apart") in comparison_words.conclusion(found)
    shown = comparison_words.comparison_display(stats.compare_to_reference(runs, "a"))
    assert shown.iloc[0]["Cohen's d"] == "−∞" and "inf" not in shown.to_string()
    # a row deleted by hand (the seeds differ): the runs that are there have a spread, so no such sentence
    cut = sweep({"a": [0.90, 0.91, 0.92, 0.93, 0.94], "b": [0.90, 0.91, 0.92, 0.93, 0.94]})
    cut = cut.drop(index=cut.index[(cut["variant"] == "b") & (cut["seed"] == 4)])
    text = conclude(summary_of(cut), cut, "a")
    assert "no spread" not in text and "the same test accuracy on every one" not in text


def test_a_variant_with_diverged_runs_is_never_best_nor_judged_equal():
    runs = sweep({"ce": [0.90, 0.91, 0.92], "boom": [0.95, 0.96, 0.97], "ok": [0.90, 0.905, 0.93]})
    summary = summary_table([row("ce", mean=0.91), row("boom", diverged=1, mean=0.96), row("ok", mean=0.9117)])
    text = conclude(summary, runs, "ce")
    assert "`ok` with 0.9117" in text and "`boom` not ranked (diverged runs)" in text
    assert "`boom` vs `ce`: not judged: `boom` diverged in 1 of 3 runs (+5.00 points apart)" in text
    text = conclude(summary, runs, "boom")  # the reference diverged: nothing is judged against it
    assert "`ce` vs `boom`: not judged: `boom` diverged in 1 of 3 runs" in text
    assert "no detectable difference" not in text and "higher" not in text and "lower" not in text


def test_every_variant_diverged_gives_no_best():
    runs = sweep({"a": [0.1, 0.1], "b": [0.1, 0.1]})
    summary = summary_table([row("a", n=2, diverged=2, mean=0.1), row("b", n=2, diverged=1, mean=0.1)])
    found = analyse(summary, runs, "a")
    assert found.best.variants == ()
    text = comparison_words.conclusion(found)
    assert "**No best variant:** every variant has diverged runs" in text and "Best mean" not in text
    assert "`b` vs `a`: not judged: `b` diverged in 1 of 2 runs and `a` diverged in 2 of 2 runs" in text
    # the variants at the shared settings all diverged: an ablation that did not is still not ranked
    mixed = summary_table([row("a", n=2, diverged=2, mean=0.1), row("b", n=2, diverged=1, mean=0.1),
                           row("c", n=2, lr=5.0, mean=0.9)])
    text = conclude(mixed, sweep({"a": [0.1, 0.1], "b": [0.1, 0.1], "c": [0.9, 0.91]}, {"c": 5.0}), "a")
    assert "**No best variant:**" in text and "Best" not in text and "`c` (`c` at lr 5 instead of 0.1)" in text
    # a diverged ablation is not judged, like any diverged variant
    boom = summary_table([row("a", mean=0.9), row("boom", lr=1e30, diverged=2, n=2, mean=0.1)])
    text = conclude(boom, sweep({"a": [0.9, 0.91], "boom": [0.1, 0.1]}, {"boom": 1e30}), "a")
    assert "`boom` vs `a`: not judged: `boom` diverged in 2 of 2 runs" in text and "Ablations" not in text
    assert "`boom` not ranked (diverged runs)" in text


def test_one_variant_and_one_seed_say_why_nothing_is_tested():
    one = summary_table([row("ce", n=1, mean=0.91)])
    found = analyse(one, sweep({"ce": [0.91]}), "ce")
    assert found.best is None
    text = comparison_words.conclusion(found)
    assert "**One variant** in this sweep, `ce`: mean test accuracy 0.9100 (95% CI n/a (one run), n = 1)" in text
    assert "nothing to rank or test it against" in text and "One seed per variant: no interval and no test" in text
    assert comparison_words.no_comparison(found) == "Nothing to test: `ce` is the only variant in this sweep."
    two = summary_table([row("ce", n=1, mean=0.91), row("mse", n=1, mean=0.2)])
    runs = sweep({"ce": [0.91], "mse": [0.2]})
    found = analyse(two, runs, "ce")
    assert verdicts(found)["mse"].one_run == ("mse", "ce") and not found.best.ranked
    text = comparison_words.conclusion(found)
    assert "`mse` vs `ce`: not tested: `mse` and `ce` have one run (a t-test needs two or more); -71.00 points" in text
    assert "best" not in text.lower()
    shown = comparison_words.comparison_display(stats.compare_to_reference(runs, "ce"), two)
    assert "nan" not in shown.to_string().lower() and shown.iloc[0]["test used"] == "none"


def test_the_conclusion_of_a_sweep_with_only_the_reference():
    summary = summary_table([row("ce", n=2, mean=0.91, low=0.82, high=1.0)])
    runs = sweep({"ce": [0.90, 0.92]})
    text = conclude(summary, runs, "ce")
    assert "**One variant** in this sweep, `ce`: mean test accuracy 0.9100" in text and "Holm" not in text
    assert comparison_words.comparison_display(stats.compare_to_reference(runs, "ce")).empty


def test_a_reference_without_runs_is_said():
    summary = summary_table([row("mse", mean=0.2)])
    found = analyse(summary, sweep({"mse": [0.2, 0.21, 0.19]}), "ce")
    text = comparison_words.conclusion(found)
    assert "**Reference** `ce` has no runs in these tables: nothing is tested against it." in text
    assert "nan" not in text and "`mse` vs `ce`" not in text
    assert comparison_words.no_comparison(found) == "Nothing to test: the reference `ce` has no runs in these tables."
    shown = comparison_words.comparison_display(stats.compare_to_reference(sweep({"mse": [0.2, 0.21]}), "ce"))
    assert "nan" not in shown.to_string()


def test_an_ablation_is_never_best_and_is_worded_as_what_it_shows():
    runs = default_like()
    summary = summary_of(runs)
    found = analyse(summary, runs, "ce")
    assert {a.variant for a in found.ablations} == {"mse_lr5", "ce_slow", "logits_lr0p5"}
    assert "mse_lr5" not in found.best.variants and found.best.family == "cross_entropy"
    lr5 = next(a for a in found.ablations if a.variant == "mse_lr5")
    assert lr5.base == "mse" and lr5.difference.kind == decisions.HIGHER and lr5.paired
    assert lr5.against is not None and lr5.against.reference == "ce"
    text = comparison_words.conclusion(found)
    best = text.splitlines()[0]
    assert "at the shared settings (lr 0.1, batch 100, 5 epochs;" in best
    assert "`mse_lr5`" not in best and "`ce`, `nll` (one function" in best and "ablations are not ranked" in best
    pair = stats.compare_pair(runs, "mse_lr5", "mse")
    assert (f"`mse_lr5` (`mse_softmax` at lr 5 instead of 0.1): at lr 5 it recovers 0.9400 test accuracy, against "
            f"0.1450 for `mse` at lr 0.1 (+79.50 points, 95% CI +{pair['difference_ci95_low'] * 100:.2f} to "
            f"+{pair['difference_ci95_high'] * 100:.2f} points, paired over 4 seeds)") in text
    assert "Against the reference `ce`: +2.75 points" in text and "not a ranking" in text
    assert "`ce_slow` (`cross_entropy` at lr 0.002 instead of 0.1): at lr 0.002 it reaches 0.1450" in text
    assert "the change costs accuracy in this budget" in text and "Against the reference `ce`: -77" not in text
    assert "`mse_lr5` vs `ce`" not in text  # ablations have no verdict line of their own
    assert "beat" not in text and "best" not in text.lower().replace("**best mean test accuracy:**", "")
    shown = comparison_words.comparison_display(stats.compare_to_reference(runs, "ce"), summary,
                                                stats.ablations(runs, "ce"))
    assert "mse_lr5 (ablation)" in shown.index and "mse (ablation)" not in shown.index
    assert "mse_lr5 (ablation)" in comparison_words.summary_display(summary, C, stats.ablations(runs, "ce")).index


def test_an_ablation_without_a_detectable_change_or_without_its_loss_is_said_so():
    runs = sweep({"ce": [0.90, 0.91, 0.92], "ce_fast": [0.91, 0.90, 0.925], "mse_lr5": [0.93, 0.94, 0.95]},
                 {"ce": 0.1, "ce_fast": 0.3, "mse_lr5": 5.0},
                 {"ce": "cross_entropy", "ce_fast": "cross_entropy", "mse_lr5": "mse_softmax"})
    summary = summary_of(runs)
    fast = comparison.ablation("ce_fast", summary, runs, "ce")
    assert fast.difference.kind == decisions.UNCLEAR and fast.base == "ce"
    assert comparison_words.ablation_text(fast).startswith(
        "`ce_fast` (`cross_entropy` at lr 0.3 instead of 0.1): at lr 0.3 no detectable change from `ce` at lr 0.1 "
        "(0.9117 against 0.9100;")
    lr5 = comparison.ablation("mse_lr5", summary, runs, "ce")
    assert lr5.base is None
    assert "no `mse_softmax` variant at the shared settings to compare it with" in comparison_words.ablation_text(lr5)
    boom = comparison.ablation("ce_fast", summary_of(runs, {"ce_fast"}), runs, "ce")
    assert "diverged in 3 of 3 runs" in comparison_words.ablation_text(boom)


def test_a_reference_that_is_an_ablation_is_said_to_mix_the_loss_with_its_setting():
    runs = default_like()
    text = conclude(summary_of(runs), runs, "mse_lr5")
    assert "**Reference** `mse_lr5`: 0.9400" in text
    assert "an ablation (lr 5 instead of 0.1), so a difference from it mixes the loss with that setting" in text


def test_identical_runs_are_identical_and_a_negligible_difference_needs_a_narrow_interval():
    runs = sweep({"ce": [0.90, 0.91, 0.92, 0.93], "nll": [0.90, 0.91, 0.92, 0.93], "near": [0.901, 0.909, 0.921, 0.93],
                  "wide": [0.88, 0.94, 0.90, 0.95]},
                 losses={"ce": "cross_entropy", "nll": "logsoftmax_nll", "near": "softmax_nll", "wide": "other"})
    epochs = pd.DataFrame([{"variant": v, "seed": s, "epoch": e, "val_accuracy": 0.5 + e / 10 + (v == "near") * 0.001}
                           for v in ("ce", "nll", "near", "wide") for s in range(4) for e in range(2)])
    found = analyse(summary_of(runs), runs, "ce", epochs)
    v = verdicts(found)
    assert v["nll"].difference.kind == decisions.IDENTICAL and v["nll"].identical_curves
    assert v["near"].difference.kind == decisions.NEGLIGIBLE_KIND and v["wide"].difference.kind == decisions.UNCLEAR
    text = comparison_words.conclusion(found)
    assert ("`nll` vs `ce`: **identical**: on every one of the 4 seeds the learning curves and test accuracy are the "
            "same, bit for bit, so there is no difference to test.") in text
    assert "p = 1" not in text.split("`nll` vs `ce`")[1].splitlines()[0]
    near = text.split("`near` vs `ce`")[1].splitlines()[0]
    assert f"negligible: {v['near'].difference.difference * 100:+.2f} points (95% CI " in near
    assert "so the difference is negligible" in near
    wide = text.split("`wide` vs `ce`")[1].splitlines()[0]
    assert "no detectable difference" in wide and "too wide to call the difference negligible" in wide
    assert "across the 2 comparisons" in text  # the identical pair is not a test
    shown = comparison_words.comparison_display(stats.compare_to_reference(runs, "ce"))
    assert shown.loc["nll", "test used"] == "none: identical" and shown.loc["nll", "paired p"] == ""
    # the same test accuracy on every seed without the curves at hand: said as that, not "identical"
    assert "the same test accuracy on every one of the 4 seeds" in conclude(summary_of(runs), runs, "ce")


def test_the_welch_test_goes_with_cohens_d_and_the_paired_test_with_d_z():
    runs = sweep({"ce": [0.90, 0.91, 0.92], "mse": [0.10, 0.15, 0.12]})
    paired = conclude(summary_of(runs), runs, "ce")
    assert "paired t test" in paired and "d_z = " in paired and "Cohen's d" not in paired
    runs.loc[runs["variant"] == "mse", "seed"] += 10
    welch = conclude(summary_of(runs), runs, "ce")
    assert "Welch t test" in welch and "Cohen's d = " in welch and "d_z" not in welch


# --- display tables and captions ----------------------------------------------------------------------


def test_summary_display_flags_divergence_and_names_the_target():
    summary = summary_table([("v", "v", 0.1, 3, 2, 0.5, 0.1, 0.2, 0.8, 1.0, 0.9, math.nan)])
    shown = comparison_words.summary_display(summary, C)
    assert shown.index[0] == "v ⚠ diverged: 2" and shown.iloc[0]["epochs to 90% val"] == "never"
    assert shown.iloc[0]["CPU s (median)"] == ""  # not recorded: blank, not "nan"
    fashion = comparison_words.summary_display(summary.assign(target_val_accuracy=0.8, epochs_to_target=3.0,
                                                        train_cpu_seconds_median=0.75), C)
    assert fashion.iloc[0]["epochs to 80% val"] == "3" and fashion.iloc[0]["CPU s (median)"] == "0.75"


def test_accuracy_intervals_are_clipped_to_0_1_and_say_so():
    summary = summary_table([row("wide", mean=0.85, low=0.69, high=1.015), row("ok"), row("low", low=-0.02)])
    shown = comparison_words.summary_display(summary, C)
    assert shown.loc["wide", "95% CI"] == "0.6900–1.0000 (clipped to [0, 1])"
    assert shown.loc["ok", "95% CI"] == "0.8500–0.9500"
    assert shown.loc["low", "95% CI"] == "0.0000–0.9500 (clipped to [0, 1])"
    assert "`wide`, `low` reaches past what accuracy can be, so it is clipped to [0, 1]" in \
        comparison_words.summary_caption(summary, C)
    assert "clipped" not in comparison_words.summary_caption(summary_table([row("ok")]), C)
    text = conclude(summary.iloc[:1], sweep({"wide": [1]}), "wide")
    assert "95% CI 0.6900–1.0000 (clipped to [0, 1])" in text


def test_displays_never_show_nan():
    summary = summary_table([row("v", n=1, mean=math.nan)]).assign(train_seconds_median=math.nan,
                                                                  target_val_accuracy=math.nan)
    shown = comparison_words.summary_display(summary, C).to_string()
    assert "nan" not in shown.lower() and "n/a" in shown


def test_an_interval_below_chance_says_why():
    runs = sweep({"ce": [0.9, 0.91, 0.92], "mse": [0.11, 0.2, 0.12]})
    summary = summary_of(runs)
    assert 0 <= summary.set_index("variant").loc["mse", "test_accuracy_ci95_low"] < 0.1
    assert comparison_words.summary_display(summary, C).loc["mse", "95% CI"].endswith("(reaches below chance, 0.10)")
    caption = comparison_words.summary_caption(summary, C, runs)
    assert "The interval of `mse` reaches below chance (0.10, what guessing uniformly scores)" in caption
    assert "symmetric around the mean by construction" in caption
    assert "the seeds themselves score `mse` 0.1100 to 0.2000" in caption
    assert "below chance" not in comparison_words.summary_caption(summary_of(runs[runs["variant"] == "ce"]), C, runs)
    # chance is 1/C: 0.5 with two classes
    assert "below chance (0.50," in comparison_words.summary_caption(summary, 2, runs)
    # a mean below chance is said as that (no spread to blame), and a zero-width interval there is "below chance"
    flat = sweep({"ce": [0.9, 0.91, 0.92], "boom": [0.07, 0.07, 0.07]})
    caption = comparison_words.summary_caption(summary_of(flat), C, flat)
    assert "The mean of `boom` is below chance (0.10, what guessing uniformly scores); the seeds themselves score " \
        "`boom` 0.0700." in caption and "wide spread" not in caption
    shown = comparison_words.summary_display(summary_of(flat), C)
    assert shown.loc["boom", "95% CI"] == "0.0700–0.0700 (below chance, 0.10)"


def test_timing_caption_says_how_many_runs_shared_how_many_cpus():
    t = "2026-11-27T00:00:{:02d}+00:00".format
    runs = pd.DataFrame({"host": "h", "pid": [1, 2, 3, 4], "cpus": 2, "start_time": [t(0)] * 4,
                         "end_time": [t(10)] * 4})
    text = comparison_words.timing_caption(runs)
    assert "on average 4.0 of them ran at once" in text and "on a host with 2 usable CPUs" in text
    assert "not recorded" in comparison_words.timing_caption(runs.assign(end_time=None))
    waited = runs.assign(train_seconds=[2.0, 4.0, 6.0, 8.0], train_cpu_seconds=2.0)
    assert "Median wall / process-CPU ratio of a run: 2.50 (range 1.00–4.00)" in comparison_words.timing_caption(waited)
    assert "ratio" not in comparison_words.timing_caption(runs)  # no CPU seconds recorded: nothing said about them


def test_timing_caption_says_the_ratio_means_nothing_about_waiting_on_a_gpu():
    runs = pd.DataFrame({"host": "h", "cpus": 2, "train_seconds": [2.0, 4.0], "train_cpu_seconds": 2.0,
                         "device_name": ["cpu (2 cores)", "cpu (2 cores)"]})
    on_cpu = comparison_words.timing_caption(runs)
    assert "with one thread per run, a ratio above 1 is time the run waited, for a CPU" in on_cpu
    assert "spins" not in on_cpu
    for devices in (["NVIDIA H100 80GB HBM3"] * 2, ["cpu (2 cores)", "NVIDIA H100 80GB HBM3"]):
        text = comparison_words.timing_caption(runs.assign(device_name=devices))
        assert ("with one thread per run on CPU, a ratio above 1 is time the run waited for a CPU (taken by any "
                "program, including ones outside this sweep); on a GPU the process spins while it waits for the "
                "device, so CPU seconds about equal wall seconds and the ratio says nothing about waiting.") in text
        assert "or for the GPU" not in text


def epochs_table(seeds: dict[str, list[int]], losses: dict[str, str], diverged=(), accuracy=None):
    accuracy = accuracy or {}
    return pd.DataFrame([{"variant": v, "loss": losses[v], "seed": s, "epoch": e,
                          "train_loss": math.nan if v in diverged and e else
                          {"mse_softmax": 0.09}.get(losses[v], 2.3) * (1 - e * accuracy.get(v, 0.9) / 2),
                          "val_accuracy": 0.1 if e == 0 else accuracy.get(v, 0.9)}
                         for v, ss in seeds.items() for s in ss for e in (0, 1)])


def test_curves_caption_follows_seeds_losses_and_divergence():
    one = epochs_table({"ce": [0], "mse": [0]}, {"ce": "cross_entropy", "mse": "mse_softmax"}, accuracy={"mse": 0.2})
    text = curves_caption(one)
    assert text.startswith("One seed per variant: each line is that run, with no band")
    assert "on top of each other" not in text  # the curves part after epoch 0
    assert "At epoch 0 every variant shows the same validation accuracy" in text  # ... but start together
    assert ("Losses of different kinds have different scales (at epoch 0: `cross_entropy` 2.3, `mse_softmax` 0.09), "
            "so the train loss is shown as a share of each run's epoch-0 value") in text
    forms = epochs_table({"ce": [0, 1], "nll": [0, 1], "boom": [0]},
                         {"ce": "cross_entropy", "nll": "logsoftmax_nll", "boom": "cross_entropy"}, diverged={"boom"},
                         accuracy={"boom": 0.5})
    text = curves_caption(forms)
    assert "Mean over seeds; bands: the 95% t-interval" in text and "`boom` has one seed: no band." in text
    assert ("Lines that lie on top of each other, told apart by their dash pattern and marker: in validation accuracy, "
            "`ce`, `nll` (within 1 point at every epoch); in train loss ÷ its epoch-0 value, `ce`, `nll` (within 0.01 "
            "at every epoch).") in text
    assert "different scales" not in text  # the registered forms of one function are one kind of loss
    assert "`boom`: lines stop where runs diverged" in text
    # coinciding is read from the data, not from the names: two forms that differ are not said to coincide
    apart = epochs_table({"ce": [0, 1], "nll": [0, 1]}, {"ce": "cross_entropy", "nll": "logsoftmax_nll"},
                         accuracy={"nll": 0.85})
    assert "on top of each other" not in curves_caption(apart, metrics=("val_accuracy",))
    gradients = curves_caption(apart, gradients=True, metrics=())
    assert "‖∂ℓ/∂z‖ is measured over the whole training split" in gradients and "minibatches" in gradients


# --- the page's words, per scenario (tests/golden/comparison/<scenario>.md, reviewed) ---------------------


def comparison_page(s) -> str:
    """The comparison page's computed markdown, in the notebook's order (figures aside)."""
    found = comparison.analyse(s.summary, s.runs, s.reference, s.classes, s.epochs)
    tests = stats.compare_to_reference(s.runs, s.reference)
    ablated = stats.ablations(s.runs, s.reference)
    parts = ["## Conclusion", comparison_words.conclusion(found),
             "## Summary", comparison_words.summary_caption(s.summary, s.classes, s.runs),
             comparison_words.summary_display(s.summary, s.classes, ablated).to_markdown(),
             "## Learning curves", curves_caption(s.epochs),
             "## Against the reference",
             comparison_words.no_comparison(found) if tests.empty else
             comparison_words.comparison_display(tests, s.summary, ablated).to_markdown(),
             "## Training time", comparison_words.timing_caption(s.runs)]
    return "\n\n".join(parts)


def check_page(golden: str, s, compose) -> None:
    """A page's words for scenario ``s`` (its user losses registered) against tests/golden/``golden``: the
    reviewed text, never a "nan" or "inf"."""
    with user_losses():
        text = compose(s)
    assert_golden(golden, text)
    assert not re.search(r"\b(nan|inf)\b", text.lower())


@pytest.mark.parametrize("name", SCENARIOS)
def test_the_comparison_page_reads_true_for_each_scenario(name):
    check_page(f"comparison/{name}.md", scenario(name), comparison_page)


def test_a_line_of_one_point_never_lies_on_another_and_diverged_lines_stop():
    both = epochs_table({"a": [0, 1], "b": [0, 1]}, {"a": "cross_entropy", "b": "mse_softmax"}, diverged={"a", "b"})
    text = curves_caption(both)
    assert "in train loss ÷ its epoch-0 value" not in text  # one finite point each: no line to lie on another
    assert "`a`, `b`: lines stop where runs diverged (non-finite loss)." in text and "still finite" not in text
    mixed = pd.concat([epochs_table({"a": [0]}, {"a": "cross_entropy"}, diverged={"a"}),
                       epochs_table({"a": [1]}, {"a": "cross_entropy"})])
    assert "the later points of `a` are means over the runs still finite" in curves_caption(mixed)


def test_a_variant_that_changes_the_optimizer_is_an_ablation_worded_against_its_loss_under_sgd():
    """Issue #22: optimizer is a setting like lr. A variant that trains its loss with Adam is an ablation:
    never ranked, worded against the same loss at the shared settings, its change named. The shared
    settings name the optimizer only when it is not plain SGD; runs gathered before the column existed
    (no optimizer column) read as before."""
    accuracies = {"ce": [0.90, 0.91, 0.92, 0.915], "mse": [0.12, 0.2, 0.15, 0.11], "mse_adam": [0.93, 0.94, 0.95, 0.94]}
    runs = sweep(accuracies, {"ce": 0.1, "mse": 0.1, "mse_adam": 0.001},
                 {"ce": "cross_entropy", "mse": "mse_softmax", "mse_adam": "mse_softmax"})
    runs["optimizer"] = runs["variant"].map({"mse_adam": "adam"}).fillna("sgd")
    found = analyse(summary_of(runs), runs, "ce")
    (adam,) = found.ablations
    assert adam.variant == "mse_adam" and adam.base == "mse" and adam.difference.kind == decisions.HIGHER
    assert dict((k, (v, s)) for k, v, s in adam.changed) == {"lr": (0.001, 0.1), "optimizer": ("adam", "sgd")}
    assert "mse_adam" not in found.best.variants
    text = comparison_words.conclusion(found)
    assert "at the shared settings (lr 0.1, batch 100, 5 epochs;" in text.splitlines()[0]  # sgd: not named
    assert ("`mse_adam` (`mse_softmax` at lr 0.001 instead of 0.1, optimizer adam instead of sgd): at lr 0.001, "
            "optimizer adam it recovers 0.9400 test accuracy, against 0.1450 for `mse` at lr 0.1, "
            "optimizer sgd") in text
    assert "`mse_adam` vs `ce`" not in text and "beat" not in text
    # only the optimizer changed: still an ablation, named by that change alone
    runs.loc[runs["variant"] == "mse_adam", "lr"] = 0.1
    (adam,) = analyse(summary_of(runs), runs, "ce").ablations
    assert comparison_words.ablation_text(adam).startswith(
        "`mse_adam` (`mse_softmax` at optimizer adam instead of sgd): at optimizer adam it recovers 0.9400")
    # every variant under Adam: no ablation, and the shared settings say so
    runs["optimizer"] = "adam"
    found = analyse(summary_of(runs), runs, "ce")
    assert not found.ablations and "5 epochs, optimizer adam;" in comparison_words.conclusion(found).splitlines()[0]
    # a table from before the column: no optimizer compared, nothing said about it
    runs = runs.drop(columns="optimizer")
    assert "optimizer" not in comparison_words.conclusion(analyse(summary_of(runs), runs, "ce"))
