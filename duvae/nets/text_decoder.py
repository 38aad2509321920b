r"""The text decoder: a one-layer LSTM language model conditioned on :math:`z` (docs/implementation.md §2.1).

For a sentence :math:`x = (x_0 = \langle s\rangle, x_1, \dots, x_L = \langle /s\rangle)` the decoder
defines the autoregressive likelihood of paper eq. 1,

.. math::
    \log p_\theta(x|z) = \sum_{t=1}^{L} \log p_\theta(x_t \mid x_{<t}, z),

so ``</s>`` is predicted and ``<s>`` is not (input ``x[:, :-1]``, target ``x[:, 1:]``). With
:math:`E` the embedding, :math:`U` a bias-free ``nz -> hidden`` map and :math:`W` a bias-free
``hidden -> vocab`` map:

.. math::
    c_0 = U z, \quad h_0 = \tanh(c_0), \quad
    (h_t, c_t) = \mathrm{LSTM}([\mathrm{drop}(E[x_{t-1}]);\, z], (h_{t-1}, c_{t-1})), \quad
    p_\theta(x_t \mid x_{<t}, z) = \mathrm{softmax}(W\, \mathrm{drop}(h_t))_{x_t}.

:math:`z` enters twice: through the initial state and concatenated to the input at every step.
Dropout (0.5 on the embeddings and on the LSTM outputs) is active in training mode only.

Vectorisation over importance samples: ``z`` has shape ``[S, batch, nz]``; the embedded
sentences are computed once (one dropout mask per sentence, shared by its ``S`` samples, as in
the reference) and tiled to ``[S * batch, L, ...]``; the result is reshaped to ``[S, batch]``.

Two switches for the Yahoo NLL-gap study (:mod:`duvae.experiments.gap`), off by default (the
reference's behaviour): ``word_dropout`` replaces, in training only, each decoder input word (never
``<s>`` or padding) by ``unk_id`` with that probability (word dropout of Bowman et al. 2016: one
Bernoulli draw per sentence position, shared by the sentence's ``S`` samples, no rescaling); it
comes in addition to ``dropout_in``. ``predict_eos=False`` leaves the ``</s>`` targets out of
:math:`\log p_\theta(x|z)` (the sum then runs over the words only).

Targets equal to ``pad_id`` contribute 0, so right-padded evaluation batches give the same
per-sentence values as unpadded ones (the LSTM reads left to right, so padding after a sentence
cannot change its earlier predictions). Unlike the reference, no vocabulary row is frozen
(its ``padding_idx = -1`` quirk, docs/implementation.md §8.2, is not replicated).

Initialisation (docs/implementation.md §2.1): every parameter :math:`U(-0.01, 0.01)`, embedding :math:`U(-0.1, 0.1)`.
"""

from __future__ import annotations

import torch
from torch import nn

from duvae.nets.fused_softmax import target_log_softmax


class LSTMDecoder(nn.Module):
    """LSTM decoder with ``z`` in the initial state and at every input step.

    Args:
        vocab_size: number of token ids (specials included).
        emb_dim: word-embedding size (``ni``).
        hidden_dim: LSTM hidden size.
        nz: latent size.
        dropout_in: dropout rate on the input embeddings (training only).
        dropout_out: dropout rate on the LSTM outputs (training only).
        pad_id: target id that is masked out of the likelihood; ``None`` masks nothing.
        word_dropout: probability of replacing a decoder input word by ``unk_id`` (training only).
        predict_eos: whether the ``eos_id`` targets count in the likelihood.
        unk_id, bos_id, eos_id: ids of ``<unk>``, ``<s>`` and ``</s>`` (:mod:`duvae.data.text`).
    """

    def __init__(
        self,
        vocab_size: int,
        emb_dim: int,
        hidden_dim: int,
        nz: int,
        dropout_in: float = 0.5,
        dropout_out: float = 0.5,
        pad_id: int | None = 0,
        word_dropout: float = 0.0,
        predict_eos: bool = True,
        unk_id: int = 3,
        bos_id: int = 1,
        eos_id: int = 2,
    ):
        super().__init__()
        for name, value in (
            ("vocab_size", vocab_size),
            ("emb_dim", emb_dim),
            ("hidden_dim", hidden_dim),
            ("nz", nz),
        ):
            if value < 1:
                raise ValueError(f"{name} must be >= 1, got {value}")
        for name, value in (("dropout_in", dropout_in), ("dropout_out", dropout_out), ("word_dropout", word_dropout)):
            if not 0.0 <= value < 1.0:
                raise ValueError(f"{name} must lie in [0, 1), got {value}")
        if pad_id is not None and not 0 <= pad_id < vocab_size:
            raise ValueError(f"pad_id must be None or in [0, {vocab_size}), got {pad_id}")
        for name, value in (("unk_id", unk_id), ("bos_id", bos_id), ("eos_id", eos_id)):
            if not 0 <= value < vocab_size:
                raise ValueError(f"{name} must be in [0, {vocab_size}), got {value}")
        self.vocab_size = vocab_size
        self.nz = nz
        self.pad_id = pad_id
        self.word_dropout = float(word_dropout)
        self.predict_eos = bool(predict_eos)
        self.unk_id, self.bos_id, self.eos_id = unk_id, bos_id, eos_id
        self.embed = nn.Embedding(vocab_size, emb_dim)
        self.dropout_in = nn.Dropout(dropout_in)
        self.lstm = nn.LSTM(emb_dim + nz, hidden_dim, num_layers=1, batch_first=True)
        self.dropout_out = nn.Dropout(dropout_out)
        self.init_cell = nn.Linear(nz, hidden_dim, bias=False)  # U in c_0 = U z
        self.output = nn.Linear(hidden_dim, vocab_size, bias=False)  # W in softmax(W h_t)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """All parameters U(-0.01, 0.01), then the embedding U(-0.1, 0.1) (docs/implementation.md §2.1)."""
        for param in self.parameters():
            nn.init.uniform_(param, -0.01, 0.01)
        nn.init.uniform_(self.embed.weight, -0.1, 0.1)

    def _initial_state(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``z [N, nz]`` -> ``(h_0, c_0)``, each ``[1, N, hidden]``: c_0 = U z, h_0 = tanh(c_0)."""
        c0 = self.init_cell(z).unsqueeze(0)
        return torch.tanh(c0), c0

    def hidden(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """The output layer's input ``drop(h_t)``, ``[S, batch, L - 1, hidden]``.

        Args:
            x: token ids ``[batch, L]``, ``L >= 2`` (``<s> ... </s>``).
            z: latent codes ``[S, batch, nz]``.
        """
        if x.dim() != 2 or x.shape[1] < 2:
            raise ValueError(f"x must be [batch, L] token ids with L >= 2, got shape {tuple(x.shape)}")
        if z.dim() != 3 or z.shape[1] != x.shape[0] or z.shape[2] != self.nz:
            raise ValueError(
                f"z must be [S, batch={x.shape[0]}, nz={self.nz}], got shape {tuple(z.shape)}"
            )
        S, B, T = z.shape[0], x.shape[0], x.shape[1] - 1
        inputs = x[:, :-1]
        if self.training and self.word_dropout > 0:
            # word dropout (off by default): a word -> <unk> with probability word_dropout, [batch, T]
            is_word = inputs != self.bos_id
            if self.pad_id is not None:
                is_word &= inputs != self.pad_id
            drop = (torch.rand(inputs.shape, device=inputs.device) < self.word_dropout) & is_word
            inputs = inputs.masked_fill(drop, self.unk_id)
        # drop(E[x_{t-1}]) once per sentence: [batch, T, emb]
        emb = self.dropout_in(self.embed(inputs))
        # tile over samples: [S * batch, T, emb] and z at every step: [S * batch, T, nz]
        emb = emb.unsqueeze(0).expand(S, -1, -1, -1).reshape(S * B, T, -1)
        z_flat = z.reshape(S * B, self.nz)
        z_steps = z_flat.unsqueeze(1).expand(-1, T, -1).to(emb.dtype)
        h, _ = self.lstm(torch.cat([emb, z_steps], dim=-1), self._initial_state(z_flat))
        return self.dropout_out(h).view(S, B, T, -1)

    def logits(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """Unnormalised next-token scores ``W drop(h_t)``, ``[S, batch, L - 1, vocab]``.

        Entry ``t`` scores the target ``x[:, t + 1]``. Materialises every score: for inspection
        and tests; the likelihood uses :meth:`log_likelihood`, which never does.
        """
        return self.output(self.hidden(x, z))

    def log_likelihood(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """:math:`\\log p_\\theta(x|z) = \\sum_t \\log p(x_t|x_{<t}, z)` (eq. 1), pad targets masked.

        The log-softmax of each target is computed block by block under a memory budget
        (:func:`duvae.nets.fused_softmax.target_log_softmax`); the ``[S * batch * T, vocab]``
        scores are never materialised. Float32 result under either precision.

        Args:
            x: token ids ``[batch, L]``.
            z: latent codes ``[S, batch, nz]``.

        Returns:
            ``[S, batch]``.
        """
        h = self.hidden(x, z)
        S, B, T, H = h.shape
        target = x[:, 1:].unsqueeze(0).expand(S, -1, -1).reshape(-1)
        # log softmax(W drop(h_t))_{x_t}, 0 where x_t == pad_id: [S * batch * T]
        ell = target_log_softmax(h.reshape(-1, H), self.output.weight, target, ignore_index=self.pad_id)
        if not self.predict_eos:  # leave </s> out of the sum (off by default)
            ell = ell.masked_fill(target == self.eos_id, 0.0)
        return ell.view(S, B, T).sum(-1)

    @torch.no_grad()
    def greedy_decode(self, z: torch.Tensor, max_len: int, bos_id: int, eos_id: int) -> torch.Tensor:
        """Arg-max decoding from ``z`` (qualitative samples; dropout is never applied).

        Args:
            z: latent codes ``[N, nz]``.
            max_len: the most tokens to generate (``</s>`` included).
            bos_id, eos_id: ids of ``<s>`` and ``</s>``.

        Returns:
            ``[N, T]`` generated ids (``<s>`` excluded, ``</s>`` included when reached),
            ``T <= max_len``; after ``</s>`` a row holds ``pad_id`` (or ``eos_id`` if ``pad_id`` is None).
        """
        if z.dim() != 2 or z.shape[1] != self.nz:
            raise ValueError(f"z must be [N, nz={self.nz}], got shape {tuple(z.shape)}")
        if max_len < 1:
            raise ValueError(f"max_len must be >= 1, got {max_len}")
        for name, value in (("bos_id", bos_id), ("eos_id", eos_id)):
            if not 0 <= value < self.vocab_size:
                raise ValueError(f"{name} must be in [0, {self.vocab_size}), got {value}")
        fill = eos_id if self.pad_id is None else self.pad_id
        N = z.shape[0]
        state = self._initial_state(z)
        token = torch.full((N,), bos_id, dtype=torch.long, device=z.device)
        done = torch.zeros(N, dtype=torch.bool, device=z.device)
        out = []
        for _ in range(max_len):
            step_in = torch.cat([self.embed(token), z], dim=-1).unsqueeze(1)  # [N, 1, emb + nz]
            h, state = self.lstm(step_in, state)
            token = self.output(h[:, 0]).argmax(-1)
            token = torch.where(done, torch.full_like(token, fill), token)
            out.append(token)
            done = done | (token == eos_id)
            if bool(done.all()):
                break
        return torch.stack(out, dim=1)
