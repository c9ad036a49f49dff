"""Fault rows of the workflow's own state: Snakemake itself killed, then recovered as README says."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from helpers import snakemake, snakemake_command, tiny_config, write_config
from lossbench import data
from lossbench.compare import WALL_CLOCK_COLUMNS, WALL_CLOCK_METRICS
from lossbench.config import TrainConfig, resolve_variants
from lossbench.train import train


def run_files(workdir: Path) -> dict[str, dict]:
    """Every run's metrics (but wall-clock facts) and history (but timings), by run folder."""
    import csv

    out = {}
    for metrics in sorted((workdir / "results" / "mnist" / "runs").glob("*/seed-*/metrics.json")):
        record = {k: v for k, v in json.loads(metrics.read_text()).items() if k not in WALL_CLOCK_METRICS}
        with open(metrics.with_name("history.csv")) as fh:
            rows = [{k: v for k, v in r.items() if k not in WALL_CLOCK_COLUMNS} for r in csv.DictReader(fh)]
        out[metrics.parent.relative_to(workdir).as_posix()] = {"metrics": record, "history": rows}
    return out


def wait_for_jobs_in(workdir: Path, timeout: float = 180) -> None:
    """Until no `lossbench` process runs with ``workdir`` as its working directory."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        running = []
        for proc in Path("/proc").iterdir():
            try:
                if proc.name.isdigit() and b"lossbench" in (proc / "cmdline").read_bytes() and \
                        Path(os.readlink(proc / "cwd")) == workdir.resolve():
                    running.append(proc.name)
            except OSError:
                continue
        if not running:
            return
        time.sleep(0.5)
    raise AssertionError(f"jobs still running in {workdir}: {running}")


@pytest.mark.slow
def test_snakemake_itself_killed_with_SIGKILL_then_unlock_and_rerun_incomplete(real_mirror, tmp_path):
    """README's recovery, step by step: a killed Snakemake leaves incomplete files (the next run
    stops) and its lock (adding only --rerun-incomplete stops too); `snakemake --unlock`, then the
    same command with `--rerun-incomplete`, finishes the sweep with an uninterrupted one's results."""
    env = {data.MIRROR_ENV: str(real_mirror)}
    config = tiny_config(train_size=2000, epochs=2, horizon=None, lr_study=None)
    killed = tmp_path / "killed"
    killed.mkdir()
    write_config(killed, config)

    cmd, environ = snakemake_command(killed, config=killed / "config.yaml", env=env)
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=environ)
    log = killed / "logs" / "mnist" / "train" / "cross_entropy" / "seed-0.log"
    deadline = time.time() + 240
    while time.time() < deadline and not (log.exists() and "epoch  1/2" in log.read_text()):
        time.sleep(0.2)
    assert log.exists(), "the first train job never started"
    os.kill(proc.pid, signal.SIGKILL)  # Snakemake itself, as a power cut would; its running jobs are orphaned
    proc.wait()
    wait_for_jobs_in(killed)  # the orphaned jobs finish (or die) on their own

    again = snakemake(killed, config=killed / "config.yaml", env=env, check=False)
    assert again.returncode != 0 and "Incomplete files" in again.stderr and "--rerun-incomplete" in again.stderr
    locked = snakemake(killed, "--rerun-incomplete", config=killed / "config.yaml", env=env, check=False)
    assert locked.returncode != 0 and "Directory cannot be locked" in locked.stdout + locked.stderr
    snakemake(killed, "--unlock", config=killed / "config.yaml", env=env)
    snakemake(killed, "--rerun-incomplete", config=killed / "config.yaml", env=env)

    # the uninterrupted runs, trained in this process from the same data
    tensors = data.load(killed / "resources" / "data" / "mnist" / "data.pt")
    for variant, settings in resolve_variants(config).items():
        for seed in config["seeds"]:
            cfg = TrainConfig(**{**settings, "hidden": tuple(settings["hidden"]), "seed": seed})
            train(cfg, tensors, out_dir=tmp_path / "clean" / "results" / "mnist" / "runs" / variant / f"seed-{seed}")
    assert run_files(killed) == run_files(tmp_path / "clean") and len(run_files(killed)) == 4
    pages = sorted(p.name for p in (killed / "reports" / "html" / "mnist").glob("*.html"))
    assert pages == ["comparison.html", "index.html", "reproducibility.html", "variant-cross_entropy.html",
                     "variant-mse_softmax_lr5.html", "why-mse.html"]
    assert "Nothing to be done" in snakemake(killed, "-n", config=killed / "config.yaml", env=env).stdout
