"""The index's answer in a few sentences (markdown), from ``index_page.Answer``: which losses reach what
accuracy, how slow the slow loss is and by what factor, and what the seeds can and cannot conclude."""

from __future__ import annotations

import math

from .decisions import MIN_SEEDS_TO_RANK
from .index_page import Answer, Reached
from .words import acc, factor, number, points, seeds


def _target_text(r: Reached, a: Answer) -> str:
    if math.isnan(r.epochs_to_target):
        return f"does not reach {a.target:.0%} validation accuracy within {a.epochs} epochs"
    return f"first reaches {a.target:.0%} validation accuracy at epoch {r.epochs_to_target:g}"


def answer(a: Answer | None) -> str:
    """The opening paragraph of the index (markdown); "" without an answer (the reference not in the tables)."""
    if a is None:
        return ""
    ref = a.reference
    listed = "; ".join(f"`{r.variant}` diverged in {r.n_diverged} of {r.n} runs" if r.n_diverged else
                       f"`{r.variant}` {acc(r.accuracy)}" for r in a.shared)
    text = (f"**The answer.** After {a.epochs} epoch{'s' if a.epochs != 1 else ''} at the shared settings "
            f"(lr {a.shared_lr:g}), the mean test accuracy over {seeds(a.seeds)} per variant is: {listed}.")
    s = a.slow
    if s is not None and s.variant != ref.variant and (s.n_diverged or ref.n_diverged):
        text += f" `{s.loss}`, the loss the *why* page explains, is not compared: a run diverged."
    elif s is not None and s.variant != ref.variant:
        text += (f" `{s.loss}`, the loss the *why* page explains, ends at {acc(s.accuracy)} against "
                 f"{acc(ref.accuracy)} for `{ref.variant}` ({points(s.accuracy - ref.accuracy)} points).")
        if not math.isnan(a.target):
            text += f" `{ref.variant}` {_target_text(ref, a)}; `{s.variant}` {_target_text(s, a)}"
            if not (math.isnan(s.epochs_to_target) or math.isnan(ref.epochs_to_target)) and ref.epochs_to_target:
                text += f", {s.epochs_to_target / ref.epochs_to_target:.3g}× as many epochs"
            text += "."
        if not math.isnan(a.ratio) and a.ratio > 0:
            size, direction = factor(a.ratio)
            text += (f" `{s.loss}`'s logit gradient at initialisation is {size} {direction} than "
                     f"`{ref.variant}`'s on the same networks (measured, {seeds(a.seeds, mean=True)}): the *why* "
                     "page tests what that factor explains.")
        for t in a.tuned:
            text += (f" At lr {number(t.lr, 'g')} ({t.lr / s.lr:.3g}× its lr), `{t.variant}` reaches "
                     f"{acc(t.accuracy)}" + (f" and {_target_text(t, a)}" if not math.isnan(a.target) else "") + ".")
    if a.can_rank:
        text += (f" The comparison page tests each difference against `{ref.variant}` ({seeds(a.seeds)}, paired, "
                 "Holm-adjusted); these are the means it tests.")
    else:
        text += (f" With {seeds(a.seeds)} per variant these are means, not a ranking: no difference is called a win "
                 f"with fewer than {MIN_SEEDS_TO_RANK} seeds (the comparison page says what they can support).")
    return text
