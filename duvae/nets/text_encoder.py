r"""The text encoder backbone: a one-layer LSTM that reads the whole sentence (docs/implementation.md §2.1).

A sentence is the token sequence :math:`x = (\langle s\rangle, w_1, \dots, w_T, \langle /s\rangle)`.
The encoder embeds every token, runs a unidirectional LSTM over the embeddings and returns the
**last hidden state** as the sentence feature

.. math::
    e_t = E[x_t], \qquad (h_t, c_t) = \mathrm{LSTM}(e_t, (h_{t-1}, c_{t-1})), \qquad
    f(x) = h_{L}, \qquad h_0 = c_0 = 0 .

The posterior head (:mod:`duvae.posteriors`) then maps :math:`f(x)` to the mean and
log-variance of :math:`q_\phi(z|x)` (paper eq. 1; eq. 5-7 for DU-VAE's BN and dropout).

Training batches are length-bucketed, so :math:`h_L` is always the true last state. For padded
batches (pad id 0 at the end of the shorter sentences) pass ``lengths``: the feature is then the
hidden state at position ``lengths - 1``. Because the LSTM reads left to right, that state has not
seen any padding, so it equals the state of the unpadded sentence.

Initialisation (docs/implementation.md §2.1):

- ``init="small"`` (the plain encoder of the reference; VAE, beta-VAE, FB, Agg-VAE, MAE ...):
  embedding :math:`U(-0.1, 0.1)`, every other parameter :math:`U(-0.01, 0.01)`;
- ``init="default"`` (the BN encoders of DU-VAE and BN-VAE): PyTorch's defaults, i.e. embedding
  :math:`N(0, 1)` and LSTM weights :math:`U(\pm 1/\sqrt{\text{hidden}})`.
"""

from __future__ import annotations

import torch
from torch import nn

INITS = ("small", "default")


class LSTMEncoder(nn.Module):
    """Embedding -> 1-layer LSTM -> last hidden state ``[batch, hidden_dim]``.

    Args:
        vocab_size: number of token ids (specials included).
        emb_dim: word-embedding size (the reference's ``ni``).
        hidden_dim: LSTM hidden size; also ``out_features``.
        init: ``"small"`` or ``"default"`` (see the module docstring).
    """

    def __init__(self, vocab_size: int, emb_dim: int, hidden_dim: int, init: str = "small"):
        super().__init__()
        for name, value in (("vocab_size", vocab_size), ("emb_dim", emb_dim), ("hidden_dim", hidden_dim)):
            if value < 1:
                raise ValueError(f"{name} must be >= 1, got {value}")
        if init not in INITS:
            raise ValueError(f"init must be one of {INITS}, got {init!r}")
        self.init = init
        self.out_features = hidden_dim
        self.embed = nn.Embedding(vocab_size, emb_dim)
        self.lstm = nn.LSTM(emb_dim, hidden_dim, num_layers=1, batch_first=True)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Re-initialise as ``self.init`` says (docs/implementation.md §2.1)."""
        if self.init == "default":
            self.embed.reset_parameters()
            self.lstm.reset_parameters()
            return
        nn.init.uniform_(self.embed.weight, -0.1, 0.1)
        for param in self.lstm.parameters():
            nn.init.uniform_(param, -0.01, 0.01)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Sentence features.

        Args:
            x: token ids ``[batch, L]`` (``<s> ... </s>``, right-padded with 0 if ``lengths`` is given).
            lengths: optional true lengths ``[batch]`` (``1 <= lengths <= L``), for padded batches.

        Returns:
            ``f(x) = h_{length}``, shape ``[batch, hidden_dim]``.
        """
        if x.dim() != 2:
            raise ValueError(f"x must be [batch, L] token ids, got shape {tuple(x.shape)}")
        # h_t for every t: [batch, L, hidden_dim]
        h, _ = self.lstm(self.embed(x))
        if lengths is None:
            return h[:, -1]
        lengths = torch.as_tensor(lengths, device=x.device)
        if lengths.shape != (x.shape[0],):
            raise ValueError(f"lengths must have shape ({x.shape[0]},), got {tuple(lengths.shape)}")
        if bool((lengths < 1).any()) or bool((lengths > x.shape[1]).any()):
            raise ValueError(f"lengths must lie in [1, {x.shape[1]}], got {lengths.tolist()}")
        # gather h at position lengths - 1: index [batch, 1, hidden_dim]
        index = (lengths.long() - 1).view(-1, 1, 1).expand(-1, 1, h.shape[-1])
        return h.gather(1, index).squeeze(1)
