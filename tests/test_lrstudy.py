"""The learning-rate study's analysis (lossbench.lrstudy) on constructed tables, read on its records:
selection on validation, the grid's edges, divergence, the effective lr, the threshold lr, the
paired comparison (decisions.difference), collapse, saturation, and what a loss declares (its
gradient scale, a cap). No training and no words: every table is written here; the page's words
are golden files (test_lrstudy_words.py), its figures test_lrstudy_figures.py."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from lossbench import decisions, losses, lrstudy, lrstudy_words, stats
from lossbench import tables as gathered

NORMS = {"cross_entropy": 0.95, "softmax_nll": 0.95, "mse_softmax": 0.019, "mse_logits": 0.2}
CLASSES = 10


def tables(spec: dict, epochs: int = 5, norms: dict | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """lr_study_runs / lr_study_epochs as gather writes them. ``spec`` maps (loss, lr) to per-seed lists:
    ``val`` (final validation accuracy), and optionally ``test`` (default val - 0.01), ``val1`` (after
    epoch 1, default val), ``status`` ("ok"/"diverged"), ``diverged_epoch``, ``cw`` (final confidently
    wrong share), ``grad`` (last-epoch logit-gradient norm, default 0.3). Seeds are 1, 2, ...; the initial
    logit-gradient norm of a loss is ``norms[loss]`` (+0.001 × seed, as networks differ by seed), the same
    at every lr (the same untrained network)."""
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
                grad = norms[loss] + 0.001 * seed if epoch == 0 else values.get("grad", [0.3] * n)[i]
                rows.append({"variant": variant, "loss": loss, "seed": seed, "config_hash": "h", "epoch": epoch,
                             "logit_grad_norm": grad, "val_accuracy": accuracy,
                             "val_confident_wrong": values.get("cw", [0.01] * n)[i] if epoch == stop else 0.0,
                             "val_mean_max_prob": values.get("max_prob", [0.9] * n)[i]})
    return pd.DataFrame(runs), pd.DataFrame(rows)


def study(spec, reference="cross_entropy", slow_loss="mse_softmax", threshold=0.5, thresholds=None,
          **kwargs) -> lrstudy.Study:
    sweep = {} if thresholds is None else {"thresholds": thresholds}
    return lrstudy.analyse(*tables(spec, **kwargs), reference=reference, slow_loss=slow_loss, threshold=threshold,
                           classes=CLASSES, **sweep)


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


def pair(ms_test, ce_test, ms_val=(0.96, 0.96, 0.96)) -> dict:
    """cross_entropy selects lr 0.3, mse_softmax lr 10; their test accuracies there as given."""
    seeds = len(ce_test)
    return {("cross_entropy", 0.1): {"val": [0.90] * seeds, "test": [0.5] * seeds},
            ("cross_entropy", 0.3): {"val": [0.95] * seeds, "test": list(ce_test)},
            ("cross_entropy", 1.0): {"val": [0.93] * seeds, "test": [0.5] * seeds},
            ("mse_softmax", 3.0): {"val": [0.92] * seeds, "test": [0.5] * seeds},
            ("mse_softmax", 10.0): {"val": list(ms_val[:seeds]), "test": list(ms_test)},
            ("mse_softmax", 30.0): {"val": [0.93] * seeds, "test": [0.5] * seeds}}


@pytest.fixture
def declared_user_losses(monkeypatch):
    """Losses a user adds, declaring what they know (registered for the test only, without functions):
    ``ten_x`` 10× cross-entropy's gradient (declared), ``focal`` slow and declaring nothing, ``my_sq_capped``
    a squared error on logits declaring its cap, ``my_sq`` the same declaring nothing."""
    cap = losses.LOSSES["mse_logits"].softmax_cap
    for loss in (losses.Loss("ten_x", head="logits", grad_scale=lambda c: 10.0), losses.Loss("focal"),
                 losses.Loss("my_sq_capped", head="logits", softmax_cap=cap), losses.Loss("my_sq")):
        monkeypatch.setitem(losses.LOSSES, loss.name, loss)


# --- selection ---------------------------------------------------------------------------------------

def test_the_lr_is_selected_on_validation_never_on_test():
    spec = {("cross_entropy", 0.1): {"val": [0.90, 0.91], "test": [0.95, 0.96]},  # highest test
            ("cross_entropy", 0.3): {"val": [0.93, 0.94], "test": [0.90, 0.90]},  # highest validation
            ("cross_entropy", 1.0): {"val": [0.80, 0.81], "test": [0.80, 0.81]}}
    row = study(spec).of("cross_entropy")
    assert (row.lr, row.edge, row.near_chance) == (0.3, "", False)
    assert row.test.mean == pytest.approx(0.90)  # test is read at the selected lr, not maximised
    assert row.val.values == (0.93, 0.94)


def test_a_diverged_point_is_never_selected_even_with_the_highest_recorded_accuracy():
    spec = {("cross_entropy", 0.1): {"val": [0.80, 0.81]},
            ("cross_entropy", 0.3): {"val": [0.90, 0.91]},
            ("cross_entropy", 1.0): {"val": [0.99, 0.99], "status": ["ok", "diverged"]},  # one seed diverged
            ("cross_entropy", 3.0): {"val": [0.70, 0.71]}}
    s = study(spec)
    point = s.point("cross_entropy", 1.0)
    assert point.diverged and math.isnan(point.val.mean) and point.val.values == () and point.n_diverged == 1
    row = s.of("cross_entropy")
    assert row.lr == 0.3 and row.next_diverged and row.diverged_lrs == (1.0,)
    assert math.isnan(row.diverged_from)  # 3.0 did not diverge: no "from here up"


@pytest.mark.parametrize("edge, lrs", [("low", (0.01, 0.1, 1.0)), ("high", (1.0, 0.1, 0.01))])
def test_a_selected_lr_on_the_edge_of_the_grid_is_no_optimum(edge, lrs):
    spec = {("cross_entropy", lr): {"val": [v, v + 0.01]} for lr, v in zip(lrs, (0.9, 0.8, 0.7))}
    assert study(spec).of("cross_entropy").edge == edge


def test_every_point_diverged_gives_no_selected_lr_and_no_comparison():
    spec = {("cross_entropy", 0.1): {"val": [0.9, 0.91]}, ("cross_entropy", 0.3): {"val": [0.92, 0.93]},
            ("mse_softmax", 1.0): {"val": [0.1, 0.1], "status": ["diverged"] * 2},
            ("mse_softmax", 3.0): {"val": [0.1, 0.1], "status": ["diverged"] * 2}}
    s = study(spec)
    row = s.of("mse_softmax")
    assert math.isnan(row.lr) and row.diverged_from == 1.0 and row.every_seed_from and not row.near_chance
    assert s.of("mse_softmax", "comparisons") is None
    assert s.of("mse_softmax", "saturation").reading == "diverged"


def test_the_diverged_from_lr_is_where_every_larger_lr_diverged():
    s = study(realistic())
    row = s.of("cross_entropy")
    assert row.diverged_from == 3 and row.every_seed_from
    assert (s.of("mse_softmax").lr, s.of("mse_softmax").diverged_lrs) == (10, ())
    assert s.of("mse_softmax").val.mean == pytest.approx(0.958)


def test_a_loss_near_chance_at_every_lr_is_flagged():
    spec = {("cross_entropy", 0.1): {"val": [0.9, 0.91]}, ("cross_entropy", 0.3): {"val": [0.94, 0.95]},
            ("cross_entropy", 1.0): {"val": [0.92, 0.93]},
            ("mse_softmax", 0.01): {"val": [0.10, 0.11]}, ("mse_softmax", 0.03): {"val": [0.11, 0.12]},
            ("mse_softmax", 0.1): {"val": [0.15, 0.14]}}
    s = study(spec)
    assert s.of("mse_softmax").near_chance and s.of("mse_softmax").edge == "high"
    assert not s.of("cross_entropy").near_chance and s.of("cross_entropy").lr == 0.3  # a loss that trains


def test_lr_keys_ignore_float_noise_and_sweep_variant_names():
    runs, epochs = tables({("cross_entropy", 0.1): {"val": [0.9, 0.91]}, ("cross_entropy", 0.3): {"val": [0.8, 0.8]}})
    # the sweep's own run of lr 0.1 carries the sweep's name; lr read back with float noise
    runs.loc[runs["lr"] == 0.1, "variant"] = "cross_entropy"
    epochs.loc[epochs["variant"] == "cross_entropy_lr0.1", "variant"] = "cross_entropy"
    runs.loc[runs["lr"] == 0.3, "lr"] = 0.1 + 0.2
    s = lrstudy.analyse(runs, epochs, "cross_entropy", "mse_softmax", 0.5, CLASSES)
    assert [p.lr for p in s.points] == [0.1, 0.3] and [p.n for p in s.points] == [2, 2]
    assert s.of("cross_entropy").lr == 0.1


def test_the_epoch_one_curve_keeps_a_run_that_diverged_later():
    spec = {("cross_entropy", 0.1): {"val": [0.9, 0.9], "val1": [0.4, 0.4]},
            ("cross_entropy", 1.0): {"val": [0.1, 0.1], "val1": [0.6, 0.6], "status": ["diverged", "ok"],
                                     "diverged_epoch": [3, 5]}}
    point = study(spec).point("cross_entropy", 1.0)
    assert point.diverged and not point.diverged1
    assert point.val1.mean == pytest.approx(0.6) and math.isnan(point.val.mean)


def test_the_records_are_frozen_and_the_empty_study_is_empty():
    s = study(realistic())
    with pytest.raises(AttributeError):
        s.reference = "other"
    with pytest.raises(AttributeError):
        s.points[0].lr = 1.0
    empty = lrstudy.analyse(*lrstudy.load("", ""), "cross_entropy", "mse_softmax", 0.5, CLASSES)
    assert empty.empty and empty.selected == () and empty.seeds == ()
    assert (s.seeds, s.epochs, s.can_rank) == ((2,), (5,), False)


# --- the gradient scale, the effective lr and the theory ----------------------------------------------

def test_the_effective_lr_against_hand_made_numbers():
    # epoch-0 norms: cross_entropy 0.951 and 0.952 (seeds 1, 2), mse_softmax 0.020 and 0.021
    spec = {("cross_entropy", 0.1): {"val": [0.9, 0.9]}, ("cross_entropy", 1.0): {"val": [0.8, 0.8]},
            ("mse_softmax", 5.0): {"val": [0.9, 0.9]}, ("mse_softmax", 50.0): {"val": [0.5, 0.5]}}
    s = study(spec, norms={"cross_entropy": 0.950, "mse_softmax": 0.019})
    ce, ms = (0.951 + 0.952) / 2, (0.020 + 0.021) / 2  # mean over every run of the loss (both lrs)
    assert s.of("cross_entropy", "scales").initial_norm == pytest.approx(ce)
    scale = s.of("mse_softmax", "scales")
    assert scale.runs == 4 and scale.scale == pytest.approx(ms / ce) and scale.predicted == pytest.approx(ce / ms)
    assert s.point("mse_softmax", 5.0).effective_lr == pytest.approx(5.0 * ms / ce)
    assert s.point("mse_softmax", 50.0).effective_lr == pytest.approx(50.0 * ms / ce)
    assert s.point("cross_entropy", 0.1).effective_lr == pytest.approx(0.1)
    assert s.reference_measured


def test_the_theory_is_the_quotient_of_the_declared_scales(declared_user_losses):
    assert lrstudy.theory_ratio("mse_softmax", "cross_entropy", 10) == pytest.approx(50)
    assert lrstudy.theory_ratio("mse_softmax", "cross_entropy", 4) == pytest.approx(8)
    logits = losses.loss_info("mse_logits").predicted_scale(10)
    assert lrstudy.theory_ratio("mse_logits", "cross_entropy", 10) == pytest.approx(1 / logits)
    assert lrstudy.theory_ratio("mse_softmax", "mse_logits", 10) == pytest.approx(logits / 0.02)  # any reference
    assert lrstudy.theory_ratio("ten_x", "cross_entropy", 10) == pytest.approx(0.1)  # a larger gradient
    assert lrstudy.theory_ratio("focal", "cross_entropy", 10) is None  # declares nothing: measured only
    assert lrstudy.theory_ratio("cross_entropy", "focal", 10) is None
    assert lrstudy.theory_ratio("not_registered", "cross_entropy", 10) is None


def test_a_user_loss_with_a_larger_gradient_is_predicted_a_smaller_lr(declared_user_losses):
    spec = {("cross_entropy", lr): {"val": [v, v], "val1": [v1, v1]}
            for lr, v, v1 in ((0.03, 0.8, 0.3), (0.1, 0.9, 0.6), (0.3, 0.95, 0.85), (1.0, 0.9, 0.8))}
    spec |= {("ten_x", lr): {"val": [v, v], "val1": [v1, v1]}
             for lr, v, v1 in ((0.003, 0.8, 0.3), (0.01, 0.9, 0.6), (0.03, 0.95, 0.85), (0.1, 0.9, 0.8))}
    s = study(spec, slow_loss="ten_x", norms={"cross_entropy": 0.9985, "ten_x": 9.9985})  # means 1 and 10
    scale = s.of("ten_x", "scales")
    assert scale.scale == pytest.approx(10, rel=1e-3) and scale.predicted == pytest.approx(0.1, rel=1e-3)
    assert scale.theory == pytest.approx(0.1) and scale.measured == pytest.approx(0.1)
    assert scale.reading == "whole"


def test_the_measured_ratio_next_to_the_predicted_and_the_theory():
    s = study(realistic())
    r = s.of("mse_softmax", "scales")
    ce = lrstudy.threshold_lr(list(CE1), [sum(v) / 2 for v in CE1.values()][:4] + [math.nan], 0.5)[0]
    ms = lrstudy.threshold_lr(list(MS1), [sum(v) / 2 for v in MS1.values()], 0.5)[0]
    assert r.measured == pytest.approx(ms / ce)
    ref, mine = s.of("cross_entropy", "scales").initial_norm, r.initial_norm
    assert r.predicted == pytest.approx(ref / mine) and r.theory == pytest.approx(50)
    assert r.reading == "more" and not r.seeds_straddle and r.factor == pytest.approx(r.measured / r.predicted)
    # seed by seed, on each seed's own curves after epoch 1 (MS1, CE1): mse_softmax crosses 0.5 between lr 3 and 10,
    # cross_entropy between lr 0.03 and 0.1

    def cross(lr0, v0, lr1, v1):
        return 10 ** (math.log10(lr0) + (0.5 - v0) / (v1 - v0) * (math.log10(lr1) - math.log10(lr0)))
    seed1 = cross(3, 0.40, 10, 0.70) / cross(0.03, 0.30, 0.1, 0.60)
    seed2 = cross(3, 0.42, 10, 0.72) / cross(0.03, 0.34, 0.1, 0.64)
    assert r.per_seed == (pytest.approx(seed1), pytest.approx(seed2))
    logits = s.of("mse_logits", "scales")  # reaches 0.5 at its smallest lr: bounded, not measured
    assert math.isnan(logits.measured) and logits.bound == "at most"


# --- the threshold lr ----------------------------------------------------------------------------------

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
    s = study(NOT_REACHED)
    assert s.of("mse_softmax").threshold_kind == "not reached" and s.of("cross_entropy").threshold_kind == "below"
    assert math.isnan(s.of("mse_softmax", "scales").measured) and s.of("mse_softmax", "scales").bound == ""


NOT_REACHED = {("cross_entropy", 0.1): {"val": [0.9, 0.9], "val1": [0.6, 0.62]},
               ("cross_entropy", 1.0): {"val": [0.92, 0.93], "val1": [0.7, 0.7]},
               ("mse_softmax", 1.0): {"val": [0.3, 0.3], "val1": [0.2, 0.2]},
               ("mse_softmax", 10.0): {"val": [0.4, 0.4], "val1": [0.3, 0.3]}}


def test_the_threshold_comes_from_the_caller():
    low, high = study(realistic(), threshold=0.3), study(realistic(), threshold=0.7)
    assert low.threshold == 0.3 and high.threshold == 0.7
    assert low.of("cross_entropy").threshold_lr < high.of("cross_entropy").threshold_lr


# --- the threshold-lr ratio per seed and over thresholds ---------------------------------------------------

def cross(lr0, v0, lr1, v1, t):
    """Where a straight line in log lr from (lr0, v0) to (lr1, v1) reaches t."""
    return 10 ** (math.log10(lr0) + (t - v0) / (v1 - v0) * (math.log10(lr1) - math.log10(lr0)))


def test_the_ratio_per_seed_and_per_threshold_against_hand_made_numbers():
    s = study(realistic(), thresholds=(0.3, 0.4, 0.6))
    sweep = s.of("mse_softmax", "sweeps")
    assert sweep.thresholds == (0.3, 0.4, 0.5, 0.6)  # the page's threshold joins the sweep
    assert s.of("cross_entropy", "sweeps") is None  # the reference has no ratio to itself
    # threshold 0.4, seed 1: mse_softmax reaches 0.40 exactly at lr 3; cross_entropy between 0.03 (0.30) and 0.1 (0.60)
    c = sweep.at(0.4, seed=1)
    assert c.kind == c.reference_kind == "interpolated"
    assert c.ratio == pytest.approx(3 / cross(0.03, 0.30, 0.1, 0.60, 0.4))
    # seed 2 at 0.6: mse_softmax between 3 (0.42) and 10 (0.72); cross_entropy at 0.1 (0.64) is above: 0.03 (0.34)..0.1
    expected = cross(3, 0.42, 10, 0.72, 0.6) / cross(0.03, 0.34, 0.1, 0.64, 0.6)
    assert sweep.at(0.6, seed=2).ratio == pytest.approx(expected)
    # threshold 0.3: seed 1 of cross_entropy reaches 0.30 at its smallest lr (0.03): below its grid, a bound
    c = sweep.at(0.3, seed=1)
    assert c.reference_kind == "below" and c.bound == "at least" and not c.measured
    assert c.bound_value == pytest.approx(c.lr / 0.03)
    # both seeds (and so the means) of cross_entropy are at or above 0.3 at lr 0.03: a bound for the means too
    means = sweep.at(0.3)
    assert not means.measured and means.bound == "at least"
    assert means.seeds_outside == (("cross_entropy", 1, "below"), ("cross_entropy", 2, "below"))
    assert ("cross_entropy", "below") in sweep.widen
    # the range over every measured ratio (means and seeds) and the grids' step
    measured = [c.ratio for c in sweep.crossings if c.measured]
    assert sweep.low == min(measured) and sweep.high == max(measured) and len(measured) == 9
    assert sweep.step == pytest.approx(10 / 3)  # 0.03 .. 0.1, 0.3 .. 1, 3 .. 10: ×3.33 the widest
    assert sweep.predicted == pytest.approx(s.of("mse_softmax", "scales").predicted)


def seed_below_the_grid() -> dict:
    spec = realistic()
    spec[("cross_entropy", 0.03)]["val1"] = [0.30, 0.55]  # means 0.425 < 0.5: the mean curve interpolates
    return spec


def test_a_seed_outside_the_grid_turns_the_pooled_ratio_into_no_point_estimate():
    """The mean curves cross 0.5 inside the grids while seed 2 of the reference is already above 0.5 at its
    smallest lr: the page's ratio is not a point estimate; seed 1's is, seed 2's is a bound."""
    s = study(seed_below_the_grid())
    r = s.of("mse_softmax", "scales")
    assert math.isnan(r.measured) and r.seeds_outside == (("cross_entropy", 2, "below"),) and r.per_seed == ()
    sweep = s.of("mse_softmax", "sweeps")
    assert sweep.at(0.5, seed=1).measured and sweep.at(0.5, seed=2).bound == "at least"
    assert not sweep.at(0.5).measured
    assert [c.seed for c in sweep.outside if c.threshold == 0.5] == [2]


def test_a_threshold_never_reached_asks_for_a_wider_grid_above_unless_the_top_diverged():
    s = study(NOT_REACHED)
    sweep = s.of("mse_softmax", "sweeps")
    assert ("mse_softmax", "above") in sweep.widen and ("cross_entropy", "below") in sweep.widen
    assert all(not c.measured for c in sweep.crossings)
    assert math.isnan(sweep.low) and math.isnan(sweep.high)
    spec = realistic()  # cross_entropy never reaches 0.9 after epoch 1, and its top lr diverged: no wider grid helps
    sweep = study(spec, thresholds=(0.9,)).of("mse_softmax", "sweeps")
    assert sweep.at(0.9).reference_kind == "not reached" and ("cross_entropy", "above") not in sweep.widen


def test_within_step_is_a_residual_smaller_than_one_grid_interval():
    s = study(realistic())
    sweep = s.of("mse_softmax", "sweeps")
    assert sweep.within_step == (max(sweep.high / sweep.predicted, sweep.predicted / sweep.low) < sweep.step)
    assert sweep.within_step  # 64× .. 135× against 46×: at most ×2.9, inside one ×3.33 interval


def test_a_curve_that_peaks_inside_its_grid_asks_for_no_wider_grid_above():
    spec = {("cross_entropy", lr): {"val": [0.9, 0.9], "val1": [v, v]}
            for lr, v in {0.1: 0.2, 1.0: 0.6, 10.0: 0.4}.items()}
    spec |= {("mse_softmax", lr): {"val": [0.5, 0.5], "val1": [v, v]} for lr, v in {1.0: 0.1, 10.0: 0.3}.items()}
    sweep = study(spec, thresholds=(0.7,)).of("mse_softmax", "sweeps")
    assert sweep.at(0.7).kind == sweep.at(0.7).reference_kind == "not reached"
    assert sweep.widen == (("mse_softmax", "above"),)  # cross_entropy peaks at lr 1: wider will not reach 0.7


# --- collapse on the reference's rising side -----------------------------------------------------------

COLLAPSE = {**{("cross_entropy", lr): {"val": [v, v], "val1": [v, v]}
               for lr, v in {0.01: 0.2, 0.1: 0.6, 1.0: 0.9, 10.0: 0.5}.items()},
            **{("mse_softmax", lr): {"val": [v, v], "val1": [v, v]}
               for lr, v in {0.316227766: 0.45, 10.0: 0.8, 100.0: 0.7}.items()}}
COLLAPSE_NORMS = {"cross_entropy": 0.9985, "mse_softmax": 0.0985}  # + 0.001 x seed: means 1.0 and 0.1


def test_the_collapse_measure_interpolates_the_reference_in_log_effective_lr():
    # reference rises 0.2 -> 0.6 -> 0.9 over lr 0.01, 0.1, 1 and falls at 10; the other loss has scale 0.1:
    # effective lrs 0.0316 (inside: reference there 0.2 + 0.4 * 0.5 = 0.4), 1.0 (0.9), 10 (outside)
    row = study(COLLAPSE, norms=COLLAPSE_NORMS).of("mse_softmax", "collapse1")
    assert (row.rising_low, row.rising_high, row.compared, row.after) == (0.01, 1.0, 2, "epoch 1")
    assert row.largest == pytest.approx(-0.1, abs=1e-6) and row.at_lr == 10.0  # 0.8 against 0.9
    assert row.median == pytest.approx((0.05 + 0.1) / 2, abs=1e-6)
    assert row.seed_spread == 0 and not row.collapsed and not row.within_seed_spread


def test_collapsed_is_within_the_collapse_tolerance():
    spec = {k: {"val": [v["val"][0] + (0.04 if k[0] == "mse_softmax" else 0)] * 2,
                "val1": [v["val1"][0]] * 2} for k, v in COLLAPSE.items()}
    spec[("mse_softmax", 0.316227766)]["val"] = [0.4 + 0.049] * 2  # reference 0.4 there
    spec[("mse_softmax", 10.0)]["val"] = [0.9 - 0.03] * 2
    row = study(spec, norms=COLLAPSE_NORMS).of("mse_softmax", "collapse_final")
    assert abs(row.largest) == pytest.approx(0.049) and row.collapsed and decisions.COLLAPSE == 0.05


def test_no_collapse_measure_without_a_rising_side():
    spec = {("cross_entropy", 0.1): {"val": [0.9, 0.9]}, ("cross_entropy", 1.0): {"val": [0.8, 0.8]},
            ("mse_softmax", 10.0): {"val": [0.5, 0.5]}, ("mse_softmax", 30.0): {"val": [0.6, 0.6]}}
    s = study(spec)
    assert s.collapse1 == () and s.of("mse_softmax", "collapse1") is None


# --- the paired comparison -----------------------------------------------------------------------------

def test_the_paired_comparison_numbers():
    row = study(pair([0.95, 0.96, 0.97], [0.94, 0.94, 0.955])).of("mse_softmax", "comparisons")
    diffs = pd.Series([0.01, 0.02, 0.015])
    low, high = stats.ci95(diffs)
    assert (row.lr, row.reference_lr, row.n_paired, row.reference) == (10.0, 0.3, 3, "cross_entropy")
    v = row.verdict
    assert v.difference == pytest.approx(diffs.mean()) and (v.low, v.high) == (pytest.approx(low), pytest.approx(high))
    assert row.test == "paired t" and v.p_holm == pytest.approx(row.p) and v.seeds == 3  # one comparison
    assert v.kind == decisions.HIGHER and v.detected and not row.same_function


@pytest.mark.parametrize("ms_test, ce_test, kind", [
    ([0.95, 0.96, 0.97], [0.94, 0.94, 0.955], decisions.HIGHER),
    ([0.93, 0.93, 0.94], [0.95, 0.952, 0.958], decisions.LOWER),
    ([0.950, 0.951, 0.952], [0.949, 0.951, 0.951], decisions.NEGLIGIBLE_KIND),
    ([0.95, 0.90, 0.97], [0.94, 0.95, 0.93], decisions.UNCLEAR),
    ([0.95, 0.96], [0.94, 0.942], decisions.TOO_FEW_SEEDS),  # detected by a t with df = 1: never a ranking
    ([0.950, 0.951], [0.950, 0.9505], decisions.NEGLIGIBLE_KIND),  # negligible before the seed count
    ([0.95, 0.96], [0.95, 0.96], decisions.IDENTICAL),
    ([0.95], [0.94], decisions.UNTESTED),
])
def test_the_verdict_is_decisions_difference(ms_test, ce_test, kind):
    assert study(pair(ms_test, ce_test)).of("mse_softmax", "comparisons").verdict.kind == kind


def test_holm_adjusts_across_the_losses_compared():
    spec = pair([0.95, 0.96, 0.97], [0.94, 0.94, 0.955])
    spec |= {("mse_logits", 0.3): {"val": [0.5] * 3}, ("mse_logits", 1.0): {"val": [0.94] * 3,
                                                                              "test": [0.93, 0.95, 0.90]},
             ("mse_logits", 3.0): {"val": [0.9] * 3}}
    c = study(spec).comparisons
    assert [row.loss for row in c] == ["mse_softmax", "mse_logits"]
    assert [row.verdict.p_holm for row in c] == pytest.approx(list(stats.holm([row.p for row in c])))


HOLM = {**pair([0.95, 0.90, 0.97], [0.94, 0.94, 0.94]),
        ("mse_logits", 0.3): {"val": [0.5] * 3},
        ("mse_logits", 1.0): {"val": [0.94] * 3, "test": [0.952, 0.96, 0.968]},
        ("mse_logits", 3.0): {"val": [0.9] * 3}}


def test_an_interval_that_excludes_0_where_holm_detects_nothing_is_not_worse_never_higher():
    """The 95% CI is per comparison, the test is adjusted across the losses: with two compared, a
    difference whose own interval just excludes 0 (p ~ 0.049) is not detected after Holm (~0.098); an
    interval wholly above 0 is still "not worse" by the margin (an interval claim, not a ranking)."""
    row = study(HOLM).of("mse_logits", "comparisons")
    assert row.verdict.low > 0 and row.p < 0.05 <= row.verdict.p_holm and row.verdict.kind == decisions.NOT_WORSE
    assert not row.verdict.detected


def test_a_loss_declared_the_same_function_as_the_reference_is_never_ranked():
    spec = pair([0.95, 0.96, 0.97], [0.94, 0.94, 0.955])
    spec = {("softmax_nll" if loss == "mse_softmax" else loss, lr): v for (loss, lr), v in spec.items()}
    row = study(spec).of("softmax_nll", "comparisons")
    assert row.same_function and row.verdict.kind == decisions.HIGHER  # the words say "the same function"


def test_the_reference_absent_computes_no_comparison_and_no_effective_lr():
    s = study({("mse_softmax", lr): {"val": v} for lr, v in MS.items()})
    assert s.comparisons == () and all(math.isnan(p.effective_lr) for p in s.points)
    assert s.of("cross_entropy") is None and not s.reference_measured and s.of("mse_softmax").lr == 10
    assert math.isnan(s.of("mse_softmax", "scales").predicted)


# --- saturation ----------------------------------------------------------------------------------------

def test_saturation_is_read_above_the_selected_lr_and_not_for_a_declared_cap():
    s = study(realistic())
    ms = s.of("mse_softmax", "saturation")
    assert (ms.reading, ms.lr, ms.saturated, ms.n, ms.softmax_head) == ("saturated", 100, 2, 2, True)
    assert ms.confident_wrong == pytest.approx(0.895) and not ms.vanished  # 0.3 against 0.02 at init
    ce = s.of("cross_entropy", "saturation")
    assert ce.reading == "none" and ce.lr == 1 and ce.cap is None
    logits = s.of("mse_logits", "saturation")
    assert logits.reading == "capped" and logits.cap == pytest.approx(math.e / (math.e + 9))


def test_saturation_in_one_seed_says_what_the_other_did():
    s = study(ONE_SEED_SATURATED)
    row = s.of("mse_softmax", "saturation")
    assert (row.saturated, row.n, row.confident_wrong) == (1, 2, 0.88)
    assert row.vanished and row.final_grad == 0 and row.initial_grad == pytest.approx(0.021)
    assert row.others_val == pytest.approx(0.09) and row.others_max_prob == pytest.approx(0.11)


ONE_SEED_SATURATED = {("mse_softmax", 10.0): {"val": [0.95, 0.94]},
                      ("mse_softmax", 100.0): {"val": [0.09, 0.12], "cw": [0.0, 0.88], "grad": [0.3, 0.0],
                                               "max_prob": [0.11, 0.9]}}


def test_a_selected_lr_at_the_top_of_the_grid_can_itself_be_saturated():
    """Saturation is read from the selected lr up: one that is the grid's largest (or only) lr and
    has most validation images confidently wrong in a seed is reported, not called "no saturation"."""
    row = study(TOP_SATURATED).of("mse_softmax", "saturation")
    assert (row.selected_lr, row.lr, row.saturated, row.reading) == (10.0, 10.0, 1, "saturated")


TOP_SATURATED = {("cross_entropy", 0.3): {"val": [0.95, 0.95]},
                 ("mse_softmax", 1.0): {"val": [0.10, 0.11]},
                 ("mse_softmax", 10.0): {"val": [0.16, 0.15], "cw": [0.84, 0.20]}}


def test_a_user_squared_error_declaring_a_cap_is_capped_and_one_declaring_nothing_is_measured(declared_user_losses):
    spec = {("cross_entropy", 0.3): {"val": [0.95, 0.95]}, ("cross_entropy", 1.0): {"val": [0.94, 0.94]}}
    spec |= {(loss, lr): {"val": [0.9, 0.9], "cw": [0.0, 0.0]} for loss in ("my_sq_capped", "my_sq")
             for lr in (0.3, 3.0)}
    s = study(spec, norms={"my_sq_capped": 0.2, "my_sq": 0.2})
    capped, measured = s.of("my_sq_capped", "saturation"), s.of("my_sq", "saturation")
    assert capped.reading == "capped" and capped.cap == pytest.approx(math.e / (math.e + 9))
    assert measured.reading == "none" and measured.cap is None and measured.confident_wrong == 0


def test_a_vanished_gradient_in_a_loss_that_declares_no_softmax_head_is_not_read_as_the_softmax_jacobian(
        declared_user_losses):
    spec = {("focal", 1.0): {"val": [0.9, 0.9]}, ("focal", 10.0): {"val": [0.1, 0.1], "cw": [0.9, 0.9],
                                                                   "grad": [0.0, 0.0]}}
    row = study(spec, norms={"focal": 0.8}).of("focal", "saturation")
    assert row.vanished and not row.softmax_head


def test_every_run_diverged():
    spec = {(loss, lr): {"val": [0.1, 0.1], "status": ["diverged"] * 2, "diverged_epoch": [1, 1]}
            for loss in ("cross_entropy", "mse_softmax") for lr in (0.1, 1.0)}
    s = study(spec)
    assert all(math.isnan(row.lr) for row in s.selected) and s.comparisons == ()
    assert all(row.reading == "diverged" for row in s.saturation)
    assert all(row.threshold_kind == "not reached" for row in s.selected)


# --- the why page's entry point ------------------------------------------------------------------------

def test_why_record_reads_the_csvs_or_is_none_when_the_study_is_off(tmp_path):
    assert lrstudy.why_record("", "", "cross_entropy", "mse_softmax", 0.5) is None
    runs, epochs = tables(realistic())
    gathered.write_gathered({"runs": runs, "epochs": epochs}, tmp_path, prefix="lr_study_")
    paths = str(tmp_path / "lr_study_runs.csv"), str(tmp_path / "lr_study_epochs.csv")
    s = lrstudy.why_record(*paths, "cross_entropy", "mse_softmax", 0.4)
    assert s.threshold == 0.4 and s.of("mse_softmax", "comparisons").reference_lr == 0.3
    runs.iloc[:-1].to_csv(paths[0], index=False)  # a row deleted by hand: refused, never shown as a result
    with pytest.raises(gathered.TableError, match="lr_study_runs.csv.*snakemake -R gather_lr_study"):
        lrstudy.why_record(*paths, "cross_entropy", "mse_softmax", 0.4)


def test_the_default_runs_tuned_comparison_says_what_its_two_seeds_can_conclude():
    """The default run's tuned pair (test accuracy 0.9551, 0.9439 against 0.9461, 0.9512): paired differences
    +0.90 and -0.73 points, sd 1.153 points, a 95% interval of ±12.706 x 1.153 / sqrt(2) = ±10.36 points:
    too few seeds, the ±1-point margin out of reach, 17 seeds for 80% power at that sd."""
    row = study(pair([0.9551, 0.9439], [0.9461, 0.9512])).of("mse_softmax", "comparisons")
    r = row.resolution
    assert row.verdict.kind == decisions.TOO_FEW_SEEDS and r.seeds == 2
    assert r.half_width == pytest.approx(0.1036, abs=5e-5) and r.sd == pytest.approx(0.011526, abs=1e-6)
    assert not r.reachable and r.needed == 17
    text = lrstudy_words.conclusion(study(pair([0.9551, 0.9439], [0.9461, 0.9512])))
    assert ("`mse_softmax` (lr 10) against `cross_entropy` (lr 0.3): the 95% interval is ±10.36 points over 2 seeds "
            "(the smallest difference they can tell from none), wider than the margin, so these runs cannot tell "
            "whether `mse_softmax` (lr 10) is worse than `cross_entropy` (lr 0.3) by 1 point or more; about 17 seeds "
            "per loss would give an 80% chance") in text
