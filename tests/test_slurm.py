"""The SLURM path against a real one-node cluster (``make test-slurm`` starts it).

Deselected from plain ``pytest`` (marker ``slurm``): it needs the daemons of
tests/cluster/start-slurm.sh (one node, one partition "debug", one declared GPU) and takes
minutes. Every run goes through the shipped profile, workflow/profiles/slurm/config.yaml,
with only what this cluster needs on top (``test_profile``): its partition name in place of the
placeholder, fast status polling, kept SLURM logs, and ``device=cpu`` because the declared GPU is
not a real one. What is proved, from ``sacct`` and the files:

- the shipped profile refuses to submit while its GPU partition is the placeholder, and a train
  job that sees no GPU fails naming its SLURM job instead of training on CPU;
- only training jobs are submitted, each asking for and given ``gres/gpu=1``, 2 CPUs and the
  profile's memory and time; a training job that fails once is resubmitted with twice the memory
  and time, and succeeds; the tables equal a local run's bit for bit;
- ``pack_seeds: true`` sends one GPU job per variant, with the tables of the single runs;
- after Snakemake is killed, the README's sequence (``scancel --name`` with the run id it
  printed, ``--unlock``, ``--rerun-incomplete``) gives the tables of an uninterrupted run.
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from helpers import (
    ROOT,
    assert_same_training_up_to_float_noise,
    mirror_path,
    snakemake,
    snakemake_command,
    tiny_config,
    write_config,
)
from lossbench.cluster import GPU_PARTITION_PLACEHOLDER

pytestmark = [pytest.mark.slurm, pytest.mark.slow]

SHIPPED = ROOT / "workflow" / "profiles" / "slurm" / "config.yaml"
PARTITION = "debug"  # tests/cluster/start-slurm.sh
# The plugin polls every 40 s by default; the test cluster answers at once. It deletes the logs
# of successful jobs unless told to keep them (the test maps job ids to rules through them).
POLLING = ("--slurm-init-seconds-before-status-checks", "2", "--seconds-between-status-checks", "2",
           "--slurm-keep-successful-logs")
# Columns that legitimately differ between two runs of the same config.
VOLATILE = {"train_seconds", "train_cpu_seconds", "eval_seconds", "startup_seconds", "epoch_seconds",
            "epoch_cpu_seconds", "start_time", "end_time", "path", "device_name", "git_commit", "host", "pid",
            "cpus"}
MEDIANS = {"train_seconds_median", "train_cpu_seconds_median"}
TABLES = "results/mnist/tables/summary.csv"
# Every training job waits for the one declared GPU: one seed per variant keeps the runs short
# (the packed run has two, to pack).
ONE_SEED = {"seeds": [0]}


@pytest.fixture(scope="module")
def cluster():
    if shutil.which("sbatch") is None or subprocess.run(["sinfo", "-h"], capture_output=True).returncode != 0:
        pytest.fail("no SLURM cluster answers: run `make test-slurm` (it starts tests/cluster/start-slurm.sh)")


@pytest.fixture(scope="module")
def mirror():
    path = mirror_path()  # no skip here: `make test-slurm` must fail without data
    assert (path / "train-images-idx3-ubyte.gz").is_file(), f"MNIST mirror missing at {path}"
    return path


@pytest.fixture(scope="module")
def profile(tmp_path_factory) -> Path:
    """The shipped profile with this cluster's partition in place of the placeholder, and nothing else."""
    shipped = yaml.safe_load(SHIPPED.read_text())
    settings = yaml.safe_load(SHIPPED.read_text())
    for resources in settings["set-resources"].values():
        assert resources["slurm_partition"] == GPU_PARTITION_PLACEHOLDER
        resources["slurm_partition"] = PARTITION
    changed = {rule: {k for k in r if r[k] != shipped["set-resources"][rule][k]}
               for rule, r in settings["set-resources"].items()}
    assert {k for keys in changed.values() for k in keys} == {"slurm_partition"}
    folder = tmp_path_factory.mktemp("profile")
    (folder / "config.yaml").write_text(yaml.safe_dump(settings, sort_keys=False))
    return folder


@pytest.fixture(scope="module")
def local_tables(mirror, tmp_path_factory):
    """The tiny config trained locally with the cluster jobs' torch threads (CPU: bit-identical)."""
    workdir = tmp_path_factory.mktemp("local")
    config = write_config(workdir, tiny_config(horizon=None, lr_study=None, **ONE_SEED))
    snakemake(workdir, TABLES, "--set-threads", f"train={shipped_threads('train')}", config=config,
              env={"LOSSBENCH_DATA_MIRROR": str(mirror)})
    return tables(workdir)


def shipped_threads(rule: str) -> int:
    return yaml.safe_load(SHIPPED.read_text())["set-threads"][rule]


def shipped_resources(rule: str, attempt: int = 1) -> dict:
    """The profile's resources of ``rule`` at ``attempt`` (its strings are Python expressions)."""
    resources = yaml.safe_load(SHIPPED.read_text())["set-resources"][rule]
    return {k: eval(str(v), {"attempt": attempt}) if k in ("runtime", "mem_mb") else v for k, v in resources.items()}


def cluster_command(workdir, config, profile, mirror, *extra, device="cpu", env=None):
    args = ["--workflow-profile", str(profile), *POLLING, *extra]
    if device:
        args += ["--config", f"device={device}"]
    return snakemake_command(workdir, *args, config=config, env={"LOSSBENCH_DATA_MIRROR": str(mirror), **(env or {})})


def run(command, check=True):
    cmd, env = command
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    output = out.stdout + out.stderr
    if check:
        assert out.returncode == 0, f"{' '.join(cmd)} failed:\n{output[-6000:]}"
    return out.returncode, output


def run_id(output: str) -> str:
    found = re.findall(r"SLURM run ID: (\S+)", output)
    assert found, output[-3000:]
    return found[-1]


def tables(workdir: Path) -> dict[str, pd.DataFrame]:
    out = {}
    for name in ("runs", "epochs", "summary"):
        frame = pd.read_csv(workdir / "results" / "mnist" / "tables" / f"{name}.csv")
        out[name] = frame.drop(columns=[c for c in frame.columns if c in VOLATILE | MEDIANS])
    return out


def sacct(run: str) -> pd.DataFrame:
    """Every job of one Snakemake run (the job name is the run id), one row each."""
    fields = "JobID,JobName,State,ReqTRES,AllocTRES,TimelimitRaw"
    out = subprocess.run(["sacct", "-n", "-X", "-P", f"--format={fields}", f"--name={run}", "-S", "now-1hour"],
                         capture_output=True, text=True, check=True).stdout
    rows = [line.split("|") for line in out.splitlines() if line]
    return pd.DataFrame(rows, columns=fields.split(",")).set_index("JobID")


def rules_of_jobs(workdir: Path) -> dict[str, str]:
    """SLURM job id -> rule, from the plugin's log folders (.snakemake/slurm_logs/rule_<rule>/<wildcards>/<id>.log)."""
    return {log.stem: log.relative_to(workdir / ".snakemake" / "slurm_logs").parts[0].removeprefix("rule_")
            for log in (workdir / ".snakemake" / "slurm_logs").rglob("*.log")}


def tres(text: str) -> dict[str, str]:
    return dict(item.split("=", 1) for item in text.split(",") if item)


def assert_asked_for_and_got(job: pd.Series, rule: str, attempt: int):
    expected = shipped_resources(rule, attempt)
    for column in ("ReqTRES", "AllocTRES"):
        got = tres(job[column])
        assert got.get("gres/gpu") == "1", (rule, column, job[column])
        assert got.get("cpu") == str(shipped_threads(rule)), (rule, column, job[column])
    assert tres(job["ReqTRES"])["mem"] == f"{expected['mem_mb']}M", (rule, attempt, job["ReqTRES"])
    assert int(job["TimelimitRaw"]) == expected["runtime"], (rule, attempt, job["TimelimitRaw"])


def test_gpu_jobs_are_refused_before_sbatch_without_a_gpu_partition_and_fail_on_a_node_without_a_gpu(
        cluster, mirror, profile, tmp_path):
    config = write_config(tmp_path, tiny_config(horizon=None, lr_study=None))
    # 1. The shipped profile, unedited: one error naming the setting, before any job (local ones too).
    code, output = run(cluster_command(tmp_path, config, SHIPPED.parent, mirror), check=False)
    assert code != 0
    assert (f"set-resources: train: slurm_partition is still the placeholder '{GPU_PARTITION_PLACEHOLDER}'"
            in output), output[-3000:]
    assert f"partitions with GPUs, from sinfo: {PARTITION} (gpu:1)" in output
    assert sacct(run_id(output)).empty and not (tmp_path / "resources").exists()

    # 2. device auto on the cluster is cuda: the job on a node whose GPU CUDA cannot see fails,
    #    saying so, instead of training on the CPU (one job per run: pack_seeds auto would pack under the profile).
    target = "results/mnist/runs/cross_entropy/seed-0/metrics.json"
    code, output = run(cluster_command(tmp_path, config, profile, mirror, "--retries", "0", target, "--config",
                                       "pack_seeds=false", device=None), check=False)
    assert code != 0 and re.search(r"SLURM-job '\d+' failed, SLURM status is: 'FAILED'", output), output[-3000:]
    log = (tmp_path / "logs" / "mnist" / "train" / "cross_entropy" / "seed-0.log").read_text()
    assert "device: cuda asked for, but no CUDA GPU is visible" in log, log
    assert "CUDA_VISIBLE_DEVICES='0'" in log and re.search(rf"SLURM job \d+, partition {PARTITION}", log), log
    assert not (tmp_path / "results" / "mnist" / "runs" / "cross_entropy" / "seed-0").exists()


INJECT = '''
    """Test-only fault: the first attempt of one train job fails mid-training (after its epoch-0 evaluation)."""
    import os
    import sys

    RUN, MARKER = os.environ.get("LOSSBENCH_FAIL_ONCE", "::").split("::")
    if RUN and os.path.basename(sys.argv[0]) == "lossbench" and "train" in sys.argv[1:2] \\
            and sys.argv[sys.argv.index("--out-dir") + 1].endswith(RUN) and not os.path.exists(MARKER):
        import lossbench.train as _train

        _evaluate = _train.evaluate

        def evaluate(*args, **kwargs):
            open(MARKER, "w").close()
            raise RuntimeError("injected fault: this node lost its GPU")

        _train.evaluate = evaluate
'''


def test_only_training_goes_to_the_cluster_on_one_gpu_each_and_a_failed_job_succeeds_on_its_retry(
        cluster, mirror, profile, local_tables, tmp_path):
    config = write_config(tmp_path, tiny_config(**ONE_SEED))
    inject = tmp_path / "inject"
    inject.mkdir()
    (inject / "sitecustomize.py").write_text(textwrap.dedent(INJECT))
    failing = "mse_softmax_lr5/seed-0"
    env = {"PYTHONPATH": str(inject), "LOSSBENCH_FAIL_ONCE": f"{failing}::{tmp_path / 'failed-once'}"}
    code, output = run(cluster_command(tmp_path, config, profile, mirror, env=env))
    assert (tmp_path / "failed-once").exists(), "the injected fault did not fire"
    jobs = sacct(run_id(output)).join(pd.Series(rules_of_jobs(tmp_path), name="rule"))

    # Only training jobs went to SLURM (data, gather, report pages ran on the submit host).
    horizon, study = tiny_config().get("horizon"), tiny_config().get("lr_study")
    assert set(jobs["rule"]) == ({"train"} | ({"train_horizon"} if horizon else set())
                                 | ({"train_lr_study"} if study else set())), jobs
    assert re.search(r"localrule prepare_data:", output) and re.search(r"localrule render_page:", output)
    # Two runs, one of them twice: its first attempt FAILED, the retry had twice the memory and time.
    train = jobs[jobs["rule"] == "train"]
    assert sorted(train["State"]) == ["COMPLETED"] * 2 + ["FAILED"], jobs
    assert set(jobs.loc[jobs["rule"] != "train", "State"]) <= {"COMPLETED"}, jobs
    failed_id = train.index[train["State"] == "FAILED"][0]
    logs = {log.stem: log for log in (tmp_path / ".snakemake" / "slurm_logs").rglob("*.log")}
    assert "injected fault" in logs[failed_id].read_text() + output
    retry = next(j for j in train.index
                 if int(j) > int(failed_id) and logs[j].parent.name == logs[failed_id].parent.name)
    for job_id, job in jobs.iterrows():
        assert_asked_for_and_got(job, job["rule"], attempt=2 if job_id == retry else 1)

    # The same tables as a local run with the same threads (CPU: bit-identical), and every page.
    for name, expected in local_tables.items():
        pd.testing.assert_frame_equal(tables(tmp_path)[name], expected, check_exact=True, obj=name)
    pages = sorted(p.name for p in (tmp_path / "reports" / "html" / "mnist").glob("*.html"))
    assert "index.html" in pages and "comparison.html" in pages, pages


def test_packed_seeds_send_one_gpu_job_per_variant(cluster, mirror, profile, local_tables, tmp_path):
    config = write_config(tmp_path, tiny_config(pack_seeds=True, horizon=None, lr_study=None))
    code, output = run(cluster_command(tmp_path, config, profile, mirror, TABLES))
    jobs = sacct(run_id(output)).join(pd.Series(rules_of_jobs(tmp_path), name="rule"))
    assert list(jobs["rule"]) == ["train_seeds"] * 2 and set(jobs["State"]) == {"COMPLETED"}, jobs
    for _, job in jobs.iterrows():
        assert_asked_for_and_got(job, "train_seeds", attempt=1)
    packed = tables(tmp_path)
    assert sorted(packed["runs"]["seed"]) == [0, 0, 1, 1]
    for name in ("runs", "epochs"):  # stacked training: each seed its single run, up to float noise
        seed_0 = packed[name][packed[name]["seed"] == 0].reset_index(drop=True)
        assert_same_training_up_to_float_noise(seed_0, local_tables[name], images=tiny_config()["val_size"], obj=name)


def test_after_snakemake_is_killed_scancel_unlock_and_rerun_incomplete_give_an_uninterrupted_runs_tables(
        cluster, mirror, profile, local_tables, tmp_path):
    config = write_config(tmp_path, tiny_config(horizon=None, lr_study=None, **ONE_SEED))
    cmd, env = cluster_command(tmp_path, config, profile, mirror, TABLES)
    log = tmp_path / "snakemake.out"
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            running, deadline = "", time.monotonic() + 180
            while not running and time.monotonic() < deadline and proc.poll() is None:
                time.sleep(1)
                ids = re.findall(r"SLURM run ID: (\S+)", log.read_text())
                if ids:
                    running = subprocess.run(["squeue", "-h", "-n", ids[0], "-t", "RUNNING", "-o", "%i"],
                                             capture_output=True, text=True).stdout.strip()
            assert running, f"no job of the run started running:\n{log.read_text()[-3000:]}"
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
    name = run_id(log.read_text())
    # Its jobs outlive it: the README's first step cancels them by the run id Snakemake printed.
    assert subprocess.run(["squeue", "-h", "-n", name, "-o", "%i"], capture_output=True, text=True).stdout.strip()
    subprocess.run(["scancel", f"--name={name}"], check=True)
    for _ in range(60):
        if not subprocess.run(["squeue", "-h", "-n", name], capture_output=True, text=True).stdout.strip():
            break
        time.sleep(1)
    code, output = run((cmd, env), check=False)
    assert code != 0 and ("Incomplete files" in output or "cannot be locked" in output), output[-3000:]
    run(snakemake_command(tmp_path, "--workflow-profile", str(profile), "--unlock", config=config,
                          env={"LOSSBENCH_DATA_MIRROR": str(mirror)}))
    run((cmd + ["--rerun-incomplete"], env))
    for name, expected in local_tables.items():
        pd.testing.assert_frame_equal(tables(tmp_path)[name], expected, check_exact=True, obj=name)
