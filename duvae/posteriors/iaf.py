r"""Inverse autoregressive flow posterior: MADE, IAF block, IAF head (the paper, Section 3.4; docs/implementation.md §1.5, §2.4).

**Base.** The head gives :math:`[\text{loc}, s, h] = W f` (``4 nz`` outputs); the initial
variable is Gaussian,

.. math::
    z^0 = \mu^0 + \sigma^0 \odot \epsilon, \quad \epsilon \sim \mathcal{N}(0, I), \qquad
    \sigma^0 = \mathrm{softplus}(s),

with :math:`\mu^0 = \mathrm{BN}(\text{loc})` when :math:`\gamma > 0` (eq. 9, BN eps ``1e-8``, docs/implementation.md
§1.5, item 2), and, for DU-IAF, the variance dropout and floor of eq. 6 on :math:`(\sigma^0)^2`
(docs/implementation.md §1.5, item 3): :math:`\mathrm{var}^0 = g \odot \mathrm{softplus}(s)^2 + \alpha`.
Both are the DU-VAE head's functions: :func:`duvae.theory.batchnorm_means` (in :class:`BatchNormMean`)
and :func:`duvae.theory.variance_dropout`.

**Chain.** :math:`T` blocks (Kingma et al. 2016, the LSTM-type update, docs/implementation.md §1.5, item 5), block :math:`t`:

.. math::
    (m_t, s_t) = \mathrm{MADE}_t(z^{t-1}, h), \quad
    \varsigma_t = \mathrm{sigmoid}(s_t + c_t), \quad
    z^t = \varsigma_t \odot z^{t-1} + (1 - \varsigma_t) \odot m_t,

with a learnable offset :math:`c_t` initialised to 2, each block followed by a reversal of the
dimensions. Because :math:`m_{t,d}, s_{t,d}` depend on :math:`z^{t-1}_{<d}` only, the Jacobian of a
block is triangular with diagonal :math:`\varsigma_t`, and

.. math::
    \log q(z^T|x) = \log \mathcal{N}(z^0; \mu^0, \mathrm{var}^0) - \sum_{t=1}^T \sum_d \log \varsigma_{t,d}.

**MADE** (docs/implementation.md §1.5, item 7): masked linear layers ``nz -> H -> H -> 2 nz`` with ReLUs; the context
``h`` enters the first layer through an unmasked bias-free linear map. Degrees: inputs
:math:`1..n`; hidden units drawn uniformly from :math:`\{1..n-1\}` by a ``RandomState(0)`` created
per MADE (first hidden layer, then second); outputs :math:`1..n` twice (``m`` then ``s``). A hidden
unit sees inputs with degree :math:`\le` its own; an output sees hidden units with degree strictly
below its own, so output :math:`d` depends on inputs :math:`< d` only. (For ``nz = 1``, where
:math:`\{1..n-1\}` is empty — the reference code fails there — hidden degrees are 0: the MADE then
depends on the context only.)

**Exact density.** ``IAFPosterior.log_prob(z)`` inverts the chain: undo the reversal, then solve
:math:`y = \varsigma(z) z + (1-\varsigma(z)) m(z)` for :math:`z` by the fixed-point sweep
:math:`z \leftarrow (y - (1 - \varsigma) m)/\varsigma`; after :math:`k` sweeps the first :math:`k`
coordinates are exact, so ``nz`` MADE passes per block give the exact inverse.

Variants (docs/implementation.md §5.9, §5.10, §1.5): IAF+FB (``gamma=0, p_keep=1, delta_rate=0``; free bits in the objective),
IAF+BN (``gamma>0, p_keep=1, delta_rate=0``), DU-IAF (``gamma>0, p_keep<1, delta_rate=1``).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.distributions import Distribution, constraints

from duvae.posteriors.batchnorm import BatchNormMean
from duvae.posteriors.gaussian import (
    DiagGaussian,
    check_in_features,
    check_kl_weight,
    check_nz,
    variance_floor,
)
from duvae.bf16 import float32_region
from duvae.theory import check_p_keep, variance_dropout  # eq. 6, the function DUHead calls too

SIGMOID_OFFSET_INIT = 2.0  # c_t initial value: sigmoid(2) = 0.88, blocks start near the identity


def _check_positive_int(name: str, value: int, minimum: int) -> int:
    if isinstance(value, bool) or int(value) != value or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value}")
    return int(value)


def made_degrees(nz: int, hidden: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Degrees ``(inputs [nz], hidden1 [H], hidden2 [H], outputs [2 nz])`` of a MADE (docs/implementation.md §1.5, item 7)."""
    rng = np.random.RandomState(0)  # one generator per MADE: every block gets the same masks
    d_in = np.arange(1, nz + 1)
    if nz > 1:
        d_h1 = rng.randint(1, nz, size=hidden)  # uniform on {1, ..., nz-1}
        d_h2 = rng.randint(1, nz, size=hidden)
    else:
        d_h1 = d_h2 = np.zeros(hidden, dtype=d_in.dtype)  # nz = 1: context-only hidden units
    d_out = np.concatenate([d_in, d_in])  # first half m, second half s
    return d_in, d_h1, d_h2, d_out


class MaskedLinear(nn.Linear):
    """``y = x (W * mask)^T + b`` with a fixed 0/1 ``mask`` ``[out_features, in_features]``."""

    def __init__(self, mask: torch.Tensor, bias: bool = True):
        out_features, in_features = mask.shape
        super().__init__(in_features, out_features, bias=bias)
        self.register_buffer("mask", mask.to(self.weight.dtype))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight * self.mask, self.bias)


class MADE(nn.Module):
    r"""Autoregressive ``(m, s) = MADE(z, h)``: ``m_d, s_d`` depend on ``z_{<d}`` and on ``h`` (docs/implementation.md §1.5, item 7).

    Args:
        nz: input size ``n``.
        hidden: width ``H`` of the two hidden layers (``flow_width * nz`` in the IAF head).
        context_dim: size of the context ``h`` (``2 nz`` in the IAF head; 0 for none).

    Shapes: ``z`` ``[..., nz]``, ``h`` broadcastable to ``[..., context_dim]``; returns ``m, s`` ``[..., nz]``.
    """

    def __init__(self, nz: int, hidden: int, context_dim: int):
        super().__init__()
        self.nz = check_nz(nz)
        self.hidden = _check_positive_int("hidden", hidden, 1)
        self.context_dim = _check_positive_int("context_dim", context_dim, 0)
        d_in, d_h1, d_h2, d_out = made_degrees(self.nz, self.hidden)
        self.register_buffer("degrees_in", torch.from_numpy(d_in))
        self.register_buffer("degrees_out", torch.from_numpy(d_out))
        mask1 = torch.from_numpy(d_h1[:, None] >= d_in[None, :])  # [H, nz]
        mask2 = torch.from_numpy(d_h2[:, None] >= d_h1[None, :])  # [H, H]
        mask3 = torch.from_numpy(d_out[:, None] > d_h2[None, :])  # [2 nz, H], strict
        self.layer1 = MaskedLinear(mask1)
        self.layer2 = MaskedLinear(mask2)
        self.layer3 = MaskedLinear(mask3)
        self.context = nn.Linear(self.context_dim, self.hidden, bias=False) if self.context_dim else None

    def forward(self, z: torch.Tensor, h: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        a = self.layer1(z)
        if self.context is not None:
            if h is None:
                raise ValueError(f"this MADE needs a context of size {self.context_dim}, got None")
            a = a + self.context(h)  # context enters the first layer, unmasked
        a = self.layer2(F.relu(a))
        m, s = self.layer3(F.relu(a)).chunk(2, dim=-1)
        return m, s


class IAFBlock(nn.Module):
    r"""One IAF step :math:`z' = \varsigma z + (1-\varsigma) m`, :math:`\varsigma = \mathrm{sigmoid}(s + c)` (docs/implementation.md §1.5, item 5).

    ``forward(z, h) -> (z', log_sig)`` and ``inverse(z', h) -> (z, log_sig)``, all ``[..., nz]``;
    ``log_sig`` is :math:`\log\varsigma`, the log-diagonal of the block's triangular Jacobian.
    The dimension reversal that follows each block is done by :class:`IAFPosterior`.
    """

    def __init__(self, nz: int, hidden: int, context_dim: int):
        super().__init__()
        self.made = MADE(nz, hidden, context_dim)
        self.offset = nn.Parameter(torch.full((self.made.nz,), SIGMOID_OFFSET_INIT))  # c_t

    def forward(self, z: torch.Tensor, h: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        m, s = self.made(z, h)
        sig = torch.sigmoid(s + self.offset)
        z_new = sig * z + (1.0 - sig) * m  # LSTM-type update
        return z_new, F.logsigmoid(s + self.offset)

    def inverse(self, y: torch.Tensor, h: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Solve ``forward(z, h)[0] = y`` for ``z``: ``nz`` autoregressive sweeps (exact, not iterative-approximate)."""
        z = torch.zeros_like(y)
        for _ in range(self.made.nz):
            m, s = self.made(z, h)
            sig = torch.sigmoid(s + self.offset)
            z = (y - (1.0 - sig) * m) / sig  # after k sweeps, z_{1..k} are exact
        # s_d depends on z_{<d} only, and z_{<nz} were already exact in the last sweep: its s is exact.
        return z, F.logsigmoid(s + self.offset)


class IAFPosterior(Distribution):
    r""":math:`q(z^T|x)` of the IAF chain: batch shape ``[B]``, event shape ``[nz]``.

    Attributes:
        base: the :math:`z^0` Gaussian, a :class:`DiagGaussian` (``base.mu`` = :math:`\mu^0`,
            ``base.var`` = :math:`\mathrm{var}^0`), used by the metrics for MI and AU of :math:`z^0`.
        context: the flow context ``h`` ``[B, 2 nz]``.
        blocks: the head's :class:`IAFBlock` s (shared, not copied).
    """

    arg_constraints: dict = {}
    support = constraints.independent(constraints.real, 1)
    has_rsample = True

    def __init__(self, base: DiagGaussian, context: torch.Tensor, blocks, validate_args: bool | None = None):
        self.base = base
        self.context = context
        self.blocks = tuple(blocks)
        super().__init__(base.batch_shape, base.event_shape, validate_args=validate_args)

    def flow(self, z0: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        r"""Push :math:`z^0` ``[..., B, nz]`` through the chain: ``(z^T, sum_t log sig_t)``, both ``[..., B, nz]``.

        The second output adds each block's :math:`\log\varsigma_t` *by position* in that block's own
        coordinates (the reversals are not undone): only its sum over ``d`` is a log-determinant.
        """
        z = z0
        log_sig_sum = torch.zeros_like(z0)
        with float32_region(z0.device):  # the flow and its log-determinant stay float32 (duvae.bf16)
            for block in self.blocks:
                z, log_sig = block(z, self.context)
                log_sig_sum = log_sig_sum + log_sig
                z = z.flip(-1)  # dimension reversal after every block
        return z, log_sig_sum

    def rsample_and_log_prob_per_dim(
        self, sample_shape: torch.Size | tuple = torch.Size(), generator: torch.Generator | None = None,
        eps: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        r"""``(z^T [*S, B, nz], log_q_d [*S, B, nz])`` with the per-dimension bookkeeping of docs/implementation.md §1.5, item 9.

        ``log_q_d = log N(z^0_d; mu^0_d, var^0_d) - sum_t log sig_{t,d}``, accumulated by position.
        **Caveat**: the reversals permute the dimensions between blocks, so entry ``d`` mixes
        different coordinates; only ``log_q_d.sum(-1)`` is a log-density. The split is what the
        official IAF free bits uses (a heuristic, docs/implementation.md §1.5, item 9). ``eps`` (standard
        normal noise of shape ``[*S, B, nz]``) replaces the draw when given.
        """
        mu0, var0 = self.base.mu, self.base.var
        shape = torch.Size(sample_shape) + mu0.shape
        if eps is None:
            eps = torch.randn(shape, dtype=mu0.dtype, device=mu0.device, generator=generator)
        z0 = mu0 + var0.sqrt() * eps
        log_q0 = -0.5 * (eps.pow(2) + var0.log() + math.log(2 * math.pi))  # log N(z0_d; mu0_d, var0_d)
        zT, log_sig_sum = self.flow(z0)
        return zT, log_q0 - log_sig_sum

    def rsample_and_log_prob(
        self, sample_shape: torch.Size | tuple = torch.Size(), generator: torch.Generator | None = None,
        eps: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        r"""``(z^T [*S, B, nz], log q(z^T|x) [*S, B])`` along the sampling path (no inversion needed)."""
        zT, log_q_d = self.rsample_and_log_prob_per_dim(sample_shape, generator, eps)
        return zT, log_q_d.sum(-1)

    def rsample(self, sample_shape: torch.Size | tuple = torch.Size()) -> torch.Tensor:
        return self.rsample_and_log_prob_per_dim(sample_shape)[0]

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        r"""Exact :math:`\log q(z|x)` for any ``value`` ``[..., B, nz]``; returns ``[..., B]``.

        Inverts the chain (``nz`` MADE passes per block, vectorised over samples and batch).
        """
        if self._validate_args:
            self._validate_sample(value)
        z = value
        log_det = torch.zeros_like(value[..., 0])
        with float32_region(value.device):
            for block in reversed(self.blocks):
                z, log_sig = block.inverse(z.flip(-1), self.context)  # undo the reversal, then the block
                log_det = log_det + log_sig.sum(-1)
        return self.base.log_prob(z) - log_det

    def mean_features(self) -> torch.Tensor:
        r"""Deterministic :math:`z^T` ``[B, nz]``: :math:`z^0 = \mu^0` (no noise) through the flow (docs/implementation.md §1.5, item 10)."""
        return self.flow(self.base.mu)[0]

    def concat_features(self) -> torch.Tensor:
        r"""``concat(mu^0, z^T)`` ``[B, 2 nz]``: the IAF classification features (the paper, Section 4.2; docs/implementation.md §4.7)."""
        return torch.cat([self.base.mu, self.mean_features()], dim=-1)


class IAFHead(nn.Module):
    r"""IAF posterior head ``f [B, in_features] -> IAFPosterior`` (docs/implementation.md §1.5, items 1-5).

    Args:
        in_features: size of the encoder feature.
        nz: latent size.
        flow_depth: number of IAF blocks ``T >= 0`` (README: 2).
        flow_width: MADE hidden width per latent dimension, ``H = flow_width * nz`` (README: 60).
        gamma: ``> 0`` puts :class:`BatchNormMean` (eps ``1e-8``) on ``loc``; ``0`` means no BN.
        p_keep: keep probability of the variance dropout on :math:`z^0`; ``1`` means none.
        delta_rate: multiplier of the floor :math:`\alpha = \text{delta\_rate}/(2\pi e)`.
        learnable_scale: BN scales learnable and renormalised (DU code) or fixed at gamma
            (the paper's IAF+BN; docs/implementation.md §1.3, item 8).
        drop_start: KL weight from which the dropout and the floor are active (default 1.0).
        bias: bias of the linear map.

    As in the official code, dropout and floor ("DP") are on only when ``p_keep < 1`` *and*
    ``delta_rate > 0`` *and* ``kl_weight >= drop_start``; then the floor also applies in evaluation
    (the dropout only in training). With ``p_keep = 1`` there is no floor whatever ``delta_rate``.
    ``p_keep < 1`` with ``delta_rate = 0`` is refused (the reference silently ignores it).
    """

    def __init__(
        self,
        in_features: int,
        nz: int,
        flow_depth: int = 2,
        flow_width: int = 60,
        gamma: float = 0.0,
        p_keep: float = 1.0,
        delta_rate: float = 0.0,
        learnable_scale: bool = True,
        drop_start: float = 1.0,
        bias: bool = True,
    ):
        super().__init__()
        self.in_features = check_in_features(in_features)
        self.nz = check_nz(nz)
        self.flow_depth = _check_positive_int("flow_depth", flow_depth, 0)
        self.flow_width = _check_positive_int("flow_width", flow_width, 1)
        gamma = float(gamma)
        if not (gamma >= 0 and math.isfinite(gamma)):
            raise ValueError(f"gamma must be a finite number >= 0 (0 = no BN), got {gamma}")
        self.gamma = gamma
        self.p_keep = check_p_keep(p_keep)
        self.delta_rate = float(delta_rate)
        self.alpha = variance_floor(delta_rate)
        if self.p_keep < 1 and self.alpha == 0:
            raise ValueError(
                f"p_keep={self.p_keep} < 1 needs a variance floor, but delta_rate={delta_rate} "
                "(the reference code would silently switch the dropout off)"
            )
        drop_start = float(drop_start)
        if not (drop_start >= 0 and math.isfinite(drop_start)):
            raise ValueError(f"drop_start must be a finite number >= 0, got {drop_start}")
        self.drop_start = drop_start
        self.learnable_scale = bool(learnable_scale)
        self.linear = nn.Linear(self.in_features, 4 * self.nz, bias=bias)  # [loc, s, h]
        self.bn = BatchNormMean(self.nz, gamma, learnable_scale, eps=1e-8) if gamma > 0 else None
        hidden = self.flow_width * self.nz
        self.blocks = nn.ModuleList(IAFBlock(self.nz, hidden, 2 * self.nz) for _ in range(self.flow_depth))

    @property
    def dropout_configured(self) -> bool:
        """DU-IAF's "DP": dropout + floor configured (``p_keep < 1`` and ``delta_rate > 0``)."""
        return self.p_keep < 1 and self.alpha > 0

    def forward(
        self, f: torch.Tensor, kl_weight: float = 1.0, generator: torch.Generator | None = None
    ) -> IAFPosterior:
        kl_weight = check_kl_weight(kl_weight)
        loc, s, h = self.linear(f).split([self.nz, self.nz, 2 * self.nz], dim=-1)  # step 1
        mu0 = self.bn(loc) if self.bn is not None else loc  # step 2, eq. 9
        excess = F.softplus(s).pow(2)  # (sigma0)^2 = softplus(s)^2
        if self.dropout_configured and kl_weight >= self.drop_start:  # step 3
            if self.training:
                var0 = variance_dropout(excess, self.p_keep, self.alpha, generator)  # eq. 6
            else:
                var0 = excess + self.alpha  # floor stays at evaluation
        else:
            var0 = excess
        return IAFPosterior(DiagGaussian(mu0, var0), h, self.blocks)  # steps 4-5

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, nz={self.nz}, flow_depth={self.flow_depth}, "
            f"flow_width={self.flow_width}, gamma={self.gamma}, p_keep={self.p_keep}, "
            f"delta_rate={self.delta_rate}, learnable_scale={self.learnable_scale}, drop_start={self.drop_start}"
        )
