r"""The DU-VAE posterior head: BN on the means, dropout on the variances (the paper, Sections 3.2-3.3, Alg. 1; docs/implementation.md §1.1).

Per mini-batch, with ``f`` the encoder feature ``[B, in_features]`` (docs/implementation.md §1.1, steps 1-7):

1. :math:`[m, l] = W f` (``l`` a raw log-variance);
2. rescale the BN scales to root-mean-square :math:`\gamma` (Alg. 1 line 9, :func:`duvae.theory.renormalise_scales`);
3. :math:`\hat\mu = \mathrm{BN}_{\gamma_\mu, \beta_\mu}(m)` (eq. 9, :class:`BatchNormMean`, which calls
   :func:`duvae.theory.batchnorm_means`);
4. variance floor :math:`\sigma^2 = \exp(l) + \alpha`, :math:`\alpha = \text{delta\_rate}/(2\pi e)` (section 3.1);
5. dropout on the variance excess, training only (eq. 6, :func:`duvae.theory.variance_dropout`)

   .. math::
       \hat\sigma^2_{x,d} = g_{x,d}(\sigma^2_{x,d} - \alpha) + \alpha, \qquad
       g_{x,d} \sim \tfrac{1}{p}\,\mathrm{Bernoulli}(p) \text{ i.i.d. per example and dimension},

   which keeps the mean variance, :math:`\mathbb{E}_g[\hat\sigma^2] = \sigma^2` (Proposition 1, eq. 7),
   and never goes below :math:`\alpha`;
6.-7. :math:`q(z|x) = \mathcal{N}(\hat\mu, \hat\sigma^2)`; sampling and the analytic KL use
   :math:`\hat\mu` and :math:`\hat\sigma^2`.

When the floor and the dropout switch on:

- ``switch_on_after_annealing=True`` — **the official code** (docs/implementation.md §1.3, item 1, the ``paper``
  default): both only once the annealed KL weight has reached 1; during annealing the head is a
  BN VAE with learnable renormalised scales, :math:`\sigma^2 = \exp(l)`.
- ``switch_on_after_annealing=False`` — **the paper's Algorithm 1**: both from the first step.

``p_keep = 1`` means no dropout (the floor and the learnable BN stay).
"""

from __future__ import annotations


import torch
from torch import nn

from duvae.posteriors.batchnorm import BatchNormMean, check_gamma
from duvae.posteriors.gaussian import (
    DiagGaussian,
    check_in_features,
    check_kl_weight,
    check_nz,
    variance_floor,
)
from duvae.theory import check_p_keep, variance_dropout  # eq. 6 has one implementation, in duvae.theory


class DUHead(nn.Module):
    r"""DU-VAE head: ``f [B, in_features] -> q(z|x) = N(mu_hat, var_hat)`` (docs/implementation.md §1.1, steps 1-7).

    Args:
        in_features: size of the encoder feature.
        nz: latent size.
        gamma: target RMS :math:`\gamma > 0` of the BN scales.
        p_keep: keep probability :math:`p \in (0, 1]` of the variance dropout (the code's
            ``1 - p_drop``).
        bias: bias of the linear map (official text head: no; image head: yes).
        delta_rate: multiplier of :math:`\alpha = 1/(2\pi e)` (1 in all the paper's runs). Must be
            ``> 0`` when ``p_keep < 1``: dropout without a floor can zero a variance (docs/implementation.md §8.1).
        switch_on_after_annealing: ``True`` = official code (floor and dropout only once
            ``kl_weight >= 1``), ``False`` = paper's Algorithm 1 (from the start).
        bn_eps: BN epsilon.
    """

    def __init__(
        self,
        in_features: int,
        nz: int,
        gamma: float,
        p_keep: float,
        bias: bool = True,
        delta_rate: float = 1.0,
        switch_on_after_annealing: bool = True,
        bn_eps: float = 1e-5,
    ):
        super().__init__()
        self.in_features = check_in_features(in_features)
        self.nz = check_nz(nz)
        self.gamma = check_gamma(gamma)
        self.p_keep = check_p_keep(p_keep)
        self.delta_rate = float(delta_rate)
        self.alpha = variance_floor(delta_rate)
        if self.p_keep < 1 and self.alpha == 0:
            raise ValueError(
                f"p_keep={self.p_keep} < 1 needs a variance floor, but delta_rate={delta_rate}: "
                "dropout without the floor can set a variance to 0 (docs/implementation.md §8.1)"
            )
        self.switch_on_after_annealing = bool(switch_on_after_annealing)
        self.linear = nn.Linear(self.in_features, 2 * self.nz, bias=bias)
        self.bn = BatchNormMean(self.nz, self.gamma, learnable_scale=True, eps=bn_eps)

    def switched_on(self, kl_weight: float = 1.0) -> bool:
        """Whether the floor (and, in training, the dropout) is active at this KL weight."""
        return check_kl_weight(kl_weight) >= 1.0 or not self.switch_on_after_annealing

    def moments(
        self, f: torch.Tensor, kl_weight: float = 1.0, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        r"""``(mu_hat, var, var_hat)``, each ``[B, nz]``: BN'd means, floored variances, dropped-out variances.

        ``var_hat is var`` whenever no dropout happens (evaluation, before the switch-on, ``p_keep = 1``).
        """
        m, l = self.linear(f).chunk(2, dim=-1)  # step 1: [m, l] = W f
        mu_hat = self.bn(m)  # steps 2-3: renormalise the scales, eq. 9
        excess = l.exp()
        on = self.switched_on(kl_weight)
        alpha = self.alpha if on else 0.0
        var = excess + alpha  # step 4: sigma^2 = exp(l) + alpha
        if on and self.training and self.p_keep < 1:
            var_hat = variance_dropout(excess, self.p_keep, alpha, generator)  # step 5, eq. 6
        else:
            var_hat = var
        return mu_hat, var, var_hat

    def forward(
        self, f: torch.Tensor, kl_weight: float = 1.0, generator: torch.Generator | None = None
    ) -> DiagGaussian:
        mu_hat, _, var_hat = self.moments(f, kl_weight, generator)
        return DiagGaussian(mu_hat, var_hat)  # steps 6-7

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, nz={self.nz}, gamma={self.gamma}, p_keep={self.p_keep}, "
            f"delta_rate={self.delta_rate}, switch_on_after_annealing={self.switch_on_after_annealing}"
        )
