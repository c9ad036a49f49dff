"""The reproducibility page: provenance read from the run records, the resolved config, and how to rerun.

Nothing here reads a loss: the page lists what the runs recorded (commits, devices, versions,
checksums) and the invocation that built the report.
"""

from __future__ import annotations

import pandas as pd


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
        "software versions (see docs/determinism.md); otherwise metrics can differ in the last digits."
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
