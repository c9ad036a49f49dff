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
    """A short plain-language reading of the summary and the tests (markdown)."""
    s = summary.set_index("variant")
    best = s["test_accuracy_mean"].idxmax()
    lines = [
        f"- **Best mean test accuracy:** `{best}` with {s.loc[best, 'test_accuracy_mean']:.4f} "
        f"(95% CI {_ci(s.loc[best])}, n = {int(s.loc[best, 'n'])})."
    ]
    if reference in s.index:
        lines.append(f"- **Reference** `{reference}`: {s.loc[reference, 'test_accuracy_mean']:.4f} "
                     f"(95% CI {_ci(s.loc[reference])}).")
    for row in comparison.itertuples():
        if math.isnan(row.p):
            verdict = "too few runs to test"
        elif row.p_holm < ALPHA:
            direction = "higher" if row.difference > 0 else "lower"
            verdict = (f"**{abs(row.difference) * 100:.1f} points {direction}** ({row.test} test, Holm-adjusted "
                       f"p {_p(row.p_holm)}, raw p {_p(row.p)}, d = {row.cohens_d:.2g})")
        else:
            verdict = (f"no detectable difference ({row.difference * 100:+.2f} points, "
                       f"Holm-adjusted p {_p(row.p_holm)}, raw p {_p(row.p)})")
        lines.append(f"- `{row.variant}` vs `{reference}`: {verdict}.")
    if len(comparison.dropna(subset=["p"])) > 1:
        lines.append(f"- p-values are adjusted with Holm's method across the {len(comparison.dropna(subset=['p']))} "
                     f"comparisons with `{reference}`; a difference counts at adjusted p < {ALPHA}.")
    diverged = s[s["n_diverged"] > 0]
    for variant, row in diverged.iterrows():
        lines.append(f"- ⚠ `{variant}`: {int(row['n_diverged'])} of {int(row['n'])} runs **diverged**.")
    return "\n".join(lines)


def why_conclusion(summary: pd.DataFrame, ratios: pd.DataFrame, reference: str, slow_loss: str,
                   saturation: pd.DataFrame | None = None, base_loss: str = "cross_entropy") -> str:
    """What the measurements say about the slow *loss* (markdown).

    ``reference`` is a variant (accuracies are compared with it); ``slow_loss`` and ``base_loss``
    are losses (the gradient ratio is slow over base on the same networks); the saturation
    sentence is about the first variant that trains ``slow_loss``.
    """
    s = summary.set_index("variant")
    lines = []
    if len(ratios):
        measured = ratios["ratio"].mean()
        theory = theoretical_ratio()
        lines.append(
            f"- At initialisation the measured logit-gradient ratio of the losses `{slow_loss}` / `{base_loss}` is "
            f"**{measured:.4f}** (mean of {len(ratios)} seeds), against 2/C² = {theory:.4f}: "
            f"{abs(measured / theory - 1) * 100:.1f}% apart. The slow loss starts with a "
            f"~{1 / measured:.0f}× smaller gradient."
        )
    else:
        missing = [loss for loss in (slow_loss, base_loss) if loss not in set(s["loss"])]
        lines.append(
            f"- The initial logit-gradient ratio `{slow_loss}` / `{base_loss}` is not measured here: no variant "
            f"trains {' or '.join(f'`{loss}`' for loss in missing) or 'both on the same seeds'}."
        )
    if reference in s.index:
        ref_acc = s.loc[reference, "test_accuracy_mean"]
        for variant, row in s.iterrows():
            if variant == reference:
                continue
            gap = row["test_accuracy_mean"] - ref_acc
            relation = "matches" if abs(gap) < 0.01 else ("beats" if gap > 0 else "trails")
            lines.append(
                f"- `{variant}` (loss `{row['loss']}`, lr {row['lr']:g}) {relation} `{reference}`: "
                f"{row['test_accuracy_mean']:.4f} vs {ref_acc:.4f} test accuracy."
            )
    slow_variants = [v for v, row in s.iterrows() if row["loss"] == slow_loss]
    if saturation is not None and slow_variants and slow_variants[0] in set(saturation["variant"]):
        slow = slow_variants[0]
        last = saturation[saturation["variant"] == slow].iloc[-1]
        confident, wrong = last["val_mean_max_prob"], last["val_confident_wrong"]
        state = (f"after epoch {int(last['epoch'])} `{slow}` has mean max-probability {confident:.2f} and "
                 f"{wrong * 100:.1f}% confidently wrong validation images")
        if confident < 0.5 and wrong < 0.01:
            lines.append(f"- Saturation: {state}. Its outputs stay close to uniform, so what slows it here is the "
                         "2/C² factor of the first epochs, not saturated wrong answers.")
        else:
            lines.append(f"- Saturation: {state}; where it is confidently wrong the softmax Jacobian shrinks "
                         "its gradient further.")
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
    low, high = row["test_accuracy_ci95_low"], row["test_accuracy_ci95_high"]
    return "n/a" if np.isnan(low) else f"{low:.4f}–{high:.4f}"


def _p(p: float) -> str:
    """'p = 0.039' or 'p < 0.0001' style (without the 'p')."""
    return f"= {p:.2g}" if p >= 1e-4 else "< 0.0001"


def summary_display(summary: pd.DataFrame) -> pd.DataFrame:
    """The summary table formatted for reading (strings, one row per variant)."""
    out = pd.DataFrame({
        "variant": summary["variant"], "loss": summary["loss"], "lr": summary["lr"].map("{:g}".format),
        "runs": summary["n"].astype(int),
        "test accuracy": [f"{m:.4f} ± {s:.4f}" if not np.isnan(s) else f"{m:.4f}"
                          for m, s in zip(summary["test_accuracy_mean"], summary["test_accuracy_sd"])],
        "95% CI": [_ci(row) for _, row in summary.iterrows()],
        "train s (median)": summary["train_seconds_median"].map("{:.2f}".format),
        "CPU s (median)": summary.get("train_cpu_seconds_median", pd.Series(math.nan, index=summary.index)).map(
            lambda v: "" if np.isnan(v) else f"{v:.2f}"),
        f"epochs to {summary['target_val_accuracy'].iloc[0]:.0%} val": summary["epochs_to_target"].map(
            lambda v: "never" if np.isnan(v) else f"{v:g}"),
    })
    flagged = summary["n_diverged"] > 0
    diverged = summary.loc[flagged, "n_diverged"].astype(str)
    out.loc[flagged, "variant"] = out.loc[flagged, "variant"] + " ⚠ diverged: " + diverged
    return out.set_index("variant")


def comparison_display(comparison: pd.DataFrame) -> pd.DataFrame:
    """The tests against the reference: raw p-values of both tests, and the Holm-adjusted p of the one used."""
    if comparison.empty:
        return comparison
    return pd.DataFrame({
        "variant": comparison["variant"],
        "difference (points)": (comparison["difference"] * 100).map("{:+.2f}".format),
        "paired p": comparison["paired_p"].map(_p_or_blank), "Welch p": comparison["welch_p"].map(_p_or_blank),
        "test used": comparison["test"], "Holm-adjusted p": comparison["p_holm"].map(_p_or_blank),
        "Cohen's d": comparison["cohens_d"].map("{:.2f}".format),
        "paired d_z": comparison["paired_dz"].map("{:.2f}".format),
        "seeds paired": comparison["n_paired"],
    }).set_index("variant")


def ratio_display(ratios: pd.DataFrame) -> pd.DataFrame:
    """Per-seed measured ratio next to the theory."""
    out = ratios.copy()
    out["theory 2/C²"] = theoretical_ratio()
    out["ratio / theory"] = out["ratio"] / out["theory 2/C²"]
    return out.set_index("seed").round(5)


def variant_overview(runs: pd.DataFrame) -> str:
    first = runs.iloc[0]
    acc = runs["test_accuracy"]
    text = (f"Loss `{first['loss']}`, lr {first['lr']:g}, batch {int(first['batch_size'])}, "
            f"{int(first['epochs'])} epochs, {len(runs)} seeds: test accuracy {acc.mean():.4f} "
            f"(min {acc.min():.4f}, max {acc.max():.4f}).")
    diverged = runs[runs["status"] == "diverged"]
    if len(diverged):
        text += f"\n\n⚠ **{len(diverged)} run(s) diverged** (seeds {', '.join(map(str, diverged['seed']))})."
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


def rerun_markdown(config: dict) -> str:
    """How to reproduce this report: the commands, with the switches its config used."""
    from .data import DATASETS

    dataset = config.get("dataset", "mnist")
    changed = [f"dataset={dataset}"] if dataset != "mnist" else []
    changed += ["pack_seeds=True"] if config.get("pack_seeds") else []
    switch = f" --config {' '.join(changed)}" if changed else ""
    return (
        "From a clone of the repository at the commit above:\n\n"
        "```bash\n"
        "make setup && source .venv/bin/activate\n"
        f"snakemake --cores 8{switch}\n"
        f"make determinism DATASET={dataset}   # one run trained twice, compared bit for bit\n"
        "lossbench compare RUN_A RUN_B          # e.g. your rerun of a run against this one\n"
        "```\n\n"
        f"Set `LOSSBENCH_DATA_MIRROR` to a folder with the original {DATASETS[dataset].title} `.gz` files "
        "to skip the download; every file is verified against the SHA-256 values listed above either way. "
        "On CPU the same config, seed and thread count reproduce every metric and weight bit for bit. "
        "On GPU, runs are bit-identical only with `deterministic: true` on the same GPU model and "
        "software versions (see README, Determinism); otherwise metrics can differ in the last digits."
    )


def config_yaml(config: dict) -> str:
    import yaml

    return yaml.safe_dump(config, sort_keys=False, default_flow_style=None, allow_unicode=True)


def _p_or_blank(p: float) -> str:
    return "" if np.isnan(p) else _p(p).removeprefix("= ")
