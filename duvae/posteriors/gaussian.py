r"""The diagonal Gaussian posterior and the plain Gaussian head (vanilla VAE, paper eq. 1).

A classic VAE encoder ends in a linear map to the mean and the log-variance of a
diagonal Gaussian,

.. math::
    [m, l] = W f, \qquad q_\phi(z|x) = \mathcal{N}(z; m, \mathrm{diag}(\sigma^2)),
    \qquad \sigma^2 = \exp(l) \;(+\,\alpha),

whose KL to the prior :math:`p(z) = \mathcal{N}(0, I)` is analytic, one term per dimension:

.. math::
    D_{KL}[q \,\|\, p]_d = \tfrac12 (\mu_d^2 + \sigma_d^2 - \log \sigma_d^2 - 1).

The optional floor :math:`\alpha = \text{delta\_rate} / (2 \pi e)` is the paper's zero-entropy
noise (section 3.1: :math:`z + \epsilon`, :math:`\epsilon \sim \mathcal{N}(0, \alpha)`, so that
:math:`H(q) > 0`); the official code adds it to the variance (docs/implementation.md §1.1, step 4;
§1.3, item 2) and, in the DU heads, only once the KL annealing weight has reached 1 (docs/implementation.md §1.3, item 1).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.distributions import Independent, Normal

from duvae.theory import prior_kl


def variance_floor(delta_rate: float) -> float:
    r""":math:`\alpha = \text{delta\_rate} / (2 \pi e)` (the paper, Section 3.1; docs/implementation.md §1.2).

    ``delta_rate = 1`` (all the paper's runs) gives ``alpha = 0.0585498``, the variance of a
    Gaussian with zero differential entropy. ``delta_rate = 0`` means no floor.
    """
    if not (delta_rate >= 0 and math.isfinite(delta_rate)):
        raise ValueError(f"delta_rate must be a finite number >= 0, got {delta_rate}")
    return delta_rate / (2 * math.pi * math.e)


def check_kl_weight(kl_weight: float) -> float:
    """Refuse a KL weight that is negative or not finite (the heads compare it with 1)."""
    kl_weight = float(kl_weight)
    if not (kl_weight >= 0 and math.isfinite(kl_weight)):
        raise ValueError(f"kl_weight must be a finite number >= 0, got {kl_weight}")
    return kl_weight


def check_nz(nz: int) -> int:
    if isinstance(nz, bool) or int(nz) != nz or nz < 1:
        raise ValueError(f"nz must be an integer >= 1, got {nz}")
    return int(nz)


def check_in_features(in_features: int) -> int:
    if isinstance(in_features, bool) or int(in_features) != in_features or in_features < 1:
        raise ValueError(f"in_features must be an integer >= 1, got {in_features}")
    return int(in_features)


class DiagGaussian(Independent):
    r""":math:`\mathcal{N}(\mu, \mathrm{diag}(\sigma^2))`: batch shape ``[B]``, event shape ``[nz]``.

    A thin :class:`torch.distributions.Independent` over :class:`Normal`, so ``rsample``,
    ``log_prob``, ``entropy`` and ``torch.distributions.kl_divergence(q, prior)`` all work as
    usual. It keeps the variance itself (``.var``, not re-squared from the std) and adds:

    - ``.mu`` ``[B, nz]`` and ``.var`` ``[B, nz]``;
    - ``kl_per_dim()`` ``[B, nz]``: the analytic KL to :math:`\mathcal{N}(0, I)` per dimension;
    - ``.base``: the distribution itself, so that metrics can read ``q.base.mu`` and
      ``q.base.var`` for this posterior and for the IAF one (whose ``.base`` is its
      :math:`z^0` Gaussian) alike;
    - ``rsample_and_log_prob(sample_shape)``, the same call the IAF posterior offers.
    """

    def __init__(self, mu: torch.Tensor, var: torch.Tensor, validate_args: bool | None = None):
        if mu.shape != var.shape:
            raise ValueError(f"mu and var must have the same shape, got {tuple(mu.shape)} and {tuple(var.shape)}")
        if mu.dim() < 1:
            raise ValueError(f"mu must have at least one (event) dimension, got shape {tuple(mu.shape)}")
        self._var = var
        super().__init__(Normal(mu, var.sqrt(), validate_args=validate_args), 1, validate_args=validate_args)

    @property
    def mu(self) -> torch.Tensor:
        """Means, ``[B, nz]``."""
        return self.base_dist.loc

    @property
    def var(self) -> torch.Tensor:
        """Variances, ``[B, nz]``."""
        return self._var

    @property
    def base(self) -> "DiagGaussian":
        """The Gaussian itself (the IAF posterior returns its :math:`z^0` Gaussian here)."""
        return self

    def kl_per_dim(self) -> torch.Tensor:
        r""":math:`\tfrac12(\mu^2 + \sigma^2 - \log\sigma^2 - 1)`, ``[B, nz]`` (KL to N(0, I) per dimension)."""
        return prior_kl(self.mu, self.var)

    def rsample_and_log_prob(
        self, sample_shape: torch.Size | tuple = torch.Size(), generator: torch.Generator | None = None,
        eps: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        r"""Reparameterised :math:`z = \mu + \sigma \epsilon` ``[*S, B, nz]`` and :math:`\log q(z)` ``[*S, B]``.

        ``eps`` (standard normal noise ``[*S, B, nz]``) replaces the draw when given.
        """
        shape = torch.Size(sample_shape) + self.mu.shape
        if eps is None:
            eps = torch.randn(shape, dtype=self.mu.dtype, device=self.mu.device, generator=generator)
        z = self.mu + self.var.sqrt() * eps
        # log N(z; mu, var) summed over d, written with eps to avoid (z - mu)^2 / var round-off.
        log_q = (-0.5 * (eps.pow(2) + self.var.log() + math.log(2 * math.pi))).sum(-1)
        return z, log_q

    def expand(self, batch_shape, _instance=None) -> "DiagGaussian":
        shape = torch.Size(batch_shape) + self.event_shape
        return DiagGaussian(self.mu.expand(shape), self.var.expand(shape), validate_args=False)


class GaussianHead(nn.Module):
    r"""Plain Gaussian posterior head: :math:`[m, l] = W f`, :math:`\sigma^2 = \exp(l)\;(+\,\alpha)`.

    Args:
        in_features: size of the encoder feature ``f`` ``[B, in_features]``.
        nz: latent size.
        bias: whether the linear map has a bias (official text heads: no; image heads: yes).
        delta_rate: floor :math:`\alpha = \text{delta\_rate}/(2\pi e)` on the variance; ``0``
            (the vanilla VAE) means no floor.
        floor_after_annealing: with a floor, add it only once ``kl_weight >= 1`` (the DU
            convention, docs/implementation.md §1.3, item 1); ``False`` adds it from the first step (the official
            plain ``LSTMEncoder``, docs/implementation.md §5.12).

    ``head(f, kl_weight=1.0)`` returns a :class:`DiagGaussian` with batch shape ``[B]``.
    """

    def __init__(
        self,
        in_features: int,
        nz: int,
        bias: bool = True,
        delta_rate: float = 0.0,
        floor_after_annealing: bool = True,
    ):
        super().__init__()
        self.in_features = check_in_features(in_features)
        self.nz = check_nz(nz)
        self.delta_rate = float(delta_rate)
        self.alpha = variance_floor(delta_rate)
        self.floor_after_annealing = bool(floor_after_annealing)
        self.linear = nn.Linear(self.in_features, 2 * self.nz, bias=bias)

    def forward(self, f: torch.Tensor, kl_weight: float = 1.0) -> DiagGaussian:
        kl_weight = check_kl_weight(kl_weight)
        m, l = self.linear(f).chunk(2, dim=-1)  # [B, nz] each
        var = l.exp()  # sigma^2 = exp(l)
        if self.alpha > 0 and (kl_weight >= 1.0 or not self.floor_after_annealing):
            var = var + self.alpha  # variance floor (docs/implementation.md §1.1, step 4)
        return DiagGaussian(m, var)

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, nz={self.nz}, delta_rate={self.delta_rate}, "
            f"floor_after_annealing={self.floor_after_annealing}"
        )
