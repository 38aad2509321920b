r"""The loss of one training step, for every remedy that acts on the objective.

All models maximise (a variant of) the ELBO of paper eq. 1, estimated with one sample
:math:`z_n \sim q_\phi(z|x_n)` and averaged over the mini-batch (docs/implementation.md §1.1, step 8):

.. math::
    \mathcal{L} = \frac1B \sum_n \big[ \underbrace{-\log p_\theta(x_n|z_n)}_{\text{rec}_n}
                  + w \, \underbrace{\textstyle\sum_d KL_{n,d}}_{\text{KL}_n} \big]      \qquad (L)

- **KL per dimension** (docs/implementation.md §1.1, step 7; §1.5, item 6): analytic for a diagonal Gaussian,
  :math:`KL_{n,d} = \tfrac12(\mu_{n,d}^2 + \sigma^2_{n,d} - \log\sigma^2_{n,d} - 1)`; for the IAF
  posterior a single-sample Monte-Carlo estimate at the decoder's sample :math:`z^T`,
  :math:`KL_{n,d} = \log q(z^T|x)_d - \log\mathcal{N}(z^T_d; 0, 1)` (a per-dimension bookkeeping;
  only the sum over :math:`d` is a proper log-density ratio).
- **Weight** :math:`w` (docs/implementation.md §5.1, §5.2, §5.11): the annealed :math:`\beta_t` of
  :func:`kl_weight_at` (VAE + annealing and every other model), or a constant :math:`\beta`
  (beta-VAE; :math:`\beta = 0` is the AE of Tables 2-3).
- **Free bits** (Kingma et al. 2016; docs/implementation.md §5.5; §1.5, item 9): the KL term becomes
  :math:`\sum_d \max(\lambda, \frac1B \sum_n KL_{n,d})` (FB). *Choice*: during KL annealing this
  term is still multiplied by :math:`w`, i.e. :math:`\mathcal{L} = \overline{\text{rec}} + w
  \sum_d \max(\lambda, \overline{KL}_{\cdot,d})`, so that FB models anneal like every other model
  (the reference IAF code does the same: the clamped KL replaces the KL inside
  ``rec + kl_weight * KL``).
- **MAE** (docs/implementation.md §5.8, :mod:`duvae.mae`): adds
  :math:`w_\text{div} \sum_d -\log\sigma(M_d) + w_\text{smooth} S`, not annealed.
- **SA-VAE** (docs/implementation.md §5.3, :mod:`duvae.sa_vae`): (L) at the posterior refined by
  :math:`K` SVI steps.

Annealing (docs/implementation.md §3.1, §3.2, §8.1):
:math:`\beta_t = \min(1, \beta_0 + (1 - \beta_0)\, t / (W \cdot N))` after :math:`t` steps, :math:`W`
warm-up epochs of :math:`N` steps each; exactly 1.0 once :math:`t \ge W N`, and 1.0 throughout when
:math:`W = 0`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.distributions import Distribution

from duvae.mae import mae_regularisers
from duvae.sa_vae import prior_kl_from_logvar, refined_posterior


@dataclass
class LossTerms:
    """What one training step computes.

    Attributes:
        loss: scalar tensor to back-propagate (eq. L and its variants).
        rec: :math:`-\\log p(x_n|z_n)` ``[B]`` (one sample).
        kl: the KL reported per example ``[B]``: analytic for Gaussians, single-sample MC for IAF
            (docs/implementation.md §1.5, item 6; §4.2); for SA-VAE at the refined posterior.
        extra: named scalar diagnostics (detached 0-d tensors): always ``kl_weight`` (the weight
            :math:`w` applied to the KL term); ``fb_kl`` with free bits; ``mae_div`` and
            ``mae_smooth`` with MAE; ``kl_init`` (KL of the encoder's own posterior) with SA-VAE.
    """

    loss: torch.Tensor
    rec: torch.Tensor
    kl: torch.Tensor
    extra: dict[str, torch.Tensor] = field(default_factory=dict)


def _check_weight(name: str, value: float) -> float:
    value = float(value)
    if not (value >= 0 and math.isfinite(value)):
        raise ValueError(f"{name} must be a finite number >= 0, got {value}")
    return value


def kl_per_dim(
    q: Distribution,
    prior: Distribution,
    z: torch.Tensor | None = None,
    log_q_per_dim: torch.Tensor | None = None,
) -> torch.Tensor:
    r""":math:`KL_{n,d}`, ``[B, nz]`` (or ``[*S, B, nz]`` for MC with samples ``[*S, B, nz]``).

    Decided by capability:

    - ``q`` has ``kl_per_dim()`` (a diagonal Gaussian): its analytic KL to :math:`\mathcal{N}(0, I)`
      (docs/implementation.md §1.1, step 7); ``prior`` is the model's standard normal and ``z`` is ignored.
    - otherwise (the IAF posterior): single-sample MC (docs/implementation.md §1.5, item 6),
      :math:`\log q(z)_d - \log p(z_d)`. Pass the sample ``z`` together with its
      ``log_q_per_dim`` (both from ``q.rsample_and_log_prob_per_dim``), or neither to draw one here.
      ``prior`` must be a factorised distribution (``prior.base_dist.log_prob`` per dimension).
    """
    if hasattr(q, "kl_per_dim"):
        return q.kl_per_dim()  # analytic, docs/implementation.md §1.1, step 7
    if (z is None) != (log_q_per_dim is None):
        raise ValueError("kl_per_dim: for a Monte-Carlo KL pass both z and log_q_per_dim, or neither")
    if not hasattr(q, "rsample_and_log_prob_per_dim"):
        raise ValueError(
            f"kl_per_dim: {type(q).__name__} has neither kl_per_dim() nor rsample_and_log_prob_per_dim()"
        )
    if z is None:
        z, log_q_per_dim = q.rsample_and_log_prob_per_dim(torch.Size())
    if z.shape != log_q_per_dim.shape:
        raise ValueError(f"z {tuple(z.shape)} and log_q_per_dim {tuple(log_q_per_dim.shape)} differ in shape")
    log_p_per_dim = prior.base_dist.log_prob(z)  # log N(z_d; 0, 1), [*S, B, nz]
    return log_q_per_dim - log_p_per_dim  # docs/implementation.md §1.5, item 6, per dimension


def free_bits_kl(kl_per_dim: torch.Tensor, lam: float) -> torch.Tensor:
    r"""Free bits (FB): :math:`\sum_d \max(\lambda, \mathrm{mean}_n KL_{n,d})`, a scalar.

    Args:
        kl_per_dim: :math:`KL_{n,d}` ``[B, nz]`` (or ``[*S, B, nz]``: the mean then runs over the
            samples and the batch, docs/implementation.md §1.5, item 9).
        lam: :math:`\lambda \ge 0` nats per dimension.

    A dimension whose batch-mean KL is below :math:`\lambda` contributes the constant
    :math:`\lambda`, hence zero gradient (Kingma et al. 2016).
    """
    lam = _check_weight("lam", lam)
    if kl_per_dim.dim() < 2:
        raise ValueError(f"kl_per_dim must be [batch, nz] or [*S, batch, nz], got shape {tuple(kl_per_dim.shape)}")
    mean_kl = kl_per_dim.flatten(0, -2).mean(0)  # mean_n KL_{n,d}, [nz]
    return mean_kl.clamp(min=lam).sum()  # eq. FB


def kl_weight_at(step: int, steps_per_epoch: float, kl_start: float, warm_up: float) -> float:
    r"""Annealed KL weight :math:`\beta_t = \min(1, \beta_0 + (1 - \beta_0)\, t / (W N))`.

    The schedules of docs/implementation.md §3.1 and §3.2.

    Args:
        step: :math:`t`, the number of optimiser steps taken so far (``0`` gives ``kl_start``). The
            reference increments the weight *before* each step, i.e. step ``i`` (0-based) uses
            ``kl_weight_at(i + 1, ...)``.
        steps_per_epoch: :math:`N > 0` (may be the nominal ``N_train / batch_size``, a float).
        kl_start: :math:`\beta_0 \in [0, 1]`.
        warm_up: :math:`W \ge 0` epochs; ``0`` means no annealing (weight 1.0, no division by zero,
            docs/implementation.md §8.1).

    Returns:
        A float in ``[kl_start, 1]``, exactly ``1.0`` once :math:`t \ge W N` (the heads switch the
        variance floor and dropout on by comparing it with 1, docs/implementation.md §1.3, item 1).
    """
    if isinstance(step, bool) or int(step) != step or step < 0:
        raise ValueError(f"step must be an integer >= 0, got {step}")
    if not (steps_per_epoch > 0 and math.isfinite(steps_per_epoch)):
        raise ValueError(f"steps_per_epoch must be a finite number > 0, got {steps_per_epoch}")
    if not 0.0 <= kl_start <= 1.0:
        raise ValueError(f"kl_start must be in [0, 1], got {kl_start}")
    if not (warm_up >= 0 and math.isfinite(warm_up)):
        raise ValueError(f"warm_up must be a finite number >= 0, got {warm_up}")
    if warm_up == 0:
        return 1.0
    fraction = step / (warm_up * steps_per_epoch)  # t / (W N)
    if fraction >= 1.0:
        return 1.0  # exactly 1.0 after the warm-up, not 0.99999...
    return min(1.0, float(kl_start) + (1.0 - float(kl_start)) * fraction)


def _sample_and_kl_per_dim(q: Distribution, prior: Distribution) -> tuple[torch.Tensor, torch.Tensor]:
    """One sample ``z`` ``[1, B, nz]`` for the decoder and :math:`KL_{n,d}` ``[B, nz]`` that goes with it."""
    if hasattr(q, "kl_per_dim"):
        z = q.rsample(torch.Size([1]))  # z = mu + sigma * eps, [1, B, nz]
        return z, kl_per_dim(q, prior)  # analytic
    z, log_q_pd = q.rsample_and_log_prob_per_dim(torch.Size([1]))  # z^T and log q per dim, [1, B, nz]
    return z, kl_per_dim(q, prior, z, log_q_pd)[0]  # single-sample MC at the decoder's z^T


def training_loss(model: nn.Module, x: torch.Tensor, kl_weight: float, cfg) -> LossTerms:
    r"""The loss of one training step for the model described by ``cfg``.

    Args:
        model: a :class:`duvae.vae.VAE` in training mode.
        x: the mini-batch (whatever the encoder and decoder take).
        kl_weight: the current annealing weight :math:`\beta_t` (:func:`kl_weight_at`); it is given to
            the posterior head (floor/dropout switch, docs/implementation.md §1.3, item 1) and weights the KL unless
            ``cfg.beta`` is set.
        cfg: the model's :class:`~duvae.runs.config.ModelConfig` (``beta``, ``free_bits``,
            ``mae_diversity``, ``mae_smoothness``, ``procedure``, ``svi_*``).

    Returns:
        :class:`LossTerms`; ``loss`` is the batch mean of eq. (L) or its variant (docs/implementation.md §1.1, step 8).
    """
    cfg.validate()
    kl_weight = _check_weight("kl_weight", kl_weight)
    # beta_t (annealing) or a constant beta (docs/implementation.md §5.2)
    w = kl_weight if cfg.beta is None else float(cfg.beta)
    extra: dict[str, torch.Tensor] = {}

    q = model.posterior(x, kl_weight=kl_weight)  # q(z|x), batch [B], event [nz]
    if cfg.procedure == "sa":
        if not hasattr(q, "mu"):
            raise ValueError(f"{cfg.name}: SA-VAE needs a diagonal Gaussian posterior, got {type(q).__name__}")
        extra["kl_init"] = prior_kl_from_logvar(q.mu, q.var.log()).mean().detach()  # KL before refinement
        # docs/implementation.md §5.3: K SVI steps on the per-example ELBO, back-propagated through.
        q = refined_posterior(
            model, x, q, cfg.svi_steps, cfg.svi_lr, cfg.svi_momentum, kl_weight=w, create_graph=True
        )

    z, kl_pd = _sample_and_kl_per_dim(q, model.prior)  # z [1, B, nz]; KL_{n,d} [B, nz]
    rec = -model.log_likelihood(x, z)[0]  # rec_n = -log p(x_n | z_n), [B] (eq. L)
    kl = kl_pd.sum(-1)  # KL_n = sum_d KL_{n,d}, [B] (docs/implementation.md §1.1, step 7; §1.5, item 6)

    if cfg.free_bits > 0:
        kl_term = free_bits_kl(kl_pd, cfg.free_bits)  # eq. FB, replaces mean_n KL_n
        extra["fb_kl"] = kl_term.detach()
    else:
        kl_term = kl.mean()  # (1/B) sum_n KL_n
    loss = rec.mean() + w * kl_term  # eq. (L): batch mean (docs/implementation.md §1.1, step 8)

    if cfg.mae_diversity > 0 or cfg.mae_smoothness > 0:
        base = q.base  # the Gaussian whose (mu, var) MAE compares (z^0 for an IAF)
        diversity, smoothness = mae_regularisers(base.mu, base.var)  # docs/implementation.md §5.8
        loss = loss + cfg.mae_diversity * diversity + cfg.mae_smoothness * smoothness
        extra["mae_div"] = diversity.detach()
        extra["mae_smooth"] = smoothness.detach()

    extra["kl_weight"] = torch.tensor(w)
    return LossTerms(loss=loss, rec=rec, kl=kl, extra=extra)
