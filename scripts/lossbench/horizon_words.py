"""Slow, or stuck? The words: ``horizon``'s records (``Reading``, ``Twin``) as the *why* page's markdown.

Nothing here decides: every verdict, threshold crossing and direction comes from the records
(``lossbench.horizon``); this module says them, with the page's window and gain and the
thresholds of ``lossbench.decisions`` named where a sentence uses them. Tested by golden markdown
(tests/test_horizon.py).
"""

from __future__ import annotations

import pandas as pd

from . import horizon
from .decisions import EPS, MIN_SEEDS_FOR_BAND, TRAIN_LOSS_SETTLED
from .stats import t95
from .words import acc as _acc
from .words import number as _number
from .words import seeds


def _pts(value: float) -> str:
    return f"{value * 100:.1f}"


def _gain_words(gain: float) -> str:
    """A width in points of accuracy: 0.01 -> '1 point', 0.02 -> '2 points'."""
    return f"{gain * 100:g} point{'' if gain * 100 == 1 else 's'}"


def _listed(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def _range(low: float, high: float) -> str:
    """'between 0.4200 and 0.4280', or 'at 0.4200' where the two read the same."""
    return f"at {_acc(low)}" if _acc(low) == _acc(high) else f"between {_acc(low)} and {_acc(high)}"


def _window(r: horizon.Reading) -> int:
    return r.budget - r.curve.start


def criterion(window: int, gain: float) -> str:
    """The criterion in words, with this page's window and gain."""
    points = _gain_words(gain)
    return (f"A curve is **still rising** if its mean validation accuracy gained at least {points} over the "
            f"last {window} epochs of the budget; it has **levelled off** from the first epoch after which it "
            f"never again gets {points} higher, if that epoch is {window} or more epochs before the budget and "
            f"each seed's train loss has settled too (over those {window} epochs it moved at less than "
            f"{TRAIN_LOSS_SETTLED:.0%} of its mean pace since epoch 0); otherwise it is **not settled**. Seeds that "
            f"disagree over the last {window} epochs (one seed's validation accuracy {points} or more higher, "
            f"another's not; or one {points} or more lower, another's not) leave a curve **not settled** too. "
            f"Levelled off holds within the budget only: a flat stretch can be a stall that a longer budget shows "
            f"ending (`--config 'horizon={{epochs: 40}}'`; docs/studies.md, \"Slow or stuck?\").")


def _share(value: float, missing: str) -> str:
    """A share in percent: one decimal under 10%, none above."""
    return _number(value, ".1%" if value < 0.1 else ".0%", missing)


def _paces(seeds: tuple[horizon.Seed, ...]) -> str:
    """Each seed's train-loss pace over its last window, as a share of its own mean pace since epoch 0."""
    shares = [_share(s.loss_pace, "n/a (no fall since epoch 0)") for s in seeds]
    who = f" (seeds {_listed([str(s.seed) for s in seeds])})" if len(seeds) > 1 else ""
    return f"{_listed(shares)} of its mean pace since epoch 0{who}"


def _loss_moves(seeds: tuple[horizon.Seed, ...]) -> str:
    """'falls', 'rises' or 'moves': the train loss's direction over the last window, from its seeds' signs."""
    signs = {(s.loss_change > 0) - (s.loss_change < 0) for s in seeds if not s.loss_settled}
    return "falls" if signs == {-1} else "rises" if signs == {1} else "moves"


def _seed_moves(r: horizon.Reading, gain: float) -> str:
    moves = []
    for i, s in enumerate(r.seeds_read):
        within = f", within ±{_gain_words(gain)}" if s.direction == horizon.LEVEL else ""
        whose = f"seed {s.seed}'s validation accuracy is" if i == 0 else f"seed {s.seed}'s"
        moves.append(f"{whose} {s.direction} ({s.gain * 100:+.1f} points{within})")
    return (f"its seeds disagree over its last {_window(r)} epochs: {_listed(moves)}; their mean went from "
            f"{_acc(r.curve.start_value)} to {_acc(r.curve.end_value)}")


def sentence(r: horizon.Reading, best: horizon.Reading | None, window: int, gain: float) -> str:
    """One variant's verdict in words (markdown list item); ``best``: the judged variant ending highest."""
    name = f"`{r.variant}` (lr {r.lr:g}, {seeds(r.seeds, mean=True)})"
    if r.kind == horizon.DIVERGED:
        return f"- ⚠ {name}: runs **diverged** within the {r.budget}-epoch budget; no verdict."
    if r.kind == horizon.SHORT:
        return (f"- {name}: its budget ({r.budget} epochs) is shorter than the plateau window ({window} epochs); "
                f"no verdict.")
    c, budget = r.curve, r.budget
    end = _acc(c.end_value)
    if r.kind == horizon.RISING:
        return (f"- {name}: **still rising at the budget** — +{_pts(c.gain)} points of validation accuracy over its "
                f"last {_window(r)} epochs ({_acc(c.start_value)} at epoch {c.start}, {end} at epoch {budget}): "
                f"slow, not stuck, within {budget} epochs.")
    if r.kind == horizon.UNSETTLED:
        parts = []
        if horizon.SEEDS_DISAGREE in r.reasons:
            parts.append(_seed_moves(r, gain))
        if horizon.LOSS_MOVING in r.reasons:
            mean = "its mean validation accuracy" if r.seeds > 1 else "its validation accuracy"
            parts.append(f"{mean} has stayed {_range(c.low, c.high)} since epoch {int(c.plateau_epoch)}, but its train "
                         f"loss still {_loss_moves(r.seeds_read)}: over its last {_window(r)} epochs at "
                         f"{_paces(r.seeds_read)}, where levelled off needs under {TRAIN_LOSS_SETTLED:.0%}")
        if horizon.LATE_MOVE in r.reasons:
            parts.append(f"it gained less than {_gain_words(gain)} over its last {_window(r)} epochs "
                         f"({_acc(c.start_value)} → {end}) but moved between {_acc(c.low)} and {_acc(c.high)} in them")
        return f"- {name}: **not settled at the budget** — " + "; ".join(parts) + "."
    text = (f"- {name}: **levelled off from epoch {int(c.plateau_epoch)}** — from there to the budget ({budget} "
            f"epochs) its validation accuracy stays {_range(c.low, c.high)}, {end} at epoch {budget}")
    if c.peak - c.end_value >= gain - EPS:
        text += f" ({_pts(c.peak - c.end_value)} points below its peak at epoch {int(c.peak_epoch)})"
    text += f", and its train loss has settled: over its last {_window(r)} epochs it moved at {_paces(r.seeds_read)}"
    if best is not None and best.variant != r.variant:
        below = best.curve.end_value - c.end_value
        if below >= gain - EPS:
            text += f"; {_pts(below)} points below `{best.variant}` ({_acc(best.curve.end_value)})"
    return text + "."


def statement(readings: list[horizon.Reading], window: int, gain: float) -> str:
    """The section's computed text: the criterion, one sentence per variant, and the reading."""
    if not readings:
        return ("No long-horizon runs in this sweep (config `horizon:` is off): five epochs cannot tell slow "
                "from stuck. Turn the block on in `config/config.yaml` to train the key variants longer.")
    judged = [r for r in readings if r.judged]
    best = max(judged, key=lambda r: r.curve.end_value) if judged else None
    lines = [criterion(window, gain), "", *(sentence(r, best, window, gain) for r in readings)]
    parts = []
    if rising := [f"`{r.variant}`" for r in judged if r.kind == horizon.RISING]:
        parts.append(f"**slow** (still rising): {', '.join(rising)}")
    if levelled := [f"`{r.variant}` at {_acc(r.curve.end_value)}" for r in judged if r.kind == horizon.PLATEAU]:
        parts.append(f"**levelled off**: {', '.join(levelled)}")
    if unsettled := [f"`{r.variant}`" for r in judged if r.kind == horizon.UNSETTLED]:
        parts.append(f"**not settled**: {', '.join(unsettled)}")
    if parts:
        lines += ["", f"Within {max(r.budget for r in readings)} epochs: " + "; ".join(parts) + "."]
    return "\n".join(lines)


def twin(t: horizon.Twin | None) -> str:
    """The slow loss against its matched-step twin in words; "" when the horizon has no slow variant."""
    if t is None:
        return ""
    step = f"`{t.slow}` at lr {t.slow_lr:g}"
    if t.kind == horizon.NO_SCALE:
        names = _listed([f"`{n}`" for n in t.undeclared])
        return (f"No twin for {step}: {names} declare{'s' if len(t.undeclared) == 1 else ''} no initial "
                f"logit-gradient scale (`grad_scale` in `register_loss`), and the matched-step comparison with "
                f"`{t.reference_loss}` needs a declared gradient scale for both.")
    declared = (f"`{t.slow_loss}` declares an initial logit gradient {t.scale:.4g} times `{t.reference_loss}`'s at "
                f"C = {t.classes}")
    if t.kind == horizon.NO_TWIN:
        return (f"No long-horizon run trains `{t.reference_loss}` (or a loss declared the same function) at lr "
                f"{t.slow_lr:g} × {t.scale:.4g} = {t.target_lr:.4g}, the step matched to {step} ({declared}): "
                f"define such a variant and name it in `horizon.variants` to follow the pair.")
    pair = (f"`{t.slow}` (lr {t.slow_lr:g}) and `{t.other}` (`{t.other_loss}` at lr {t.slow_lr:g} × {t.scale:.4g} = "
            f"{t.other_lr:g}: {declared}, so the two take the same step while the outputs are uniform)")
    within = _gain_words(t.track)
    if t.kind == horizon.TRACKS:
        return (f"{pair} stay within {within} of each other (mean validation accuracy) at every epoch to the budget "
                f"({t.budget}): over this horizon the declared scale accounts for the whole difference in pace.")
    if t.kind == horizon.APART:
        return f"{pair} differ by {within} or more from epoch {t.phases[0].since} on."
    seen, words = set(), []
    for p in t.phases:
        side = "ahead" if p.sign > 0 else "behind"
        words.append(f"{side}{' again' if side in seen else ''} from epoch {p.since} (by up to {_pts(p.gap)} points, "
                     f"at epoch {p.at})")
        seen.add(side)
    end = t.end_gap
    where = f"{_pts(abs(end))} points {'below' if end < 0 else 'above'}" if abs(end) >= EPS else "level with"
    return (f"{pair} stay within {within} of each other (mean validation accuracy) up to epoch {t.tracked_to}; then "
            f"`{t.slow}` is {_listed(words)}; at the budget ({t.budget}) it is {where} `{t.other}`. The early pace is "
            f"consistent with the declared scale; the later gaps are not explained by it, since `{t.other}` starts "
            f"with the same step.")


def caption(readings: list[horizon.Reading]) -> str:
    """What the figure shows: seeds, budget, the two panels, the band."""
    if not readings:
        return ""
    seeds = [r.seeds for r in readings]
    n = f"{min(seeds)}" if min(seeds) == max(seeds) else f"{min(seeds)}–{max(seeds)}"
    text = (f"The long-horizon runs, mean over {n} seed{'s' if max(seeds) > 1 else ''} per variant and epoch, to a "
            f"budget of {max(r.budget for r in readings)} epochs: left, validation accuracy; right, each run's train "
            f"loss as a share of its own epoch-0 loss (the criterion reads both). ")
    if max(seeds) < 2:
        return text + "One seed: no band (an interval needs two seeds or more)."
    if min(seeds) < MIN_SEEDS_FOR_BAND:
        n = min(seeds)
        few = ("a variant has one seed" if n == 1 else
               # two seeds a and b: sd = |a - b|/√2, so t × sd/√2 = (t/2) × |a - b|
               f"with 2 seeds a 95% t-interval of the mean reaches {t95(2) / 2:.1f} times the gap between them "
               "either side of the mean" if n == 2 else
               f"with {n} seeds a 95% t-interval of the mean is the mean ± {t95(n):.3g} × sd/√{n}")
        return text + (f"Bold line: the mean; thin dashed lines: each seed. No band ({few}; a band is drawn from "
                       f"{MIN_SEEDS_FOR_BAND} seeds): the seeds' own lines show the spread. A large marker shows "
                       "where a curve levelled off by the criterion above.")
    text += ("Bold line: the mean; band: its 95% t-interval over seeds (accuracy clipped to [0, 1]); thin dashed "
             "lines: each seed. A large marker shows where a curve levelled off by the criterion above.")
    return text


WORDS = {horizon.RISING: "still rising", horizon.PLATEAU: "levelled off", horizon.UNSETTLED: "not settled",
         horizon.SHORT: "no verdict", horizon.DIVERGED: "⚠ diverged"}


def display(readings: list[horizon.Reading]):
    """The readings as a table for the page (an empty cell: does not apply); None without horizon runs."""
    if not readings:
        return None
    rows = []
    for r in readings:
        c = r.curve
        rows.append({
            "variant": r.variant, "lr": f"{r.lr:g}", "seeds": r.seeds, "budget": r.budget, "verdict": WORDS[r.kind],
            "levelled off from epoch": f"{int(c.plateau_epoch)}" if r.kind == horizon.PLATEAU else "",
            "val. accuracy at budget": _acc(c.end_value) if c else "",
            "gain over last window": f"{c.gain * 100:+.1f} points" if r.judged else "",
            "train-loss pace over last window (share of its mean pace, per seed)":
                ", ".join(_share(s.loss_pace, "") for s in r.seeds_read),
            "test accuracy at budget": _number(r.test_accuracy, ".4f", ""),
        })
    return pd.DataFrame(rows).style.hide(axis="index")
