"""Tables from hand-written run records."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from lossbench import tables


def write_run(root, variant, seed, test_accuracy, val_curve, config_hash="h1", status="ok", train_seconds=2.0):
    run = root / variant / f"seed-{seed}"
    run.mkdir(parents=True)
    pd.DataFrame({
        "epoch": range(len(val_curve)), "train_loss": 1.0, "val_accuracy": val_curve, "test_accuracy": test_accuracy,
    }).to_csv(run / "history.csv", index=False)
    metrics = {
        "variant": variant, "loss": "cross_entropy", "seed": seed, "status": status, "diverged_epoch": None,
        "epochs_run": len(val_curve) - 1, "train_loss": 0.3, "train_accuracy": 0.9, "val_accuracy": val_curve[-1],
        "test_accuracy": test_accuracy, "initial_logit_grad_norm": 0.95, "train_seconds": train_seconds,
        "eval_seconds": 0.5, "startup_seconds": 2.5, "start_time": "2026-11-26T00:00:00+00:00",
        "config": {"lr": 0.1, "batch_size": 100, "epochs": len(val_curve) - 1, "dataset": "mnist"},
        "config_hash": config_hash, "provenance": {"device_name": "cpu", "git_commit": "abc"},
    }
    (run / "metrics.json").write_text(json.dumps(metrics))
    return run / "metrics.json"


def test_summary_statistics_by_hand(tmp_path):
    paths = [
        write_run(tmp_path, "a", 0, 0.90, [0.1, 0.85, 0.91], train_seconds=1.0),
        write_run(tmp_path, "a", 1, 0.92, [0.1, 0.92, 0.93], train_seconds=3.0),
        write_run(tmp_path, "a", 2, 0.94, [0.1, 0.5, 0.6], train_seconds=2.0),
        write_run(tmp_path, "b", 0, 0.20, [0.1, 0.2, 0.3], config_hash="h2"),
    ]
    out = tables.write_tables(paths, tmp_path / "tables")
    runs, epochs, summary = (pd.read_csv(tmp_path / "tables" / f"{n}.csv") for n in ("runs", "epochs", "summary"))
    assert len(runs) == 4 and len(epochs) == 12 and list(summary["variant"]) == ["a", "b"]
    assert list(runs["epochs_to_target"].fillna(-1)) == [2, 1, -1, -1] and set(runs["target_val_accuracy"]) == {0.9}
    a = summary.set_index("variant").loc["a"]
    assert a["n"] == 3 and a["test_accuracy_mean"] == pytest.approx(0.92)
    assert a["test_accuracy_sd"] == pytest.approx(0.02)
    half = 4.302652729911275 * 0.02 / math.sqrt(3)  # t(0.975, df=2)
    assert (a["test_accuracy_ci95_low"], a["test_accuracy_ci95_high"]) == pytest.approx((0.92 - half, 0.92 + half))
    assert a["train_seconds_median"] == 2.0 and a["epochs_to_target"] == 2.0  # median of 2, 1, never
    b = summary.set_index("variant").loc["b"]
    assert math.isnan(b["epochs_to_target"]) and math.isnan(b["test_accuracy_ci95_low"])  # never reached; n = 1
    assert list(epochs.columns[:4]) == ["variant", "loss", "seed", "config_hash"]
    pd.testing.assert_frame_equal(out["summary"], summary, check_dtype=False)


