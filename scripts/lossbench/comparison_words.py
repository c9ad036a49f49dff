"""The comparison page's words: the records of ``lossbench.comparison`` turned into markdown and display
tables; nothing here decides anything (every decision is in the records, every threshold in
``lossbench.decisions``).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from . import decisions, stats
from .comparison import Ablation, Comparison, Variant, Verdict
from .decisions import ALPHA, EQUIVALENCE_MARGIN, NEGLIGIBLE, Difference
from .words import (
    SETTING_NAMES,
    acc,
    changed_text,
    ci,
    ci_points,
    margin_text,
    missing,
    names,
    number,
    p_or_blank,
    p_value,
    points,
    resolution_sentence,
    seeds,
    setting_value,
    settings_text,
)

# --- wording ----------------------------------------------------------------------------------------


def _variant_ci(v: Variant, classes: int) -> str:
    return ci(v.low, v.high, v.n, stats.chance(classes))


def _effect(verdict: Verdict) -> str:
    if verdict.test == "paired t":
        return f"d_z = {number(verdict.effect, '.2g')}"
    return f"Cohen's d = {number(verdict.effect, '.2g')}"


def _tested(d: Difference, verdict: Verdict) -> str:
    """'95% CI ...; paired t test, Holm-adjusted p = ..., raw p = ...'."""
    text = ci_points(d.low, d.high)
    if verdict.test:
        text += f"; {verdict.test} test, Holm-adjusted p {p_value(d.p_holm)}, raw p {p_value(verdict.p)}"
    return text


def verdict_text(verdict: Verdict) -> str:
    """One difference from the reference in words: the kind ``decisions.difference`` gave it."""
    d, ref = verdict.difference, verdict.reference
    if d.kind == decisions.DIVERGED:
        who = " and ".join(f"`{v}` diverged in {k} of {n} runs" for v, k, n in verdict.diverged)
        return f"not judged: {who} ({points(d.difference)} points apart)"
    if d.kind == decisions.IDENTICAL:
        every = "on its one seed" if verdict.n_paired == 1 else f"on every one of the {verdict.n_paired} seeds"
        if verdict.identical_curves:
            return (f"**identical**: {every} the learning curves and test accuracy are the same, bit for bit, so "
                    "there is no difference to test")
        return (f"the same test accuracy {every} (difference 0{'' if verdict.n_paired == 1 else ' on each'}), so "
                "there is no difference to test")
    if d.kind == decisions.UNTESTED:
        if verdict.one_run:
            few = verdict.one_run
            return (f"not tested: {' and '.join(f'`{v}`' for v in few)} {'has' if len(few) == 1 else 'have'} one "
                    f"run (a t-test needs two or more); {points(d.difference)} points apart")
        if verdict.no_spread:
            return (f"not tested: every run of `{verdict.variant}` gives one accuracy and every run of `{ref}` "
                    f"another, so there is no spread to test; {points(d.difference)} points apart")
        return f"not tested: no test could be run on these runs; {points(d.difference)} points apart"
    width = f"±{NEGLIGIBLE * 100:g} points"
    if d.kind == decisions.NEGLIGIBLE_KIND:
        return (f"negligible: {points(d.difference)} points ({_tested(d, verdict)}): the whole interval lies within "
                f"{width}, so the difference is negligible")
    margin = margin_text(EQUIVALENCE_MARGIN)
    if d.kind in (decisions.HIGHER, decisions.LOWER):
        return (f"**{abs(d.difference) * 100:.1f} points {d.kind}** ({_tested(d, verdict)}, {_effect(verdict)})"
                + (f"; the whole interval lies within the pre-stated margin of {margin}, so it is {d.kind} by less "
                   "than the margin" if d.within_margin else ""))
    if d.kind == decisions.EQUIVALENT:
        return (f"**equivalent within {margin}**: {points(d.difference)} points ({_tested(d, verdict)}): the whole "
                f"interval lies within the pre-stated margin of {margin} (not within {width}: not negligible)")
    if d.kind == decisions.NOT_WORSE:
        return (f"**not worse by {margin.removeprefix('±')} or more**: {points(d.difference)} points "
                f"({_tested(d, verdict)}): the whole interval lies above -{margin.removeprefix('±')}, the "
                f"pre-stated margin, but reaches past +{margin.removeprefix('±')}, so it is not equivalent"
                + _no_rank(d))
    if d.kind == decisions.TOO_FEW_SEEDS:
        return (f"not ranked: {points(d.difference)} points ({_tested(d, verdict)}) over {d.seeds} seeds per side; "
                f"a ranking needs {decisions.MIN_SEEDS_TO_RANK} or more (a t-test with fewer has "
                f"{max(d.seeds - 1, 0)} degree{'s' if d.seeds - 1 != 1 else ''} of freedom)")
    if d.high < -EQUIVALENCE_MARGIN:  # the interval is per comparison; the test is adjusted for all of them
        return (f"no detectable difference ({points(d.difference)} points, {_tested(d, verdict)}): the whole interval "
                f"lies below -{margin.removeprefix('±')}, the pre-stated margin, so it is not \"not worse\", but "
                f"Holm's adjustment across the comparisons leaves it undetected at p < {ALPHA}")
    return (f"no detectable difference ({points(d.difference)} points, {_tested(d, verdict)}): the interval reaches "
            f"below -{margin.removeprefix('±')}, the pre-stated margin, too wide to call the difference negligible, "
            "equivalent or not worse")


def _no_rank(d: Difference) -> str:
    """'; with 2 seeds per side this ranks nothing (...)', where a ranking needs more seeds."""
    if decisions.can_rank(d.seeds):
        return ""
    return (f"; with {seeds(d.seeds)} per side this ranks nothing (a ranking needs {decisions.MIN_SEEDS_TO_RANK} "
            "or more)")


def _setting_words(changed, which: int) -> str:
    """'lr 5' (which=1: the ablation's value) or 'lr 0.1' (which=2: the shared value)."""
    return ", ".join(f"{SETTING_NAMES[k]} {setting_value(k, (v, s)[which - 1])}" for k, v, s in changed)


def ablation_text(a: Ablation) -> str:
    """What an ablation shows, in words: never "best", never "beats"."""
    head = f"`{a.variant}` (`{a.loss}` at {changed_text({k: (v, s) for k, v, s in a.changed})})"
    if a.n_diverged > 0:
        return f"{head}: ⚠ diverged in {a.n_diverged} of {a.n} runs, so its accuracy is not judged"
    if a.base is None:
        text = (f"{head}: {acc(a.mean)} test accuracy; no `{a.loss}` variant at the shared settings to compare it "
                "with, so what the change does is not measured here")
    elif a.base_diverged:
        text = f"{head}: {acc(a.mean)} test accuracy; `{a.base}` diverged, so the change is not judged"
    else:
        text = _change_text(a, head)
    if a.against is not None:
        r = a.against.difference
        text += (f". Against the reference `{a.against.reference}`: {points(r.difference)} points "
                 f"({ci_points(r.low, r.high)}"
                 + (f", Holm-adjusted p {p_value(r.p_holm)}" if not missing(r.p_holm) else "")
                 + "), a comparison of settings as much as of losses, not a ranking")
    return text


def _change_text(a: Ablation, head: str) -> str:
    d = a.difference
    setting, base_setting = _setting_words(a.changed, 1), _setting_words(a.changed, 2)
    interval = f"{points(d.difference)} points, {ci_points(d.low, d.high)}"
    if not missing(d.low):
        interval += f", paired over {d.seeds} seeds" if a.paired else ", Welch interval: the seeds do not pair up"
    against = f"against {acc(a.base_mean)} for `{a.base}` at {base_setting}"
    if d.kind == decisions.UNTESTED:
        text = (f"{head}: at {setting} it reaches {acc(a.mean)} test accuracy, {against} "
                f"({points(d.difference)} points): not tested, as a side has one run (a t-test needs two or more)")
    elif d.kind == decisions.HIGHER:
        text = f"{head}: at {setting} it recovers {acc(a.mean)} test accuracy, {against} ({interval})"
    elif d.kind == decisions.LOWER:
        text = (f"{head}: at {setting} it reaches {acc(a.mean)} test accuracy, {against} ({interval}): the change "
                "costs accuracy in this budget")
    elif d.kind == decisions.IDENTICAL:
        text = f"{head}: at {setting} the same test accuracy as `{a.base}` at {base_setting} on every seed"
    elif d.kind == decisions.NEGLIGIBLE_KIND:
        text = (f"{head}: at {setting} no change beyond ±{NEGLIGIBLE * 100:g} points from `{a.base}` at "
                f"{base_setting} ({acc(a.mean)} against {acc(a.base_mean)}; {interval})")
    elif d.kind == decisions.EQUIVALENT:
        text = (f"{head}: at {setting} within {margin_text(EQUIVALENCE_MARGIN)} of `{a.base}` at {base_setting}, the "
                f"pre-stated margin ({acc(a.mean)} against {acc(a.base_mean)}; {interval})")
    elif d.kind == decisions.NOT_WORSE:
        text = (f"{head}: at {setting} it reaches {acc(a.mean)} test accuracy, {against} ({interval}): not worse by "
                f"{margin_text(EQUIVALENCE_MARGIN).removeprefix('±')} or more, the pre-stated margin" + _no_rank(d))
    elif d.kind == decisions.TOO_FEW_SEEDS:
        text = (f"{head}: at {setting} it reaches {acc(a.mean)} test accuracy, {against} ({interval}): too few seeds "
                f"to call it a change (a ranking needs {decisions.MIN_SEEDS_TO_RANK} or more)")
    else:
        text = (f"{head}: at {setting} no detectable change from `{a.base}` at {base_setting} ({acc(a.mean)} against "
                f"{acc(a.base_mean)}; {interval})")
    return text


def _best_text(c: Comparison) -> str:
    b = c.best
    if not b.variants:  # (the shared settings are some variant's: a ranked variant exists unless all diverged)
        return "- **No best variant:** every variant has diverged runs, so none is ranked."
    first = c.variant(b.variants[0])
    if b.family is not None:
        who = (f"{names(b.variants)} (one function, registered as {len(b.variants)} forms: `{b.family}`'s family) "
               f"with {acc(b.low)}–{acc(b.high)}" if b.low != b.high else
               f"{names(b.variants)} (one function, registered as {len(b.variants)} forms: `{b.family}`'s family) "
               f"with {acc(b.high)}")
    elif len(b.variants) == 1:
        who = f"`{first.name}` with {acc(first.mean)} (95% CI {_variant_ci(first, c.classes)}, n = {first.n})"
    else:
        who = f"{names(b.variants)} with {acc(b.high)} (tied)"
    head = "**Best mean test accuracy:**" if b.ranked else "**Highest mean test accuracy:**"
    text = (f"- {head} {who}, at the shared settings ({settings_text(dict(c.shared))}; one lr for every loss, not "
            "tuned per loss, so this ranks the losses at that lr only)")
    if not b.ranked:
        text = (f"- {head} {who}, at the shared settings ({settings_text(dict(c.shared))}); with "
                f"{seeds(b.seeds)} per variant this is no ranking (a ranking needs "
                f"{decisions.MIN_SEEDS_TO_RANK} or more)")
    text += f"; {names(b.left_out)} not ranked (diverged runs)" if b.left_out else ""
    text += "; ablations are not ranked (below)" if c.ablations else ""
    return text + ". Whether two losses differ is read from the tests below, not from this order."


def conclusion(c: Comparison) -> str:
    """The comparison page's conclusion (markdown) from its records."""
    lines = []
    ref = c.variant(c.reference)
    if c.best is None:
        only = c.variants[0]
        lines.append(f"- **One variant** in this sweep, `{only.name}`: mean test accuracy {acc(only.mean)} "
                     f"(95% CI {_variant_ci(only, c.classes)}, n = {only.n}); nothing to rank or test it against.")
    else:
        lines.append(_best_text(c))
    if ref is None:
        lines.append(f"- **Reference** `{c.reference}` has no runs in these tables: nothing is tested against it.")
    elif len(c.variants) > 1:
        note = (f"; an ablation ({changed_text({k: (v, s) for k, v, s in c.reference_changed})}), so a difference "
                "from it mixes the loss with that setting" if c.reference_changed else "")
        lines.append(f"- **Reference** `{c.reference}`: {acc(ref.mean)} (95% CI {_variant_ci(ref, c.classes)}){note}.")
    lines += [f"- `{v.variant}` vs `{c.reference}`: {verdict_text(v)}." for v in c.verdicts]
    if c.tested > 1:
        lines.append(f"- p-values are adjusted with Holm's method across the {c.tested} comparisons with "
                     f"`{c.reference}`; a difference counts at adjusted p < {ALPHA} with "
                     f"{decisions.MIN_SEEDS_TO_RANK} seeds or more per side, and a difference whose whole 95% CI "
                     f"lies within ±{NEGLIGIBLE * 100:g} points is negligible whatever its p; short of that bar, a "
                     "difference is equivalent when its whole 95% CI lies within "
                     f"{margin_text(EQUIVALENCE_MARGIN)} (the pre-stated margin), and not worse when the whole CI "
                     f"lies above -{margin_text(EQUIVALENCE_MARGIN).removeprefix('±')}; the 95% CI is that of "
                     "the difference (of the paired differences where seeds pair up).")
    resolution = resolution_sentence(f"`{c.reference}`", [(f"`{v.variant}`", v.difference, v.resolution)
                                                           for v in c.verdicts])
    lines += [f"- {resolution}"] if resolution else []
    others = [a for a in c.ablations if a.variant != c.reference]
    if others:
        lines.append("- **Ablations**: each changes a setting besides the loss, so none is ranked with the losses; "
                     "what each shows:")
        lines += [f"  - {ablation_text(a)}." for a in others]
    if c.variants and all(v.n < 2 for v in c.variants):
        lines.append("- One seed per variant: no interval and no test (both need two seeds or more); "
                     "add seeds in the config to measure the spread.")
    lines += [f"- ⚠ `{v.name}`: {v.n_diverged} of {v.n} runs **diverged**." for v in c.variants if v.n_diverged]
    return "\n".join(lines)


def no_comparison(c: Comparison) -> str:
    """Why the table of tests against the reference is empty (markdown)."""
    if c.variant(c.reference) is None:
        return f"Nothing to test: the reference `{c.reference}` has no runs in these tables."
    return f"Nothing to test: `{c.reference}` is the only variant in this sweep."


def summary_display(summary: pd.DataFrame, classes: int, ablations=()) -> pd.DataFrame:
    """The summary table formatted for reading (strings, one row per variant; no 'nan'); the
    variants in ``ablations`` are marked "(ablation)"."""
    def column(name):
        return summary[name] if name in summary else pd.Series(math.nan, index=summary.index)

    target = summary["target_val_accuracy"].dropna()
    chance = stats.chance(classes)
    out = pd.DataFrame({
        "variant": summary["variant"], "loss": summary["loss"], "lr": summary["lr"].map(lambda v: number(v, "g")),
        "runs": summary["n"].astype(int),
        "test accuracy": [acc(m) + (f" ± {s:.4f}" if not np.isnan(s) else "")
                          for m, s in zip(summary["test_accuracy_mean"], summary["test_accuracy_sd"])],
        "95% CI": [ci(r["test_accuracy_ci95_low"], r["test_accuracy_ci95_high"], r["n"], chance)
                   for _, r in summary.iterrows()],
        "train s (median)": column("train_seconds_median").map(lambda v: number(v, ".2f", "")),
        "CPU s (median)": column("train_cpu_seconds_median").map(lambda v: number(v, ".2f", "")),
        f"epochs to {target.iloc[0]:.0%} val" if len(target) else "epochs to target": summary["epochs_to_target"].map(
            lambda v: "never" if np.isnan(v) else f"{v:g}"),
    })
    flagged = summary["n_diverged"] > 0
    diverged = summary.loc[flagged, "n_diverged"].astype(int).astype(str)
    out.loc[flagged, "variant"] = out.loc[flagged, "variant"] + " ⚠ diverged: " + diverged
    marked = summary["variant"].isin(list(ablations))
    out.loc[marked, "variant"] = out.loc[marked, "variant"] + " (ablation)"
    return out.set_index("variant")


def summary_caption(summary: pd.DataFrame, classes: int, runs: pd.DataFrame | None = None) -> str:
    """What the summary table's interval column means for these numbers (markdown): why an
    interval is clipped, or reaches below chance (with ``runs``: where the seeds themselves lie)."""
    chance = stats.chance(classes)
    text = "95% CI: the t-interval of the mean over seeds."
    if (summary["n"] < 2).any():
        text += " With one run a variant has no interval (n/a)."
    clipped = summary[(summary["test_accuracy_ci95_low"] < 0) | (summary["test_accuracy_ci95_high"] > 1)]
    if len(clipped):
        text += (f" The interval of {names(clipped['variant'])} reaches past what accuracy can be, so it is "
                 "clipped to [0, 1]: few seeds with a wide spread make the t-interval wide.")
    below = summary[summary["test_accuracy_mean"] < chance]
    low = summary[(summary["test_accuracy_ci95_low"] >= 0) & (summary["test_accuracy_ci95_low"] < chance)
                  & (summary["test_accuracy_mean"] >= chance)]
    if len(below):
        text += (f" The mean of {names(below['variant'])} is below chance ({chance:.2f}, what guessing uniformly "
                 "scores)" + _seed_range(runs, below["variant"]) + ".")
    if len(low):
        text += (f" The interval of {names(low['variant'])} reaches below chance ({chance:.2f}, what "
                 "guessing uniformly scores): a t-interval is symmetric around the mean by construction, and few "
                 "seeds with a wide spread make it wide" + _seed_range(runs, low["variant"]) + ".")
    return text


def _seed_range(runs: pd.DataFrame | None, variants) -> str:
    """'; the seeds themselves score `a` 0.07 to 0.12; ...' (nothing without runs)."""
    if runs is None:
        return ""
    spread = runs[runs["variant"].isin(list(variants))].groupby("variant", sort=False)["test_accuracy"]
    return "; the seeds themselves score " + "; ".join(
        f"`{v}` {g.min():.4f}" + ("" if g.min() == g.max() else f" to {g.max():.4f}") for v, g in spread)


def comparison_display(comparison: pd.DataFrame, summary: pd.DataFrame | None = None,
                       ablations=()) -> pd.DataFrame:
    """The tests against the reference (``stats.compare_to_reference``): raw p-values of both tests,
    and the Holm-adjusted p of the one used. With ``summary``, variants with diverged runs are
    marked as in the summary table; ``ablations`` are marked "(ablation)"."""
    if comparison.empty:
        return comparison
    out = pd.DataFrame({
        "variant": comparison["variant"],
        "difference (points)": comparison["difference"].map(points),
        "95% CI of the difference": [
            ci_points(lo, hi).removeprefix("95% CI ").removesuffix(" points").replace(" points (", " (")
            if not (missing(lo) or missing(hi)) else "" for lo, hi in
            zip(comparison["difference_ci95_low"], comparison["difference_ci95_high"])],
        "paired p": comparison["paired_p"].map(p_or_blank), "Welch p": comparison["welch_p"].map(p_or_blank),
        "test used": [test if test else ("none: identical" if same else "none")
                      for test, same in zip(comparison["test"].fillna(""), comparison["identical"].fillna(False))],
        "Holm-adjusted p": comparison["p_holm"].map(p_or_blank),
        "Cohen's d": comparison["cohens_d"].map(lambda v: number(v, ".2f", "")),
        "paired d_z": comparison["paired_dz"].map(lambda v: number(v, ".2f", "")),
        "seeds paired": comparison["n_paired"],
    })
    if summary is not None:
        diverged = summary.set_index("variant")["n_diverged"]
        flagged = comparison["variant"].map(diverged).fillna(0) > 0
        out.loc[flagged, "variant"] = out.loc[flagged, "variant"] + " ⚠ diverged: " + \
            comparison.loc[flagged, "variant"].map(diverged).astype(int).astype(str)
    marked = comparison["variant"].isin(list(ablations))
    out.loc[marked, "variant"] = out.loc[marked, "variant"] + " (ablation)"
    return out.set_index("variant")


def timing_caption(runs: pd.DataFrame) -> str:
    """What the timing figure's seconds mean on the machine(s) that produced them (markdown)."""
    text = ("Wall seconds are the training steps' elapsed time per run (synchronised on GPU); process-CPU "
            "seconds are the CPU time the training process used for them (all its threads). ")
    together = stats.concurrency(runs).dropna()
    cpus = runs["cpus"].dropna() if "cpus" in runs else pd.Series(dtype=float)
    if len(together):
        text += (f"The training processes did not run alone: on average {together.median():.1f} of them ran at once "
                 f"(median over runs, from their start and end times)")
        text += f" on a host with {int(cpus.iloc[0])} usable CPUs" if len(cpus) and cpus.nunique() == 1 else ""
        text += (". Where more processes than CPUs share a machine, a run's wall seconds include waiting for a "
                 "CPU; its CPU seconds do not, and are the fairer figure for comparing variants on CPU. On a GPU, "
                 "wall seconds are the figure (the CPU mostly waits for the device).")
    else:
        text += "How many runs shared the machine is not recorded for these runs."
    if "train_cpu_seconds" in runs:
        ratio = (runs["train_seconds"] / runs["train_cpu_seconds"]).replace([np.inf, -np.inf], np.nan).dropna()
        if len(ratio):
            text += (f" Median wall / process-CPU ratio of a run: {ratio.median():.2f} (range {ratio.min():.2f}–"
                     f"{ratio.max():.2f}); ")
            devices = runs["device_name"].dropna().astype(str) if "device_name" in runs else pd.Series(dtype=str)
            if (~devices.str.startswith("cpu")).any():  # a GPU's process spins while it waits: CPU ~ wall seconds
                text += ("with one thread per run on CPU, a ratio above 1 is time the run waited for a CPU (taken by "
                         "any program, including ones outside this sweep); on a GPU the process spins while it waits "
                         "for the device, so CPU seconds about equal wall seconds and the ratio says nothing about "
                         "waiting.")
            else:
                text += ("with one thread per run, a ratio above 1 is time the run waited, for a CPU (taken by any "
                         "program, including ones outside this sweep) or for the GPU.")
    return text
