"""What the workflow checks before it sends a training job to SLURM (workflow/profiles/slurm).

Only training goes to the cluster (every other rule is a ``localrule``), and a training job
there must run on a GPU: ``device: auto`` means ``cuda`` under the SLURM executor, so a job
that lands on a node without a GPU fails (naming the node) instead of quietly training on
CPU. Before the first ``sbatch``, each training job's resources are checked against the
cluster (``sinfo``): a GPU partition that is still the profile's placeholder, is not a
partition of this cluster, or has no GPUs, a job that asks for no GPU, and ``cpus_per_task``
that disagrees with the job's torch threads are refused with one message naming the setting.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Mapping
from functools import cache

from .errors import LossbenchError

# Executor names of snakemake-executor-plugin-slurm: "slurm" submits (login node), and the
# submitted job runs its rule through "slurm-jobstep" (compute node).
SUBMITTING_EXECUTOR = "slurm"
SLURM_EXECUTORS = (SUBMITTING_EXECUTOR, "slurm-jobstep")
# workflow/profiles/slurm/config.yaml ships with this instead of a partition name.
GPU_PARTITION_PLACEHOLDER = "EDIT-ME-gpu-partition"
PROFILE = "workflow/profiles/slurm/config.yaml"


class ClusterConfigError(LossbenchError):
    """A cluster setting that would send a job where it cannot run as intended."""


def executor_name(workflow) -> str | None:
    """The executor plugin's name ("local", "slurm", ...) once Snakemake executes; None while parsing."""
    plugin = getattr(workflow, "executor_plugin", None)
    return getattr(plugin, "name", None)


def under_slurm(executor: str | None, remote: bool, environ: Mapping[str, str]) -> bool:
    """Whether this Snakemake submits to SLURM or runs a job inside a SLURM job.

    The submitting process runs the "slurm" executor; inside the job, "slurm-jobstep" runs
    ``srun snakemake --mode remote`` with the default (local) executor, which only the job's
    environment tells apart from a plain local run.
    """
    return executor in SLURM_EXECUTORS or (remote and "SLURM_JOB_ID" in environ)


def train_device(device: str, on_slurm: bool) -> str:
    """The device a training job is told to use: ``auto`` becomes ``cuda`` on SLURM."""
    return "cuda" if device == "auto" and on_slurm else device


# The training rules: each declares the GPU it uses (resource gpu) when training runs on CUDA.
TRAINING_RULES = ("train", "train_seeds", "train_horizon", "train_lr_study", "train_lr_study_grid",
                  "train_lr_study_seed", "train_classes_study", "train_classes_study_grid", "train_optimizer_study",
                  "train_optimizer_study_grid", "train_probe")


# The global resource that bounds how many training processes run on the CPU at once (one per core).
CPU_TRAINING = "cpu_training"


def usable_cores() -> int:
    """The cores this process may run on (a cgroup's or a SLURM job's, not the node's), as os.cpu_count() where
    the platform cannot say (here, not in lossbench.devices: the workflow reads it without importing torch)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def training_cpus(threads: int, on_cuda: bool, submitting: bool, limit: int) -> int:
    """What a training job asks of ``CPU_TRAINING``: its threads on the CPU (never more than the ``limit``, or
    it would wait for ever), 0 on CUDA (the gpu resource bounds those) and when submitted to SLURM (each job
    has its own node's cores). Snakemake's --cores counts threads, not cores: `snakemake --cores 8` on 2 cores
    runs 8 single-thread jobs side by side, and each then takes more CPU per epoch than 2 at once (1.22 s
    against 0.97 s here: caches and memory bandwidth shared), so the same training costs a quarter more."""
    return 0 if on_cuda or submitting else max(1, min(threads, limit))


def nvidia_gpu_visible(environ: Mapping[str, str], dev: str = "/dev") -> bool:
    """Whether a process started here would see an NVIDIA GPU, told without importing torch (seconds, and a
    CUDA context): the driver's device files (``/dev/nvidia0``, ...) exist and CUDA_VISIBLE_DEVICES does not
    hide them all (empty, or starting with -1). torch may still find no GPU (a driver older than its build
    needs): then the run's own check says so, naming the driver."""
    visible = environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None and (not visible.strip() or visible.strip().startswith("-1")):
        return False
    try:
        return any(re.fullmatch(r"nvidia\d+", name) for name in os.listdir(dev))
    except OSError:
        return False


def profile_gives_training_a_gpu(overwrite_resources: Mapping) -> bool:
    """Whether the profile's ``set-resources`` give a training rule a GPU (``gpu:`` or ``gres: gpu...``): the
    SLURM profile does. While the workflow is read, this is how the submitting Snakemake knows its training
    jobs will run on GPU nodes (the executor is named only later)."""
    def raw(resources, key):  # a plain mapping's value, or a snakemake Resource's as written
        value = resources.get(key)
        return getattr(value, "raw", value)

    for rule in TRAINING_RULES:
        resources = overwrite_resources.get(rule) or {}
        if raw(resources, "gpu") or raw(resources, "gpus") or "gpu" in str(raw(resources, "gres") or ""):
            return True
    return False


def trains_on_cuda(device: str, on_slurm: bool, gpu_visible: bool) -> bool:
    """Whether training jobs run on CUDA, decided without importing torch: ``cuda``/``cuda:N``; ``auto`` on
    SLURM (``train_device``) or where an NVIDIA GPU is visible (``nvidia_gpu_visible``); never ``cpu``."""
    return train_device(device, on_slurm).startswith("cuda") or (device == "auto" and gpu_visible)


def parse_sinfo(text: str) -> dict[str, str]:
    """``sinfo -h -o '%R|%G'`` lines -> partition name -> its nodes' GRES (comma-joined, "(null)" if none)."""
    partitions: dict[str, list[str]] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        name, _, gres = line.strip().partition("|")
        partitions.setdefault(name.strip(), []).append(gres.strip())
    return {name: ",".join(sorted(set(gres))) for name, gres in partitions.items()}


def has_gpus(gres: str) -> bool:
    return any(item.strip().startswith("gpu") for item in gres.split(","))


@cache
def cluster_partitions() -> dict[str, str]:
    """This cluster's partitions and their GRES, asked once per Snakemake process."""
    try:
        out = subprocess.run(["sinfo", "-h", "-o", "%R|%G"], capture_output=True, text=True, check=True,
                             timeout=60).stdout
    except (OSError, subprocess.SubprocessError) as err:
        raise ClusterConfigError(f"could not list this cluster's partitions with `sinfo -h -o '%R|%G'` "
                                 f"to check the GPU partition of the training jobs: {err}") from err
    return parse_sinfo(out)


def check_training_job(rule: str, resources: Mapping, threads: int, device: str,
                       partitions: Mapping[str, str]) -> None:
    """Refuse a training job's SLURM resources that would not run it on a GPU as intended.

    ``resources`` are the job's (profile's ``set-resources: <rule>:`` over ``default-resources``),
    ``device`` the one the job is told to use, ``partitions`` what ``parse_sinfo`` returns.
    """
    where = f"{PROFILE}: set-resources: {rule}:"
    gpu = resources.get("gpu") or resources.get("gpus") or "gpu" in str(resources.get("gres") or "")
    cpus = resources.get("cpus_per_task")
    if cpus not in (None, threads):
        raise ClusterConfigError(
            f"{where} cpus_per_task is {cpus} but the job runs {threads} torch thread(s) (set-threads: {rule}); "
            f"expected no cpus_per_task (SLURM then gets --cpus-per-task={threads}, the job's threads) or "
            f"the same number; set the CPUs of a training job with set-threads: {rule}: only")
    partition = resources.get("slurm_partition")
    gpu_partitions = ", ".join(f"{name} ({gres})" for name, gres in sorted(partitions.items())
                               if has_gpus(gres)) or "none"
    if partition == GPU_PARTITION_PLACEHOLDER or (not partition and device != "cpu"):
        found = "unset" if not partition else f"still the placeholder {GPU_PARTITION_PLACEHOLDER!r}"
        raise ClusterConfigError(
            f"{where} slurm_partition is {found}; expected the partition of this cluster's GPU nodes "
            f"(partitions with GPUs, from sinfo: {gpu_partitions}). Without it SLURM sends GPU jobs to "
            "its default partition, on most clusters a CPU one where they are refused or wait forever")
    # SLURM takes a comma-separated list (the job starts in whichever has room first): each must exist and,
    # for a GPU job, have GPUs, since the job may land in any of them
    listed = [p.strip() for p in str(partition or "").split(",") if p.strip()]
    unknown = [p for p in listed if p not in partitions]
    if unknown:
        which = (f"{unknown[0]!r}, which is not a partition" if len(unknown) == 1
                 else f"{', '.join(map(repr, unknown))}, which are not partitions")
        raise ClusterConfigError(
            f"{where} slurm_partition {partition!r} names {which} of this cluster "
            f"(sinfo lists: {', '.join(sorted(partitions)) or 'none'}); partitions with GPUs: {gpu_partitions}")
    if device == "cpu":
        return  # a CPU-only cluster (device: cpu in the config): any partition, no GPU needed
    if not gpu:
        raise ClusterConfigError(
            f"{where} asks for no GPU (neither gpu: 1 nor gres: gpu:...), but the job trains with device "
            f"{device}; expected gpu: 1 (or gres: \"gpu:<type>:1\"), or device: cpu in the config for a "
            "cluster without GPUs")
    without = [p for p in listed if not has_gpus(partitions[p])]
    if without:
        gres = ", ".join(f"{p}: {partitions[p]}" for p in without)
        raise ClusterConfigError(
            f"{where} slurm_partition {partition!r} names {', '.join(map(repr, without))}, whose nodes have no "
            f"GPUs (sinfo GRES: {gres}); expected a partition with GPUs: {gpu_partitions} (each one of a list: "
            "the job may start in any of them)")
