"""How the report writes numbers, intervals, seeds and settings: the one copy of each, for every page.

Wording modules (``lossbench.comparison``, ``lossbench.why``, ``lossbench.horizon``,
``lossbench.lrstudy``...) import these instead of keeping their own. No function here decides
anything: each turns a number (or a record's field) into the words a page shows, and never shows
"nan" or "inf".
"""

from __future__ import annotations

import math

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
