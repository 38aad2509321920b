r"""The precision switch: ``"fp32"`` (default, bit-reproducible) or ``"bf16"``.

Under ``"bf16"`` the matrix products of the networks (LSTM, linear and convolution layers, the
output layer of the text decoder) run in bfloat16 through :func:`torch.autocast`, on the CPU and
on CUDA alike. Everything that sums many terms or is sensitive to rounding stays in float32:
the posterior head and its KL (:meth:`duvae.vae.VAE.posterior` runs the head outside autocast),
the IAF flow and its log-determinant, the log-softmax / logsumexp of the likelihoods
(:mod:`duvae.nets.fused_softmax`, the PixelCNN's Bernoulli log-likelihood), the importance
weights and their logsumexp (:func:`duvae.metrics.iw_nll`), and the optimiser (weights and
gradients are float32 tensors; bfloat16 needs no loss scaling).

``"fp32"`` disables autocast explicitly, so a block that asks for fp32 gets fp32 even inside a
caller's bf16 region.
"""

from __future__ import annotations

import contextlib

import torch

PRECISIONS = ("fp32", "bf16")


def check_precision(precision: str) -> str:
    """Return ``precision`` if it is ``"fp32"`` or ``"bf16"``, else raise a ``ValueError``."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; choose one of {PRECISIONS}")
    return precision


def autocast(precision: str, device: torch.device | str):
    """A context manager that runs the networks' matrix products in ``precision`` on ``device``."""
    check_precision(precision)
    device_type = torch.device(device).type
    if device_type not in ("cpu", "cuda"):
        return contextlib.nullcontext()
    return torch.autocast(device_type, dtype=torch.bfloat16, enabled=precision == "bf16")


def float32_region(device: torch.device | str):
    """Autocast switched off: the block computes in float32 whatever the caller's precision."""
    device_type = torch.device(device).type
    if device_type not in ("cpu", "cuda"):
        return contextlib.nullcontext()
    return torch.autocast(device_type, enabled=False)


def matmul_dtype(device: torch.device | str) -> torch.dtype:
    """The dtype matrix products use right now on ``device``: bfloat16 inside a bf16 region, else float32."""
    device_type = torch.device(device).type
    if device_type in ("cpu", "cuda") and torch.is_autocast_enabled(device_type):
        return torch.get_autocast_dtype(device_type)
    return torch.float32
