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


def collect(device_name: str) -> dict:
    """Provenance record for one run; importing torchvision is avoided (metadata only)."""
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
    }
