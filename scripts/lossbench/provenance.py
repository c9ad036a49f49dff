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


# The columns of Snakemake's benchmark files (its `benchmark:` directive), which benchmarks/ keeps
BENCHMARK_COLUMNS = ("s", "h:m:s", "max_rss", "max_vms", "max_uss", "max_pss", "io_in", "io_out", "mean_load",
                     "cpu_time")


def benchmark_row() -> dict:
    """This process's record so far, as a Snakemake benchmark row: wall seconds since it started
    (``process_start_time``), its peak resident and virtual memory in MiB (the kernel's VmHWM and VmPeak),
    MiB read and written (/proc/self/io), CPU seconds (user + system, its own and its children's) and their
    mean load (CPU over wall, in %). ``max_uss``/``max_pss`` are NA: they need a walk of the process's
    memory maps, what makes Snakemake's sampling of a torch process costly. Off Linux: the peak RSS from
    getrusage, the rest NA."""
    import resource

    seconds = max(time.time() - process_start_time(), 1e-9)
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime
    mib = 1024 * 1024
    # ru_maxrss: kilobytes on Linux, bytes on macOS
    row = {"max_rss": own.ru_maxrss * (1 if sys.platform == "darwin" else 1024) / mib, "max_vms": "NA",
           "io_in": "NA", "io_out": "NA"}
    try:
        status = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines() if ":" in line)
        row.update(max_rss=int(status["VmHWM"].split()[0]) / 1024, max_vms=int(status["VmPeak"].split()[0]) / 1024)
        io = dict(line.split(": ") for line in Path("/proc/self/io").read_text().splitlines())
        row.update(io_in=int(io["read_bytes"]) / mib, io_out=int(io["write_bytes"]) / mib)
    except (OSError, KeyError, ValueError):
        pass
    whole = int(seconds)
    return {"s": seconds, "h:m:s": f"{whole // 3600}:{whole // 60 % 60:02d}:{whole % 60:02d}", **row,
            "max_uss": "NA", "max_pss": "NA", "mean_load": 100 * cpu / seconds, "cpu_time": cpu}


def write_benchmark(path: str | os.PathLike) -> None:
    """``benchmark_row`` as a Snakemake benchmark file (a header and one row, tab-separated), written whole."""
    from .atomic import atomic_path

    row = benchmark_row()
    text = "\t".join(BENCHMARK_COLUMNS) + "\n" + "\t".join(
        f"{row[c]:.2f}" if isinstance(row[c], float) else str(row[c]) for c in BENCHMARK_COLUMNS) + "\n"
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        Path(tmp).write_text(text)


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
