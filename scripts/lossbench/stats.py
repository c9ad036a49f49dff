"""Statistics and computed conclusions for the report (tested in tests/test_stats.py).

Every sentence the report states about the results is built here from the tables, so it
cannot drift from the numbers.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats

ALPHA = 0.05
CLASSES = 10


def compare_to_reference(runs: pd.DataFrame, reference: str, metric: str = "test_accuracy") -> pd.DataFrame:
    """Each variant against ``reference``: mean difference, paired and Welch t-tests, effect sizes.

    Runs are paired by seed (seed s gives every variant the same split, init and batch order).
    Cohen's d uses the pooled sd; d_z is the mean paired difference over its sd.
    """
    ref = runs[runs["variant"] == reference].set_index("seed")[metric]
    rows = []
    for variant, group in runs.groupby("variant", sort=False):
        if variant == reference:
            continue
        values = group.set_index("seed")[metric]
        paired = pd.concat([values, ref], axis=1, keys=["v", "r"], join="inner").dropna()
        diff = paired["v"] - paired["r"]
        row = {
            "variant": variant, "reference": reference, "n": len(values), "n_paired": len(paired),
            "mean": values.mean(), "reference_mean": ref.mean(), "difference": values.mean() - ref.mean(),
            "welch_p": math.nan, "paired_p": math.nan, "cohens_d": math.nan, "paired_dz": math.nan,
        }
        if len(values) >= 2 and len(ref) >= 2:
            if values.std() > 0 or ref.std() > 0:
                row["welch_p"] = stats.ttest_ind(values, ref, equal_var=False).pvalue
            pooled = math.sqrt((values.var() + ref.var()) / 2)
            row["cohens_d"] = row["difference"] / pooled if pooled > 0 else 0.0 if row["difference"] == 0 else math.copysign(math.inf, row["difference"])
        if len(paired) >= 2:
            sd = diff.std()
            if sd > 0:
                row["paired_p"] = stats.ttest_rel(paired["v"], paired["r"]).pvalue
                row["paired_dz"] = diff.mean() / sd
            elif diff.mean() == 0:
                row["paired_p"], row["paired_dz"] = 1.0, 0.0
        rows.append(row)
    return pd.DataFrame(rows)


def comparison_conclusion(summary: pd.DataFrame, comparison: pd.DataFrame, reference: str) -> str:
    """A short plain-language reading of the summary and the tests (markdown)."""
    s = summary.set_index("variant")
    best = s["test_accuracy_mean"].idxmax()
    lines = [
        f"- **Best mean test accuracy:** `{best}` with {s.loc[best, 'test_accuracy_mean']:.4f} "
        f"(95% CI {_ci(s.loc[best])}, n = {int(s.loc[best, 'n'])})."
    ]
    if reference in s.index:
        lines.append(f"- **Reference** `{reference}`: {s.loc[reference, 'test_accuracy_mean']:.4f} (95% CI {_ci(s.loc[reference])}).")
    for row in comparison.itertuples():
        p = row.paired_p if not math.isnan(row.paired_p) else row.welch_p
        if math.isnan(p):
            verdict = "too few runs to test"
        elif p < ALPHA:
            direction = "higher" if row.difference > 0 else "lower"
            verdict = f"**{abs(row.difference) * 100:.1f} points {direction}** (p {_p(p)}, d = {row.cohens_d:.2g})"
        else:
            verdict = f"no detectable difference ({row.difference * 100:+.2f} points, p {_p(p)})"
        lines.append(f"- `{row.variant}` vs `{reference}`: {verdict}.")
    diverged = s[s["n_diverged"] > 0]
    for variant, row in diverged.iterrows():
        lines.append(f"- ⚠ `{variant}`: {int(row['n_diverged'])} of {int(row['n'])} runs **diverged**.")
    return "\n".join(lines)


def initial_gradient_ratio(runs: pd.DataFrame, numerator_loss: str, denominator_loss: str) -> pd.DataFrame:
    """Per seed, the ratio of initial logit-gradient norms of two losses (same seed = same network).

    The initial gradient does not depend on the lr, so any variant of each loss serves.
    """
    def first_per_seed(loss: str) -> pd.Series:
        return runs[runs["loss"] == loss].groupby("seed")["initial_logit_grad_norm"].first()

    num, den = first_per_seed(numerator_loss), first_per_seed(denominator_loss)
    both = pd.concat([num, den], axis=1, keys=[numerator_loss, denominator_loss], join="inner")
    both["ratio"] = both[numerator_loss] / both[denominator_loss]
    return both.reset_index()


def theoretical_ratio(classes: int = CLASSES) -> float:
    """MSE-on-softmax over CE logit-gradient norm at uniform output p = 1/C: 2/C^2."""
    return 2 / classes**2


def saturation_table(epochs: pd.DataFrame) -> pd.DataFrame:
    """Per variant and epoch: mean over seeds of max-probability, confident-wrong share, gradient norm."""
    cols = ["val_mean_max_prob", "val_confident_wrong", "logit_grad_norm", "val_accuracy"]
    return epochs.groupby(["variant", "epoch"], sort=False)[cols].mean().reset_index()


def why_conclusion(summary: pd.DataFrame, ratios: pd.DataFrame, reference: str, slow: str,
                   saturation: pd.DataFrame | None = None) -> str:
    """What the measurements say about the slow loss (markdown)."""
    s = summary.set_index("variant")
    lines = []
    if len(ratios):
        measured = ratios["ratio"].mean()
        theory = theoretical_ratio()
        lines.append(
            f"- At initialisation the measured logit-gradient ratio `{slow}` / `{reference}` is "
            f"**{measured:.4f}** (mean of {len(ratios)} seeds), against 2/C² = {theory:.4f}: "
            f"{abs(measured / theory - 1) * 100:.1f}% apart. The slow loss starts with a "
            f"~{1 / measured:.0f}× smaller gradient."
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
    if saturation is not None and slow in set(saturation["variant"]):
        last = saturation[saturation["variant"] == slow].iloc[-1]
        confident, wrong = last["val_mean_max_prob"], last["val_confident_wrong"]
        state = f"after epoch {int(last['epoch'])} `{slow}` has mean max-probability {confident:.2f} and {wrong * 100:.1f}% confidently wrong validation images"
        if confident < 0.5 and wrong < 0.01:
            lines.append(f"- Saturation: {state}. Its outputs stay close to uniform, so what slows it here is the "
                         "2/C² factor of the first epochs, not saturated wrong answers.")
        else:
            lines.append(f"- Saturation: {state}; where it is confidently wrong the softmax Jacobian shrinks "
                         "its gradient further.")
    return "\n".join(lines)


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
        f"epochs to {summary['target_val_accuracy'].iloc[0]:.0%} val": summary["epochs_to_target"].map(
            lambda v: "never" if np.isnan(v) else f"{v:g}"),
    })
    flagged = summary["n_diverged"] > 0
    out.loc[flagged, "variant"] = out.loc[flagged, "variant"] + " ⚠ diverged: " + summary.loc[flagged, "n_diverged"].astype(str)
    return out.set_index("variant")


def comparison_display(comparison: pd.DataFrame) -> pd.DataFrame:
    if comparison.empty:
        return comparison
    return pd.DataFrame({
        "variant": comparison["variant"],
        "difference (points)": (comparison["difference"] * 100).map("{:+.2f}".format),
        "paired p": comparison["paired_p"].map(_p_or_blank), "Welch p": comparison["welch_p"].map(_p_or_blank),
        "Cohen's d": comparison["cohens_d"].map("{:.2f}".format), "paired d_z": comparison["paired_dz"].map("{:.2f}".format),
        "seeds paired": comparison["n_paired"],
    }).set_index("variant")


def ratio_display(ratios: pd.DataFrame) -> pd.DataFrame:
    """Per-seed measured ratio next to the theory."""
    out = ratios.copy()
    out["theory 2/C²"] = theoretical_ratio()
    out["ratio / theory"] = out["ratio"] / out["theory 2/C²"]
    return out.set_index("seed").round(5)


def median_run(runs: pd.DataFrame) -> pd.Series:
    """The run whose test accuracy is the median (lower middle for an even count)."""
    ordered = runs.sort_values(["test_accuracy", "seed"]).reset_index(drop=True)
    return ordered.iloc[(len(ordered) - 1) // 2]


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
        f"- **git commit(s):** {commits}" + (" (working tree had uncommitted changes)" if prov.get("git_dirty") else ""),
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
