"""The learning-rate study (lossbench.lrstudy) on constructed tables: selection on validation, the
grid's edges, divergence, the effective lr, the threshold lr, the paired comparison, the sentences
and the figures. No training: every table is written here."""

from __future__ import annotations

import math

import matplotlib
import matplotlib.pyplot as plt
import pandas as pd
import pytest

from lossbench import lrstudy, stats

NORMS = {"cross_entropy": 0.95, "mse_softmax": 0.019, "mse_logits": 0.2}


def tables(spec: dict, epochs: int = 5, norms: dict | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """lr_study_runs / lr_study_epochs as gather writes them. ``spec`` maps (loss, lr) to per-seed lists:
    ``val`` (final validation accuracy), and optionally ``test`` (default val - 0.01), ``val1`` (after
    epoch 1, default val), ``status`` ("ok"/"diverged"), ``diverged_epoch``, ``cw`` (final confidently
    wrong share). Seeds are 1, 2, ...; the initial logit-gradient norm of a loss is ``norms[loss]``
    (+0.001 × seed, as networks differ by seed), the same at every lr (the same untrained network)."""
    norms = {**NORMS, **(norms or {})}
    runs, rows = [], []
    for (loss, lr), values in spec.items():
        n = len(values["val"])
        for i in range(n):
            seed = i + 1
            status = values.get("status", ["ok"] * n)[i]
            stop = values.get("diverged_epoch", [epochs] * n)[i] if status == "diverged" else epochs
            val, val1 = values["val"][i], values.get("val1", values["val"])[i]
            test = values.get("test", [v - 0.01 for v in values["val"]])[i]
            variant = f"{loss}_lr{lr:g}"
            runs.append({"variant": variant, "loss": loss, "seed": seed, "config_hash": "h", "status": status,
                         "diverged_epoch": stop if status == "diverged" else math.nan, "epochs_run": stop, "lr": lr,
                         "batch_size": 100, "epochs": epochs, "hidden": "1200-600-300", "val_accuracy": val,
                         "test_accuracy": test, "initial_logit_grad_norm": norms[loss] + 0.001 * seed})
            for epoch in range(stop + 1):
                accuracy = 0.1 if epoch == 0 else val1 if epoch == 1 and epochs > 1 else val if epoch == stop else 0.5
                if status == "diverged" and epoch == stop:
                    accuracy = 0.098  # what a non-finite network predicts (one class)
                rows.append({"variant": variant, "loss": loss, "seed": seed, "config_hash": "h", "epoch": epoch,
                             "logit_grad_norm": norms[loss] + 0.001 * seed if epoch == 0 else 0.3,
                             "val_accuracy": accuracy,
                             "val_confident_wrong": values.get("cw", [0.01] * n)[i] if epoch == stop else 0.0,
                             "val_mean_max_prob": 0.9})
    return pd.DataFrame(runs), pd.DataFrame(rows)


def study(spec, reference="cross_entropy", slow_loss="mse_softmax", threshold=0.5, **kwargs) -> lrstudy.Study:
    return lrstudy.analyse(*tables(spec, **kwargs), reference=reference, slow_loss=slow_loss, threshold=threshold)


def flat(text: str) -> str:
    return " ".join(text.split())


# A study like the real one: cross_entropy peaks at 0.3 and diverges from 3; mse_softmax peaks at 10
# and saturates at 100 (most validation images confidently wrong); mse_logits peaks at 1.
CE = {0.03: [0.80, 0.82], 0.1: [0.90, 0.91], 0.3: [0.948, 0.950], 1: [0.93, 0.94], 3: [0.098, 0.098]}
CE1 = {0.03: [0.30, 0.34], 0.1: [0.60, 0.64], 0.3: [0.85, 0.86], 1: [0.80, 0.82], 3: [0.098, 0.098]}
MS = {0.3: [0.20, 0.22], 1: [0.60, 0.62], 3: [0.92, 0.92], 10: [0.957, 0.959], 30: [0.92, 0.93], 100: [0.11, 0.106]}
MS1 = {0.3: [0.11, 0.11], 1: [0.20, 0.22], 3: [0.40, 0.42], 10: [0.70, 0.72], 30: [0.85, 0.80], 100: [0.11, 0.10]}


def realistic() -> dict:
    spec = {("cross_entropy", lr): {"val": v, "val1": CE1[lr]} for lr, v in CE.items()}
    spec[("cross_entropy", 3)].update(status=["diverged", "diverged"], diverged_epoch=[1, 1])
    spec |= {("mse_softmax", lr): {"val": v, "val1": MS1[lr]} for lr, v in MS.items()}
    spec[("mse_softmax", 100)]["cw"] = [0.89, 0.90]
    spec |= {("mse_logits", lr): {"val": v} for lr, v in {0.1: [0.76, 0.77], 1: [0.95, 0.951],
                                                           3: [0.94, 0.945]}.items()}
    return spec


# --- selection ---------------------------------------------------------------------------------------

def test_the_best_lr_is_chosen_on_validation_never_on_test():
    spec = {("cross_entropy", 0.1): {"val": [0.90, 0.91], "test": [0.95, 0.96]},  # best by test
            ("cross_entropy", 0.3): {"val": [0.93, 0.94], "test": [0.90, 0.90]},  # best by validation
            ("cross_entropy", 1.0): {"val": [0.80, 0.81], "test": [0.80, 0.81]}}
    s = study(spec)
    best = s.best.set_index("loss").loc["cross_entropy"]
    assert best["best_lr"] == 0.3 and best["edge"] == ""
    assert best["test_mean"] == pytest.approx(0.90)  # test is read at the chosen lr, not maximised
    assert "best lr **0.3**" in lrstudy.conclusion(s)


def test_a_diverged_point_is_never_the_best_even_with_the_highest_recorded_accuracy():
    spec = {("cross_entropy", 0.1): {"val": [0.80, 0.81]},
            ("cross_entropy", 0.3): {"val": [0.90, 0.91]},
            ("cross_entropy", 1.0): {"val": [0.99, 0.99], "status": ["ok", "diverged"]},  # one seed diverged
            ("cross_entropy", 3.0): {"val": [0.70, 0.71]}}
    s = study(spec)
    pts = s.points.set_index("lr")
    assert pts.loc[1.0, "diverged"] and math.isnan(pts.loc[1.0, "val_mean"])
    best = s.best.iloc[0]
    assert best["best_lr"] == 0.3 and best["next_diverged"]
    assert math.isnan(best["diverged_from"])  # 3.0 did not diverge: no "from here up"
    text = flat(lrstudy.conclusion(s))
    assert "diverged (at least one seed) at lr 1" in text and "the optimum may lie between the two" in text


@pytest.mark.parametrize("edge, lrs, words", [
    ("low", (0.01, 0.1, 1.0), "too narrow on the low side"),
    ("high", (1.0, 0.1, 0.01), "too narrow on the high side"),
])
def test_a_best_lr_on_the_edge_of_the_grid_is_no_optimum(edge, lrs, words):
    spec = {("cross_entropy", lr): {"val": [v, v + 0.01]} for lr, v in zip(lrs, (0.9, 0.8, 0.7))}
    s = study(spec)
    assert s.best.iloc[0]["edge"] == edge
    text = flat(lrstudy.conclusion(s))
    assert words in text and "no optimum is shown" in text and "best lr **" not in text
    shown = lrstudy.table_display(s).loc["cross_entropy", "best lr (validation)"]
    assert "⚠" in shown and ("smallest" if edge == "low" else "largest") in shown


def test_every_point_diverged_gives_no_best_and_no_crash():
    spec = {("cross_entropy", 0.1): {"val": [0.9, 0.91]}, ("cross_entropy", 0.3): {"val": [0.92, 0.93]},
            ("mse_softmax", 1.0): {"val": [0.1, 0.1], "status": ["diverged"] * 2},
            ("mse_softmax", 3.0): {"val": [0.1, 0.1], "status": ["diverged"] * 2}}
    s = study(spec)
    row = s.best.set_index("loss").loc["mse_softmax"]
    assert math.isnan(row["best_lr"]) and row["diverged_from"] == 1.0
    text = flat(lrstudy.conclusion(s))
    assert "`mse_softmax`: every lr of its grid diverged" in text
    assert "mse_softmax" not in set(s.comparison["loss"])
    assert "— every lr diverged" in lrstudy.table_display(s).loc["mse_softmax", "best lr (validation)"]
    assert "nan" not in text.lower().replace("nan-", "")


def test_the_diverged_from_lr_is_where_every_larger_lr_diverged():
    spec = realistic()
    s = study(spec)
    assert s.best.set_index("loss").loc["cross_entropy", "diverged_from"] == 3
    assert "every seed diverged from lr 3 up" in flat(lrstudy.conclusion(s))
    assert "`mse_softmax`: best lr **10** (validation accuracy 0.9580 ± 0.0014); no lr of its grid diverged" in flat(
        lrstudy.conclusion(s))


# --- the gradient scale and the effective lr --------------------------------------------------------

def test_the_effective_lr_against_hand_made_numbers():
    # epoch-0 norms: cross_entropy 0.951 and 0.952 (seeds 1, 2), mse_softmax 0.020 and 0.021
    spec = {("cross_entropy", 0.1): {"val": [0.9, 0.9]}, ("cross_entropy", 1.0): {"val": [0.8, 0.8]},
            ("mse_softmax", 5.0): {"val": [0.9, 0.9]}, ("mse_softmax", 50.0): {"val": [0.5, 0.5]}}
    s = study(spec, norms={"cross_entropy": 0.950, "mse_softmax": 0.019})
    scale = s.scale.set_index("loss")
    ce, ms = (0.951 + 0.952) / 2, (0.020 + 0.021) / 2  # mean over every run of the loss (both lrs)
    assert scale.loc["cross_entropy", "initial_norm"] == pytest.approx(ce)
    assert scale.loc["mse_softmax", "runs"] == 4
    assert scale.loc["mse_softmax", "scale"] == pytest.approx(ms / ce)
    assert scale.loc["mse_softmax", "predicted_ratio"] == pytest.approx(ce / ms)
    eff = s.points.set_index(["loss", "lr"])["effective_lr"]
    assert eff[("mse_softmax", 5.0)] == pytest.approx(5.0 * ms / ce)
    assert eff[("mse_softmax", 50.0)] == pytest.approx(50.0 * ms / ce)
    assert eff[("cross_entropy", 0.1)] == pytest.approx(0.1)


def test_the_theory_ratio_is_c_squared_over_two_against_cross_entropy_only():
    assert lrstudy.theory_ratio("mse_softmax", "cross_entropy", 10) == pytest.approx(50)
    assert lrstudy.theory_ratio("mse_softmax", "cross_entropy", 4) == pytest.approx(8)
    assert lrstudy.theory_ratio("mse_logits", "cross_entropy") == pytest.approx(1 / stats.mse_logits_initial_ratio())
    assert math.isnan(lrstudy.theory_ratio("mse_softmax", "mse_logits"))


# --- the threshold lr -------------------------------------------------------------------------------

def test_the_threshold_lr_is_interpolated_in_log_lr():
    # 0.3 at lr 0.1, 0.7 at lr 1: 0.5 is halfway, so log lr is halfway: sqrt(0.1 * 1)
    lr, kind = lrstudy.threshold_lr([0.01, 0.1, 1.0, 10.0], [0.1, 0.3, 0.7, 0.9], 0.5)
    assert kind == "interpolated" and lr == pytest.approx(math.sqrt(0.1))
    # a quarter of the way from 0.2 (lr 1) to 0.6 (lr 10): 10 ** 0.25
    lr, _ = lrstudy.threshold_lr([1.0, 10.0], [0.2, 0.6], 0.3)
    assert lr == pytest.approx(10 ** 0.25)
    # exactly at a grid point: that point
    assert lrstudy.threshold_lr([0.1, 1.0, 10.0], [0.2, 0.5, 0.9], 0.5)[0] == pytest.approx(1.0)


def test_the_threshold_lr_is_the_first_crossing_and_skips_diverged_points():
    lr, kind = lrstudy.threshold_lr([0.1, 1.0, 10.0, 100.0], [0.2, 0.6, 0.3, 0.7], 0.5)  # rises, falls, rises
    assert lr == pytest.approx(10 ** ((0.5 - 0.2) / 0.4 - 1))
    lr, kind = lrstudy.threshold_lr([0.1, 1.0, 10.0], [0.2, math.nan, 0.8], 0.5)  # 1.0 diverged by epoch 1
    assert kind == "interpolated" and lr == pytest.approx(10 ** (math.log10(0.1) + 0.5 * 2))


def test_a_threshold_never_reached_or_reached_at_the_smallest_lr():
    assert lrstudy.threshold_lr([0.1, 1.0], [0.2, 0.4], 0.5)[1] == "not reached"
    assert math.isnan(lrstudy.threshold_lr([0.1, 1.0], [0.2, 0.4], 0.5)[0])
    assert lrstudy.threshold_lr([0.1, 1.0], [0.6, 0.8], 0.5) == (0.1, "below")
    spec = {("cross_entropy", 0.1): {"val": [0.9, 0.9], "val1": [0.6, 0.62]},
            ("cross_entropy", 1.0): {"val": [0.92, 0.93], "val1": [0.7, 0.7]},
            ("mse_softmax", 1.0): {"val": [0.3, 0.3], "val1": [0.2, 0.2]},
            ("mse_softmax", 10.0): {"val": [0.4, 0.4], "val1": [0.3, 0.3]}}
    s = study(spec)
    text = flat(lrstudy.conclusion(s))
    assert "never reaches it on the grid" in text and "`mse_softmax`" in text
    shown = lrstudy.table_display(s)
    assert shown.loc["mse_softmax", "lr reaching 0.5 val. after epoch 1"] == "not reached"
    assert shown.loc["cross_entropy", "lr reaching 0.5 val. after epoch 1"] == "≤ 0.1 (the smallest lr)"
    assert shown.loc["mse_softmax", "÷ cross_entropy's"] == "n/a"


def test_the_measured_ratio_next_to_the_predicted_and_the_theory():
    s = study(realistic())
    ratios = lrstudy.scale_rows(s).set_index("loss")
    ce = lrstudy.threshold_lr(list(CE1), [sum(v) / 2 for v in CE1.values()][:4] + [math.nan], 0.5)[0]
    ms = lrstudy.threshold_lr(list(MS1), [sum(v) / 2 for v in MS1.values()], 0.5)[0]
    assert ratios.loc["mse_softmax", "measured"] == pytest.approx(ms / ce)
    norms = s.scale.set_index("loss")["initial_norm"]
    assert ratios.loc["mse_softmax", "predicted"] == pytest.approx(norms["cross_entropy"] / norms["mse_softmax"])
    assert ratios.loc["mse_softmax", "theory"] == pytest.approx(50)
    text = flat(lrstudy.conclusion(s))
    assert f"**{ms / ce:.3g}× is measured**" in text
    assert f"a {norms['cross_entropy'] / norms['mse_softmax']:.3g}× larger lr is predicted" in text
    row = lrstudy.table_display(s).loc["mse_softmax"]
    assert row["theory"] == "50× (C²/2)" and row["÷ cross_entropy's"] == f"{ms / ce:.3g}×"
    # seed by seed, on each seed's own curves after epoch 1 (MS1, CE1): mse_softmax crosses 0.5 between lr 3 and 10,
    # cross_entropy between lr 0.03 and 0.1

    def cross(lr0, v0, lr1, v1):
        return 10 ** (math.log10(lr0) + (0.5 - v0) / (v1 - v0) * (math.log10(lr1) - math.log10(lr0)))
    seed1 = cross(3, 0.40, 10, 0.70) / cross(0.03, 0.30, 0.1, 0.60)
    seed2 = cross(3, 0.42, 10, 0.72) / cross(0.03, 0.34, 0.1, 0.64)
    assert ratios.loc["mse_softmax", "per_seed"] == [pytest.approx(seed1), pytest.approx(seed2)]
    assert f"seed by seed: {seed1:.3g}×, {seed2:.3g}×" in text


# --- collapse on the reference's rising side --------------------------------------------------------

def test_the_collapse_measure_interpolates_the_reference_in_log_effective_lr():
    # reference rises 0.2 -> 0.6 -> 0.9 over lr 0.01, 0.1, 1 and falls at 10; the other loss has scale 0.1
    spec = {("cross_entropy", lr): {"val": [v, v], "val1": [v, v]}
            for lr, v in {0.01: 0.2, 0.1: 0.6, 1.0: 0.9, 10.0: 0.5}.items()}
    # effective lrs 0.0316 (inside: reference there 0.2 + 0.4 * 0.5 = 0.4), 1.0 (0.9), 10 (outside)
    spec |= {("mse_softmax", lr): {"val": [v, v], "val1": [v, v]}
             for lr, v in {0.316227766: 0.45, 10.0: 0.8, 100.0: 0.7}.items()}
    s = study(spec, norms={"cross_entropy": 0.9985, "mse_softmax": 0.0985})  # + 0.001 x seed: means 1.0 and 0.1
    row = s.collapse1.set_index("loss").loc["mse_softmax"]
    assert (row["rising_low"], row["rising_high"], row["compared"]) == (0.01, 1.0, 2)
    assert row["largest"] == pytest.approx(-0.1, abs=1e-6) and row["at_lr"] == 10.0  # 0.8 against 0.9
    assert row["median"] == pytest.approx((0.05 + 0.1) / 2, abs=1e-6)
    text = flat(lrstudy.conclusion(s))
    assert ("on `cross_entropy`'s rising side (lr 0.01–1, 2 of its points there): after epoch 1 up to 10.0 points of "
            "`cross_entropy`'s curve (largest gap -10.00 points at its lr 10, median gap 7.5 points; the seeds of one "
            "point differ by up to 0.0 there): **not collapsed**") in text


def test_no_collapse_measure_without_a_rising_side():
    spec = {("cross_entropy", 0.1): {"val": [0.9, 0.9]}, ("cross_entropy", 1.0): {"val": [0.8, 0.8]},
            ("mse_softmax", 10.0): {"val": [0.5, 0.5]}, ("mse_softmax", 30.0): {"val": [0.6, 0.6]}}
    s = study(spec)
    assert s.collapse1.empty
    assert "not compared with `cross_entropy`'s" in lrstudy.collapse_text(s, "mse_softmax")


# --- the paired comparison and the conclusion ---------------------------------------------------------

def _pair(ms_test, ce_test, ms_val=(0.96, 0.96, 0.96)):
    seeds = len(ce_test)
    return {("cross_entropy", 0.1): {"val": [0.90] * seeds, "test": [0.5] * seeds},
            ("cross_entropy", 0.3): {"val": [0.95] * seeds, "test": list(ce_test)},
            ("cross_entropy", 1.0): {"val": [0.93] * seeds, "test": [0.5] * seeds},
            ("mse_softmax", 3.0): {"val": [0.92] * seeds, "test": [0.5] * seeds},
            ("mse_softmax", 10.0): {"val": list(ms_val[:seeds]), "test": list(ms_test)},
            ("mse_softmax", 30.0): {"val": [0.93] * seeds, "test": [0.5] * seeds}}


def test_the_paired_comparison_numbers():
    s = study(_pair([0.95, 0.96, 0.97], [0.94, 0.94, 0.955]))
    row = s.comparison.set_index("loss").loc["mse_softmax"]
    diffs = pd.Series([0.01, 0.02, 0.015])
    low, high = stats.ci95(diffs)
    assert (row["lr"], row["reference_lr"], row["n_paired"]) == (10.0, 0.3, 3)
    assert row["difference"] == pytest.approx(diffs.mean())
    assert (row["difference_ci95_low"], row["difference_ci95_high"]) == (pytest.approx(low), pytest.approx(high))
    assert row["test"] == "paired t" and row["p_holm"] == pytest.approx(row["p"])  # one comparison
    assert row["verdict"] == "beats"
    shown = lrstudy.comparison_display(s)
    assert shown.loc["mse_softmax (10)", "difference (points)"] == "+1.50"
    assert shown.loc["mse_softmax (10)", "cross_entropy (best lr)"] == "cross_entropy (0.3)"


@pytest.mark.parametrize("ms_test, ce_test, verdict, words", [
    ([0.95, 0.96, 0.97], [0.94, 0.94, 0.955], "beats", "Tuned, `mse_softmax` beats `cross_entropy`"),
    ([0.93, 0.93, 0.94], [0.95, 0.952, 0.958], "falls short", "Tuned, `mse_softmax` falls short of `cross_entropy`"),
    ([0.950, 0.951, 0.952], [0.949, 0.951, 0.951], "matches", "Tuned, `mse_softmax` matches `cross_entropy`"),
    ([0.95, 0.90, 0.97], [0.94, 0.95, 0.93], "unclear",
     "Tuned, `mse_softmax` against `cross_entropy`: too few seeds to tell whether they differ"),
    ([0.95], [0.94], "untested", "Tuned, `mse_softmax` against `cross_entropy`: one seed, not tested"),
])
def test_the_conclusion_says_matches_beats_falls_short_or_too_few_seeds(ms_test, ce_test, verdict, words):
    s = study(_pair(ms_test, ce_test))
    assert s.comparison.set_index("loss").loc["mse_softmax", "verdict"] == verdict
    text = flat(lrstudy.conclusion(s))
    assert words in text
    assert "at this budget (5 epochs)" in text
    if verdict == "matches":
        assert "the whole interval lies within ±0.5 points" in text
    if verdict == "unclear":
        assert "too wide to call them equal" in text
    if verdict == "untested":
        assert "One seed per point: no interval and no test" in text
        assert "n/a (one run)" in lrstudy.table_display(s).loc["mse_softmax", "test 95% CI"]


def test_holm_adjusts_across_the_losses_compared():
    spec = _pair([0.95, 0.96, 0.97], [0.94, 0.94, 0.955])
    spec |= {("mse_logits", 0.3): {"val": [0.5] * 3}, ("mse_logits", 1.0): {"val": [0.94] * 3,
                                                                              "test": [0.93, 0.95, 0.90]},
             ("mse_logits", 3.0): {"val": [0.9] * 3}}
    c = study(spec).comparison.set_index("loss")
    assert list(c.index) == ["mse_softmax", "mse_logits"]
    assert list(c["p_holm"]) == pytest.approx(list(stats.holm(c["p"])))


def test_the_reference_absent_says_what_it_cannot_compute():
    spec = {("mse_softmax", lr): {"val": v} for lr, v in MS.items()}
    s = study(spec)
    assert s.comparison.empty and s.points["effective_lr"].isna().all()
    text = flat(lrstudy.conclusion(s))
    assert "The reference `cross_entropy` is not in the study" in text
    assert "best lr **10**" in text
    assert "No effective lr" in lrstudy.effective_caption(s)
    assert lrstudy.effective_figure(s) is None
    assert lrstudy.comparison_display(s) is None
    assert lrstudy.comparison_caption(s) == "Nothing to compare: the reference `cross_entropy` is not in the study."
    shown = lrstudy.table_display(s).loc["mse_softmax"]
    assert shown["÷ cross_entropy's"] == "n/a" and shown["predicted (gradient scale)"] == "n/a"
    assert "nan" not in text.lower()


def test_the_slow_loss_absent_and_a_two_point_grid_of_one_loss():
    """The tiny end-to-end config: a two-point study, here of cross-entropy alone, one epoch."""
    spec = {("cross_entropy", 0.1): {"val": [0.3, 0.32]}, ("cross_entropy", 1.0): {"val": [0.5, 0.52]}}
    s = study(spec, epochs=1)
    text = flat(lrstudy.conclusion(s))
    assert "too narrow on the high side" in text
    assert "`mse_softmax` is not in the study" in text
    assert "nan" not in text.lower()
    for caption in (lrstudy.method(s), lrstudy.lr_caption(s), lrstudy.effective_caption(s),
                    lrstudy.saturation_caption(s)):
        assert "nan" not in caption.lower()
    assert "`mse_softmax` and" not in lrstudy.why_text(s) and "does not train `mse_softmax`" in lrstudy.why_text(s)
    assert "1 epoch," in lrstudy.method(s)
    assert lrstudy.comparison_caption(s) == "Nothing to compare: `cross_entropy` is the only loss in the study."
    assert lrstudy.effective_figure(s) is None and "is the only loss in the study" in lrstudy.effective_caption(s)


def test_a_two_point_grid_of_two_losses_with_one_seed():
    spec = {("cross_entropy", 0.1): {"val": [0.3]}, ("cross_entropy", 1.0): {"val": [0.5]},
            ("mse_softmax", 0.1): {"val": [0.1]}, ("mse_softmax", 1.0): {"val": [0.12]}}
    s = study(spec, epochs=1)
    text = flat(lrstudy.conclusion(s))
    assert text.count("too narrow on the high side") == 2
    assert "One seed per point" in text and "nan" not in text.lower()
    assert "One seed per point: each line is that run, with no band" in lrstudy.lr_caption(s)
    assert "nan" not in flat(lrstudy.why_text(s)).lower()


# --- saturation -------------------------------------------------------------------------------------

def test_saturation_is_read_above_the_best_lr_and_not_for_capped_losses():
    s = study(realistic())
    sat = s.saturation.set_index("loss")
    assert sat.loc["mse_softmax", "saturated_lr"] == 100 and sat.loc["mse_softmax", "saturated"] == 2
    assert math.isnan(sat.loc["cross_entropy", "saturated_lr"]) and sat.loc["cross_entropy", "lr"] == 1
    assert sat.loc["mse_logits", "capped"]
    text = flat(lrstudy.conclusion(s))
    # the constructed runs' last-epoch gradient is 0.3 against 0.019 at init: not a vanished gradient
    assert ("`mse_softmax` at lr 100: final validation accuracy 0.1080 (against 0.9580 at its best lr 10); in every "
            "seed (mean over them) **90% of validation images are confidently wrong** (p > 0.9) after the final epoch, "
            "with a logit-gradient norm of 0.3 in the last epoch against 0.02 at initialisation: the outputs "
            "saturate.") in text
    assert "`cross_entropy`: no saturation on its grid — at its largest lr that did not diverge, 1" in text
    assert "`mse_logits`: not read — its targets cap the softmax" in text


def test_saturation_in_one_seed_says_what_the_other_did():
    spec = {("mse_softmax", 10.0): {"val": [0.95, 0.94]},
            ("mse_softmax", 100.0): {"val": [0.09, 0.12], "cw": [0.0, 0.88]}}
    runs, epochs = tables(spec)
    last = (epochs["variant"] == "mse_softmax_lr100") & (epochs["seed"] == 2) & (epochs["epoch"] == 5)
    epochs.loc[last, "logit_grad_norm"] = 0.0  # the saturated seed's gradient vanished
    epochs.loc[(epochs["variant"] == "mse_softmax_lr100") & (epochs["seed"] == 1), "val_mean_max_prob"] = 0.11
    s = lrstudy.analyse(runs, epochs)
    row = s.saturation.iloc[0]
    assert (row["saturated"], row["n"], row["confident_wrong"]) == (1, 2, 0.88)
    text = flat(lrstudy.conclusion(s))
    assert "in 1 of 2 seeds **88% of validation images are confidently wrong**" in text
    assert "logit-gradient norm of 0 in the last epoch against 0.021 at initialisation: the outputs saturate, and " \
           "where the softmax saturates its Jacobian" in text
    assert "the other seed ends with validation accuracy 0.0900 and mean max-probability 0.11 (uniform outputs: " \
           "1/C = 0.10), not confidently wrong" in text


def test_the_epoch_one_curve_keeps_a_run_that_diverged_later():
    spec = {("cross_entropy", 0.1): {"val": [0.9, 0.9], "val1": [0.4, 0.4]},
            ("cross_entropy", 1.0): {"val": [0.1, 0.1], "val1": [0.6, 0.6], "status": ["diverged", "ok"],
                                     "diverged_epoch": [3, 5]}}
    pts = study(spec).points.set_index("lr")
    assert pts.loc[1.0, "diverged"] and not pts.loc[1.0, "diverged1"]
    assert pts.loc[1.0, "val1_mean"] == pytest.approx(0.6)
    assert math.isnan(pts.loc[1.0, "val_mean"])


def test_lr_keys_ignore_float_noise_and_sweep_variant_names():
    runs, epochs = tables({("cross_entropy", 0.1): {"val": [0.9, 0.91]}, ("cross_entropy", 0.3): {"val": [0.8, 0.8]}})
    # the sweep's own run of lr 0.1 carries the sweep's name; lr read back with float noise
    runs.loc[runs["lr"] == 0.1, "variant"] = "cross_entropy"
    epochs.loc[epochs["variant"] == "cross_entropy_lr0.1", "variant"] = "cross_entropy"
    runs.loc[runs["lr"] == 0.3, "lr"] = 0.1 + 0.2
    s = lrstudy.analyse(runs, epochs)
    assert list(s.points["lr"]) == [0.1, 0.3] and list(s.points["n"]) == [2, 2]
    assert s.best.iloc[0]["best_lr"] == 0.1


# --- figures and the page's text --------------------------------------------------------------------

@pytest.mark.parametrize("case", ["realistic", "one_seed", "no_reference", "all_diverged"])
def test_each_figure_function_runs_on_constructed_tables(case):
    matplotlib.use("Agg")
    spec = {"realistic": realistic(),
            "one_seed": {("cross_entropy", 0.1): {"val": [0.3]}, ("cross_entropy", 1.0): {"val": [0.5]}},
            "no_reference": {("mse_softmax", lr): {"val": v} for lr, v in MS.items()},
            "all_diverged": {("cross_entropy", 0.1): {"val": [0.9, 0.9]}, ("cross_entropy", 1.0): {"val": [0.8, 0.8]},
                             ("mse_softmax", 1.0): {"val": [0.1, 0.1], "status": ["diverged"] * 2}}}[case]
    s = study(spec)
    for function in (lrstudy.lr_figure, lrstudy.effective_figure, lrstudy.saturation_figure):
        fig = function(s)
        assert fig is None or isinstance(fig, plt.Figure)
        if fig is not None:
            for ax in fig.axes:
                assert ax.get_xscale() == "log" and ax.get_ylim() == (0.0, 1.0)
                assert ax.get_legend() is None  # legends sit outside the panels (fig.legend)
            assert fig.legends
            plt.close(fig)
    assert isinstance(lrstudy.lr_figure(s), plt.Figure)
    plt.close("all")


def test_the_same_loss_has_the_same_colour_on_every_figure():
    matplotlib.use("Agg")
    s = study(realistic())
    colours = []
    for function in (lrstudy.lr_figure, lrstudy.effective_figure, lrstudy.saturation_figure):
        fig = function(s)
        colours.append({t.get_text(): h.get_color() for t, h in zip(fig.legends[0].get_texts(),
                                                                    fig.legends[0].legend_handles)
                        if t.get_text() in s.losses})
        plt.close(fig)
    assert colours[0]["mse_softmax"] == colours[1]["mse_softmax"] == colours[2]["mse_softmax"]
    assert colours[0]["cross_entropy"] == colours[1]["cross_entropy"]
    assert "mse_logits" not in colours[2]  # capped: left out of the saturation figure


def test_captions_name_the_bands_and_the_diverged_points():
    s = study(realistic())
    caption = flat(lrstudy.lr_caption(s))
    assert "95% t-interval, clipped to [0, 1]" in caption and "With two seeds" in caption
    assert "× on the axis bottom: a point with a diverged seed (`cross_entropy` at lr 3)" in caption
    effective = flat(lrstudy.effective_caption(s))
    assert "effective learning rate" in effective and "`mse_softmax` 0.02" in effective
    assert "(grey, right: lr 0.03 to its peak after epoch 1 at 0.3)" in effective
    assert "`mse_logits` left out" in lrstudy.saturation_caption(s)


def test_the_displays_never_show_nan():
    for spec in (realistic(), {("mse_softmax", lr): {"val": v} for lr, v in MS.items()}):
        s = study(spec)
        for frame in (lrstudy.table_display(s), lrstudy.points_display(s), lrstudy.comparison_display(s)):
            assert frame is None or "nan" not in frame.to_string().lower()
    shown = lrstudy.points_display(study(realistic()))
    assert shown.loc[("cross_entropy", "3"), "val. final"] == "⚠ diverged"


def test_the_why_page_note_cites_the_study_and_links_its_page(tmp_path):
    s = study(realistic())
    text = flat(lrstudy.why_text(s))
    assert "[Learning rate](learning-rate.html)" in text
    assert "Tuned, `mse_softmax` " in text and "at lr 10 against" in text and "at lr 0.3" in text
    ratio = lrstudy.scale_rows(s).set_index("loss").loc["mse_softmax"]
    assert f"{ratio['measured']:.3g}× larger lr than `cross_entropy`, where its initial gradient scale predicts " \
           f"{ratio['predicted']:.3g}× (theory: 50×, C²/2): the scale accounts for a factor" in text
    assert lrstudy.why_note("", "") is None  # the study off: the why page as before
    runs, epochs = tables(realistic())
    runs.to_csv(tmp_path / "r.csv", index=False)
    epochs.to_csv(tmp_path / "e.csv", index=False)
    assert "learning-rate.html" in lrstudy.why_note(str(tmp_path / "r.csv"), str(tmp_path / "e.csv")).data


def test_a_grid_of_one_lr_per_loss_and_an_empty_study():
    matplotlib.use("Agg")
    s = study({("cross_entropy", 0.1): {"val": [0.9, 0.91], "val1": [0.6, 0.6]},
               ("mse_softmax", 1.0): {"val": [0.5, 0.52], "val1": [0.6, 0.6]}})
    text = flat(lrstudy.conclusion(s))
    assert text.count("one lr only") == 2 and "too narrow on both sides" in text
    assert "The best lrs of `mse_softmax` and `cross_entropy` are at the edges of their grids" in text
    assert "is only bounded (≤ 1 (the smallest lr) against ≤ 0.1 (the smallest lr) for `cross_entropy`)" in text
    for function in (lrstudy.lr_figure, lrstudy.effective_figure, lrstudy.saturation_figure):
        plt.close(function(s))
    empty = lrstudy.analyse(*lrstudy.load("", ""))
    assert empty.empty and lrstudy.conclusion(empty) == lrstudy.empty_text()
    assert lrstudy.lr_figure(empty) is None and lrstudy.table_display(empty) is None
    assert lrstudy.points_display(empty) is None and lrstudy.comparison_display(empty) is None


def test_an_interval_that_excludes_0_where_holm_detects_nothing_says_why_they_disagree():
    """The 95% CI is per comparison, the test is adjusted across the losses: with two compared, a
    difference whose own interval just excludes 0 (p ~ 0.049) is not detected after Holm (~0.098)."""
    spec = _pair([0.95, 0.90, 0.97], [0.94, 0.94, 0.94])
    spec |= {("mse_logits", 0.3): {"val": [0.5] * 3}, ("mse_logits", 1.0): {"val": [0.94] * 3,
                                                                              "test": [0.952, 0.96, 0.968]},
             ("mse_logits", 3.0): {"val": [0.9] * 3}}
    s = study(spec)
    row = s.comparison.set_index("loss").loc["mse_logits"]
    assert row["difference_ci95_low"] > 0 and row["p"] < 0.05 <= row["p_holm"] and row["verdict"] == "unclear"
    text = flat(lrstudy.conclusion(s))
    assert ("not detected at Holm-adjusted p < 0.05 across the losses compared, although this interval, not "
            "adjusted for them, excludes 0") in text
    assert text.count("although this interval") == 1  # mse_softmax's interval spans 0: the usual reason


def test_a_best_lr_at_the_top_of_the_grid_can_itself_be_saturated():
    """Saturation is read from the best lr up: a best lr that is the grid's largest (or only) lr and
    has most validation images confidently wrong in a seed is reported, not called "no saturation"."""
    spec = {("cross_entropy", 0.3): {"val": [0.95, 0.95]},
            ("mse_softmax", 1.0): {"val": [0.10, 0.11]},
            ("mse_softmax", 10.0): {"val": [0.16, 0.15], "cw": [0.84, 0.20]}}
    s = study(spec)
    row = s.saturation.set_index("loss").loc["mse_softmax"]
    assert (row["best_lr"], row["saturated_lr"], row["saturated"]) == (10.0, 10.0, 1)
    text = flat(lrstudy.conclusion(s))
    assert "`mse_softmax` at lr 10: final validation accuracy 0.1550 (its best lr); in 1 of 2 seeds" in text
    assert "84% of validation images are confidently wrong" in text and "`mse_softmax`: no saturation" not in text


def test_the_saturation_caption_does_not_say_nothing_diverged_when_a_left_out_loss_did():
    spec = {("cross_entropy", 0.3): {"val": [0.95, 0.95]}, ("cross_entropy", 1.0): {"val": [0.94, 0.94]},
            ("mse_logits", 0.3): {"val": [0.9, 0.9]},
            ("mse_logits", 30.0): {"val": [0.1, 0.1], "status": ["diverged"] * 2}}
    caption = lrstudy.saturation_caption(study(spec))
    assert "No point drawn here diverged." in caption and "No point diverged." not in caption


def test_a_one_lr_study_says_it_tunes_nothing():
    spec = {("cross_entropy", 0.1): {"val": [0.9, 0.91]}, ("mse_softmax", 0.1): {"val": [0.15, 0.16]}}
    s = study(spec, epochs=1)
    why = flat(lrstudy.why_text(s))
    assert "trains each loss at one lr only, so it tunes nothing" in why and "1 epoch," in why
    assert "lr 0.1)" in flat(lrstudy.method(s)) and ", )" not in lrstudy.method(s)


def test_a_loss_near_chance_at_every_lr_gets_no_best_lr_worth_the_name():
    spec = {("cross_entropy", 0.1): {"val": [0.9, 0.91]}, ("cross_entropy", 0.3): {"val": [0.94, 0.95]},
            ("cross_entropy", 1.0): {"val": [0.92, 0.93]},
            ("mse_softmax", 0.01): {"val": [0.10, 0.11]}, ("mse_softmax", 0.03): {"val": [0.11, 0.12]},
            ("mse_softmax", 0.1): {"val": [0.15, 0.14]}}
    text = flat(lrstudy.conclusion(study(spec)))
    assert "`mse_softmax`: below 20% validation accuracy at every lr of its grid" in text
    assert "the highest, 0.1450 at lr 0.1, where guessing gives 10%): no lr of this grid trains it" in text
    assert "the highest is at the largest lr: the grid is too narrow on the high side for this loss" in text
    assert "`cross_entropy`: best lr **0.3**" in text  # a loss that trains keeps its best lr
