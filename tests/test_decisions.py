"""The one rule that reads a difference (decisions.difference), the equivalence margin, and what a number of
seeds can conclude (stats.half_width, equivalence_power, seeds_for_equivalence, resolution)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.stats

from lossbench import decisions, stats
from lossbench.decisions import EQUIVALENCE_MARGIN, NEGLIGIBLE

PTS = 0.01  # one accuracy point


def kind(low, high, *, p_holm=math.nan, seeds=5, **flags) -> str:
    return decisions.difference((low + high) / 2, low, high, p_holm, seeds, **flags).kind


# --- the order of the verdicts ------------------------------------------------------------------------

def test_the_margin_is_wider_than_negligible_so_negligible_is_read_first():
    assert NEGLIGIBLE < EQUIVALENCE_MARGIN == 0.01
    assert kind(-0.3 * PTS, 0.4 * PTS) == decisions.NEGLIGIBLE_KIND  # within both: the tighter claim


@pytest.mark.parametrize("low, high, p_holm, seeds, expected", [
    (-0.8 * PTS, 0.9 * PTS, 0.5, 5, decisions.EQUIVALENT),      # within ±1, not ±0.5
    (-0.8 * PTS, 0.9 * PTS, 0.5, 2, decisions.EQUIVALENT),      # an interval claim: 2 seeds suffice
    (-1.0 * PTS, 1.0 * PTS, 0.5, 5, decisions.EQUIVALENT),      # the margin itself is inside
    (-0.9 * PTS, 5.0 * PTS, 0.5, 5, decisions.NOT_WORSE),       # above -1, past +1
    (-0.9 * PTS, 5.0 * PTS, 0.5, 2, decisions.NOT_WORSE),
    (0.5 * PTS, 9.0 * PTS, 0.09, 5, decisions.NOT_WORSE),       # excludes 0 but Holm does not detect it
    (-5.0 * PTS, 0.9 * PTS, 0.5, 5, decisions.UNCLEAR),         # the mirror claim is no verdict
    (-5.0 * PTS, 0.9 * PTS, 0.5, 2, decisions.TOO_FEW_SEEDS),
    (-1.1 * PTS, 0.9 * PTS, 0.5, 5, decisions.UNCLEAR),         # 0.1 points past the margin
    (0.6 * PTS, 0.9 * PTS, 0.001, 5, decisions.HIGHER),         # detected beats equivalent (within_margin says so)
    (-0.9 * PTS, -0.6 * PTS, 0.001, 5, decisions.LOWER),
    (0.6 * PTS, 0.9 * PTS, 0.001, 2, decisions.EQUIVALENT),     # 2 seeds never detect: the interval speaks
    (2.0 * PTS, 9.0 * PTS, 0.001, 5, decisions.HIGHER),
    (2.0 * PTS, 9.0 * PTS, 0.001, 2, decisions.NOT_WORSE),      # ... and never rank
])
def test_equivalent_and_not_worse_sit_after_detection_and_before_too_few_seeds(low, high, p_holm, seeds, expected):
    assert kind(low, high, p_holm=p_holm, seeds=seeds) == expected


def test_diverged_identical_and_untested_come_first_whatever_the_interval():
    assert kind(-0.1 * PTS, 0.1 * PTS, diverged=True) == decisions.DIVERGED
    assert kind(0.0, 0.0, identical=True) == decisions.IDENTICAL
    assert decisions.difference(0.0, math.nan, math.nan, math.nan, 1).kind == decisions.UNTESTED


def test_within_margin_tells_a_small_detected_difference_from_a_large_one():
    small = decisions.difference(0.0075, 0.006, 0.009, 0.001, 5)
    large = decisions.difference(0.05, 0.02, 0.08, 0.001, 5)
    assert small.kind == large.kind == decisions.HIGHER and small.within_margin and not large.within_margin
    assert decisions.UNDECIDED == (decisions.TOO_FEW_SEEDS, decisions.UNCLEAR)
    assert len(set(decisions.KINDS)) == len(decisions.KINDS) == 10


def test_the_interval_rule_is_tost_at_2_5_percent_per_side():
    """"Equivalent" (the 95% interval within ±margin) is exactly two one-sided t-tests, each rejecting at 2.5%:
    scipy's ttest_1samp against -margin ("greater") and +margin ("less"), on random paired differences."""
    rng = np.random.default_rng(0)
    agree = 0
    for _ in range(300):
        n = int(rng.integers(2, 12))
        diffs = rng.normal(rng.uniform(-1.5, 1.5) * PTS, rng.uniform(0.1, 1.5) * PTS, n)
        ci = scipy.stats.ttest_1samp(diffs, 0.0).confidence_interval(0.95)
        d = decisions.difference(diffs.mean(), ci.low, ci.high, 1.0, n)  # not detected
        below = scipy.stats.ttest_1samp(diffs, -EQUIVALENCE_MARGIN, alternative="greater").pvalue
        above = scipy.stats.ttest_1samp(diffs, EQUIVALENCE_MARGIN, alternative="less").pvalue
        tost = max(below, above) < 0.025
        assert (d.kind in (decisions.EQUIVALENT, decisions.NEGLIGIBLE_KIND)) == tost, (diffs, d)
        assert (d.kind in (decisions.EQUIVALENT, decisions.NEGLIGIBLE_KIND, decisions.NOT_WORSE)) == (below < 0.025)
        agree += tost
    assert 20 < agree < 280  # both outcomes were exercised


# --- what a number of seeds can conclude ---------------------------------------------------------------

def test_the_half_width_of_two_seeds_is_12_7_sd_over_root_2():
    """The default study's tuned comparison: paired differences +0.90 and -0.73 points (sd 1.153 points)."""
    sd = np.std([0.0090, -0.0073], ddof=1)
    assert stats.half_width(sd, 2) == pytest.approx(12.706 * sd / math.sqrt(2), rel=1e-4)
    assert stats.half_width(sd, 2) == pytest.approx(0.1036, abs=1e-4)  # ±10.4 points
    assert math.isnan(stats.half_width(sd, 1)) and math.isnan(stats.half_width(math.nan, 5))


@pytest.mark.parametrize("sd, n", [(0.005, 5), (0.01153, 17), (0.01, 13), (0.02, 8)])
def test_the_exact_power_matches_a_simulation(sd, n):
    """equivalence_power against 20,000 simulated studies of n paired seeds with true difference 0."""
    rng = np.random.default_rng(1)
    diffs = rng.normal(0.0, sd, (20_000, n))
    half = scipy.stats.t.ppf(0.975, n - 1) * diffs.std(axis=1, ddof=1) / math.sqrt(n)
    simulated = np.mean(np.abs(diffs.mean(axis=1)) + half <= EQUIVALENCE_MARGIN)
    assert stats.equivalence_power(sd, n) == pytest.approx(simulated, abs=0.012)


def test_the_seeds_needed_are_the_fewest_with_80_percent_power():
    for sd in (0.002, 0.005, 0.01153, 0.03):
        n = stats.seeds_for_equivalence(sd)
        assert stats.equivalence_power(sd, n) >= decisions.POWER
        assert n == 2 or stats.equivalence_power(sd, n - 1) < decisions.POWER
    # the default study's tuned comparison, sd 1.153 points: 17 seeds (the normal approximation says 14)
    assert stats.seeds_for_equivalence(0.01153) == 17
    approx = (scipy.stats.norm.ppf(0.975) + scipy.stats.norm.ppf(0.9)) ** 2 * (0.01153 / EQUIVALENCE_MARGIN) ** 2
    assert math.ceil(approx) == 14
    assert stats.seeds_for_equivalence(0.0) == 2 and stats.seeds_for_equivalence(math.nan) is None


def test_a_resolution_reads_the_sd_back_from_a_paired_interval():
    diffs = np.array([0.0090, -0.0073, 0.0020])
    ci = scipy.stats.ttest_1samp(diffs, 0.0).confidence_interval(0.95)
    r = stats.resolution(ci.low, ci.high, 3, paired=True)
    assert r.sd == pytest.approx(diffs.std(ddof=1)) and r.half_width == pytest.approx((ci.high - ci.low) / 2)
    assert r.needed == stats.seeds_for_equivalence(diffs.std(ddof=1)) and not r.reachable
    unpaired = stats.resolution(-0.004, 0.004, 3, paired=False)
    assert math.isnan(unpaired.sd) and unpaired.needed is None and unpaired.reachable
    assert stats.resolution(math.nan, math.nan, 1, paired=True) is None


def test_seeds_that_differ_by_the_same_amount_need_no_more_seeds():
    """Paired differences equal up to float noise (sd 1e-17, as runs whose accuracies all move by 0.01 give):
    the power is certain at 2 seeds, found at once (the search once doubled n until scipy refused it)."""
    assert stats.equivalence_power(1e-17, 2) == 1.0
    assert stats.seeds_for_equivalence(1e-17) == 2
    r = stats.resolution(0.0999999999999999, 0.1000000000000001, 3, paired=True)
    assert r.needed == 2 and r.half_width < 1e-15
