"""The why page's words: the records of ``lossbench.why`` turned into markdown, display tables and
captions. Nothing here decides anything: every decision is in the records, every threshold in
``lossbench.decisions``, what a loss is in ``lossbench.losses``.
"""

from __future__ import annotations

import math

import pandas as pd

from . import stats
from .comparison_words import ablation_text
from .decisions import CONFIDENT, EPS, LAYERS_AGREE, NEAR_UNIFORM, STEP_MATCH, TRACK, never_confident
from .why import Accuracy, ByEpoch, DirectTest, OtherLoss, Overshoot, Ratio, Why, capped
from .words import acc, factor, names, number, points, seeds, settings_text

# --- wording ----------------------------------------------------------------------------------------


def ratio_missing(r: Ratio) -> str:
    """Why the initial gradient ratio of the two losses is not measured in these tables."""
    if r.untrained:
        because = f"no variant trains {' or '.join(f'`{loss}`' for loss in r.untrained)}"
    elif r.not_finite:
        because = "; ".join(f"`{loss}`'s initial logit-gradient norm is not finite on {_seed_list(s)} (its loss is not "
                            "a number from the first step)" for loss, s in r.not_finite)
    else:
        because = "no seed was trained with both"
    return f"The initial logit-gradient ratio `{r.slow}` / `{r.base}` is not measured here: {because}."


def _seed_list(found) -> str:
    return ("seed " if len(found) == 1 else "seeds ") + ", ".join(map(str, found))


def _ratio(value: float) -> str:
    """A ratio of gradient norms: 0.0200, 0.2110, 1.2230, 10.00."""
    return number(value, ".4f" if abs(value) < 10 else ".4g")


def _theory(predicted: float | None, measured: float) -> str:
    """', against 0.0200 declared in the registry: 0.0% apart' or '; measured: ... declares no theory'."""
    if predicted is None:
        return ("; measured: its registry entry declares no theory for it, so the derivation above is not applied "
                "to it")
    return f", against {_ratio(predicted)} declared in the registry: {abs(measured / predicted - 1) * 100:.1f}% apart"


def ratio_sentence(w: Why) -> str:
    r = w.ratio
    if not r.measured:
        return ratio_missing(r)
    size, direction = factor(r.mean)
    text = (f"At initialisation the measured logit-gradient ratio of the losses `{r.slow}` / `{r.base}` is "
            f"**{_ratio(r.mean)}** ({seeds(len(r.per_seed), mean=True)}){_theory(r.predicted, r.mean)}. ")
    text += (f"`{r.slow}` starts with the same gradient as `{r.base}`." if direction == "the same" else
             f"`{r.slow}` starts with a ~{size} {direction} gradient than `{r.base}`.")
    if r.not_finite:
        text += " Left out: " + "; ".join(f"`{loss}` is not finite on {_seed_list(s)}"
                                          for loss, s in r.not_finite) + "."
    if r.predicted is None:
        return text + " It does not by itself show what sets `" + r.slow + "`'s pace."
    return text + " This checks the algebra on these networks; it does not by itself show what makes training slow."


def layer_sentence(w: Why) -> str:
    layers = w.layers
    if (not layers.ratios or all(math.isnan(v) for v in layers.ratios)) and w.ratio.not_finite:
        return (f"The per-layer weight-gradient ratio `{w.slow}` / `{w.base}` at initialisation is not measured: "
                + "; ".join(f"`{loss}`'s gradients are not finite from the first step on {_seed_list(found)}"
                            for loss, found in w.ratio.not_finite) + ".")
    if not layers.ratios or all(math.isnan(v) for v in layers.ratios):
        return (f"The per-layer weight-gradient ratio `{w.slow}` / `{w.base}` at initialisation is not in these "
                "tables (no finite epoch-0 layer norms of both losses on one seed: runs recorded before they were "
                "measured, a loss missing, or a loss not finite from the start).")
    values = ", ".join(number(v, ".4f") for v in layers.ratios)
    theory = f"; declared {_ratio(w.ratio.predicted)}" if w.ratio.predicted is not None else ""
    text = (f"Every layer's weight gradient at initialisation (epoch 0, mean over the split's first minibatches) has "
            f"`{w.slow}` / `{w.base}` = {values} (layers 1–{len(layers.ratios)}{theory}), within "
            f"{number(layers.spread * 100, '.1f')}% of each other")
    if layers.agree:
        return text + (": one per-sample factor on ∂ℓ/∂z scales every parameter gradient alike, so at initialisation "
                       f"a learning rate acts on `{w.slow}` as that factor times it would on `{w.base}`.")
    return text + (f": more than {LAYERS_AGREE * 100:g}% apart, so the two losses' logit gradients differ by more "
                   f"than one per-sample factor, and a learning rate does not act on `{w.slow}` as one multiple of "
                   f"its action on `{w.base}`.")


def other_sentence(o: OtherLoss, base: str) -> str:
    size, direction = factor(o.ratio)
    text = (f"`{o.loss}` starts with a {size} {direction} logit gradient than `{base}`'s at initialisation "
            f"({seeds(o.seeds, mean=True)}: {_ratio(o.ratio)}×)" if direction != "the same" else
            f"`{o.loss}` starts with the same logit gradient as `{base}`'s at initialisation ({seeds(o.seeds)})")
    text += (f"; its declared scale is {_ratio(o.predicted)}" if o.predicted is not None else
             "; measured: its registry entry declares no theory for it")
    if never_confident(o.cap):
        text += (f". Its targets cap the softmax: at its minimiser the largest probability is {o.cap:.2f}, so it can "
                 f"hardly be confidently wrong (p > {CONFIDENT:g}): its low share of confidently wrong images is no "
                 "evidence")
    if o.suggested_lr is not None and direction != "the same":
        lr = o.shared_lr
        needs = "larger" if o.ratio < 1 else "smaller"  # from the ratio's side of 1, never from the loss
        text += (f". Taking `{base}`'s first steps at lr {lr:g} needs a {needs} lr for it: lr {lr:g} / {o.ratio:.2f} ≈ "
                 f"{o.suggested_lr:.2g}"
                 + (f"; tuned that way: {', '.join(f'`{v}` (lr {x:g})' for v, x in o.tuned)}" if o.tuned
                    else "; no variant runs it there"))
    return text + "."


def saturation_sentences(w: Why) -> list[str]:
    s = w.saturation
    if s.reason == "untrained":
        return [f"Saturation is not read for `{s.slow}`: no variant trains it."]
    if s.reason == "diverged":
        return [f"Saturation is not read for `{s.slow}`: every variant that trains it ({names(s.candidates)}) has "
                "diverged runs."]
    if s.reason == "no confidence":
        return [f"Saturation is not read for `{s.slow}`: `{s.variant}` has no validation confidence in the tables."]
    lines = []
    span = f"epochs {s.first}–{s.last}" if s.last > s.first else f"epoch {s.last}"
    if not math.isnan(s.grad_start):
        lines.append(
            f"Over {span}, every epoch shown, `{s.variant}`'s mean logit-gradient norm stays between "
            f"{s.grad_low:.4g} and {s.grad_high:.4g} ({s.grad_low / s.grad_start:.2f}–"
            f"{s.grad_high / s.grad_start:.2f}× its epoch-0 value) and its mean max-probability "
            + (f"at {s.prob_high:.3f} throughout." if f"{s.prob_low:.3f}" == f"{s.prob_high:.3f}"
               else f"between {s.prob_low:.3f} and {s.prob_high:.3f}."))
    state = (f"over {span} `{s.variant}` has mean max-probability at most {s.prob_high:.2f} and at most "
             f"{s.wrong_high * 100:.1f}% confidently wrong validation images")
    if w.slow_cap is not None:
        lines.append(f"Saturation: {state}. Its targets cap the softmax (largest probability at its minimiser: "
                     f"{w.slow_cap:.2f}, below the {CONFIDENT:g} that counts as confident), so outputs close to "
                     "uniform and few confidently wrong images are automatic for it: no evidence about saturation.")
    elif s.uniform:
        text = (f"Saturation: {state}. Its outputs stay close to uniform for the whole run (mean max-probability below "
                f"{NEAR_UNIFORM[0]:g}, under {NEAR_UNIFORM[1]:.0%} confidently wrong)")
        if w.softmax_reading:
            text += (", so saturated wrong answers (where the softmax Jacobian vanishes) do not explain its slowness "
                     "here. Its slow progress is consistent with the declared scale of its gradient; the direct test "
                     "of that reading is the reference loss at the same effective step (below).")
        else:
            text += ", so saturated outputs do not explain its pace here."
        lines.append(text)
    elif w.softmax_reading:
        lines.append(f"Saturation: {state}; where it is confidently wrong the softmax Jacobian shrinks its gradient "
                     "further.")
    else:
        lines.append(f"Saturation: {state}.")
    return lines


def _scale_words(d: DirectTest) -> str:
    return f"{number(d.lr, 'g')} × {_ratio(d.scale)} ({'declared' if d.declared else 'measured'} initial ratio)"


def direct_sentence(w: Why) -> str | None:
    d = w.direct
    if d is None:
        return None
    target = number(d.target_lr, ".2g")
    if d.twin is None:
        return (f"Direct test not in this sweep: `{d.base}` at lr {_scale_words(d)} = {target}, which should track "
                f"`{d.slow_variant}` at lr {number(d.lr, 'g')} while the two losses' gradient ratio stays at its "
                f"initial value (add it as a variant: `{{loss: {d.base}, lr: {target}}}`).")
    if d.kind == "no shared epoch":
        return f"Direct test: `{d.twin}` and `{d.slow_variant}` share no epoch with a validation accuracy."
    text = (f"Direct test: `{d.twin}` (`{d.base}` at lr {target} = {_scale_words(d)}) against `{d.slow_variant}` at lr "
            f"{number(d.lr, 'g')}: their mean validation accuracies differ by at most {d.gap * 100:.1f} points over "
            f"epochs {d.first}–{d.last} (epoch {d.last}: {d.twin_last:.4f} vs {d.slow_last:.4f}; largest gap at epoch "
            f"{d.gap_epoch})"
            + (f", while their effective steps lr × ‖∂ℓ/∂z‖ stay within {d.step_gap * 100:.1f}% of each other"
               if not math.isnan(d.step_gap) else ""))
    width = f"{TRACK * 100:g} points"
    if d.kind == "tracks":
        return text + (f": `{d.base}` given the same effective step tracks `{d.slow_variant}` (within {width}) at "
                       "every epoch shown, as the initial-ratio reading predicts; this supports it for these epochs "
                       "(figure below).")
    if d.kind == "early":
        return text + (f": within {width} up to epoch {d.early_until}, further apart later: consistent with the "
                       "initial-ratio reading for those epochs, not for the later ones.")
    return text + (f": more than {width} apart, so the initial gradient ratio alone does not account for "
                   f"`{d.slow_variant}`'s pace here.")


def overshoot_sentence(o: Overshoot, slow: str) -> str:
    scale = o.lr / o.shared_lr
    size, direction = factor(o.ratio)
    text = (f"`{o.variant}` runs `{slow}` at lr {o.lr:g} = {scale:.3g}× {o.shared_lr:g}. Its first-layer step "
            "lr × ‖∇W1‖ is ")
    initial = f"its {size} {direction} initial gradient"
    if math.isnan(o.start):
        text += "not measured at epoch 0"
    else:
        text += f"{o.start:.2f}× `{o.base_variant}`'s at epoch 0"
        if abs(o.start - 1) <= STEP_MATCH + EPS:
            text += f": ×{scale:.3g} offsets {initial} (within {STEP_MATCH:.0%})"
        elif (o.start < 1) == (o.ratio < 1):
            text += f": ×{scale:.3g} makes up only part of {initial}"
        else:
            text += f": ×{scale:.3g} more than offsets {initial}"
    if not math.isnan(o.later_low):
        span = (f"{o.later_low:.2f}×" if f"{o.later_low:.2f}" == f"{o.later_high:.2f}" else
                f"{o.later_low:.2f}–{o.later_high:.2f}×")
        text += f". From epoch {o.later_from} on it is {span} (mean over seeds per epoch)"
        larger, smaller = o.later_low > 1 + STEP_MATCH, o.later_high < 1 - STEP_MATCH
        if (larger and o.ratio < 1) or (smaller and o.ratio > 1):
            text += f": it over-compensates once training moves on ({'larger' if larger else 'smaller'} steps)"
        elif larger or smaller:
            text += f": its steps stay {'larger' if larger else 'smaller'} than `{o.base_variant}`'s"
    return text + (f". Its accuracy against `{o.base_variant}` compares a different effective step with an untuned "
                   "one, not the two losses.")


def accuracy_sentence(a: Accuracy, reference: str) -> str:
    if a.diverged is not None:
        who, k, n = a.diverged
        return (f"`{a.variant}` (loss `{a.loss}`, lr {a.lr:g}): not compared with `{reference}`, because `{who}` "
                f"diverged in {k} of {n} runs.")
    if a.ablation is not None:
        return ablation_text(a.ablation) + "."
    return (f"`{a.variant}` (loss `{a.loss}`, lr {a.lr:g}): {acc(a.mean)} test accuracy, against "
            f"{acc(a.reference_mean)} for `{reference}` ({points(a.mean - a.reference_mean)} points; the comparison "
            "page tests the difference).")


def conclusion(w: Why) -> str:
    """What the measurements say about the slow loss (markdown list)."""
    lines = [ratio_sentence(w), layer_sentence(w)]
    lines += [other_sentence(o, w.base) for o in w.others]
    lines += saturation_sentences(w)
    direct = direct_sentence(w)
    lines += [direct] if direct else []
    lines += [overshoot_sentence(o, w.slow) for o in w.overshoots]
    if w.reference_state == "missing":
        lines.append(f"The reference `{w.reference}` has no runs in these tables: no accuracy is compared with it.")
    elif w.reference_state == "alone":
        lines.append(f"`{w.reference}` is the only variant: no accuracy to compare with it.")
    else:
        lines += [accuracy_sentence(a, w.reference) for a in w.accuracies]
    return "\n".join(f"- {line}" for line in lines)


def ratio_display(r: Ratio) -> pd.DataFrame:
    """Per seed: both losses' initial norms and their ratio (finite seeds only), with the declared
    theory beside it where the slow loss declares one."""
    out = pd.DataFrame(list(r.per_seed), columns=["seed", r.slow, r.base, "ratio"])
    if r.slow == r.base:
        out = out.drop(columns=[r.base])
    if r.predicted is not None:
        out["declared"] = r.predicted
        out["ratio / declared"] = out["ratio"] / r.predicted
    return out.set_index("seed").round(5)


# --- captions of the why page's figures ---------------------------------------------------------------


def ratio_caption(b: ByEpoch | None, w: Why) -> str:
    """What the per-epoch ratio figure shows, with its measured range."""
    if b is None:
        return ratio_missing(w.ratio) if not w.ratio.measured else (
            f"No variant trains both `{w.slow}` and `{w.base}` at the shared settings: no ratio per epoch.")
    ratios = b.table
    if ratios.empty:
        if w.ratio.not_finite:
            return ("No ratio per epoch: " + "; ".join(f"`{loss}`'s logit-gradient norm is not finite on "
                                                       f"{_seed_list(found)}" for loss, found in w.ratio.not_finite)
                    + f" (`{b.numerator}` / `{b.denominator}`).")
        return f"No seed was trained as both `{b.numerator}` and `{b.denominator}`: no ratio per epoch."
    later = ratios[ratios["epoch"] > 0]
    text = (f"Mean per-sample logit-gradient norm of `{b.numerator}` over that of `{b.denominator}` on the same seed. "
            "At epoch 0 both are the same network, so the ratio is the losses' alone; later epochs compare the "
            "networks each trained into.")
    first = ratios[ratios["epoch"] == 0]
    if len(first):
        text += f" Epoch 0: {first['mean'].iloc[0]:.4f}"
        text += f" (declared {_ratio(b.predicted)})" if b.predicted is not None else " (measured; no declared theory)"
    if len(later):
        text += (f"; epochs {int(later['epoch'].min())}–{int(later['epoch'].max())}: {later['mean'].min():.4f} to "
                 f"{later['mean'].max():.4f}")
    return text + "."


def saturation_caption(epochs: pd.DataFrame, classes: int) -> str:
    """Which variants the saturation panels leave out, and why (losses whose targets cap the
    softmax, as they declare); which of the drawn lines coincide."""
    from .captions import band_text, coinciding_text
    from .decisions import MIN_SEEDS_FOR_BAND

    seeds = epochs.groupby("variant")["seed"].nunique() if len(epochs) else None
    text = ("Bands, where there are two seeds or more: 95% t-interval of the mean over seeds, clipped to [0, 1]."
            if seeds is None or seeds.max() < 2 or seeds.min() >= MIN_SEEDS_FOR_BAND else band_text(int(seeds.min())))
    if "loss" not in epochs:
        return text
    caps = capped(epochs, classes)
    drawn = epochs[~epochs["loss"].isin(caps)]
    text += coinciding_text(drawn, ("val_mean_max_prob", "val_confident_wrong"))
    left = epochs[epochs["loss"].isin(caps)]
    if len(left):
        variants = list(dict.fromkeys(left["variant"]))
        peak = left.groupby(["variant", "epoch"])["val_mean_max_prob"].mean().max()
        bounds = ", ".join(f"`{loss}` {cap:.2f}" for loss, cap in caps.items())
        one = len(variants) == 1
        whose = "its loss's" if one else "their losses'"
        text += (f" {names(variants)} {'is' if one else 'are'} left out: {whose} "
                 f"targets cap the softmax (largest probability at the minimiser: {bounds}), below the {CONFIDENT:g} "
                 "that counts as confident, so a low confidently-wrong share is automatic for "
                 f"{'it' if one else 'them'}, not evidence of anything (measured here: mean max-probability at most "
                 f"{peak:.2f}).")
    return text


def overlay_caption(epochs: pd.DataFrame, table: pd.DataFrame, w: Why) -> tuple[str, list[str]]:
    """The direct test's overlay: which variants it shows and what to look for; empty list when the
    twin is missing."""
    from .captions import coinciding_text

    d = w.direct
    base = stats.shared_variant(table, w.base, w.reference)
    if d is None:
        why_not = {"untrained": f"no variant trains `{w.slow}`",
                   "diverged": f"every variant that trains `{w.slow}` has diverged runs"}.get(
            w.saturation.reason, f"`{w.slow}`'s initial gradient ratio to `{w.base}` is not measured (above)")
        return f"No overlay: {why_not}, so there is no direct test to draw.", []
    if d.twin is None:
        return (f"No overlay: the sweep has no `{w.base}` variant at lr {number(d.target_lr, '.2g')} (the direct test "
                "above says what to add)."), []
    if base is None:
        return f"No overlay: no `{w.base}` variant at the shared settings to draw for scale.", []
    shown = [d.slow_variant, d.twin, base]
    return (f"`{d.twin}` against `{d.slow_variant}` (and `{base}` at the shared lr for scale): validation accuracy and "
            "the effective step lr × ‖∂ℓ/∂z‖. If the initial gradient ratio is what sets the slow loss's pace, the "
            "first two lines track each other while that ratio holds."
            + coinciding_text(stats.with_lr(epochs[epochs["variant"].isin(shown)], table),
                              ("val_accuracy", "step_logit"))), shown


def ablation_caption(runs: pd.DataFrame, w: Why, epochs: pd.DataFrame | None = None) -> tuple[str, list[str]]:
    """The ablation section: which variants change more than the loss and what each is shown
    beside (its loss at the shared settings); returns the text and the variants to draw."""
    from .captions import coinciding_text
    from .words import changed_text

    ablated = stats.ablations(runs, w.reference)
    if not ablated:
        return (f"This sweep has no ablation variant (no variant of `{w.slow}` or another loss at other settings): "
                "every variant trains at the same settings, as on the comparison page."), []
    shown, parts = [], []
    for variant in ablated:
        base = stats.ablation_base(runs, variant, w.reference)
        loss = runs.loc[runs["variant"] == variant, "loss"].iloc[0]
        changed = changed_text(stats.changed_settings(runs, variant, w.reference))
        beside = f"; beside `{base}`" if base else "; its loss has no variant at the shared settings"
        parts.append(f"`{variant}` (`{loss}` at {changed}{beside})")
        shown += [v for v in (base, variant) if v and v not in shown]
    shared = settings_text(stats.shared_settings(runs, w.reference))
    drawn = epochs[epochs["variant"].isin(shown)] if epochs is not None else None
    return ("Each ablation changes a setting besides the loss, and is drawn beside its own loss at the shared "
            f"settings ({shared}): " + "; ".join(parts) + ". What each shows is said above, never as a ranking of "
            "the losses." + (coinciding_text(drawn, ("val_accuracy", "train_loss_relative")) if drawn is not None
                             else "")), shown


# --- the page's opening: the measured verdicts, before the derivation ------------------------------------

def verdicts(w: Why, runs: pd.DataFrame) -> str:
    """The page's first paragraph: what the measurements decide, each a sentence computed from ``w`` (the
    slow loss's accuracy against the reference's, its initial gradient factor, the direct test's verdict,
    saturation's), and what the seeds can support; the derivation and the details follow it."""
    from .decisions import MIN_SEEDS_TO_RANK, can_rank

    parts = []
    mine = [a for a in w.accuracies if a.loss == w.slow and a.ablation is None]
    if mine and w.reference_state == "ok":
        a = mine[0]
        if a.diverged is not None:
            who, k, n = a.diverged
            parts.append(f"`{a.variant}` is not compared with `{w.reference}`: `{who}` diverged in {k} of {n} runs.")
        else:
            parts.append(f"`{a.variant}` (lr {a.lr:g}) ends at {acc(a.mean)} test accuracy against "
                         f"{acc(a.reference_mean)} for `{w.reference}` ({points(a.mean - a.reference_mean)} points).")
    r = w.ratio
    if r.measured:
        size, direction = factor(r.mean)
        parts.append(f"`{r.slow}`'s logit gradient at initialisation is {size} {direction} than `{r.base}`'s "
                     f"(measured {_ratio(r.mean)}" + (f", declared {_ratio(r.predicted)}" if r.predicted else "")
                     + ").")
    elif r.slow != r.base:
        parts.append(f"`{r.slow}`'s initial logit-gradient ratio to `{r.base}` is not measured (the list below says "
                     "why).")
    d = w.direct
    width = f"{TRACK * 100:g} points"
    if d is not None and d.twin is not None and d.kind in ("tracks", "early", "apart"):
        lead = f"`{d.base}` at the same effective step (lr {number(d.target_lr, '.2g')}) "
        parts.append(lead + {
            "tracks": (f"tracks it within {width} at every epoch shown: this supports the initial gradient ratio as "
                       "what sets its pace over these epochs."),
            "early": (f"tracks it within {width} up to epoch {d.early_until} only: the scale accounts for its early "
                      "pace, not for the later epochs."),
            "apart": f"is more than {width} apart from it: the scale alone does not account for its pace."}[d.kind])
    elif d is not None and d.twin is None:
        parts.append(f"The direct test, `{d.base}` at the same effective step, is not in this sweep.")
    s = w.saturation
    if s.variant is not None and not s.reason and w.slow_cap is None:
        parts.append(f"Its outputs stay near uniform (mean max-probability at most {s.prob_high:.2f}), so saturation "
                     "does not explain its pace." if s.uniform else
                     f"Its outputs do not stay near uniform (mean max-probability up to {s.prob_high:.2f}, "
                     f"{s.wrong_high * 100:.1f}% confidently wrong): saturation can slow it too.")
    n = int(runs.groupby("variant")["seed"].nunique().min()) if len(runs) else 0
    if n and not can_rank(n):
        parts.append(f"With {seeds(n)} per variant these are readings of the runs, not tested rankings (a ranking "
                     f"needs {MIN_SEEDS_TO_RANK} seeds).")
    if not parts:
        return "**Measured.** Nothing to read: the tables hold no run of the losses this page compares."
    return "**Measured.** " + " ".join(parts) + " The details follow, then the derivation."


def paired_caption(w: Why) -> str:
    """What the direct test's paired figure shows (seed by seed, the twin minus the slow variant)."""
    d = w.direct
    if d is None or d.twin is None:
        return ""
    return (f"Seed by seed (the same split, initial weights and batch order), validation accuracy of `{d.twin}` minus "
            f"that of `{d.slow_variant}`, in points, each seed its own line; 0 is no difference. A gap between the two "
            "smaller than the spread between seeds shows here, where bands of the two means would overlap it.")
