r"""Evaluation metrics: IW-NLL, KL, MI, AU, MPD, CE and perplexity (docs/implementation.md §4, §1.4).

Every function works on any model that honours the *model protocol* of :mod:`duvae.vae`:
``model.posterior(x)`` is a ``torch.distributions`` object with batch shape ``[B]`` and event shape
``[nz]``, ``model.prior`` has event shape ``[nz]`` and ``model.log_likelihood(x, z)`` maps
``z [S, B, nz]`` to ``[S, B]``. All model calls run in evaluation mode (``model.eval()``, no
gradients) and the previous training flags are restored afterwards (docs/implementation.md §4).

Importance-weighted NLL (docs/implementation.md §4.1), with :math:`z_k \sim q(z|x)`, :math:`k = 1..K`:

.. math::
    \log w_k = \log p(x|z_k) + \log p(z_k) - \log q(z_k|x), \qquad
    -\log p(x) \approx -\Big(\operatorname{logsumexp}_k \log w_k - \log K\Big),

the weights from :func:`log_importance_weights` (the one place they are computed) and the estimate
from :func:`iw_nll`; :func:`iw_bounds` cuts the same $K$ weights into groups of $k$ for the bound with
$k$ samples ($k = 1$: the ELBO, $k = K$: the IW-NLL).

KL (docs/implementation.md §4.2): the analytic :math:`D_{KL}[q(z|x) \| p(z)]` (paper eq. 1) when one exists,
else the Monte-Carlo mean of :math:`\log q(z|x) - \log p(z)` (IAF, docs/implementation.md §1.5, item 6).

Mutual information (docs/implementation.md §4.3), over the whole set of :math:`N` posteriors
:math:`q(z|x_n) = \mathcal{N}(\mu_n, \operatorname{diag} \sigma^2_n)`, one :math:`z_n \sim q(z|x_n)` each:

.. math::
    I_q \approx \frac1N \sum_n \Big[-\mathcal{H}[q(z|x_n)]\Big]
    - \frac1N \sum_n \log \frac1N \sum_m \mathcal{N}(z_n; \mu_m, \sigma^2_m).

:func:`mutual_information` draws one :math:`z_n` per example; :func:`mi_from_draws` repeats the
estimate over ``R`` given noise draws at once (its spread), over the whole set or per mini-batch.

Active units (docs/implementation.md §4.4): :math:`A_d = \operatorname{Var}_n(\mu_{n,d})` (unbiased), active if
:math:`A_d \ge 0.01` (the code's convention; the paper writes :math:`>`).

MPD and conditional entropy: the paper's eq. 3 and eq. 5 per dimension, via :mod:`duvae.theory`
(docs/implementation.md §1.4). Perplexity (docs/implementation.md §4.5): :math:`\exp(\sum_n \mathrm{NLL}_n / \sum_n (L_n + 1))`.
"""

from __future__ import annotations

import contextlib
import inspect
import math
from typing import Callable, Iterable, Iterator

import torch
from torch import nn
from torch.distributions import Distribution

from duvae.bf16 import autocast, check_precision

LOG_2PI = math.log(2.0 * math.pi)


# ----------------------------------------------------------------------------------------------
# Protocol helpers
# ----------------------------------------------------------------------------------------------


@contextlib.contextmanager
def evaluating(model) -> Iterator[None]:
    """Run a block with every sub-module in eval mode and without gradients.

    The training flag of *each* sub-module is saved and restored, so a model that was partly
    frozen (say a BN layer kept in eval) comes back exactly as it was.
    """
    modules = list(model.modules()) if isinstance(model, nn.Module) else []
    flags = [m.training for m in modules]
    for m in modules:
        m.training = False
    try:
        with torch.no_grad():
            yield
    finally:
        for m, flag in zip(modules, flags):
            m.training = flag


def model_device(model) -> torch.device:
    """The device of the model's first parameter or buffer (CPU for a model that has none)."""
    if isinstance(model, nn.Module):
        for tensor in model.parameters():
            return tensor.device
        for tensor in model.buffers():
            return tensor.device
    return torch.device("cpu")


def _batch_x(batch, device: torch.device) -> torch.Tensor:
    """A batch is either ``x`` or a tuple/list whose first element is ``x``; move ``x`` to ``device``."""
    x = batch[0] if isinstance(batch, (tuple, list)) else batch
    return x.to(device) if isinstance(x, torch.Tensor) else x


def sample_with_log_prob(
    q: Distribution, n_samples: int, eps: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Draw ``z [n_samples, B, nz]`` from ``q`` and return it with ``log q(z|x) [n_samples, B]``.

    Uses the posterior's own ``rsample_and_log_prob`` when it has one (the IAF's cheap
    sampling-path density, docs/implementation.md §1.5, item 5), else ``rsample`` (or ``sample``) followed by ``log_prob``.
    ``eps`` (standard normal noise ``[n_samples, B, nz]``) is used as the noise by posteriors whose
    ``rsample_and_log_prob`` accepts it (the project's heads); others draw their own.
    """
    shape = torch.Size([n_samples])
    if hasattr(q, "rsample_and_log_prob"):
        takes_eps = eps is not None and "eps" in inspect.signature(q.rsample_and_log_prob).parameters
        z, log_q = q.rsample_and_log_prob(shape, eps=eps) if takes_eps else q.rsample_and_log_prob(shape)
    else:
        z = q.rsample(shape) if q.has_rsample else q.sample(shape)
        log_q = q.log_prob(z)
    if z.dim() != 3 or log_q.shape != z.shape[:2]:
        raise ValueError(
            f"posterior samples must be z [S, B, nz] with log q [S, B]; got z {tuple(z.shape)}, "
            f"log q {tuple(log_q.shape)}"
        )
    return z, log_q


def gaussian_params(q: Distribution) -> tuple[torch.Tensor, torch.Tensor]:
    """The Gaussian parameters ``(mu [B, nz], var [B, nz])`` of ``q`` (or of ``q.base`` for the IAF).

    Reads ``.mu``/``.var`` (the project's ``DiagGaussian``) and falls back on ``.mean``/``.variance``
    (``Independent(Normal)``; for a full-covariance Gaussian these are the diagonal).
    """
    base = getattr(q, "base", q)
    mu = getattr(base, "mu", None)
    var = getattr(base, "var", None)
    try:
        mu = base.mean if mu is None else mu
        var = base.variance if var is None else var
    except NotImplementedError as err:
        raise ValueError(
            f"cannot read a mean and a variance from posterior {type(base).__name__}: it needs "
            "`.mu`/`.var`, `.mean`/`.variance`, or a Gaussian `.base`"
        ) from err
    return mu, var


def _kl_from_posterior(
    q: Distribution, prior: Distribution, samples: tuple[torch.Tensor, torch.Tensor] | None = None,
    n_samples: int = 1,
) -> torch.Tensor:
    """``KL(q || prior)`` of shape ``[B]``: analytic if possible, else Monte Carlo (docs/implementation.md §4.2; §1.5, item 6).

    ``samples`` = ``(z [S, B, nz], log_q [S, B])`` already drawn from ``q`` are reused for the Monte-Carlo
    estimate (so a single-sample ELBO uses one ``z`` for both terms); otherwise ``n_samples`` are drawn.
    """
    try:
        return torch.distributions.kl_divergence(q, prior)  # closed form of eq. 1's KL term
    except NotImplementedError:
        pass
    if hasattr(q, "kl_per_dim"):
        return q.kl_per_dim().sum(-1)
    z, log_q = samples if samples is not None else sample_with_log_prob(q, n_samples)
    return (log_q - prior.log_prob(z)).mean(0)  # MC: E_q[log q(z|x) - log p(z)], averaged over S


def _check_positive_int(name: str, value, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


# ----------------------------------------------------------------------------------------------
# Per-example quantities
# ----------------------------------------------------------------------------------------------


#: samples x examples x (tokens or pixels) per decoder call of :func:`iw_nll`
DEFAULT_WORK_BUDGET = 1 << 16


def iw_chunks(n_samples: int, batch: int, units: int, work_budget: int) -> tuple[int, int]:
    """``(samples, examples)`` per decoder call so that ``samples * examples * units <= work_budget``.

    ``units`` is the size of one example (tokens of a sentence, pixels of an image). Examples are
    split only when one sample of the whole batch is already over the budget.
    """
    _check_positive_int("work_budget", work_budget)
    per_sample = batch * units
    if per_sample <= work_budget:
        return min(n_samples, work_budget // per_sample), batch
    return 1, max(1, work_budget // units)


def log_importance_weights(
    model, x: torch.Tensor, n_samples: int, work_budget: int = DEFAULT_WORK_BUDGET,
    precision: str = "fp32", generator: torch.Generator | None = None,
) -> torch.Tensor:
    r"""Importance weights of the NLL estimate (Burda et al. 2016): ``log w [K, B]``, ``K = n_samples``.

    .. math::
        \log w_{k,n} = \log p(x_n|z_{k,n}) + \log p(z_{k,n}) - \log q(z_{k,n}|x_n), \qquad z_{k,n} \sim q(z|x_n),

    the proposal being the model's own test-time posterior (eval mode, no gradients). The one
    implementation of the weights: :func:`iw_nll` takes their log-mean-exp, and
    :mod:`duvae.experiments.inside` reads the ELBO and the bounds in between from them.

    All ``K`` noise draws are made first, *example by example* (``eps [B, K, nz]`` from ``generator``,
    or the global generator if ``None``, then transposed to ``[K, B, nz]``), so an example gets the
    same draws whether it is evaluated alone or in a bucket. The decoder then runs on chunks of
    ``[samples, examples]`` bounded by ``work_budget`` (samples x examples x tokens or pixels,
    :func:`iw_chunks`): the budget bounds memory and never changes the weights. ``precision="bf16"``
    runs the networks' matrix products in bfloat16; the weights are float32 (float64 for a float64
    model; :mod:`duvae.bf16`).
    """
    _check_positive_int("n_samples", n_samples)
    device = x.device if isinstance(x, torch.Tensor) else model_device(model)
    with evaluating(model), autocast(precision, device):
        q = model.posterior(x)
        prior = model.prior
        B, nz = q.batch_shape[0], q.event_shape[0]
        mu = getattr(getattr(q, "base", q), "mu", None)
        dtype = mu.dtype if mu is not None else torch.get_default_dtype()
        if generator is None:
            eps = torch.randn(B, n_samples, nz, device=device, dtype=dtype)
        else:
            eps = torch.randn(B, n_samples, nz, generator=generator, device=generator.device, dtype=dtype).to(device)
        eps = eps.transpose(0, 1)  # [K, B, nz], example-major
        z_all, log_q_all = sample_with_log_prob(q, n_samples, eps=eps)  # [K, B, nz], [K, B]
        dtype = torch.promote_types(log_q_all.dtype, torch.float32)  # log-weights in float32 (or float64)
        log_w = torch.empty(n_samples, B, device=device, dtype=dtype)
        s_chunk, b_chunk = iw_chunks(n_samples, B, x[0].numel(), work_budget)
        for b0 in range(0, B, b_chunk):
            xb = x[b0:b0 + b_chunk]
            for s0 in range(0, n_samples, s_chunk):
                z = z_all[s0:s0 + s_chunk, b0:b0 + b_chunk]
                # log w_k = log p(x|z_k) + log p(z_k) - log q(z_k|x)   (docs/implementation.md §4.1)
                log_w[s0:s0 + s_chunk, b0:b0 + b_chunk] = (
                    model.log_likelihood(xb, z).to(dtype) + prior.log_prob(z.to(dtype))
                    - log_q_all[s0:s0 + s_chunk, b0:b0 + b_chunk].to(dtype)
                )
    return log_w


def iw_nll(
    model, x: torch.Tensor, n_samples: int = 500, work_budget: int = DEFAULT_WORK_BUDGET,
    precision: str = "fp32",
) -> torch.Tensor:
    r"""Importance-weighted estimate of ``-log p(x)`` in nats, shape ``[B]`` (docs/implementation.md §4.1):
    :math:`-(\operatorname{logsumexp}_k \log w_k - \log K)` of :func:`log_importance_weights`.

    The noise comes from the global generator, example by example, so an example gets the same
    estimate alone or in a bucket; ``work_budget`` bounds memory and never changes the result;
    ``precision="bf16"`` runs the networks' matrix products in bfloat16, the log-weights and their
    logsumexp are float32 (:mod:`duvae.bf16`).
    """
    log_w = log_importance_weights(model, x, n_samples, work_budget, precision)  # [K, B]
    log_px = torch.logsumexp(log_w, dim=0) - math.log(n_samples)  # log (1/K) sum_k w_k
    return -log_px


def iw_bounds(log_w: torch.Tensor, ks) -> torch.Tensor:
    r"""``-log p(x)`` bounds with ``k`` samples, averaged over examples: ``[len(ks)]``.

    For each ``k`` the ``K`` log-weights ``log_w [K, B]`` are cut into ``K // k`` disjoint groups
    of ``k``, and the bound :math:`-(\operatorname{logsumexp}_{j} \log w_j - \log k)` is averaged over
    the groups and the examples: ``k = 1`` is the (negative) ELBO, ``k = K`` the IW-NLL.
    """
    K, B = log_w.shape
    out = []
    for k in ks:  # a handful of sizes
        if not 1 <= k <= K:
            raise ValueError(f"k must lie in [1, {K}], got {k}")
        groups = log_w[: (K // k) * k].view(K // k, k, B)
        out.append(-(torch.logsumexp(groups, dim=1) - math.log(k)).mean())
    return torch.stack(out)


def kl_divergence(model, x: torch.Tensor, n_samples: int = 1) -> torch.Tensor:
    """``KL(q(z|x) || p(z))`` per example, shape ``[B]`` (docs/implementation.md §4.2).

    Analytic when ``torch.distributions.kl_divergence`` has a rule for (posterior, prior) or the
    posterior has ``kl_per_dim()``; otherwise the Monte-Carlo mean over ``n_samples`` draws
    (the IAF, docs/implementation.md §1.5, item 6 — averaged, not summed, over the samples).
    """
    _check_positive_int("n_samples", n_samples)
    with evaluating(model):
        return _kl_from_posterior(model.posterior(x), model.prior, n_samples=n_samples)


def posterior_moments(model, batches: Iterable) -> tuple[torch.Tensor, torch.Tensor]:
    """Test-time Gaussian parameters over a data set: ``(mu [N, nz], var [N, nz])``.

    ``batches`` yields ``x`` tensors or tuples whose first element is ``x``. For the IAF these are
    the parameters of ``z0`` (``q.base``), as in the official code (docs/implementation.md §1.5, item 10).
    """
    device = model_device(model)
    mus, vars_ = [], []
    with evaluating(model):
        for batch in batches:
            mu, var = gaussian_params(model.posterior(_batch_x(batch, device)))
            mus.append(mu)
            vars_.append(var)
    if not mus:
        raise ValueError("posterior_moments got an empty iterable of batches")
    return torch.cat(mus), torch.cat(vars_)


# ----------------------------------------------------------------------------------------------
# Data-set quantities from the posterior moments
# ----------------------------------------------------------------------------------------------


def _check_moments(mu: torch.Tensor, var: torch.Tensor | None = None) -> None:
    if mu.dim() != 2 or mu.shape[0] < 1:
        raise ValueError(f"mu must have shape [N, nz] with N >= 1, got {tuple(mu.shape)}")
    if var is not None:
        if var.shape != mu.shape:
            raise ValueError(f"var must have the shape of mu {tuple(mu.shape)}, got {tuple(var.shape)}")
        if not bool((var > 0).all()):
            raise ValueError(f"var must be > 0 everywhere, got min {var.min().item()!r}")


def log_aggregate_posterior(
    z: torch.Tensor, mu: torch.Tensor, var: torch.Tensor, chunk_size: int | None = None
) -> torch.Tensor:
    r"""``log q(z_n) = logsumexp_m log N(z_n; mu_m, diag var_m) - log N``, shape ``[M]`` (docs/implementation.md §4.3, step 3).

    ``z [M, nz]``; ``mu, var [N, nz]``. The ``[M, N]`` matrix of log-densities is built a block of
    rows at a time (``chunk_size`` rows; default: blocks of about 4M entries), and never as
    ``[M, N, nz]``: the quadratic form is expanded into matrix products,

    .. math::
        \sum_d \frac{(z_{n,d} - \mu_{m,d})^2}{\sigma^2_{m,d}}
        = (z^2)\,(1/\sigma^2)^\top - 2\, z\, (\mu/\sigma^2)^\top + \sum_d \mu_{m,d}^2 / \sigma^2_{m,d},

    computed in float64 so that the cancellation between these terms stays harmless even for
    narrow, far-apart posteriors.
    """
    _check_moments(mu, var)
    if z.dim() != 2 or z.shape[1] != mu.shape[1]:
        raise ValueError(f"z must have shape [M, {mu.shape[1]}], got {tuple(z.shape)}")
    _check_positive_int("chunk_size", chunk_size, allow_none=True)
    n, nz = mu.shape
    z, mu, var = z.double(), mu.double(), var.double()
    prec = var.reciprocal()  # [N, nz]
    # Terms of log N(z_n; mu_m, var_m) that do not depend on z_n, one per m: [N]
    const = -0.5 * (nz * LOG_2PI + var.log().sum(-1) + (mu.square() * prec).sum(-1))
    # The z-dependent terms as one product of features: [z^2, z] . [1/var, -2 mu/var], [N, 2 nz]
    comp_features = torch.cat([prec, -2.0 * mu * prec], dim=1)
    if chunk_size is None:
        chunk_size = max(1, (1 << 22) // n)
    out = []
    for start in range(0, z.shape[0], chunk_size):
        zc = z[start:start + chunk_size]  # [c, nz]
        z_features = torch.cat([zc.square(), zc], dim=1)  # [c, 2 nz]
        # log N(z_n; mu_m, var_m) = const_m - 1/2 (quadratic form), [c, N]
        log_dens = torch.addmm(const, z_features, comp_features.T, alpha=-0.5)
        out.append(torch.logsumexp(log_dens, dim=1) - math.log(n))
    return torch.cat(out)


def mutual_information(
    mu: torch.Tensor, var: torch.Tensor, generator: torch.Generator | None = None,
    chunk_size: int | None = None,
) -> float:
    r"""The full-set MI estimator of the official code (docs/implementation.md §4.3), in nats.

    ``mu, var [N, nz]`` are the test-time posteriors of all ``N`` examples. One
    ``z_n = mu_n + sqrt(var_n) * eps_n`` with ``eps = randn(N, nz, generator=generator)`` per
    example; the aggregate posterior is the mixture of *all* ``N`` posteriors
    (:func:`log_aggregate_posterior`, chunked by ``chunk_size`` rows). Single-sample, so noisy;
    it can come out slightly negative.
    """
    _check_moments(mu, var)
    n, nz = mu.shape
    # step 1: -H[q(z|x_n)] = -(nz/2) log 2pi - 1/2 sum_d (1 + log var_{n,d}), averaged over n
    neg_entropy = (-0.5 * nz * LOG_2PI - 0.5 * (1.0 + var.double().log()).sum(-1)).mean()
    # step 2: one z_n ~ q(z|x_n)
    eps_device = generator.device if generator is not None else mu.device
    eps = torch.randn(mu.shape, generator=generator, device=eps_device, dtype=mu.dtype).to(mu.device)
    z = mu + var.sqrt() * eps
    # steps 3-4: MI = -H - (1/N) sum_n log q(z_n)
    log_qz = log_aggregate_posterior(z, mu, var, chunk_size=chunk_size)
    return float(neg_entropy - log_qz.mean())


def mi_from_draws(mu: torch.Tensor, var: torch.Tensor, eps: torch.Tensor, group_sizes=None) -> torch.Tensor:
    r"""The MI estimate of docs/implementation.md §4.3 for each of ``R`` noise draws ``eps [R, N, nz]``: ``[R]`` (float64).

    ``z_{r,n} = mu_n + sqrt(var_n) eps_{r,n}``; :math:`\log q(z)` by the mixture of all ``N``
    posteriors (:func:`log_aggregate_posterior`), or, with ``group_sizes``, of the
    posteriors of each consecutive group (mini-batch) the example belongs to. With ``R = 1`` and
    the same noise this is :func:`mutual_information`.
    """
    R, N, nz = eps.shape
    if mu.shape != (N, nz) or var.shape != (N, nz):
        raise ValueError(f"mu and var must be [{N}, {nz}], got {tuple(mu.shape)} and {tuple(var.shape)}")
    mu, var = mu.double(), var.double()
    neg_entropy = (-0.5 * nz * LOG_2PI - 0.5 * (1.0 + var.log()).sum(-1)).mean()  # -(1/N) sum_n H[q(z|x_n)]
    z = mu + var.sqrt() * eps.to(mu)  # [R, N, nz]
    sizes = [N] if group_sizes is None else [int(s) for s in group_sizes]
    if sum(sizes) != N:
        raise ValueError(f"group sizes sum to {sum(sizes)}, not N = {N}")
    log_qz = torch.empty(R, N, dtype=torch.float64, device=mu.device)
    start = 0
    for size in sizes:  # one mixture per group (a single group: the whole set)
        block = slice(start, start + size)
        log_qz[:, block] = log_aggregate_posterior(z[:, block].reshape(-1, nz), mu[block], var[block]).view(R, size)
        start += size
    return neg_entropy - log_qz.mean(1)


def active_units(
    mu: torch.Tensor, threshold: float = 0.01, comparison: str = ">="
) -> tuple[int, torch.Tensor]:
    """Active units (docs/implementation.md §4.4): ``(count, A [nz])``.

    ``A_d`` is the unbiased (``N - 1``) variance of the posterior means ``mu [N, nz]`` across the
    examples. A dimension is active if ``A_d >= threshold`` (``comparison=">="``, the official
    code's convention) or ``A_d > threshold`` (``comparison=">"``, the paper's wording).
    """
    _check_moments(mu)
    if mu.shape[0] < 2:
        raise ValueError(f"active_units needs N >= 2 posterior means, got N={mu.shape[0]}")
    if comparison not in (">=", ">"):
        raise ValueError(f"comparison must be '>=' or '>', got {comparison!r}")
    a = mu.var(dim=0, unbiased=True)  # A_d = Var_n(mu_{n,d}), two-pass
    active = a >= threshold if comparison == ">=" else a > threshold
    return int(active.sum().item()), a


def mpd_of(mu: torch.Tensor, var: torch.Tensor) -> tuple[float, torch.Tensor]:
    """Data-set MPD (paper eq. 3, docs/implementation.md §1.4): ``(total over dimensions, per-dimension [nz])``."""
    from duvae.theory import mpd

    _check_moments(mu, var)
    per_dim = mpd(mu, var)
    return float(per_dim.sum()), per_dim


def conditional_entropy_of(var: torch.Tensor) -> tuple[float, torch.Tensor]:
    """Data-set conditional entropy (paper eq. 5, docs/implementation.md §1.4): ``(total, per-dimension [nz])``."""
    from duvae.theory import conditional_entropy

    _check_moments(var, var)
    per_dim = conditional_entropy(var)
    return float(per_dim.sum()), per_dim


def perplexity(nll_sum: float, n_tokens: int) -> float:
    """``PPL = exp(sum_n NLL_n / sum_n (L_n + 1))`` (docs/implementation.md §4.5); ``n_tokens`` counts words plus ``</s>``."""
    if n_tokens <= 0:
        raise ValueError(f"n_tokens must be > 0, got {n_tokens!r}")
    return math.exp(float(nll_sum) / n_tokens)


# ----------------------------------------------------------------------------------------------
# Everything at once
# ----------------------------------------------------------------------------------------------


def evaluate(
    model, batches: Iterable, n_iw: int = 0, work_budget: int = DEFAULT_WORK_BUDGET,
    n_tokens_fn: Callable[[object], int] | None = None, precision: str = "fp32",
) -> dict:
    """All metrics of one data set in a single pass over ``batches`` (eval mode, no gradients).

    Returns a dict of floats (means over the ``N`` examples, in nats):

    - ``rec``: single-sample reconstruction ``-log p(x|z)``, ``z ~ q(z|x)``;
    - ``kl``: :func:`kl_divergence` (Monte Carlo with the same ``z`` when there is no closed form);
    - ``elbo`` and ``loss``: both ``rec + kl``, the negative ELBO as the tables report it;
    - ``mi``, ``au`` (int), ``mpd``, ``ce``: from the posterior moments of the whole set;
    - ``nll``: mean :func:`iw_nll` with ``n_iw`` samples under ``work_budget`` (only if ``n_iw > 0``);
    - ``ppl`` and ``ppl_elbo`` (only with ``n_tokens_fn``, called on each *raw* batch, so it may
      read lengths stored in a tuple): ``ppl`` uses the IW-NLL when ``n_iw > 0``, else the ELBO;
      ``ppl_elbo`` always uses the ELBO;
    - ``n``: the number of examples.

    ``au`` needs two examples at least (it is a variance across examples); with one it is 0.
    ``precision`` is the networks' matmul precision (:mod:`duvae.bf16`); the metrics
    themselves are computed in float32 (float64 for the MI's aggregate posterior).
    """
    if isinstance(n_iw, bool) or not isinstance(n_iw, int) or n_iw < 0:
        raise ValueError(f"n_iw must be a non-negative integer, got {n_iw!r}")
    _check_positive_int("work_budget", work_budget)
    check_precision(precision)
    device = model_device(model)
    rec, kl, nll, mus, vars_ = [], [], [], [], []
    n_tokens = 0
    with evaluating(model):
        for batch in batches:
            x = _batch_x(batch, device)
            with autocast(precision, device):
                q = model.posterior(x)
                z, log_q = sample_with_log_prob(q, 1)  # [1, B, nz], [1, B]
                rec.append(-model.log_likelihood(x, z)[0].float())  # -log p(x|z), [B]
            kl.append(_kl_from_posterior(q, model.prior, samples=(z, log_q)))  # [B]
            mu, var = gaussian_params(q)
            mus.append(mu)
            vars_.append(var)
            if n_iw > 0:
                nll.append(iw_nll(model, x, n_samples=n_iw, work_budget=work_budget, precision=precision))
            if n_tokens_fn is not None:
                n_tokens += int(n_tokens_fn(batch))
    if not rec:
        raise ValueError("evaluate got an empty iterable of batches")
    rec, kl = torch.cat(rec).double(), torch.cat(kl).double()
    mu, var = torch.cat(mus), torch.cat(vars_)
    n = rec.shape[0]
    out = {"n": n, "rec": float(rec.mean()), "kl": float(kl.mean())}
    out["elbo"] = out["loss"] = out["rec"] + out["kl"]
    out["mi"] = mutual_information(mu, var)
    out["au"] = active_units(mu)[0] if n >= 2 else 0
    out["mpd"] = mpd_of(mu, var)[0]
    out["ce"] = conditional_entropy_of(var)[0]
    if n_iw > 0:
        out["nll"] = float(torch.cat(nll).double().mean())
    if n_tokens_fn is not None:
        out["ppl_elbo"] = perplexity(float((rec + kl).sum()), n_tokens)
        out["ppl"] = perplexity(out["nll"] * n, n_tokens) if n_iw > 0 else out["ppl_elbo"]
    return out
