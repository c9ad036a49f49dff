"""What gather wrote: the record beside the gathered tables, and the check that a table is still it.

gather (``lossbench.tables.write_gathered``) records the SHA-256 of each table it writes in
``{prefix}gathered.json``; a page reads a table only through ``tables.read_gathered``, and the
workflow checks every table before any job (``check_gathered``), so a table edited, truncated or
replaced by hand is never shown as a result: it is refused with one error naming it and the command
that rebuilds it. Standard library only: the workflow imports this on every start.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from .errors import LossbenchError

TABLES = ("runs", "epochs", "summary")
MANIFEST = "gathered.json"  # beside the tables, after their prefix: gathered.json, horizon_gathered.json, ...
# The Snakemake rule that writes each prefix's tables (workflow/rules/*.smk) and the one command that
# rebuilds them (-R: the rule runs again, and so does every page that reads its tables)
GATHER_RULES = {"": "gather", "horizon_": "gather_horizon", "lr_study_": "gather_lr_study", "probe_": "gather_probe",
                "classes_study_": "gather_classes_study", "optimizer_study_": "gather_optimizer_study"}
# A gathered table outside the {prefix}{runs,epochs,summary}.csv pattern: its file name -> its prefix (the record is
# {prefix}gathered.json beside it): tables/probe.csv (lossbench gather-probe) is recorded in probe_gathered.json
SINGLE_TABLES = {"probe.csv": "probe_"}
MEND = "Rebuild it with `snakemake -R {rule}` (and the options you run snakemake with)."
MEND_BY_HAND = ("Rebuild it with `lossbench gather --prefix {prefix} --runs <its runs' metrics.json> "
                "--out-dir {folder}`.")


class TableError(LossbenchError):
    """A table that is not the one gather wrote (edited, truncated or replaced by hand), or missing."""


def manifest_path(out_dir: str | os.PathLike, prefix: str = "") -> Path:
    """Where gather records the tables it wrote with ``prefix`` in ``out_dir``."""
    return Path(out_dir) / f"{prefix}{MANIFEST}"


def gathered_record(path: str | os.PathLike) -> str | None:
    """The record gather keeps of the table at ``path`` (``results/mnist/tables/gathered.json`` for
    ``results/mnist/tables/runs.csv``), or None for a file that is not a gathered table."""
    path = Path(path)
    prefix = _table_prefix(path)
    if prefix is None or prefix not in GATHER_RULES or path.parent.name != "tables":
        return None
    return str(manifest_path(path.parent, prefix))


def mend_command(path: str | os.PathLike) -> str:
    """The sentence that says how to rebuild a gathered table: the Snakemake rule that writes it
    (``lossbench gather`` by hand for a prefix no rule writes)."""
    path = Path(path)
    prefix = _prefix(path)
    rule = GATHER_RULES.get(prefix)
    return MEND.format(rule=rule) if rule else MEND_BY_HAND.format(prefix=prefix, folder=path.parent)


def table_names(prefix: str) -> list[str]:
    """The files gather writes with ``prefix``: ``SINGLE_TABLES``'s of that prefix, else {prefix}{runs,...}.csv."""
    return [name for name, p in SINGLE_TABLES.items() if p == prefix] or [f"{prefix}{n}.csv" for n in TABLES]


def _table_prefix(path: Path) -> str | None:
    """``horizon_`` for ``horizon_runs.csv``, "" for ``runs.csv``, ``probe_`` for ``probe.csv``; None for a file
    gather does not write."""
    if path.name in SINGLE_TABLES:
        return SINGLE_TABLES[path.name]
    return next((path.name.removesuffix(f"{n}.csv") for n in TABLES if path.name.endswith(f"{n}.csv")), None)


def _prefix(path: Path) -> str:
    prefix = _table_prefix(path)
    if prefix is not None:
        return prefix
    raise TableError(f"{path}: not a table gather writes (expected a name ending in "
                     f"{', '.join(f'{name}.csv' for name in TABLES)}, or {', '.join(SINGLE_TABLES)})")


def verified_bytes(path: Path) -> bytes:
    """The bytes of a gathered table, checked against gather's record (``read_gathered``)."""
    mend = mend_command(path)
    manifest = manifest_path(path.parent, _prefix(path))
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise TableError(f"{path}: not found; expected a table written by gather. {mend}") from None
    except OSError as exc:
        raise TableError(f"{path}: cannot be read ({exc.strerror}). {mend}") from None
    try:
        expected = json.loads(manifest.read_text())["tables"][path.name]["sha256"]
    except FileNotFoundError:
        raise TableError(f"{path}: no record of the table gather wrote ({manifest} not found): written by hand "
                         f"or by an older lossbench? {mend}") from None
    except (OSError, ValueError, KeyError, TypeError):
        raise TableError(f"{path}: {manifest} holds no SHA-256 for it (not the record gather writes): "
                         f"edited by hand? {mend}") from None
    found = hashlib.sha256(data).hexdigest()
    if found != expected:
        raise TableError(f"{path} is not the table gather wrote (SHA-256 expected {expected}, found {found}): "
                         f"edited by hand? {mend}")
    return data


def check_gathered(folder: str | os.PathLike, regathered: set[str] = frozenset()) -> None:
    """Every gathered table present in ``folder`` is the one gather wrote (``read_gathered``'s check:
    its record beside it, and the same bytes), except those of a prefix whose gather rule is in
    ``regathered`` (this run writes them again). A missing table is no error: Snakemake regathers it.
    (A missing record is: Snakemake does not rerun a job for a missing output that was once there.)

    The workflow calls this before any job: a table edited by hand stops the run with one
    ``TableError`` naming it and the command that rebuilds it, instead of pages that show it."""
    for prefix, rule in GATHER_RULES.items():
        if rule in regathered:
            continue
        for name in table_names(prefix):
            table = Path(folder) / name
            if table.exists():  # a missing table: Snakemake regathers it
                verified_bytes(table)
