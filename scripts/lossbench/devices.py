"""Which device a run uses, its name for the record, and the synchronisation timings need."""

from __future__ import annotations

import os

import torch


def resolve_device(name: str) -> torch.device:
    """``auto``: CUDA when there is a GPU, else the CPU; any other name as torch spells it."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu ({os.cpu_count()} cores, {torch.get_num_threads()} threads)"


def sync(device: torch.device) -> None:
    """Wait for queued GPU work, so a clock read after it measures the work (no-op on CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
