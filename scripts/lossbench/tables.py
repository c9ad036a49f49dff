"""Gather run records into pandas tables: ``lossbench gather --runs .../metrics.json --out-dir results/tables``.

    runs.csv     one row per run (final metrics, timings, settings, config hash, provenance); its settings
                 include ``classes`` and ``optimizer``, read as 10 and "sgd" from a metrics.json written
                 before those settings existed
    epochs.csv   one row per run x epoch (epoch 0 = the untrained network)
    summary.csv  one row per variant: n, mean, sd and 95% CI of test and of final validation
                 accuracy (t-interval, ``stats.ci95``), median train wall and process-CPU seconds, epochs to
                 reach the dataset's target validation accuracy (90% on MNIST, 75% on
                 Fashion-MNIST; median over runs; empty when most runs never reach it)

``--prefix horizon_`` names them horizon_runs.csv, horizon_epochs.csv, horizon_summary.csv (the
long-horizon runs); ``--prefix lr_study_`` the learning-rate study's (a variant per loss and lr).
A run tested every k-th epoch (``test_every``, a runs.csv column) has NaN
test accuracy in epochs.csv between its tests.

Variants keep the order in which their runs are given (the config's order).

Every run is checked before anything is written, and the first problem stops gather with one
error naming the file: metrics.json must be a JSON object whose keys have the expected types
and ranges (accuracies in [0, 1], seed >= 0, ...); history.csv must hold epochs 0..epochs_run,
its last row the recorded accuracies; predictions.csv the recorded number of rows and the
test accuracy; and history.csv, predictions.csv and model.pt the SHA-256 recorded in
metrics.json's ``files`` (every run ``lossbench train`` writes records them; a hand-written
record without ``files`` is checked for history.csv, and predictions.csv if present). The
three tables are then written aside and put in place together: a failing gather leaves the
previous tables as they were.

Beside them gather writes ``gathered.json`` (``horizon_gathered.json``, ...: ``{prefix}gathered.json``),
put in place with the tables: the SHA-256, rows and columns of each table it wrote. A page reads a
table only through ``read_gathered``, which refuses one whose bytes are not the ones recorded
(edited, truncated or replaced by hand) with one error naming the file and the command that
rebuilds it: Snakemake does not rerun gather for an edited output, so without the check a page
would show a hand-edited table as a result.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from contextlib import ExitStack
from pathlib import Path

import numpy as np
import pandas as pd

from .atomic import atomic_path, sha256_file
from .config import HASH_DEFAULTS
from .data import DATASETS
from .errors import LossbenchError
from .gathered import (  # noqa: F401  (the record's names, re-exported for callers of tables)
    GATHER_RULES,
    MANIFEST,
    TABLES,
    TableError,
    check_gathered,
    manifest_path,
    mend_command,
    verified_bytes,
)
from .stats import ci95


class GatherError(LossbenchError):
    """Runs that cannot be combined into one table."""


def epochs_to_reach(history: pd.DataFrame, target: float) -> float:
    """First epoch whose validation accuracy is >= target; NaN if never."""
    reached = history.loc[history["val_accuracy"] >= target, "epoch"]
    return float(reached.iloc[0]) if len(reached) else math.nan


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _kind(value) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number")


# metrics.json's keys gather reads: (what is expected, the test). Finite numbers: strict JSON
# has no NaN (train() writes a non-finite value as null).
SHARE = ("a number in [0, 1]", lambda v: _is_number(v) and 0 <= v <= 1)
SHARE_OR_NULL = ("a number in [0, 1] or null", lambda v: v is None or SHARE[1](v))
NUMBER_OR_NULL = ("a number or null", lambda v: v is None or _is_number(v))
SECONDS = ("a number >= 0", lambda v: _is_number(v) and v >= 0)
SECONDS_OR_NULL = ("a number >= 0 or null", lambda v: v is None or SECONDS[1](v))
TEXT = ("a non-empty string", lambda v: isinstance(v, str) and v != "")
TEXT_OR_NULL = ("a string or null", lambda v: v is None or isinstance(v, str))
METRICS_KEYS = {
    "variant": TEXT, "loss": TEXT, "config_hash": TEXT, "start_time": TEXT,
    "seed": ("an integer >= 0", lambda v: _is_int(v) and v >= 0),
    "status": ('"ok" or "diverged"', lambda v: v in ("ok", "diverged")),
    "diverged_epoch": ("an integer >= 1 or null", lambda v: v is None or (_is_int(v) and v >= 1)),
    "epochs_run": ("an integer >= 0", lambda v: _is_int(v) and v >= 0),
    "train_loss": NUMBER_OR_NULL, "initial_logit_grad_norm": NUMBER_OR_NULL,
    "train_accuracy": SHARE_OR_NULL, "val_accuracy": SHARE_OR_NULL, "test_accuracy": SHARE_OR_NULL,
    "train_seconds": SECONDS, "eval_seconds": SECONDS, "startup_seconds": SECONDS_OR_NULL,
    "config": ("an object", lambda v: isinstance(v, dict)),
    "provenance": ("an object", lambda v: isinstance(v, dict)),
}
OPTIONAL_KEYS = {"train_cpu_seconds": SECONDS_OR_NULL, "end_time": TEXT_OR_NULL}
CONFIG_KEYS = {
    "lr": ("a number > 0", lambda v: _is_number(v) and v > 0),
    "batch_size": ("an integer >= 1", lambda v: _is_int(v) and v >= 1),
    "epochs": ("an integer >= 1", lambda v: _is_int(v) and v >= 1),
    "dataset": (f"one of {', '.join(DATASETS)}", lambda v: v in DATASETS),
    "hidden": ("a list of integers >= 1", lambda v: isinstance(v, list) and all(_is_int(w) and w >= 1 for w in v)),
}
# settings added later: a metrics.json written before them lacks them (its run trained at the default)
OPTIONAL_CONFIG_KEYS = {
    "classes": ("an integer >= 2", lambda v: _is_int(v) and v >= 2),
    "optimizer": TEXT,
}
PROVENANCE_KEYS = {"device_name": TEXT, "git_commit": TEXT_OR_NULL}
FILES = ("history.csv", "predictions.csv", "model.pt")  # checksummed in metrics.json's "files"
RERUN = "delete that run's folder and run snakemake again to retrain it"


def _check_keys(path: Path, record: dict, spec: dict, prefix: str = "", required: bool = True) -> None:
    for key, (expected, ok) in spec.items():
        if key not in record:
            if required:
                raise GatherError(f"{path}: {prefix}{key} is missing; expected {expected}")
            continue
        if not ok(record[key]):
            raise GatherError(f"{path}: {prefix}{key} is {json.dumps(record[key])[:60]} ({_kind(record[key])}); "
                              f"expected {expected}")


def read_metrics(path: Path) -> dict:
    """metrics.json's content, every key gather reads checked for type and range."""
    if not path.is_file():
        raise GatherError(f"{path}: not found (expected a run's metrics.json)")
    try:
        m = json.loads(path.read_text())
    except OSError as exc:
        raise GatherError(f"{path}: cannot be read ({exc.strerror})") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise GatherError(f"{path}: not valid JSON ({exc}); {RERUN}") from None
    if not isinstance(m, dict):
        raise GatherError(f"{path}: expected a JSON object (a run's metrics), found {_kind(m)}")
    _check_keys(path, m, METRICS_KEYS)
    _check_keys(path, m, OPTIONAL_KEYS, required=False)
    _check_keys(path, m["config"], CONFIG_KEYS, "config.")
    _check_keys(path, m["config"], OPTIONAL_CONFIG_KEYS, "config.", required=False)
    _check_keys(path, m["provenance"], PROVENANCE_KEYS, "provenance.")
    if m["status"] == "ok":
        for key in ("train_accuracy", "val_accuracy", "test_accuracy"):
            if m[key] is None:
                raise GatherError(f"{path}: {key} is null in a run with status ok; expected a number in [0, 1]")
        if m["diverged_epoch"] is not None or m["epochs_run"] != m["config"]["epochs"]:
            raise GatherError(f"{path}: status ok but epochs_run {m['epochs_run']} and diverged_epoch "
                              f"{m['diverged_epoch']}; expected epochs_run = config.epochs "
                              f"({m['config']['epochs']}) and diverged_epoch null")
    elif m["diverged_epoch"] != m["epochs_run"]:
        raise GatherError(f"{path}: status diverged but diverged_epoch {m['diverged_epoch']} is not epochs_run "
                          f"{m['epochs_run']}")
    files = m.get("files")
    if files is not None and not (isinstance(files, dict) and all(
            isinstance(files.get(name), dict) and isinstance(files[name].get("sha256"), str) for name in FILES)):
        raise GatherError(f"{path}: files is {json.dumps(files)[:60]}; expected the SHA-256 of "
                          f"{', '.join(FILES)} as written by lossbench train")
    return m


def _csv_rows(path: Path, what: str) -> pd.DataFrame:
    """A CSV file of the run, every line with the header's number of fields (a cut line is refused)."""
    if not path.is_file():
        raise GatherError(f"{path}: {what} not found beside metrics.json; {RERUN}")
    try:
        with open(path, newline="") as fh:
            lines = list(csv.reader(fh))
    except (UnicodeDecodeError, csv.Error) as exc:
        raise GatherError(f"{path}: not a readable CSV file ({exc})") from None
    if not lines:
        raise GatherError(f"{path}: empty; expected a header and one row per {what.split()[-1]}")
    for number, fields in enumerate(lines[1:], start=2):
        if len(fields) != len(lines[0]):
            raise GatherError(f"{path}, line {number}: {len(fields)} fields, the header has {len(lines[0])} "
                              f"(the file is cut or altered); {RERUN}")
    return pd.read_csv(path)


def _rows(n: int) -> str:
    return f"{n} row" if n == 1 else f"{n} rows"


def _same(recorded, found) -> bool:
    """A metric equals what its file holds (CSV round trip: a relative tolerance of 1e-12)."""
    if recorded is None or (isinstance(found, float) and math.isnan(found)):
        return recorded is None and (found is None or math.isnan(found))
    return math.isclose(recorded, found, rel_tol=1e-12, abs_tol=1e-15)


def read_history(path: Path, m: dict) -> pd.DataFrame:
    """history.csv: epochs 0..epochs_run, its last row the metrics' final values."""
    history = _csv_rows(path, "history file (one row per epoch)")
    missing = [c for c in ("epoch", "val_accuracy", "test_accuracy") if c not in history.columns]
    if missing:
        raise GatherError(f"{path}: no column {', '.join(missing)}; expected a history written by lossbench train")
    epochs = list(history["epoch"])
    expected = list(range(m["epochs_run"] + 1))
    if epochs != expected:
        found = f"epochs {epochs[0]}-{epochs[-1]} ({_rows(len(epochs))})" if epochs else "no rows"
        raise GatherError(f"{path}: {found}; metrics.json says epochs_run {m['epochs_run']}, so expected epochs "
                          f"0-{m['epochs_run']} ({_rows(len(expected))}); the files disagree, {RERUN}")
    last = history.iloc[-1]
    for key in ("val_accuracy", "test_accuracy"):
        try:
            value = float(last[key])
        except (TypeError, ValueError):
            raise GatherError(f"{path}: last epoch's {key} is {last[key]!r}; expected a number") from None
        if not _same(m[key], value):
            raise GatherError(f"{path}: last epoch's {key} {last[key]} is not metrics.json's {m[key]}; "
                              f"the files disagree, {RERUN}")
    return history


def check_predictions(path: Path, m: dict) -> None:
    """predictions.csv: as many rows as recorded, and the metrics' test accuracy."""
    predictions = _csv_rows(path, "predictions file (one row per test image)")
    missing = [c for c in ("label", "predicted") if c not in predictions.columns]
    if missing:
        raise GatherError(f"{path}: no column {', '.join(missing)}; expected predictions written by lossbench train")
    rows = (m.get("files") or {}).get("predictions.csv", {}).get("rows")
    if rows is not None and len(predictions) != rows:
        raise GatherError(f"{path}: {len(predictions)} rows; metrics.json records {rows} (one per test image); "
                          f"the files disagree, {RERUN}")
    if not len(predictions):
        raise GatherError(f"{path}: no rows; expected one per test image")
    accuracy = float((predictions["label"] == predictions["predicted"]).mean())
    if m["status"] == "ok" and not _same(m["test_accuracy"], accuracy):
        raise GatherError(f"{path}: gives test accuracy {accuracy}, metrics.json says {m['test_accuracy']}; "
                          f"the files disagree, {RERUN}")


def check_run_files(path: Path, m: dict) -> pd.DataFrame:
    """Check a run's files against its metrics.json; return its history.

    history.csv is always read; a run that records its files' checksums (every run lossbench
    train writes) must also have predictions.csv and model.pt, each with the SHA-256 recorded."""
    history = read_history(path.with_name("history.csv"), m)
    files = m.get("files")
    predictions = path.with_name("predictions.csv")
    if files is not None or predictions.exists():
        check_predictions(predictions, m)
    if files is None:
        return history
    for name in FILES:
        file = path.with_name(name)
        if not file.is_file():
            raise GatherError(f"{file}: not found beside metrics.json; {RERUN}")
        if sha256_file(file) != files[name]["sha256"]:
            raise GatherError(f"{file}: SHA-256 {sha256_file(file)} is not the {files[name]['sha256']} recorded in "
                              f"metrics.json (changed since the run wrote it); {RERUN}")
    return history


def load_runs(metrics_paths: list[str | os.PathLike]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read every metrics.json and the files beside it, refusing a run whose files disagree."""
    if not metrics_paths:
        raise GatherError("--runs: no metrics.json given")
    run_rows, epoch_frames = [], []
    for path in map(Path, metrics_paths):
        m = read_metrics(path)
        history = check_run_files(path, m)
        target = DATASETS[m["config"]["dataset"]].target_val_accuracy
        key = {"variant": m["variant"], "loss": m["loss"], "seed": m["seed"], "config_hash": m["config_hash"]}
        run_rows.append({
            **key,
            "status": m["status"], "diverged_epoch": m["diverged_epoch"], "epochs_run": m["epochs_run"],
            "lr": m["config"]["lr"], "batch_size": m["config"]["batch_size"], "epochs": m["config"]["epochs"],
            "hidden": hidden_text(m["config"]["hidden"]),
            "test_every": m["config"].get("test_every", 1),  # runs before the setting: tested every epoch
            "dataset": m["config"]["dataset"],
            **{key: m["config"].get(key, default) for key, default in HASH_DEFAULTS.items()},  # classes, optimizer
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


def hidden_text(hidden) -> str:
    """The hidden layer widths as one table value: [1200, 600, 300] -> '1200-600-300'."""
    return "-".join(str(int(width)) for width in hidden)


def summarize(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per variant, in the order the variants first appear."""
    rows = []
    for variant, g in runs.groupby("variant", sort=False):
        low, high = ci95(g["test_accuracy"])
        val_low, val_high = ci95(g["val_accuracy"])
        to_target = float(np.median(g["epochs_to_target"].fillna(math.inf)))  # never reached counts as last
        rows.append({
            "variant": variant, "loss": g["loss"].iloc[0], "lr": g["lr"].iloc[0], "hidden": g["hidden"].iloc[0],
            "n": len(g), "n_diverged": int((g["status"] == "diverged").sum()),
            "test_accuracy_mean": g["test_accuracy"].mean(), "test_accuracy_sd": g["test_accuracy"].std(ddof=1),
            "test_accuracy_ci95_low": low, "test_accuracy_ci95_high": high,
            "val_accuracy_mean": g["val_accuracy"].mean(), "val_accuracy_sd": g["val_accuracy"].std(ddof=1),
            "val_accuracy_ci95_low": val_low, "val_accuracy_ci95_high": val_high,
            "train_seconds_median": g["train_seconds"].median(),
            "train_cpu_seconds_median": g["train_cpu_seconds"].median(),
            "target_val_accuracy": g["target_val_accuracy"].iloc[0],
            "epochs_to_target": to_target if math.isfinite(to_target) else math.nan,
            "config_hash": g["config_hash"].iloc[0], "device_name": g["device_name"].iloc[0],
        })
    return pd.DataFrame(rows)


def write_tables(metrics_paths: list[str | os.PathLike], out_dir: str | os.PathLike,
                 prefix: str = "") -> dict[str, pd.DataFrame]:
    """Write runs.csv, epochs.csv and summary.csv into ``out_dir`` (all computed before any is written),
    each name after ``prefix`` (``horizon_``: horizon_runs.csv, ..., the long-horizon runs' tables),
    and the record of what was written (``write_gathered``)."""
    runs, epochs = load_runs(metrics_paths)
    tables = {"runs": runs, "epochs": epochs, "summary": summarize(runs)}
    write_gathered(tables, out_dir, prefix)
    return tables


def write_gathered(tables: dict[str, pd.DataFrame], out_dir: str | os.PathLike, prefix: str = "") -> None:
    """Write each frame as ``{prefix}{name}.csv`` in ``out_dir`` and record the SHA-256, rows and
    columns of each in ``{prefix}gathered.json``: every file written aside first, then all put in
    place (a failure leaves the previous files as they were). gather writes its tables with it; a
    test that builds tables by hand for a page writes them with it too."""
    unknown = [name for name in tables if name not in TABLES]
    if unknown:
        raise ValueError(f"tables {unknown}: expected names among {TABLES}")
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise GatherError(f"--out-dir {out_dir}: is a file; expected a folder")
    record = {"written_by": "lossbench gather", "tables": {}}
    with ExitStack() as stack:  # every file written aside first, then each put in place
        for name, frame in tables.items():
            file = f"{prefix}{name}.csv"
            tmp = stack.enter_context(atomic_path(out_dir / file))
            frame.to_csv(tmp, index=False)
            record["tables"][file] = {"sha256": sha256_file(tmp), "rows": len(frame), "columns": frame.shape[1]}
        with atomic_path(manifest_path(out_dir, prefix)) as tmp:  # in place first: tables, if any, follow
            tmp.write_text(json.dumps(record, indent=1) + "\n")


def read_gathered(path: str | os.PathLike) -> pd.DataFrame:
    """A table gather wrote, checked against gather's record (``{prefix}gathered.json`` beside it).

    Every page reads its tables with this. A table whose bytes are not the ones gather recorded
    (edited, truncated or replaced by hand), or with no record, is refused with one ``TableError``
    naming the file and the command that rebuilds it; it is never shown as a result. The bytes
    checked are the bytes parsed (read once)."""
    return pd.read_csv(io.BytesIO(verified_bytes(Path(path))))
