r"""The BN-VAE posterior head (Zhu et al. 2020; docs/implementation.md §5.7).

.. math::
    [m, l] = W f, \qquad \hat\mu = \mathrm{BN}_{\gamma, \beta}(m) \text{ (eq. 9, every scale fixed at } \gamma),
    \qquad \sigma^2 = \exp(l).

Fixing the BN scales keeps :math:`\mathbb{E}_{x}[\hat\mu_{x,d}^2] = \gamma^2 + \beta_d^2 > 0` for every
dimension, a positive lower bound on the expected KL (the paper, Section 3.3, "Connections with BN-VAE").
The shift :math:`\beta` is learnable (init 0); running statistics are used at evaluation. No
variance floor, no dropout: compared with :class:`~duvae.posteriors.du.DUHead` only the BN is
kept, with a fixed instead of a learnable, renormalised scale.
"""

from __future__ import annotations

import torch
from torch import nn

from duvae.posteriors.batchnorm import BatchNormMean, check_gamma
from duvae.posteriors.gaussian import DiagGaussian, check_in_features, check_kl_weight, check_nz


class BNVAEHead(nn.Module):
    r"""BN-VAE head: ``f [B, in_features] -> N(BN_gamma(m), exp(l))`` with the BN scale fixed at ``gamma``.

    ``kl_weight`` is accepted for the common head interface and has no effect.
    """

    def __init__(self, in_features: int, nz: int, gamma: float, bias: bool = True, bn_eps: float = 1e-5):
        super().__init__()
        self.in_features = check_in_features(in_features)
        self.nz = check_nz(nz)
        self.gamma = check_gamma(gamma)
        self.linear = nn.Linear(self.in_features, 2 * self.nz, bias=bias)
        self.bn = BatchNormMean(self.nz, self.gamma, learnable_scale=False, eps=bn_eps)

    def forward(self, f: torch.Tensor, kl_weight: float = 1.0) -> DiagGaussian:
        check_kl_weight(kl_weight)
        m, l = self.linear(f).chunk(2, dim=-1)  # [B, nz] each
        return DiagGaussian(self.bn(m), l.exp())  # eq. 9 with fixed scale; sigma^2 = exp(l)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, nz={self.nz}, gamma={self.gamma}"
