"""Shared pieces of the benchmarks: this machine's matmul rates, a timer, the CPU's name.

Every benchmark measures the fp32 and bf16 rates of a large square matmul *in the same run* and
reports its hot paths as fractions of them, because timings on a shared 2-core machine drift from
run to run; compare ratios, not seconds, across runs.
"""

from __future__ import annotations

import statistics
import time

import torch
from torch import nn

from duvae.objectives import training_loss
from duvae.bf16 import autocast
from duvae.runs.results import cpu_model


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


def time_training(model, cfg, batches, precision: str, device, optimizer: str = "sgd", clip: float | None = 5.0):
    """Median seconds of one optimiser step (loss, backward, optional clip, step) over ``batches``.

    The first step warms up and is not counted; a tiny learning rate keeps the weights nearly fixed.
    """
    params = list(model.parameters())
    opt = torch.optim.SGD(params, lr=1e-6) if optimizer == "sgd" else torch.optim.Adam(params, lr=1e-6)
    model.train()
    times = []
    for i, x in enumerate(batches):
        sync(device)
        start = time.perf_counter()
        with autocast(precision, device):
            loss = training_loss(model, x, 1.0, cfg.model).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if clip is not None:
            nn.utils.clip_grad_norm_(params, clip)
        opt.step()
        sync(device)
        if i > 0:
            times.append(time.perf_counter() - start)
    return statistics.median(times)
