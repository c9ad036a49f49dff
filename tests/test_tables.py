"""Tables from hand-written run records."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from helpers import write_run_record
from lossbench import tables


def test_summary_statistics_by_hand(tmp_path):
    paths = [
        write_run_record(tmp_path, "a", 0, 0.90, [0.1, 0.85, 0.91], train_seconds=1.0),
        write_run_record(tmp_path, "a", 1, 0.92, [0.1, 0.92, 0.93], train_seconds=3.0),
        write_run_record(tmp_path, "a", 2, 0.94, [0.1, 0.5, 0.6], train_seconds=2.0),
        write_run_record(tmp_path, "b", 0, 0.20, [0.1, 0.2, 0.3], config_hash="h2"),
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


