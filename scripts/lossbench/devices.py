"""Which device a run uses, its name for the record, and the synchronisation timings need."""

from __future__ import annotations

import os

import torch


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

    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    where = (f"host {socket.gethostname()}, CUDA_VISIBLE_DEVICES={env!r}" if env is not None
             else f"host {socket.gethostname()}, CUDA_VISIBLE_DEVICES unset")
    build = f"torch {torch.__version__}, built for CUDA {torch.version.cuda}" if torch.version.cuda else (
        f"torch {torch.__version__}, built without CUDA")
    found = ("no CUDA GPU is visible" if visible == 0
             else f"only {visible} CUDA GPU(s) are visible (cuda:0 .. cuda:{visible - 1})")
    job = os.environ.get("SLURM_JOB_ID")
    if job:  # under the SLURM profile device auto means cuda: say which job and where it ran
        where += f"; SLURM job {job}, partition {os.environ.get('SLURM_JOB_PARTITION', '?')}"
        advice = ("on a SLURM cluster device auto means cuda, so a training job without a GPU fails instead "
                  "of training on CPU: give the job a GPU (gpu: 1 or gres: and a GPU partition under "
                  "set-resources in the profile), or set device: cpu for a cluster without GPUs")
    else:
        advice = "use device auto (CUDA when present, else CPU) or cpu, or run where a GPU is visible"
    raise ConfigError(f"device: {name} asked for, but {found} ({where}; {build}); {advice}")


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu ({os.cpu_count()} cores, {torch.get_num_threads()} threads)"


def sync(device: torch.device) -> None:
    """Wait for queued GPU work, so a clock read after it measures the work (no-op on CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
