"""The number-of-classes study in words: ``classes.Study`` records -> markdown and display tables.

Every sentence reads a decision made in ``classes`` (numbers and decisions) or a threshold in
``lossbench.decisions``; nothing here computes a result or names a loss. The "Number of classes"
page shows ``answer`` first (does the predicted law hold, up to which C, the exponent with its
interval), then ``method``, ``outside_text``, ``law_display`` per loss, ``reference_text`` and the
figure's ``ratio_caption`` / ``ratio_alt``. tests/test_classes_words.py keeps the text as golden
markdown per constructed scenario.
"""

from __future__ import annotations

import pandas as pd

from .classes import AtC, Fit, Law, SeedRatio, Study
from .losses import loss_info
from .words import missing, seeds
from .words import number as _number

SUPERSCRIPT = str.maketrans("0123456789-.", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻·")


def _g(value: float) -> str:
    """A ratio or an lr to 3 significant digits, in plain digits (1320 rather than 1.32e+03)."""
    if not missing(value) and abs(value) >= 1000:
        return f"{float(f'{value:.3g}'):.0f}"
    return _number(value, ".3g")


def _ratio(value: float) -> str:
    return _g(value) + "×"


def _list(items) -> str:
    items = [str(i) for i in items]
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _cs(values) -> str:
    return "C = " + _list(values)


def _near_integer(value: float) -> int | None:
    return round(value) if abs(value - round(value)) < 1e-6 else None


def formula(fit: Fit) -> str:
    """The law a·C^k as math: $C^2/2$, $C/2$, $0.34\\,C^{2.44}$."""
    k = _near_integer(fit.exponent)
    power = "C" if k == 1 else f"C^{{{k}}}" if k is not None else f"C^{{{fit.exponent:.3g}}}"
    a = fit.coefficient
    if _near_integer(a) == 1:
        return f"${power}$"
    inverse = _near_integer(1 / a)
    if inverse:
        return f"${power}/{inverse}$"
    return f"${_g(a)}\\,{power}$"


def _exponent(value: float) -> str:
    return _number(value, ".2f")


def fit_text(fit: Fit | None, what: str = "per-seed ratios") -> str:
    """'fitted on log–log over the 8 per-seed ratios at C = 2, 3, 5 and 10, the ratio scales as C^2.44 (95%
    interval 2.02 to 2.86)'."""
    if fit is None:
        return ""
    interval = (f"no interval from {fit.points} points" if missing(fit.low) else
                f"95% interval {_exponent(fit.low)} to {_exponent(fit.high)}")
    return (f"fitted on log–log over the {fit.points} {what} at {_cs(fit.classes)}, the ratio scales as "
            f"$C^{{{_exponent(fit.exponent)}}}$ ({interval})")


# --- the answer ------------------------------------------------------------------------------------

def _seed_values(row: AtC) -> str:
    return " and ".join(_ratio(v) for v in row.measured)


def _failures(law: Law) -> list[AtC]:
    return [row for row in law.at if row.reading in ("some", "none")]


def _c_label(row: AtC) -> str:
    """'10', or '10 (seed 1 not read)' where a seed gives no reading."""
    if not row.unread:
        return str(row.classes)
    return f"{row.classes} (seed{'s' if len(row.unread) > 1 else ''} {_list(row.unread)} not read)"


def _verdict(law: Law, tolerance: float) -> str:
    """Where the predicted law holds: every C, up to one C, or C by C."""
    rows = [row for row in law.at if row.reading]
    band = f"within ×{tolerance:g} of it"
    if not rows:
        return ("cannot be read here: at no C does a seed give a measured ratio (both thresholds inside their grids) "
                "or a bound beyond the tolerance")
    if all(row.reading == "every" for row in rows):
        return (f"holds at every C measured ({_cs(_c_label(r) for r in rows)}): every seed's threshold-lr ratio read "
                f"lies {band}")
    readings = [row.reading for row in rows]
    first = readings.index(next(r for r in readings if r != "every"))
    if first > 0 and all(r != "every" for r in readings[first:]):
        return (f"holds up to C = {law.holds_up_to} and stops holding from C = {law.stops_at}: up to C = "
                f"{law.holds_up_to} every seed's threshold-lr ratio lies {band}, from C = {law.stops_at} "
                + ("no seed's does" if all(r == "none" for r in readings[first:]) else "not every seed's does"))
    parts = []
    for reading, words in (("every", "for every seed"), ("some", "for some seeds"), ("none", "for no seed")):
        at = [_c_label(row) for row in rows if row.reading == reading]
        if at:
            parts.append(f"{words} at {_cs(at)}")
    return f"holds (each seed's threshold-lr ratio {band}) " + "; ".join(parts)


def _unread_text(law: Law, tolerance: float) -> str:
    rows = [row for row in law.at if row.unread]
    if not rows:
        return ""
    where = "; ".join(f"seed{'s' if len(row.unread) > 1 else ''} {_list(row.unread)} at C = {row.classes}"
                      for row in rows)
    return (f"Not read: {where} (a threshold outside its grid gives a bound that reaches into the ×{tolerance:g} "
            "band, or no bound).")


def _gradient_text(study: Study, law: Law) -> str:
    """How close the measured initial gradient ratio is to its declared value, over C."""
    factors = [row.gradient_factor for row in law.at if not missing(row.gradient_factor)]
    if not factors:
        return ""
    low, high = min(factors), max(factors)
    span = f"×{_number(low, '.3f')}" if abs(high - low) < 5e-4 else f"×{_number(low, '.3f')} to ×{_number(high, '.3f')}"
    return (f"The measured initial logit-gradient ratio to `{study.reference}` is {span} its declared value at "
            f"{_cs(row.classes for row in law.at)} (mean over seeds).")


def _seed_word(r: SeedRatio) -> str:
    return _ratio(r.ratio) if not missing(r.ratio) else f"{r.bound} {_ratio(r.bound_value)}"


def _seed_factor(r: SeedRatio, predicted: float) -> str:
    if not missing(r.ratio):
        return f"×{_g(r.ratio / predicted)}"
    return f"{r.bound} ×{_g(r.bound_value / predicted)}"


def _unreached_words(study: Study, row: AtC, ratios: list[SeedRatio]) -> str:
    """'seed 0: `mse_softmax` reaches 0.550 at no lr of its grid (its highest accuracy 0.380, at lr 5 ...)', seed
    by seed."""
    words = []
    for r in ratios:
        t = next(t for t in study.thresholds_of(r.unreached, row.classes) if t.seed == r.seed)
        best = ("every run diverged by epoch 1" if missing(t.peak) else
                f"its highest accuracy {_number(t.peak, '.3f')}, at lr {_g(t.peak_lr)} inside the grid; larger lrs "
                "do worse")
        words.append(f"seed {r.seed}: `{r.unreached}` reaches {_number(row.level, '.3f')} at no lr of its grid "
                     f"({best})")
    return "; ".join(words)


def _failure_text(study: Study, law: Law) -> str:
    """Where the law does not hold: the ratios outside the band with their direction, from the numbers, and the
    seeds where one loss reaches the level at no lr (no ratio exists: the law, two curves an lr factor apart,
    fails there)."""
    rows = _failures(law)
    if not rows:
        return ""
    numbers = {row.classes: [r for r in row.seeds if r.within is not None and not r.unreached] for row in rows}
    unreached = {row.classes: [r for r in row.seeds if r.unreached and r.within is False] for row in rows}
    factors = [(r.ratio if not missing(r.ratio) else r.bound_value) / row.predicted
               for row in rows for r in numbers[row.classes] if r.within is False]
    details = []
    for row in rows:
        parts = []
        if numbers[row.classes]:
            parts.append(" and ".join(_seed_word(r) for r in numbers[row.classes])
                         + f" against {_ratio(row.predicted)} ("
                         + " and ".join(_seed_factor(r, row.predicted) for r in numbers[row.classes]) + " of it)")
        if unreached[row.classes]:
            parts.append(_unreached_words(study, row, unreached[row.classes])
                         + f": no ratio exists, against {_ratio(row.predicted)} predicted")
        details.append(f"at C = {row.classes}, " + "; ".join(parts))
    detail = "; ".join(details)
    if not factors:
        return f"Where it does not hold, one loss reaches the level at no lr: {detail}."
    direction = ("above the prediction" if all(f > 1 for f in factors) else
                 "below the prediction" if all(f < 1 for f in factors) else "on both sides of the prediction")
    return f"Where it does not hold, the ratios outside ×{study.tolerance:g} lie {direction}: {detail}."


def _exponent_text(law: Law) -> str:
    if law.fit is None:
        return ("Fewer than two values of C give a measured ratio: no exponent is fitted.")
    text = fit_text(law.fit)
    text = text[0].upper() + text[1:]
    bounds = sum(1 for row in law.at for r in row.seeds if r.bound)
    unreached = sum(1 for row in law.at for r in row.seeds if r.unreached)
    left_out = [f"{n} {word}{'s' if n != 1 else ''}" for n, word in ((bounds, "bound"), (unreached, "seed"))
                if n]
    if left_out:
        text = text[:-1] + f"; {' and '.join(left_out)}{' without a ratio' if unreached else ''} left out)"
    if law.predicted_fit is None:
        return text + "."
    predicted = law.predicted_fit.exponent
    text += f", against $C^{{{_exponent(predicted)}}}$ predicted"
    inside = law.fit.contains(predicted)
    if inside is None:
        return text + ": too few points to tell them apart."
    if inside:
        return text + ": the interval contains the predicted exponent."
    if law.fit.low > predicted:
        return (text + ": the interval lies above the predicted exponent, so the excess over the prediction grows "
                "with C.")
    return text + ": the interval lies below the predicted exponent, so the ratio grows more slowly than predicted."


def law_answer(study: Study, law: Law) -> str:
    """One loss's answer, opening with the verdict in bold."""
    head = f"`{law.loss}` against `{study.reference}`"
    if not law.declared:
        silent = law.loss if loss_info(law.loss).grad_scale is None else study.reference
        return (f"**{head}: no prediction.** `{silent}` declares no gradient scale, so the threshold-lr ratio is "
                "measured only, never set against a theory. " + _exponent_text(law))
    law_text = formula(law.predicted_fit) if law.predicted_fit else _ratio(law.at[0].predicted)
    verdict = f"**{head}: the predicted threshold-lr ratio {law_text} {_verdict(law, study.tolerance)}.**"
    parts = (verdict, _unread_text(law, study.tolerance), _failure_text(study, law), _exponent_text(law),
             _gradient_text(study, law))
    return " ".join(t for t in parts if t)


def answer(study: Study) -> str:
    """The page's opening: per loss (the slow loss first), does the predicted law hold, up to which C, the exponent."""
    if study.empty:
        return empty_text()
    if not study.laws:
        return (f"The reference loss `{study.reference}` has no runs in the study: no ratio to it can be read.")
    return "\n\n".join(law_answer(study, law) for law in study.laws)


def empty_text() -> str:
    return ("No number-of-classes study in these tables (config `classes_study:` is off, or it trained nothing): "
            "nothing to show. Turn the block on in `config/config.yaml` to train each loss on the first C classes "
            "of the dataset for several C.")


# --- the method ------------------------------------------------------------------------------------

def _steps(grid) -> str:
    """How far apart the grid's lrs are (the learning-rate page's wording), or "one lr"."""
    from .lrstudy_words import _grid_step

    return _grid_step(grid) or "one lr"


def _grids(study: Study) -> list[tuple]:
    """(C, loss, grid) for every loss at every C, in the study's order."""
    out = []
    for law in study.laws[:1]:
        out += [(row.classes, study.reference, row.reference_grid) for row in law.at]
    for law in study.laws:
        out += [(row.classes, law.loss, row.grid) for row in law.at]
    return sorted(out, key=lambda item: item[0])


def method(study: Study) -> str:
    """The rules the page applies, with this study's numbers (markdown)."""
    if study.empty:
        return empty_text()
    epochs = study.epochs
    budget = f"{_list(epochs)} epoch{'s' if epochs[-1] != 1 else ''}"
    steps = sorted({_steps(grid) for _, _, grid in _grids(study)})
    levels = "; ".join(f"{_number(row.level, '.3f')} at C = {row.classes}" for row in study.laws[0].at) if study.laws \
        else ""
    return (f"Each loss trains the network with C outputs on the dataset's first C classes ({_cs(study.classes)}), "
            f"{budget}, {seeds(len(study.seeds))} per point, over an lr grid per C and loss (the table below); seed "
            "*s* starts from the same network at every lr. "
            f"**Threshold lr** of a seed: where its validation accuracy after epoch 1 first reaches chance + "
            f"{study.threshold:g} × (1 − chance), chance = 1/C ({levels}), interpolated linearly in log lr between the "
            f"two grid points around it. The grids' resolution: neighbouring lrs are {_list(steps)}, so a threshold "
            "is located by interpolation within one such step. A threshold the grid's smallest lr already reaches is "
            "**below the grid**, one no lr of the grid reaches while the accuracy still rises at its largest lr "
            "**above the grid**: a bound on the ratio, never a point. One no lr reaches while the accuracy peaks "
            "inside the grid below the level is **not reached**: a larger lr does worse, so no lr gives the level "
            "within this budget, there is no threshold and no ratio, and where the other loss's threshold is placed "
            "the law, which says both reach the level an lr factor apart, fails for that seed. **Threshold-lr "
            "ratio**: a seed's threshold lr over the reference's of the same seed. **The law at "
            f"C** holds for a seed whose ratio lies within ×{study.tolerance:g} of the predicted one (either way; "
            "`decisions.LAW_TOLERANCE`), the predicted one being the inverse of the ratio of the two losses' declared "
            "initial gradient scales. The **exponent** k of ratio ≈ a·C^k is fitted by least squares on log–log "
            "over every per-seed ratio, with its 95% t-interval; the predicted exponent is the same fit of the "
            "predicted ratios.")


def outside_text(study: Study) -> str:
    """The thresholds outside their grids, and what they allow."""
    if study.empty:
        return ""
    out = [t for t in study.thresholds if t.place != "inside"]
    if not out:
        return "Every seed's threshold lies inside its grid."
    words = []
    diverged = lambda t: f"; {t.diverged} diverged by epoch 1" if t.diverged else ""  # noqa: E731
    for t in sorted(out, key=lambda t: (t.classes, t.loss, t.seed)):
        level_text = _number(t.level, ".3f")
        where = {
            "below": f"below the grid (its smallest lr, {_g(t.grid_low)}, already reaches {level_text})",
            "above": f"above the grid (no lr up to {_g(t.grid_high)} reaches {level_text}, and the accuracy is "
                     f"highest at that largest lr{diverged(t)})",
            "never": f"not reached (no lr reaches {level_text}: " + (
                "every run diverged by epoch 1)" if missing(t.peak) else
                f"the accuracy peaks at {_number(t.peak, '.3f')}, at lr {_g(t.peak_lr)}, inside the grid"
                f"{diverged(t)})"),
        }[t.place]
        words.append(f"`{t.loss}` at C = {t.classes}, seed {t.seed}: {where}")
    side = {"below": "lower", "above": "higher"}
    sides = sorted({side[t.place] for t in out if t.place in side})
    advice = []
    if sides:
        advice.append(f"a ratio a threshold outside its grid enters is a bound and enters no fit; extend those grids "
                      f"to {_list(sides)} lrs to measure it")
    if any(t.place == "never" for t in out):
        advice.append("a level reached at no lr needs more training steps (images or epochs), not a wider grid")
    advice = "; ".join(advice)
    return (f"Thresholds not inside their grid ({len(out)}), never points: " + "; ".join(words)
            + f". {advice[0].upper()}{advice[1:]}.")


def reference_text(study: Study) -> str:
    """How far the reference's own threshold lr moves between seeds, per C: the noise the ratios carry."""
    parts = []
    for c in study.classes:
        lrs = [t.lr for t in study.thresholds_of(study.reference, c) if t.place == "inside"]
        if len(lrs) >= 2:
            parts.append(f"×{_g(max(lrs) / min(lrs))} at C = {c}")
    if not parts:
        return ""
    return (f"For scale: `{study.reference}`'s own threshold lr differs between its seeds by " + ", ".join(parts)
            + "; a per-seed ratio carries that spread.")


def _per_seed(values) -> str:
    return ", ".join(values) if values else "–"


def _threshold_cell(study: Study, loss: str, classes: int) -> str:
    cells = []
    for t in study.thresholds_of(loss, classes):
        cells.append(_g(t.lr) if t.place == "inside" else "not reached" if t.place == "never" else
                     f"{t.place} the grid")
    return _per_seed(cells)


def _ratio_cell(r: SeedRatio) -> str:
    if not missing(r.ratio):
        return _g(r.ratio)
    if r.unreached:
        return f"none ({r.unreached} reaches the level at no lr)"
    return f"{r.bound} {_g(r.bound_value)}" if r.bound else "–"


def law_display(study: Study, law: Law) -> pd.DataFrame | None:
    """One loss's numbers per C: gradient ratio, threshold lrs, threshold-lr ratio per seed, predicted, reading."""
    if not law.at:
        return None
    rows = []
    for row in law.at:
        grid = row.grid
        rows.append({
            "C": str(row.classes),
            "initial gradient ratio, per seed": _per_seed([_number(v, ".4f") for v in row.gradient]),
            "predicted": "none" if row.gradient_predicted is None else _number(row.gradient_predicted, ".4f"),
            f"lr grid of `{law.loss}`": f"{_g(grid[0])} to {_g(grid[-1])}, {_steps(grid)}",
            f"threshold lr of `{study.reference}`": _threshold_cell(study, study.reference, row.classes),
            f"threshold lr of `{law.loss}`": _threshold_cell(study, law.loss, row.classes),
            "threshold-lr ratio, per seed": _per_seed([_ratio_cell(r) for r in row.seeds]),
            "predicted ratio": "none" if row.predicted is None else _g(row.predicted),
            f"within ×{study.tolerance:g}": {"every": "every seed", "some": "some seeds", "none": "no seed",
                                               "": "not read"}[row.reading],
        })
    return pd.DataFrame(rows).set_index("C")


def per_c(study: Study) -> str:
    """Every loss's table per C (``law_display``) under its name, then the reference's own seed spread (markdown)."""
    tables = [f"### `{law.loss}`\n\n{law_display(study, law).to_markdown(disable_numparse=True)}"
              for law in study.laws if law.at]
    return "\n\n".join([*tables, reference_text(study)]).strip()


# --- the figure ------------------------------------------------------------------------------------

def drawable(study: Study) -> bool:
    """Whether the ratio figure has anything to draw: a measured ratio or a bound of some loss."""
    return any(r.bound or not missing(r.ratio) for law in study.laws for row in law.at for r in row.seeds)


def ratio_caption(study: Study) -> str:
    if not drawable(study):
        return "No threshold-lr ratio was measured or bounded: no figure."
    unreached = any(r.unreached for law in study.laws for row in law.at for r in row.seeds)
    return ("Left: each loss's threshold-lr ratio to `" + study.reference + "` against C, both axes logarithmic: one "
            "dot per seed, a triangle for a bound (▲ at least, ▼ at most: a threshold outside its grid), the "
            f"predicted ratio as a dashed line and the band ×{study.tolerance:g} around it shaded, the fitted power "
            "law as a thin solid line"
            + ("; a seed without a ratio (one loss reaches the level at no lr) has no mark" if unreached else "")
            + ". Right: the initial logit-gradient ratio to `" + study.reference + "`, per "
            "seed, against its declared value (dashed).")


def ratio_alt(study: Study) -> str:
    """The figure's alternative text: what it shows, in numbers, for a reader who cannot see it."""
    if not drawable(study):
        return ""
    parts = []
    for law in study.laws:
        seeds_text = "; ".join(f"C = {row.classes}: " + (", ".join(_ratio_cell(r) for r in row.seeds) or "none")
                               + ("" if row.predicted is None else f" against {_g(row.predicted)} predicted")
                               for row in law.at)
        fitted = "" if law.fit is None else f", fitted exponent {_exponent(law.fit.exponent)}"
        parts.append(f"{law.loss}: {seeds_text}{fitted}")
    return (f"Log-log plot of the threshold-lr ratio to {study.reference} against the number of classes C, per seed. "
            + ". ".join(parts) + ". A second panel: the initial logit-gradient ratio against C.")


def curves_caption(study: Study) -> str:
    if not study.curves:
        return ""
    n = len(study.seeds)
    dash = (f"; seed {study.seeds[0]} solid, seed {study.seeds[1]} dashed" if n == 2 else
            f"; seed {study.seeds[0]} solid, the others dashed" if n > 2 else "")
    return ("Each seed's validation accuracy after epoch 1 against the lr, one panel per C (lr axis logarithmic), "
            f"each loss in its colour{dash}. Dotted: the level that defines the threshold lr; a short "
            "vertical bar marks each threshold lr found inside its grid. A curve already above the level at its "
            "smallest lr has its threshold below the grid.")


def curves_alt(study: Study) -> str:
    if not study.curves:
        return ""
    parts = []
    for c in study.classes:
        found = [t for t in study.thresholds if t.classes == c]
        words = ", ".join(f"{t.loss} seed {t.seed} " + (f"at lr {_g(t.lr)}" if t.place == "inside" else
                                                         "reached at no lr" if t.place == "never" else
                                                         f"{t.place} the grid") for t in found)
        parts.append(f"C = {c} (level {_number(found[0].level, '.3f')}): {words}" if found else f"C = {c}")
    return ("Validation accuracy after epoch 1 against the learning rate, one panel per number of classes, one line "
            "per loss and seed. Threshold lrs: " + "; ".join(parts) + ".")
