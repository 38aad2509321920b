"""The fused, memory-bounded target log-softmax against the plain ``F.cross_entropy`` form."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from duvae.nets.fused_softmax import target_log_softmax


def _inputs(n=37, hidden=8, vocab=53, seed=0, pad=None):
    g = torch.Generator().manual_seed(seed)
    h = torch.randn(n, hidden, generator=g, requires_grad=True)
    w = (0.7 * torch.randn(vocab, hidden, generator=g)).requires_grad_()
    y = torch.randint(0, vocab, (n,), generator=g)
    if pad is not None:
        y[::4] = pad
    return h, w, y


def _plain(h, w, y, ignore_index=None):
    return -F.cross_entropy(h @ w.T, y, ignore_index=-100 if ignore_index is None else ignore_index,
                            reduction="none")


# block budgets: everything at once; 3 rows of 53; 5 rows; less than one row (vocabulary slices,
# 53 is not a multiple of 16 or 7); a single float per block
BUDGETS = [1 << 20, 3 * 53 * 4, 5 * 53 * 4, 16 * 4, 7 * 4, 4]


@pytest.mark.parametrize("block_bytes", BUDGETS)
@pytest.mark.parametrize("save_bytes", [1 << 30, 0])  # keep the softmax / recompute it
def test_values_and_gradients_equal_cross_entropy(block_bytes, save_bytes):
    h, w, y = _inputs(pad=0)
    g_out = torch.randn(h.shape[0])  # an arbitrary upstream gradient
    ref = _plain(h, w, y, ignore_index=0)
    gh_ref, gw_ref = torch.autograd.grad((ref * g_out).sum(), (h, w))
    got = target_log_softmax(h, w, y, ignore_index=0, block_bytes=block_bytes, save_bytes=save_bytes)
    gh, gw = torch.autograd.grad((got * g_out).sum(), (h, w))
    torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-5)
    assert bool((got[::4] == 0).all())  # ignored targets give exactly 0
    torch.testing.assert_close(gh, gh_ref, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(gw, gw_ref, rtol=1e-4, atol=1e-5)


def test_no_ignore_index_and_extreme_logits():
    h, w, y = _inputs(n=9, vocab=11, seed=1)
    with torch.no_grad():
        h.mul_(40.0)  # logits in the hundreds: a naive exp would overflow
    ref = _plain(h, w, y)
    for budget in (1 << 20, 8, 4):
        torch.testing.assert_close(target_log_softmax(h, w, y, block_bytes=budget), ref, rtol=1e-5, atol=1e-4)


def test_second_derivatives_for_create_graph():
    # SA-VAE differentiates through gradients of the likelihood: d/dh of (dL/dh . v) must match
    h, w, y = _inputs(n=6, vocab=13, seed=2)
    v = torch.randn_like(h)
    (gh_ref,) = torch.autograd.grad(_plain(h, w, y).sum(), h, create_graph=True)
    hvp_ref = torch.autograd.grad((gh_ref * v).sum(), (h, w))
    (gh_got,) = torch.autograd.grad(target_log_softmax(h, w, y, block_bytes=3 * 13 * 4).sum(), h, create_graph=True)
    hvp_got = torch.autograd.grad((gh_got * v).sum(), (h, w))
    for a, b in zip(hvp_got, hvp_ref):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_bfloat16_matmuls_stay_close_and_return_float32():
    h, w, y = _inputs(n=64, hidden=32, vocab=300, seed=3)
    ref = _plain(h, w, y)
    got = target_log_softmax(h, w, y, compute_dtype=torch.bfloat16)
    assert got.dtype == torch.float32
    # bfloat16 keeps 8 bits of mantissa: logits of size ~ 5 are off by ~ 0.02
    assert (got - ref).abs().max() < 0.1
    with torch.autocast("cpu", dtype=torch.bfloat16):  # the default follows the autocast region
        auto = target_log_softmax(h, w, y)
    torch.testing.assert_close(auto, got)
    gh, gw = torch.autograd.grad(auto.sum(), (h, w))
    gh_ref, gw_ref = torch.autograd.grad(ref.sum(), (h, w))
    assert gh.dtype == h.dtype and gw.dtype == w.dtype
    assert (gh - gh_ref).abs().max() < 0.05 * gh_ref.abs().max()


@pytest.mark.parametrize("bad, match", [
    (dict(target=torch.tensor([0, 99])), "target ids"),
    (dict(target=torch.tensor([0])), "target must be"),
    (dict(block_bytes=2), "block_bytes"),
])
def test_refuses_bad_input(bad, match):
    h, w, _ = _inputs(n=2, vocab=5)
    args = dict(target=torch.tensor([0, 1]), block_bytes=1 << 10)
    args.update(bad)
    with pytest.raises(ValueError, match=match):
        target_log_softmax(h, w, args["target"], block_bytes=args["block_bytes"])
