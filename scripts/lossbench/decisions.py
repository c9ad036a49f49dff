"""Every threshold the report decides with, and the one rule that reads a difference.

A sentence on a page is a decision made from numbers; the numbers a decision compares with live
here and nowhere else, so that one difference reads the same on every page. Analysis modules
import these; wording modules name them in the sentences that use them (a tolerance looser
than ``NEGLIGIBLE`` is called by its own width, never "the same"). Nothing here reads a loss's
name: what a loss is comes from ``lossbench.losses``.

How to change a threshold: change it here; the golden pages (tests/golden/) show every sentence
that moves.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

ALPHA = 0.05  # family-wise error rate of the tests against a reference (Holm's method across them)
NEGLIGIBLE = 0.005  # ±0.5 accuracy points: a difference whose whole 95% CI lies within it is negligible
MIN_SEEDS_TO_RANK = 3  # seeds per side before a detected difference ranks two losses (a t with df >= 2)
# The pre-stated equivalence margin: ±1 point of test accuracy. A difference whose whole 95% CI lies within it is
# "equivalent within ±1 point"; one whose CI's lower end lies above -1 point is "not worse by 1 point or more"
# (non-inferior). Stated before any run of the full study (issue 22), never fitted to a result. Why 1 point: it
# is the question the report asks of a tuned loss ("not a worse objective?"): at the ~95% test accuracy the tuned
# losses reach here, one point is a fifth of the errors, a gap a user choosing a loss would act on, and twice
# NEGLIGIBLE (a difference too small to rank by); a tighter margin would need (margin ratio)^2 times the seeds.
EQUIVALENCE_MARGIN = 0.01
# A planned study's seeds: enough for this chance of concluding "equivalent" when the true difference is 0 and the
# paired differences spread as measured (the conventional 80%; stats.seeds_for_equivalence).
POWER = 0.8
MIN_SEEDS_FOR_BAND = 3  # a figure draws a 95% t-band of a mean only from this many seeds: with 2 (df = 1) the band
# is the mean ± 12.7 × sd/√2, on an accuracy axis often 0 to 1, and hides the sub-point gaps between seeds that
# are the evidence; with fewer, each seed is drawn (and where two variants share seeds, their paired difference)

TRACK = 0.02  # two curves within 2 accuracy points at every epoch track each other (looser than NEGLIGIBLE)
COLLAPSE = 0.05  # lr curves within 5 accuracy points of the reference's collapse onto it (looser still)
SATURATED = 0.5  # more than half the validation images confidently wrong (max p > 0.9): saturated outputs
NEAR_CHANCE = 2  # a best validation accuracy below twice chance (1/C): no lr of the grid trains the loss
GUESSING = 0.5  # one class predicted for more than half the test images: guessing, not recognising
EPS = 1e-9  # accuracies are fractions of an image set: compare gains and levels with this slack
CONFIDENT = 0.9  # what a run records as "confidently wrong": a wrong prediction with max probability above this
# (a loss whose declared softmax cap is at or below it cannot be confidently wrong: not read for saturation)
# the learning-rate study's threshold-lr ratio is read at each of these validation accuracies after epoch 1 too
# (and at the page's own threshold): how far the choice of threshold moves the ratio (issue 22, point 3)
THRESHOLD_SWEEP = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8)
# the residual factor (why page): a probed candidate's share of the residual lr factor, on a log scale
RESIDUAL_ACCOUNTS = 0.5  # covers at least half of it: it accounts for the residual
RESIDUAL_PART = 0.1  # a tenth or more: part of it; below (or the wrong way): none of it
WHOLE_SHIFT = 1.005  # a measured/predicted lr ratio within 0.5% of 1: the gradient scale accounts for all of it
VANISHED = 0.1  # a last-epoch logit gradient under a tenth of the initial one has vanished
LR_MATCH = 0.02  # a variant whose lr is within 2% of lr x a gradient ratio takes the matched step (a config's
# rounded lr, e.g. 0.002 for 0.1 x 0.0199, and a measured ratio known to about 1%)
LAYERS_AGREE = 0.10  # per-layer gradient ratios within 10% of each other come from one per-sample factor
STEP_MATCH = 0.10  # a ratio of effective steps within 10% of 1 is the same step
NEAR_UNIFORM = (0.5, 0.01)  # outputs close to uniform: mean max-probability below 0.5, under 1% confidently wrong
FLAT = 0.01  # a train loss within 1% of its epoch-0 value at every epoch draws as a flat line
# Mean curves closer than this at every epoch draw as one line at the report's figure sizes; each is named by
# its width in the sentence that uses it: metric -> (tolerance, what it is, the width in words).
COINCIDE = {"val_accuracy": (0.01, "validation accuracy", "within 1 point"),
            "train_loss_relative": (0.01, "train loss ÷ its epoch-0 value", "within 0.01"),
            "logit_grad_norm": (0.01, "logit-gradient norm", "within 1%"),
            "step_logit": (0.01, "effective step", "within 1%"),
            "val_mean_max_prob": (0.01, "mean max-probability", "within 0.01"),
            "val_confident_wrong": (0.001, "confidently wrong share", "within 0.1 points")}
LAYER_COINCIDE = 0.01  # every layer's effective step (lr x weight-gradient norm) within 1%, relative

# How "levelled off" is read on a long run (config horizon: plateau_window / plateau_gain give W and g):
# each seed's train loss must have settled too: over the last W epochs it moved (|change| per epoch) at
# less than this share of its own mean fall per epoch since epoch 0, or the validation curve's plateau is
# "not settled" (the network is still fitting its training set). A share of the loss's own pace, not of
# its value: a cross-entropy that has levelled off still halves every few epochs near 0 (MNIST, lr 0.1:
# -24% of its value over epochs 36-40, 0.3% of its mean pace), while MSE on softmax at lr 0.1 falls by
# under 1% of its value over epochs 16-20 at twice its mean pace, faster at the end (horizon.py).
TRAIN_LOSS_SETTLED = 0.05

# The kinds of ``difference``, in the order they are decided.
DIVERGED, IDENTICAL, UNTESTED, NEGLIGIBLE_KIND = "diverged", "identical", "untested", "negligible"
HIGHER, LOWER, EQUIVALENT, NOT_WORSE = "higher", "lower", "equivalent", "not worse"
TOO_FEW_SEEDS, UNCLEAR = "too few seeds", "unclear"
KINDS = (DIVERGED, IDENTICAL, UNTESTED, NEGLIGIBLE_KIND, HIGHER, LOWER, EQUIVALENT, NOT_WORSE, TOO_FEW_SEEDS, UNCLEAR)
# the kinds that leave the question open: the seeds could not decide it (``Resolution`` says what more would)
UNDECIDED = (TOO_FEW_SEEDS, UNCLEAR)


@dataclass(frozen=True)
class Difference:
    """One difference of mean accuracies (a minus b), and what it allows a page to say.

    ``kind`` is one of ``KINDS`` (see ``difference``); ``detected`` and ``ranked`` say whether the
    words "detected" and "higher/lower, a ranking" are earned."""

    kind: str
    difference: float
    low: float  # 95% CI of the difference (paired where seeds pair up)
    high: float
    p_holm: float  # Holm-adjusted p of the test used; NaN: no test
    seeds: int  # seeds per side that enter the test (pairs where seeds pair up)

    @property
    def detected(self) -> bool:
        return self.kind in (HIGHER, LOWER)

    @property
    def within_margin(self) -> bool:
        """The whole 95% CI lies within ±EQUIVALENCE_MARGIN (a detected difference can too: smaller than the margin)."""
        return _within(self.low, self.high, EQUIVALENCE_MARGIN)


def difference(difference: float, low: float, high: float, p_holm: float, seeds: int, *,
               identical: bool = False, diverged: bool = False) -> Difference:
    """Read one difference (a minus b: a variant minus the reference it is compared with), in this order:

    1. ``diverged``: a side has a diverged run: its accuracy is not a result to compare.
    2. ``identical``: every seed of both paired and equal: there is nothing to test.
    3. ``untested``: no interval (a side has one run).
    4. ``negligible``: the whole 95% CI lies within ±NEGLIGIBLE. Negligibility comes before
       significance: with enough seeds a test detects any non-zero difference, and a 0.1-point
       difference that a test detects is still too small to rank two losses by. So a difference
       is never "higher" on one page and "matches" on another: both pages read it here.
    5. ``higher`` / ``lower``: Holm-adjusted p < ALPHA with at least MIN_SEEDS_TO_RANK seeds per
       side: detected, and not negligible. A detected difference stays detected even when its
       interval also lies within the margin below (``Difference.within_margin`` lets a page say
       so): "equivalent" would hide a difference the seeds resolved.
    6. ``equivalent``: not detected, and the whole 95% CI lies within ±EQUIVALENCE_MARGIN: a
       difference of the margin or more is ruled out either way. This is TOST (two one-sided t-tests
       of "difference <= -margin" and ">= +margin", each at 2.5%: the one-sided level of the 95%
       interval, the convention of regulatory non-inferiority trials, stricter than the 90%
       interval of a 5% TOST), read from the interval every page already shows, so a reader can
       check it. It needs no MIN_SEEDS_TO_RANK: it ranks nothing, and like ``negligible`` it is
       an interval claim whose t-interval already pays for few seeds (with 2, ±12.7 sd/√2).
       ``negligible`` is the same claim at the tighter NEGLIGIBLE, so it is read first.
    7. ``not worse``: not detected, and the 95% CI's lower end lies above -EQUIVALENCE_MARGIN: a
       lies no more than the margin below b (non-inferiority: the one-sided test of
       "difference <= -margin" at 2.5%), though it may lie further above. Directional: it is a's
       claim against b, the question a page asks of a loss against its reference; the mirror
       claim (b not worse than a) is left "too few seeds" or "unclear", as no page asks it.
    8. ``too few seeds``: fewer than MIN_SEEDS_TO_RANK seeds per side (a t-test with one degree of
       freedom): no page says "beats", "detected" or "best" from it, whatever its p.
    9. ``unclear``: not detected, and the interval reaches past -EQUIVALENCE_MARGIN (and past
       ±NEGLIGIBLE): the seeds cannot tell (``UNDECIDED``; ``Resolution`` says what would).
    """
    record = dict(difference=difference, low=low, high=high, p_holm=p_holm, seeds=seeds)
    if diverged:
        return Difference(DIVERGED, **record)
    if identical:
        return Difference(IDENTICAL, **record)
    if _missing(low) or _missing(high):
        return Difference(UNTESTED, **record)
    if _within(low, high, NEGLIGIBLE):
        return Difference(NEGLIGIBLE_KIND, **record)
    if seeds >= MIN_SEEDS_TO_RANK and not _missing(p_holm) and p_holm < ALPHA:
        return Difference(HIGHER if difference > 0 else LOWER, **record)
    if _within(low, high, EQUIVALENCE_MARGIN):
        return Difference(EQUIVALENT, **record)
    if low > -EQUIVALENCE_MARGIN - EPS:
        return Difference(NOT_WORSE, **record)
    if seeds < MIN_SEEDS_TO_RANK:
        return Difference(TOO_FEW_SEEDS, **record)
    return Difference(UNCLEAR, **record)


def _within(low: float, high: float, margin: float) -> bool:
    """The interval [low, high] lies within ±margin (accuracies: with EPS of slack)."""
    return not (_missing(low) or _missing(high)) and -margin - EPS <= low and high <= margin + EPS


@dataclass(frozen=True)
class Resolution:
    """What one comparison's seeds can conclude at the spread they show (``stats.resolution`` computes it).

    ``half_width``: the 95% interval's half-width, ± (the smallest difference these runs can tell
    from none). An interval fits within ±``margin`` only when ``half_width`` is below it
    (``reachable``); ``needed``: the seeds (pairs) that give POWER chance of "equivalent" at this
    spread when the true difference is 0 (None: no paired spread to plan from)."""

    seeds: int  # pairs of seeds behind the interval (or the fewest per side, unpaired)
    half_width: float
    sd: float  # sd of the paired differences (NaN: unpaired)
    margin: float
    needed: int | None

    @property
    def reachable(self) -> bool:
        return self.half_width < self.margin - EPS


def can_rank(seeds: int) -> bool:
    """Whether ``seeds`` seeds per side are enough to call one loss "best" or "beats"."""
    return seeds >= MIN_SEEDS_TO_RANK


def near_chance(accuracy: float, classes: int) -> bool:
    """Below NEAR_CHANCE times chance (1/C): the loss did not train."""
    return accuracy < NEAR_CHANCE / classes


def never_confident(cap: float | None) -> bool:
    """A loss whose declared softmax cap is at or below CONFIDENT cannot be confidently wrong: its share of
    confidently wrong images is no evidence about saturation (None: not capped, or not declared)."""
    return cap is not None and cap <= CONFIDENT


def saturated(confident_wrong_share: float) -> bool:
    return confident_wrong_share > SATURATED


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))
# The gradient-scale law at one number of classes (classes_study): a seed's measured threshold-lr ratio within
# a factor 1.5 of the predicted one (either way) agrees with it. Wider than the seeds' own spread where the law
# is forced (MNIST C <= 5, 2 seeds: ratios 4.11 and 4.49, 15.6 and 19.5, x1.1 to x1.25 apart) and than the
# interpolation's error inside one grid step; narrower than one step of the default x2 grid, so a ratio off by
# a whole grid step never counts as agreeing.
LAW_TOLERANCE = 1.5
