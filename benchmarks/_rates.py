"""Shared pieces of the benchmarks: this machine's matmul rates, a timer, the CPU's name.

Every benchmark measures the fp32 and bf16 rates of a large square matmul *in the same run* and
reports its hot paths as fractions of them, because timings on a shared 2-core machine drift from
run to run; compare ratios, not seconds, across runs.
"""

from __future__ import annotations

import platform
import statistics
import time

import torch


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``), or the platform's processor string."""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def matmul_rate(dtype: torch.dtype, device: torch.device, n: int = 2048, repeats: int = 10) -> float:
    """GFLOP/s of an ``n x n`` matmul in ``dtype`` (median of ``repeats`` timed products)."""
    a = torch.randn(n, n, device=device).to(dtype)
    b = torch.randn(n, n, device=device).to(dtype)
    a @ b
    times = []
    for _ in range(repeats):
        sync(device)
        start = time.perf_counter()
        a @ b
        sync(device)
        times.append(time.perf_counter() - start)
    return 2 * n**3 / statistics.median(times) / 1e9


def header(device: torch.device) -> tuple[float, float]:
    """Print the machine line and return the ``(fp32, bf16)`` matmul GFLOP/s of this run."""
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_model()
    fp32 = matmul_rate(torch.float32, device)
    bf16 = matmul_rate(torch.bfloat16, device)
    print(f"device {device} ({name}), torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"matmul 2048^2: fp32 {fp32:.0f} GFLOP/s, bf16 {bf16:.0f} GFLOP/s")
    return fp32, bf16
