r"""The softmax likelihood of target tokens, computed block by block (docs/implementation.md §2.1, §4.1).

The text decoder's output layer turns each hidden state :math:`h_r` (one row per sample, sentence
and position: :math:`r = 1 \dots N`, :math:`N = S B T`) into a distribution over the vocabulary,
and the likelihood of eq. 1 needs only the log-probability of the *target* token :math:`y_r`:

.. math::
    \ell_r = \log \mathrm{softmax}(W h_r)_{y_r}
           = (W h_r)_{y_r} - \operatorname{logsumexp}_v (W h_r)_v ,
    \qquad W \in \mathbb{R}^{V \times H}.

Written plainly (``F.cross_entropy(h @ W.T, y)``) this materialises the ``[N, V]`` logits and
log-probabilities: for 100 importance samples of a 30-sentence bucket that is gigabytes, and
every element-wise pass over it is memory-bound. Here the rows are cut into blocks whose logits
fit a memory budget (``block_bytes``); each block's logits are computed, reduced to
:math:`\ell_r` while they are still in cache, and dropped. If one row alone exceeds the budget
the vocabulary is cut too, and the row's logsumexp is accumulated over vocabulary blocks,

.. math::
    \operatorname{logsumexp}_v a_v = \operatorname{logaddexp}\big(
        \operatorname{logsumexp}_{v \in \text{block}_1} a_v, \dots \big).

**Gradient.** With :math:`p_r = \mathrm{softmax}(W h_r)` and :math:`g_r = \partial L / \partial \ell_r`,

.. math::
    \frac{\partial L}{\partial (W h_r)} = g_r\,(e_{y_r} - p_r) =: G_r, \qquad
    \frac{\partial L}{\partial h_r} = G_r W, \qquad
    \frac{\partial L}{\partial W} = \sum_r G_r^\top h_r .

The forward pass keeps :math:`D_r = p_r - e_{y_r}` (``[N, V]``, in the compute dtype) when it
fits ``save_bytes``; as :math:`G_r = -g_r D_r`, the backward pass is then two matrix products
with the row scale :math:`g_r` applied to their ``[N, H]`` side,
:math:`\partial L/\partial h = -g \odot (D W)` and :math:`\partial L/\partial W = D^\top (-g \odot h)`.
Otherwise it keeps only the logsumexps and recomputes :math:`p` block by block. Under ``create_graph=True`` (SA-VAE
differentiates through its refinement) the backward is written with differentiable operations,
so second derivatives are exact.

**Precision.** ``compute_dtype`` is the dtype of the matrix products (``torch.bfloat16`` under
the project's ``bf16`` switch, :mod:`duvae.bf16`); the logsumexp, the log-softmax and every
accumulation run in float32. Targets equal to ``ignore_index`` give :math:`\ell_r = 0` and no
gradient.
"""

from __future__ import annotations

import torch
from torch import Tensor

from duvae.bf16 import float32_region, matmul_dtype

#: logits of one block: 8 MiB (about 220 rows of a 9.5k vocabulary in float32)
DEFAULT_BLOCK_BYTES = 8 << 20
#: the softmax kept for the backward pass when it fits, else recomputed block by block
DEFAULT_SAVE_BYTES = 1 << 30


def _blocks(n_rows: int, vocab: int, block_bytes: int) -> tuple[int, int]:
    """``(rows, cols)`` per block such that ``rows * cols * 4 <= block_bytes`` (at least 1 x 1)."""
    elems = max(1, block_bytes // 4)
    if vocab <= elems:
        return max(1, min(n_rows, elems // vocab)), vocab
    return 1, elems


def _block_log_softmax_target(hb: Tensor, w: Tensor, yb: Tensor, cols: int) -> tuple[Tensor, Tensor]:
    """One row block: ``(target logit - logsumexp [rows], logsumexp [rows])``, both float32.

    ``hb [rows, H]`` and ``w [V, H]`` are already in the compute dtype; ``yb [rows]`` are valid ids.
    """
    vocab = w.shape[0]
    if cols >= vocab:
        ell, lse, _ = _full_rows((hb @ w.T).float(), hb, w, yb)
        return ell, lse
    # vocabulary blocks: running logsumexp over slices of W (a budget below one row)
    lse = torch.full((hb.shape[0],), -float("inf"), device=hb.device)
    target = torch.empty(hb.shape[0], device=hb.device)
    for v0 in range(0, vocab, cols):
        logits = (hb @ w[v0:v0 + cols].T).float()  # [rows, cols]
        lse = torch.logaddexp(lse, torch.logsumexp(logits, dim=1))
        inside = (yb >= v0) & (yb < v0 + cols)
        if bool(inside.any()):
            idx = (yb - v0).clamp(0, logits.shape[1] - 1)
            picked = logits.gather(1, idx[:, None])[:, 0]
            target = torch.where(inside, picked, target)
    return target - lse, lse


def _full_rows(logits: Tensor, hb: Tensor, w: Tensor, yb: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """From a block's float32 logits ``W h_r`` ``[rows, V]``: ``(ell [rows], lse [rows], log_p [rows, V])``."""
    log_p = torch.log_softmax(logits, dim=1)  # fused max / exp / sum, while in cache
    ell = log_p.gather(1, yb[:, None])[:, 0]  # log softmax(W h_r)_{y_r}
    lse = logits.gather(1, yb[:, None])[:, 0] - ell  # logsumexp_v (W h_r)_v
    if hb.dtype != torch.float32:  # the target logit as a float32 dot product, without the
        ell = (hb.float() * w[yb].float()).sum(-1) - lse  # product's bfloat16 rounding
    return ell, lse, log_p


def _forward(h: Tensor, w: Tensor, y: Tensor, valid: Tensor, rows: int, cols: int, dtype: torch.dtype,
             keep_probs: bool) -> tuple[Tensor, Tensor, Tensor | None]:
    """``(ell [N], lse [N], probs [N, V] or None)`` in blocks of ``rows x cols``; invalid rows give 0."""
    n, vocab = h.shape[0], w.shape[0]
    wc = w.to(dtype)
    y_safe = torch.where(valid, y, torch.zeros_like(y))
    ell = torch.empty(n, device=h.device)
    lse = torch.empty(n, device=h.device)
    probs = torch.empty(n, vocab, dtype=dtype, device=h.device) if keep_probs else None
    for r0 in range(0, n, rows):
        r1 = min(n, r0 + rows)
        hb = h[r0:r1].to(dtype)
        if probs is not None:  # full rows (cols == vocab): keep p - e_y for the backward pass
            block = probs[r0:r1]
            if dtype == torch.float32:
                logits = torch.mm(hb, wc.T, out=block)  # computed in place in the kept buffer
            else:
                logits = (hb @ wc.T).float()
            yb = y_safe[r0:r1]
            ell[r0:r1], lse[r0:r1], log_p = _full_rows(logits, hb, wc, yb)
            torch.exp(log_p, out=block)  # p_r, overwriting the logits
            block.scatter_add_(1, yb[:, None], torch.full((r1 - r0, 1), -1.0, dtype=dtype, device=h.device))  # - e_y
        else:
            ell[r0:r1], lse[r0:r1] = _block_log_softmax_target(hb, wc, y_safe[r0:r1], cols)
    ell = torch.where(valid, ell, torch.zeros_like(ell))
    return ell, lse, probs


class _FusedTargetLogSoftmax(torch.autograd.Function):
    """Autograd wrapper of :func:`_forward`; see the module docstring for the gradient."""

    @staticmethod
    def forward(ctx, h, w, y, valid, block_bytes, save_bytes, dtype):
        n, vocab = h.shape[0], w.shape[0]
        rows, cols = _blocks(n, vocab, block_bytes)
        keep = cols >= vocab and n * vocab * torch.finfo(dtype).bits // 8 <= save_bytes
        with float32_region(h.device):
            ell, lse, probs = _forward(h.detach(), w.detach(), y, valid, rows, cols, dtype, keep)
        ctx.save_for_backward(h, w, y, valid, lse, probs if probs is not None else torch.empty(0))
        ctx.keep, ctx.blocks, ctx.dtype = keep, (rows, cols), dtype
        return ell

    @staticmethod
    def backward(ctx, g):
        h, w, y, valid, lse, probs = ctx.saved_tensors
        g = torch.where(valid, g, torch.zeros_like(g)).float()  # no gradient through ignored targets
        y_safe = torch.where(valid, y, torch.zeros_like(y))
        dtype = ctx.dtype
        with float32_region(h.device):
            if torch.is_grad_enabled():
                # create_graph=True: differentiable ops, recomputing p (second derivatives exact)
                p = torch.softmax((h.to(dtype) @ w.to(dtype).T).float(), dim=1)
                onehot = torch.zeros_like(p).scatter_(1, y_safe[:, None], 1.0)
                G = g[:, None] * (onehot - p)  # G_r = g_r (e_{y_r} - p_r)
                grad_h = (G.to(dtype) @ w.to(dtype)).to(h.dtype)  # dL/dh_r = G_r W
                grad_w = (G.T.to(dtype) @ h.to(dtype)).to(w.dtype)  # dL/dW = sum_r G_r^T h_r
                return grad_h, grad_w, None, None, None, None, None
            wc = w.to(dtype)
            if ctx.keep:
                # probs holds D_r = p_r - e_{y_r}, so G_r = -g_r D_r; the row scale moves outside
                # the products: dL/dh = -g * (D W), dL/dW = D^T (-g * h); no [N, V] pass here
                grad_h = ((probs @ wc).float() * -g[:, None]).to(h.dtype)
                grad_w = (probs.T @ (h.float() * -g[:, None]).to(dtype)).to(w.dtype)
                return grad_h, grad_w, None, None, None, None, None
            # recompute p block by block from the saved logsumexps
            n, vocab = h.shape[0], w.shape[0]
            rows, cols = ctx.blocks
            grad_h = torch.zeros(n, h.shape[1], device=h.device)
            grad_w = torch.zeros(vocab, w.shape[1], device=w.device)
            for r0 in range(0, n, rows):
                r1 = min(n, r0 + rows)
                hb, gb, yb = h[r0:r1].to(dtype), g[r0:r1], y_safe[r0:r1]
                for v0 in range(0, vocab, cols):
                    v1 = min(vocab, v0 + cols)
                    p = ((hb @ wc[v0:v1].T).float() - lse[r0:r1, None]).exp_()  # p_r on the slice
                    G = p.mul_(-gb[:, None])
                    inside = (yb >= v0) & (yb < v1)
                    G[inside, (yb - v0)[inside]] += gb[inside]
                    G = G.to(dtype)
                    grad_h[r0:r1] += (G @ wc[v0:v1]).float()
                    grad_w[v0:v1] += (G.T @ hb).float()
            return grad_h.to(h.dtype), grad_w.to(w.dtype), None, None, None, None, None


def target_log_softmax(
    h: Tensor,
    weight: Tensor,
    target: Tensor,
    ignore_index: int | None = None,
    *,
    block_bytes: int = DEFAULT_BLOCK_BYTES,
    save_bytes: int = DEFAULT_SAVE_BYTES,
    compute_dtype: torch.dtype | None = None,
) -> Tensor:
    r""":math:`\ell_r = \log \mathrm{softmax}(W h_r)_{y_r}` for every row, ``[N]`` float32.

    Args:
        h: hidden states ``[N, H]`` (any float dtype).
        weight: the output layer's ``W`` ``[V, H]`` (bias-free, as the text decoder's).
        target: token ids ``[N]``; rows whose target equals ``ignore_index`` give 0.
        block_bytes: memory budget of one block of float32 logits (rows, then vocabulary slices).
        save_bytes: keep the softmax for the backward pass if ``[N, V]`` fits, else recompute it.
        compute_dtype: dtype of the matrix products; default: ``torch.bfloat16`` when bfloat16
            autocast is on for ``h``'s device (:mod:`duvae.bf16`), else float32.

    Equals ``-F.cross_entropy(h @ W.T, target, ignore_index=..., reduction="none")`` in float32
    (values and gradients), without the ``[N, V]`` tensors.
    """
    if h.dim() != 2 or weight.dim() != 2 or h.shape[1] != weight.shape[1]:
        raise ValueError(f"h must be [N, H] and weight [V, H]; got {tuple(h.shape)} and {tuple(weight.shape)}")
    if target.shape != h.shape[:1]:
        raise ValueError(f"target must be [N={h.shape[0]}], got {tuple(target.shape)}")
    if block_bytes < 4:
        raise ValueError(f"block_bytes must be >= 4 (one float32), got {block_bytes}")
    if compute_dtype is None:
        compute_dtype = matmul_dtype(h.device)
    valid = torch.ones_like(target, dtype=torch.bool) if ignore_index is None else target != ignore_index
    y_ok = target[valid]
    if y_ok.numel() and (int(y_ok.min()) < 0 or int(y_ok.max()) >= weight.shape[0]):
        raise ValueError(f"target ids must lie in [0, {weight.shape[0]}) (or equal ignore_index)")
    return _FusedTargetLogSoftmax.apply(h, weight, target, valid, int(block_bytes), int(save_bytes), compute_dtype)
