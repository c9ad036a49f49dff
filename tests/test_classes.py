"""The number-of-classes study's analysis (lossbench.classes) on constructed tables, read on its records:
threshold lrs inside, below and above the grid, the per-seed threshold-lr ratio and its bounds, the
measured gradient ratio, the law per C within decisions.LAW_TOLERANCE, and the exponent fitted with
its interval (checked against a fit computed here by hand). No training and no words: every table is
written here; the page's words are golden files (test_classes_words.py).

Each seed's epoch-1 validation curve is linear in log2 lr (``SLOPE`` per doubling) through the level
at its threshold lr, so the interpolated threshold is exactly the one written: a test states the
thresholds and reads them back."""

from __future__ import annotations

import contextlib
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from lossbench import classes, decisions, losses

SLOPE = 0.05  # accuracy per doubling of the lr near the threshold
GRID = tuple(0.03 * 2**i for i in range(10))  # the reference grid: 0.03 ... 15.36, x2 apart
ISSUE = {2: (2.00, 2.00), 3: (4.11, 4.49), 5: (15.6, 19.5), 10: (59.7, 150)}  # issue 22's measured ratios
REF_THRESHOLD = {2: (0.1, 0.12), 3: (0.12, 0.13), 5: (0.15, 0.2), 10: (0.2, 0.5)}  # per C, seeds 0 and 1


@contextlib.contextmanager
def registered(name: str, grad_scale=None):
    """``name`` registered for the block (a user's loss; declaring ``grad_scale`` or nothing) unless it is already."""
    added = name not in losses.LOSSES
    if added:
        losses.register_loss(name, head="softmax", grad_scale=grad_scale)(lambda logits, labels: logits.sum())
    try:
        yield
    finally:
        if added:
            losses.LOSSES.pop(name)


@pytest.fixture
def summed():
    """``mse_softmax_sum`` as the brief declares it (2/C: the predicted lr factor C/2), if the registry lacks it."""
    with registered("mse_softmax_sum", lambda c: 2 / c):
        yield


@pytest.fixture
def undeclared():
    with registered("user_sq"):
        yield


def curve(lrs, threshold_lr: float, at: float) -> list[float]:
    """Validation accuracies after epoch 1 along ``lrs``: ``at`` at ``threshold_lr``, SLOPE per doubling."""
    return [min(1.0, max(0.0, at + SLOPE * math.log2(lr / threshold_lr))) for lr in lrs]


def peaked(lrs, values, peak: tuple[float, float]) -> list[float]:
    """A curve that peaks inside the grid instead of ``values``: ``peak``'s accuracy at its lr, SLOPE less per
    doubling either side (a larger lr does worse)."""
    top, at_lr = peak
    return [top - SLOPE * abs(math.log2(lr / at_lr)) for lr in lrs]


def tables(thresholds: dict, norms: dict | None = None, grids: dict | None = None, threshold: float = 0.5,
           diverged: dict | None = None, peaks: dict | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """classes_study_runs / classes_study_epochs as gather writes them. ``thresholds`` maps (C, loss) to the
    threshold lr per seed (seeds 0, 1, ...); ``grids`` (C, loss) to its lrs (default: GRID × the lr factor of
    the declared scales, GRID for a loss that declares none); ``norms`` (C, loss) to the initial logit-gradient
    norm (default 0.95 × the declared scale, +0.001 × seed); ``diverged`` (C, loss) to lrs whose runs diverged
    at epoch 1; ``peaks`` (C, loss) to (accuracy, lr): the curve peaks there (``peaked``). The variant names
    repeat across C (as the workflow may name them); the config hash differs."""
    runs, rows = [], []
    for (c, loss), per_seed in thresholds.items():
        scale = losses.loss_info(loss).predicted_scale(c)
        grid = (grids or {}).get((c, loss)) or tuple(lr / (scale or 1.0) for lr in GRID)
        at = classes.level(threshold, c)
        for seed, thr in enumerate(per_seed):
            norm = (norms or {}).get((c, loss), 0.95 * (scale or 1.0)) + 0.001 * seed
            values = curve(grid, thr, at)
            if (c, loss) in (peaks or {}):
                values = peaked(grid, values, peaks[(c, loss)])
            for lr, val in zip(grid, values):
                bad = lr in (diverged or {}).get((c, loss), ())
                variant = f"{loss}_lr{lr:g}"
                runs.append({"variant": variant, "loss": loss, "seed": seed, "config_hash": f"h{c}-{loss}-{lr:g}",
                             "status": "diverged" if bad else "ok", "diverged_epoch": 1 if bad else math.nan,
                             "epochs_run": 1, "lr": lr, "batch_size": 100, "epochs": 1, "hidden": "1200-600-300",
                             "val_accuracy": 0.1 if bad else val, "test_accuracy": 0.1 if bad else val - 0.01,
                             "initial_logit_grad_norm": norm, "classes": c, "optimizer": "sgd"})
                for epoch, accuracy in ((0, 1 / c), (1, 1 / c if bad else val)):
                    rows.append({"variant": variant, "loss": loss, "seed": seed, "config_hash": f"h{c}-{loss}-{lr:g}",
                                 "epoch": epoch, "logit_grad_norm": norm, "val_accuracy": accuracy})
    return pd.DataFrame(runs), pd.DataFrame(rows)


def spec(ratios: dict, loss: str = "mse_softmax") -> dict:
    """Thresholds giving the per-seed threshold-lr ratios ``ratios`` ({C: (seed 0, seed 1)}) of ``loss``."""
    out = {}
    for c, pair in ratios.items():
        ref = REF_THRESHOLD[c]
        out[(c, "cross_entropy")] = ref
        out[(c, loss)] = tuple(r * t for r, t in zip(pair, ref))
    return out


def study(thresholds, slow="mse_softmax", **kwargs) -> classes.Study:
    return classes.analyse(*tables(thresholds, **kwargs), reference="cross_entropy", slow_loss=slow, threshold=0.5)


def hand_fit(points) -> tuple[float, float, float]:
    """Slope of log ratio on log C and its 95% t-interval, by the textbook formulas."""
    x, y = np.log([c for c, _ in points]), np.log([r for _, r in points])
    slope = ((x - x.mean()) * (y - y.mean())).sum() / ((x - x.mean()) ** 2).sum()
    residual = y - (y.mean() + slope * (x - x.mean()))
    se = math.sqrt((residual**2).sum() / (len(x) - 2) / ((x - x.mean()) ** 2).sum())
    half = sps.t.ppf(0.975, len(x) - 2) * se
    return slope, slope - half, slope + half


def test_the_level_is_a_fraction_of_the_way_from_chance_to_one():
    assert classes.level(0.5, 2) == pytest.approx(0.75)
    assert classes.level(0.5, 10) == pytest.approx(0.55)
    assert classes.level(0.0, 5) == pytest.approx(0.2)


def test_the_law_holds_when_every_ratio_is_the_predicted_one():
    s = study(spec({c: (c**2 / 2, c**2 / 2) for c in (2, 3, 5, 10)}))
    law = s.law("mse_softmax")
    assert s.classes == (2, 3, 5, 10) and s.seeds == (0, 1) and law.declared
    for row in law.at:
        assert row.predicted == pytest.approx(row.classes**2 / 2)
        assert row.measured == pytest.approx((row.classes**2 / 2,) * 2)
        assert row.reading == "every"
        scale = 2 / row.classes**2  # 0.95 x 2/C^2 (+0.001 x seed) over 0.95 (+0.001 x seed)
        assert row.gradient == pytest.approx((scale, (0.95 * scale + 0.001) / 0.951))
        assert row.gradient_predicted == pytest.approx(2 / row.classes**2)
    assert law.holds_up_to == 10 and law.stops_at is None
    assert law.fit.exponent == pytest.approx(2) and law.fit.coefficient == pytest.approx(0.5)
    assert law.fit.points == 8 and law.fit.classes == (2, 3, 5, 10)
    assert law.fit.contains(2)
    assert law.predicted_fit.exponent == pytest.approx(2) and law.predicted_fit.coefficient == pytest.approx(0.5)
    assert law.gradient_fit.exponent == pytest.approx(hand_fit([(r.classes, g) for r in law.at for g in r.gradient])[0])
    assert law.gradient_fit.exponent == pytest.approx(-2, abs=0.02)  # the seed's +0.001 bends it a little


def test_the_issues_table_holds_at_small_c_and_stops_at_five():
    s = study(spec(ISSUE))
    law = s.law("mse_softmax")
    assert [row.reading for row in law.at] == ["every", "every", "some", "some"]
    assert [s.within for s in law.at[2].seeds] == [True, False]  # 15.6/12.5 = 1.25 within 1.5; 19.5/12.5 = 1.56 not
    assert law.holds_up_to == 3 and law.stops_at == 5
    assert law.at[3].measured == pytest.approx((59.7, 150))
    assert law.at[3].excess == pytest.approx((59.7 / 50, 3.0))
    slope, low, high = hand_fit([(c, r) for c, pair in ISSUE.items() for r in pair])
    assert law.fit.exponent == pytest.approx(slope)
    assert (law.fit.low, law.fit.high) == pytest.approx((low, high))
    assert law.fit.contains(2) is False and low > 2  # the interval excludes the predicted 2
    assert law.fit.exponent > 2  # the excess grows with C


def test_a_threshold_below_the_grid_is_a_bound_never_a_point():
    # cross_entropy's seed 1 at C = 10 reaches the level at the grid's smallest lr: below the grid
    thresholds = spec(ISSUE)
    thresholds[(10, "cross_entropy")] = (0.2, 0.01)
    thresholds[(10, "mse_softmax")] = (0.2 * 59.7, 3.0)
    s = study(thresholds)
    ref = s.thresholds_of("cross_entropy", 10)
    assert [t.place for t in ref] == ["inside", "below"]
    assert math.isnan(ref[1].lr) and ref[1].grid_low == pytest.approx(0.03)
    seed1 = s.law("mse_softmax").at[3].seeds[1]
    assert math.isnan(seed1.ratio)
    assert seed1.bound == "at least" and seed1.bound_value == pytest.approx(3.0 / 0.03)
    assert s.law("mse_softmax").at[3].measured == pytest.approx((59.7,))
    assert s.law("mse_softmax").fit.points == 7  # the bound never enters the fit
    # at least 100x against 50x predicted: beyond the band (x1.5) wherever the ratio lies
    assert seed1.within is False and s.law("mse_softmax").at[3].reading == "some"
    # a bound that reaches into the band is not read: at least 50x against 50x
    thresholds[(10, "mse_softmax")] = (0.2 * 59.7, 1.5 / 0.99)
    seed1 = study(thresholds).law("mse_softmax").at[3].seeds[1]
    assert seed1.bound == "at least" and seed1.within is None
    assert study(thresholds).law("mse_softmax").at[3].reading == "every"


def test_a_threshold_above_the_grid_bounds_the_ratio_from_below():
    thresholds = spec({2: (2, 2), 3: (4.5, 4.5)})
    thresholds[(3, "mse_softmax")] = (0.12 * 4.5, 1e4)  # never reached on its grid (up to 15.36 x 4.5)
    s = study(thresholds)
    mine = s.thresholds_of("mse_softmax", 3)
    assert [t.place for t in mine] == ["inside", "above"]
    seed1 = s.law("mse_softmax").at[1].seeds[1]
    assert seed1.bound == "at least" and seed1.bound_value == pytest.approx(GRID[-1] * 4.5 / 0.13)


def test_a_run_diverged_by_epoch_one_is_skipped():
    thresholds = spec({2: (2, 2), 5: (12.5, 12.5)})
    grid = tuple(lr / (2 / 25) for lr in GRID)
    # the point just above seed 0's threshold diverges: skipped, the curve (linear in log lr) is read across the
    # gap and gives the same threshold; read as chance, it would move the threshold up
    above = next(lr for lr in grid if lr > thresholds[(5, "mse_softmax")][0])
    s = study(thresholds, diverged={(5, "mse_softmax"): (above,)})
    mine = s.thresholds_of("mse_softmax", 5)
    assert mine[0].diverged == 1 and mine[0].place == "inside"
    assert mine[0].lr == pytest.approx(thresholds[(5, "mse_softmax")][0])
    # every lr from there diverged: no lr of the grid reaches the level
    # every lr from there diverged: no lr of the grid reaches the level, and a larger one diverges: not reached
    s = study(thresholds, diverged={(5, "mse_softmax"): tuple(lr for lr in grid if lr >= above)})
    assert [t.place for t in s.thresholds_of("mse_softmax", 5)] == ["never", "never"]
    assert [r.unreached for r in s.law("mse_softmax").at[1].seeds] == ["mse_softmax"] * 2


def test_a_curve_that_peaks_inside_its_grid_below_the_level_has_no_threshold_and_the_law_fails():
    """The default run's C = 10: mse_softmax's accuracy after one epoch peaks at 0.38 (lr 5) and falls above it,
    below the level 0.55. Its threshold is not above the grid (a larger lr does worse): no lr reaches the level, so
    no ratio exists, not even a bound, and the law (both reach the level an lr factor apart) fails for the seed.
    Still rising at the grid's largest lr, it is above the grid: a bound. The reference peaking instead: the same,
    named; both peaking: nothing to read."""
    thresholds = spec(ISSUE)
    mse_grid = tuple(lr / (2 / 100) for lr in GRID)  # 1.5 ... 768
    s = study(thresholds, peaks={(10, "mse_softmax"): (0.38, mse_grid[2])})
    found = s.thresholds_of("mse_softmax", 10)
    assert [t.place for t in found] == ["never", "never"]
    assert math.isnan(found[0].lr) and found[0].peak == pytest.approx(0.38) and found[0].peak_lr == mse_grid[2]
    row = s.law("mse_softmax").at[-1]
    assert [(r.unreached, r.within, r.bound) for r in row.seeds] == [("mse_softmax", False, "")] * 2
    assert all(math.isnan(r.ratio) and math.isnan(r.bound_value) for r in row.seeds)
    assert row.reading == "none" and s.law("mse_softmax").readings == ("every", "every", "some", "none")
    assert s.law("mse_softmax").fit.classes == (2, 3, 5)  # no ratio at 10 enters the fit
    # still rising at the largest lr: above the grid, a bound
    rising = study(thresholds, grids={(10, "mse_softmax"): mse_grid[:3]})
    assert [t.place for t in rising.thresholds_of("mse_softmax", 10)] == ["above", "above"]
    assert rising.law("mse_softmax").at[-1].seeds[0].bound == "at least"
    # the reference peaks below the level, the loss reaches it: the reference named
    s = study(thresholds, peaks={(10, "cross_entropy"): (0.5, GRID[3])})
    assert [r.unreached for r in s.law("mse_softmax").at[-1].seeds] == ["cross_entropy"] * 2
    # both: no reading
    s = study(thresholds, peaks={(10, "cross_entropy"): (0.5, GRID[3]), (10, "mse_softmax"): (0.38, mse_grid[2])})
    assert [(r.unreached, r.within) for r in s.law("mse_softmax").at[-1].seeds] == [("", None)] * 2
    assert s.law("mse_softmax").at[-1].reading == ""


def test_a_user_loss_without_a_declared_scale_is_measured_only(undeclared):
    thresholds = spec({2: (30, 33), 5: (300, 330), 10: (1200, 1320)}, loss="user_sq")
    s = study(thresholds, slow="user_sq", norms={(c, "user_sq"): 0.1 for c in (2, 5, 10)},
              grids={(c, "user_sq"): tuple(50 * lr for lr in GRID) for c in (2, 5, 10)})
    law = s.law("user_sq")
    assert not law.declared and law.predicted_fit is None
    assert all(row.predicted is None and row.gradient_predicted is None and row.reading == "" for row in law.at)
    assert law.holds_up_to is None and law.stops_at is None
    assert law.fit.exponent == pytest.approx(hand_fit([(c, r) for c, p in ((2, (30, 33)), (5, (300, 330)),
                                                                             (10, (1200, 1320))) for r in p])[0])
    assert law.at[0].gradient == pytest.approx((0.1 / 0.95, 0.101 / 0.951))


def test_the_summed_loss_predicts_c_over_two(summed):
    thresholds = spec({c: (c / 2, c / 2) for c in (2, 3, 5, 10)}, loss="mse_softmax_sum")
    law = study(thresholds, slow="mse_softmax_sum").law("mse_softmax_sum")
    assert [row.predicted for row in law.at] == pytest.approx([1, 1.5, 2.5, 5])
    assert law.predicted_fit.exponent == pytest.approx(1) and law.fit.exponent == pytest.approx(1)
    assert law.readings == ("every",) * 4


def test_the_slow_loss_comes_first_and_the_reference_has_no_law(summed):
    thresholds = spec({2: (2, 2), 3: (4.5, 4.5)}) | spec({2: (1, 1), 3: (1.5, 1.5)}, loss="mse_softmax_sum")
    s = study(thresholds, slow="mse_softmax_sum")
    assert [law.loss for law in s.laws] == ["mse_softmax_sum", "mse_softmax"]


def test_one_value_of_c_fits_nothing():
    law = study(spec({10: (50, 50)})).law("mse_softmax")
    assert law.fit is None and law.predicted_fit is None and law.at[0].reading == "every"


def test_two_points_fit_without_an_interval():
    law = study({(2, "cross_entropy"): (0.1,), (2, "mse_softmax"): (0.2,), (10, "cross_entropy"): (0.1,),
                 (10, "mse_softmax"): (5.0,)}).law("mse_softmax")
    assert law.fit.points == 2 and math.isnan(law.fit.low) and law.fit.contains(2) is None
    assert law.fit.exponent == pytest.approx(math.log(50 / 2) / math.log(5))


def test_an_empty_table_is_an_empty_study():
    s = classes.analyse(*classes.load("", ""), "cross_entropy", "mse_softmax", 0.5)
    assert s.empty and s.laws == ()


def test_a_ratio_just_inside_the_tolerance_agrees_and_just_outside_does_not():
    t = decisions.LAW_TOLERANCE
    law = study(spec({2: (2 * t * 0.999, 2 / t / 0.999), 3: (4.5 * t * 1.001, 4.5 / t * 0.999)})).law("mse_softmax")
    assert [s.within for s in law.at[0].seeds] == [True, True]
    assert [s.within for s in law.at[1].seeds] == [False, False] and law.at[1].reading == "none"
