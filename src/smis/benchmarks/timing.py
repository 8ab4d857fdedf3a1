"""Timing for the benchmark commands: the median wall time of repeated calls."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import torch


def median_ms(call: Callable[[], object], repeats: int, device: torch.device) -> float:
    """The median of `repeats` calls of `call`, in milliseconds. On CUDA each call is timed from a
    synchronised start until its kernels have finished (not only until they were launched)."""
    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    times = []
    for _ in range(repeats):
        sync()
        start = time.perf_counter()
        call()
        sync()
        times.append(1000 * (time.perf_counter() - start))
    return statistics.median(times)
