"""Where a result came from: versions, commit, device, host, process start time.

Kept free of heavy imports: the train command calls it on its start-up path.
"""

from __future__ import annotations

import os
import platform
import socket
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

_IMPORTED_AT = time.time()


def process_start_time() -> float:
    """Wall-clock time (epoch seconds) at which this process started.

    Linux: from /proc (start ticks since boot + boot time), so interpreter start-up and
    imports count. Elsewhere: when this module was imported (an underestimate).
    """
    try:
        stat = Path(f"/proc/{os.getpid()}/stat").read_text()
        start_ticks = int(stat.rsplit(")", 1)[1].split()[19])
        boot = next(
            float(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines() if line.startswith("btime")
        )
        return boot + start_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return _IMPORTED_AT


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(
            ["git", "-C", str(Path(__file__).resolve().parent), *args],
            capture_output=True, text=True, timeout=10, check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def cublas_version() -> str | None:
    """The cuBLAS this process loaded (asked of the library itself, found in /proc/self/maps), else the
    version of the nvidia-cublas wheel installed; None when neither is known (no CUDA here)."""
    import ctypes

    try:
        maps = Path("/proc/self/maps").read_text()
        path = next(line.split()[-1] for line in maps.splitlines() if "/libcublas.so" in line)
        lib = ctypes.CDLL(path)
        parts = []
        for prop in range(3):  # MAJOR_VERSION, MINOR_VERSION, PATCH_LEVEL
            value = ctypes.c_int()
            if lib.cublasGetProperty(prop, ctypes.byref(value)) != 0:
                raise OSError("cublasGetProperty failed")
            parts.append(str(value.value))
        return ".".join(parts)
    except (OSError, StopIteration, AttributeError):
        pass
    return next((v for v in map(_version, ("nvidia-cublas", "nvidia-cublas-cu13", "nvidia-cublas-cu12")) if v), None)


def numerics(device) -> dict:
    """What decides a run's arithmetic besides the code and the versions above (docs/determinism.md: bit-identity holds
    on the same device, driver, CUDA, cuBLAS, determinism and matmul precision). The CUDA fields are null on
    CPU; deterministic mode and float32 matmul precision are recorded on every device."""
    import torch

    from .devices import driver_version

    cuda = getattr(device, "type", None) == "cuda"
    capability = torch.cuda.get_device_capability(device) if cuda else None
    return {
        "cuda_runtime": torch.version.cuda if cuda else None,
        "cuda_driver": driver_version() if cuda else None,
        "cublas": cublas_version() if cuda else None,
        "compute_capability": f"{capability[0]}.{capability[1]}" if capability else None,
        "cublas_workspace_config": os.environ.get("CUBLAS_WORKSPACE_CONFIG") if cuda else None,
        "deterministic": torch.are_deterministic_algorithms_enabled(),
        "matmul_precision": torch.get_float32_matmul_precision(),
    }


def collect(device_name: str, device=None) -> dict:
    """Provenance record for one run; importing torchvision is avoided (metadata only). With ``device``
    (a torch.device), also ``numerics(device)``."""
    status = _git("status", "--porcelain", "--untracked-files=no")
    return {
        "git_commit": _git("rev-parse", "HEAD"),
        "git_dirty": bool(status) if status is not None else None,
        "python": platform.python_version(),
        "torch": _version("torch"),
        "torchvision": _version("torchvision"),
        "lossbench": _version("lossbench"),
        "device_name": device_name,
        "cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "platform": platform.platform(),
        "argv": sys.argv,
        **(numerics(device) if device is not None else {}),
    }
