"""The first cell of every theory notebook: sizes, device, seed, plot style, in one call."""

from __future__ import annotations

import torch

from duvae.device import pick_device, seed_everything
from duvae.profiles import TheoryProfile, theory_profile


def theory_setup(profile: str, seed: int, device: str) -> tuple[TheoryProfile, torch.device, torch.Generator]:
    """``(P, dev, gen)``: the profile's Monte Carlo sizes, the device, a generator seeded with ``seed``.

    Also seeds Python / NumPy / torch globally and sets the seaborn style of the figures.
    """
    import seaborn as sns

    P = theory_profile(profile)
    dev = pick_device(device)
    gen = seed_everything(seed)
    sns.set_theme(style="whitegrid")
    return P, dev, gen
