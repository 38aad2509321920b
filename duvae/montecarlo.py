r"""Monte Carlo machinery that checks the closed forms of :mod:`duvae.theory` by simulation.

:mod:`duvae.theory` states Section 3 of the paper in closed form; this module draws the random
inputs and the random estimates that test it, and computes no equation of its own (every quantity
below is one of theory's functions applied to random draws):

- **Synthetic posterior families** (:func:`synthetic_family`): $N$ diagonal Gaussians ``(mu, var)``,
  each ``[N, nz]`` with $\sigma^2 \ge \alpha$, in five shapes chosen to stress the bounds (log-uniform
  variances, variances at the floor, heavy-tailed means, variances above the prior's, collapsed means).
- **Monte Carlo estimates with standard errors** (:class:`MCEstimate`). For an estimator
  $\hat\theta = \frac1n\sum_{k=1}^n f_k$ of i.i.d. draws, the standard error is
  $\mathrm{se} = s/\sqrt n$ with $s^2$ the unbiased sample variance; a closed form $\theta$ passes
  when $|\hat\theta - \theta|/\mathrm{se}$ is small (a $z$-score). :func:`mc_mpd_sampling_z` estimates
  eq. 2 from samples $z$ alone, never the KL formula; :func:`mc_dropout_effects` estimates both sides
  of Proposition 1 (eq. 7) over the product of the data and the dropout masks of eq. 6.
- **A stochastic simulation of BN training** (:func:`fit_bn_scales`): SGD on eq. 9's layer with and
  without Algorithm 1, line 9, to show that the renormalisation keeps $\mathrm{mean}_d\,w_d^2 = \gamma^2$.

Draws are chunked (``chunk_size`` rows at a time) so memory stays bounded whatever ``n_draws`` is, and
every draw can come from a ``torch.Generator`` on any device, so a seeded check is reproducible.
Notebooks 01-03 use these functions; ``tests/test_theory.py`` checks them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
from torch import Tensor, nn

from duvae.theory import (
    ALPHA,
    batchnorm_means,
    check_alpha,
    check_family,
    check_floor,
    check_gamma,
    check_p_keep,
    dropout_variance,
    gaussian_entropy,
    renormalise_scales,
    symmetric_kl,
)

# --------------------------------------------------------------------------------------------------
# random draws from an optional generator on any device
# --------------------------------------------------------------------------------------------------


def _uniform(shape, generator: torch.Generator | None, like: Tensor) -> Tensor:
    """U(0, 1) draws of ``shape`` on ``like``'s device/dtype, from ``generator`` (any device) if given."""
    if generator is None:
        return torch.rand(shape, dtype=like.dtype, device=like.device)
    u = torch.rand(shape, generator=generator, dtype=like.dtype, device=generator.device)
    return u.to(like.device)


def _normal(shape, generator: torch.Generator | None, like: Tensor) -> Tensor:
    """Standard normal draws (Box-Muller on :func:`_uniform`), so a CPU generator serves any device."""
    u1, u2 = _uniform(shape, generator, like), _uniform(shape, generator, like)
    return torch.sqrt(-2.0 * torch.log1p(-u1)) * torch.cos(2.0 * math.pi * u2)


def _randint(high: int, shape, generator: torch.Generator | None, device: torch.device) -> Tensor:
    if generator is None:
        return torch.randint(high, shape, device=device)
    return torch.randint(high, shape, generator=generator, device=generator.device).to(device)


# --------------------------------------------------------------------------------------------------
# synthetic posterior families (inputs of the numerical checks)
# --------------------------------------------------------------------------------------------------

FAMILIES = ("loguniform", "near_floor", "heavy_tailed", "wide_variance", "collapsed_means")


def synthetic_family(
    kind: str,
    n: int,
    nz: int,
    generator: torch.Generator | None = None,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float64,
) -> tuple[Tensor, Tensor]:
    r"""A random family of $N$ = ``n`` posteriors, ``(mu, var)`` each ``[n, nz]``, all with $\sigma^2 \ge \alpha$.

    - ``"loguniform"``: $\mu \sim \mathcal{N}(0, 1)$, $\sigma^2$ log-uniform on $[\alpha, 1]$ (floor to prior);
    - ``"near_floor"``: $\mu \sim \mathcal{N}(0, 1)$, $\sigma^2 = \alpha(1 + 0.05\,\mathrm{Exp}(1))$ (almost no excess);
    - ``"heavy_tailed"``: $\mu \sim t_3$ (Student, 3 d.o.f.), $\sigma^2$ log-uniform on $[\alpha, 1]$;
    - ``"wide_variance"``: $\mu \sim \mathcal{N}(0, 1)$, $\sigma^2$ log-uniform on $[\alpha, 10]$
      (breaks $\sigma^2 \le 1$);
    - ``"collapsed_means"``: one mean $\mu \sim \mathcal{N}(0,1)$ shared by all rows ($\mathrm{Var}[\mu] = 0$),
      $\sigma^2$ log-uniform on $[\alpha, 1]$.
    """
    if kind not in FAMILIES:
        raise ValueError(f"unknown family kind {kind!r}; choose one of {FAMILIES}")
    if n < 1 or nz < 1:
        raise ValueError(f"need n >= 1 and nz >= 1, got n={n}, nz={nz}")
    like = torch.empty(0, dtype=dtype, device=device)
    shape = (n, nz)

    def log_uniform_var(hi: float) -> Tensor:
        return torch.exp(math.log(ALPHA) + _uniform(shape, generator, like) * math.log(hi / ALPHA))

    if kind == "loguniform":
        return _normal(shape, generator, like), log_uniform_var(1.0)
    if kind == "near_floor":
        excess = -torch.log1p(-_uniform(shape, generator, like))  # Exp(1)
        return _normal(shape, generator, like), ALPHA * (1.0 + 0.05 * excess)
    if kind == "heavy_tailed":
        chi2 = (_normal((3, n, nz), generator, like) ** 2).sum(dim=0)  # chi^2 with 3 d.o.f.
        return _normal(shape, generator, like) / torch.sqrt(chi2 / 3.0), log_uniform_var(1.0)
    if kind == "wide_variance":
        return _normal(shape, generator, like), log_uniform_var(10.0)
    return _normal((1, nz), generator, like).expand(n, nz).clone(), log_uniform_var(1.0)  # collapsed_means


# --------------------------------------------------------------------------------------------------
# Monte Carlo estimators (to check the closed forms)
# --------------------------------------------------------------------------------------------------


@dataclass
class MCEstimate:
    """A Monte Carlo mean with its standard error: per dimension (``[nz]``) and summed over ``d``."""

    mean: Tensor  # [nz]
    se: Tensor  # [nz]
    total: float  # mean of the per-draw sum over d
    total_se: float
    n: int  # number of draws

    def z_score(self, exact: Tensor, rtol: float = 1e-9) -> Tensor:
        """``|mean - exact| / se`` per dimension, after forgiving a round-off ``rtol * (1 + |exact|)``."""
        exact = exact.detach().to(self.mean)
        diff = ((self.mean - exact).abs() - rtol * (1.0 + exact.abs())).clamp_min(0.0)
        return torch.where(diff == 0, torch.zeros_like(diff), diff / self.se)

    def total_z_score(self, exact: float, rtol: float = 1e-9) -> float:
        """``|total - exact| / total_se`` after the same round-off allowance."""
        exact = float(exact)
        diff = max(abs(self.total - exact) - rtol * (1.0 + abs(exact)), 0.0)
        return 0.0 if diff == 0 else diff / self.total_se


def pool_estimates(estimates: list[MCEstimate]) -> MCEstimate:
    """Combine independent Monte Carlo estimates of the same quantity, weighting each by its draws."""
    if not estimates:
        raise ValueError("pool_estimates needs at least one estimate, got an empty list")
    n = sum(e.n for e in estimates)
    weights = [e.n / n for e in estimates]
    mean = sum(wt * e.mean for wt, e in zip(weights, estimates))
    se = sum((wt * e.se) ** 2 for wt, e in zip(weights, estimates)).sqrt()
    total = sum(wt * e.total for wt, e in zip(weights, estimates))
    total_se = math.sqrt(sum((wt * e.total_se) ** 2 for wt, e in zip(weights, estimates)))
    return MCEstimate(mean=mean, se=se, total=total, total_se=total_se, n=n)


def _mc_means(draw: Callable[[int], dict[str, Tensor]], n_draws: int, chunk_size: int) -> dict[str, MCEstimate]:
    """Average the ``[c, nz]`` per-draw values returned by ``draw(c)`` over ``n_draws`` draws, chunk by chunk.

    Means and variances are merged with Chan's parallel formula (no large-sum cancellation); the
    totals use the per-draw sum over ``d``.
    """
    if n_draws < 2:
        raise ValueError(f"n_draws must be >= 2 for a standard error, got {n_draws}")
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    acc: dict[str, list] = {}
    done = 0
    while done < n_draws:
        c = min(chunk_size, n_draws - done)
        for name, values in draw(c).items():
            values = values.double()
            for key, x in ((name, values), (name + "/total", values.sum(dim=-1, keepdim=True))):
                m, m2 = x.mean(dim=0), ((x - x.mean(dim=0)) ** 2).sum(dim=0)
                if key not in acc:
                    acc[key] = [m, m2]
                else:
                    mean, sq = acc[key]
                    delta = m - mean
                    acc[key] = [mean + delta * c / (done + c), sq + m2 + delta**2 * done * c / (done + c)]
        done += c
    out = {}
    for key in [k for k in acc if not k.endswith("/total")]:
        mean, sq = acc[key]
        tmean, tsq = acc[key + "/total"]
        se = (sq / (n_draws - 1) / n_draws).sqrt()
        tse = float((tsq / (n_draws - 1) / n_draws).sqrt())
        out[key] = MCEstimate(mean=mean.cpu(), se=se.cpu(), total=float(tmean), total_se=tse, n=n_draws)
    return out


def mc_mpd_sampling_z(
    mu: Tensor, var: Tensor, n_draws: int, generator: torch.Generator | None = None, chunk_size: int = 65_536
) -> MCEstimate:
    r"""Monte Carlo of eq. 2 that never uses the KL formula: draw $x_1, x_2$ i.i.d. from the $N$ posteriors,
    $z_1 \sim q_1$, $z_2 \sim q_2$, and average
    $\tfrac12\big[\log q_1(z_1) - \log q_2(z_1) + \log q_2(z_2) - \log q_1(z_2)\big]$ per dimension
    (an unbiased estimate of $D_{SKL}$ per pair). ``mu``, ``var``: ``[N, nz]``.
    """
    check_family(mu, var)
    if mu.dim() != 2:
        raise ValueError(f"mc_mpd_sampling_z takes [N, nz] tensors, got shape {tuple(mu.shape)}")
    n, nz = mu.shape

    def log_normal(z, m, v):
        return -0.5 * (math.log(2 * math.pi) + torch.log(v) + (z - m) ** 2 / v)

    def draw(c: int) -> dict[str, Tensor]:
        i1, i2 = _randint(n, (c,), generator, mu.device), _randint(n, (c,), generator, mu.device)
        m1, v1, m2, v2 = mu[i1], var[i1], mu[i2], var[i2]
        eps = _normal((2, c, nz), generator, mu)
        z1, z2 = m1 + v1.sqrt() * eps[0], m2 + v2.sqrt() * eps[1]
        kl12 = log_normal(z1, m1, v1) - log_normal(z1, m2, v2)
        kl21 = log_normal(z2, m2, v2) - log_normal(z2, m1, v1)
        return {"skl": 0.5 * (kl12 + kl21)}

    return _mc_means(draw, n_draws, chunk_size)["skl"]


def mc_dropout_effects(
    mu: Tensor,
    var: Tensor,
    p: float,
    n_draws: int,
    alpha: float = ALPHA,
    generator: torch.Generator | None = None,
    chunk_size: int = 65_536,
) -> dict[str, MCEstimate]:
    r"""Monte Carlo over the product of the data and the masks (eq. 7): ``n_draws`` i.i.d. pairs
    $(x_1, B_1), (x_2, B_2)$, each $\hat\sigma^2$ from eq. 6. Returns per-dimension estimates of

    - ``"var_hat"``: $\mathbb{E}[\hat\sigma^2]$ (eq. 7, line 1);
    - ``"mpd"``: $\mathrm{MPD}_{\mathcal{D}\cdot B}$ = mean of $D_{SKL}$ of the dropped-out pair;
    - ``"mpd_gap"``: $\mathrm{MPD}_{\mathcal{D}\cdot B} - \mathrm{MPD}$, paired on the same $x_1, x_2$;
    - ``"ce"``: $H_{q\cdot B}(z|x)$; ``"ce_gap"``: $H_q(z|x) - H_{q\cdot B}(z|x)$, paired.

    ``mu``, ``var``: ``[N, nz]`` with ``var >= alpha``.
    """
    p, alpha = check_p_keep(p), check_alpha(alpha)
    check_family(mu, var)
    check_floor(var, alpha)
    if mu.dim() != 2:
        raise ValueError(f"mc_dropout_effects takes [N, nz] tensors, got shape {tuple(mu.shape)}")
    n, nz = mu.shape

    def draw(c: int) -> dict[str, Tensor]:
        i1, i2 = _randint(n, (c,), generator, mu.device), _randint(n, (c,), generator, mu.device)
        m1, v1, m2, v2 = mu[i1], var[i1], mu[i2], var[i2]
        vh1 = dropout_variance(v1, p, alpha, generator)  # eq. 6, independent masks
        vh2 = dropout_variance(v2, p, alpha, generator)
        skl_hat, skl = symmetric_kl(m1, vh1, m2, vh2), symmetric_kl(m1, v1, m2, v2)
        return {
            "var_hat": vh1,
            "mpd": skl_hat,
            "mpd_gap": skl_hat - skl,
            "ce": gaussian_entropy(vh1),
            "ce_gap": gaussian_entropy(v1) - gaussian_entropy(vh1),
        }

    return _mc_means(draw, n_draws, chunk_size)


# --------------------------------------------------------------------------------------------------
# a stochastic simulation of BN on the means (eq. 9, Algorithm 1 line 9)
# --------------------------------------------------------------------------------------------------


@dataclass
class BNScaleHistory:
    """Trajectory of a BN layer's scales under :func:`fit_bn_scales`."""

    scales: Tensor  # [steps + 1, nz], w after each step (row 0: initialisation)
    shifts: Tensor  # [steps + 1, nz]
    mean_square: Tensor  # [steps + 1], mean_d w_d^2
    loss: Tensor  # [steps]


def fit_bn_scales(
    target_scales: Tensor,
    gamma: float,
    steps: int,
    batch_size: int = 64,
    lr: float = 0.05,
    renormalise: bool = True,
    noise: float = 0.1,
    eps: float = 1e-5,
    generator: torch.Generator | None = None,
    device: torch.device | str = "cpu",
) -> BNScaleHistory:
    r"""Train a BN on the means (scales $w$ initialised to $\gamma$, shifts $b$ to 0, Algorithm 1 line 1) with
    plain SGD on a toy regression that pulls the scales apart, optionally applying Algorithm 1 line 9
    after every step. The layer is the training one's arithmetic: :func:`batchnorm_means` (eq. 9) and
    :func:`renormalise_scales` (line 9), the two functions :class:`~duvae.posteriors.batchnorm.BatchNormMean`
    runs.

    Each step draws means $m \sim \mathcal{N}(c, \mathrm{diag}\,k^2)$ (fixed random offsets $c$ and
    spreads $k$), standardises them in the batch ($\tilde m$) and regresses $\hat\mu = \mathrm{BN}(m)$ on
    $t_d = s_d\tilde m_d + \beta^\star_d + \text{noise}$ with ``target_scales`` $s$ ``[nz]``; the loss is
    $\mathrm{mean}_n\sum_d(\hat\mu_{n,d} - t_{n,d})^2$, whose gradient in $w_d$ is about $2(w_d - s_d)$.
    Without renormalisation $w \to s$; with it, projected gradient descent on the sphere
    $\{\mathrm{mean}_d w_d^2 = \gamma^2\}$ tends to $s\,\gamma/\mathrm{rms}(s)$ (for $s \ge 0$).
    $b \to \beta^\star$ either way.
    """
    if steps < 1 or batch_size < 2:
        raise ValueError(f"need steps >= 1 and batch_size >= 2, got steps={steps}, batch_size={batch_size}")
    if lr <= 0:
        raise ValueError(f"lr must be > 0, got {lr}")
    device = torch.device(device)
    s = target_scales.to(device=device, dtype=torch.float32)
    nz = s.shape[0]
    gamma = check_gamma(gamma)
    weight = nn.Parameter(torch.full((nz,), gamma, device=device))  # gamma_mu, initialised to gamma
    bias = nn.Parameter(torch.zeros(nz, device=device))  # beta_mu, initialised to 0
    like = torch.empty(0, device=device)

    def normal(shape):
        return _normal(shape, generator, like)

    offsets, spreads, beta_star = 3.0 * normal((nz,)), torch.exp(normal((nz,))), normal((nz,))
    scales, shifts, losses = [weight.detach().clone()], [bias.detach().clone()], []
    for _ in range(steps):
        m = offsets + spreads * normal((batch_size, nz))
        m_std = (m - m.mean(0)) / m.std(0, unbiased=False)
        target = s * m_std + beta_star + noise * normal((batch_size, nz))
        loss = ((batchnorm_means(m, weight, bias, eps) - target) ** 2).sum(dim=1).mean()  # eq. 9
        weight_grad, bias_grad = torch.autograd.grad(loss, (weight, bias))
        with torch.no_grad():  # Alg. 1 line 8: a plain SGD step on gamma_mu and beta_mu
            weight -= lr * weight_grad
            bias -= lr * bias_grad
            if renormalise:
                weight.copy_(renormalise_scales(weight, gamma))  # Alg. 1 line 9
        scales.append(weight.detach().clone())
        shifts.append(bias.detach().clone())
        losses.append(loss.detach())
    scales_t = torch.stack(scales).cpu()
    return BNScaleHistory(
        scales=scales_t,
        shifts=torch.stack(shifts).cpu(),
        mean_square=(scales_t.double() ** 2).mean(dim=1),
        loss=torch.stack(losses).cpu(),
    )
