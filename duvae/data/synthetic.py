r"""Synthetic text from a known 2-D latent (paper Figure 1; docs/implementation.md §6.4).

Generative recipe (He et al. 2019's generator with DU-VAE's fifth, central component):

.. math::
    k &\sim \text{Uniform}\{0, \dots, 4\}, \qquad
    z \sim \mathcal{N}(m_k, \sigma^2 I_2), \quad
    m = \big((0,0), (-2,-2), (2,2), (-2,2), (2,-2)\big), \ \sigma = 1, \\
    w_1 &\sim \text{Uniform}\{0, \dots, V-1\}, \qquad
    c_0 = W z, \quad h_0 = \tanh(c_0), \\
    (h_t, c_t) &= \text{LSTM}\big([E w_t ; z], (h_{t-1}, c_{t-1})\big), \qquad
    w_{t+1} \sim \text{softmax}(A h_t + C z), \quad t = 1, \dots, 9,

with :math:`V = 1000` word ids, embedding :math:`E \in \mathbb{R}^{V \times 100}`, LSTM hidden size
100, all parameters drawn once from :math:`U(-1, 1)` except the direct latent-to-vocabulary matrix
:math:`C \sim U(-5, 5)`; every sentence has 10 words. Component 0 is the centre ("the blue one" of
Figure 1). The oracle's parameters, the latents and the words all come from one seeded CPU
``torch.Generator``, so the data set is a pure function of :class:`SyntheticConfig`.

Word id :math:`v` becomes token ``str(v)`` with vocabulary id :math:`v + 4` (after the 4 specials,
1,004 entries as in DU's log); sentences are stored ``<s> w_1 .. w_10 </s>``. Each sentence keeps
its component (``labels``) and its true latent (``z``). The reference uses the test file as the
validation file, and so does :func:`load_synthetic` (``valid is test``).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import torch

from duvae.data.text import SPECIALS, TextCorpus, TextDataset, Vocab

#: mixture means; index = component label, 0 = the central component
MIXTURE_MEANS: tuple[tuple[float, float], ...] = (
    (0.0, 0.0),
    (-2.0, -2.0),
    (2.0, 2.0),
    (-2.0, 2.0),
    (2.0, -2.0),
)


@dataclass(frozen=True)
class SyntheticConfig:
    """Every knob of the generator. Defaults: docs/implementation.md §6.4 (seed = He et al.'s generator seed)."""

    n_train: int = 16_000
    n_test: int = 4_000
    vocab_size: int = 1_000  # word ids, specials not counted
    length: int = 10  # words per sentence
    emb: int = 100
    hidden: int = 100
    means: tuple[tuple[float, float], ...] = MIXTURE_MEANS
    std: float = 1.0  # isotropic std of every component
    param_range: float = 1.0  # LSTM, embedding, W, A ~ U(-param_range, param_range)
    z_to_vocab_range: float = 5.0  # C ~ U(-z_to_vocab_range, z_to_vocab_range)
    seed: int = 19950927

    def __post_init__(self):
        for name in ("n_train", "n_test", "vocab_size", "length", "emb", "hidden"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.std <= 0:
            raise ValueError(f"std must be > 0, got {self.std}")
        if not self.means or any(len(m) != 2 for m in self.means):
            raise ValueError(f"means must be a non-empty tuple of 2-D points, got {self.means}")


def sample_latents(
    n: int, config: SyntheticConfig, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` draws of the uniform mixture: ``z`` ``[n, 2]`` and component labels ``[n]``."""
    means = torch.tensor(config.means)  # [K, 2]
    component = torch.randint(len(means), (n,), generator=generator)  # k ~ Uniform{0..K-1}
    z = means[component] + config.std * torch.randn(n, 2, generator=generator)  # z ~ N(m_k, s^2 I)
    return z, component


def sample_categorical(probs: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    r"""Inverse-CDF draw of one category per row: the first ``v`` with
    :math:`\sum_{j \le v} p_j > u \sum_j p_j`. ``probs`` ``[n, V]``, ``u`` ``[n]`` uniform on
    [0, 1). Exact (up to float rounding) and much faster on CPU than ``torch.multinomial`` for
    wide rows. Returns LongTensor ``[n]``."""
    cdf = probs.cumsum(dim=1)  # [n, V]
    threshold = u[:, None] * cdf[:, -1:]  # [n, 1]
    return torch.searchsorted(cdf, threshold, right=True).squeeze(1).clamp(max=probs.shape[1] - 1)


def _uniform(shape: tuple[int, ...], bound: float, generator: torch.Generator) -> torch.Tensor:
    return (torch.rand(shape, generator=generator) * 2.0 - 1.0) * bound  # U(-bound, bound)


@torch.no_grad()
def generate(
    config: SyntheticConfig = SyntheticConfig(),
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Sample ``n_train + n_test`` sentences from a freshly drawn random LSTM oracle.

    Returns word ids ``[N, length]`` (0..vocab_size-1, no specials), latents ``[N, 2]`` and
    component labels ``[N]``. Vectorised over sentences; the loop runs over the time steps only.
    """
    g = torch.Generator().manual_seed(config.seed)
    V, E, H, nz, r = config.vocab_size, config.emb, config.hidden, 2, config.param_range
    # the oracle, drawn once (same shapes as a 1-layer torch LSTM with both bias vectors)
    embedding = _uniform((V, E), r, g)  # E, [V, emb]
    w_ih = _uniform((4 * H, E + nz), r, g)  # input -> gates (i, f, g, o)
    w_hh = _uniform((4 * H, H), r, g)  # hidden -> gates
    bias = _uniform((4 * H,), r, g) + _uniform((4 * H,), r, g)  # b_ih + b_hh
    W = _uniform((H, nz), r, g)  # c0 = W z
    A = _uniform((V, H), r, g)  # logits = A h_t + C z
    C = _uniform((V, nz), config.z_to_vocab_range, g)

    n = config.n_train + config.n_test
    z, component = sample_latents(n, config, g)  # [n, 2], [n]
    c = z @ W.T  # c0 = W z, [n, H]
    h = torch.tanh(c)  # h0 = tanh(c0)
    zC = z @ C.T  # C z, [n, V], the same at every step
    words = torch.empty(n, config.length, dtype=torch.long)
    words[:, 0] = torch.randint(V, (n,), generator=g)  # w_1 ~ Uniform{0..V-1}
    u = torch.rand(n, config.length - 1, generator=g)  # the uniforms that pick w_2 .. w_L
    for t in range(config.length - 1):
        x = torch.cat([embedding[words[:, t]], z], dim=1)  # [E w_t ; z], [n, emb + 2]
        i, f, gg, o = (x @ w_ih.T + h @ w_hh.T + bias).chunk(4, dim=1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(gg)  # LSTM cell update
        h = torch.sigmoid(o) * torch.tanh(c)
        probs = torch.softmax(h @ A.T + zC, dim=1)  # softmax(A h_t + C z), [n, V]
        words[:, t + 1] = sample_categorical(probs, u[:, t])
    return words, z, component


def synthetic_vocab(vocab_size: int = 1_000) -> Vocab:
    """The 4 specials followed by the word ids as strings: word ``v`` has vocabulary id ``v + 4``."""
    return Vocab(list(SPECIALS) + [str(v) for v in range(vocab_size)])


def load_synthetic(config: SyntheticConfig | None = None, **overrides) -> TextCorpus:
    """The synthetic corpus: the first ``n_train`` sentences train, the last ``n_test`` test.

    ``config`` defaults to :class:`SyntheticConfig`; keyword ``overrides`` replace its fields,
    e.g. ``load_synthetic(seed=1, n_train=2000)``. ``valid`` is the same object as ``test`` (as in
    the reference). ``labels`` = mixture component (0 = centre), ``z`` = the true latent ``[N, 2]``.
    """
    config = dataclasses.replace(config or SyntheticConfig(), **overrides)
    words, z, component = generate(config)
    n = len(words)
    ids = torch.empty(n, config.length + 2, dtype=torch.long)
    ids[:, 0] = Vocab.bos_id
    ids[:, 1:-1] = words + len(SPECIALS)  # word v -> vocabulary id v + 4
    ids[:, -1] = Vocab.eos_id
    train_ids, test_ids = ids[: config.n_train], ids[config.n_train :]
    train = TextDataset.from_matrix(train_ids, component[: config.n_train], z[: config.n_train],
                                    name="synthetic/train")
    test = TextDataset.from_matrix(test_ids, component[config.n_train :], z[config.n_train :],
                                   name="synthetic/test")
    notes = (
        f"{len(config.means)}-component mixture (std {config.std}), random LSTM oracle, "
        f"seed {config.seed}; valid is the test split"
    )
    return TextCorpus("synthetic", "du-5-component", synthetic_vocab(config.vocab_size), train, test,
                      test, notes)


def mixture_log_density(
    points: torch.Tensor, config: SyntheticConfig = SyntheticConfig()
) -> torch.Tensor:
    r"""Log density of the true latent prior, :math:`\log \frac1K \sum_k \mathcal{N}(z; m_k, \sigma^2 I)`.

    ``points``: ``[M, 2]``; returns ``[M]`` (Figure 1, panel (a)).
    """
    means = torch.tensor(config.means, dtype=points.dtype)  # [K, 2]
    sq = ((points[:, None, :] - means[None]) ** 2).sum(-1)  # [M, K]
    log_normal = -0.5 * sq / config.std**2 - math.log(2 * math.pi * config.std**2)  # 2-D Gaussian
    return torch.logsumexp(log_normal, dim=1) - math.log(len(means))


__all__ = [
    "MIXTURE_MEANS",
    "SyntheticConfig",
    "generate",
    "load_synthetic",
    "mixture_log_density",
    "sample_categorical",
    "sample_latents",
    "synthetic_vocab",
]
