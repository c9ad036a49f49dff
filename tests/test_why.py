"""The why page: its records from hand-made tables, and the words for them, for the built-in losses
and for losses a user adds (faster than the reference, slow but not MSE on softmax, capped, NaN)."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from lossbench import losses, stats, why, why_words
from scenarios import SCENARIOS, scenario, user_losses
from test_comparison import LOSSES, LRS, check_page, row, summary_of, summary_table, sweep

C = 10
GRAD = {"cross_entropy": 0.95, "mse_softmax": 0.019, "mse_logits": 0.2}



@pytest.fixture(autouse=True)
def declared_user_losses():
    """A user's losses that declare their theory, registered as README says while each test runs (their code
    never runs here: only what they declare is read), then removed: the registry's own tests never see them."""
    added = {"test_why_scaled_ce": dict(head="logits", grad_scale=lambda classes: 10.0),
             "test_why_sum_squares": dict(head="logits", softmax_cap=lambda classes: math.e / (math.e + classes - 1))}
    for name, properties in added.items():
        losses.register_loss(name, **properties)(lambda z, y: z)
    yield
    for name in added:
        losses.LOSSES.pop(name)


EMPTY = pd.DataFrame(columns=["variant", "loss", "seed", "epoch", "val_accuracy", "train_loss", "logit_grad_norm",
                              "val_mean_max_prob", "val_confident_wrong"], dtype=float)


def empty_ratio(slow="mse_softmax", base="cross_entropy"):
    return why.Ratio(slow, base, (), losses.loss_info(slow).predicted_scale(C))


def epochs_for_why(twin_accuracy=(0.1, 0.11, 0.12, 0.13), mse_accuracy=(0.1, 0.11, 0.12, 0.13), layer=True,
                   variants=None, grad=None, extra=None):
    """A small why-page sweep: per variant and seed, epochs 0-3 with accuracy, norms and layer norms.
    ``extra``: {variant: (loss, lr)} beside the default-like variants (a user's loss)."""
    extra = extra or {}
    variants = variants or [v for v in LOSSES if v != "nll"]
    variants = [*variants, *(v for v in extra if v not in variants)]
    losses_of = {**LOSSES, **{v: loss for v, (loss, _) in extra.items()}}
    lrs = {**LRS, **{v: lr for v, (_, lr) in extra.items()}}
    grad = {**GRAD, **(grad or {})}
    rows = []
    for v in variants:
        loss = losses_of.get(v, v)
        for s in (0, 1):
            for e in range(4):
                base = grad.get(loss, 0.95)
                norm = base * (1 - 0.2 * e) if v in ("ce", "mse_lr5") else base
                accuracy = {"ce_slow": twin_accuracy, "mse": mse_accuracy}.get(v, (0.1, 0.6, 0.8, 0.9))[e]
                layer_scale = base * (3.0 if v == "mse_lr5" and e else 1.0)
                rows.append({"variant": v, "loss": loss, "seed": s, "epoch": e, "val_accuracy": accuracy,
                             "train_loss": 1.0 - 0.1 * e, "logit_grad_norm": norm, "val_mean_max_prob": 0.11,
                             "val_confident_wrong": 0.0,
                             "grad_norm_layer1": layer_scale if layer or e else math.nan,
                             "grad_norm_layer2": layer_scale / 2 if layer or e else math.nan})
    epochs = pd.DataFrame(rows)
    runs = sweep({v: [0.9, 0.91] for v in variants}, lrs, {v: losses_of.get(v, v) for v in variants})
    runs["initial_logit_grad_norm"] = runs["loss"].map(lambda loss: grad.get(loss, 0.95))
    return epochs, runs


def analyse(epochs, runs, reference="ce", slow="mse_softmax", base="cross_entropy", summary=None):
    return why.analyse(summary if summary is not None else summary_of(runs), runs, epochs, reference, base, slow, C)


# --- the built-in losses -----------------------------------------------------------------------------


def test_the_default_like_sweep_measures_and_reads_the_declared_theory():
    epochs, runs = epochs_for_why()
    w = analyse(epochs, runs)
    assert w.ratio.measured and math.isclose(w.ratio.mean, 0.02) and math.isclose(w.ratio.predicted, 0.02)
    assert w.softmax_reading and w.layers.agree and w.saturation.uniform
    assert w.direct.twin == "ce_slow" and w.direct.kind == "tracks" and w.direct.declared
    (o,) = w.overshoots
    assert o.variant == "mse_lr5" and math.isclose(o.start, 1.0) and math.isclose(o.later_low, 3.0)
    (other,) = w.others
    assert other.loss == "mse_logits" and math.isclose(other.ratio, 0.2 / 0.95) and other.cap is not None
    assert other.tuned == (("logits_lr0p5", 0.5),)
    text = why_words.conclusion(w)
    assert ("ratio of the losses `mse_softmax` / `cross_entropy` is **0.0200** (mean of 2 seeds), against 0.0200 "
            "declared in the registry: 0.0% apart. `mse_softmax` starts with a ~50× smaller gradient than "
            "`cross_entropy`.") in text
    assert "Over epochs 0–3, every epoch shown, `mse`'s mean logit-gradient norm stays between 0.019 and 0.019" in text
    assert "so saturated wrong answers (where the softmax Jacobian vanishes) do not explain" in text
    assert "Direct test: `ce_slow`" in text and "tracks `mse` (within 2 points) at every epoch shown" in text
    assert "beats" not in text and "what slows it here" not in text and "of the first epochs" not in text
    assert "`mse_lr5` (`mse_softmax` at lr 5 instead of 0.1): at lr 5 the same test accuracy as `mse`" in text


def test_the_reference_variant_need_not_be_named_after_its_loss():
    """The reference is a variant (mse_lr5 here); the ratio is between the losses the page names."""
    epochs, runs = epochs_for_why()
    w = analyse(epochs, runs, reference="mse_lr5")
    assert w.base == "cross_entropy" and math.isclose(w.ratio.mean, 0.02)
    text = why_words.conclusion(w)
    assert "`ce` (loss `cross_entropy`, lr 0.1): 0.9050 test accuracy, against 0.9050 for `mse_lr5`" in text
    assert "beats" not in text and "trails" not in text
    # "" for the reference loss: the reference variant's loss
    assert why.analyse(summary_of(runs), runs, epochs, "ce", "", "mse_softmax", C).base == "cross_entropy"


def test_every_layer_and_the_other_losses_scales():
    epochs, runs = epochs_for_why()
    w = analyse(epochs, runs)
    assert why_words.layer_sentence(w).startswith(
        "Every layer's weight gradient at initialisation (epoch 0, mean over the split's first minibatches) has "
        "`mse_softmax` / `cross_entropy` = 0.0200, 0.0200 (layers 1–2; declared 0.0200), within 0.0% of each other: "
        "one per-sample factor")
    missing, _ = epochs_for_why(layer=False)
    assert "is not in these tables (no finite epoch-0 layer norms" in why_words.layer_sentence(analyse(missing, runs))
    text = why_words.other_sentence(w.others[0], "cross_entropy")
    assert text.startswith("`mse_logits` starts with a 4.75× smaller logit gradient than `cross_entropy`'s at "
                           "initialisation (mean of 2 seeds: 0.2105×); its declared scale is 0.2108")
    assert "the largest probability is 0.23, so it can hardly be confidently wrong (p > 0.9)" in text
    assert "needs a larger lr for it: lr 0.1 / 0.21 ≈ 0.47; tuned that way: `logits_lr0p5` (lr 0.5)" in text
    untuned = runs[runs["variant"] != "logits_lr0p5"]
    assert "no variant runs it there" in why_words.other_sentence(analyse(epochs, untuned).others[0], "cross_entropy")


def test_the_direct_test_says_whether_the_reference_loss_at_the_same_step_tracks():
    epochs, runs = epochs_for_why()
    text = why_words.direct_sentence(analyse(epochs, runs))
    assert text.startswith("Direct test: `ce_slow` (`cross_entropy` at lr 0.002 = 0.1 × 0.0200 (declared initial "
                           "ratio)) against `mse` at lr 0.1: their mean validation accuracies differ by at most 0.0 "
                           "points over epochs 0–3")
    assert "effective steps lr × ‖∂ℓ/∂z‖ stay within 0.0% of each other" in text
    early, _ = epochs_for_why(twin_accuracy=(0.1, 0.11, 0.12, 0.2))
    d = analyse(early, runs).direct
    assert d.kind == "early" and d.early_until == 2
    assert "within 2 points up to epoch 2, further apart later" in why_words.direct_sentence(analyse(early, runs))
    apart, _ = epochs_for_why(twin_accuracy=(0.1, 0.2, 0.3, 0.4))
    assert analyse(apart, runs).direct.kind == "apart"
    assert "the initial gradient ratio alone does not account for `mse`'s pace" in why_words.direct_sentence(
        analyse(apart, runs))
    alone = runs[runs["variant"] != "ce_slow"]
    assert why_words.direct_sentence(analyse(epochs, alone)).startswith(
        "Direct test not in this sweep: `cross_entropy` at lr 0.1 × 0.0200 (declared initial ratio) = 0.002, which "
        "should track `mse`")
    caption, shown = why_words.overlay_caption(epochs, runs, analyse(epochs, runs))
    assert shown == ["mse", "ce_slow", "ce"] and "in validation accuracy, `mse`, `ce_slow` (within 1 point" in caption
    assert why_words.overlay_caption(epochs, alone, analyse(epochs, alone))[1] == []


def test_the_lr_scaled_ablation_is_said_to_over_compensate_from_the_step_it_takes():
    epochs, runs = epochs_for_why()
    (o,) = analyse(epochs, runs).overshoots
    text = why_words.overshoot_sentence(o, "mse_softmax")
    # epoch 0: 5 x 0.019 against 0.1 x 0.95 = 1.00x; later 5 x 3 x 0.019 against 0.1 x 0.95
    assert text.startswith("`mse_lr5` runs `mse_softmax` at lr 5 = 50× 0.1. Its first-layer step lr × ‖∇W1‖ is "
                           "1.00× `ce`'s at epoch 0: ×50 offsets its 50× smaller initial gradient (within 10%). From "
                           "epoch 1 on it is 3.00× (mean over seeds per epoch): it over-compensates once training "
                           "moves on")
    assert "not the two losses" in text
    # a smaller scale-up (×10 instead of 50) makes up only part of the factor, never over-compensates
    ten = runs.assign(lr=runs["lr"].where(runs["variant"] != "mse_lr5", 1.0))
    (o,) = analyse(epochs.assign(grad_norm_layer1=epochs["grad_norm_layer1"].where(
        epochs["variant"] != "mse_lr5", 0.019)), ten).overshoots
    text = why_words.overshoot_sentence(o, "mse_softmax")
    assert "×10 makes up only part of its 50× smaller initial gradient" in text and "0.20×" in text
    assert "over-compensates" not in text and "its steps stay smaller than `ce`'s" in text
    assert analyse(epochs, runs[runs["variant"] != "mse_lr5"]).overshoots == ()


def test_saturation_reads_the_slow_losss_first_variant_over_every_epoch_shown():
    summary = summary_table([row("ce", loss="cross_entropy", n=1), row("slow", loss="mse_softmax", n=1, mean=0.16)])
    runs = sweep({"ce": [0.91], "slow": [0.16]}, losses={"ce": "cross_entropy", "slow": "mse_softmax"})
    uniform = pd.DataFrame({"variant": ["slow"], "epoch": [5], "val_mean_max_prob": [0.11],
                            "val_confident_wrong": [0.0]})
    s = why.saturation(summary, runs, "ce", "mse_softmax", uniform)
    assert s.variant == "slow" and s.uniform and s.first == s.last == 5
    w = analyse(EMPTY, runs, summary=summary)
    w = why.Why(**{**w.__dict__, "saturation": s})
    text = "\n".join(why_words.saturation_sentences(w))
    assert "`slow` has mean max-probability at most 0.11" in text
    assert "stay close to uniform for the whole run" in text and "consistent with the declared scale" in text
    saturated = why.saturation(summary, runs, "ce", "mse_softmax", uniform.assign(val_mean_max_prob=0.9,
                                                                                   val_confident_wrong=0.05))
    text = "\n".join(why_words.saturation_sentences(why.Why(**{**w.__dict__, "saturation": saturated})))
    assert "5.0% confidently wrong" in text and "shrinks its gradient further" in text
    # a peak at epoch 2 counts even if epoch 3 is calm again
    curve = pd.DataFrame({"variant": "slow", "epoch": [0, 1, 2, 3], "val_mean_max_prob": [0.11, 0.12, 0.95, 0.2],
                          "val_confident_wrong": [0.0, 0.0, 0.2, 0.0], "logit_grad_norm": [0.02, 0.021, 0.03, 0.02]})
    peak = why.saturation(summary, runs, "ce", "mse_softmax", curve)
    assert (peak.prob_high, peak.wrong_high, peak.grad_low, peak.grad_high) == (0.95, 0.2, 0.02, 0.03)
    text = "\n".join(why_words.saturation_sentences(why.Why(**{**w.__dict__, "saturation": peak})))
    assert "over epochs 0–3 `slow` has mean max-probability at most 0.95 and at most 20.0% confidently wrong" in text
    assert ("Over epochs 0–3, every epoch shown, `slow`'s mean logit-gradient norm stays between 0.02 and 0.03 "
            "(1.00–1.50× its epoch-0 value) and its mean max-probability between 0.110 and 0.950.") in text
    flat = why.saturation(summary, runs, "ce", "mse_softmax", curve.assign(val_mean_max_prob=0.106,
                                                                            val_confident_wrong=0.0))
    assert "its mean max-probability at 0.106 throughout" in "\n".join(
        why_words.saturation_sentences(why.Why(**{**w.__dict__, "saturation": flat})))


def test_saturation_skips_diverged_variants_and_non_finite_epochs():
    summary = summary_table([row("ce", loss="cross_entropy"), row("boom", loss="mse_softmax", diverged=3),
                             row("slow", loss="mse_softmax", mean=0.2)])
    runs = sweep({"ce": [0.9] * 3, "boom": [0.1] * 3, "slow": [0.2] * 3},
                 losses={"ce": "cross_entropy", "boom": "mse_softmax", "slow": "mse_softmax"})
    table = pd.DataFrame({"variant": ["boom", "slow", "slow"], "epoch": [1, 1, 2],
                          "val_mean_max_prob": [math.nan, 0.11, math.nan],
                          "val_confident_wrong": [math.nan, 0.0, math.nan]})
    s = why.saturation(summary, runs, "ce", "mse_softmax", table)
    assert s.variant == "slow" and s.first == s.last == 1
    s = why.saturation(summary.iloc[:2], runs, "ce", "mse_softmax", table)
    assert s.reason == "diverged" and s.candidates == ("boom",)
    w = analyse(EMPTY, runs, summary=summary.iloc[:2])
    assert ("Saturation is not read for `mse_softmax`: every variant that trains it (`boom`) has diverged runs"
            in why_words.conclusion(w))
    assert why.saturation(summary.iloc[:1], runs, "ce", "mse_softmax", table).reason == "untrained"


def test_accuracies_never_compare_a_diverged_variant_and_say_when_the_reference_is_missing():
    summary = summary_table([row("ce", loss="cross_entropy", mean=0.9),
                             row("boom", loss="cross_entropy", lr=1e30, diverged=3, mean=0.905),
                             row("mse", loss="mse_softmax", mean=0.2)])
    runs = sweep({"ce": [0.9] * 3, "boom": [0.9] * 3, "mse": [0.2] * 3}, {"boom": 1e30},
                 {"ce": "cross_entropy", "boom": "cross_entropy", "mse": "mse_softmax"})
    empty = EMPTY
    text = why_words.conclusion(analyse(empty, runs, summary=summary))
    assert "`boom` (loss `cross_entropy`, lr 1e+30): not compared with `ce`, because `boom` diverged in 3 of 3" in text
    assert "`mse` (loss `mse_softmax`, lr 0.1): 0.2000 test accuracy, against 0.9000 for `ce` (-70.00 points" in text
    text = why_words.conclusion(analyse(empty, runs, reference="boom", summary=summary))
    assert "`ce` (loss `cross_entropy`, lr 0.1): not compared with `boom`, because `boom` diverged" in text
    assert "matches" not in text and "trails" not in text and "beats" not in text
    alone = why_words.conclusion(analyse(empty, runs[runs["variant"] == "ce"], summary=summary.iloc[:1]))
    assert "`ce` is the only variant: no accuracy to compare with it." in alone
    missing = why_words.conclusion(analyse(empty, runs[runs["variant"] == "mse"], summary=summary.iloc[2:]))
    assert "The reference `ce` has no runs in these tables" in missing and "nan" not in missing


def test_ratio_missing_says_which_loss_is_absent():
    ce = sweep({"ce": [0.9]}, losses={"ce": "cross_entropy"})
    r = why.gradient_ratio(ce, "mse_softmax", "cross_entropy", C)
    assert r.untrained == ("mse_softmax",) and not r.measured
    assert why_words.ratio_missing(r) == ("The initial logit-gradient ratio `mse_softmax` / `cross_entropy` is not "
                                          "measured here: no variant trains `mse_softmax`.")
    mse = sweep({"m": [0.2]}, losses={"m": "mse_softmax"})
    assert "no variant trains `cross_entropy`." in why_words.ratio_missing(why.gradient_ratio(mse, "mse_softmax",
                                                                                              "cross_entropy", C))
    apart = pd.concat([ce, mse.assign(seed=5)])
    assert "no seed was trained with both" in why_words.ratio_missing(why.gradient_ratio(apart, "mse_softmax",
                                                                                  "cross_entropy", C))


# --- a user's losses ----------------------------------------------------------------------------------


def user_sweep(loss, norm, lrs=None):
    """ce, mse, ce_slow and the user's ``loss`` (its variant named after it) at the shared lr, with
    its initial logit-gradient norm ``norm`` (cross-entropy's: 0.95); ``lrs``: its lr variants."""
    extra = {loss: (loss, 0.1), **{v: (loss, lr) for v, lr in (lrs or {}).items()}}
    return epochs_for_why(variants=["ce", "mse", "ce_slow"], grad={loss: norm}, extra=extra)


def test_a_loss_with_ten_times_the_gradient_is_said_larger_and_gets_a_smaller_lr():
    epochs, runs = user_sweep("test_why_scaled_ce", 9.5)
    w = analyse(epochs, runs)
    (o,) = [o for o in w.others if o.loss == "test_why_scaled_ce"]
    assert math.isclose(o.ratio, 10.0) and math.isclose(o.predicted, 10.0) and math.isclose(o.suggested_lr, 0.01)
    text = why_words.other_sentence(o, "cross_entropy")
    assert text.startswith("`test_why_scaled_ce` starts with a 10× larger logit gradient than `cross_entropy`'s")
    assert "needs a smaller lr for it: lr 0.1 / 10.00 ≈ 0.01; no variant runs it there" in text
    assert "smaller logit gradient" not in text and "larger lr" not in text
    # as the slow loss it is not slow: larger words, none of the derivation's readings
    w = analyse(epochs, runs, slow="test_why_scaled_ce")
    assert not w.softmax_reading and math.isclose(w.direct.target_lr, 1.0)
    text = why_words.conclusion(w)
    assert "starts with a ~10× larger gradient than `cross_entropy`" in text and "smaller gradient" not in text
    assert "Jacobian" not in text and "over-compensates" not in text


def test_a_slow_loss_that_declares_no_theory_is_measured_and_said_as_measured():
    """slow_loss: focal (not registered here: it declares nothing), 1.22x cross-entropy's gradient."""
    epochs, runs = user_sweep("focal", 0.95 * 1.223, {"focal_lr0p5": 0.5})
    w = analyse(epochs, runs, slow="focal")
    assert w.ratio.predicted is None and math.isclose(w.ratio.mean, 1.223) and not w.softmax_reading
    assert w.direct is not None and not w.direct.declared and w.overshoots == ()  # lr up does not offset a larger one
    text = why_words.conclusion(w)
    assert "**1.2230** (mean of 2 seeds); measured: its registry entry declares no theory for it" in text
    assert "starts with a ~1.22× larger gradient than `cross_entropy`" in text
    for claim in ("2/C²", "Jacobian", "over-compensates", "declared initial ratio", "smaller gradient"):
        assert claim not in text, claim
    assert "declared" not in why_words.ratio_sentence(w) + why_words.layer_sentence(w) + why_words.direct_sentence(w)
    assert "(measured initial ratio)" in text
    assert "declared" not in why_words.ratio_display(w.ratio).columns.str.cat()
    assert "declared" not in why_words.ratio_caption(why.by_epoch(epochs, runs, w), w).replace("no declared theory", "")


def test_a_sum_of_squares_on_logits_is_read_from_its_declared_cap():
    epochs, runs = user_sweep("test_why_sum_squares", 0.95 * 2.227)
    w = analyse(epochs, runs)
    (o,) = [o for o in w.others if o.loss == "test_why_sum_squares"]
    assert o.predicted is None and o.cap is not None and o.ratio > 1
    text = why_words.other_sentence(o, "cross_entropy")
    assert "2.23× larger logit gradient" in text and "measured: its registry entry declares no theory" in text
    assert "cap the softmax" in text and "smaller lr" in text
    assert "test_why_sum_squares" in why.capped(epochs, C)
    assert "`test_why_sum_squares` 0.23" in why_words.saturation_caption(epochs, C)


def test_a_loss_nan_from_the_first_step_shows_no_nan_and_says_why():
    epochs, runs = epochs_for_why(grad={"mse_softmax": math.nan})
    w = analyse(epochs, runs)
    assert not w.ratio.measured and w.ratio.not_finite == (("mse_softmax", (0, 1)),)
    text = why_words.ratio_missing(w.ratio)
    assert "`mse_softmax`'s initial logit-gradient norm is not finite on seeds 0, 1" in text
    assert "no seed was trained with both" not in text
    page = why_words.conclusion(w) + why_words.ratio_caption(why.by_epoch(epochs, runs, w), w)
    assert "nan" not in page.lower() and "inf" not in page.replace("initialisation", "")
    assert why_words.ratio_display(w.ratio).empty
    # one seed NaN, one finite: the finite one is shown and the other named
    runs.loc[(runs["loss"] == "mse_softmax") & (runs["seed"] == 1), "initial_logit_grad_norm"] = 0.019
    w = analyse(epochs, runs)
    assert [r[0] for r in w.ratio.per_seed] == [1] and "Left out: `mse_softmax` is not finite on seed 0" in \
        why_words.ratio_sentence(w)
    assert "nan" not in why_words.ratio_display(w.ratio).to_string().lower()


# --- captions ------------------------------------------------------------------------------------------


def test_captions_for_the_ratio_and_saturation():
    epochs, runs = epochs_for_why()
    w = analyse(epochs, runs)
    ratios = pd.DataFrame({"epoch": [0, 1, 2], "mean": [0.02, 0.05, 0.104], "min": [0.019, 0.04, 0.1],
                           "max": [0.021, 0.06, 0.11], "count": [2, 2, 2]})
    text = why_words.ratio_caption(why.ByEpoch("mse", "ce", ratios, 0.02), w)
    assert "Epoch 0: 0.0200 (declared 0.0200); epochs 1–2: 0.0500 to 0.1040" in text
    assert "no ratio per epoch" in why_words.ratio_caption(why.ByEpoch("mse", "ce", ratios.iloc[:0], 0.02), w)
    saturation = why_words.saturation_caption(epochs, C)
    assert "`logits`, `logits_lr0p5` are left out: their losses' targets cap the softmax" in saturation
    assert "(measured here: mean max-probability at most 0.11)" in saturation
    assert "in mean max-probability, `ce`, `mse`, `mse_lr5`, `ce_slow` (within 0.01 at every epoch)" in saturation


def test_ablation_caption_names_the_variants_beside_their_loss_or_says_there_are_none():
    runs = sweep({"ce": [0.9], "mse": [0.2], "mse_lr5": [0.9], "logits": [0.7], "hinge_lr1": [0.8]},
                 {"mse_lr5": 5.0, "hinge_lr1": 1.0},
                 {"ce": "cross_entropy", "mse": "mse_softmax", "mse_lr5": "mse_softmax", "logits": "mse_logits",
                  "hinge_lr1": "hinge"})
    w = why.Why("ce", "cross_entropy", "mse_softmax", C, empty_ratio(), False, None, (), None, None, (), (), "ok")
    text, shown = why_words.ablation_caption(runs, w)
    assert "at the shared settings (lr 0.1, batch 100, 5 epochs): `mse_lr5` (`mse_softmax` at lr 5 instead of 0.1; " \
        "beside `mse`)" in text
    assert "`hinge_lr1` (`hinge` at lr 1 instead of 0.1; its loss has no variant at the shared settings)" in text
    assert "never as a ranking" in text and shown == ["mse", "mse_lr5", "hinge_lr1"]
    text, shown = why_words.ablation_caption(runs[runs["variant"].isin(["ce", "mse"])], w)
    assert text.startswith("This sweep has no ablation variant") and shown == []


def test_coinciding_layer_steps_are_said_once_when_every_layer_agrees():
    from lossbench.captions import coinciding_text

    epochs, runs = epochs_for_why()
    steps = stats.with_lr(epochs, runs)
    layers = stats.layer_columns(steps, "step_layer")
    assert layers == ["step_layer1", "step_layer2"]
    text = coinciding_text(steps, layers)
    assert text.count("in every layer's step lr × ‖∇W‖, ") == 1 and "`mse`, `ce_slow`" in text
    apart = steps.assign(step_layer2=steps["step_layer2"].where(steps["variant"] != "ce_slow", 1.0))
    text = coinciding_text(apart, layers)
    assert "in layer 1's step, " in text and "every layer" not in text


# --- the page's words, per scenario (tests/golden/why/<scenario>.md, reviewed) ------------------------------


def why_page(s) -> str:
    """The why page's computed markdown in the notebook's order (figures, the study note and the horizon aside)."""
    from lossbench.captions import curves_caption

    w = why.analyse(s.summary, s.runs, s.epochs, s.reference, "", s.slow_loss, s.classes)
    steps = stats.with_lr(s.epochs, s.runs)
    overlay, _ = why_words.overlay_caption(s.epochs, s.runs, w)
    ablations, _ = why_words.ablation_caption(s.runs, w, s.epochs)
    parts = [why_words.verdicts(w, s.runs), "## What the measurements say", why_words.conclusion(w),
             "## Measured: the gradient at initialisation",
             why_words.ratio_display(w.ratio).to_markdown() if w.ratio.measured else why_words.ratio_missing(w.ratio),
             "## Measured: the gradient during training",
             curves_caption(steps, gradients=True, metrics=("logit_grad_norm", "step_logit",
                                                            *stats.layer_columns(steps, "step_layer"))),
             why_words.ratio_caption(why.by_epoch(s.epochs, s.runs, w), w),
             "## The direct test", overlay, why_words.paired_caption(w),
             "## Saturation", why_words.saturation_caption(s.epochs, s.classes),
             "## Ablations", ablations]
    return "\n\n".join(parts)


@pytest.mark.parametrize("name", SCENARIOS)
def test_the_why_page_reads_true_for_each_scenario(name):
    check_page(f"why/{name}.md", scenario(name), why_page)


def test_the_why_page_for_slow_loss_focal_reads_true():
    """The issue's case: ``slow_loss: focal`` (declares nothing): measured, said as measured, no MSE reading."""
    from dataclasses import replace

    s = replace(scenario("slow_user_loss"), slow_loss="focal")
    check_page("why/slow_loss_focal.md", s, why_page)
    with user_losses():
        text = why_page(s)
    for claim in ("2/C²", "Jacobian", "over-compensates", "declared initial ratio", "smaller gradient than"):
        assert claim not in text.split("## Measured")[0].replace("`mse_softmax` starts", ""), claim


def test_a_reference_variant_of_the_slow_loss_measures_against_a_loss_of_cross_entropys_declared_scale():
    """``reference: mse_softmax`` (issue 12): the slow loss is not measured against itself but against the
    first other loss that declares cross-entropy's own scale, else the first other loss."""
    runs = pd.DataFrame({"variant": ["mse_logits", "cross_entropy", "mse_softmax"],
                         "loss": ["mse_logits", "cross_entropy", "mse_softmax"]})
    assert why.base_loss(runs, "mse_softmax", "mse_softmax") == "cross_entropy"
    assert why.base_loss(runs.iloc[[0, 2]], "mse_softmax", "mse_softmax") == "mse_logits"
    assert why.base_loss(runs, "mse_logits", "mse_softmax") == "mse_logits"


def test_the_matched_step_twin_shares_every_setting_but_the_lr():
    """An Adam (or another batch size's) cross-entropy at lr 0.002 is not the SGD twin of mse_softmax at 0.1:
    lr x gradient scale is the matched step of plain SGD with the other settings equal."""
    import pandas as pd

    from lossbench import why

    def row(variant, loss, lr, optimizer="sgd", batch_size=100):
        return {"variant": variant, "loss": loss, "lr": lr, "optimizer": optimizer, "batch_size": batch_size,
                "epochs": 5, "hidden": "1200-600-300"}

    table = pd.DataFrame([row("mse_softmax", "mse_softmax", 0.1), row("ce_adam", "cross_entropy", 0.002, "adam"),
                          row("ce_b50", "cross_entropy", 0.002, batch_size=50),
                          row("ce_twin", "cross_entropy", 0.002)])
    assert why.twin_variants(table, "cross_entropy", 0.002, like="mse_softmax") == ["ce_twin"]
    assert why.twin_variants(table, "cross_entropy", 0.002) == ["ce_adam", "ce_b50", "ce_twin"]
    adam = pd.concat([table, pd.DataFrame([row("mse_adam", "mse_softmax", 0.1, "adam")])])
    assert why.twin_variants(adam, "cross_entropy", 0.002, like="mse_adam") == []
