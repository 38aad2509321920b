r"""MAE's two mini-batch regularisers (Ma et al. 2018), with the standard normal prior.

MAE ("mutual posterior-divergence regularisation") rewards posteriors of *different* examples
for being far apart, measured by the KL divergence between them, and asks for those distances
to be spread evenly. The DU-VAE paper runs it with the prior :math:`\mathcal{N}(0, I)` instead
of MAE's autoregressive-flow prior (the paper, Section 4.1, "Baselines"; docs/implementation.md §5.8).

For a mini-batch of diagonal Gaussian posteriors :math:`q_i = \mathcal{N}(\mu_i, \mathrm{diag}\,\sigma^2_i)`,
:math:`i = 1..B`, per dimension :math:`d`:

.. math::
    K_{ij,d} = D_{KL}[q_{i,d} \,\|\, q_{j,d}]
             = \tfrac12 \Big[ \frac{\sigma^2_{i,d}}{\sigma^2_{j,d}}
               + \frac{(\mu_{i,d} - \mu_{j,d})^2}{\sigma^2_{j,d}}
               - \log \frac{\sigma^2_{i,d}}{\sigma^2_{j,d}} - 1 \Big]            \qquad (K)

.. math::
    M_d = \frac{1}{B(B-1)} \sum_{i \ne j} K_{ij,d}
    \qquad \text{(mean over the ordered pairs: the per-dimension MPD)}          \qquad (M)

.. math::
    \text{diversity} = \sum_d -\log \sigma(M_d)                                 \qquad (D)

.. math::
    T_{ij} = \sum_d K_{ij,d} \;(i \ne j), \qquad T_{ii} = \sum_d M_d, \qquad
    \text{smoothness } S = \mathrm{std}_{B^2-1}(T) \sqrt{\frac{B^2 - 1}{B^2 - B - 1}}   \qquad (S)

where :math:`\mathrm{std}_{B^2-1}` is the unbiased standard deviation of the :math:`B^2` entries.
Putting the mean of the off-diagonal entries on the diagonal leaves the sum of squared
deviations unchanged, so :math:`S` is exactly the unbiased standard deviation of the
:math:`B(B-1)` off-diagonal entries :math:`T_{ij}` (the correction factor converts the
denominator :math:`B^2 - 1` into :math:`B^2 - B - 1`).

The MAE loss (docs/implementation.md §5.8) is
:math:`\text{mean rec} + \text{KL} + w_\text{div}\,\text{diversity} + w_\text{smooth}\,S`;
:func:`duvae.objectives.training_loss` assembles it.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from duvae.theory import gaussian_kl


def _check_mu_var(mu: torch.Tensor, var: torch.Tensor) -> int:
    if mu.dim() != 2 or mu.shape != var.shape:
        raise ValueError(
            f"mu and var must both have shape [batch, nz], got {tuple(mu.shape)} and {tuple(var.shape)}"
        )
    return mu.shape[0]


def pairwise_kl(mu: torch.Tensor, var: torch.Tensor) -> torch.Tensor:
    r"""Per-dimension KL between every ordered pair of posteriors, eq. (K).

    Args:
        mu: means ``[B, nz]``.
        var: variances ``[B, nz]`` (positive).

    Returns:
        ``K`` ``[B, B, nz]`` with ``K[i, j, d]`` :math:`= D_{KL}[q_{i,d} \| q_{j,d}]`; the
        diagonal ``K[i, i]`` is zero.
    """
    _check_mu_var(mu, var)
    # eq. (K): KL(q_i || q_j) per dimension, broadcast [B, 1, nz] against [1, B, nz]
    return gaussian_kl(mu[:, None, :], var[:, None, :], mu[None, :, :], var[None, :, :])


def mae_regularisers(mu: torch.Tensor, var: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    r"""MAE's diversity and smoothness terms of one mini-batch, eqs. (M), (D), (S).

    Args:
        mu: means ``[B, nz]``, ``B >= 2``.
        var: variances ``[B, nz]``.

    Returns:
        ``(diversity, smoothness)``, two scalar tensors: :math:`\sum_d -\log\sigma(M_d)` and
        :math:`S`. Both are to be *minimised* (weighted by ``mae_diversity`` and
        ``mae_smoothness`` in the loss).
    """
    batch = _check_mu_var(mu, var)
    if batch < 2:
        raise ValueError(f"MAE needs at least 2 posteriors per batch (pairs i != j), got batch size {batch}")
    kl = pairwise_kl(mu, var)  # [B, B, nz]
    eye = torch.eye(batch, dtype=torch.bool, device=mu.device)  # [B, B]
    off_diag = (~eye).to(kl.dtype)[..., None]  # [B, B, 1]
    n_pairs = batch * (batch - 1)
    m = (kl * off_diag).sum(dim=(0, 1)) / n_pairs  # eq. (M): M_d, [nz]
    diversity = F.softplus(-m).sum()  # eq. (D): -log sigmoid(M_d) = softplus(-M_d), summed over d
    t = kl.sum(dim=-1)  # T_ij = sum_d K_ij,d, [B, B]
    t = torch.where(eye, m.sum(), t)  # diagonal <- sum_d M_d (the mean off-diagonal T)
    n = batch * batch
    smoothness = t.flatten().std(correction=1) * math.sqrt((n - 1) / (n - batch - 1))  # eq. (S)
    return diversity, smoothness
