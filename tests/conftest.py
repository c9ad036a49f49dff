"""Shared fixtures: tiny synthetic IDX files written by the tests, and the real-MNIST mirror.

Plain helpers (functions, constants) are in helpers.py: tests import those, never this file.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import os
from pathlib import Path

import pytest

import golden
from helpers import FASHION_MNIST, idx_bytes, mirror_path, synthetic_data, synthetic_digits
from lossbench import data


def pytest_addoption(parser):
    parser.addoption("--update-golden", action="store_true",
                     help="rewrite the golden pages under tests/golden/ from the current text (then review the diff)")
    parser.addoption("--loss-file", action="append", default=[], metavar="PATH",
                     help="a file of your own losses: its losses join the registry the tests are parametrized over "
                          "(pytest tests/test_losses.py --loss-file my_losses.py)")


def pytest_configure(config):
    golden.UPDATE = config.getoption("--update-golden")
    if config.getoption("--loss-file"):  # before collection: test_losses.py parametrizes over the registry
        from lossbench.losses import load_loss_files

        load_loss_files(config.getoption("--loss-file"), key="--loss-file")


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
    return synthetic_data()


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


@pytest.fixture
def clean_registry():
    """The loss registry and the record of loaded loss files as they were before the test, after it."""
    from lossbench import losses

    before, loaded = dict(losses.LOSSES), dict(losses.LOADED_FILES)
    yield
    losses.LOSSES.clear(), losses.LOSSES.update(before)
    losses.LOADED_FILES.clear(), losses.LOADED_FILES.update(loaded)
