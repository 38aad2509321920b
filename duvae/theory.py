r"""Closed forms of the paper's Section 3: diversity, uncertainty, variance dropout, BN on the means.

A family of diagonal-Gaussian posteriors $q(z|x_i) = \mathcal{N}(\mu_i, \mathrm{diag}\,\sigma^2_i)$,
$i = 1..N$, is stored as two tensors ``mu`` and ``var`` of shape ``[N, nz]`` (optionally with leading
batch dimensions ``[..., N, nz]``; every reduction is over the posterior axis ``-2``). The data
distribution $p_\mathcal{D}$ is the empirical one over the $N$ posteriors, so ``E[.]`` is a mean over
``i`` and ``Var[.]`` is the biased (``1/N``) variance. Per-dimension results have shape ``[nz]``; the
paper's quantities are their sums over ``d``.

Diversity (eq. 2-3). The symmetric KL is the mean of the two KLs. For 1-D Gaussians

$$D_{KL}[\mathcal{N}(m_1, v_1)\,\|\,\mathcal{N}(m_2, v_2)]
  = \tfrac12\Big(\log\tfrac{v_2}{v_1} + \tfrac{v_1}{v_2} + \tfrac{(m_1-m_2)^2}{v_2} - 1\Big),$$

the logs cancel in the sum of both directions, and with $x_1, x_2$ i.i.d. (pairs $i = j$ included,
weight $1/N^2$) the mutual posterior diversity is, per dimension (docs/implementation.md §1.3, item 4: one "$-1$" per $d$),

$$\mathrm{MPD}_d = \tfrac12\Big(\mathbb{E}\Big[\tfrac{(\mu_{1,d}-\mu_{2,d})^2}{\sigma^2_{2,d}}\Big]
  + \mathbb{E}[\sigma^2_d]\,\mathbb{E}[1/\sigma^2_d] - 1\Big), \qquad
\mathbb{E}\Big[\tfrac{(\mu_1-\mu_2)^2}{\sigma^2_2}\Big]
  = \mathbb{E}_2\Big[\tfrac{(\mu_2 - \bar\mu)^2 + \mathrm{Var}[\mu]}{\sigma_2^2}\Big],$$

the last form (expand the square over $x_1$ first) costing $O(N\,n_z)$ instead of $O(N^2 n_z)$.

Lower bound (Section 3.1, "see Supplementary"). If $\sigma^2_{i,d} \le c_d$ for all $i$ then
$\mathbb{E}[(\mu_1-\mu_2)^2/\sigma_2^2] \ge 2\mathrm{Var}[\mu_d]/c_d$ and
$\mathbb{E}[\sigma^2]\mathbb{E}[1/\sigma^2] \ge 1$ (Cauchy-Schwarz), so
$\mathrm{MPD}_d \ge \mathrm{Var}[\mu_d]/c_d$; with $\sigma^2 \le 1$: $\mathrm{MPD} \ge \sum_d \mathrm{Var}[\mu_d]$,
with equality when every variance equals $c_d$.

Uncertainty (eq. 4-5). $H_q(z|x) = \sum_d \big(\tfrac12\log 2\pi e + \tfrac12\mathbb{E}[\log\sigma^2_d]\big)$,
zero per dimension at $\sigma^2 = \alpha = 1/(2\pi e)$, unbounded below as $\sigma^2 \to 0$.

Variance dropout (eq. 6). $\hat\sigma^2 = g(\sigma^2 - \alpha) + \alpha$, $g \sim \mathrm{Bernoulli}(p)/p$,
i.e. $\hat\sigma^2 = u := \alpha + (\sigma^2 - \alpha)/p$ with probability $p$ and $\alpha$ otherwise.
Proposition 1 (eq. 7) is about the new family $(\mu, \hat\sigma^2)$ whose law is the product of
$p_\mathcal{D}$ and the masks. Everything in eq. 3 is linear in $\sigma^2$ or in $1/\sigma^2$ of one
posterior at a time, so the dropout enters only through
$\mathbb{E}_B[\hat\sigma^2] = \sigma^2$ and
$w := \mathbb{E}_B[1/\hat\sigma^2] = p/u + (1-p)/\alpha = p^2/(p\alpha + \sigma^2 - \alpha) + (1-p)/\alpha$:

$$\mathrm{MPD}_{\mathcal{D}\cdot B, d} = \tfrac12\Big(\mathbb{E}\big[w_d\,((\mu_d-\bar\mu_d)^2 + \mathrm{Var}[\mu_d])\big]
  + \mathbb{E}[\sigma^2_d]\,\mathbb{E}[w_d] - 1\Big),\qquad
H_{q\cdot B, d} = \tfrac12\log 2\pi e + \tfrac12\mathbb{E}\big[p\log u_d + (1-p)\log\alpha\big].$$

Jensen ($1/s$ convex, $\log s$ concave, $\mathbb{E}_B\hat\sigma^2 = \sigma^2$) gives $w \ge 1/\sigma^2$ and
$\mathbb{E}_B\log\hat\sigma^2 \le \log\sigma^2$, strict iff $\sigma^2 > \alpha$ and $p < 1$: this is eq. 7.
$\partial w/\partial p = -(\sigma^2-\alpha)^2 / (\alpha(p\alpha + \sigma^2 - \alpha)^2) < 0$ and
$\partial_p\,\mathbb{E}_B\log\hat\sigma^2 = \log(1+t) - t/(1+t) > 0$ with $t = (\sigma^2-\alpha)/(p\alpha)$, so
both gaps grow monotonically as $p \to 0$. Since $w \ge (1-p)/\alpha$, $\mathbb{E}[(\mu_d - \bar\mu_d)^2 +
\mathrm{Var}[\mu_d]] = 2\mathrm{Var}[\mu_d]$ and $\mathbb{E}[\sigma^2]\mathbb{E}[w] \ge 1$:
$\mathrm{MPD}_{\mathcal{D}\cdot B} \ge \frac{1-p}{\alpha}\sum_d \mathrm{Var}[\mu_d]$ (eq. 8). All of this needs
$\sigma^2 \ge \alpha$ (the floor), otherwise $\hat\sigma^2$ can be negative.

Batch normalisation on the means (eq. 9, Algorithm 1 line 9).
$\hat\mu_d = \gamma_d (\mu_d - \mu_{\mathcal{B}_d}) / \sqrt{\sigma^2_{\mathcal{B}_d} + \epsilon} + \beta_d$ has batch mean
$\beta_d$ and batch variance $\gamma_d^2\,\sigma^2_{\mathcal{B}_d}/(\sigma^2_{\mathcal{B}_d}+\epsilon) \approx \gamma_d^2$;
rescaling $\gamma_d \leftarrow \gamma_d\,\gamma/\sqrt{\mathrm{mean}_k\,\gamma_k^2}$ keeps
$\sum_d \mathrm{Var}[\hat\mu_d] = n_z\gamma^2$, which feeds the lower bounds above.

One function per equation. Each equation the package computes has exactly one function, in this
module, and training runs that function (``tests/test_equations.py`` holds the map and checks it):

=================================  ===========================================  ================================
equation                           function                                     called in training by
=================================  ===========================================  ================================
eq. 1, the KL term                 :func:`prior_kl`                             ``DiagGaussian.kl_per_dim``
eq. 2, MPD as a mean of SKLs       :func:`pairwise_skl_mpd` (a check of eq. 3)  --
eq. 3, MPD in closed form          :func:`mpd`                                  ``metrics.evaluate``
eq. 4-5, conditional entropy       :func:`conditional_entropy`                  ``metrics.evaluate``
eq. 6, variance dropout            :func:`variance_dropout`                     ``DUHead``, ``IAFHead``
eq. 7, Proposition 1               :func:`expected_mpd_under_dropout`,          --
                                   :func:`expected_ce_under_dropout`
eq. 8, the MPD bound               :func:`mpd_dropout_bound`                    --
eq. 9, BN on the means             :func:`batchnorm_means`                      ``BatchNormMean``
Algorithm 1, line 9                :func:`renormalise_scales`                   ``BatchNormMean``
=================================  ===========================================  ================================

The notebooks call the same functions. Where they want another form, the form is a thin wrapper with
a test that it equals the function on the same draws: :func:`dropout_variance` is eq. 6 from
$\sigma^2$ (the training heads hold the excess $\sigma^2 - \alpha$), with the floor checked. Outside
this module: the importance weights of the NLL estimate are :func:`duvae.metrics.log_importance_weights`.
The Monte Carlo machinery that checks these closed forms by simulation (random posterior families,
estimates with standard errors, a simulation of BN training) is :mod:`duvae.montecarlo`.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

ALPHA = 1.0 / (2.0 * math.pi * math.e)  # zero-entropy noise variance, Section 3.1
LOG_2PI_E = math.log(2.0 * math.pi * math.e)


# --------------------------------------------------------------------------------------------------
# argument checks
# --------------------------------------------------------------------------------------------------


def check_family(mu: Tensor | None, var: Tensor | None) -> None:
    """``mu`` and ``var`` are ``[..., N, nz]`` with N >= 1; ``var > 0``; same shapes when both given."""
    for name, t in (("mu", mu), ("var", var)):
        if t is not None and t.dim() < 2:
            raise ValueError(f"{name} must have shape [..., N, nz], got shape {tuple(t.shape)}")
    if mu is not None and var is not None and mu.shape != var.shape:
        raise ValueError(f"mu and var must have the same shape, got {tuple(mu.shape)} and {tuple(var.shape)}")
    if var is not None and not bool((var > 0).all()):
        raise ValueError(f"var must be > 0 everywhere, got min(var) = {var.min().item():.3g}")


def check_alpha(alpha: float) -> float:
    r"""The noise floor $\alpha$ as a float ``> 0``; raises otherwise."""
    alpha = float(alpha)
    if not alpha > 0.0:
        raise ValueError(f"alpha must be > 0, got alpha={alpha}")
    return alpha


def check_floor(var: Tensor, alpha: float) -> None:
    r"""Raise unless $\sigma^2 \ge \alpha$ everywhere: below the floor eq. 6 can give $\hat\sigma^2 \le 0$."""
    # compare in var's dtype: var = exp(l) + alpha computed in float32 is >= float32(alpha)
    floor = torch.as_tensor(alpha, dtype=var.dtype, device=var.device)
    if not bool((var >= floor).all()):
        raise ValueError(
            f"variance dropout (eq. 6) needs var >= alpha = {alpha:.6g}, got min(var) = {var.min().item():.6g}"
        )


# --------------------------------------------------------------------------------------------------
# Gaussian divergences and entropies (elementwise, broadcasting)
# --------------------------------------------------------------------------------------------------


def gaussian_kl(mu_q: Tensor, var_q: Tensor, mu_p: Tensor, var_p: Tensor) -> Tensor:
    r"""$D_{KL}[\mathcal{N}(\mu_q, \sigma^2_q)\,\|\,\mathcal{N}(\mu_p, \sigma^2_p)]$ per dimension (broadcasting):
    $\tfrac12(\log\sigma^2_p - \log\sigma^2_q + \sigma^2_q/\sigma^2_p + (\mu_q-\mu_p)^2/\sigma^2_p - 1)$."""
    return 0.5 * (torch.log(var_p) - torch.log(var_q) + (var_q + (mu_q - mu_p) ** 2) / var_p - 1.0)


def symmetric_kl(mu1: Tensor, var1: Tensor, mu2: Tensor, var2: Tensor) -> Tensor:
    r"""$D_{SKL} = \tfrac12(D_{KL}[q_1\|q_2] + D_{KL}[q_2\|q_1])$ per dimension (eq. 2)
    $= \tfrac14\big(\sigma^2_1/\sigma^2_2 + \sigma^2_2/\sigma^2_1 + (\mu_1-\mu_2)^2(1/\sigma^2_1 + 1/\sigma^2_2) - 2\big)$."""
    inv1, inv2 = 1.0 / var1, 1.0 / var2  # the log-variance terms of the two KLs cancel
    return 0.25 * (var1 * inv2 + var2 * inv1 + (mu1 - mu2) ** 2 * (inv1 + inv2) - 2.0)


def gaussian_entropy(var: Tensor) -> Tensor:
    r"""Differential entropy of $\mathcal{N}(\cdot, \sigma^2)$, elementwise (the summand of eq. 5):
    $\tfrac12\log(2\pi e\,\sigma^2)$."""
    return 0.5 * (LOG_2PI_E + torch.log(var))


def prior_kl(mu: Tensor, var: Tensor, log_var: Tensor | None = None) -> Tensor:
    r"""Eq. 1, the KL term: $D_{KL}[\mathcal{N}(\mu, \sigma^2)\,\|\,\mathcal{N}(0, 1)]
    = \tfrac12(\mu^2 + \sigma^2 - \log\sigma^2 - 1)$ per entry (broadcasting; ``[B, nz]`` -> ``[B, nz]``).

    ``log_var`` is $\log\sigma^2$ for a caller that holds it (SA-VAE optimises the log-variances,
    :func:`duvae.sa_vae.prior_kl_from_logvar`): it replaces ``torch.log(var)``, sparing a round trip.
    """
    log_var = torch.log(var) if log_var is None else log_var
    return 0.5 * (mu**2 + var - log_var - 1.0)  # eq. 1: 1/2 (mu^2 + sigma^2 - log sigma^2 - 1)


# --------------------------------------------------------------------------------------------------
# diversity: MPD (eq. 2-3) and its lower bound
# --------------------------------------------------------------------------------------------------


def _mean_term(mu: Tensor, inv_var: Tensor) -> Tensor:
    r"""$\mathbb{E}_{1,2}[(\mu_1-\mu_2)^2 \cdot s_2]$ for a per-posterior weight $s$ (``inv_var``, ``[..., N, nz]``):
    $= \mathbb{E}_2[s_2((\mu_2-\bar\mu)^2 + \mathrm{Var}[\mu])]$ (the square expanded over $x_1$)."""
    mu_bar = mu.mean(dim=-2, keepdim=True)
    var_mu = mu.var(dim=-2, unbiased=False, keepdim=True)
    return (inv_var * ((mu - mu_bar) ** 2 + var_mu)).mean(dim=-2)


def mpd(mu: Tensor, var: Tensor) -> Tensor:
    r"""Eq. 3: mutual posterior diversity per dimension (with the per-dimension $-1$, docs/implementation.md §1.3, item 4).

    $\mathrm{MPD}_d = \tfrac12\big(\mathbb{E}[(\mu_{1,d}-\mu_{2,d})^2/\sigma^2_{2,d}]
    + \mathbb{E}[\sigma^2_d]\mathbb{E}[1/\sigma^2_d] - 1\big)$ over the empirical distribution of the $N$
    posteriors ($1/N^2$ pair average, $i=j$ included). ``mu``, ``var``: ``[..., N, nz]`` -> ``[..., nz]``.
    $O(N n_z)$ memory. Equals the average of :func:`symmetric_kl` over all ordered pairs.
    """
    check_family(mu, var)
    inv_var = 1.0 / var
    return 0.5 * (_mean_term(mu, inv_var) + var.mean(dim=-2) * inv_var.mean(dim=-2) - 1.0)  # eq. 3


def pairwise_skl_mpd(mu: Tensor, var: Tensor, chunk_size: int = 256) -> Tensor:
    r"""Eq. 2, by brute force: $\frac{1}{N^2}\sum_{i,j} D_{SKL}[q_i\|q_j]$ per dimension, ``[N, nz] -> [nz]``.

    $O(N^2 n_z)$ work, done ``chunk_size`` rows at a time (memory ``chunk_size * N * nz``). For checking
    :func:`mpd` only.
    """
    check_family(mu, var)
    if mu.dim() != 2:
        raise ValueError(f"pairwise_skl_mpd takes [N, nz] tensors, got shape {tuple(mu.shape)}")
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    n = mu.shape[0]
    total = torch.zeros(mu.shape[1], dtype=mu.dtype, device=mu.device)
    for start in range(0, n, chunk_size):
        rows = slice(start, start + chunk_size)
        skl = symmetric_kl(mu[rows, None, :], var[rows, None, :], mu[None, :, :], var[None, :, :])  # eq. 2
        total = total + skl.sum(dim=(0, 1))
    return total / n**2


def mpd_lower_bound(mu: Tensor, var: Tensor | None = None, var_max: float | Tensor | None = None) -> Tensor:
    r"""Lower bound of eq. 3 when the variances are bounded: $\mathrm{MPD}_d \ge \mathrm{Var}[\mu_d] / c_d$.

    With $\sigma^2_{i,d} \le c_d$: $\mathbb{E}[(\mu_1-\mu_2)^2/\sigma^2_2] \ge \mathbb{E}[(\mu_1-\mu_2)^2]/c_d
    = 2\mathrm{Var}[\mu_d]/c_d$ and $\mathbb{E}[\sigma^2]\mathbb{E}[1/\sigma^2] \ge 1$, hence the bound; for
    $\sigma^2 \le 1$ ($c_d = 1$) the paper's $\mathrm{MPD} \ge \sum_d \mathrm{Var}[\mu_d]$. Equality iff all
    $\sigma^2_{i,d} = c_d$ (or $\mathrm{Var}[\mu_d] = 0$ and $\sigma^2_d$ constant).

    ``mu``: ``[..., N, nz]``; ``var_max``: the bound $c$ (float or ``[nz]``); if omitted it is the
    tightest one, $\max_i \sigma^2_{i,d}$ from ``var``. If both are given, ``var <= var_max`` is checked.
    Returns ``[..., nz]``.
    """
    check_family(mu, var)
    if var is not None and var.shape != mu.shape:
        raise ValueError(f"mu and var must have the same shape, got {tuple(mu.shape)} and {tuple(var.shape)}")
    if var_max is None:
        if var is None:
            raise ValueError("mpd_lower_bound needs var or var_max (got neither)")
        c = var.amax(dim=-2)
    else:
        c = torch.as_tensor(var_max, dtype=mu.dtype, device=mu.device)
        if not bool((c > 0).all()):
            raise ValueError(f"var_max must be > 0, got {var_max}")
        if var is not None and not bool((var <= c).all()):
            raise ValueError(f"var <= var_max is required, got max(var) = {var.max().item():.6g} > var_max")
    return mu.var(dim=-2, unbiased=False) / c


# --------------------------------------------------------------------------------------------------
# uncertainty: conditional entropy (eq. 4-5)
# --------------------------------------------------------------------------------------------------


def conditional_entropy(var: Tensor) -> Tensor:
    r"""Eq. 4-5: conditional entropy per dimension, $\tfrac12\log 2\pi e + \tfrac12\mathbb{E}[\log\sigma^2_d]$.

    ``var``: ``[..., N, nz]`` -> ``[..., nz]``; exactly 0 in a dimension whose variances all equal
    $\alpha = 1/(2\pi e)$, and $\to -\infty$ as $\sigma^2 \to 0$.
    """
    check_family(None, var)
    return 0.5 * LOG_2PI_E + 0.5 * torch.log(var).mean(dim=-2)  # eq. 5


# --------------------------------------------------------------------------------------------------
# variance dropout (eq. 6) and Proposition 1 (eq. 7-8)
# --------------------------------------------------------------------------------------------------



def check_p_keep(p_keep: float) -> float:
    """The keep probability ``p_keep`` (the paper's $p$) as a float in (0, 1]; raises otherwise."""
    p_keep = float(p_keep)
    if not (0 < p_keep <= 1):
        raise ValueError(f"p_keep (the keep probability p) must be in (0, 1], got p={p_keep}")
    return p_keep


def variance_dropout(
    excess: Tensor, p_keep: float, alpha: float, generator: torch.Generator | None = None
) -> Tensor:
    r"""Eq. 6: $\hat\sigma^2 = g\,(\sigma^2 - \alpha) + \alpha$, $g \sim \mathrm{Bernoulli}(p)/p$ i.i.d. per entry.

    The one implementation of eq. 6: the DU-VAE and DU-IAF heads call it in training
    (:class:`~duvae.posteriors.du.DUHead`, :class:`~duvae.posteriors.iaf.IAFHead`), and
    :func:`dropout_variance` (the notebooks' form) calls it.

    ``excess`` is $\sigma^2 - \alpha \ge 0$, any shape (``[B, nz]`` in the heads, e.g. $\exp(l)$): the
    heads hold the excess, so no precision is lost subtracting $\alpha$ back. ``p_keep`` is the keep
    probability $p$ (the code's ``p_drop = 1 - p``); one independent $g$ per entry, drawn with
    ``torch.bernoulli`` from ``generator`` (which must live on ``excess``'s device; the global one if
    ``None``). ``p_keep = 1`` draws nothing and returns $\sigma^2$. $\mathbb{E}_g[\hat\sigma^2] = \sigma^2$
    (Proposition 1, eq. 7, line 1) and $\hat\sigma^2 \ge \alpha$ always. Returns ``excess``'s shape.
    """
    p_keep = check_p_keep(p_keep)
    if p_keep == 1.0:
        return excess + alpha
    keep = torch.bernoulli(torch.full_like(excess, p_keep), generator=generator)  # keep ~ Bernoulli(p)
    g = keep / p_keep  # g = keep / p, E[g] = 1
    return g * excess + alpha  # eq. 6: g (sigma^2 - alpha) + alpha


def dropout_variance(var: Tensor, p: float, alpha: float = ALPHA, generator: torch.Generator | None = None) -> Tensor:
    r"""The notebooks' form of eq. 6, from $\sigma^2$: :func:`variance_dropout` of the excess $\sigma^2 - \alpha$.

    A thin wrapper of the training function, with the same draws for the same generator state
    (``tests/test_theory.py`` checks it). On top, it checks ``p`` (the keep probability) and ``alpha``,
    refuses ``var < alpha`` (where eq. 6 could give $\hat\sigma^2 \le 0$), and takes a generator on any
    device: the dropout then runs on the generator's device and the result comes back to ``var``'s.
    ``var``: any shape, returns that shape; $\mathbb{E}_B[\hat\sigma^2] = \sigma^2$, $\hat\sigma^2 \ge \alpha$.
    """
    p, alpha = check_p_keep(p), check_alpha(alpha)
    check_floor(var, alpha)
    excess = var - alpha  # sigma^2 - alpha >= 0
    if generator is not None and generator.device != var.device:
        return variance_dropout(excess.to(generator.device), p, alpha, generator).to(var.device)  # eq. 6
    return variance_dropout(excess, p, alpha, generator)  # eq. 6


def expected_inverse_dropout_variance(var: Tensor, p: float, alpha: float = ALPHA) -> Tensor:
    r"""$w = \mathbb{E}_B[1/\hat\sigma^2] = p^2/(p\alpha + \sigma^2 - \alpha) + (1-p)/\alpha$, elementwise.

    Kept (prob. $p$): $1/u$ with $u = \alpha + (\sigma^2-\alpha)/p$; dropped: $1/\alpha$. $w = 1/\sigma^2$ at
    $p = 1$, $w \to 1/\alpha$ as $p \to 0$, $w \ge 1/\sigma^2$ (Jensen).
    """
    p, alpha = check_p_keep(p), check_alpha(alpha)
    check_floor(var, alpha)
    return p * p / (p * alpha + var - alpha) + (1.0 - p) / alpha


def expected_mpd_under_dropout(mu: Tensor, var: Tensor, p: float, alpha: float = ALPHA) -> Tensor:
    r"""Eq. 7, line 2: $\mathrm{MPD}_{p_\mathcal{D}\cdot B}$ per dimension, in closed form.

    The family is $(\mu_x, \hat\sigma^2_{x,B})$ with $(x, B)$ drawn from the product of the data and the
    Bernoulli masks, two draws i.i.d. (so the pair $i = j$ carries independent masks):
    $\tfrac12\big(\mathbb{E}[w\,((\mu-\bar\mu)^2 + \mathrm{Var}[\mu])] + \mathbb{E}[\sigma^2]\mathbb{E}[w] - 1\big)$ with
    $w$ from :func:`expected_inverse_dropout_variance`. ``[..., N, nz] -> [..., nz]``; equals :func:`mpd` at $p=1$.
    """
    check_family(mu, var)
    w = expected_inverse_dropout_variance(var, p, alpha)  # E_B[1 / var_hat]
    return 0.5 * (_mean_term(mu, w) + var.mean(dim=-2) * w.mean(dim=-2) - 1.0)  # eq. 3 over data x B


def expected_batch_mpd_under_dropout(mu: Tensor, var: Tensor, p: float, alpha: float = ALPHA) -> Tensor:
    r"""$\mathbb{E}_B[\mathrm{mpd}(\mu, \hat\sigma^2)]$: the expectation of the *mini-batch* diagnostic (docs/implementation.md §1.4)
    after one dropout draw on a fixed batch of $N$ posteriors, per dimension.

    Differs from :func:`expected_mpd_under_dropout` only on the diagonal pairs $i = j$, which share one
    mask: $\mathbb{E}_B[\hat\sigma^2_i/\hat\sigma^2_i] = 1$ instead of $\sigma^2_i w_i$, i.e. it is smaller by
    $\frac{1}{2N^2}\sum_i(\sigma^2_i w_i - 1) = O(1/N)$. ``[..., N, nz] -> [..., nz]``.
    """
    check_family(mu, var)
    w = expected_inverse_dropout_variance(var, p, alpha)
    n = var.shape[-2]
    diagonal = (var * w - 1.0).sum(dim=-2) / n**2
    return expected_mpd_under_dropout(mu, var, p, alpha) - 0.5 * diagonal


def expected_ce_under_dropout(var: Tensor, p: float, alpha: float = ALPHA) -> Tensor:
    r"""Eq. 7, line 3: $H_{q_\phi\cdot B}(z|x)$ per dimension,
    $\tfrac12\log 2\pi e + \tfrac12\mathbb{E}\big[p\log(\alpha + (\sigma^2-\alpha)/p) + (1-p)\log\alpha\big]$.

    ``[..., N, nz] -> [..., nz]``; equals :func:`conditional_entropy` at $p=1$ and tends to 0 as $p \to 0$.
    """
    p, alpha = check_p_keep(p), check_alpha(alpha)
    check_family(None, var)
    check_floor(var, alpha)
    u = alpha + (var - alpha) / p  # the kept value of var_hat
    e_log_var_hat = p * torch.log(u) + (1.0 - p) * math.log(alpha)  # E_B[log var_hat]
    return 0.5 * LOG_2PI_E + 0.5 * e_log_var_hat.mean(dim=-2)  # eq. 5 over data x B


def mpd_dropout_bound(mu: Tensor, p: float, alpha: float = ALPHA) -> Tensor:
    r"""Eq. 8: per dimension $\frac{1-p}{\alpha}\mathrm{Var}[\mu_d]$; the sum over $d$ is the paper's bound
    $\mathrm{MPD}_{p_\mathcal{D}\cdot B} \ge \frac{1-p}{\alpha}\sum_d \mathrm{Var}[\mu_d]$
    (needs $\sigma^2 \ge \alpha$).

    ``mu``: ``[..., N, nz] -> [..., nz]``; ``Var`` is the biased (``1/N``) variance.
    """
    p, alpha = check_p_keep(p), check_alpha(alpha)
    check_family(mu, None)
    return (1.0 - p) / alpha * mu.var(dim=-2, unbiased=False)  # eq. 8


# --------------------------------------------------------------------------------------------------
# batch normalisation on the means (eq. 9, Algorithm 1 line 9)
# --------------------------------------------------------------------------------------------------


def batchnorm_means(
    m: Tensor,
    w: Tensor,
    b: Tensor,
    eps: float = 1e-5,
    running_mean: Tensor | None = None,
    running_var: Tensor | None = None,
    training: bool = True,
    momentum: float = 0.1,
) -> Tensor:
    r"""Eq. 9: $\hat\mu_d = w_d\,(m_d - \mu_{\mathcal{B}_d})/\sqrt{\sigma^2_{\mathcal{B}_d} + \epsilon} + b_d$,
    with $w = \gamma_\mu$ the scales and $b = \beta_\mu$ the shifts.

    The one implementation of eq. 9: :class:`~duvae.posteriors.batchnorm.BatchNormMean` (the DU-VAE,
    BN-VAE and IAF heads) calls it in training and evaluation, and the notebooks call it as it is.

    ``m``: raw means ``[B, nz]``; ``w``, ``b``: ``[nz]``; returns $\hat\mu$ ``[B, nz]``. In training mode
    (the default) $\mu_{\mathcal{B}}$ and $\sigma^2_{\mathcal{B}}$ are the batch mean and the *biased* batch
    variance over the rows (``B >= 2``), so the output has batch mean $b_d$ and batch variance
    $w_d^2\sigma^2_{\mathcal{B}_d}/(\sigma^2_{\mathcal{B}_d}+\epsilon)$; ``running_mean`` / ``running_var``
    ``[nz]``, if given, are updated in place (``momentum``, unbiased variance: PyTorch's convention).
    With ``training=False`` the running statistics replace the batch's (any ``B``). The arithmetic is
    ``torch.nn.functional.batch_norm``'s, which needs ``eps > 0``.
    """
    if m.dim() != 2 or (training and m.shape[0] < 2):
        raise ValueError(f"m must have shape [B, nz] with B >= 2 in training mode, got {tuple(m.shape)}")
    if w.shape != (m.shape[1],) or b.shape != (m.shape[1],):
        raise ValueError(f"w and b must have shape [{m.shape[1]}], got {tuple(w.shape)} and {tuple(b.shape)}")
    if not eps > 0:
        raise ValueError(f"eps must be > 0, got {eps}")
    if not training and (running_mean is None or running_var is None):
        raise ValueError("batchnorm_means with training=False needs running_mean and running_var")
    # eq. 9: w (m - mu_B) / sqrt(sigma_B^2 + eps) + b, mu_B and sigma_B^2 the batch's (or the running) statistics
    return F.batch_norm(m, running_mean, running_var, w, b, training=training, momentum=momentum, eps=eps)


def check_gamma(gamma: float) -> float:
    r"""The target scale $\gamma$ as a float, finite and ``> 0``; raises otherwise."""
    gamma = float(gamma)
    if not (gamma > 0 and math.isfinite(gamma)):
        raise ValueError(f"gamma must be a finite number > 0, got {gamma}")
    return gamma


def renormalise_scales(w: Tensor, gamma: float) -> Tensor:
    r"""Algorithm 1, line 9: $w_d \leftarrow w_d\,\gamma/\sqrt{\mathrm{mean}_k w_k^2}$, so that
    $\mathrm{mean}_d w_d^2 = \gamma^2$ (the paper's fixed mean scale, $\mathbb{E}_d[\gamma_{\mu_d}^2] = \gamma^2$).

    The one implementation of the rescaling: :meth:`BatchNormMean.renormalise_scale
    <duvae.posteriors.batchnorm.BatchNormMean.renormalise_scale>` calls it before every forward.
    ``w``: ``[nz]`` BN scales; returns a new tensor (idempotent, signs kept); raises if ``gamma`` is
    not a finite number ``> 0``.

    **Every scale zero.** Then there is no direction to keep, and the scales are reset to $\gamma$,
    their initialisation (Algorithm 1, line 1): that is the one point of the sphere
    $\{\mathrm{mean}_d w_d^2 = \gamma^2\}$ that favours no dimension, and it restores
    $\sum_d \mathrm{Var}[\hat\mu_d] = n_z\gamma^2$, the constraint the paper fixes. Raising would stop a
    training run at the one moment the constraint is needed, and dividing by the zero RMS would give
    NaN. (The test ``rms > 0`` also fails for a NaN RMS, so NaN scales are reset too; a NaN loss
    stops training before that, :class:`duvae.runs.trainer.NonFiniteLossError`.) The choice is made on the
    device with ``torch.where``: no host synchronisation at every forward.
    """
    gamma = check_gamma(gamma)
    rms = w.pow(2).mean().sqrt()  # sqrt(E_d[gamma_mu_d^2])
    return torch.where(rms > 0, w * (gamma / rms), torch.full_like(w, gamma))  # Alg. 1 line 9


def bn_kl_lower_bound(w: Tensor, b: Tensor) -> Tensor:
    r"""BN-VAE's bound, per dimension: $\tfrac12(w_d^2 + b_d^2) = \tfrac12\mathbb{E}[\hat\mu_d^2]$ (eps -> 0).

    $\mathbb{E}_x D_{KL}[q\|p] = \tfrac12\sum_d(\mathbb{E}[\hat\mu_d^2] + \mathbb{E}[\sigma^2_d - \log\sigma^2_d - 1])
    \ge \tfrac12\sum_d \mathbb{E}[\hat\mu_d^2]$ since $s - \log s - 1 \ge 0$; the batch moments of eq. 9 give
    $\mathbb{E}[\hat\mu_d^2] = w_d^2 + b_d^2$, and with the renormalisation $\sum_d w_d^2 = n_z\gamma^2$, so the
    KL is at least $n_z\gamma^2/2$. ``w``, ``b``: ``[nz]`` -> ``[nz]``.
    """
    return 0.5 * (w**2 + b**2)
