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
        ("good", "good", 0.1, 3, 0, 0.955, 0.005, 0.94, 0.97, 1.0, 0.9, 3),
        ("same", "same", 0.1, 3, 1, 0.91, 0.0087, 0.89, 0.93, 1.0, 0.9, 4),
    ])
    comparison = stats.compare_to_reference(runs, "ce")
    text = prose.comparison_conclusion(summary, comparison, "ce")
    assert "**Best mean test accuracy:** `good` with 0.9550" in text
    assert "at the shared settings (lr 0.1; one lr for every loss, not tuned per loss" in text
    good = comparison.set_index("variant").loc["good"]
    ci = f"95% CI +{good['difference_ci95_low'] * 100:.2f} to +{good['difference_ci95_high'] * 100:.2f} points"
    assert (f"`good` vs `ce`: **4.5 points higher** ({ci}; paired t test, Holm-adjusted p = {good['p_holm']:.2g}"
            in text)
    assert f"d_z = {good['paired_dz']:.2g})" in text and "Cohen's d" not in text  # the paired test's effect size
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
    assert "0.0% apart" in text and "~50× smaller" in text and "checks the algebra" in text
    assert "`ce` (loss `cross_entropy`, lr 0.1): 0.9100 test accuracy, against 0.9400 for `mse_softmax_lr5`" in text
    # the reference is itself the ablation: it is worded as what it shows, never "beats"
    assert "beats" not in text and "trails" not in text


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
    text = prose.why_conclusion(summary, empty, "ce", "mse_softmax", uniform)
    assert "`slow` has mean max-probability at most 0.11" in text
    assert "stay close to uniform for the whole run" in text and "consistent with the 2/C² scale" in text
    assert "what slows it here is" not in text  # one point of evidence is no cause
    saturated = uniform.assign(val_mean_max_prob=0.9, val_confident_wrong=0.05)
    text = prose.why_conclusion(summary, empty, "ce", "mse_softmax", saturated)
    assert "5.0% confidently wrong" in text and "shrinks its gradient further" in text


def test_why_saturation_reads_every_epoch_shown_not_only_the_last():
    """Statements hold for the whole range: a peak at epoch 2 counts even if epoch 5 is calm again."""
    summary = summary_table([row("ce", loss="cross_entropy"), row("slow", loss="mse_softmax", mean=0.2)])
    empty = pd.DataFrame(columns=["seed", "ratio"])
    curve = pd.DataFrame({"variant": "slow", "epoch": [0, 1, 2, 3], "val_mean_max_prob": [0.11, 0.12, 0.95, 0.2],
                          "val_confident_wrong": [0.0, 0.0, 0.2, 0.0], "logit_grad_norm": [0.02, 0.021, 0.03, 0.02]})
    text = prose.why_conclusion(summary, empty, "ce", "mse_softmax", curve)
    assert "over epochs 0–3 `slow` has mean max-probability at most 0.95 and at most 20.0% confidently wrong" in text
    assert "close to uniform" not in text and "shrinks its gradient further" in text
    assert ("Over epochs 0–3, every epoch shown, `slow`'s mean logit-gradient norm stays between 0.02 and 0.03 "
            "(1.00–1.50× its epoch-0 value) and its mean max-probability between 0.110 and 0.950.") in text
    flat = curve.assign(val_mean_max_prob=0.106, val_confident_wrong=0.0)
    assert "its mean max-probability at 0.106 throughout" in prose.why_conclusion(summary, empty, "ce", "mse_softmax",
                                                                                   flat)


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
    assert "`ok` with 0.9117" in text and "`boom` not ranked (diverged runs)" in text
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
    # the variants at the shared settings all diverged: an ablation that did not is still not ranked
    mixed = summary_table([row("a", n=2, diverged=2, mean=0.1), row("b", n=2, diverged=1, mean=0.1),
                           row("c", n=2, lr=5.0, mean=0.9)])
    text = prose.comparison_conclusion(mixed, stats.compare_to_reference(runs_table(
        {"a": [0.1, 0.1], "b": [0.1, 0.1], "c": [0.9, 0.91]}), "a"), "a")
    assert "**No best variant:**" in text and "Best" not in text and "`c` (`c` at lr 5 instead of 0.1)" in text
    # a diverged ablation is not judged, like any diverged variant
    boom = summary_table([row("a", mean=0.9), row("boom", lr=1e30, diverged=2, n=2, mean=0.1)])
    text = prose.comparison_conclusion(boom, stats.compare_to_reference(runs_table(
        {"a": [0.9, 0.91], "boom": [0.1, 0.1]}), "a"), "a")
    assert "`boom` vs `a`: not judged: `boom` diverged in 2 of 2 runs" in text and "Ablations" not in text
    assert "`boom` not ranked (diverged runs)" in text


def test_ties_share_best():
    summary = summary_table([row("a", mean=0.9), row("b", mean=0.9)])
    runs = runs_table({"a": [0.9, 0.9, 0.9], "b": [0.9, 0.9, 0.9]})
    text = prose.comparison_conclusion(summary, stats.compare_to_reference(runs, "a"), "a")
    assert "`a`, `b` with 0.9000 (tied)" in text
    assert "`b` vs `a`: the same test accuracy on every one of the 3 seeds (difference 0 on each)" in text
    assert "no detectable difference" not in text


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
    assert "matches" not in text and "`mse` (loss `mse_softmax`, lr 0.1): 0.2000 test accuracy, against 0.9000 " \
        "for `ce` (-70.00 points)" in text
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
    assert "over epoch 1 `slow` has mean max-probability at most 0.11" in text and "nan" not in text
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


def epochs_table(seeds: dict[str, list[int]], losses: dict[str, str], diverged=(), accuracy=None):
    accuracy = accuracy or {}
    return pd.DataFrame([{"variant": v, "loss": losses[v], "seed": s, "epoch": e,
                          "train_loss": math.nan if v in diverged and e else
                          {"mse_softmax": 0.09}.get(losses[v], 2.3) * (1 - e * accuracy.get(v, 0.9) / 2),
                          "val_accuracy": 0.1 if e == 0 else accuracy.get(v, 0.9)}
                         for v, ss in seeds.items() for s in ss for e in (0, 1)])


def test_curves_caption_follows_seeds_losses_and_divergence():
    one = epochs_table({"ce": [0], "mse": [0]}, {"ce": "cross_entropy", "mse": "mse_softmax"}, accuracy={"mse": 0.2})
    text = prose.curves_caption(one)
    assert text.startswith("One seed per variant: each line is that run, with no band")
    assert "on top of each other" not in text  # the curves part after epoch 0
    assert "At epoch 0 every variant shows the same validation accuracy" in text  # ... but start together
    assert ("Losses of different kinds have different scales (at epoch 0: `cross_entropy` 2.3, `mse_softmax` 0.09), "
            "so the train loss is shown as a share of each run's epoch-0 value") in text
    forms = epochs_table({"ce": [0, 1], "nll": [0, 1], "boom": [0]},
                         {"ce": "cross_entropy", "nll": "logsoftmax_nll", "boom": "cross_entropy"}, diverged={"boom"},
                         accuracy={"boom": 0.5})
    text = prose.curves_caption(forms)
    assert "Mean over seeds; bands: the 95% t-interval" in text and "`boom` has one seed: no band." in text
    assert ("Lines that lie on top of each other, told apart by their dash pattern and marker: in validation accuracy, "
            "`ce`, `nll` (within 1 point at every epoch); in train loss ÷ its epoch-0 value, `ce`, `nll` (within 0.01 "
            "at every epoch).") in text
    assert "different scales" not in text  # the cross-entropy forms are one kind of loss
    assert "`boom`: lines stop where runs diverged" in text
    # coinciding is read from the data, not from the names: two forms that differ are not said to coincide
    apart = epochs_table({"ce": [0, 1], "nll": [0, 1]}, {"ce": "cross_entropy", "nll": "logsoftmax_nll"},
                         accuracy={"nll": 0.85})
    assert "on top of each other" not in prose.curves_caption(apart, metrics=("val_accuracy",))
    gradients = prose.curves_caption(apart, gradients=True, metrics=())
    assert "‖∂ℓ/∂z‖ is measured over the whole training split" in gradients and "minibatches" in gradients


def test_variant_page_sentences_for_one_seed_and_divergence():
    runs = pd.DataFrame({"loss": "ce", "lr": 0.1, "batch_size": 100, "epochs": 5, "seed": [0],
                         "test_accuracy": [0.9], "status": ["ok"]})
    assert prose.per_seed_caption(runs).startswith("One seed only: one line per panel, no spread over seeds to show.")
    assert "one seed: test accuracy 0.9000." in prose.variant_overview(runs)
    assert prose.examples_note(runs) is None
    assert prose.test_set_heading(runs, runs.iloc[0]) == "## Test set of seed 0 (median test accuracy 0.9000)"
    boom = runs.assign(status="diverged")
    assert "Every run of this variant diverged" in prose.examples_note(boom)
    assert "**1 of 1 run(s) diverged** (seeds 0)" in prose.variant_overview(boom)
    mixed = pd.concat([runs, boom.assign(seed=1)], ignore_index=True)
    assert prose.examples_note(mixed) is None and prose.per_seed_caption(mixed).startswith("2 seeds, one line each.")
    assert "among the runs that did not diverge" in prose.test_set_heading(mixed, stats.median_run(mixed))


def test_ablation_caption_names_the_variants_beside_their_loss_or_says_there_are_none():
    summary = summary_table([row("ce", loss="cross_entropy"), row("mse", loss="mse_softmax"),
                             row("mse_lr5", loss="mse_softmax", lr=5.0), row("logits", loss="mse_logits"),
                             row("hinge_lr1", loss="hinge", lr=1.0)])
    text, shown = prose.ablation_caption(summary, "mse_softmax")
    assert "at the shared settings (lr 0.1): `mse_lr5` (`mse_softmax` at lr 5 instead of 0.1; beside `mse`)" in text
    assert "`hinge_lr1` (`hinge` at lr 1 instead of 0.1; its loss has no variant at the shared settings)" in text
    assert "never as a ranking" in text and shown == ["mse", "mse_lr5", "hinge_lr1"]
    text, shown = prose.ablation_caption(summary.iloc[:2], "mse_softmax")
    assert text.startswith("This sweep has no ablation variant") and shown == []


# --- issue 14: claims only the evidence carries ------------------------------------------------------

def sweep(accuracies: dict[str, list[float]], lrs: dict[str, float], losses: dict[str, str]) -> pd.DataFrame:
    """A runs table with settings: one row per (variant, seed)."""
    return pd.DataFrame([{"variant": v, "loss": losses[v], "seed": s, "lr": lrs[v], "batch_size": 100, "epochs": 5,
                          "test_accuracy": a, "initial_logit_grad_norm": {"mse_softmax": 0.019, "mse_logits": 0.2}
                          .get(losses[v], 0.95)} for v, accs in accuracies.items() for s, a in enumerate(accs)])


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


def test_an_ablation_is_never_best_and_is_worded_as_what_it_shows():
    runs = default_like()
    summary = summary_of(runs)
    text = prose.comparison_conclusion(summary, stats.compare_to_reference(runs, "ce"), "ce", runs)
    best = text.splitlines()[0]
    assert "at the shared settings (lr 0.1, batch 100, 5 epochs;" in best
    assert "`mse_lr5`" not in best and "`ce`, `nll` with 0.9125 (tied)" in best and "ablations are not ranked" in best
    pair = stats.compare_pair(runs, "mse_lr5", "mse")
    assert (f"`mse_lr5` (`mse_softmax` at lr 5 instead of 0.1): at lr 5 it recovers 0.9400 test accuracy, against "
            f"0.1450 for `mse` at lr 0.1 (+79.50 points, 95% CI +{pair['difference_ci95_low'] * 100:.2f} to "
            f"+{pair['difference_ci95_high'] * 100:.2f} points, paired over 4 seeds)") in text
    assert "Against the reference `ce`: +2.75 points" in text and "not a ranking" in text
    assert "`ce_slow` (`cross_entropy` at lr 0.002 instead of 0.1): at lr 0.002 it reaches 0.1450" in text
    assert "the change costs accuracy in this budget" in text and "Against the reference `ce`: -77" not in text
    assert "`mse_lr5` vs `ce`" not in text  # ablations have no verdict line of their own
    assert "beat" not in text and "best" not in text.lower().replace("**best mean test accuracy:**", "")
    shown = prose.comparison_display(stats.compare_to_reference(runs, "ce"), summary, stats.ablations(runs, "ce"))
    assert "mse_lr5 (ablation)" in shown.index and "mse (ablation)" not in shown.index
    assert "mse_lr5 (ablation)" in prose.summary_display(summary, stats.ablations(runs, "ce")).index


def test_an_ablation_without_a_detectable_change_or_without_its_loss_is_said_so():
    runs = sweep({"ce": [0.90, 0.91, 0.92], "ce_fast": [0.91, 0.90, 0.925], "mse_lr5": [0.93, 0.94, 0.95]},
                 {"ce": 0.1, "ce_fast": 0.3, "mse_lr5": 5.0},
                 {"ce": "cross_entropy", "ce_fast": "cross_entropy", "mse_lr5": "mse_softmax"})
    summary = summary_of(runs)
    text = prose.ablation_result("ce_fast", summary, runs, "ce", runs)
    assert text.startswith("`ce_fast` (`cross_entropy` at lr 0.3 instead of 0.1): at lr 0.3 no detectable change "
                           "from `ce` at lr 0.1 (0.9117 against 0.9100;")
    text = prose.ablation_result("mse_lr5", summary, runs, "ce", runs)
    assert "no `mse_softmax` variant at the shared settings to compare it with" in text
    # without runs (no pairing): the means alone, no interval, the same words
    assert "recovers" in prose.ablation_result("mse_lr5", summary_of(default_like()), summary_of(default_like()), "ce")
    assert "diverged in 3 of 3 runs" in prose.ablation_result("ce_fast", summary_of(runs, {"ce_fast"}), runs, "ce")


def test_a_reference_that_is_an_ablation_is_said_to_mix_the_loss_with_its_setting():
    runs = default_like()
    text = prose.comparison_conclusion(summary_of(runs), stats.compare_to_reference(runs, "mse_lr5"), "mse_lr5", runs)
    assert "**Reference** `mse_lr5`: 0.9400" in text
    assert "an ablation (lr 5 instead of 0.1), so a difference from it mixes the loss with that setting" in text


def test_identical_runs_are_identical_and_a_negligible_difference_needs_a_narrow_interval():
    runs = sweep({"ce": [0.90, 0.91, 0.92, 0.93], "nll": [0.90, 0.91, 0.92, 0.93], "near": [0.901, 0.909, 0.921, 0.93],
                  "wide": [0.88, 0.94, 0.90, 0.95]},
                 {"ce": 0.1, "nll": 0.1, "near": 0.1, "wide": 0.1},
                 {"ce": "cross_entropy", "nll": "logsoftmax_nll", "near": "softmax_nll", "wide": "other"})
    epochs = pd.DataFrame([{"variant": v, "seed": s, "epoch": e, "val_accuracy": 0.5 + e / 10 + (v == "near") * 0.001}
                           for v in ("ce", "nll", "near", "wide") for s in range(4) for e in range(2)])
    comparison = stats.compare_to_reference(runs, "ce")
    text = prose.comparison_conclusion(summary_of(runs), comparison, "ce", runs, epochs)
    assert ("`nll` vs `ce`: **identical**: on every one of the 4 seeds the learning curves and test accuracy are the "
            "same, bit for bit, so there is no difference to test.") in text
    assert "p = 1" not in text.split("`nll` vs `ce`")[1].splitlines()[0]
    near = comparison.set_index("variant").loc["near"]
    assert (f"`near` vs `ce`: no detectable difference ({near['difference'] * 100:+.2f} points, 95% CI "
            f"{near['difference_ci95_low'] * 100:+.2f} "
            f"to {near['difference_ci95_high'] * 100:+.2f} points;") in text
    assert "so the difference is negligible" in text.split("`near` vs `ce`")[1].splitlines()[0]
    wide = text.split("`wide` vs `ce`")[1].splitlines()[0]
    assert "no detectable difference" in wide and "too wide to call the difference negligible" in wide
    assert "negligible" in wide and "is negligible" not in wide
    assert "across the 2 comparisons" in text  # the identical pair is not a test
    shown = prose.comparison_display(comparison)
    assert shown.loc["nll", "test used"] == "none: identical" and shown.loc["nll", "paired p"] == ""
    # the same test accuracy on every seed without the curves at hand: said as that, not "identical"
    assert "the same test accuracy on every one of the 4 seeds" in prose.comparison_conclusion(
        summary_of(runs), comparison, "ce", runs)


def test_the_welch_test_goes_with_cohens_d_and_the_paired_test_with_d_z():
    runs = sweep({"ce": [0.90, 0.91, 0.92], "mse": [0.10, 0.15, 0.12]}, {"ce": 0.1, "mse": 0.1},
                 {"ce": "cross_entropy", "mse": "mse_softmax"})
    paired = prose.comparison_conclusion(summary_of(runs), stats.compare_to_reference(runs, "ce"), "ce", runs)
    assert "paired t test" in paired and "d_z = " in paired and "Cohen's d" not in paired
    runs.loc[runs["variant"] == "mse", "seed"] += 10
    welch = prose.comparison_conclusion(summary_of(runs), stats.compare_to_reference(runs, "ce"), "ce", runs)
    assert "Welch t test" in welch and "Cohen's d = " in welch and "d_z" not in welch


def test_an_interval_below_chance_says_why():
    runs = sweep({"ce": [0.9, 0.91, 0.92], "mse": [0.11, 0.2, 0.12]}, {"ce": 0.1, "mse": 0.1},
                 {"ce": "cross_entropy", "mse": "mse_softmax"})
    summary = summary_of(runs)
    low = summary.set_index("variant").loc["mse", "test_accuracy_ci95_low"]
    assert 0 <= low < 0.1
    assert prose.summary_display(summary).loc["mse", "95% CI"].endswith("(reaches below chance, 0.10)")
    caption = prose.summary_caption(summary, runs)
    assert "The interval of `mse` reaches below chance (0.10, what guessing uniformly scores)" in caption
    assert "symmetric around the mean by construction" in caption and "the seeds themselves score `mse` 0.1100 to " \
        "0.2000" in caption
    assert "below chance" not in prose.summary_caption(summary_of(runs[runs["variant"] == "ce"]), runs)


def epochs_for_why(twin_accuracy=(0.1, 0.11, 0.12, 0.13), mse_accuracy=(0.1, 0.11, 0.12, 0.13), layer=True):
    """A small why-page sweep: per variant and seed, epochs 0-3 with accuracy, norms and layer norms."""
    rows = []
    for v, loss in [("ce", "cross_entropy"), ("mse", "mse_softmax"), ("mse_lr5", "mse_softmax"),
                    ("ce_slow", "cross_entropy"), ("logits", "mse_logits"), ("logits_lr0p5", "mse_logits")]:
        for s in (0, 1):
            for e in range(4):
                base = {"cross_entropy": 0.95, "mse_softmax": 0.019, "mse_logits": 0.2}[loss]
                grad = base * (1 - 0.2 * e) if v in ("ce", "mse_lr5") else base
                accuracy = {"ce_slow": twin_accuracy, "mse": mse_accuracy}.get(v, (0.1, 0.6, 0.8, 0.9))[e]
                layer_scale = base * (3.0 if v == "mse_lr5" and e else 1.0)
                rows.append({"variant": v, "loss": loss, "seed": s, "epoch": e, "val_accuracy": accuracy,
                             "train_loss": 1.0 - 0.1 * e, "logit_grad_norm": grad, "val_mean_max_prob": 0.11,
                             "val_confident_wrong": 0.0,
                             "grad_norm_layer1": layer_scale if layer or e else math.nan,
                             "grad_norm_layer2": layer_scale / 2 if layer or e else math.nan})
    epochs = pd.DataFrame(rows)
    runs = sweep({v: [0.9, 0.91] for v in LOSSES if v != "nll"}, LRS, LOSSES)
    return epochs, runs


def test_the_why_page_checks_every_layer_and_the_other_losses_scales():
    epochs, runs = epochs_for_why()
    text = prose.layer_ratio_sentence(epochs, "mse_softmax")
    assert text.startswith("Every layer's weight gradient at initialisation (epoch 0, mean over the split's first "
                           "minibatches) has `mse_softmax` / `cross_entropy` = 0.0200, 0.0200 (layers 1–2; 2/C² = "
                           "0.0200), within 0.0% of each other: one per-sample factor")
    missing, _ = epochs_for_why(layer=False)
    assert "is not in these tables (no epoch-0 layer norms" in prose.layer_ratio_sentence(missing, "mse_softmax")
    lines = prose.other_loss_ratios(runs, summary_of(runs), "mse_softmax", "cross_entropy", "ce")
    assert len(lines) == 1 and lines[0].startswith("`mse_logits` also starts with a smaller logit gradient: 0.211× "
                                                   "`cross_entropy`'s at initialisation (mean of 2 seeds)")
    assert "theory gives (2/C)/‖1/C − y‖ = 0.211" in lines[0] and "at most e/(e + C − 1) = 0.23" in lines[0]
    assert "can hardly be confidently wrong (p > 0.9)" in lines[0] and "never" not in lines[0]
    assert "suggests lr 0.1 / 0.21 ≈ 0.47" in lines[0] and "tuned that way: `logits_lr0p5` (lr 0.5)" in lines[0]
    untuned = runs[runs["variant"] != "logits_lr0p5"]
    assert "no variant runs it there" in prose.other_loss_ratios(untuned, summary_of(untuned), "mse_softmax",
                                                                 "cross_entropy", "ce")[0]


def test_the_direct_test_says_whether_cross_entropy_at_the_same_step_tracks():
    epochs, runs = epochs_for_why()
    text = prose.direct_test(epochs, runs, "mse", "cross_entropy", "ce")
    assert text.startswith("Direct test: `ce_slow` (`cross_entropy` at lr 0.002 = 0.1 × 2/C²) against `mse` at lr 0.1: "
                           "their mean validation accuracies differ by at most 0.0 points over epochs 0–3")
    assert "effective steps lr × ‖∂ℓ/∂z‖ stay within 0.0% of each other" in text
    assert "tracks `mse` at every epoch shown, as the 2/C² reading predicts" in text
    early, _ = epochs_for_why(twin_accuracy=(0.1, 0.11, 0.12, 0.2))
    text = prose.direct_test(early, runs, "mse", "cross_entropy", "ce")
    assert "within 2 points up to epoch 2, further apart later" in text and "tracks `mse` at every" not in text
    apart, _ = epochs_for_why(twin_accuracy=(0.1, 0.2, 0.3, 0.4))
    assert "the 2/C² factor alone does not account for `mse`'s pace here" in prose.direct_test(apart, runs, "mse",
                                                                                              "cross_entropy", "ce")
    alone = runs[runs["variant"] != "ce_slow"]
    assert prose.direct_test(epochs, alone, "mse", "cross_entropy", "ce").startswith(
        "Direct test not in this sweep: `cross_entropy` at lr 0.1 × 2/C² = 0.002, which should track `mse`")
    caption, shown = prose.overlay_caption(epochs, runs, "mse_softmax", "cross_entropy", "ce")
    assert shown == ["mse", "ce_slow", "ce"] and "in validation accuracy, `mse`, `ce_slow` (within 1 point" in caption
    assert prose.overlay_caption(epochs, alone, "mse_softmax", "cross_entropy", "ce")[1] == []


def test_the_lr_scaled_ablation_is_said_to_over_compensate_from_the_step_it_takes():
    epochs, runs = epochs_for_why()
    (text,) = prose.overshoot(epochs, runs, "mse_softmax", "cross_entropy", "ce")
    # epoch 0: 5 x 0.019 against 0.1 x 0.95 = 1.00x; later 5 x 3 x 0.019 against 0.1 x 0.95
    assert text.startswith("`mse_lr5` runs `mse_softmax` at lr 5 = 50× 0.1. Its first-layer step lr × ‖∇W1‖ is "
                           "1.00× `ce`'s at epoch 0: ×50 offsets the 2/C² of uniform outputs. From epoch 1 on it is "
                           "3.00× (mean over seeds per epoch): it over-compensates once p leaves uniform")
    assert "not the two losses" in text
    # a smaller scale-up (×10 instead of C²/2 = 50) is said to make up only part of the factor, never to over-compensate
    ten = runs.assign(lr=runs["lr"].where(runs["variant"] != "mse_lr5", 1.0))
    (text,) = prose.overshoot(epochs.assign(grad_norm_layer1=epochs["grad_norm_layer1"].where(
        epochs["variant"] != "mse_lr5", 0.019)), ten, "mse_softmax", "cross_entropy", "ce")
    assert "×10 makes up only part of the 2/C² of uniform outputs" in text and "0.20×" in text
    assert "over-compensates" not in text and "its steps stay smaller than cross-entropy's" in text
    assert prose.overshoot(epochs, runs[runs["variant"] != "mse_lr5"], "mse_softmax", "cross_entropy", "ce") == []


def test_the_why_conclusion_puts_it_together_with_consistent_wording():
    epochs, runs = epochs_for_why()
    summary = summary_of(runs)
    ratios = stats.initial_gradient_ratio(runs, "mse_softmax", "cross_entropy")
    text = prose.why_conclusion(summary, ratios, "ce", "mse_softmax", stats.saturation_table(epochs), runs=runs,
                                epochs=epochs)
    assert "Over epochs 0–3, every epoch shown, `mse`'s mean logit-gradient norm stays between 0.019 and 0.019" in text
    assert "consistent with the 2/C² scale" in text and "Direct test: `ce_slow`" in text
    assert "beats" not in text and "what slows it here" not in text and "of the first epochs" not in text
    assert "`mse_lr5` (`mse_softmax` at lr 5 instead of 0.1): at lr 5 no detectable change" in text


def test_captions_for_the_ratio_saturation_and_the_variant_page():
    ratios = pd.DataFrame({"epoch": [0, 1, 2], "mean": [0.02, 0.05, 0.104], "min": [0.019, 0.04, 0.1],
                           "max": [0.021, 0.06, 0.11], "count": [2, 2, 2]})
    text = prose.ratio_caption(ratios, "mse", "ce")
    assert "Epoch 0: 0.0200 (2/C² = 0.0200); epochs 1–2: 0.0500 to 0.1040" in text
    assert "here the ratio passes it because cross-entropy's gradient shrinks" in text
    assert "passes it" not in prose.ratio_caption(ratios.assign(max=0.05, mean=0.04), "mse", "ce")
    assert "no ratio per epoch" in prose.ratio_caption(ratios.iloc[:0], "mse", "ce")
    epochs, _ = epochs_for_why()
    saturation = prose.saturation_caption(epochs)
    assert "`logits`, `logits_lr0p5` are left out: MSE on logits pulls the logits to the 0/1 targets" in saturation
    assert "(measured here: mean max-probability at most 0.11)" in saturation
    assert "in mean max-probability, `ce`, `mse`, `mse_lr5`, `ce_slow` (within 0.01 at every epoch)" in saturation
    flat = pd.DataFrame({"variant": "v", "seed": [0, 0, 1, 1], "epoch": [0, 1, 0, 1], "train_loss": [0.09, 0.0898,
                                                                                                    0.09, 0.0899]})
    assert ("The train loss stays within 0.22% of its epoch-0 value at every epoch of every seed, so those lines lie "
            "on top of each other at 1.") in prose.per_seed_caption(pd.DataFrame({"seed": [0, 1]}), flat)
    assert "stays within" not in prose.per_seed_caption(pd.DataFrame({"seed": [0, 1]}),
                                                        flat.assign(train_loss=[2.3, 1.0, 2.3, 1.1]))


def test_the_variant_page_says_when_a_network_guesses_one_class():
    guessing = pd.DataFrame({"label": list(range(10)) * 10, "predicted": [8] * 90 + [1] * 10,
                             "confidence": [0.11] * 99 + [0.12]})
    text = prose.prediction_note(guessing)
    assert text.startswith("**Guessing one class:** this network predicts class 8 for 90% of the test images (that "
                           "class is 10% of them), with a largest probability of 0.12 on any image")
    assert "class-prior guessing" in text
    names = [f"c{i}" for i in range(10)]
    assert "predicts class c8" in prose.prediction_note(guessing, names)
    learned = guessing.assign(predicted=guessing["label"])
    assert prose.prediction_note(learned) is None
    assert ("None of the 90 wrong predictions is confident (p > 0.9): the most confident wrong one has p = 0.12."
            in prose.examples_caption(guessing))
    sure = guessing.assign(confidence=[0.95] * 100)
    assert "90 of the 90 wrong predictions have p > 0.9" in prose.examples_caption(sure)
    assert "No test image is wrong" in prose.examples_caption(learned)


def test_coinciding_layer_steps_are_said_once_when_every_layer_agrees():
    epochs, runs = epochs_for_why()
    steps = stats.with_lr(epochs, runs)
    layers = stats.layer_columns(steps, "step_layer")
    assert layers == ["step_layer1", "step_layer2"]
    text = prose.coinciding_text(steps, layers)
    assert text.count("in every layer's step lr × ‖∇W‖, ") == 1 and "`mse`, `ce_slow`" in text
    apart = steps.assign(step_layer2=steps["step_layer2"].where(steps["variant"] != "ce_slow", 1.0))
    text = prose.coinciding_text(apart, layers)
    assert "in layer 1's step, " in text and "every layer" not in text
