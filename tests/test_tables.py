"""Tables from hand-written run records."""

from __future__ import annotations

import json
import math
import re
import shutil

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




# --- issue 20, point 4: a page shows only what gather made ---------------------------------------------

def gathered(tmp_path, prefix=""):
    """Tables gather wrote (two variants, two seeds) with ``prefix``; their folder."""
    paths = [write_run_record(tmp_path / "runs", v, s, 0.9 + s / 100, [0.1, 0.5 + s / 10], config_hash=v)
             for v in ("a", "b") for s in (0, 1)]
    tables.write_tables(paths, tmp_path / "tables", prefix=prefix)
    return tmp_path / "tables"


RULES = {"": "gather", "horizon_": "gather_horizon", "lr_study_": "gather_lr_study"}


def refused(path, rule) -> str:
    """read_gathered's one error for ``path``, checked to name the file and the command that rebuilds it."""
    with pytest.raises(tables.TableError) as error:
        tables.read_gathered(path)
    message = str(error.value)
    assert message.startswith(str(path)) and "\n" not in message
    assert message.endswith(f"Rebuild it with `snakemake -R {rule}` (and the options you run snakemake with).")
    return message


@pytest.mark.parametrize("prefix", RULES)
def test_an_untouched_table_loads_and_a_hand_made_one_is_refused(tmp_path, prefix):
    folder = gathered(tmp_path, prefix)
    record = json.loads((folder / f"{prefix}gathered.json").read_text())
    assert set(record["tables"]) == {f"{prefix}{name}.csv" for name in ("runs", "epochs", "summary")}
    for name in ("runs", "epochs", "summary"):
        path = folder / f"{prefix}{name}.csv"
        pd.testing.assert_frame_equal(tables.read_gathered(path), pd.read_csv(path))
        assert record["tables"][path.name]["rows"] == len(pd.read_csv(path))
    runs = folder / f"{prefix}runs.csv"
    gather_wrote = record["tables"][runs.name]["sha256"]
    original = runs.read_text()

    lines = original.splitlines(keepends=True)
    runs.write_text("".join(lines[:2] + lines[3:]))  # one row deleted by hand (the example)
    message = refused(runs, RULES[prefix])
    assert f"is not the table gather wrote (SHA-256 expected {gather_wrote}, found " in message
    assert "edited by hand?" in message

    runs.write_text(original.replace("0.91", "0.99", 1))  # one value edited
    refused(runs, RULES[prefix])
    runs.write_text(original[: len(original) // 2])  # truncated mid-line
    refused(runs, RULES[prefix])
    other = gathered(tmp_path / "other", prefix)  # replaced by another gather's table
    shutil.copy(other / f"{prefix}summary.csv", runs)
    refused(runs, RULES[prefix])

    runs.write_text(original)  # put back byte for byte: it is gather's table again
    assert len(tables.read_gathered(runs)) == 4


def test_a_table_without_gathers_record_is_refused(tmp_path):
    folder = gathered(tmp_path)
    (folder / "gathered.json").unlink()
    message = refused(folder / "summary.csv", "gather")
    assert f"no record of the table gather wrote ({folder / 'gathered.json'} not found)" in message
    (folder / "gathered.json").write_text("{not json")
    assert "holds no SHA-256 for it" in refused(folder / "summary.csv", "gather")
    (folder / "runs.csv").unlink()
    assert "not found; expected a table written by gather" in refused(folder / "runs.csv", "gather")
    with pytest.raises(tables.TableError, match="not a table gather writes"):
        tables.read_gathered(folder / "notes.csv")


def test_a_prefix_of_no_rule_is_rebuilt_with_lossbench_gather(tmp_path):
    folder = gathered(tmp_path, "mine_")
    (folder / "mine_runs.csv").write_text("variant\nx\n")
    with pytest.raises(tables.TableError, match=r"Rebuild it with `lossbench gather --prefix mine_ --runs"):
        tables.read_gathered(folder / "mine_runs.csv")


def test_a_failing_gather_leaves_the_tables_and_their_record_as_they_were(tmp_path):
    folder = gathered(tmp_path)
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    bad = write_run_record(tmp_path / "bad", "a", 0, 0.9, [0.1, 0.5], config_hash="other")
    with pytest.raises(tables.GatherError):
        tables.write_tables([bad, tmp_path / "runs" / "a" / "seed-1" / "metrics.json"], folder)
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    assert len(tables.read_gathered(folder / "epochs.csv")) == 8


def test_tables_written_for_a_test_with_write_gathered_load(tmp_path):
    frame = pd.DataFrame({"variant": ["a"], "n": [1]})
    tables.write_gathered({"summary": frame}, tmp_path, prefix="horizon_")
    pd.testing.assert_frame_equal(tables.read_gathered(tmp_path / "horizon_summary.csv"), frame)


def test_the_workflows_check_refuses_an_edited_table_unless_this_run_regathers_it(tmp_path):
    """tables.check_gathered, what the workflow runs before any job: every table beside its record is
    checked; a missing table or record is left to Snakemake, which regathers it."""
    frame = pd.DataFrame({"variant": ["a", "b"], "test_accuracy": [0.9, 0.8]})
    tables.write_gathered({"runs": frame, "summary": frame}, tmp_path)
    tables.write_gathered({"runs": frame}, tmp_path, prefix="horizon_")
    tables.check_gathered(tmp_path)
    (tmp_path / "horizon_runs.csv").write_text("variant,test_accuracy\na,0.9\n")
    with pytest.raises(tables.TableError, match=r"horizon_runs.csv is not the table gather wrote .*snakemake -R "
                                                r"gather_horizon"):
        tables.check_gathered(tmp_path)
    tables.check_gathered(tmp_path, regathered={"gather_horizon"})  # -R gather_horizon: rewritten by this run
    (tmp_path / "horizon_runs.csv").unlink()  # a missing table: Snakemake regathers it
    (tmp_path / "summary.csv").unlink()
    tables.check_gathered(tmp_path)
    (tmp_path / "gathered.json").unlink()  # no record: refused (Snakemake would not regather for it)
    with pytest.raises(tables.TableError, match=r"runs.csv: no record of the table gather wrote .*-R gather`"):
        tables.check_gathered(tmp_path)


def test_runs_carry_classes_and_optimizer_and_records_from_before_them_read_as_the_defaults(tmp_path):
    """runs.csv's columns classes and optimizer: from metrics.json's config, and 10 and "sgd" for a record
    written before those settings existed (its run trained on every class with SGD)."""
    old = write_run_record(tmp_path / "runs", "a", 0, 0.9, [0.1, 0.9])
    new = write_run_record(tmp_path / "runs", "b", 0, 0.8, [0.1, 0.8], config_hash="h2")
    metrics = json.loads(new.read_text())
    metrics["config"].update(classes=3, optimizer="nsgd")
    new.write_text(json.dumps(metrics))
    runs = tables.write_tables([old, new], tmp_path / "tables")["runs"]
    assert list(runs["classes"]) == [10, 3] and list(runs["optimizer"]) == ["sgd", "nsgd"]
    written = pd.read_csv(tmp_path / "tables" / "runs.csv")
    assert list(written["classes"]) == [10, 3] and list(written["optimizer"]) == ["sgd", "nsgd"]
    assert "classes" not in pd.read_csv(tmp_path / "tables" / "epochs.csv").columns  # epochs.csv unchanged


@pytest.mark.parametrize("key, value, expected", [
    ("classes", 1, "config.classes is 1 (a number); expected an integer >= 2"),
    ("classes", 2.0, "config.classes is 2.0 (a number); expected an integer >= 2"),
    ("optimizer", "", 'config.optimizer is "" (a string); expected a non-empty string'),
])
def test_a_record_with_a_bad_classes_or_optimizer_is_refused(tmp_path, key, value, expected):
    path = write_run_record(tmp_path / "runs", "a", 0, 0.9, [0.1, 0.9])
    metrics = json.loads(path.read_text())
    metrics["config"][key] = value
    path.write_text(json.dumps(metrics))
    with pytest.raises(tables.GatherError, match=f"^{re.escape(str(path))}: {re.escape(expected)}$"):
        tables.write_tables([path], tmp_path / "tables")
