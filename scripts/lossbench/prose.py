"""The report's sentences and display tables, computed from the tables and ``lossbench.stats``.

Every sentence the report states about the results is built here from the numbers, so it
cannot drift from them (tested in tests/test_prose.py).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .stats import ALPHA, concurrency, theoretical_ratio


def comparison_conclusion(summary: pd.DataFrame, comparison: pd.DataFrame, reference: str) -> str:
    """A short plain-language reading of the summary and the tests (markdown).

    A variant with a diverged run is never "best" and never "no detectable difference": its mean
    mixes networks that trained with ones that did not, so it is flagged and not judged.
    """
    s = summary.set_index("variant")
    lines = []
    ranked = s[s["n_diverged"] == 0]
    if len(s) == 1:
        only = s.index[0]
        lines.append(f"- **One variant** in this sweep, `{only}`: mean test accuracy "
                     f"{_acc(s.loc[only, 'test_accuracy_mean'])} (95% CI {_ci(s.loc[only])}, "
                     f"n = {int(s.loc[only, 'n'])}); nothing to rank or test it against.")
    elif ranked.empty:
        lines.append("- **No best variant:** every variant has diverged runs, so none is ranked.")
    else:
        top = ranked["test_accuracy_mean"].max()
        best = list(ranked.index[ranked["test_accuracy_mean"] == top])
        left_out = [v for v in s.index if v not in ranked.index]
        lines.append(
            f"- **Best mean test accuracy:** {_names(best)} with {_acc(top)}"
            + (f" (95% CI {_ci(s.loc[best[0]])}, n = {int(s.loc[best[0], 'n'])})" if len(best) == 1 else
               " (tied)")
            + (f"; {_names(left_out)} not ranked (diverged runs)" if left_out else "") + "."
        )
    if reference not in s.index:
        lines.append(f"- **Reference** `{reference}` has no runs in these tables: nothing is tested against it.")
    elif len(s) > 1:
        lines.append(f"- **Reference** `{reference}`: {_acc(s.loc[reference, 'test_accuracy_mean'])} "
                     f"(95% CI {_ci(s.loc[reference])}).")
    if reference in s.index:
        for row in comparison.itertuples():
            lines.append(f"- `{row.variant}` vs `{reference}`: {_verdict(row, s, reference)}.")
    tested = comparison.dropna(subset=["p"]) if reference in s.index else comparison.iloc[:0]
    if len(tested) > 1:
        lines.append(f"- p-values are adjusted with Holm's method across the {len(tested)} "
                     f"comparisons with `{reference}`; a difference counts at adjusted p < {ALPHA}.")
    if len(s) and (s["n"] < 2).all():
        lines.append("- One seed per variant: no interval and no test (both need two seeds or more); "
                     "add seeds in the config to measure the spread.")
    for variant, row in s[s["n_diverged"] > 0].iterrows():
        lines.append(f"- ⚠ `{variant}`: {int(row['n_diverged'])} of {int(row['n'])} runs **diverged**.")
    return "\n".join(lines)


def _verdict(row, s: pd.DataFrame, reference: str) -> str:
    """One comparison in words, from the numbers, saying why when there is no test."""
    diverged = [v for v in (row.variant, reference) if s.loc[v, "n_diverged"] > 0]
    if diverged:
        who = " and ".join(f"`{v}` diverged in {int(s.loc[v, 'n_diverged'])} of {int(s.loc[v, 'n'])} runs"
                           for v in diverged)
        return f"not judged: {who} ({_points(row.difference)} points apart)"
    if not math.isnan(row.p):
        if row.p_holm < ALPHA:
            direction = "higher" if row.difference > 0 else "lower"
            return (f"**{abs(row.difference) * 100:.1f} points {direction}** ({row.test} test, Holm-adjusted "
                    f"p {_p(row.p_holm)}, raw p {_p(row.p)}, d = {_number(row.cohens_d, '.2g')})")
        return (f"no detectable difference ({_points(row.difference)} points, "
                f"Holm-adjusted p {_p(row.p_holm)}, raw p {_p(row.p)})")
    few = [v for v in (row.variant, reference) if s.loc[v, "n"] < 2]
    if few:
        return (f"not tested: {' and '.join(f'`{v}`' for v in few)} {'has' if len(few) == 1 else 'have'} one run "
                f"(a t-test needs two or more); {_points(row.difference)} points apart")
    return (f"not tested: every run of both gives the same accuracy, so there is no spread to test; "
            f"{_points(row.difference)} points apart")


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
                   saturation: pd.DataFrame | None = None, base_loss: str = "cross_entropy") -> str:
    """What the measurements say about the slow *loss* (markdown).

    ``reference`` is a variant (accuracies are compared with it); ``slow_loss`` and ``base_loss``
    are losses (the gradient ratio is slow over base on the same networks); the saturation
    sentence is about the first variant that trains ``slow_loss`` without diverging.
    """
    s = summary.set_index("variant")
    lines = []
    ratios = ratios[np.isfinite(ratios["ratio"])] if len(ratios) else ratios
    if len(ratios) and (ratios["ratio"] > 0).all():
        measured = ratios["ratio"].mean()
        theory = theoretical_ratio()
        seeds = f"mean of {len(ratios)} seeds" if len(ratios) > 1 else "one seed"
        lines.append(
            f"- At initialisation the measured logit-gradient ratio of the losses `{slow_loss}` / `{base_loss}` is "
            f"**{measured:.4f}** ({seeds}), against 2/C² = {theory:.4f}: "
            f"{abs(measured / theory - 1) * 100:.1f}% apart. The slow loss starts with a "
            f"~{1 / measured:.0f}× smaller gradient."
        )
    else:
        lines.append("- " + ratio_missing(summary, slow_loss, base_loss))
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
            head = f"- `{variant}` (loss `{row['loss']}`, lr {row['lr']:g})"
            if row["n_diverged"] > 0 or ref_diverged:
                who = variant if row["n_diverged"] > 0 else reference
                lines.append(f"{head}: not compared with `{reference}`, because `{who}` diverged in "
                             f"{int(s.loc[who, 'n_diverged'])} of {int(s.loc[who, 'n'])} runs.")
                continue
            gap = row["test_accuracy_mean"] - ref_acc
            relation = "matches" if abs(gap) < 0.01 else ("beats" if gap > 0 else "trails")
            lines.append(f"{head} {relation} `{reference}`: {_acc(row['test_accuracy_mean'])} vs {_acc(ref_acc)} "
                         "test accuracy.")
    slow_variants = [v for v, row in s.iterrows() if row["loss"] == slow_loss]
    trained = [v for v in slow_variants if s.loc[v, "n_diverged"] == 0]
    measured = pd.DataFrame()
    if saturation is not None and trained:
        slow = trained[0]
        measured = saturation[saturation["variant"] == slow].dropna(subset=["val_mean_max_prob",
                                                                            "val_confident_wrong"])
    if len(measured):
        last = measured.iloc[-1]
        confident, wrong = last["val_mean_max_prob"], last["val_confident_wrong"]
        state = (f"after epoch {int(last['epoch'])} `{slow}` has mean max-probability {confident:.2f} and "
                 f"{wrong * 100:.1f}% confidently wrong validation images")
        if confident < 0.5 and wrong < 0.01:
            lines.append(f"- Saturation: {state}. Its outputs stay close to uniform, so what slows it here is the "
                         "2/C² factor of the first epochs, not saturated wrong answers.")
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
    return "\n".join(lines)


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
    """The 95% CI of mean test accuracy, clipped to [0, 1] (accuracy lives there) and saying so."""
    low, high = row["test_accuracy_ci95_low"], row["test_accuracy_ci95_high"]
    if np.isnan(low) or np.isnan(high):
        return "n/a (one run)" if row.get("n", 2) < 2 else "n/a"
    text = f"{max(low, 0.0):.4f}–{min(high, 1.0):.4f}"
    return text + " (clipped to [0, 1])" if low < 0 or high > 1 else text


def _p(p: float) -> str:
    """'p = 0.039' or 'p < 0.0001' style (without the 'p')."""
    return f"= {p:.2g}" if p >= 1e-4 else "< 0.0001"


def summary_display(summary: pd.DataFrame) -> pd.DataFrame:
    """The summary table formatted for reading (strings, one row per variant; no 'nan')."""
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
    return out.set_index("variant")


def summary_caption(summary: pd.DataFrame) -> str:
    """What the summary table's interval column means for these numbers (markdown)."""
    text = "95% CI: the t-interval of the mean over seeds."
    if (summary["n"] < 2).any():
        text += " With one run a variant has no interval (n/a)."
    clipped = summary[(summary["test_accuracy_ci95_low"] < 0) | (summary["test_accuracy_ci95_high"] > 1)]
    if len(clipped):
        text += (f" The interval of {_names(clipped['variant'])} reaches past what accuracy can be, so it is "
                 "clipped to [0, 1]: few seeds with a wide spread make the t-interval wide.")
    return text


def comparison_display(comparison: pd.DataFrame, summary: pd.DataFrame | None = None) -> pd.DataFrame:
    """The tests against the reference: raw p-values of both tests, and the Holm-adjusted p of the one used.

    With ``summary``, variants with diverged runs are marked as in the summary table.
    """
    if comparison.empty:
        return comparison
    out = pd.DataFrame({
        "variant": comparison["variant"],
        "difference (points)": comparison["difference"].map(_points),
        "paired p": comparison["paired_p"].map(_p_or_blank), "Welch p": comparison["welch_p"].map(_p_or_blank),
        "test used": comparison["test"].fillna("").replace("", "none"),
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
    return out.set_index("variant")


def no_comparison(summary: pd.DataFrame, reference: str) -> str:
    """Why the table of tests against the reference is empty (markdown)."""
    if reference not in set(summary["variant"]):
        return f"Nothing to test: the reference `{reference}` has no runs in these tables."
    return f"Nothing to test: `{reference}` is the only variant in this sweep."


def curves_caption(epochs: pd.DataFrame) -> str:
    """What the learning-curve bands show for these runs, and which curves coincide by construction."""
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
    losses = list(dict.fromkeys(epochs["loss"])) if "loss" in epochs else []
    same = [loss for loss in CROSS_ENTROPY_FORMS if loss in losses]
    if len(same) > 1:
        text += (f" {_names(same)} are the same math (cross-entropy), so their curves lie on top of each other.")
    if len({"cross_entropy" if loss in CROSS_ENTROPY_FORMS else loss for loss in losses}) > 1:
        text += " Each loss has its own scale: compare train-loss curves by shape, not height."
    diverged = (epochs.groupby("variant", sort=False)["train_loss"].apply(lambda v: (~np.isfinite(v)).any())
                if "train_loss" in epochs else pd.Series(dtype=bool))
    if diverged.any():
        text += (f" {_names(diverged.index[diverged])}: lines stop where runs diverged (non-finite loss), "
                 "and their later points are means over the runs still finite.")
    return text


def per_seed_caption(runs: pd.DataFrame) -> str:
    """The variant page's every-seed section: what it shows for this many seeds."""
    if len(runs) < 2:
        return "One seed only: one line per panel, no spread over seeds to show."
    return f"{len(runs)} seeds, one line each."


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


def ablation_caption(summary: pd.DataFrame, slow_loss: str) -> str:
    """Which variants of this sweep differ from the others in more than the loss (markdown)."""
    lrs = summary["lr"].round(12)
    common = lrs.mode().iloc[0] if len(lrs) else math.nan
    other_lr = summary[lrs != common]
    logits = summary[summary["loss"] == "mse_logits"]
    parts = []
    if len(other_lr):
        parts.append("a learning rate other than the sweep's most common one (" + _number(common, "g") + "): "
                     + ", ".join(f"`{r.variant}` (loss `{r.loss}`, lr {r.lr:g})" for r in other_lr.itertuples()))
    if len(logits):
        parts.append("MSE on the raw logits (no softmax, so no Jacobian and no saturation): "
                     + _names(logits["variant"]))
    if not parts:
        return (f"This sweep has no ablation variant (no variant of `{slow_loss}` at another learning rate, no MSE on "
                "the logits): the curves below are the comparison's, every variant at the same learning rate.")
    return "The same curves, read for the ablation variants of this sweep: " + "; ".join(parts) + "."


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
