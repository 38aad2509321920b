r"""The VAE container: encoder backbone, posterior head, decoder, prior.

A VAE here is three small parts glued together (paper eq. 1):

.. math::
    \mathcal{L}(x) = \mathbb{E}_{q_\phi(z|x)}[\log p_\theta(x|z)] - D_{KL}[q_\phi(z|x) \| p(z)]

- ``encoder``: a backbone network, ``x -> f`` with ``f`` of shape ``[batch, features]``
  (LSTM for text, ResNet for images; :mod:`duvae.nets`);
- ``head``: a posterior head, ``(f, kl_weight) -> q(z|x)``, a ``torch.distributions``
  object with batch shape ``[batch]`` and event shape ``[nz]`` (:mod:`duvae.posteriors`);
  the remedies that act on the posterior's parameters (BN on the means, dropout on the
  variances, the variance floor, delta-VAE's bounded variance, the IAF chain) live here;
- ``decoder``: ``log_likelihood(x, z) -> [S, batch]`` for ``z`` of shape ``[S, batch, nz]``
  (LSTM or PixelCNN; :mod:`duvae.nets`);
- ``prior``: the standard normal :math:`p(z) = \mathcal{N}(0, I)`, event shape ``[nz]``.

This is the *model protocol* every metric in :mod:`duvae.metrics` relies on:
``model.posterior(x)``, ``model.prior`` and ``model.log_likelihood(x, z)``. The remedies that act
on the objective or on the optimisation (annealing, beta, free bits, MAE, SA-VAE, Agg-VAE) are
in :mod:`duvae.objectives` and :mod:`duvae.runs.trainer`.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.distributions import Distribution, Independent, Normal

from duvae.bf16 import float32_region


class VAE(nn.Module):
    """``encoder`` -> ``head`` -> ``q(z|x)``; ``decoder`` gives ``log p(x|z)``; prior ``N(0, I)``."""

    def __init__(self, encoder: nn.Module, head: nn.Module, decoder: nn.Module, nz: int):
        super().__init__()
        if nz < 1:
            raise ValueError(f"nz must be >= 1, got {nz}")
        self.encoder = encoder
        self.head = head
        self.decoder = decoder
        self.nz = nz
        # Buffers, so that ``.to(device)`` moves the prior with the model.
        self.register_buffer("prior_loc", torch.zeros(nz))
        self.register_buffer("prior_scale", torch.ones(nz))

    @property
    def prior(self) -> Distribution:
        """:math:`p(z) = \\mathcal{N}(0, I)`, event shape ``[nz]``."""
        return Independent(Normal(self.prior_loc, self.prior_scale), 1)

    def posterior(self, x: torch.Tensor, kl_weight: float = 1.0) -> Distribution:
        """:math:`q_\\phi(z|x)`: batch shape ``[batch]``, event shape ``[nz]``.

        ``kl_weight`` is the current annealed KL weight; heads that follow the official code
        switch their variance floor and dropout on only once it has reached 1 (docs/implementation.md §1.3, item 1).
        At evaluation it is 1, so the posterior is the test-time one.
        """
        f = self.encoder(x)
        with float32_region(f.device):  # the head, its variances and KL stay float32 (duvae.bf16)
            return self.head(f.float(), kl_weight=kl_weight)

    def log_likelihood(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """:math:`\\log p_\\theta(x|z)` of shape ``[S, batch]`` for ``z`` of shape ``[S, batch, nz]``."""
        return self.decoder.log_likelihood(x, z)
