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
    assert "`same` vs `ce`: not judged: `same` diverged in 1 of 3 runs" in text  # never "no difference"
    assert "`same`: 1 of 3 runs **diverged**" in text
    assert "adjusted with Holm's method across the 2 comparisons with `ce`" in text


def test_the_conclusion_of_a_sweep_with_only_the_reference():
    summary = summary_table([("ce", "ce", 0.1, 2, 0, 0.91, 0.01, 0.82, 1.0, 1.0, 0.9, 4)])
    comparison = stats.compare_to_reference(runs_table({"ce": [0.90, 0.92]}), "ce")
    text = prose.comparison_conclusion(summary, comparison, "ce")
    assert "**One variant** in this sweep, `ce`: mean test accuracy 0.9100" in text and "Holm" not in text
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


def test_rerun_instructions_give_the_invocations_config_files_and_overrides():
    plain = prose.rerun_markdown({"dataset": "mnist"})
    assert "snakemake --cores 8\n" in plain and "original MNIST" in plain and "make determinism DATASET=mnist" in plain
    assert "no overrides" in plain and "--configfile resolved.yaml" in plain
    fashion = prose.rerun_markdown({"dataset": "fashion_mnist"}, ["my config.yaml", "/abs/extra.yaml"],
                                   {"dataset": "fashion_mnist", "pack_seeds": True, "seeds": [0, 1],
                                    "report_title": "A & B"})
    assert ("snakemake --cores 8 --configfile 'my config.yaml' --configfile /abs/extra.yaml --config "
            "dataset=fashion_mnist pack_seeds=True 'seeds=[0,1]' 'report_title=A & B'\n") in fashion
    assert "original Fashion-MNIST" in fashion and "make determinism DATASET=fashion_mnist" in fashion


# --- degenerate results (issue 12, section 5) ----------------------------------------------------------

def row(variant, n=3, diverged=0, mean=0.9, low=0.85, high=0.95, loss=None, lr=0.1, sd=0.02):
    return (variant, loss or variant, lr, n, diverged, mean, sd if n > 1 else math.nan,
            low if n > 1 else math.nan, high if n > 1 else math.nan, 1.0, 0.9, 3)


def test_a_variant_with_diverged_runs_is_never_best_nor_judged_equal():
    runs = runs_table({"ce": [0.90, 0.91, 0.92], "boom": [0.95, 0.96, 0.97], "ok": [0.90, 0.905, 0.93]})
    summary = summary_table([row("ce", mean=0.91), row("boom", diverged=1, mean=0.96), row("ok", mean=0.9117)])
    text = prose.comparison_conclusion(summary, stats.compare_to_reference(runs, "ce"), "ce")
    assert "**Best mean test accuracy:** `ok` with 0.9117" in text and "`boom` not ranked (diverged runs)" in text
    assert "`boom` vs `ce`: not judged: `boom` diverged in 1 of 3 runs (+5.00 points apart)" in text
    # the reference diverged: nothing is judged against it, and it is not best either
    text = prose.comparison_conclusion(summary, stats.compare_to_reference(runs, "boom"), "boom")
    assert "`ce` vs `boom`: not judged: `boom` diverged in 1 of 3 runs" in text
    assert "no detectable difference" not in text and "higher" not in text and "lower" not in text


def test_every_variant_diverged_gives_no_best():
    runs = runs_table({"a": [0.1, 0.1], "b": [0.1, 0.1]})
    summary = summary_table([row("a", n=2, diverged=2, mean=0.1), row("b", n=2, diverged=1, mean=0.1)])
    text = prose.comparison_conclusion(summary, stats.compare_to_reference(runs, "a"), "a")
    assert "**No best variant:** every variant has diverged runs" in text and "Best mean" not in text
    assert "`b` vs `a`: not judged: `b` diverged in 1 of 2 runs and `a` diverged in 2 of 2 runs" in text


def test_ties_share_best():
    summary = summary_table([row("a", mean=0.9), row("b", mean=0.9)])
    runs = runs_table({"a": [0.9, 0.9, 0.9], "b": [0.9, 0.9, 0.9]})
    text = prose.comparison_conclusion(summary, stats.compare_to_reference(runs, "a"), "a")
    assert "**Best mean test accuracy:** `a`, `b` with 0.9000 (tied)" in text
    assert "`b` vs `a`: no detectable difference (+0.00 points, Holm-adjusted p = 1, raw p = 1)" in text


def test_one_variant_and_one_seed_say_why_nothing_is_tested():
    one = summary_table([row("ce", n=1, mean=0.91)])
    text = prose.comparison_conclusion(one, stats.compare_to_reference(runs_table({"ce": [0.91]}), "ce"), "ce")
    assert "**One variant** in this sweep, `ce`: mean test accuracy 0.9100 (95% CI n/a (one run), n = 1)" in text
    assert "nothing to rank or test it against" in text and "One seed per variant: no interval and no test" in text
    assert prose.no_comparison(one, "ce") == "Nothing to test: `ce` is the only variant in this sweep."
    two = summary_table([row("ce", n=1, mean=0.91), row("mse", n=1, mean=0.2)])
    comparison = stats.compare_to_reference(runs_table({"ce": [0.91], "mse": [0.2]}), "ce")
    text = prose.comparison_conclusion(two, comparison, "ce")
    assert "`mse` vs `ce`: not tested: `mse` and `ce` have one run (a t-test needs two or more); -71.00 points" in text
    shown = prose.comparison_display(comparison, two)
    assert "nan" not in shown.to_string().lower() and shown.iloc[0]["test used"] == "none"


def test_constant_runs_say_there_is_no_spread_to_test():
    runs = runs_table({"a": [0.9, 0.9], "b": [0.8, 0.8]})
    summary = summary_table([row("a", n=2, mean=0.9, sd=0.0), row("b", n=2, mean=0.8, sd=0.0)])
    text = prose.comparison_conclusion(summary, stats.compare_to_reference(runs, "a"), "a")
    assert "`b` vs `a`: not tested: every run of both gives the same accuracy" in text
    shown = prose.comparison_display(stats.compare_to_reference(runs, "a"))
    assert shown.iloc[0]["Cohen's d"] == "−∞" and "inf" not in shown.to_string()


def test_a_reference_without_runs_is_said():
    summary = summary_table([row("mse", mean=0.2)])
    comparison = stats.compare_to_reference(runs_table({"mse": [0.2, 0.21, 0.19]}), "ce")
    text = prose.comparison_conclusion(summary, comparison, "ce")
    assert "**Reference** `ce` has no runs in these tables: nothing is tested against it." in text
    assert "nan" not in text and "`mse` vs `ce`" not in text
    assert prose.no_comparison(summary, "ce") == "Nothing to test: the reference `ce` has no runs in these tables."
    assert "nan" not in prose.comparison_display(comparison).to_string()
    why = prose.why_conclusion(summary, pd.DataFrame(columns=["seed", "ratio"]), "ce", "mse_softmax")
    assert "The reference `ce` has no runs in these tables" in why


def test_accuracy_intervals_are_clipped_to_0_1_and_say_so():
    summary = summary_table([row("wide", mean=0.85, low=0.69, high=1.015), row("ok"), row("low", low=-0.02)])
    shown = prose.summary_display(summary)
    assert shown.loc["wide", "95% CI"] == "0.6900–1.0000 (clipped to [0, 1])"
    assert shown.loc["ok", "95% CI"] == "0.8500–0.9500"
    assert shown.loc["low", "95% CI"] == "0.0000–0.9500 (clipped to [0, 1])"
    assert "`wide`, `low` reaches past what accuracy can be, so it is clipped to [0, 1]" in \
        prose.summary_caption(summary)
    assert "clipped" not in prose.summary_caption(summary_table([row("ok")]))
    text = prose.comparison_conclusion(summary.iloc[:1], stats.compare_to_reference(runs_table({"wide": [1]}), "wide"),
                                       "wide")
    assert "95% CI 0.6900–1.0000 (clipped to [0, 1])" in text


def test_displays_never_show_nan():
    summary = summary_table([row("v", n=1, mean=math.nan)]).assign(train_seconds_median=math.nan,
                                                                  target_val_accuracy=math.nan)
    shown = prose.summary_display(summary).to_string()
    assert "nan" not in shown.lower() and "n/a" in shown


def test_why_conclusion_never_compares_a_diverged_variant():
    summary = summary_table([row("ce", loss="cross_entropy", mean=0.9),
                             row("boom", loss="cross_entropy", lr=1e30, diverged=3, mean=0.905),
                             row("mse", loss="mse_softmax", mean=0.2)])
    empty = pd.DataFrame(columns=["seed", "ratio"])
    text = prose.why_conclusion(summary, empty, "ce", "mse_softmax")
    assert "`boom` (loss `cross_entropy`, lr 1e+30): not compared with `ce`, because `boom` diverged in 3 of 3" in text
    assert "matches" not in text and "`mse` (loss `mse_softmax`, lr 0.1) trails `ce`" in text
    text = prose.why_conclusion(summary, empty, "boom", "mse_softmax")
    assert "`ce` (loss `cross_entropy`, lr 0.1): not compared with `boom`, because `boom` diverged" in text
    assert "matches" not in text and "trails" not in text and "beats" not in text
    alone = prose.why_conclusion(summary.iloc[:1], empty, "ce", "mse_softmax")
    assert "`ce` is the only variant: no accuracy to compare with it." in alone


def test_why_saturation_skips_diverged_variants_and_non_finite_epochs():
    summary = summary_table([row("ce", loss="cross_entropy"), row("boom", loss="mse_softmax", diverged=3),
                             row("slow", loss="mse_softmax", mean=0.2)])
    empty = pd.DataFrame(columns=["seed", "ratio"])
    saturation = pd.DataFrame({"variant": ["boom", "slow", "slow"], "epoch": [1, 1, 2],
                               "val_mean_max_prob": [math.nan, 0.11, math.nan],
                               "val_confident_wrong": [math.nan, 0.0, math.nan]})
    text = prose.why_conclusion(summary, empty, "ce", "mse_softmax", saturation)
    assert "after epoch 1 `slow` has mean max-probability 0.11" in text and "nan" not in text
    text = prose.why_conclusion(summary.iloc[:2], empty, "ce", "mse_softmax", saturation)
    assert "Saturation is not read for `mse_softmax`: every variant that trains it (`boom`) has diverged runs" in text
    assert "Saturation is not read for `mse_softmax`: no variant trains it." in \
        prose.why_conclusion(summary.iloc[:1], empty, "ce", "mse_softmax", saturation)


def test_ratio_missing_says_which_loss_is_absent():
    ce = summary_table([row("ce", loss="cross_entropy")])
    assert prose.ratio_missing(ce, "mse_softmax") == ("The initial logit-gradient ratio `mse_softmax` / "
                                                       "`cross_entropy` is not measured here: no variant trains "
                                                       "`mse_softmax`.")
    mse = summary_table([row("m", loss="mse_softmax")])
    assert "no variant trains `cross_entropy`." in prose.ratio_missing(mse, "mse_softmax")
    both = summary_table([row("ce", loss="cross_entropy"), row("m", loss="mse_softmax")])
    assert "no seed was trained with both" in prose.ratio_missing(both, "mse_softmax")


def epochs_table(seeds: dict[str, list[int]], losses: dict[str, str], diverged=()):
    return pd.DataFrame([{"variant": v, "loss": losses[v], "seed": s, "epoch": e,
                          "train_loss": math.nan if v in diverged and e else 1.0}
                         for v, ss in seeds.items() for s in ss for e in (0, 1)])


def test_curves_caption_follows_seeds_losses_and_divergence():
    one = epochs_table({"ce": [0], "mse": [0]}, {"ce": "cross_entropy", "mse": "mse_softmax"})
    assert prose.curves_caption(one).startswith("One seed per variant: each line is that run, with no band")
    assert "same math" not in prose.curves_caption(one) and "its own scale" in prose.curves_caption(one)
    forms = epochs_table({"ce": [0, 1], "nll": [0, 1], "boom": [0]},
                         {"ce": "cross_entropy", "nll": "logsoftmax_nll", "boom": "cross_entropy"}, diverged={"boom"})
    text = prose.curves_caption(forms)
    assert "Mean over seeds; bands: the 95% t-interval" in text and "`boom` has one seed: no band." in text
    assert "`logsoftmax_nll`, `cross_entropy` are the same math" in text and "its own scale" not in text
    assert "`boom`: lines stop where runs diverged" in text


def test_variant_page_sentences_for_one_seed_and_divergence():
    runs = pd.DataFrame({"loss": "ce", "lr": 0.1, "batch_size": 100, "epochs": 5, "seed": [0],
                         "test_accuracy": [0.9], "status": ["ok"]})
    assert prose.per_seed_caption(runs) == "One seed only: one line per panel, no spread over seeds to show."
    assert "one seed: test accuracy 0.9000." in prose.variant_overview(runs)
    assert prose.examples_note(runs) is None
    assert prose.test_set_heading(runs, runs.iloc[0]) == "## Test set of seed 0 (median test accuracy 0.9000)"
    boom = runs.assign(status="diverged")
    assert "Every run of this variant diverged" in prose.examples_note(boom)
    assert "**1 of 1 run(s) diverged** (seeds 0)" in prose.variant_overview(boom)
    mixed = pd.concat([runs, boom.assign(seed=1)], ignore_index=True)
    assert prose.examples_note(mixed) is None and prose.per_seed_caption(mixed) == "2 seeds, one line each."
    assert "among the runs that did not diverge" in prose.test_set_heading(mixed, stats.median_run(mixed))


def test_ablation_caption_names_the_variants_or_says_there_are_none():
    summary = summary_table([row("ce", loss="cross_entropy"), row("mse", loss="mse_softmax"),
                             row("mse_lr5", loss="mse_softmax", lr=5.0), row("logits", loss="mse_logits")])
    text = prose.ablation_caption(summary, "mse_softmax")
    assert "most common one (0.1): `mse_lr5` (loss `mse_softmax`, lr 5)" in text and "`logits`" in text
    assert prose.ablation_caption(summary.iloc[:2], "mse_softmax").startswith("This sweep has no ablation variant")
