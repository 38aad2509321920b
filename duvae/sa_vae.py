r"""SA-VAE: semi-amortised inference (Kim et al. 2018), docs/implementation.md §5.3.

The encoder's Gaussian :math:`\lambda_0 = (\mu_0, \log\sigma^2_0)` is only a starting point. For
each example, :math:`K` steps of stochastic variational inference (SGD with momentum on the
negative ELBO) refine it,

.. math::
    f_n(\mu, \log\sigma^2) = -\log p_\theta(x_n | z) + w \cdot D_{KL}[\mathcal{N}(\mu, \sigma^2) \| \mathcal{N}(0, I)],
    \qquad z = \mu + \sigma \odot \epsilon,\; \epsilon \sim \mathcal{N}(0, I)          \qquad (F)

.. math::
    F = \frac{1}{B} \sum_{n=1}^{B} f_n, \qquad
    g_k = \mathrm{clip}_{5}\big(\nabla_\lambda F(\lambda_k)\big), \qquad
    v_{k+1} = m\, v_k + g_k, \qquad \lambda_{k+1} = \lambda_k - \eta\, v_{k+1}           \qquad (SVI)

(one fresh :math:`\epsilon` per step, :math:`\eta` = ``lr`` = 1, :math:`m` = ``momentum`` = 0.5,
:math:`w` the current KL weight). As in the reference code, the objective of the steps is the
*batch mean* :math:`F` (He et al.'s ``variational_loss`` returns ``.mean()``), so example
:math:`n` moves by :math:`\eta / B` times its own gradient :math:`\nabla f_n`, and the clip rescales
the gradient of the *whole batch* ``[B, nz]`` to an L2 norm of at most 5, separately for
:math:`\mu` and :math:`\log\sigma^2` (Kim et al.'s ``OptimN2N.clip_grad_norm``). An earlier version
of this module stepped on the sum :math:`\sum_n f_n` with a per-example clip: steps :math:`B` times
larger, which made the refinement diverge on Omniglot (validation KL of :math:`10^{10}`). The
model is then trained on the negative ELBO at the refined parameters :math:`\lambda_K`:

.. math::
    \mathcal{L}_\text{SA}(x) = f(\lambda_K(\lambda_0(x; \phi), \theta), \theta).            \qquad (SA)

Its gradient reaches the decoder :math:`\theta` (directly, and through the steps) and the encoder
:math:`\phi` only *through the unrolled steps*: :math:`d\lambda_K / d\lambda_0` involves the Hessian
of :math:`f` in :math:`\lambda`.

Difference from the reference code (He et al.'s ``text_sa.py``, from Kim et al.'s ``OptimN2N``):
they run the inner steps without a graph and back-propagate through them by finite-difference
Hessian-vector products (:math:`\epsilon = 10^{-5}`). Here each inner gradient is taken with
``torch.autograd.grad(..., create_graph=True)``, so ``loss.backward()`` computes the *exact*
second-order gradient of (SA) in one pass, for the encoder and the decoder alike.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from duvae.posteriors.gaussian import DiagGaussian
from duvae.theory import prior_kl


def prior_kl_from_logvar(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    r""":math:`D_{KL}[\mathcal{N}(\mu, e^{\log\sigma^2}) \| \mathcal{N}(0, I)]` summed over the dimensions.

    The KL term of eq. (F), in the log-variances SVI optimises: a thin wrapper of
    :func:`duvae.theory.prior_kl` (paper eq. 1, the one implementation), given :math:`\log\sigma^2`
    itself so that no ``log(exp(.))`` round trip changes it. ``mu``, ``logvar`` ``[B, nz]`` -> ``[B]``.
    """
    return prior_kl(mu, logvar.exp(), log_var=logvar).sum(-1)  # sum_d 1/2 (mu^2 + sigma^2 - log sigma^2 - 1)


def negative_elbo(
    model: nn.Module, x: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor, kl_weight: float = 1.0
) -> torch.Tensor:
    r"""Eq. (F) for every example, one reparameterised sample: ``[B]``.

    Args:
        model: a :class:`duvae.vae.VAE` (only ``model.log_likelihood`` is used).
        x: the batch.
        mu, logvar: variational parameters ``[B, nz]``.
        kl_weight: :math:`w`, the weight of the KL term (the current annealing weight, or beta).
    """
    eps = torch.randn_like(mu)
    z = mu + (0.5 * logvar).exp() * eps  # reparameterisation, [B, nz]
    rec = -model.log_likelihood(x, z[None])[0]  # -log p(x|z), [B]
    return rec + kl_weight * prior_kl_from_logvar(mu, logvar)  # eq. (F)


def clip_total_norm(g: torch.Tensor, max_norm: float) -> torch.Tensor:
    r"""Rescale the whole of ``g`` (e.g. ``[B, nz]``) to an L2 norm of at most ``max_norm`` (differentiable).

    :math:`g \leftarrow g \min(1, \text{max\_norm} / (\|g\|_2 + 10^{-6}))`, the norm taken over every
    entry at once, as the reference clips the gradient of a batch's variational parameters;
    ``max_norm = inf`` leaves ``g`` unchanged.
    """
    if not max_norm > 0:
        raise ValueError(f"max_norm must be > 0, got {max_norm}")
    if math.isinf(max_norm):
        return g
    norm = g.norm()  # ||g||_2 over the whole batch, a scalar
    return g * (max_norm / (norm + 1e-6)).clamp(max=1.0)


def svi_refine(
    model: nn.Module,
    x: torch.Tensor,
    mu: torch.Tensor,
    logvar: torch.Tensor,
    steps: int,
    lr: float,
    momentum: float,
    create_graph: bool = True,
    kl_weight: float = 1.0,
    max_grad_norm: float = 5.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""``steps`` iterations of eq. (SVI) from the encoder's ``(mu, logvar)``; returns ``(mu_K, logvar_K)``.

    Args:
        model: the VAE (its decoder scores the samples).
        x: the batch.
        mu, logvar: :math:`\lambda_0`, ``[B, nz]`` each (the encoder's output).
        steps: :math:`K \ge 0`; ``0`` returns ``(mu, logvar)`` unchanged.
        lr: :math:`\eta > 0`.
        momentum: :math:`m \in [0, 1)`.
        create_graph: ``True`` (training) keeps the graph of every inner gradient, so that
            back-propagating from :math:`\lambda_K` is exact (second order); ``False`` treats the
            inner gradients as constants (then :math:`d\lambda_K/d\lambda_0 = I`), e.g. at evaluation.
        kl_weight: :math:`w` in eq. (F).
        max_grad_norm: clip of the inner gradients, over the whole batch (5 in the reference).

    Returns:
        ``(mu_K, logvar_K)``, ``[B, nz]`` each. Called with gradients disabled (``torch.no_grad``),
        the refinement still runs (it needs gradients inside) and the results come back detached.
    """
    if isinstance(steps, bool) or int(steps) != steps or steps < 0:
        raise ValueError(f"steps must be an integer >= 0, got {steps}")
    if not (lr > 0 and math.isfinite(lr)):
        raise ValueError(f"lr must be a finite number > 0, got {lr}")
    if not 0.0 <= momentum < 1.0:
        raise ValueError(f"momentum must be in [0, 1), got {momentum}")
    if not max_grad_norm > 0:
        raise ValueError(f"max_grad_norm must be > 0, got {max_grad_norm}")
    if mu.dim() != 2 or mu.shape != logvar.shape:
        raise ValueError(f"mu and logvar must both be [batch, nz], got {tuple(mu.shape)} and {tuple(logvar.shape)}")
    if steps == 0:
        return mu, logvar
    grad_enabled = torch.is_grad_enabled()
    with torch.enable_grad():
        if not grad_enabled:  # evaluation under no_grad: nothing to back-propagate into
            mu, logvar = mu.detach(), logvar.detach()
        v_mu = torch.zeros_like(mu)
        v_logvar = torch.zeros_like(logvar)
        for _ in range(int(steps)):
            # Where the inner gradient is taken. Exact second order: at the iterate itself, whose
            # graph back to lambda_0 is kept and extended. First order: at a detached copy, so that
            # autograd.grad neither differentiates nor frees the graph of lambda_0 (the encoder).
            at_mu = mu if create_graph and mu.requires_grad else mu.detach().requires_grad_(True)
            at_logvar = logvar if create_graph and logvar.requires_grad else logvar.detach().requires_grad_(True)
            # F = (1/B) sum_n f_n: example n's rows of the gradient are (1/B) grad f_n (eq. SVI)
            f = negative_elbo(model, x, at_mu, at_logvar, kl_weight).mean()
            g_mu, g_logvar = torch.autograd.grad(f, (at_mu, at_logvar), create_graph=create_graph)
            g_mu = clip_total_norm(g_mu, max_grad_norm)  # eq. (SVI): clip_5 of the batch's gradient
            g_logvar = clip_total_norm(g_logvar, max_grad_norm)
            v_mu = momentum * v_mu + g_mu  # eq. (SVI): v_{k+1} = m v_k + g_k
            v_logvar = momentum * v_logvar + g_logvar
            mu = mu - lr * v_mu  # eq. (SVI): lambda_{k+1} = lambda_k - eta v_{k+1}
            logvar = logvar - lr * v_logvar
    if not grad_enabled:
        return mu.detach(), logvar.detach()
    return mu, logvar


def refined_posterior(
    model: nn.Module,
    x: torch.Tensor,
    q,
    steps: int,
    lr: float,
    momentum: float,
    kl_weight: float = 1.0,
    create_graph: bool = True,
) -> DiagGaussian:
    r"""The SA-VAE posterior :math:`\mathcal{N}(\mu_K, \sigma^2_K)`, refined from the encoder's ``q``.

    ``q`` must be a diagonal Gaussian (``q.mu``, ``q.var`` ``[B, nz]``); its log-variance
    :math:`\log\sigma^2_0` is the starting point of eq. (SVI). With ``steps = 0`` the result is
    ``q`` itself (up to the round trip :math:`\exp(\log\sigma^2)`). For evaluation (IW-NLL, MI, AU
    of an SA-VAE, as He et al. evaluate it) call with ``create_graph=False``.
    """
    if not (hasattr(q, "mu") and hasattr(q, "var")):
        raise ValueError(f"SA-VAE refines a diagonal Gaussian posterior (with .mu and .var); got {type(q).__name__}")
    mu_k, logvar_k = svi_refine(model, x, q.mu, q.var.log(), steps, lr, momentum, create_graph, kl_weight)
    return DiagGaussian(mu_k, logvar_k.exp())


class RefinedPosteriorModel(nn.Module):
    """An SA-VAE as Kim et al. and He et al. evaluate it: ``posterior(x)`` is the SVI-refined one.

    Wraps a trained model (the model protocol of :mod:`duvae.vae`): ``prior`` and
    ``log_likelihood`` are the model's, and ``posterior(x)`` runs ``steps`` SVI steps (eq. SVI, at
    KL weight 1, first order: no graph kept) from the encoder's Gaussian. IW-NLL, KL, MI and AU
    computed through it are those of the refined posteriors.
    """

    def __init__(self, model: nn.Module, steps: int, lr: float, momentum: float):
        super().__init__()
        self.model = model
        self.steps, self.lr, self.momentum = steps, lr, momentum

    @property
    def prior(self):
        return self.model.prior

    def posterior(self, x: torch.Tensor, kl_weight: float = 1.0) -> DiagGaussian:
        q = self.model.posterior(x, kl_weight=kl_weight)
        return refined_posterior(self.model, x, q, self.steps, self.lr, self.momentum, kl_weight=1.0,
                                 create_graph=False)

    def log_likelihood(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return self.model.log_likelihood(x, z)
