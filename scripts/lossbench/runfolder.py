"""A run's folder: what one (variant, seed) run writes, and how its weights are read back.

    metrics.json     final metrics, status, timings, config + hash, provenance, and ``files``:
                     the SHA-256 (and row counts) of the three files below (written last)
    history.csv      one row per epoch (epoch 0: the untrained network)
    model.pt         the weights as a state dict
    predictions.csv  per test image: label, predicted label, its probability, the true class's

A run folder appears whole or not at all: its files are written into a temporary sibling
folder (``.<name>.tmp-<host>-<pid>``), metrics.json last, which then takes the folder's place
(an existing run folder's files are replaced one by one, its metrics.json removed first and
written last). A run that fails midway leaves nothing; what a killed one left is removed by
the next run into the same folder. The predictions come from the weights as saved and
reloaded, and their accuracy must equal the trained network's test accuracy (the reload
check), so model.pt provably holds the network the metrics describe. Imports only torch.
"""

from __future__ import annotations

import copy
import csv
import glob
import json
import os
import pickle
import re
import shutil
from pathlib import Path

import torch
from torch import Tensor, nn

from .atomic import host_tag, process_alive, sha256_file
from .config import RUN_FILES  # noqa: F401  (the one list of a run folder's files)
from .errors import LossbenchError

CHECKSUMMED = ("history.csv", "predictions.csv", "model.pt")  # recorded in metrics.json's "files"


class RunFolderError(LossbenchError):
    """A run folder that cannot be written or read; the message names it."""


class UnsafeFileError(RunFolderError, pickle.UnpicklingError):
    """A weights file holding more than tensors: refused, never unpickled."""


def check_out_dir(out_dir: str | os.PathLike, flag: str = "--out-dir") -> None:
    """Refuse, before any work, a run folder that could not be written: a file, or under one."""
    path = Path(out_dir)
    if path.exists() and not path.is_dir():
        raise RunFolderError(f"{flag} {path}: is a file; expected a folder (a new one, or a run folder to replace)")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise RunFolderError(f"{flag} {path}: {parent} is a file; expected a folder")
            if not os.access(parent, os.W_OK | os.X_OK):
                raise RunFolderError(f"{flag} {path}: cannot write in {parent} (permission denied)")
            break


def _make_parents(path: Path) -> list[Path]:
    """Create ``path``'s missing parent folders; return those created, innermost first."""
    created = [p for p in path.parents if not p.exists()]
    path.parent.mkdir(parents=True, exist_ok=True)
    return created


def remove_empty(folders: list[Path]) -> None:
    """Remove the folders given (innermost first) that are empty, e.g. parents a failed run created."""
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:
            break


def _temp_sibling(out_dir: Path) -> Path:
    """A fresh temporary folder beside ``out_dir``; leftovers of killed runs on this host are removed."""
    prefix = f".{out_dir.name}.tmp-{host_tag()}-"
    for old in out_dir.parent.glob(f"{glob.escape(prefix)}*"):
        pid = old.name[len(prefix):]
        if pid.isdigit() and not process_alive(int(pid)):
            shutil.rmtree(old, ignore_errors=True)
    tmp = out_dir.parent / f"{prefix}{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    return tmp


def stage_run(out_dir: str | os.PathLike, model: nn.Module, metrics: dict, history: list[dict],
              x_test: Tensor, y_test: Tensor, predictions: list | None = None,
              state: dict[str, Tensor] | None = None) -> tuple[Path, dict]:
    """Write a run's four files into a temporary sibling of ``out_dir``; return it and the metrics
    as written (with ``files``). Raise if the reloaded weights disagree; nothing stays on failure.

    ``predictions`` (``predict``'s rows, made by the run from ``model`` at its last test): written
    as they are when the reloaded weights equal ``model``'s bit for bit (then they are the saved
    network's predictions: one pass over the test set fewer); else, or when None, the test set is
    predicted from the reloaded weights. ``state``: ``model``'s weights already as ``cpu_state_dict`` gives
    them (a packed job copies all its runs' weights to the host at once); ``model`` then only gives the
    architecture."""
    out_dir = Path(out_dir)
    check_out_dir(out_dir)
    created = _make_parents(out_dir)
    tmp = _temp_sibling(out_dir)
    try:
        with open(tmp / "history.csv", "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(history[0]))
            writer.writeheader()
            writer.writerows(history)
        state = cpu_state_dict(model) if state is None else state
        torch.save(state, tmp / "model.pt")
        saved = load_state_dict(tmp / "model.pt")
        same = saved.keys() == state.keys() and all(torch.equal(saved[k], state[k]) for k in saved)
        if predictions is None or not same:
            reloaded = copy.deepcopy(model)  # same architecture, weights replaced by the saved ones
            reloaded.load_state_dict(saved)
            predictions = predict(reloaded, x_test, y_test)
        accuracy = sum(int(label == predicted) for label, predicted, _, _ in predictions) / len(predictions)
        if metrics["status"] == "ok" and accuracy != metrics["test_accuracy"]:
            raise RuntimeError(f"{out_dir / 'model.pt'}: reloaded weights give test accuracy {accuracy}, "
                               f"the trained network {metrics['test_accuracy']}")
        write_predictions(tmp / "predictions.csv", predictions)
        rows = {"history.csv": len(history), "predictions.csv": len(predictions)}
        files = {name: {"sha256": sha256_file(tmp / name), **({"rows": rows[name]} if name in rows else {})}
                 for name in CHECKSUMMED}
        written = {**metrics, "files": files}
        (tmp / "metrics.json").write_text(json.dumps(written, indent=2) + "\n")
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        remove_empty(created)
        raise
    return tmp, written


def cpu_state_dict(model: nn.Module) -> dict[str, Tensor]:
    """The weights as CPU tensors: a model.pt loads on a machine without a GPU (no map_location needed)
    and its bytes, so its checksum, do not depend on the device that trained it."""
    return {name: value.detach().to("cpu", copy=True).contiguous() for name, value in model.state_dict().items()}


def install_run(staged: Path, out_dir: str | os.PathLike) -> None:
    """Put a staged run folder in place of ``out_dir`` (which must be new, empty or a run folder)."""
    out_dir = Path(out_dir)
    if not out_dir.exists() or (out_dir.is_dir() and not any(out_dir.iterdir())):
        try:
            os.replace(staged, out_dir)  # atomic: the folder appears whole
            return
        except OSError:
            pass  # filled meanwhile: replace file by file below
    out_dir.mkdir(exist_ok=True)
    (out_dir / "metrics.json").unlink(missing_ok=True)  # incomplete until the new metrics.json lands
    for name in (*CHECKSUMMED, "metrics.json"):
        os.replace(staged / name, out_dir / name)
    staged.rmdir()


def write_run(out_dir: str | os.PathLike, model: nn.Module, metrics: dict, history: list[dict],
              x_test: Tensor, y_test: Tensor, predictions: list | None = None) -> dict:
    """Write the four files of a run as folder ``out_dir``; return metrics.json's content.

    Raise if the reloaded weights disagree; then, as after any failure, nothing is left."""
    staged, written = stage_run(out_dir, model, metrics, history, x_test, y_test, predictions)
    try:
        install_run(staged, out_dir)
    finally:
        shutil.rmtree(staged, ignore_errors=True)
    return written


@torch.no_grad()
def predict(model: nn.Module, x: Tensor, y: Tensor) -> list[tuple[int, int, float, float]]:
    """Per image: (label, predicted label, its softmax probability, the true class's probability)."""
    p = torch.softmax(model(x), dim=1)
    confidence, predicted = p.max(dim=1)
    p_true = p.gather(1, y[:, None]).squeeze(1)
    rows = torch.stack([y.double(), predicted.double(), confidence.double(), p_true.double()], 1).cpu().tolist()
    return [(int(label), int(pred), conf, true) for label, pred, conf, true in rows]


def write_predictions(path: Path, predictions: list[tuple[int, int, float, float]]) -> None:
    """predictions.csv, byte for byte what csv.writer wrote (its \\r\\n line ends), one format per row."""
    row = "%d,%d,%d,%.6g,%.6g\r\n".__mod__
    with open(path, "w", newline="") as fh:
        fh.write("index,label,predicted,confidence,p_true\r\n")
        fh.write("".join(map(row, ((i, *p) for i, p in enumerate(predictions)))))


def load_state_dict(path: str | os.PathLike) -> dict:
    """Load saved weights without unpickling code (``weights_only=True``).

    A file holding anything but tensors is refused (``UnsafeFileError``, also a
    ``pickle.UnpicklingError``); a missing, truncated or non-torch file is a ``RunFolderError``.
    """
    path = Path(path)
    if not path.is_file():
        raise RunFolderError(f"{path}: weights file not found")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        found = re.search(r"Unsupported global: GLOBAL (\S+)", str(exc))
        what = f" ({found[1]})" if found else ""
        raise UnsafeFileError(
            f"{path}: refused for safety: it holds pickled objects{what}, not only tensors, and loading them "
            "could run code; use a model.pt written by lossbench train") from None
    except (RuntimeError, EOFError, OSError, ValueError) as exc:
        raise RunFolderError(f"{path}: not a readable weights file (truncated, or not written by torch.save): "
                             f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise RunFolderError(f"{path}: expected a state dict (names -> tensors), found {type(state).__name__}")
    return state
