"""Run profiles: how big every experiment is.

Each notebook has a papermill ``parameters`` cell with ``profile`` in {``smoke``, ``cpu``,
``paper``}. The notebook looks its sizes up here, so the shrinking is explicit and in one place:

- ``smoke``: seconds per notebook; CI executes every notebook with it. Numbers are not
  meant to be interpreted, only to prove the code path runs.
- ``cpu``: a real, reduced-scale run that finishes on a 2-core laptop in hours.
- ``paper``: the paper's full configuration (meant for a GPU).
"""

from __future__ import annotations

from dataclasses import dataclass

PROFILES = ("smoke", "cpu", "paper")


@dataclass(frozen=True)
class TheoryProfile:
    """Sizes of the Monte Carlo checks in the theory notebooks (01-03)."""

    mc_samples: int  # Monte Carlo draws per estimate
    n_posteriors: int  # N, the number of posteriors (data points) in a synthetic family
    nz: int  # latent dimensions of the synthetic families
    n_p: int  # keep probabilities p on the sweep grid
    n_repeats: int  # independent repeats, for confidence bands
    bn_steps: int  # optimiser steps in the BN renormalisation demo


THEORY = {
    "smoke": TheoryProfile(mc_samples=2_000, n_posteriors=64, nz=4, n_p=4, n_repeats=3, bn_steps=20),
    "cpu": TheoryProfile(mc_samples=200_000, n_posteriors=512, nz=8, n_p=12, n_repeats=20, bn_steps=500),
    "paper": TheoryProfile(mc_samples=2_000_000, n_posteriors=2048, nz=32, n_p=20, n_repeats=50, bn_steps=2000),
}


def check_profile(profile: str) -> str:
    """Return ``profile`` if it is known, else raise a ``ValueError`` listing the choices."""
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; choose one of {PROFILES}")
    return profile


def theory_profile(profile: str) -> TheoryProfile:
    """Sizes for the theory notebooks under ``profile``."""
    return THEORY[check_profile(profile)]


@dataclass(frozen=True)
class ZooDemoProfile:
    """Sizes of the model walk-through (notebook 04): a few training steps of every model.

    The walk-through shows that each remedy runs and what it does to KL and AU early in training;
    the tables and figures of the paper are produced by the experiment notebooks with the full
    profiles. ``net_profile`` names the network sizes used (see :func:`duvae.runs.zoo.net_config`).
    """

    epochs: int
    steps_per_epoch: int | None
    max_train: int | None
    net_profile: str


ZOO_DEMO = {
    "smoke": ZooDemoProfile(epochs=2, steps_per_epoch=3, max_train=128, net_profile="smoke"),
    "cpu": ZooDemoProfile(epochs=4, steps_per_epoch=30, max_train=3000, net_profile="smoke"),
    "paper": ZooDemoProfile(epochs=5, steps_per_epoch=100, max_train=None, net_profile="cpu"),
}


def zoo_demo_profile(profile: str) -> ZooDemoProfile:
    """Sizes for the model walk-through under ``profile``."""
    return ZOO_DEMO[check_profile(profile)]
