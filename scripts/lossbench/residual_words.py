"""The residual factor in words: ``residual.Residual`` records -> markdown and a display table.

Every sentence reads a number or a decision already made in ``residual`` (and ``lossbench.decisions``); loss
names come from the record, never from here. The *why* page's "The residual factor" shows ``statement``,
``caption`` (the figure's), and ``display``. tests/test_residual_words.py keeps the text as golden markdown.
"""

from __future__ import annotations

import math

import pandas as pd

from .decisions import RESIDUAL_ACCOUNTS, RESIDUAL_PART, STEP_MATCH
from .residual import Residual
from .words import number

NAMES = {"norm": "the logit-gradient norm ratio", "cosine": "the direction (weight-gradient cosine)",
         "second": "the second-order term"}


def _x(value: float) -> str:
    return number(value, ".3g") + "×"


def _x4(value: float) -> str:
    """A factor near 1 with the digits that tell it from 1 (0.998×, 1.0006×)."""
    return number(value, ".4g" if abs(value - 1) >= 1e-3 else ".5g") + "×"


def _lr(value: float) -> str:
    return number(value, ".3g")


def _share(f) -> str:
    if f.reading == "":
        return ""
    if f.share < 0:
        return "none of the residual; it points the other way"
    if f.share == 0:
        return "none of the residual"
    if f.share < 0.01:
        return "under 1% of the residual on a log scale"
    return f"{f.share:.0%} of the residual on a log scale" if f.share <= 1 else "more than all of the residual"


def _source(r: Residual) -> str:
    return ("from the two losses' declared gradient scales" if r.predicted_source == "declared" else
            "from the measured initial gradient scale (a loss declares none)")


def _residual_text(r: Residual) -> str:
    """The residual itself, from the learning-rate study, or why there is none."""
    slow, ref = f"`{r.slow_loss}`", f"`{r.reference}`"
    if not r.study:
        return (f"The learning-rate study (config `lr_study:`) is off or does not train both {slow} and {ref}: no "
                "threshold-lr ratio, so no residual to account for. The probe's readings stand alone below. ")
    spread = ("" if pd.isna(r.range_low) else
              f" Over the study's thresholds and seeds, measured ÷ predicted is {_x(r.range_low)} wherever a "
              "crossing is located." if _x(r.range_low) == _x(r.range_high) else
              f" Over the study's thresholds and seeds, measured ÷ predicted runs from {_x(r.range_low)} to "
              f"{_x(r.range_high)}: the threshold's choice and the seed move it.")
    if pd.isna(r.predicted):
        return f"The gradient scale of {slow} is not measured: no prediction, so no residual.{spread} "
    if pd.isna(r.measured):
        return (f"The learning-rate study gives no point estimate of {slow}'s threshold-lr ratio to {ref} at its "
                f"threshold {r.threshold:g} (see the Learning rate page), against {_x(r.predicted)} predicted "
                f"{_source(r)}.{spread} ")
    return (f"To first reach validation accuracy {r.threshold:g} after epoch 1, {slow} needs a {_x(r.measured)} "
            f"larger lr than {ref} (the learning-rate study), against {_x(r.predicted)} predicted {_source(r)}: "
            f"**a residual factor of {_x(r.residual)}**.{spread} ")


def _factor_text(r: Residual, name: str) -> str:
    f = r.factor(name)
    asks = f"it asks for a {_x4(f.value)} lr" + (f": {_share(f)}" if f.reading else "")
    if name == "norm":
        what = (f"the logit-gradient norm ratio of {f'`{r.slow_loss}`'} to {f'`{r.reference}`'}, over "
                + ("the declared scale" if all(p.declared for p in r.probes) else "its value at step 0")
                + f", averages {r.mean('norm'):.4g} (1 where the first-order account holds)")
    elif name == "cosine":
        what = (f"the cosine of the two losses' weight gradients averages {r.mean('cosine'):.4g} (per-sample logit "
                f"gradients: {r.mean('logit_cosine'):.4g})")
    else:
        what = (f"the second-order term of one step changes its loss change by {r.mean('second'):+.2g} of the "
                f"first-order term for `{r.slow_loss}` and {r.mean('reference_second'):+.2g} for `{r.reference}` "
                f"(the whole step, network included: {r.mean('actual'):.4g} and {r.mean('reference_actual'):.4g} of "
                "first order)")
    return f"{what}; {asks}"


def _verdict(r: Residual) -> str:
    if not any(f.reading for f in r.factors):
        return ""
    full = [NAMES[f.name] for f in r.factors if f.name in NAMES and f.reading == "accounts"]
    part = [NAMES[f.name] for f in r.factors if f.name in NAMES and f.reading == "part"]
    together = r.factor("together")
    left = r.residual / together.value if not pd.isna(r.residual) else math.sqrt(r.range_low * r.range_high) / \
        together.value
    if full:
        text = f"**{' and '.join(full)} account{'s' if len(full) == 1 else ''} for the residual**"
    elif part:
        text = f"**{' and '.join(part)} account{'s' if len(part) == 1 else ''} for part of the residual, none for all**"
    else:
        text = "**none of the three accounts for the residual**"
    of = ("" if not pd.isna(r.residual) else
          f" (with no point estimate, the residual is taken at the geometric middle of its range, "
          f"{_x(math.sqrt(r.range_low * r.range_high))})")
    return (f"Together they ask for {_x4(together.value)}: {_share(together)}{of}. So {text} (a share of at least "
            f"{RESIDUAL_ACCOUNTS:.0%} on a log scale accounts for it, {RESIDUAL_PART:.0%} is part of it); "
            f"{_x(left)} is left that they do not explain. ")


def _where(r: Residual) -> str:
    """Where the probed run is against the runs that define the residual (its lr against the threshold lr)."""
    if pd.isna(r.threshold_lr):
        return ""
    gap = r.threshold_lr / r.lr
    if abs(math.log(gap)) < math.log(1 + STEP_MATCH):
        return f"The probe runs at lr {_lr(r.lr)}, the slow loss's threshold lr in the study ({_lr(r.threshold_lr)}). "
    return (f"⚠ The probe follows `{r.slow_loss}` at lr {_lr(r.lr)}; its threshold lr in the study is "
            f"{_lr(r.threshold_lr)}, {_x(gap if gap > 1 else 1 / gap)} {'larger' if gap > 1 else 'smaller'}: the "
            "probed network is not one of those whose crossing defines the residual (config `probe.lr` "
            f"{_lr(r.threshold_lr)} probes there). ")


def _whole_run(r: Residual) -> str:
    low = min(p.norm_range[0] for p in r.probes)
    high = max(p.norm_range[1] for p in r.probes)
    drift = [p.drift_epoch for p in r.probes if not pd.isna(p.drift_epoch)]
    epochs = max(p.epochs for p in r.probes)
    return (f"Over the whole probed run ({epochs:g} epochs) the norm ratio stays between {low:.4g} and {high:.4g} "
            + (f"(off 1 by more than {STEP_MATCH:.0%} from epoch {min(drift):.3g})" if drift else
               f"(never off 1 by more than {STEP_MATCH:.0%})")
            + f", the weight-gradient cosine at least {min(p.cosine_low for p in r.probes):.4g}; the largest softmax "
            f"probability on the probe batch after epoch 1 is {max(p.max_prob for p in r.probes):.3g}.")


def statement(r: Residual) -> str:
    """The section's text (markdown)."""
    text = _residual_text(r)
    if not r.probed:
        return text + ("The probe (config `probe:`) is off, or probed another pair of losses: nothing on one "
                       "network is measured here. Turn it on to read the norm ratio, the direction and the "
                       "second-order term along training.")
    p = r.probes[0]
    seeds = ", ".join(str(q.seed) for q in r.probes)
    text += (f"\n\nOn one network (`{r.slow_loss}` trained at lr {_lr(p.lr)}, seed{'s' if len(r.probes) > 1 else ''} "
             f"{seeds}; `{r.reference}` read on the same weights, its matched step at lr {_lr(p.reference_lr)}; the "
             f"probe batch: the first {p.probe_size} training images), over the first epoch:\n\n")
    text += "\n".join(f"- {_factor_text(r, name)}." for name in ("norm", "cosine", "second")) + "\n\n"
    return text + _verdict(r) + _where(r) + _whole_run(r)


def caption(r: Residual) -> str:
    if not r.probed:
        return ""
    return (f"Along `{r.slow_loss}`'s probed run, per seed: left, the logit-gradient norm ratio to `{r.reference}` "
            "over the declared scale (1: the first-order account; dashed); middle, the cosine of the two losses' "
            "weight gradients; right, each loss's second-order term of one step as a share of its first-order term "
            "(0: first order is exact). Each point is one probe of the same network, read between two training "
            "steps.")


def display(r: Residual) -> pd.DataFrame | None:
    """Per probed seed, the first epoch's means (strings)."""
    if not r.probed:
        return None
    rows = [{"seed": p.seed, "norm ratio": f"{p.norm:.4g}",
             "weight-gradient norm ratio": "n/a" if pd.isna(p.weight_norm) else f"{p.weight_norm:.4g}",
             "weight cosine": f"{p.cosine:.4g}", "logit cosine": f"{p.logit_cosine:.4g}",
             f"second order ({r.slow_loss})": f"{p.second:+.2g}", f"second order ({r.reference})":
             f"{p.reference_second:+.2g}", "largest p after epoch 1": f"{p.max_prob:.3g}"} for p in r.probes]
    return pd.DataFrame(rows).set_index("seed")


def alt(r: Residual) -> str:
    """The figure's alt text, from the record."""
    if not r.probed:
        return ""
    low = min(p.norm_range[0] for p in r.probes)
    high = max(p.norm_range[1] for p in r.probes)
    return (f"Three panels against the probed epoch of {r.slow_loss}'s run: the norm ratio to {r.reference} over the "
            f"declared scale, between {low:.4g} and {high:.4g} (1 dashed); the weight-gradient cosine, at least "
            f"{min(p.cosine_low for p in r.probes):.4g}; and each loss's second-order share of one step.")
