"""IW-NLL on the real networks: the work budget and bucketing never change the estimate; bf16 stays close.

Models are built from their zoo configs at ``smoke`` sizes and trained for a few steps on small
in-memory data (no data files needed).
"""

from __future__ import annotations

import dataclasses

import pytest
import torch

from duvae.metrics import iw_chunks, iw_nll
from duvae.objectives import training_loss
from duvae.bf16 import autocast
from duvae.runs.zoo import build_model, run_config

VOCAB = 40


def _sentences(n, length, seed):
    g = torch.Generator().manual_seed(seed)
    # a learnable pattern: each sentence repeats one of a few words, with noise
    word = torch.randint(4, 12, (n, 1), generator=g)
    x = torch.where(torch.rand(n, length, generator=g) < 0.8, word, torch.randint(4, VOCAB, (n, length), generator=g))
    x[:, 0], x[:, -1] = 1, 2
    return x


def _trained(name, dataset, steps=30, precision="fp32"):
    torch.manual_seed(0)
    cfg = run_config(name, dataset, "smoke")
    model = build_model(cfg, vocab_size=VOCAB if cfg.is_text else None)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(1)
    for step in range(steps):
        if cfg.is_text:
            x = _sentences(16, 9, seed=step)
        else:
            x = (torch.rand(8, 1, 28, 28, generator=g) < 0.2).float()
        with autocast(precision, "cpu"):
            loss = training_loss(model, x, 1.0, cfg.model).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval()


@pytest.fixture(scope="module")
def text_model():
    return _trained("du_vae", "synthetic")


def test_chunks_respect_the_budget():
    assert iw_chunks(500, 4, 25, 1000) == (10, 4)  # 10 samples x 4 sentences x 25 tokens
    assert iw_chunks(500, 4, 25, 10**9) == (500, 4)
    assert iw_chunks(500, 40, 25, 100) == (1, 4)  # one sample of the bucket is over: split the bucket
    assert iw_chunks(3, 2, 784, 1) == (1, 1)  # never below one sample of one example
    with pytest.raises(ValueError, match="work_budget"):
        iw_chunks(3, 2, 7, 0)


def test_text_iw_nll_is_the_same_for_every_work_budget(text_model):
    x = _sentences(6, 9, seed=99)
    results = []
    for budget in (1, 9 * 7, 6 * 9 * 13, 1 << 20):
        torch.manual_seed(5)
        results.append(iw_nll(text_model, x, n_samples=50, work_budget=budget))
    for r in results[1:]:
        torch.testing.assert_close(r, results[0], rtol=0, atol=1e-4)


def test_text_bucket_equals_its_documents_one_at_a_time(text_model):
    x = _sentences(5, 9, seed=98)
    torch.manual_seed(6)
    bucket = iw_nll(text_model, x, n_samples=40)
    torch.manual_seed(6)
    alone = torch.cat([iw_nll(text_model, x[i:i + 1], n_samples=40) for i in range(x.shape[0])])
    torch.testing.assert_close(bucket, alone, rtol=0, atol=1e-4)


def test_image_iw_nll_is_the_same_for_every_work_budget():
    model = _trained("du_vae", "omniglot", steps=5)
    x = (torch.rand(3, 1, 28, 28, generator=torch.Generator().manual_seed(3)) < 0.2).float()
    results = []
    for budget in (784, 5 * 3 * 784, 1 << 22):
        torch.manual_seed(7)
        results.append(iw_nll(model, x, n_samples=12, work_budget=budget))
    for r in results[1:]:
        torch.testing.assert_close(r, results[0], rtol=0, atol=1e-3)


def test_bf16_iw_nll_is_close_to_fp32_on_a_trained_model(text_model):
    # stated tolerance: mean within 0.05 nats per sentence, every sentence within 0.25 nats
    x = _sentences(32, 9, seed=97)
    torch.manual_seed(8)
    fp32 = iw_nll(text_model, x, n_samples=100)
    torch.manual_seed(8)
    bf16 = iw_nll(text_model, x, n_samples=100, precision="bf16")
    assert bf16.dtype == torch.float32
    assert abs(float((bf16 - fp32).mean())) < 0.05
    assert float((bf16 - fp32).abs().max()) < 0.25
    assert not torch.equal(bf16, fp32)  # the switch did change the arithmetic


def test_bf16_training_keeps_float32_weights_and_a_close_loss():
    cfg = run_config("du_vae", "synthetic", "smoke")
    cfg = cfg.with_(train=dataclasses.replace(cfg.train, precision="bf16"))
    model = build_model(cfg, vocab_size=VOCAB)
    x = _sentences(16, 9, seed=0)
    with autocast("bf16", "cpu"):
        terms = training_loss(model, x, 1.0, cfg.model)
    terms.loss.backward()
    assert all(p.dtype == torch.float32 and (p.grad is None or p.grad.dtype == torch.float32)
               for p in model.parameters())
    assert terms.kl.dtype == torch.float32 and terms.rec.dtype == torch.float32
    torch.manual_seed(0)
    model.eval()
    with torch.no_grad():
        torch.manual_seed(1)
        ref = training_loss(model, x, 1.0, cfg.model).loss
        torch.manual_seed(1)
        with autocast("bf16", "cpu"):
            low = training_loss(model, x, 1.0, cfg.model).loss
    assert abs(float(low - ref)) < 0.01 * abs(float(ref))
