"""The SLURM path against a real one-node cluster (``make test-slurm`` starts it).

Deselected from plain ``pytest`` (marker ``slurm``): it needs the daemons of
tests/cluster/start-slurm.sh and takes minutes. Runs the tiny end-to-end config through real
sbatch with the project's workflow profile, checks every train job in sacct, compares the
tables with a local run, and checks how a failing job is reported and recovered.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from helpers import ROOT, mirror_path, snakemake, tiny_config, write_config

pytestmark = [pytest.mark.slurm, pytest.mark.slow]

# The plugin polls every 40 s by default; the test cluster answers at once. It deletes the
# logs of successful jobs unless told to keep them (the test reads their job ids). The test
# node has 2 CPUs: one per train job lets two run side by side.
TEST_CLUSTER = ("--slurm-init-seconds-before-status-checks", "2", "--seconds-between-status-checks", "2",
                "--slurm-keep-successful-logs", "--set-resources", "train:cpus_per_task=1")
PROFILE = ("--workflow-profile", str(ROOT / "workflow" / "profiles" / "slurm"))
# Columns that legitimately differ between two runs of the same config.
VOLATILE = {"train_seconds", "train_cpu_seconds", "eval_seconds", "startup_seconds", "epoch_seconds",
            "epoch_cpu_seconds", "start_time", "end_time", "path", "device_name", "git_commit", "host", "pid",
            "cpus"}
MEDIANS = {"train_seconds_median", "train_cpu_seconds_median"}


@pytest.fixture(scope="module")
def cluster():
    if shutil.which("sbatch") is None or subprocess.run(["sinfo", "-h"], capture_output=True).returncode != 0:
        pytest.fail("no SLURM cluster answers: run `make test-slurm` (it starts tests/cluster/start-slurm.sh)")


@pytest.fixture(scope="module")
def mirror():
    path = mirror_path()  # no skip here: `make test-slurm` must fail without data
    assert (path / "train-images-idx3-ubyte.gz").is_file(), f"MNIST mirror missing at {path}"
    return path


def slurm_run(workdir, config, mirror, *extra, check=True):
    return snakemake(workdir, *PROFILE, *TEST_CLUSTER, *extra, config=config, check=check,
                     env={"LOSSBENCH_DATA_MIRROR": str(mirror)})


def tables(workdir: Path) -> dict[str, pd.DataFrame]:
    out = {}
    for name in ("runs", "epochs", "summary"):
        frame = pd.read_csv(workdir / "results" / "mnist" / "tables" / f"{name}.csv")
        out[name] = frame.drop(columns=[c for c in frame.columns if c in VOLATILE | MEDIANS])
    return out


def sacct_states(job_ids: list[str]) -> dict[str, str]:
    out = subprocess.run(["sacct", "-n", "-X", "-P", "--format=JobID,State", "-j", ",".join(job_ids)],
                         capture_output=True, text=True, check=True).stdout
    return dict(line.split("|") for line in out.split())


def test_tiny_workflow_through_sbatch_matches_a_local_run(cluster, mirror, tmp_path):
    config = write_config(tmp_path, tiny_config())
    local, remote = tmp_path / "local", tmp_path / "slurm"
    local.mkdir(), remote.mkdir()

    # 1. A job that fails on the cluster (its data mirror is empty) is reported as failed.
    empty = tmp_path / "empty-mirror"
    empty.mkdir()
    failed = slurm_run(remote, config, empty, "--retries", "0", check=False)
    output = failed.stdout + failed.stderr
    assert failed.returncode != 0
    assert re.search(r"SLURM-job '\d+' failed, SLURM status is: 'FAILED'", output), output[-3000:]
    logs = re.findall(r"(\S*slurm_logs/\S+\.log)", output)
    assert logs, output[-3000:]
    log_file = Path(logs[0]) if Path(logs[0]).is_absolute() else remote / logs[0]
    assert "lacks" in log_file.read_text() or "lacks" in (remote / "logs/mnist/data.log").read_text()
    assert not (remote / "resources" / "data" / "mnist" / "data.pt").exists()

    # 2. The rerun with the mirror in place completes, every job a SLURM job.
    slurm_run(remote, config, mirror)
    train_logs = sorted((remote / ".snakemake" / "slurm_logs" / "rule_train").rglob("*.log"))
    assert len(train_logs) == 4, train_logs
    states = sacct_states([p.stem for p in train_logs])
    assert set(states.values()) == {"COMPLETED"}, states

    # 3. Same tables as a local run of the same config (CPU, same threads: bit-identical).
    snakemake(local, config=config, env={"LOSSBENCH_DATA_MIRROR": str(mirror)})
    for name, expected in tables(local).items():
        pd.testing.assert_frame_equal(tables(remote)[name], expected, check_exact=True, obj=name)
    pages = {run: sorted(p.name for p in (run / "reports" / "html" / "mnist").glob("*.html"))
             for run in (local, remote)}
    assert pages[remote] == pages[local] and "index.html" in pages[remote], pages

    # 4. The documented seed packing: one cluster job per variant runs both of its seeds.
    before = tables(remote)
    slurm_run(remote, config, mirror, "--forcerun", "train", "--until", "gather",
              "--groups", "train=seeds_{variant}", "--group-components", "seeds_{variant}=2")
    group_logs = sorted((remote / ".snakemake" / "slurm_logs").glob("group_seeds_*/*.log"))
    assert sorted(p.parent.name for p in group_logs) == [
        "group_seeds_cross_entropy_train", "group_seeds_mse_softmax_lr5_train"]
    assert set(sacct_states([p.stem for p in group_logs]).values()) == {"COMPLETED"}
    for name, expected in before.items():
        pd.testing.assert_frame_equal(tables(remote)[name], expected, check_exact=True, obj=name)
