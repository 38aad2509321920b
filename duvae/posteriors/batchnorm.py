r"""Batch normalisation of the posterior means (paper eq. 9, Algorithm 1 line 9; docs/implementation.md §1.1, steps 2-3).

For a mini-batch of means :math:`m \in \mathbb{R}^{B \times n}` (paper eq. 9),

.. math::
    \hat\mu_{x,d} = \gamma_{\mu_d} \frac{m_{x,d} - \mu_{\mathcal{B}_d}}{\sqrt{\sigma^2_{\mathcal{B}_d} + \epsilon}}
                    + \beta_{\mu_d},

with the batch mean :math:`\mu_{\mathcal{B}_d}` and the *biased* batch variance
:math:`\sigma^2_{\mathcal{B}_d}`, so that over the batch :math:`\hat\mu_{\cdot,d}` has mean
:math:`\beta_{\mu_d}` and variance :math:`\gamma_{\mu_d}^2` (up to :math:`\epsilon`). In evaluation
mode the running mean and variance (momentum 0.1) replace the batch statistics.

Two ways to treat the scales :math:`\gamma_{\mu}`:

- DU-VAE (``learnable_scale=True``): learnable, initialised to :math:`\gamma`, and rescaled at the
  start of every forward, in training and in evaluation (Algorithm 1 line 9, docs/implementation.md §1.1, step 2; §1.3, item 3),

  .. math:: \gamma_{\mu} \leftarrow \frac{\gamma}{\sqrt{\mathbb{E}_d[\gamma_{\mu_d}^2]}} \odot \gamma_{\mu},

  so the root-mean-square of the scales is always :math:`\gamma`, hence
  :math:`\sum_d \mathrm{Var}[\hat\mu_d] = n\gamma^2`. The rescaling is a projection outside autograd
  (done on the parameter's data); running it at the start of the next forward is the same as
  running it right after the optimiser step, and it is idempotent in evaluation.
- BN-VAE (``learnable_scale=False``): every scale fixed at :math:`\gamma` (a buffer, never a
  parameter, so no optimiser can move it; docs/implementation.md §5.7).

The shift :math:`\beta_\mu` is learnable, initialised to 0, in both cases. A training batch of
size 1 has no batch variance: the layer then returns the raw means, as the official text encoder
does (docs/implementation.md §1.1, step 3); in evaluation mode a batch of size 1 uses the running statistics.

The arithmetic is not written here: eq. 9 is :func:`duvae.theory.batchnorm_means` and the rescaling
is :func:`duvae.theory.renormalise_scales`, the functions the notebooks call too. The latter decides
the degenerate case: scales that are all zero have no direction to keep and are reset to
:math:`\gamma` (their initialisation), which restores :math:`\mathbb{E}_d[\gamma_{\mu_d}^2] = \gamma^2`.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from duvae.posteriors.gaussian import check_nz
from duvae.theory import batchnorm_means, check_gamma, renormalise_scales  # eq. 9 and Alg. 1 line 9


class BatchNormMean(nn.Module):
    r"""BN on the means with scales of root-mean-square :math:`\gamma` (eq. 9).

    Args:
        nz: latent size (number of BN channels).
        gamma: target scale :math:`\gamma > 0` (RMS of the scales; the scale itself if fixed).
        learnable_scale: ``True`` for DU-VAE (learnable, renormalised), ``False`` for BN-VAE (fixed).
        eps: BN epsilon (``1e-5`` for the Gaussian heads, ``1e-8`` for the IAF head, docs/implementation.md §1.5, item 2).
        momentum: running-statistics momentum (PyTorch convention, 0.1).

    Shapes: ``forward(m)`` with ``m`` ``[B, nz]`` returns :math:`\hat\mu` ``[B, nz]``.
    """

    def __init__(
        self,
        nz: int,
        gamma: float,
        learnable_scale: bool = True,
        eps: float = 1e-5,
        momentum: float = 0.1,
    ):
        super().__init__()
        self.nz = check_nz(nz)
        self.gamma = check_gamma(gamma)
        if not (eps > 0 and math.isfinite(eps)):
            raise ValueError(f"eps must be a finite number > 0, got {eps}")
        if not (0 < momentum <= 1):
            raise ValueError(f"momentum must be in (0, 1], got {momentum}")
        self.learnable_scale = bool(learnable_scale)
        self.eps = float(eps)
        self.momentum = float(momentum)
        scale = torch.full((self.nz,), self.gamma)  # gamma_mu initialised to gamma (Alg. 1 line 1)
        if self.learnable_scale:
            self.weight = nn.Parameter(scale)
        else:
            self.register_buffer("weight", scale)  # fixed: not a parameter
        self.bias = nn.Parameter(torch.zeros(self.nz))  # beta_mu initialised to 0 (Alg. 1 line 1)
        self.register_buffer("running_mean", torch.zeros(self.nz))
        self.register_buffer("running_var", torch.ones(self.nz))
        self.register_buffer("num_batches_tracked", torch.tensor(0, dtype=torch.long))

    @torch.no_grad()
    def renormalise_scale(self) -> None:
        r""":math:`\gamma_\mu \leftarrow \gamma\,\gamma_\mu / \sqrt{\mathbb{E}_d[\gamma_{\mu_d}^2]}` (Alg. 1 line 9), outside autograd.

        A no-op for fixed scales. All-zero scales (no direction to keep) are reset to :math:`\gamma`
        (:func:`duvae.theory.renormalise_scales` decides it).
        """
        if not self.learnable_scale:
            return
        self.weight.data.copy_(renormalise_scales(self.weight.data, self.gamma))  # Alg. 1 line 9

    def forward(self, m: torch.Tensor) -> torch.Tensor:
        if m.dim() != 2 or m.shape[1] != self.nz:
            raise ValueError(f"expected means of shape [batch, {self.nz}], got {tuple(m.shape)}")
        self.renormalise_scale()  # every forward, training and evaluation (docs/implementation.md §1.1, step 2)
        if self.training and m.shape[0] == 1:
            return m  # no batch variance for a single example: skip BN (docs/implementation.md §1.1, step 3)
        if self.training:
            self.num_batches_tracked.add_(1)
        # eq. 9: training -> batch mean and biased batch variance (running stats updated);
        # evaluation -> running mean and variance.
        return batchnorm_means(
            m,
            self.weight,
            self.bias,
            self.eps,
            running_mean=self.running_mean,
            running_var=self.running_var,
            training=self.training,
            momentum=self.momentum,
        )

    def extra_repr(self) -> str:
        return (
            f"nz={self.nz}, gamma={self.gamma}, learnable_scale={self.learnable_scale}, "
            f"eps={self.eps}, momentum={self.momentum}"
        )
