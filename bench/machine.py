"""What every benchmark measures the machine by: its fp32 matmul peak through torch."""

from __future__ import annotations

import time

import torch


def timed(call) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def matmul_peak(size: int = 2048, repeats: int = 10) -> float:
    """Best fp32 GFLOP/s of a square matmul on all of torch's threads."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    torch.mm(a, b)
    best = min(timed(lambda: torch.mm(a, b)) for _ in range(repeats))
    return 2 * size**3 / best / 1e9
