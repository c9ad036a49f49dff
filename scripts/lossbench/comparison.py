"""The comparison page: how the variants compare, as records, then words (figures: ``lossbench.plots``).

Analysis (``analyse``, ``ablation``, here) takes the gathered tables and returns frozen records: each
variant's numbers, the best variant (or why there is none), each variant's difference from the
reference read by ``decisions.difference``, and what each ablation shows against its own loss.
Wording (``lossbench.comparison_words``: ``conclusion``, ``ablation_text``, the display tables and
captions) turns those records into markdown and never decides anything itself. What a loss is
(which losses are one function) comes from ``lossbench.losses``; every threshold from
``lossbench.decisions``.

The notebook reports/notebooks/comparison.py calls ``analyse``, then ``comparison_words.conclusion``,
then the figures; tests/test_comparison.py checks the records, tests/golden/ the words.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from . import decisions, stats
from .decisions import Difference
from .losses import loss_info, same_function

# --- analysis -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Variant:
    """One variant's row of the summary, and whether it is an ablation (changes more than the loss)."""

    name: str
    loss: str
    lr: float
    n: int
    n_diverged: int
    mean: float
    low: float  # 95% t-interval of the mean test accuracy (NaN with one run)
    high: float
    ablation: bool


@dataclass(frozen=True)
class Verdict:
    """One variant against the reference: the difference as ``decisions.difference`` reads it, the
    test behind it, and what a page needs to say why there is no test."""

    variant: str
    reference: str
    difference: Difference
    test: str  # "paired t", "Welch t", or "" (no test)
    p: float  # raw p of the test used
    effect: float  # d_z with the paired test, Cohen's d with Welch's
    n_paired: int
    diverged: tuple[tuple[str, int, int], ...] = ()  # (variant, diverged runs, runs) of each side that diverged
    one_run: tuple[str, ...] = ()  # the sides with fewer than two runs
    no_spread: bool = False  # every run of each side gives one accuracy: no spread to test
    identical_curves: bool = False  # with epochs: every seed's history the same, bit for bit
    resolution: decisions.Resolution | None = None  # what its seeds can conclude (None: no interval)


@dataclass(frozen=True)
class Best:
    """The best mean test accuracy among the variants that are ranked (not ablations, no diverged
    run). ``variants``: the top one(s) and the registered forms of the same function beside them
    (``losses.same_function``), never one form singled out; ``family`` names that function when
    they are forms of one. ``ranked``: enough seeds (``decisions.can_rank``) to call it best."""

    variants: tuple[str, ...]
    low: float  # the range of their mean test accuracies
    high: float
    family: str | None
    tied: bool  # several functions share the top mean
    ranked: bool
    seeds: int  # the fewest seeds of a ranked variant
    left_out: tuple[str, ...]  # variants with diverged runs


@dataclass(frozen=True)
class Ablation:
    """What one ablation shows: its test accuracy against its own loss at the shared settings
    (``base``), read by ``decisions.difference``, and its difference from the reference (a
    comparison of settings as much as of losses: never a ranking)."""

    variant: str
    loss: str
    changed: tuple[tuple[str, object, object], ...]  # (setting, its value, the shared value)
    mean: float
    n: int
    n_diverged: int
    base: str | None = None
    base_mean: float = math.nan
    base_diverged: bool = False
    difference: Difference | None = None
    paired: bool = False  # the interval is over paired seeds (else Welch's)
    against: Verdict | None = None


@dataclass(frozen=True)
class Comparison:
    reference: str
    classes: int
    variants: tuple[Variant, ...]
    shared: tuple[tuple[str, object], ...]  # the shared settings, in order
    best: Best | None  # None: one variant only
    verdicts: tuple[Verdict, ...]  # table order; ablations that did not diverge are in ``ablations`` instead
    ablations: tuple[Ablation, ...]
    tested: int  # comparisons with a test (the family Holm adjusts over)
    reference_changed: tuple[tuple[str, object, object], ...] = ()  # the reference's own changes, if an ablation

    def variant(self, name: str) -> Variant | None:
        return next((v for v in self.variants if v.name == name), None)

    @property
    def undecided(self) -> tuple[Verdict, ...]:
        """The losses' comparisons with the reference that these seeds leave open (``decisions.UNDECIDED``),
        each with what its seeds can conclude (``Verdict.resolution``)."""
        return tuple(v for v in self.verdicts if v.difference.kind in decisions.UNDECIDED and v.resolution)


def _changed(table: pd.DataFrame, variant: str, reference: str) -> tuple:
    return tuple((k, v, shared) for k, (v, shared) in stats.changed_settings(table, variant, reference).items())


def _variants(summary: pd.DataFrame, ablated) -> tuple[Variant, ...]:
    return tuple(Variant(r["variant"], r["loss"], float(r["lr"]), int(r["n"]), int(r["n_diverged"]),
                         float(r["test_accuracy_mean"]), float(r["test_accuracy_ci95_low"]),
                         float(r["test_accuracy_ci95_high"]), r["variant"] in ablated) for _, r in summary.iterrows())


def _best(variants: tuple[Variant, ...]) -> Best | None:
    if len(variants) == 1:
        return None
    left_out = tuple(v.name for v in variants if v.n_diverged > 0)
    ranked = [v for v in variants if not v.ablation and v.n_diverged == 0]
    if not ranked:
        return Best((), math.nan, math.nan, None, False, False, 0, left_out)
    top = max(v.mean for v in ranked)
    first = [v for v in ranked if v.mean == top]
    chosen = [v for v in ranked if any(same_function(v.loss, f.loss) for f in first)]
    families = {loss_info(v.loss).family for v in chosen}
    family = next(iter(families)) if len(families) == 1 and len({v.loss for v in chosen}) > 1 else None
    fewest = min(v.n for v in ranked)
    return Best(tuple(v.name for v in chosen), min(v.mean for v in chosen), top, family,
                tied=len(chosen) > 1 and family is None, ranked=decisions.can_rank(fewest), seeds=fewest,
                left_out=left_out)


def _verdict(row, runs: pd.DataFrame | None, s: pd.DataFrame, reference: str, epochs: pd.DataFrame | None
             ) -> Verdict:
    """One row of ``stats.compare_to_reference`` read by ``decisions.difference``."""
    sides = (row.variant, reference)
    diverged = tuple((v, int(s.loc[v, "n_diverged"]), int(s.loc[v, "n"])) for v in sides if s.loc[v, "n_diverged"] > 0)
    identical = bool(getattr(row, "identical", False)) and row.n_paired >= 1
    one_run = tuple(v for v in sides if s.loc[v, "n"] < 2)
    no_spread = False
    low, high = row.difference_ci95_low, row.difference_ci95_high
    if not row.test and not identical:  # no test: no interval to read either (a degenerate (d, d) is none)
        low = high = math.nan
        if runs is not None and not one_run:
            no_spread = all(runs.loc[runs["variant"] == v, "test_accuracy"].nunique() == 1 for v in sides)
    n_seeds = row.n_paired if row.test == "paired t" else min(int(s.loc[v, "n"]) for v in sides)
    difference = decisions.difference(row.difference, low, high, row.p_holm, n_seeds, identical=identical,
                                      diverged=bool(diverged))
    effect = row.paired_dz if row.test == "paired t" else row.cohens_d
    curves = identical and epochs is not None and stats.identical_runs(epochs, row.variant, reference)
    return Verdict(row.variant, reference, difference, row.test or "", row.p, effect, int(row.n_paired), diverged,
                   one_run, no_spread, curves, stats.resolution(low, high, n_seeds, row.test == "paired t"))


def ablation(variant: str, summary: pd.DataFrame, runs: pd.DataFrame, reference: str,
             against: Verdict | None = None) -> Ablation:
    """What ``variant`` (an ablation) shows against its own loss at the shared settings."""
    s = summary.set_index("variant")
    row = s.loc[variant]
    record = dict(variant=variant, loss=row["loss"], changed=_changed(runs, variant, reference),
                  mean=float(row["test_accuracy_mean"]), n=int(row["n"]), n_diverged=int(row["n_diverged"]))
    base = stats.ablation_base(runs, variant, reference)
    base = base if base in s.index else None
    if row["n_diverged"] > 0:
        return Ablation(**record, base=base)
    if against is not None and (variant == reference or base == reference or s.loc[reference, "n_diverged"] > 0):
        against = None  # against its own base, or a reference that diverged: nothing more to say
    record.update(base=base, against=against)
    if base is None:
        return Ablation(**record)
    record.update(base_mean=float(s.loc[base, "test_accuracy_mean"]))
    if s.loc[base, "n_diverged"] > 0:
        return Ablation(**record, base_diverged=True)
    pair = stats.compare_pair(runs, variant, base)
    paired = pair["n_paired"] >= 2
    n_seeds = pair["n_paired"] if paired else min(pair["n"], int(s.loc[base, "n"]))
    difference = decisions.difference(pair["difference"], pair["difference_ci95_low"], pair["difference_ci95_high"],
                                      pair["p"], n_seeds, identical=pair["identical"])
    return Ablation(**record, difference=difference, paired=paired)


def analyse(summary: pd.DataFrame, runs: pd.DataFrame, reference: str, classes: int,
            epochs: pd.DataFrame | None = None) -> Comparison:
    """The comparison page's records from the summary and runs tables (and, for "identical", the
    epochs). The tests against the reference are ``stats.compare_to_reference``'s."""
    ablated = [v for v in stats.ablations(runs, reference) if v in set(summary["variant"])]
    variants = _variants(summary, ablated)
    s = summary.set_index("variant")
    verdicts, ablations, tested = [], [], 0
    if reference in s.index:
        table = stats.compare_to_reference(runs, reference)
        table = table[table["variant"].isin(s.index)]
        tested = int(table["p"].notna().sum())
        by_variant = {}
        for row in table.itertuples():
            by_variant[row.variant] = _verdict(row, runs, s, reference, epochs)
        for v in variants:
            if v.name == reference or v.name not in by_variant:
                continue
            if v.ablation and v.n_diverged == 0:
                ablations.append(ablation(v.name, summary, runs, reference, by_variant[v.name]))
            else:
                verdicts.append(by_variant[v.name])
    changed = _changed(runs, reference, reference) if reference in ablated else ()
    return Comparison(reference, classes, variants, tuple(stats.shared_settings(runs, reference).items()),
                      _best(variants), tuple(verdicts), tuple(ablations), tested, changed)
