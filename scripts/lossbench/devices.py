"""Which device a run uses, its name for the record, and the synchronisation timings need."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import torch

from .cluster import usable_cores

# The oldest NVIDIA driver each CUDA major version's runtime runs on (CUDA minor-version compatibility:
# NVIDIA's CUDA Toolkit release notes, table 3). torch's wheels bring their own runtime; the driver is the node's.
DRIVER_FLOOR = {13: 580, 12: 525, 11: 450}
NO_DRIVER = "no NVIDIA driver found"


def resolve_device(name: str) -> torch.device:
    """``auto``: CUDA when there is a GPU, else the CPU; any other name as torch spells it."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    check_visible(name)
    return torch.device(name)


def check_visible(name: str) -> None:
    """Refuse ``cuda`` / ``cuda:N`` when this process sees no such GPU, saying where it looked.

    Checked when a run starts, not when the config is read: a cluster's submit host often has
    no GPU while its compute nodes do.
    """
    from .config import ConfigError

    if not name.startswith("cuda"):
        return
    visible = torch.cuda.device_count() if torch.cuda.is_available() else 0
    index = int(name.partition(":")[2] or 0)
    if index < visible:
        return
    import socket

    raise ConfigError(unavailable_message(
        name, visible, host=socket.gethostname(), cuda_visible_devices=os.environ.get("CUDA_VISIBLE_DEVICES"),
        slurm_job=os.environ.get("SLURM_JOB_ID"), slurm_partition=os.environ.get("SLURM_JOB_PARTITION"),
        driver=driver_version() if visible == 0 else None, torch_version=torch.__version__,
        torch_cuda=torch.version.cuda))


def unavailable_message(name: str, visible: int, *, host: str, cuda_visible_devices: str | None,
                        slurm_job: str | None, slurm_partition: str | None, driver: str | None, torch_version: str,
                        torch_cuda: str | None) -> str:
    """Why ``device: name`` cannot be had, from what this process found: where it looked, the torch build,
    the NVIDIA driver (when no GPU is visible), and what to do; the driver named as the cause when it is."""
    where = (f"host {host}, CUDA_VISIBLE_DEVICES={cuda_visible_devices!r}" if cuda_visible_devices is not None
             else f"host {host}, CUDA_VISIBLE_DEVICES unset")
    build = f"torch {torch_version}, built for CUDA {torch_cuda}" if torch_cuda else (
        f"torch {torch_version}, built without CUDA")
    found = ("no CUDA GPU is visible" if visible == 0
             else f"only {visible} CUDA GPU(s) are visible (cuda:0 .. cuda:{visible - 1})")
    cause = None
    if visible == 0:  # the driver, and whether it is the cause: the usual failure of a first run on a cluster
        build += f"; NVIDIA driver {driver}" if driver else f"; {NO_DRIVER}"
        cause = driver_cause(driver, torch_cuda, torch_version)
    if slurm_job:  # under the SLURM profile device auto means cuda: say which job and where it ran
        where += f"; SLURM job {slurm_job}, partition {slurm_partition or '?'}"
        advice = ("on a SLURM cluster device auto means cuda, so a training job without a GPU fails instead "
                  "of training on CPU: give the job a GPU (gpu: 1 or gres: and a GPU partition under "
                  "set-resources in the profile), or set device: cpu for a cluster without GPUs")
    else:
        advice = "use device auto (CUDA when present, else CPU) or cpu, or run where a GPU is visible"
    return f"device: {name} asked for, but {found} ({where}; {build}); {cause or advice}"


def driver_version() -> str | None:
    """The NVIDIA driver's version (e.g. "570.124.06"): from nvidia-smi, else /proc/driver/nvidia/version;
    None when neither says (no NVIDIA driver on this machine)."""
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=30)
        versions = out.stdout.split()
        if out.returncode == 0 and versions:
            return versions[0]
    except (OSError, subprocess.SubprocessError):
        pass
    try:
        return parse_proc_driver_version(Path("/proc/driver/nvidia/version").read_text())
    except OSError:
        return None


def parse_proc_driver_version(text: str) -> str | None:
    """``NVRM version: NVIDIA UNIX x86_64 Kernel Module  570.124.06  ...`` (or ``... Open Kernel Module for
    x86_64  580.65.06 ...``) -> the version; None when the text holds none."""
    found = re.search(r"Kernel Module(?: for \S+)?\s+(\d+(?:\.\d+)+)", text)
    return found[1] if found else None


def driver_cause(driver: str | None, torch_cuda: str | None, torch_version: str) -> str | None:
    """Why CUDA is unavailable when the cause is the driver or the torch build, else None (then the GPU is
    not given to the process: CUDA_VISIBLE_DEVICES, the job's GPU request). Says what to do."""
    if not torch_cuda:
        return (f"torch {torch_version} is a CPU-only build: install a CUDA build of torch (docs/slurm.md, "
                "'GPU: driver and torch build')")
    if driver is None:
        return None  # no driver here: a node without GPUs, or a job not given one; the caller's advice says so
    major = int(torch_cuda.split(".")[0])
    floor = DRIVER_FLOOR.get(major)
    try:
        installed = int(driver.split(".")[0])
    except ValueError:
        return None
    if floor is None or installed >= floor:
        return None
    return (f"the NVIDIA driver is the cause: torch {torch_version} is built for CUDA {torch_cuda}, which needs "
            f"driver {floor} or newer, and this node has {driver}. Install a torch build for an older CUDA "
            "(e.g. pip install torch --index-url https://download.pytorch.org/whl/cu126 for a driver >= 525; "
            "docs/slurm.md, 'GPU: driver and torch build') or run on nodes with a newer driver")


def job_cores() -> int:
    """The cores this process may run on (a SLURM job's or a cgroup's, not the node's): ``cluster.usable_cores``."""
    return usable_cores()


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu ({job_cores()} cores, {torch.get_num_threads()} threads)"


def sync(device: torch.device) -> None:
    """Wait for queued GPU work, so a clock read after it measures the work (no-op on CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
