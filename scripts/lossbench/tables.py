"""Gather run records into pandas tables: ``lossbench gather --runs .../metrics.json --out-dir results/tables``.

    runs.csv     one row per run (final metrics, timings, config hash, provenance)
    epochs.csv   one row per run x epoch (epoch 0 = the untrained network)
    summary.csv  one row per variant: n, mean, sd and 95% CI of test accuracy (t-interval,
                 ``stats.ci95``), median train wall and process-CPU seconds, epochs to
                 reach the dataset's target validation accuracy (90% on MNIST, 75% on
                 Fashion-MNIST; median over runs; empty when most runs never reach it)

Variants keep the order in which their runs are given (the config's order).
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import pandas as pd

from .atomic import atomic_path
from .data import DATASETS
from .errors import LossbenchError
from .stats import ci95


class GatherError(LossbenchError):
    """Runs that cannot be combined into one table."""


def epochs_to_reach(history: pd.DataFrame, target: float) -> float:
    """First epoch whose validation accuracy is >= target; NaN if never."""
    reached = history.loc[history["val_accuracy"] >= target, "epoch"]
    return float(reached.iloc[0]) if len(reached) else math.nan


def load_runs(metrics_paths: list[str | os.PathLike]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read every metrics.json and the history.csv beside it."""
    run_rows, epoch_frames = [], []
    for path in map(Path, metrics_paths):
        m = json.loads(path.read_text())
        history = pd.read_csv(path.with_name("history.csv"))
        target = DATASETS[m["config"]["dataset"]].target_val_accuracy
        key = {"variant": m["variant"], "loss": m["loss"], "seed": m["seed"], "config_hash": m["config_hash"]}
        run_rows.append({
            **key,
            "status": m["status"], "diverged_epoch": m["diverged_epoch"], "epochs_run": m["epochs_run"],
            "lr": m["config"]["lr"], "batch_size": m["config"]["batch_size"], "epochs": m["config"]["epochs"],
            "dataset": m["config"]["dataset"],
            "train_loss": m["train_loss"], "train_accuracy": m["train_accuracy"],
            "val_accuracy": m["val_accuracy"], "test_accuracy": m["test_accuracy"],
            "target_val_accuracy": target,
            "epochs_to_target": epochs_to_reach(history, target),
            "initial_logit_grad_norm": m["initial_logit_grad_norm"],
            "train_seconds": m["train_seconds"], "train_cpu_seconds": m.get("train_cpu_seconds"),
            "eval_seconds": m["eval_seconds"], "startup_seconds": m["startup_seconds"],
            "device_name": m["provenance"]["device_name"], "git_commit": m["provenance"]["git_commit"],
            "host": m["provenance"].get("host"), "pid": m["provenance"].get("pid"), "cpus": m["provenance"].get("cpus"),
            "start_time": m["start_time"], "end_time": m.get("end_time"), "path": str(path.parent),
        })
        epoch_frames.append(history.assign(**key)[[*key, *history.columns]])
    runs = pd.DataFrame(run_rows).astype({"train_cpu_seconds": float})  # None (runs before it was recorded): NaN
    check_consistent(runs)
    return runs, pd.concat(epoch_frames, ignore_index=True)


def check_consistent(runs: pd.DataFrame) -> None:
    """Refuse to mix runs of one variant made under different configs."""
    for variant, group in runs.groupby("variant", sort=False):
        hashes = group.drop_duplicates("config_hash")
        if len(hashes) > 1:
            found = ", ".join(f"{row.path} has {row.config_hash}" for row in hashes.itertuples())
            raise GatherError(
                f"variant {variant!r}: runs come from different configs ({found}); rerun snakemake "
                "so the stale runs are retrained, or delete them"
            )
    duplicated = runs[runs.duplicated(["variant", "seed"], keep=False)]
    if len(duplicated):
        raise GatherError(f"runs given twice: {', '.join(duplicated['path'])}")


def summarize(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per variant, in the order the variants first appear."""
    rows = []
    for variant, g in runs.groupby("variant", sort=False):
        low, high = ci95(g["test_accuracy"])
        to_target = float(np.median(g["epochs_to_target"].fillna(math.inf)))  # never reached counts as last
        rows.append({
            "variant": variant, "loss": g["loss"].iloc[0], "lr": g["lr"].iloc[0],
            "n": len(g), "n_diverged": int((g["status"] == "diverged").sum()),
            "test_accuracy_mean": g["test_accuracy"].mean(), "test_accuracy_sd": g["test_accuracy"].std(ddof=1),
            "test_accuracy_ci95_low": low, "test_accuracy_ci95_high": high,
            "train_seconds_median": g["train_seconds"].median(),
            "train_cpu_seconds_median": g["train_cpu_seconds"].median(),
            "target_val_accuracy": g["target_val_accuracy"].iloc[0],
            "epochs_to_target": to_target if math.isfinite(to_target) else math.nan,
            "config_hash": g["config_hash"].iloc[0], "device_name": g["device_name"].iloc[0],
        })
    return pd.DataFrame(rows)


def write_tables(metrics_paths: list[str | os.PathLike], out_dir: str | os.PathLike) -> dict[str, pd.DataFrame]:
    """Write runs.csv, epochs.csv and summary.csv into ``out_dir`` (all computed before any is written)."""
    runs, epochs = load_runs(metrics_paths)
    tables = {"runs": runs, "epochs": epochs, "summary": summarize(runs)}
    out_dir = Path(out_dir)
    for name, frame in tables.items():
        with atomic_path(out_dir / f"{name}.csv") as tmp:
            frame.to_csv(tmp, index=False)
    return tables
