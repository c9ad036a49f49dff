"""How the report writes numbers, intervals, seeds and settings: the one copy of each, for every page.

Wording modules (``lossbench.comparison``, ``lossbench.why``, ``lossbench.horizon``,
``lossbench.lrstudy``...) import these instead of keeping their own. No function here decides
anything: each turns a number (or a record's field) into the words a page shows, and never shows
"nan" or "inf".
"""

from __future__ import annotations

import math

from . import decisions
from .config import HASH_DEFAULTS

SETTING_NAMES = {"lr": "lr", "batch_size": "batch", "epochs": "epochs", "hidden": "hidden layers",
                 "optimizer": "optimizer"}


def missing(value) -> bool:
    """None or NaN: a number a page cannot show."""
    return value is None or (isinstance(value, float) and math.isnan(value))


def number(value: float, fmt: str, absent: str = "n/a") -> str:
    """A number for reading: never 'nan' or 'inf' on a page."""
    if missing(value):
        return absent
    if isinstance(value, float) and math.isinf(value):
        return "∞" if value > 0 else "−∞"
    return format(value, fmt)


def acc(value: float) -> str:
    """An accuracy (a share of images): 0.9143."""
    return number(value, ".4f")


def points(difference: float) -> str:
    """A difference of accuracies in points, signed: +2.75."""
    return number(difference * 100, "+.2f")


def p_value(p: float) -> str:
    """'= 0.039' or '< 0.0001' (without the 'p')."""
    return f"= {p:.2g}" if p >= 1e-4 else "< 0.0001"


def p_or_blank(p: float) -> str:
    """A p-value for a table cell: blank when there is none."""
    return "" if missing(p) else p_value(p).removeprefix("= ")


def ci_points(low: float, high: float) -> str:
    """The 95% CI of a difference of accuracies, in points; a difference lives in [-100, 100]."""
    if missing(low) or missing(high):
        return "no interval"
    text = f"95% CI {points(max(low, -1.0))} to {points(min(high, 1.0))} points"
    return text + " (clipped to ±100)" if low < -1 or high > 1 else text


def ci(low: float, high: float, n: int, chance: float) -> str:
    """The 95% CI of a mean accuracy, clipped to [0, 1] (accuracy lives there) and saying so, and
    saying so when it reaches below chance (``chance`` = 1/C)."""
    if missing(low) or missing(high):
        return "n/a (one run)" if n < 2 else "n/a"
    text = f"{max(low, 0.0):.4f}–{min(high, 1.0):.4f}"
    if low < 0 or high > 1:
        return text + " (clipped to [0, 1])"
    if high < chance:
        return text + f" (below chance, {chance:.2f})"
    return text + f" (reaches below chance, {chance:.2f})" if low < chance else text


def seeds(n: int, mean: bool = False) -> str:
    """'one seed', '5 seeds'; with ``mean``: 'mean of 5 seeds' (a number averaged over them)."""
    if n == 1:
        return "one seed"
    return f"mean of {n} seeds" if mean else f"{n} seeds"


def names(items) -> str:
    """`a`, `b`, `c`."""
    return ", ".join(f"`{v}`" for v in items)


def factor(ratio: float) -> tuple[str, str]:
    """A ratio as a factor and its direction word, from its value: (\"4.7×\", \"smaller\") for 0.21,
    (\"10.0×\", \"larger\") for 10; (\"1.00×\", \"the same\") at exactly 1."""
    if ratio == 1:
        return "1.00×", "the same"
    scale = 1 / ratio if ratio < 1 else ratio
    return (f"{scale:.3g}×" if scale < 100 else f"{scale:.0f}×"), ("smaller" if ratio < 1 else "larger")


def setting_value(key: str, value) -> str:
    """A setting's value as a sentence shows it: lr 0.1, 5 (epochs), 1200-600-300 (hidden layers)."""
    if key in ("hidden", "optimizer"):
        return str(value)
    return str(int(value)) if key == "epochs" else number(value, "g")


def settings_text(settings: dict) -> str:
    """'lr 0.1, batch 100, 5 epochs, hidden layers 1200-600-300' from stats.shared_settings; the optimizer only
    when it is not plain SGD (config.HASH_DEFAULTS: what every run before the setting trained with, and what
    'lr' means unqualified): 'lr 0.001, ..., optimizer adam'."""
    return ", ".join(f"{setting_value(k, v)} epochs" if k == "epochs" else f"{SETTING_NAMES[k]} {setting_value(k, v)}"
                     for k, v in settings.items() if not (k in HASH_DEFAULTS and v == HASH_DEFAULTS[k]))


def changed_text(changed: dict) -> str:
    """'lr 5 instead of 0.1' from stats.changed_settings."""
    return ", ".join(f"{SETTING_NAMES[k]} {setting_value(k, v)} instead of {setting_value(k, shared)}"
                     for k, (v, shared) in changed.items())


# --- what a comparison family's seeds can conclude (decisions.Resolution) --------------------------------

def margin_text(margin: float) -> str:
    """'±1 point', '±2 points' (an accuracy margin in points)."""
    value = margin * 100
    return f"±{value:g} point" + ("" if value == 1 else "s")


def _resolution_clause(name: str, reference: str, d, r) -> str:
    """One open comparison: its interval's half-width, what it cannot say, and what more seeds would."""
    width = margin_text(r.margin).removeprefix("±")
    if d.high < -r.margin - decisions.EPS:  # the seeds answer the margin's question: what stays open is a ranking
        return (f"{name} against {reference}: the whole interval ({ci_points(d.low, d.high)}, over "
                f"{seeds(r.seeds)}) lies below -{width}, so \"not worse by {width} or more\" is excluded; a ranking "
                f"of the two needs Holm-adjusted p < {decisions.ALPHA} with {decisions.MIN_SEEDS_TO_RANK} or more "
                "seeds per side")
    text = (f"{name} against {reference}: the 95% interval is ±{r.half_width * 100:.2f} points over "
            f"{seeds(r.seeds)} (the smallest difference they can tell from none), ")
    if r.reachable:
        text += (f"narrower than the margin but reaching {points(d.low)} points, past -{width}, so these runs "
                 f"cannot yet tell whether {name} is worse than {reference} by {width} or more")
    else:
        text += (f"wider than the margin, so these runs cannot tell whether {name} is worse than {reference} by "
                 f"{width} or more")
    if r.needed is None:
        return text + " (its seeds do not pair up: no paired spread to plan more seeds from)"
    few = f", itself measured on only {seeds(r.seeds)}" if r.seeds < decisions.MIN_SEEDS_TO_RANK else ""
    return (text + f"; about {r.needed} seeds per loss would give an {decisions.POWER:.0%} chance of showing "
            f"equivalence within {margin_text(r.margin)} if the true difference is 0 and the paired "
            f"differences spread as here (sd {r.sd * 100:.2f} points{few})")


def resolution_sentence(reference: str, rows) -> str:
    """What a comparison family's seeds can and cannot conclude, as one sentence (markdown, no bullet).

    ``rows``: (the compared side in words, its ``decisions.Difference``, its ``decisions.Resolution`` or None),
    each against ``reference`` (in words). The comparisons the seeds leave open (``decisions.UNDECIDED``) each
    say their interval's half-width, that the pre-stated margin is out of reach (or where the interval
    crosses it) and the seeds that would reach it; when none is open, the intervals' widths. Empty without
    an interval to read (identical and diverged pairs are not read)."""
    measured = [(name, d, r) for name, d, r in rows  # an identical or diverged pair has no spread to read
                if r is not None and d.kind not in (decisions.IDENTICAL, decisions.DIVERGED)]
    if not measured:
        return ""
    margin = margin_text(decisions.EQUIVALENCE_MARGIN)
    head = f"**What these seeds can conclude** (the pre-stated margin of equivalence: {margin})"
    open_ = [(name, d, r) for name, d, r in measured if d.kind in decisions.UNDECIDED]
    if open_:
        return head + ": " + "; ".join(_resolution_clause(name, reference, d, r) for name, d, r in open_) + "."
    widths = sorted(r.half_width for _, _, r in measured)
    span = (f"±{widths[0] * 100:.2f} points" if widths[0] == widths[-1] else
            f"±{widths[0] * 100:.2f} to ±{widths[-1] * 100:.2f} points")
    return (head + f": every comparison with {reference} that has an interval is decided at these seeds (95% "
            f"intervals {span} wide); none is left open.")
