"""Shared fixtures: tiny synthetic IDX files written by the tests, and the real-MNIST mirror."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import os
import re
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from lossbench import data

ROOT = Path(__file__).resolve().parents[1]
SHARED_MIRROR = ROOT.parent / "shared" / "data" / "mnist"
FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")  # Debian's dataset-fashion-mnist
BIN = str(Path(sys.executable).parent)


def snakemake_command(workdir: Path, *args: str, config: Path | None = None,
                      env: dict | None = None) -> tuple[list[str], dict]:
    """The command line and environment that run the workflow in ``workdir``."""
    cmd = [f"{BIN}/snakemake", "--snakefile", str(ROOT / "workflow" / "Snakefile"), "--directory", str(workdir),
           "--cores", "2", *args]
    if config:
        cmd += ["--configfile", str(config)]
    return cmd, {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}", **(env or {})}


def snakemake(workdir: Path, *args: str, config: Path | None = None, check: bool = True, env: dict | None = None):
    """Run the workflow in ``workdir`` (outputs land there), as a user would from a shell."""
    cmd, environ = snakemake_command(workdir, *args, config=config, env=env)
    out = subprocess.run(cmd, capture_output=True, text=True, env=environ)
    if check and out.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed:\n{out.stdout}\n{out.stderr}")
    return out


def planned_jobs(output: str) -> dict[str, int]:
    """Job counts from a dry run's 'Job stats' table."""
    stats = output.split("Job stats:")[1].split("total")[0]
    return {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", stats, re.M)}


def planned_runs(output: str) -> set[tuple[str, str]]:
    """(variant, seed) of every train job a dry run plans."""
    return set(re.findall(r"wildcards: dataset=\w+, variant=(\w+), seed=(\d+)", output))


def corrupt_checksum(path: Path) -> None:
    """Flip one byte of a .gz file's content (still valid gzip, wrong checksum)."""
    raw = bytearray(gzip.decompress(path.read_bytes()))
    raw[-1] ^= 0xFF
    path.write_bytes(gzip.compress(bytes(raw)))


def write_run_record(root: Path, variant: str, seed: int, test_accuracy: float, val_curve: list[float],
                     config_hash: str = "h1", status: str = "ok", train_seconds: float = 2.0) -> Path:
    """A hand-written run folder (metrics.json + history.csv) as gather reads it."""
    import json

    import pandas as pd

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


def idx_bytes(array: np.ndarray) -> bytes:
    """IDX encoding of a uint8 array (magic 0x0800 | ndim, big-endian sizes)."""
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(np.uint8).tobytes()


def synthetic_digits(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Images whose class is readable from which 28-pixel row band is bright (learnable fast)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n).astype(np.uint8)
    images = rng.integers(0, 40, (n, 28, 28)).astype(np.uint8)
    for i, y in enumerate(labels):
        images[i, 2 * y + 4 : 2 * y + 6, 4:24] = 250
    return images, labels


@pytest.fixture
def tiny_mirror(tmp_path, monkeypatch) -> Path:
    """A mirror folder with four tiny MNIST-format .gz files, pinned in place of MNIST's hashes."""
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    train_x, train_y = synthetic_digits(300, seed=1)
    test_x, test_y = synthetic_digits(100, seed=2)
    contents = {
        "train-images-idx3-ubyte.gz": idx_bytes(train_x),
        "train-labels-idx1-ubyte.gz": idx_bytes(train_y),
        "t10k-images-idx3-ubyte.gz": idx_bytes(test_x),
        "t10k-labels-idx1-ubyte.gz": idx_bytes(test_y),
    }
    files = []
    for name, raw in contents.items():
        blob = gzip.compress(raw, mtime=0)
        (mirror / name).write_bytes(blob)
        files.append(data.DataFile(name, hashlib.sha256(blob).hexdigest(), hashlib.sha256(raw).hexdigest()))
    monkeypatch.setitem(data.DATASETS, "mnist", dataclasses.replace(data.DATASETS["mnist"], files=tuple(files)))
    monkeypatch.delenv(data.MIRROR_ENV, raising=False)
    return mirror


@pytest.fixture
def tiny_data() -> dict:
    """In-memory tensors in data.pt's layout: 300 training and 100 test images."""
    train_x, train_y = synthetic_digits(300, seed=1)
    test_x, test_y = synthetic_digits(100, seed=2)
    return {
        "train_images": torch.from_numpy(train_x), "train_labels": torch.from_numpy(train_y).long(),
        "test_images": torch.from_numpy(test_x), "test_labels": torch.from_numpy(test_y).long(),
    }


def mirror_path() -> Path:
    """Where the real MNIST mirror is: $LOSSBENCH_DATA_MIRROR, else ../shared/data/mnist."""
    return Path(os.environ.get(data.MIRROR_ENV) or SHARED_MIRROR)


@pytest.fixture(scope="session")
def fashion_mirror() -> Path:
    """Debian's Fashion-MNIST; CI installs the package (elsewhere the tests that need it skip)."""
    if not (FASHION_MNIST / "train-images-idx3-ubyte.gz").is_file():
        if os.environ.get("CI"):
            pytest.fail(f"CI needs Debian's dataset-fashion-mnist (.ci/run installs it), not found at {FASHION_MNIST}")
        pytest.skip(f"no Fashion-MNIST at {FASHION_MNIST} (apt-get install dataset-fashion-mnist)")
    return FASHION_MNIST


@pytest.fixture(scope="session")
def real_mirror() -> Path:
    """The real MNIST mirror; CI must have it (elsewhere the tests that need it skip)."""
    mirror = mirror_path()
    if not (mirror / "train-images-idx3-ubyte.gz").is_file():
        if os.environ.get("CI"):
            pytest.fail(f"CI needs the MNIST mirror, not found at {mirror}")
        pytest.skip(f"no MNIST mirror at {mirror}")
    return mirror
