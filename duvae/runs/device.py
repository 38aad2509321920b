"""Where computations run, and how runs are made repeatable.

``pick_device`` returns CUDA when a GPU is present and the CPU otherwise; every other module
takes the device it is given, so the same code path runs on both.
"""

from __future__ import annotations

import os
import random

import numpy as np
import torch


def pick_device(device: str | torch.device | None = None) -> torch.device:
    """Resolve a device request.

    ``None`` or ``"auto"`` picks ``cuda`` when available, else ``cpu``; an explicit
    ``"cuda"`` on a machine without a GPU raises a clear error instead of failing later.
    """
    if device is None or str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(
            "device='cuda' was requested but torch sees no GPU; use device='auto' or 'cpu'."
        )
    return device


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch (CPU and CUDA); return a fresh CPU generator with ``seed``."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    os.environ.setdefault("PYTHONHASHSEED", str(seed))
    return torch.Generator().manual_seed(seed)
