"""The optimiser control in words: an ``optimizer_control.Control`` record -> 2-4 sentences of markdown.

The *why* page cites it either way: under the scale-free optimiser, each loss at its own tuned lr,
does the slow loss's gap to the reference close (the gradient scale explains it) or not. Every
number and decision comes from the record (``optimizer_control``, ``lrstudy``, ``decisions``); the
verdict words are ``lrstudy_words``'; with fewer seeds than a ranking needs, no sentence ranks.
tests/test_optimizer_control.py keeps the text as golden markdown per constructed scenario.
"""

from __future__ import annotations

from . import decisions
from .decisions import MIN_SEEDS_TO_RANK, NEGLIGIBLE
from .lrstudy_words import EDGE_TEXT, VERDICTS
from .optimizer_control import Control
from .words import acc, ci_points, points, seeds


def _lr(value: float) -> str:
    return f"{value:.3g}"


def _tuned(control: Control) -> str:
    t = control.tuned
    v = t.verdict
    interval = "" if v.kind == decisions.UNTESTED else f", {ci_points(v.low, v.high)}"
    return (f"Under {control.optimizer}, each loss at its own tuned lr (the highest mean validation accuracy of its "
            f"grid after {control.epochs[-1]} epoch{'s' if control.epochs[-1] != 1 else ''}), `{control.slow_loss}` "
            f"reaches {acc(t.mean)} test accuracy at lr {_lr(t.lr)} against {acc(t.reference_mean)} for "
            f"`{control.reference}` at lr {_lr(t.reference_lr)}: {points(v.difference)} points{interval}, "
            f"{seeds(v.seeds)} per side ({VERDICTS[v.kind]}).")


def _sweep(control: Control) -> str:
    s = control.sweep
    budget = f"{s.epochs} epoch{'s' if s.epochs != 1 else ''}"
    return (f"Under {s.optimizer} at the sweep's shared lr {_lr(s.lr)} ({budget}), the same two differ by "
            f"{points(s.verdict.difference)} points ({acc(s.mean)} against {acc(s.reference_mean)}, "
            f"`{s.variant}` and `{s.reference_variant}`).")


def _reading(control: Control) -> str:
    v, gap = control.tuned.verdict, control.sweep.verdict.difference
    if control.reading == "no gap":
        return (f"Under {control.sweep.optimizer} the difference is already negligible (its interval within "
                f"±{NEGLIGIBLE * 100:g} points): there is no gap for the gradient scale to explain.")
    if control.reading == "closes":
        return (f"The gap closes: the tuned difference's whole interval lies within ±{NEGLIGIBLE * 100:g} points, "
                "so the gradient scale explains it.")
    if control.reading == "smaller":
        side = "below" if gap < 0 else "above"
        left = -v.low if gap < 0 else v.high  # the most of the gap the interval still allows
        text = f"The {control.sweep.optimizer} gap of {points(gap)} points lies {side} the whole interval under " \
               f"{control.optimizer}"
        if left <= 0:
            return text + ", which does not reach 0: none of the gap is left, so the gradient scale explains it."
        if v.detected:
            return (text + f": a gap of at most {left * 100:.2f} points remains (detected), so the gradient scale "
                    "explains most of the gap, not all of it.")
        return text + f": at most {left * 100:.2f} points of it are left, so the gradient scale explains the rest."
    if control.reading == "stays":
        return (f"The interval under {control.optimizer} still reaches the {points(gap)}-point gap: the gap does not "
                "close, and the gradient scale does not explain it.")
    return ""


def _edges(control: Control) -> str:
    rows = [row for row in (control.slow, control.reference_selected) if row is not None and row.edge in EDGE_TEXT]
    return " ".join(f"`{row.loss}`'s selected lr is at the {'largest' if row.edge == 'high' else 'smallest'} lr of "
                    "its grid: the grid is too narrow on that side, and its tuned accuracy may be higher."
                    for row in rows)


def _seed_note(control: Control) -> str:
    if control.can_rank:
        return ""
    return (f"With {seeds(min(control.seeds))} per point (fewer than the {MIN_SEEDS_TO_RANK} a ranking needs), "
            "neither loss is ranked above the other.")


def why_text(control: Control | None) -> str:
    """The why page's sentences on the control; "" when the study is off."""
    if control is None:
        return ""
    if control.tuned is None:
        return (f"The optimiser control ({control.optimizer}) has no tuned comparison: `{control.slow_loss}` or "
                f"`{control.reference}` has no lr of its grid that did not diverge.")
    parts = [_tuned(control)]
    if control.sweep is not None:
        parts += [_sweep(control), _reading(control)]
    else:
        parts.append("The sweep has no variant of each loss at one shared lr to set this against.")
    parts += [_edges(control), _seed_note(control)]
    return " ".join(p for p in parts if p)


def why_note(control: Control | None):
    """The why page's cell: a markdown display of ``why_text`` (nothing when the study is off)."""
    from IPython.display import Markdown

    text = why_text(control)
    return Markdown("**The optimiser control.** " + text) if text else None
