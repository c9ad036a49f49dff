"""The report's sentences and display tables, computed from the tables and ``lossbench.stats``.

Every sentence the report states about the results is built here from the numbers, so it
cannot drift from them (tested in tests/test_prose.py).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from . import stats
from .stats import ALPHA, concurrency, theoretical_ratio

NEGLIGIBLE = 0.005  # a difference whose whole 95% CI lies within ±0.5 accuracy points is negligible
SETTING_NAMES = {"lr": "lr", "batch_size": "batch", "epochs": "epochs", "hidden": "hidden layers"}


def _setting_value(key: str, value) -> str:
    """A setting's value as a sentence shows it: lr 0.1, 5 (epochs), 1200-600-300 (hidden layers)."""
    if key == "hidden":
        return str(value)
    return str(int(value)) if key == "epochs" else _number(value, "g")


def _settings_text(settings: dict) -> str:
    """'lr 0.1, batch 100, 5 epochs, hidden layers 1200-600-300' from shared_settings."""
    return ", ".join(f"{_setting_value(k, v)} epochs" if k == "epochs" else f"{SETTING_NAMES[k]} {_setting_value(k, v)}"
                     for k, v in settings.items())


def _changed_text(changed: dict) -> str:
    """'lr 5 instead of 0.1' from stats.changed_settings."""
    return ", ".join(f"{SETTING_NAMES[k]} {_setting_value(k, v)} instead of {_setting_value(k, shared)}"
                     for k, (v, shared) in changed.items())


def _ci_points(low: float, high: float) -> str:
    """The 95% CI of a difference of accuracies, in points; a difference lives in [-100, 100]."""
    if math.isnan(low) or math.isnan(high):
        return "no interval"
    text = f"95% CI {_points(max(low, -1.0))} to {_points(min(high, 1.0))} points"
    return text + " (clipped to ±100)" if low < -1 or high > 1 else text


def _effect(row) -> str:
    """The effect size that goes with the test used: d_z with the paired test, Cohen's d with Welch's."""
    if row.test == "paired t":
        return f"d_z = {_number(row.paired_dz, '.2g')}"
    return f"Cohen's d = {_number(row.cohens_d, '.2g')}"


def comparison_conclusion(summary: pd.DataFrame, comparison: pd.DataFrame, reference: str,
                          runs: pd.DataFrame | None = None, epochs: pd.DataFrame | None = None) -> str:
    """A short plain-language reading of the summary and the tests (markdown).

    A variant with a diverged run is never "best" and never "no detectable difference": its mean
    mixes networks that trained with ones that did not, so it is flagged and not judged. An
    ablation (a variant that changes a setting besides the loss, ``stats.ablations``; read from
    ``runs`` when given: lr, batch size, epochs; else from the summary's lr) is never ranked:
    its result is worded against its own loss at the shared settings. With ``epochs``, variants
    whose every seed has the same history as the reference's are called identical.
    """
    s = summary.set_index("variant")
    table = runs if runs is not None else summary
    ablated = [v for v in stats.ablations(table, reference) if v in s.index]
    shared = stats.shared_settings(table, reference)
    lines = []
    losses = s[~s.index.isin(ablated)]
    ranked = losses[losses["n_diverged"] == 0]
    judged = [v for v in ablated if s.loc[v, "n_diverged"] == 0]  # a diverged ablation is "not judged", as any
    if len(s) == 1:
        only = s.index[0]
        lines.append(f"- **One variant** in this sweep, `{only}`: mean test accuracy "
                     f"{_acc(s.loc[only, 'test_accuracy_mean'])} (95% CI {_ci(s.loc[only])}, "
                     f"n = {int(s.loc[only, 'n'])}); nothing to rank or test it against.")
    elif ranked.empty:  # (the shared settings are some variant's: losses is never empty)
        lines.append("- **No best variant:** every variant has diverged runs, so none is ranked.")
    else:
        top = ranked["test_accuracy_mean"].max()
        best = list(ranked.index[ranked["test_accuracy_mean"] == top])
        left_out = list(s.index[s["n_diverged"] > 0])
        lines.append(
            f"- **Best mean test accuracy:** {_names(best)} with {_acc(top)}"
            + (f" (95% CI {_ci(s.loc[best[0]])}, n = {int(s.loc[best[0], 'n'])})" if len(best) == 1 else
               " (tied)")
            + f", at the shared settings ({_settings_text(shared)}; one lr for every loss, not tuned per loss, so "
            "this ranks the losses at that lr only)"
            + (f"; {_names(left_out)} not ranked (diverged runs)" if left_out else "")
            + ("; ablations are not ranked (below)" if judged else "")
            + ". Whether two losses differ is read from the tests below, not from this order."
        )
    if reference not in s.index:
        lines.append(f"- **Reference** `{reference}` has no runs in these tables: nothing is tested against it.")
    elif len(s) > 1:
        note = ""
        if reference in ablated:
            note = (f"; an ablation ({_changed_text(stats.changed_settings(table, reference, reference))}), so a "
                    "difference from it mixes the loss with that setting")
        lines.append(f"- **Reference** `{reference}`: {_acc(s.loc[reference, 'test_accuracy_mean'])} "
                     f"(95% CI {_ci(s.loc[reference])}){note}.")
    if reference in s.index:
        for row in comparison.itertuples():
            if row.variant not in judged:
                lines.append(f"- `{row.variant}` vs `{reference}`: {_verdict(row, s, reference, epochs)}.")
    tested = comparison.dropna(subset=["p"]) if reference in s.index else comparison.iloc[:0]
    if len(tested) > 1:
        lines.append(f"- p-values are adjusted with Holm's method across the {len(tested)} "
                     f"comparisons with `{reference}`; a difference counts at adjusted p < {ALPHA}; the 95% CI is "
                     "that of the difference (of the paired differences where seeds pair up).")
    others = [v for v in judged if v != reference]
    if others:
        lines.append("- **Ablations**: each changes a setting besides the loss, so none is ranked with the losses; "
                     "what each shows:")
        by_variant = comparison.set_index("variant") if len(comparison) else None
        for variant in others:
            against = (by_variant.loc[variant] if by_variant is not None and variant in by_variant.index
                       and reference in s.index else None)
            lines.append(f"  - {ablation_result(variant, summary, table, reference, runs, against)}.")
    if len(s) and (s["n"] < 2).all():
        lines.append("- One seed per variant: no interval and no test (both need two seeds or more); "
                     "add seeds in the config to measure the spread.")
    for variant, row in s[s["n_diverged"] > 0].iterrows():
        lines.append(f"- ⚠ `{variant}`: {int(row['n_diverged'])} of {int(row['n'])} runs **diverged**.")
    return "\n".join(lines)


def ablation_result(variant: str, summary: pd.DataFrame, table: pd.DataFrame, reference: str,
                    runs: pd.DataFrame | None = None, against=None) -> str:
    """What an ablation shows, in words: its test accuracy against its own loss at the shared
    settings (paired over seeds, with the CI of the difference, when ``runs`` is given), then,
    when given (``against``: its row of ``compare_to_reference``), against the reference, said
    to be no ranking. Never "best", never "beats"."""
    s = summary.set_index("variant")
    row = s.loc[variant]
    changed = stats.changed_settings(table, variant, reference)
    head = f"`{variant}` (`{row['loss']}` at {_changed_text(changed)})"
    if row["n_diverged"] > 0:
        return (f"{head}: ⚠ diverged in {int(row['n_diverged'])} of {int(row['n'])} runs, so its accuracy is not "
                "judged")
    acc = _acc(row["test_accuracy_mean"])
    base = stats.ablation_base(table, variant, reference)
    setting = _changed_text({k: (v, v) for k, (v, _) in changed.items()}).split(" instead")[0]
    if base is None or base not in s.index:
        text = (f"{head}: {acc} test accuracy; no `{row['loss']}` variant at the shared settings to compare it with, "
                "so what the change does is not measured here")
    elif s.loc[base, "n_diverged"] > 0:
        text = f"{head}: {acc} test accuracy; `{base}` diverged, so the change is not judged"
    else:
        base_acc = _acc(s.loc[base, "test_accuracy_mean"])
        base_setting = ", ".join(f"{SETTING_NAMES[k]} {_setting_value(k, shared)}"
                                 for k, (_, shared) in changed.items())
        if runs is not None:
            pair = stats.compare_pair(runs, variant, base)
            low, high, diff = pair["difference_ci95_low"], pair["difference_ci95_high"], pair["difference"]
            paired = (f"paired over {pair['n_paired']} seeds" if pair["n_paired"] >= 2 else
                      "Welch interval: the seeds do not pair up")
            interval = f"{_points(diff)} points, {_ci_points(low, high)}, {paired}"
        else:
            diff = row["test_accuracy_mean"] - s.loc[base, "test_accuracy_mean"]
            low = high = math.nan
            interval = f"{_points(diff)} points"
        if not math.isnan(low) and low > 0 or math.isnan(low) and diff > 0:
            text = (f"{head}: at {setting} it recovers {acc} test accuracy, against {base_acc} for `{base}` at "
                    f"{base_setting} ({interval})")
        elif not math.isnan(high) and high < 0 or math.isnan(high) and diff < 0:
            text = (f"{head}: at {setting} it reaches {acc} test accuracy, against {base_acc} for `{base}` at "
                    f"{base_setting} ({interval}): the change costs accuracy in this budget")
        else:
            text = (f"{head}: at {setting} no detectable change from `{base}` at {base_setting} ({acc} against "
                    f"{base_acc}; {interval})")
    if against is not None and base != reference and variant != reference and not isinstance(against, float):
        if s.loc[reference, "n_diverged"] == 0:
            text += (f". Against the reference `{reference}`: {_points(against['difference'])} points "
                     f"({_ci_points(against['difference_ci95_low'], against['difference_ci95_high'])}"
                     + (f", Holm-adjusted p {_p(against['p_holm'])}" if not math.isnan(against["p_holm"]) else "")
                     + "), a comparison of settings as much as of losses, not a ranking")
    return text


def _verdict(row, s: pd.DataFrame, reference: str, epochs: pd.DataFrame | None = None) -> str:
    """One comparison in words, from the numbers, saying why when there is no test."""
    diverged = [v for v in (row.variant, reference) if s.loc[v, "n_diverged"] > 0]
    if diverged:
        who = " and ".join(f"`{v}` diverged in {int(s.loc[v, 'n_diverged'])} of {int(s.loc[v, 'n'])} runs"
                           for v in diverged)
        return f"not judged: {who} ({_points(row.difference)} points apart)"
    if getattr(row, "identical", False) and row.n_paired >= 1:
        if epochs is not None and stats.identical_runs(epochs, row.variant, reference):
            return (f"**identical**: on every one of the {row.n_paired} seeds the learning curves and test accuracy "
                    "are the same, bit for bit, so there is no difference to test")
        return (f"the same test accuracy on every one of the {row.n_paired} seeds (difference 0 on each), so there is "
                "no difference to test")
    if not math.isnan(row.p):
        interval = _ci_points(row.difference_ci95_low, row.difference_ci95_high)
        if row.p_holm < ALPHA:
            direction = "higher" if row.difference > 0 else "lower"
            return (f"**{abs(row.difference) * 100:.1f} points {direction}** ({interval}; {row.test} test, "
                    f"Holm-adjusted p {_p(row.p_holm)}, raw p {_p(row.p)}, {_effect(row)})")
        text = (f"no detectable difference ({_points(row.difference)} points, {interval}; "
                f"Holm-adjusted p {_p(row.p_holm)}, raw p {_p(row.p)})")
        if -NEGLIGIBLE <= row.difference_ci95_low and row.difference_ci95_high <= NEGLIGIBLE:
            return text + (f": the whole interval lies within ±{NEGLIGIBLE * 100:g} points, so the difference is "
                           "negligible")
        return text + (f": the interval reaches past ±{NEGLIGIBLE * 100:g} points, too wide to call the difference "
                       "negligible")
    few = [v for v in (row.variant, reference) if s.loc[v, "n"] < 2]
    if few:
        return (f"not tested: {' and '.join(f'`{v}`' for v in few)} {'has' if len(few) == 1 else 'have'} one run "
                f"(a t-test needs two or more); {_points(row.difference)} points apart")
    return (f"not tested: every run of both gives the same accuracy, so there is no spread to test; "
            f"{_points(row.difference)} points apart")


def _seeds(n: int) -> str:
    return f"mean of {n} seeds" if n > 1 else "one seed"


def _names(variants) -> str:
    return ", ".join(f"`{v}`" for v in variants)


def _number(value: float, fmt: str, missing: str = "n/a") -> str:
    """A number for reading: never 'nan' or 'inf' on a page."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return missing
    if isinstance(value, float) and math.isinf(value):
        return "∞" if value > 0 else "−∞"
    return format(value, fmt)


def _acc(value: float) -> str:
    return _number(value, ".4f")


def _points(difference: float) -> str:
    return _number(difference * 100, "+.2f")


def ratio_missing(summary: pd.DataFrame, slow_loss: str, base_loss: str = "cross_entropy") -> str:
    """Why the initial gradient ratio of two losses is not measured in this sweep."""
    missing = [loss for loss in (slow_loss, base_loss) if loss not in set(summary["loss"])]
    because = (f"no variant trains {' or '.join(f'`{loss}`' for loss in missing)}" if missing
               else "no seed was trained with both")
    return f"The initial logit-gradient ratio `{slow_loss}` / `{base_loss}` is not measured here: {because}."


def why_conclusion(summary: pd.DataFrame, ratios: pd.DataFrame, reference: str, slow_loss: str,
                   saturation: pd.DataFrame | None = None, base_loss: str = "cross_entropy",
                   runs: pd.DataFrame | None = None, epochs: pd.DataFrame | None = None) -> str:
    """What the measurements say about the slow *loss* (markdown).

    ``reference`` is a variant (accuracies are compared with it); ``slow_loss`` and ``base_loss``
    are losses (the gradient ratio is slow over base on the same networks); the saturation
    sentence is about the first variant that trains ``slow_loss`` at the shared settings without
    diverging, read over every epoch shown. With ``runs`` and ``epochs``: the per-layer ratio at
    initialisation, the other losses' initial ratios, the direct test (``base_loss`` at the
    shared lr × 2/C²) and how far the lr-scaled ablations over-compensate. Every claim about a
    cause is worded as what the data are consistent with.
    """
    s = summary.set_index("variant")
    table = runs if runs is not None else summary
    ablated = stats.ablations(table, reference)
    lines = []
    ratios = ratios[np.isfinite(ratios["ratio"])] if len(ratios) else ratios
    if len(ratios) and (ratios["ratio"] > 0).all():
        measured = ratios["ratio"].mean()
        theory = theoretical_ratio()
        seeds = _seeds(len(ratios))
        lines.append(
            f"- At initialisation the measured logit-gradient ratio of the losses `{slow_loss}` / `{base_loss}` is "
            f"**{measured:.4f}** ({seeds}), against 2/C² = {theory:.4f}: "
            f"{abs(measured / theory - 1) * 100:.1f}% apart. The slow loss starts with a "
            f"~{1 / measured:.0f}× smaller gradient. This checks the algebra on these networks; it does not by "
            "itself show what makes training slow."
        )
    else:
        lines.append("- " + ratio_missing(summary, slow_loss, base_loss))
    if epochs is not None:
        lines.append("- " + layer_ratio_sentence(epochs, slow_loss, base_loss))
    if runs is not None:
        lines += ["- " + t for t in other_loss_ratios(runs, summary, slow_loss, base_loss, reference)]
    slow_variants = [v for v, row in s.iterrows() if row["loss"] == slow_loss]
    trained = [v for v in slow_variants if s.loc[v, "n_diverged"] == 0 and v not in ablated] or \
        [v for v in slow_variants if s.loc[v, "n_diverged"] == 0]
    measured = pd.DataFrame()
    if saturation is not None and trained:
        slow = trained[0]
        measured = saturation[saturation["variant"] == slow].dropna(subset=["val_mean_max_prob",
                                                                            "val_confident_wrong"])
    if len(measured):
        first, last = int(measured["epoch"].min()), int(measured["epoch"].max())
        confident, wrong = measured["val_mean_max_prob"].max(), measured["val_confident_wrong"].max()
        span = f"epochs {first}–{last}" if last > first else f"epoch {last}"
        lowest = measured["val_mean_max_prob"].min()
        grad = measured["logit_grad_norm"] if "logit_grad_norm" in measured else pd.Series(dtype=float)
        if len(grad.dropna()) > 1 and grad.iloc[0] > 0:
            lines.append(
                f"- Over {span}, every epoch shown, `{slow}`'s mean logit-gradient norm stays between "
                f"{grad.min():.4g} and {grad.max():.4g} ({grad.min() / grad.iloc[0]:.2f}–"
                f"{grad.max() / grad.iloc[0]:.2f}× its epoch-0 value) and its mean max-probability "
                + (f"at {confident:.3f} throughout." if f"{lowest:.3f}" == f"{confident:.3f}"
                   else f"between {lowest:.3f} and {confident:.3f}."))
        state = (f"over {span} `{slow}` has mean max-probability at most {confident:.2f} and at most "
                 f"{wrong * 100:.1f}% confidently wrong validation images")
        if confident < 0.5 and wrong < 0.01:
            lines.append(f"- Saturation: {state}. Its outputs stay close to uniform for the whole run, so saturated "
                         "wrong answers (where the softmax Jacobian vanishes) do not explain its slowness here. Its "
                         "slow progress is consistent with the 2/C² scale of its gradient; the direct test of that "
                         "reading is cross-entropy at the same effective step (below).")
        else:
            lines.append(f"- Saturation: {state}; where it is confidently wrong the softmax Jacobian shrinks "
                         "its gradient further.")
    elif trained:
        lines.append(f"- Saturation is not read for `{slow_loss}`: `{trained[0]}` has no validation "
                     "confidence in the tables.")
    elif slow_variants:
        lines.append(f"- Saturation is not read for `{slow_loss}`: every variant that trains it "
                     f"({_names(slow_variants)}) has diverged runs.")
    else:
        lines.append(f"- Saturation is not read for `{slow_loss}`: no variant trains it.")
    if epochs is not None and trained:
        lines.append("- " + direct_test(epochs, table, trained[0], base_loss, reference))
    if epochs is not None and runs is not None:
        lines += ["- " + t for t in overshoot(epochs, runs, slow_loss, base_loss, reference)]
    if reference not in s.index:
        lines.append(f"- The reference `{reference}` has no runs in these tables: no accuracy is compared with it.")
    elif len(s) == 1:
        lines.append(f"- `{reference}` is the only variant: no accuracy to compare with it.")
    else:
        ref_acc = s.loc[reference, "test_accuracy_mean"]
        ref_diverged = s.loc[reference, "n_diverged"] > 0
        for variant, row in s.iterrows():
            if variant == reference:
                continue
            if row["n_diverged"] > 0 or ref_diverged:
                who = variant if row["n_diverged"] > 0 else reference
                lines.append(f"- `{variant}` (loss `{row['loss']}`, lr {row['lr']:g}): not compared with "
                             f"`{reference}`, because `{who}` diverged in {int(s.loc[who, 'n_diverged'])} of "
                             f"{int(s.loc[who, 'n'])} runs.")
            elif variant in ablated:
                lines.append("- " + ablation_result(variant, summary, table, reference, runs) + ".")
            else:
                lines.append(f"- `{variant}` (loss `{row['loss']}`, lr {row['lr']:g}): "
                             f"{_acc(row['test_accuracy_mean'])} test accuracy, against {_acc(ref_acc)} for "
                             f"`{reference}` ({_points(row['test_accuracy_mean'] - ref_acc)} points).")
    return "\n".join(lines)


def layer_ratio_sentence(epochs: pd.DataFrame, slow_loss: str, base_loss: str = "cross_entropy") -> str:
    """The parameter-level check: epoch 0's weight-gradient ratio per layer against 2/C²."""
    ratios = stats.initial_layer_ratios(epochs, slow_loss, base_loss)
    if ratios.empty or ratios.isna().all():
        return (f"The per-layer weight-gradient ratio `{slow_loss}` / `{base_loss}` at initialisation is not in these "
                "tables (no epoch-0 layer norms: runs recorded before they were measured, or a loss missing).")
    values = ", ".join(f"{v:.4f}" for v in ratios)
    spread = ratios.max() / ratios.min() - 1 if ratios.min() > 0 else math.nan
    return (f"Every layer's weight gradient at initialisation (epoch 0, mean over the split's first minibatches) has "
            f"`{slow_loss}` / `{base_loss}` = {values} (layers 1–{len(ratios)}; 2/C² = {theoretical_ratio():.4f}), "
            f"within {spread * 100:.1f}% of each other: one per-sample factor on ∂ℓ/∂z scales every parameter "
            "gradient alike, so at initialisation a learning rate acts on the slow loss as that factor times it "
            "would on cross-entropy.")


def other_loss_ratios(runs: pd.DataFrame, summary: pd.DataFrame, slow_loss: str, base_loss: str,
                      reference: str | None = None) -> list[str]:
    """The measured initial logit-gradient ratio of every other loss that is not a form of
    cross-entropy (e.g. MSE on logits), with the theory where it is known and its tuned variants."""
    lines = []
    losses = [loss for loss in dict.fromkeys(summary["loss"]) if loss not in (slow_loss, base_loss)
              and loss not in CROSS_ENTROPY_FORMS]
    shared = stats.shared_settings(runs, reference)
    for loss in losses:
        ratios = stats.initial_gradient_ratio(runs, loss, base_loss)
        ratios = ratios[np.isfinite(ratios["ratio"])] if len(ratios) else ratios
        if not len(ratios):
            continue
        measured = ratios["ratio"].mean()
        text = (f"`{loss}` also starts with a smaller logit gradient: {measured:.3f}× `{base_loss}`'s at "
                f"initialisation ({_seeds(len(ratios))})")
        if loss == "mse_logits":
            text += (f"; for logits near 0 theory gives (2/C)/‖1/C − y‖ = {stats.mse_logits_initial_ratio():.3f}. "
                     f"Its targets are 0/1 logits, where the softmax reaches at most e/(e + C − 1) = "
                     f"{stats.softmax_cap():.2f}, so it can hardly be confidently wrong (p > 0.9): its low share of "
                     "confidently wrong images is no evidence")
        if "lr" in shared:
            scaled = shared["lr"] / measured
            tuned = [f"`{v}` (lr {lr:g})" for v, lr in runs.drop_duplicates("variant")[["variant", "lr"]]
                     .itertuples(index=False) if v in set(runs.loc[runs["loss"] == loss, "variant"])
                     and not math.isclose(lr, shared["lr"])]
            text += (f". Its gradient scale suggests lr {shared['lr']:g} / {measured:.2f} ≈ {scaled:.2g} to take "
                     f"`{base_loss}`'s first steps at lr {shared['lr']:g}"
                     + (f"; tuned that way: {', '.join(tuned)}" if tuned else "; no variant runs it there"))
        lines.append(text + ".")
    return lines


def twin_variants(table: pd.DataFrame, base_loss: str, reference: str | None = None) -> list[str]:
    """The variants that train ``base_loss`` at the shared lr × 2/C² (the direct test of the 2/C² reading)."""
    shared = stats.shared_settings(table, reference)
    if "lr" not in shared:
        return []
    target = shared["lr"] * theoretical_ratio()
    rows = table.drop_duplicates("variant")
    return [r.variant for r in rows.itertuples() if r.loss == base_loss and math.isclose(r.lr, target, rel_tol=0.02)]


TRACK = 0.02  # mean validation accuracies within 2 points at every epoch: one curve tracks the other


def direct_test(epochs: pd.DataFrame, table: pd.DataFrame, slow: str, base_loss: str = "cross_entropy",
                reference: str | None = None) -> str:
    """Does ``base_loss`` at lr × 2/C² track the slow variant at lr? Read from the mean validation
    accuracy at every epoch shown; "tracks" when within ``TRACK`` at each."""
    shared = stats.shared_settings(table, reference)
    lr = shared.get("lr", math.nan)
    twins = twin_variants(table, base_loss, reference)
    target = _number(lr * theoretical_ratio(), ".2g")
    if not twins:
        return (f"Direct test not in this sweep: `{base_loss}` at lr {_number(lr, 'g')} × 2/C² = {target}, which "
                f"should track `{slow}` at lr {_number(lr, 'g')} while its outputs stay near uniform (add it as a "
                f"variant: `{{loss: {base_loss}, lr: {target}}}`).")
    twin = twins[0]
    a, b = stats.mean_curve(epochs, twin, "val_accuracy"), stats.mean_curve(epochs, slow, "val_accuracy")
    both = pd.concat([a, b], axis=1, keys=["twin", "slow"], join="inner").dropna()
    if both.empty:
        return f"Direct test: `{twin}` and `{slow}` share no epoch with a validation accuracy."
    gap = (both["twin"] - both["slow"]).abs()
    last = both.index.max()
    steps = stats.with_lr(epochs, table)
    step = pd.concat([stats.mean_curve(steps, twin, "step_logit"), stats.mean_curve(steps, slow, "step_logit")],
                     axis=1, join="inner").dropna()
    step_gap = ((step.iloc[:, 0] / step.iloc[:, 1]) - 1).abs().max() if len(step) else math.nan
    text = (f"Direct test: `{twin}` (`{base_loss}` at lr {target} = {_number(lr, 'g')} × 2/C²) against `{slow}` at lr "
            f"{_number(lr, 'g')}: their mean validation accuracies differ by at most {gap.max() * 100:.1f} points over "
            f"epochs {both.index.min()}–{last} (epoch {last}: {both.loc[last, 'twin']:.4f} vs "
            f"{both.loc[last, 'slow']:.4f}; largest gap at epoch {gap.idxmax()})"
            + (f", while their effective steps lr × ‖∂ℓ/∂z‖ stay within {step_gap * 100:.1f}% of each other"
               if not math.isnan(step_gap) else ""))
    if gap.max() <= TRACK:
        return text + (f": `{base_loss}` given the same effective step tracks `{slow}` at every epoch shown, as the "
                       "2/C² reading predicts; this supports it for these epochs (figure below).")
    within = gap[gap <= TRACK]
    early = [e for e in both.index if e <= within.index.max()] if len(within) else []
    if len(early) > 1 and all(gap.loc[e] <= TRACK for e in early):
        return text + (f": within {TRACK * 100:g} points up to epoch {early[-1]}, further apart later: consistent with "
                       "the 2/C² reading for those epochs, not for the later ones.")
    return text + (f": more than {TRACK * 100:g} points apart, so the 2/C² factor alone does not account for "
                   f"`{slow}`'s pace here.")


def overshoot(epochs: pd.DataFrame, runs: pd.DataFrame, slow_loss: str, base_loss: str = "cross_entropy",
              reference: str | None = None) -> list[str]:
    """How the lr-scaled ablations of the slow loss step against ``base_loss`` at the shared lr:
    lr × ‖∇W1‖ per epoch, as a ratio (epoch 0 same network, later the networks each trained into)."""
    shared = stats.shared_settings(runs, reference)
    ablated = set(stats.ablations(runs, reference))
    rows = runs.drop_duplicates("variant")
    bases = [r.variant for r in rows.itertuples() if r.loss == base_loss and r.variant not in ablated]
    scaled = [r for r in rows.itertuples() if r.loss == slow_loss and r.variant in ablated and "lr" in shared
              and r.lr > shared["lr"]]
    steps = stats.with_lr(epochs, runs)
    lines = []
    for r in scaled:
        if not bases or "step_layer1" not in steps:
            break
        ratio = stats.ratio_by_epoch(steps, r.variant, bases[0], "step_layer1").dropna(subset=["mean"])
        if ratio.empty:
            continue
        later = ratio[ratio["epoch"] > 0]
        start = ratio[ratio["epoch"] == 0]["mean"]
        scale = r.lr / shared["lr"]
        text = (f"`{r.variant}` runs `{slow_loss}` at lr {r.lr:g} = {scale:.3g}× {shared['lr']:g}. Its first-layer "
                "step lr × ‖∇W1‖ is ")
        if len(start):
            text += f"{start.iloc[0]:.2f}× `{bases[0]}`'s at epoch 0"
            text += (f": ×{scale:.3g} offsets the 2/C² of uniform outputs" if abs(start.iloc[0] - 1) <= 0.1 else
                     f": ×{scale:.3g} makes up only part of the 2/C² of uniform outputs" if start.iloc[0] < 1 else
                     f": ×{scale:.3g} more than offsets the 2/C² of uniform outputs")
        else:
            text += "not measured at epoch 0"
        if len(later):
            low, high = later["mean"].min(), later["mean"].max()
            span = f"{low:.2f}×" if f"{low:.2f}" == f"{high:.2f}" else f"{low:.2f}–{high:.2f}×"
            text += f". From epoch {int(later['epoch'].min())} on it is {span} (mean over seeds per epoch)"
            if low > 1.1:
                text += (": it over-compensates once p leaves uniform, where the ratio of the losses' gradients can "
                         "rise to 1/C")
            elif high < 0.9:
                text += ": its steps stay smaller than cross-entropy's"
        text += (f". Its accuracy against `{bases[0]}` compares a different effective step with an untuned one, not "
                 "the two losses.")
        lines.append(text)
    return lines


def timing_caption(runs: pd.DataFrame) -> str:
    """What the timing figure's seconds mean on the machine(s) that produced them (markdown)."""
    text = ("Wall seconds are the training steps' elapsed time per run (synchronised on GPU); process-CPU "
            "seconds are the CPU time the training process used for them (all its threads). ")
    together = concurrency(runs).dropna()
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
                     f"{ratio.max():.2f}); with one thread per run, a ratio above 1 is time the run waited, for a CPU "
                     "(taken by any program, including ones outside this sweep) or for the GPU.")
    return text


def _ci(row: pd.Series) -> str:
    """The 95% CI of mean test accuracy, clipped to [0, 1] (accuracy lives there) and saying so,
    and saying so when it reaches below chance (1/C; ``summary_caption`` says why)."""
    low, high = row["test_accuracy_ci95_low"], row["test_accuracy_ci95_high"]
    if np.isnan(low) or np.isnan(high):
        return "n/a (one run)" if row.get("n", 2) < 2 else "n/a"
    text = f"{max(low, 0.0):.4f}–{min(high, 1.0):.4f}"
    if low < 0 or high > 1:
        return text + " (clipped to [0, 1])"
    return text + f" (reaches below chance, {stats.chance():.2f})" if low < stats.chance() else text


def _p(p: float) -> str:
    """'p = 0.039' or 'p < 0.0001' style (without the 'p')."""
    return f"= {p:.2g}" if p >= 1e-4 else "< 0.0001"


def summary_display(summary: pd.DataFrame, ablations=()) -> pd.DataFrame:
    """The summary table formatted for reading (strings, one row per variant; no 'nan'); the
    variants in ``ablations`` are marked "(ablation)"."""
    def column(name):
        return summary[name] if name in summary else pd.Series(math.nan, index=summary.index)

    target = summary["target_val_accuracy"].dropna()
    out = pd.DataFrame({
        "variant": summary["variant"], "loss": summary["loss"], "lr": summary["lr"].map(lambda v: _number(v, "g")),
        "runs": summary["n"].astype(int),
        "test accuracy": [_acc(m) + (f" ± {s:.4f}" if not np.isnan(s) else "")
                          for m, s in zip(summary["test_accuracy_mean"], summary["test_accuracy_sd"])],
        "95% CI": [_ci(row) for _, row in summary.iterrows()],
        "train s (median)": column("train_seconds_median").map(lambda v: _number(v, ".2f", "")),
        "CPU s (median)": column("train_cpu_seconds_median").map(lambda v: _number(v, ".2f", "")),
        f"epochs to {target.iloc[0]:.0%} val" if len(target) else "epochs to target": summary["epochs_to_target"].map(
            lambda v: "never" if np.isnan(v) else f"{v:g}"),
    })
    flagged = summary["n_diverged"] > 0
    diverged = summary.loc[flagged, "n_diverged"].astype(int).astype(str)
    out.loc[flagged, "variant"] = out.loc[flagged, "variant"] + " ⚠ diverged: " + diverged
    marked = summary["variant"].isin(list(ablations))
    out.loc[marked, "variant"] = out.loc[marked, "variant"] + " (ablation)"
    return out.set_index("variant")


def summary_caption(summary: pd.DataFrame, runs: pd.DataFrame | None = None) -> str:
    """What the summary table's interval column means for these numbers (markdown): why an
    interval is clipped, or reaches below chance (with ``runs``: where the seeds themselves lie)."""
    text = "95% CI: the t-interval of the mean over seeds."
    if (summary["n"] < 2).any():
        text += " With one run a variant has no interval (n/a)."
    clipped = summary[(summary["test_accuracy_ci95_low"] < 0) | (summary["test_accuracy_ci95_high"] > 1)]
    if len(clipped):
        text += (f" The interval of {_names(clipped['variant'])} reaches past what accuracy can be, so it is "
                 "clipped to [0, 1]: few seeds with a wide spread make the t-interval wide.")
    low = summary[(summary["test_accuracy_ci95_low"] >= 0) & (summary["test_accuracy_ci95_low"] < stats.chance())]
    if len(low):
        text += (f" The interval of {_names(low['variant'])} reaches below chance ({stats.chance():.2f}, what "
                 "guessing uniformly scores): a t-interval is symmetric around the mean by construction, and few "
                 "seeds with a wide spread make it wide")
        if runs is not None:
            spread = runs[runs["variant"].isin(low["variant"])].groupby("variant", sort=False)["test_accuracy"]
            text += "; the seeds themselves score " + "; ".join(
                f"`{v}` {g.min():.4f} to {g.max():.4f}" for v, g in spread)
        text += "."
    return text


def comparison_display(comparison: pd.DataFrame, summary: pd.DataFrame | None = None,
                       ablations: list[str] = ()) -> pd.DataFrame:
    """The tests against the reference: raw p-values of both tests, and the Holm-adjusted p of the one used.

    With ``summary``, variants with diverged runs are marked as in the summary table; with
    ``ablations``, those variants are marked "(ablation)".
    """
    if comparison.empty:
        return comparison
    out = pd.DataFrame({
        "variant": comparison["variant"],
        "difference (points)": comparison["difference"].map(_points),
        "95% CI of the difference": [
            _ci_points(lo, hi).removeprefix("95% CI ").removesuffix(" points").replace(" points (", " (")
            if not (math.isnan(lo) or math.isnan(hi)) else "" for lo, hi in
            zip(comparison["difference_ci95_low"], comparison["difference_ci95_high"])],
        "paired p": comparison["paired_p"].map(_p_or_blank), "Welch p": comparison["welch_p"].map(_p_or_blank),
        "test used": [test if test else ("none: identical" if same else "none")
                      for test, same in zip(comparison["test"].fillna(""), comparison["identical"].fillna(False))],
        "Holm-adjusted p": comparison["p_holm"].map(_p_or_blank),
        "Cohen's d": comparison["cohens_d"].map(lambda v: _number(v, ".2f", "")),
        "paired d_z": comparison["paired_dz"].map(lambda v: _number(v, ".2f", "")),
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


def no_comparison(summary: pd.DataFrame, reference: str) -> str:
    """Why the table of tests against the reference is empty (markdown)."""
    if reference not in set(summary["variant"]):
        return f"Nothing to test: the reference `{reference}` has no runs in these tables."
    return f"Nothing to test: `{reference}` is the only variant in this sweep."


def curves_caption(epochs: pd.DataFrame, gradients: bool = False,
                   metrics=("val_accuracy", "train_loss_relative")) -> str:
    """What the learning-curve bands show for these runs; which curves coincide (from the data);
    the shared start at epoch 0; why the train loss is shown relative to its start. With
    ``gradients``: what epoch 0 and the later epochs of the gradient norms are measured over.
    ``metrics``: the panels drawn (coinciding lines are looked for in each)."""
    seeds = epochs.groupby("variant", sort=False)["seed"].nunique()
    if (seeds < 2).all():
        text = "One seed per variant: each line is that run, with no band (an interval needs two seeds)."
    else:
        text = ("Mean over seeds; bands: the 95% t-interval of the mean over seeds, the same interval as the "
                "summary's \"95% CI\" column (clipped to [0, 1] for accuracy).")
        if (seeds < 2).any():
            verb = "has" if (seeds < 2).sum() == 1 else "have"
            text += f" {_names(seeds.index[seeds < 2])} {verb} one seed: no band."
    text += " Epoch 0 is the untrained network."
    if gradients:
        text += (" There ‖∂ℓ/∂z‖ is measured over the whole training split and each layer's ‖∇W‖ is the mean over "
                 "the split's first 10 minibatches at the initial weights; later epochs are means over that epoch's "
                 "minibatches while the weights change, so the step from epoch 0 to 1 mixes the two. At epoch 0 "
                 "the variants of one loss have the same gradient norm (the same networks): their lines start "
                 "together, and the steps lr × norm start apart only by their learning rates.")
    first = epochs[epochs["epoch"] == 0]
    if "val_accuracy" in metrics and "val_accuracy" in first and first["variant"].nunique() > 1:
        start = first.groupby("seed")["val_accuracy"].nunique()
        if (start == 1).all():
            text += (" At epoch 0 every variant shows the same validation accuracy: seed by seed they start from "
                     "the same network, so their lines meet there.")
    text += coinciding_text(epochs, metrics)
    losses = list(dict.fromkeys(epochs["loss"])) if "loss" in epochs else []
    kinds = {"cross_entropy" if loss in CROSS_ENTROPY_FORMS else loss for loss in losses}
    if len(kinds) > 1 and "train_loss" in epochs and "train_loss_relative" in metrics:
        starts = first.groupby("loss", sort=False)["train_loss"].mean().dropna()
        text += (" Losses of different kinds have different scales (at epoch 0: " + ", ".join(
            f"`{loss}` {value:.3g}" for loss, value in starts.items()) + "), so the train loss is shown as a share of "
            "each run's epoch-0 value, never as raw values on one axis.")
    diverged = (epochs.groupby("variant", sort=False)["train_loss"].apply(lambda v: (~np.isfinite(v)).any())
                if "train_loss" in epochs else pd.Series(dtype=bool))
    if diverged.any():
        text += (f" {_names(diverged.index[diverged])}: lines stop where runs diverged (non-finite loss), "
                 "and their later points are means over the runs still finite.")
    return text


# Mean curves closer than this at every epoch draw as one line at the report's figure sizes
COINCIDE = {"val_accuracy": (0.01, "validation accuracy", "within 1 point"),
            "train_loss_relative": (0.01, "train loss ÷ its epoch-0 value", "within 0.01"),
            "logit_grad_norm": (0.01, "logit-gradient norm", "within 1%"),
            "step_logit": (0.01, "effective step", "within 1%"),
            "val_mean_max_prob": (0.01, "mean max-probability", "within 0.01"),
            "val_confident_wrong": (0.001, "confidently wrong share", "within 0.1 points")}


def coinciding_text(epochs: pd.DataFrame, metrics) -> str:
    """Which variants' mean lines lie on top of each other in each drawn panel, said in words
    (the figure also draws them with their own dashes and markers)."""
    parts, layers = [], []
    for metric in metrics:
        if metric.startswith("step_layer") and metric in epochs:  # every layer's step: one clause if they agree
            layers.append(stats.coinciding(epochs, metric, 0.01, relative=True))
            continue
        if metric not in COINCIDE:
            continue
        tolerance, name, within = COINCIDE[metric]
        data = stats.relative_loss(epochs) if metric == "train_loss_relative" and metric not in epochs else epochs
        if metric not in data:
            continue
        relative = metric in ("logit_grad_norm", "step_logit")
        groups = stats.coinciding(data, metric, tolerance, relative=relative)
        if groups:
            parts.append(f"in {name}, " + " and ".join(_names(g) for g in groups) + f" ({within} at every epoch)")
    for number, groups in enumerate(layers, start=1):
        if groups and all(g == layers[0] for g in layers):
            parts.append("in every layer's step lr × ‖∇W‖, " + " and ".join(_names(g) for g in groups)
                         + " (within 1% at every epoch)")
            break
        if groups:
            parts.append(f"in layer {number}'s step, " + " and ".join(_names(g) for g in groups)
                         + " (within 1% at every epoch)")
    if not parts:
        return ""
    return (" Lines that lie on top of each other, told apart by their dash pattern and marker: " + "; ".join(parts)
            + ".")


def ratio_caption(ratios: pd.DataFrame, numerator: str, denominator: str) -> str:
    """What the per-epoch ratio figure shows (``stats.ratio_by_epoch``), with its measured range."""
    if ratios.empty:
        return f"No seed was trained as both `{numerator}` and `{denominator}`: no ratio per epoch."
    later = ratios[ratios["epoch"] > 0]
    text = (f"Mean per-sample logit-gradient norm of `{numerator}` over that of `{denominator}` on the same seed. "
            "At epoch 0 both are the same network, so the ratio is the losses' alone; later epochs compare the "
            "networks each trained into.")
    first = ratios[ratios["epoch"] == 0]
    if len(first):
        text += f" Epoch 0: {first['mean'].iloc[0]:.4f} (2/C² = {theoretical_ratio():.4f})"
    if len(later):
        text += (f"; epochs {int(later['epoch'].min())}–{int(later['epoch'].max())}: {later['mean'].min():.4f} to "
                 f"{later['mean'].max():.4f}. The bound 1/C = {1 / stats.CLASSES:.2f} holds for one network's output")
        if later["max"].max() > 1 / stats.CLASSES:
            text += (", not between two networks: here the ratio passes it because cross-entropy's gradient shrinks "
                     "as its network learns")
    return text + "."


def saturation_caption(epochs: pd.DataFrame) -> str:
    """Which variants the saturation panels leave out, and why (losses whose targets cap the softmax);
    which of the drawn lines coincide."""
    text = ("Bands, where there are two seeds or more: 95% t-interval of the mean over seeds, clipped to [0, 1].")
    if "loss" not in epochs:
        return text
    drawn = epochs[~epochs["loss"].isin(stats.CAPPED_LOSSES)]
    text += coinciding_text(drawn, ("val_mean_max_prob", "val_confident_wrong"))
    capped = epochs[epochs["loss"].isin(stats.CAPPED_LOSSES)]
    if len(capped):
        variants = list(dict.fromkeys(capped["variant"]))
        peak = capped.groupby(["variant", "epoch"])["val_mean_max_prob"].mean().max()
        text += (f" {_names(variants)} are left out: MSE on logits pulls the logits to the 0/1 targets, where the "
                 f"softmax's largest entry is e/(e + C − 1) = {stats.softmax_cap():.2f}, so it can hardly be "
                 "confident, and a low confidently-wrong share is automatic for it, not evidence of anything "
                 f"(measured here: mean max-probability at most {peak:.2f}).")
    return text


def overlay_caption(epochs: pd.DataFrame, table: pd.DataFrame, slow_loss: str, base_loss: str = "cross_entropy",
                    reference: str | None = None) -> tuple[str, list[str]]:
    """The direct test's overlay: which variants it shows (the slow loss and ``base_loss`` at the
    shared lr, and ``base_loss`` at lr × 2/C²) and what to look for; empty list when the twin is missing."""
    ablated = set(stats.ablations(table, reference))
    rows = table.drop_duplicates("variant")
    twins = twin_variants(table, base_loss, reference)
    slow = [r.variant for r in rows.itertuples() if r.loss == slow_loss and r.variant not in ablated]
    base = [r.variant for r in rows.itertuples() if r.loss == base_loss and r.variant not in ablated]
    if not twins or not slow:
        return (f"No overlay: the sweep lacks `{base_loss}` at the shared lr × 2/C² or `{slow_loss}` at the shared lr "
                "(see the direct test above)."), []
    shown = [*slow[:1], *twins[:1], *base[:1]]
    return (f"`{twins[0]}` against `{slow[0]}` (and `{base[0]}` at the shared lr for scale): validation accuracy and "
            "the effective step lr × ‖∂ℓ/∂z‖. If the 2/C² factor is what slows MSE on softmax, the first two "
            "lines track each other while the outputs stay near uniform."
            + coinciding_text(stats.with_lr(epochs[epochs["variant"].isin(shown)], table),
                              ("val_accuracy", "step_logit"))), shown


def ablation_caption(summary: pd.DataFrame, slow_loss: str, runs: pd.DataFrame | None = None,
                     reference: str | None = None, epochs: pd.DataFrame | None = None) -> tuple[str, list[str]]:
    """The ablation section: which variants change more than the loss and what each is shown
    beside (its loss at the shared settings); returns the text and the variants to draw."""
    table = runs if runs is not None else summary
    ablated = stats.ablations(table, reference)
    if not ablated:
        return (f"This sweep has no ablation variant (no variant of `{slow_loss}` or another loss at other settings): "
                "every variant trains at the same settings, as on the comparison page."), []
    shown, parts = [], []
    for variant in ablated:
        base = stats.ablation_base(table, variant, reference)
        loss = table.loc[table["variant"] == variant, "loss"].iloc[0]
        changed = _changed_text(stats.changed_settings(table, variant, reference))
        beside = f"; beside `{base}`" if base else "; its loss has no variant at the shared settings"
        parts.append(f"`{variant}` (`{loss}` at {changed}{beside})")
        shown += [v for v in (base, variant) if v and v not in shown]
    shared = _settings_text(stats.shared_settings(table, reference))
    drawn = epochs[epochs["variant"].isin(shown)] if epochs is not None else None
    return ("Each ablation changes a setting besides the loss, and is drawn beside its own loss at the shared "
            f"settings ({shared}): " + "; ".join(parts) + ". What each shows is said above, never as a ranking of "
            "the losses." + (coinciding_text(drawn, ("val_accuracy", "train_loss_relative")) if drawn is not None
                             else "")), shown


def per_seed_caption(runs: pd.DataFrame, epochs: pd.DataFrame | None = None) -> str:
    """The variant page's every-seed section: what it shows for this many seeds, its fixed axes,
    and (with ``epochs``) when the seeds' loss lines lie on top of each other near their start."""
    text = ("Axes are fixed (accuracy 0 to 1; train loss as a share of its epoch-0 value, 0 to at least 1), so a "
            "small change looks small.")
    text = ("One seed only: one line per panel, no spread over seeds to show. " if len(runs) < 2 else
            f"{len(runs)} seeds, one line each. ") + text
    if epochs is not None and len(epochs) and "train_loss" in epochs:
        relative = stats.relative_loss(epochs)["train_loss_relative"].dropna()
        change = (relative - 1).abs().max() if len(relative) else math.nan
        if change < 0.01:
            text += (f" The train loss stays within {change * 100:.2g}% of its epoch-0 value at every epoch"
                     + (" of every seed, so those lines lie on top of each other at 1." if len(runs) > 1 else "."))
    return text


PRIOR_GUESSING = 0.5  # one class predicted for more than half the test images: guessing, not recognising


def prediction_note(predictions: pd.DataFrame, classes=tuple("0123456789")) -> str | None:
    """The variant page's warning when the median seed predicts one class for most test images
    (class-prior guessing), or None."""
    shares = stats.predicted_shares(predictions)
    if shares.empty or shares["predicted_share"].iloc[0] <= PRIOR_GUESSING:
        return None
    top = shares.index[0]
    share, prior = shares["predicted_share"].iloc[0], shares["label_share"].iloc[0]
    return (f"**Guessing one class:** this network predicts class {classes[int(top)]} for {share:.0%} of the test "
            f"images (that class is {prior:.0%} of them), with a largest probability of "
            f"{predictions['confidence'].max():.2f} on any image. Its accuracy is close to what always naming one "
            "class scores (class-prior guessing): it has not learned to tell the classes apart. The confusion matrix "
            "below is mostly one column, and the \"most confidently wrong\" examples are only its least unsure "
            "wrong guesses.")


def examples_caption(predictions: pd.DataFrame) -> str:
    """How confident the most confidently wrong examples actually are."""
    wrong = predictions[predictions["label"] != predictions["predicted"]]
    text = "Title: predicted class (its probability) and true class; red = wrong."
    if wrong.empty:
        return text + " No test image is wrong: no wrong examples to show."
    top = wrong["confidence"].max()
    confident = (wrong["confidence"] > 0.9).sum()
    if confident == 0:
        return text + (f" None of the {len(wrong)} wrong predictions is confident (p > 0.9): the most confident "
                       f"wrong one has p = {top:.2f}.")
    return text + f" {confident} of the {len(wrong)} wrong predictions have p > 0.9 (the most confident: {top:.2f})."


def examples_note(runs: pd.DataFrame) -> str | None:
    """Why the median seed's test-set figures are missing (every run diverged), or None when they are shown."""
    if len(runs) == 0:
        return "No runs of this variant in the tables: nothing to show."
    if (runs["status"] == "diverged").all():
        return ("Every run of this variant diverged: its weights are not finite, so its test-set predictions "
                "(confusion matrix, examples, confidence) mean nothing and are not shown.")
    return None


def test_set_heading(runs: pd.DataFrame, run: pd.Series) -> str:
    """The heading of the variant page's test-set figures: which seed they show and why that one."""
    among = ", among the runs that did not diverge" if (runs["status"] == "diverged").any() else ""
    return f"## Test set of seed {run['seed']} (median test accuracy {_acc(run['test_accuracy'])}{among})"


CROSS_ENTROPY_FORMS = ("softmax_nll", "logsoftmax_nll", "cross_entropy")


def ratio_display(ratios: pd.DataFrame) -> pd.DataFrame:
    """Per-seed measured ratio next to the theory."""
    out = ratios.copy()
    out["theory 2/C²"] = theoretical_ratio()
    out["ratio / theory"] = out["ratio"] / out["theory 2/C²"]
    return out.set_index("seed").round(5)


def variant_overview(runs: pd.DataFrame) -> str:
    if len(runs) == 0:
        return "No runs of this variant in the tables."
    first = runs.iloc[0]
    acc = runs["test_accuracy"]
    seeds = f"{len(runs)} seeds" if len(runs) > 1 else "one seed"
    spread = f" (min {_acc(acc.min())}, max {_acc(acc.max())})" if len(runs) > 1 else ""
    text = (f"Loss `{first['loss']}`, lr {first['lr']:g}, batch {int(first['batch_size'])}, "
            f"{int(first['epochs'])} epochs, {seeds}: test accuracy {_acc(acc.mean())}{spread}.")
    diverged = runs[runs["status"] == "diverged"]
    if len(diverged):
        text += (f"\n\n⚠ **{len(diverged)} of {len(runs)} run(s) diverged** (seeds "
                 f"{', '.join(map(str, diverged['seed']))}); a diverged run's accuracy is the last one measured "
                 "before its loss became non-finite.")
    return text


def provenance_markdown(runs: pd.DataFrame, metrics_json: str, manifest_json: str, snakemake_version: str) -> str:
    """Versions, device, commit and data checksums as a markdown list."""
    import json

    metrics = json.loads(open(metrics_json).read())
    manifest = json.loads(open(manifest_json).read())
    prov = metrics["provenance"]
    commits = ", ".join(f"`{c}`" for c in runs["git_commit"].astype(str).unique())
    lines = [
        f"- **git commit(s):** {commits}"
        + (" (working tree had uncommitted changes)" if prov.get("git_dirty") else ""),
        f"- **device(s):** {', '.join(runs['device_name'].astype(str).unique())}; host `{prov['host']}`",
        f"- **versions:** Python {prov['python']}, torch {prov['torch']}, torchvision {prov['torchvision']}, "
        f"Snakemake {snakemake_version}, lossbench {prov.get('lossbench')}",
        f"- **runs:** {len(runs)}, started {runs['start_time'].min()} to {runs['start_time'].max()}",
        f"- **dataset:** {manifest['dataset']} ({manifest['n_train']} train / {manifest['n_test']} test images), "
        f"source: {manifest['source']}",
    ]
    lines += [f"  - `{name}`: SHA-256 `{sha}`" for name, sha in manifest["files_sha256"].items()]
    lines.append("- **config hashes:** " + ", ".join(
        f"{v} `{h}`" for v, h in runs.drop_duplicates("variant")[["variant", "config_hash"]].itertuples(index=False)))
    return "\n".join(lines)


def rerun_markdown(config: dict, configfiles=(), overrides: dict | None = None) -> str:
    """How to reproduce this report: the invocation that built it (its ``--configfile`` files and
    ``--config`` overrides, as the workflow passes them), and the resolved config as a fallback."""
    import shlex

    from .data import DATASETS

    dataset = config.get("dataset", "mnist")
    flags = "".join(f" --configfile {shlex.quote(str(path))}" for path in configfiles)
    if overrides:
        flags += " --config " + " ".join(shlex.quote(f"{key}={_config_value(value)}")
                                         for key, value in overrides.items())
    how = ("with the config files and overrides this report was built with" if flags else
           "with the repository's `config/config.yaml` and no overrides, as this report was built")
    return (
        f"From a clone of the repository at the commit above, {how}:\n\n"
        "```bash\n"
        "make setup && source .venv/bin/activate\n"
        f"snakemake --cores 8{flags}\n"
        f"make determinism DATASET={dataset}   # one run trained twice, compared bit for bit\n"
        "lossbench compare RUN_A RUN_B          # e.g. your rerun of a run against this one\n"
        "```\n\n"
        "If those files are not at hand, save the configuration above as `resolved.yaml` and run "
        "`snakemake --cores 8 --configfile resolved.yaml`: it holds every setting as this report used it.\n\n"
        f"Set `LOSSBENCH_DATA_MIRROR` to a folder with the original {DATASETS[dataset].title} `.gz` files "
        "to skip the download; every file is verified against the SHA-256 values listed above either way. "
        "On CPU the same config, seed and thread count reproduce every metric and weight bit for bit. "
        "On GPU, runs are bit-identical only with `deterministic: true` on the same GPU model and "
        "software versions (see README, Determinism); otherwise metrics can differ in the last digits."
    )


def _config_value(value) -> str:
    """One ``--config key=value`` value as Snakemake reads it back (numbers, True/False, YAML flow)."""
    import json

    if isinstance(value, (list, tuple, dict)):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def config_yaml(config: dict) -> str:
    import yaml

    return yaml.safe_dump(config, sort_keys=False, default_flow_style=None, allow_unicode=True)


def _p_or_blank(p: float) -> str:
    return "" if np.isnan(p) else _p(p).removeprefix("= ")
