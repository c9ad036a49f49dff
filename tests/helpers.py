"""Plain helpers shared by the tests (fixtures live in conftest.py).

Imported as ``from helpers import ...``: pyproject.toml puts tests/ on ``pythonpath``, so this
works under pytest's ``importlib`` import mode, which the suite runs in.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import struct
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lossbench.data import MIRROR_ENV

ROOT = Path(__file__).resolve().parents[1]
SHARED_MIRROR = ROOT.parent / "shared" / "data" / "mnist"
FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")  # Debian's dataset-fashion-mnist
BIN = str(Path(sys.executable).parent)
TINY_CONFIG = ROOT / "tests" / "workflow" / "config.yaml"


# --- the tiny workflow config ---------------------------------------------------------------------

def tiny_config(**overrides) -> dict:
    """The tiny end-to-end config (tests/workflow/config.yaml) with top-level keys replaced."""
    import yaml  # here, not at the top: the GPU machine's image has no yaml (tests/gpu/check.sh)

    return {**yaml.safe_load(TINY_CONFIG.read_text()), **overrides}


def write_config(workdir: Path, config: dict, name: str = "config.yaml") -> Path:
    """Write ``config`` as YAML into ``workdir`` (key order kept: variants run in that order)."""
    import yaml

    path = workdir / name
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


# --- comparing two trainings that differ only by float noise ----------------------------------------

# A share of images (an accuracy, the confidently-wrong share) is discrete: float noise that moves one
# logit past another flips a whole image, 1/n at once, however small the noise. A packed run against its
# single run, or CUDA against CPU, is compared on such columns within a few images, never at a relative
# tolerance meant for continuous values (a 0.315 against 0.32 is one validation image of 200).
IMAGE_SHARES = re.compile(r"(^|_)accuracy($|_)|confident_wrong")
FLIPPED_IMAGES = 2
# Training amplifies rounding differences step by step: after the tiny configs' tens of steps a packed run's
# continuous metrics differ from its single run's by up to ~3e-4 relative (val_mean_max_prob 0.128326 against
# 0.128365, make test-slurm, 2026-12-05), where another seed or lr differs by whole percents (0.1058 against
# 0.1207 between two seeds there). 1% keeps that margin on other machines and still tells runs apart.
TRAINED_RTOL = 1e-2


def assert_same_training_up_to_float_noise(got, expected, images: int, obj: str = "records") -> None:
    """``got`` and ``expected`` (DataFrames, same shape and columns) hold the same training up to float
    noise: shares of images within FLIPPED_IMAGES of ``images`` (the smallest set they were measured
    on), epochs to a target within one epoch, every other number to TRAINED_RTOL relative, text exactly."""
    import pandas as pd

    assert list(got.columns) == list(expected.columns) and len(got) == len(expected), (obj, got, expected)
    shares = [c for c in got.columns if IMAGE_SHARES.search(c)]
    counted = [c for c in got.columns if c.startswith("epochs_to_")]
    rest = [c for c in got.columns if c not in shares and c not in counted]
    pd.testing.assert_frame_equal(got[rest], expected[rest], check_exact=False, rtol=TRAINED_RTOL, atol=1e-5, obj=obj)
    for column, tolerance in [*((c, FLIPPED_IMAGES / images) for c in shares), *((c, 1) for c in counted)]:
        a, b = got[column].to_numpy(float), expected[column].to_numpy(float)
        same = (np.abs(a - b) <= tolerance + 1e-12) | (np.isnan(a) & np.isnan(b))
        assert same.all(), f"{obj}: {column} differs by more than {tolerance:g}: {a[~same]} against {b[~same]}"


# --- the config, resolved in-process as the workflow resolves it ------------------------------------

def resolved(text: str = "", *overrides: str, base: dict | None = None):
    """lossbench.config.resolve() on ``base`` (default: config/config.yaml) with the keys the YAML ``text``
    sets replaced, and ``overrides`` given as ``snakemake --config`` entries (parsed and merged as Snakemake
    does): what the workflow decides, without starting Snakemake."""
    import copy

    import yaml
    from snakemake.cli import parse_config
    from snakemake.utils import update_config

    from lossbench.config import resolve
    from lossbench.losses import LOSSES

    default = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    config = {**copy.deepcopy(default if base is None else base), **(yaml.safe_load(text) or {})}
    given = parse_config(list(overrides))
    update_config(config, given)
    return resolve(config, LOSSES, given)


def refused(text: str = "", *overrides: str, base: dict | None = None) -> str:
    """The one-line ConfigError ``resolved`` raises (it must raise one: no newline, no traceback, no schema)."""
    from lossbench.config import ConfigError

    try:
        resolved(text, *overrides, base=base)
    except ConfigError as error:
        message = str(error)
        assert "\n" not in message and "Traceback" not in message and "schema[" not in message, message
        return message
    raise AssertionError(f"accepted: {text!r} {overrides}")


# --- running the workflow -------------------------------------------------------------------------

def mirror_path() -> Path:
    """Where the real MNIST mirror is: $LOSSBENCH_DATA_MIRROR, else ../shared/data/mnist."""
    return Path(os.environ.get(MIRROR_ENV) or SHARED_MIRROR)


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


@dataclass(frozen=True)
class Job:
    rule: str
    wildcards: dict[str, str]


@dataclass(frozen=True)
class Plan:
    """The jobs Snakemake would run, from its job graph (``snakemake --dag``)."""

    jobs: tuple[Job, ...]

    @property
    def counts(self) -> dict[str, int]:
        """Jobs per rule, as in the dry run's 'Job stats' table."""
        return dict(Counter(job.rule for job in self.jobs))

    def wildcards(self, rule: str, *names: str) -> list[tuple[str, ...]]:
        """The values of ``names`` in each job of ``rule``, sorted."""
        return sorted(tuple(job.wildcards[name] for name in names) for job in self.jobs if job.rule == rule)


# One node of `snakemake --dag`'s dot output (snakemake.dag.DAG.dot): the label is the rule name,
# then one "name: value" line per wildcard; jobs that need not run are drawn dashed.
DOT_NODE = re.compile(r'^\s*\d+\[label = "(?P<label>[^"]*)", color = "[^"]*", style="(?P<style>[^"]*)"\];$')


def parse_dag(dot: str) -> Plan:
    """The jobs that need to run in a ``snakemake --dag`` graph.

    The wildcards of a job are those Snakemake's graph shows: the ones it does not share with
    the jobs it depends on (a train job shows variant and seed; the dataset is its data job's).
    """
    if "digraph snakemake_dag {" not in dot:
        raise AssertionError(f"not a snakemake --dag graph:\n{dot}")
    jobs = []
    for line in dot.splitlines():
        if not re.match(r"^\s*\d+\[", line):  # header, edges
            continue
        node = DOT_NODE.match(line)
        if node is None:  # the node format changed: fail rather than miss a job
            raise AssertionError(f"job node not understood: {line!r}")
        if "dashed" in node["style"]:  # in the graph, but up to date
            continue
        rule, *wildcards = node["label"].split("\\n")
        jobs.append(Job(rule, dict(w.split(": ", 1) for w in wildcards)))
    return Plan(tuple(jobs))


SUMMARY = "results/mnist/tables/summary.csv"  # gather's output: the target in place of `--until gather`


def plan(workdir: Path, *args: str, config: Path | None = None, env: dict | None = None) -> Plan:
    """What ``snakemake *args`` would run in ``workdir`` (targets and options as for a dry run).

    Not with ``--until``: Snakemake 9.27.1 prints the --dag graph before applying it, so every
    job after the until-rule would be counted; name that rule's output as the target instead.
    """
    if "--until" in args:
        raise ValueError("snakemake --dag ignores --until: give the rule's output as the target instead")
    return parse_dag(snakemake(workdir, "--dag", "dot", *args, config=config, env=env).stdout)


# --- data and run records ---------------------------------------------------------------------------

def corrupt_checksum(path: Path) -> None:
    """Flip one byte of a .gz file's content (still valid gzip, wrong checksum)."""
    raw = bytearray(gzip.decompress(path.read_bytes()))
    raw[-1] ^= 0xFF
    path.write_bytes(gzip.compress(bytes(raw)))


def write_run_record(root: Path, variant: str, seed: int, test_accuracy: float, val_curve: list[float],
                     config_hash: str = "h1", status: str = "ok", train_seconds: float = 2.0) -> Path:
    """A hand-written run folder (metrics.json + history.csv) as gather reads it."""
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
        "config": {"lr": 0.1, "batch_size": 100, "epochs": len(val_curve) - 1, "dataset": "mnist",
                   "hidden": [1200, 600, 300]},
        "config_hash": config_hash, "provenance": {"device_name": "cpu", "git_commit": "abc"},
    }
    (run / "metrics.json").write_text(json.dumps(metrics))
    return run / "metrics.json"


def idx_bytes(array: np.ndarray) -> bytes:
    """IDX encoding of a uint8 array (magic 0x0800 | ndim, big-endian sizes)."""
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(np.uint8).tobytes()


def synthetic_data() -> dict:
    """In-memory tensors in data.pt's layout: 300 training and 100 test synthetic images."""
    import torch

    (train_x, train_y), (test_x, test_y) = synthetic_digits(300, seed=1), synthetic_digits(100, seed=2)
    return {"train_images": torch.from_numpy(train_x), "train_labels": torch.from_numpy(train_y).long(),
            "test_images": torch.from_numpy(test_x), "test_labels": torch.from_numpy(test_y).long()}


def synthetic_digits(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Images whose class is readable from which 28-pixel row band is bright (learnable fast)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n).astype(np.uint8)
    images = rng.integers(0, 40, (n, 28, 28)).astype(np.uint8)
    for i, y in enumerate(labels):
        images[i, 2 * y + 4 : 2 * y + 6, 4:24] = 250
    return images, labels
