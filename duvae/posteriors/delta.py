r"""The delta-VAE posterior head with a standard-normal prior (Razavi et al. 2019; docs/implementation.md §5.6).

delta-VAE constrains every posterior dimension so that its KL to :math:`\mathcal{N}(0, 1)` can
never fall below a "committed rate" :math:`\delta`. Per dimension,

.. math::
    D_{KL,d} = \tfrac12(\mu^2 + \sigma^2 - \ln\sigma^2 - 1) \ge \delta
    \iff \mu^2 \ge 2\delta + 1 + \ln\sigma^2 - \sigma^2 .

Let :math:`v_l < 1 < v_u` be the two roots of :math:`\ln v - v + 1 + 2\delta = 0`
(for :math:`\delta = 0.1`: :math:`v_l = 0.49324`, :math:`v_u = 1.77225`). Between them the right-hand
side is :math:`\ge 0`, so with :math:`[m, l] = W f`:

.. math::
    \sigma = \sigma_l + (\sigma_u - \sigma_l)\, \max(\mathrm{sigmoid}(l), 0.02), \qquad
    \sigma_{l,u} = \sqrt{v_{l,u}},

.. math::
    \mu = \sqrt{2\delta + 1 + \ln\sigma^2 - \sigma^2 + \mathrm{relu}(m) + 10^{-6}},

which gives :math:`D_{KL,d} = \delta + \mathrm{relu}(m)/2 + 5\cdot10^{-7} \ge \delta` exactly, for every
example and dimension (total KL :math:`\ge n\delta`; 3.2 for :math:`n = 32`, :math:`\delta = 0.1`).
Note :math:`\mu \ge 0` always: the sign information is lost.

The roots are computed at construction by bisection in float64 (not hard-coded).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from duvae.posteriors.gaussian import DiagGaussian, check_in_features, check_kl_weight, check_nz

SIGMOID_FLOOR = 0.02  # lower clamp of the logistic in the sigma map
MU_SQ_JITTER = 1e-6  # added under the square root of mu


def delta_rate_equation(v: float, delta: float) -> float:
    r""":math:`\ln v - v + 1 + 2\delta`, zero at the variance bounds :math:`v_l, v_u`."""
    return math.log(v) - v + 1.0 + 2.0 * delta


def delta_variance_bounds(delta: float, iters: int = 200) -> tuple[float, float]:
    r"""The roots :math:`v_l < 1 < v_u` of :math:`\ln v - v + 1 + 2\delta = 0`, by bisection (float64).

    :math:`g(v) = \ln v - v + 1 + 2\delta` is increasing on (0, 1), decreasing on (1, inf),
    with :math:`g(1) = 2\delta > 0`: one root on each side. Brackets: :math:`g(e^{-1-2\delta}) =
    -e^{-1-2\delta} < 0` on the left; on the right, double until :math:`g < 0`.
    """
    delta = float(delta)
    if not (delta > 0 and math.isfinite(delta)):
        raise ValueError(f"delta must be a finite number > 0, got {delta}")

    def bisect(lo: float, hi: float) -> float:
        # invariant: g(lo) and g(hi) have opposite signs
        g_lo = delta_rate_equation(lo, delta)
        for _ in range(iters):
            mid = 0.5 * (lo + hi)
            g_mid = delta_rate_equation(mid, delta)
            if g_mid == 0.0:
                return mid
            if (g_mid > 0) == (g_lo > 0):
                lo, g_lo = mid, g_mid
            else:
                hi = mid
            if hi - lo <= 4 * math.ulp(hi):
                break
        return 0.5 * (lo + hi)

    v_lower = bisect(math.exp(-1.0 - 2.0 * delta), 1.0)
    hi = 2.0
    while delta_rate_equation(hi, delta) >= 0:
        hi *= 2.0
    v_upper = bisect(1.0, hi)
    return v_lower, v_upper


class DeltaHead(nn.Module):
    r"""delta-VAE head: ``f [B, in_features] -> N(mu, sigma^2)`` with :math:`D_{KL,d} \ge \delta` (see module doc).

    ``kl_weight`` is accepted for the common head interface and has no effect.
    """

    def __init__(self, in_features: int, nz: int, delta: float = 0.1, bias: bool = True):
        super().__init__()
        self.in_features = check_in_features(in_features)
        self.nz = check_nz(nz)
        self.delta = float(delta)
        self.v_lower, self.v_upper = delta_variance_bounds(delta)  # validates delta > 0
        self.sigma_lower = math.sqrt(self.v_lower)
        self.sigma_upper = math.sqrt(self.v_upper)
        self.linear = nn.Linear(self.in_features, 2 * self.nz, bias=bias)

    def forward(self, f: torch.Tensor, kl_weight: float = 1.0) -> DiagGaussian:
        check_kl_weight(kl_weight)
        m, l = self.linear(f).chunk(2, dim=-1)  # [B, nz] each
        s = torch.sigmoid(l).clamp_min(SIGMOID_FLOOR)
        sigma = self.sigma_lower + (self.sigma_upper - self.sigma_lower) * s  # sigma in [sigma_l, sigma_u]
        var = sigma.pow(2)
        # mu^2 = 2 delta + 1 + ln sigma^2 - sigma^2 + relu(m) + 1e-6  =>  KL_d = delta + relu(m)/2 + 5e-7
        mu_sq = 2.0 * self.delta + 1.0 + var.log() - var + F.relu(m) + MU_SQ_JITTER
        mu = mu_sq.clamp_min(0.0).sqrt()  # clamp only guards round-off at the bounds
        return DiagGaussian(mu, var)

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, nz={self.nz}, delta={self.delta}, "
            f"sigma in [{self.sigma_lower:.5f}, {self.sigma_upper:.5f}]"
        )
