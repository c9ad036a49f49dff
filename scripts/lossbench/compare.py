"""Compare two run folders bit for bit: ``lossbench compare RUN_A RUN_B``.

Everything a run wrote must be identical except wall-clock facts: metrics.json (all keys but
timings, start and end time, provenance), history.csv (all columns but the epoch seconds),
predictions.csv, and every tensor of model.pt (dtype, shape and bits). This is the
determinism check: train the same variant and seed twice and compare (``make determinism``),
or compare a rerun against a published run.
"""

from __future__ import annotations

import csv
import json
import math
import os
from pathlib import Path

from .errors import LossbenchError
from .runfolder import RUN_FILES, load_state_dict

# Not compared between two runs: wall-clock facts, and the files' checksums ("files"), which
# cover history.csv's epoch seconds and model.pt's container (its tensors are compared bit for bit).
WALL_CLOCK_METRICS = ("train_seconds", "train_cpu_seconds", "eval_seconds", "startup_seconds", "start_time",
                      "end_time", "provenance", "files")
WALL_CLOCK_COLUMNS = ("epoch_seconds", "epoch_cpu_seconds")


class CompareError(LossbenchError):
    """A run folder lacks a file or holds an unreadable one; the message names it."""


def _metrics(path: Path) -> dict:
    try:
        record = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CompareError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(record, dict):
        raise CompareError(f"{path}: expected a JSON object, found {type(record).__name__}")
    return record


def _same(a, b) -> bool:
    """Equal, counting NaN as equal to NaN (a diverged run's history holds NaN)."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b


def _rows(path: Path, skip: tuple[str, ...]) -> list[dict]:
    try:
        with open(path, newline="") as fh:
            return [{k: v for k, v in row.items() if k not in skip} for row in csv.DictReader(fh)]
    except (UnicodeDecodeError, csv.Error) as exc:
        raise CompareError(f"{path}: not a readable CSV file ({exc})") from None


def _compare_rows(name: str, a: list[dict], b: list[dict]) -> list[str]:
    if len(a) != len(b):
        return [f"{name}: {len(a)} rows vs {len(b)}"]
    for i, (ra, rb) in enumerate(zip(a, b)):
        if list(ra) != list(rb):
            return [f"{name}: columns differ ({list(ra)} vs {list(rb)})"]
        diff = [k for k in ra if ra[k] != rb[k]]
        if diff:
            k = diff[0]
            return [f"{name}: row {i} differs in {', '.join(diff)} (first: {k} {ra[k]} vs {rb[k]})"]
    return []


def differences(run_a: str | os.PathLike, run_b: str | os.PathLike) -> list[str]:
    """Every difference between two run folders, one line each; empty when identical."""
    import torch

    a, b = Path(run_a), Path(run_b)
    for folder in (a, b):
        missing = [name for name in RUN_FILES if not (folder / name).is_file()]
        if missing:
            raise CompareError(f"{folder}: not a finished run folder, lacks {', '.join(missing)}")
    found = []
    ma, mb = (_metrics(f / "metrics.json") for f in (a, b))
    for key in sorted(set(ma) | set(mb)):
        if key in WALL_CLOCK_METRICS:
            continue
        if key not in ma or key not in mb:
            found.append(f"metrics.json: {key} only in {a if key in ma else b}")
        elif not _same(ma[key], mb[key]):
            found.append(f"metrics.json: {key} {ma[key]!r} vs {mb[key]!r}")
    found += _compare_rows("history.csv", _rows(a / "history.csv", WALL_CLOCK_COLUMNS),
                           _rows(b / "history.csv", WALL_CLOCK_COLUMNS))
    found += _compare_rows("predictions.csv", _rows(a / "predictions.csv", ()), _rows(b / "predictions.csv", ()))
    wa, wb = load_state_dict(a / "model.pt"), load_state_dict(b / "model.pt")
    if set(wa) != set(wb):
        found.append(f"model.pt: tensors differ ({sorted(wa)} vs {sorted(wb)})")
    for name in sorted(set(wa) & set(wb)):
        ta, tb = wa[name], wb[name]
        if ta.dtype != tb.dtype or ta.shape != tb.shape:
            found.append(f"model.pt: {name} is {ta.dtype} {tuple(ta.shape)} vs {tb.dtype} {tuple(tb.shape)}")
        elif not torch.equal(ta.view(torch.uint8) if ta.is_floating_point() else ta,
                             tb.view(torch.uint8) if tb.is_floating_point() else tb):
            largest = (ta.double() - tb.double()).abs().max().item()
            found.append(f"model.pt: {name} differs (largest difference {largest:.3g})")
    return found


def main(run_a: str, run_b: str) -> int:
    """Print whether two runs are identical; 0 if so, 1 with every difference listed if not."""
    found = differences(run_a, run_b)
    if found:
        print(f"DIFFERENT: {run_a} vs {run_b}")
        for line in found:
            print(f"  {line}")
        return 1
    print(f"IDENTICAL: {run_a} and {run_b} (metrics, history, predictions, weights; wall-clock timings excepted)")
    return 0
