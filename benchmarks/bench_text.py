r"""Text hot paths, before and after the fused likelihood, in fp32 and bf16 (one run, one machine).

Workload (the speed study's): Yahoo, the first 2,000 lines of the mirrored ``yahoo.valid.txt`` for
training and the first ``--docs`` lines of ``yahoo.test.txt`` for the IW-NLL, a vocabulary built
from the 2,000 training documents, DU-VAE (gamma 0.5, p 0.8), LSTM embedding 128, hidden 256/256,
nz 32, batch 32. ``--paper`` switches to the paper's sizes: embedding 512, hidden 1024, a 20k
vocabulary built from all 10,000 validation documents.

Four variants of the same weights and batches:

- ``before fp32``: the plain likelihood (``F.cross_entropy`` on the materialised ``[S B T, V]``
  logits) and the old IW-NLL chunking (100 samples x the whole bucket per decoder call);
- ``before bf16``: the same under bfloat16 autocast;
- ``fp32`` and ``bf16``: the fused likelihood (:mod:`duvae.nets.fused_softmax`) and the
  work-budget IW-NLL (:func:`duvae.metrics.iw_nll`) under the precision switch.

Printed: training-step time (median), IW-NLL documents/s with K = 500, the achieved GFLOP/s
(per target token and sample, :math:`2 \cdot 4H(E + n_z + H)` for the LSTM cell and :math:`2HV`
for the output layer) and its fraction of the fp32 and bf16 matmul rates measured in this run,
and the bf16 estimate's mean difference from fp32 on the same draws. ``--curve`` also trains
the `cpu` synthetic DU-VAE (30 epochs) in fp32 and in bf16 and compares the final losses.

    python benchmarks/bench_text.py --docs 40          # about 10 minutes on 2 cores
    python benchmarks/bench_text.py --paper --docs 10
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import time

import torch
import torch.nn.functional as F
from _rates import header, sync, time_training
from torch import nn

from duvae.data.registry import fetch
from duvae.data.text import TextDataset, Vocab, read_tokenized
from duvae.runs.device import pick_device
from duvae.metrics import evaluating, iw_nll, sample_with_log_prob
from duvae.bf16 import autocast
from duvae.runs.zoo import build_model, run_config


# --- the "before" code paths, kept here for the side-by-side ------------------------------------

def plain_log_likelihood(decoder, x, z):
    """The former ``LSTMDecoder.log_likelihood``: every logit materialised, then cross-entropy."""
    scores = decoder.logits(x, z)
    S, B, T, V = scores.shape
    target = x[:, 1:].unsqueeze(0).expand(S, -1, -1).reshape(-1)
    nll = F.cross_entropy(scores.reshape(-1, V).float(), target, ignore_index=decoder.pad_id, reduction="none")
    return -nll.view(S, B, T).sum(-1)


class Before(nn.Module):
    """The same model with the plain likelihood (shares the weights)."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    @property
    def prior(self):
        return self.model.prior

    def posterior(self, x, kl_weight=1.0):
        return self.model.posterior(x, kl_weight=kl_weight)

    def log_likelihood(self, x, z):
        return plain_log_likelihood(self.model.decoder, x, z)


def before_iw_nll(model, x, n_samples=500, chunk=100):
    """The former ``iw_nll``: chunks of ``chunk`` samples x the whole bucket."""
    with evaluating(model):
        q = model.posterior(x)
        log_w = []
        for start in range(0, n_samples, chunk):
            z, log_q = sample_with_log_prob(q, min(chunk, n_samples - start))
            log_w.append(model.log_likelihood(x, z).float() + model.prior.log_prob(z) - log_q)
        return -(torch.logsumexp(torch.cat(log_w), 0) - math.log(n_samples))


# --- workload -------------------------------------------------------------------------------------

def load(args, device):
    train_docs = read_tokenized(fetch("yahoo/yahoo.valid.txt", progress=False))
    test_docs = read_tokenized(fetch("yahoo/yahoo.test.txt", progress=False))[: args.docs]
    train_docs = train_docs if args.paper else train_docs[:2000]
    vocab = Vocab.build(train_docs, max_size=20000 if args.paper else None)
    train = TextDataset.from_sentences(train_docs, vocab, name="train")
    test = TextDataset.from_sentences(test_docs, vocab, name="test")
    return vocab, train, test


def model_for(args, vocab_size, device):
    cfg = run_config("du_vae", "yahoo", "cpu", gamma=0.5, p_keep=0.8)
    if args.paper:
        cfg = cfg.with_(net=dataclasses.replace(cfg.net, emb_dim=512, enc_hidden=1024, dec_hidden=1024))
    torch.manual_seed(0)
    return cfg, build_model(cfg, vocab_size=vocab_size).to(device)


def flops_per_token_sample(cfg, vocab_size):
    n = cfg.net
    return 2 * 4 * n.dec_hidden * (n.emb_dim + n.nz + n.dec_hidden) + 2 * n.dec_hidden * vocab_size


def time_iw(fn, buckets, device):
    """``(seconds, nll [N])`` of ``fn(x)`` over every bucket, one fixed seed."""
    torch.manual_seed(123)
    out = []
    sync(device)
    start = time.perf_counter()
    for x in buckets:
        out.append(fn(x))
    sync(device)
    return time.perf_counter() - start, torch.cat(out)


def synthetic_curve():
    """Final validation loss of the `cpu` synthetic DU-VAE, fp32 vs bf16 (30 epochs each)."""
    import tempfile

    from duvae.runs.trainer import train_or_load

    finals = {}
    for precision in ("fp32", "bf16"):
        cfg = run_config("du_vae", "synthetic", "cpu")
        cfg = cfg.with_(train=dataclasses.replace(cfg.train, precision=precision))
        start = time.perf_counter()
        with tempfile.TemporaryDirectory() as tmp:
            run = train_or_load(cfg, runs_dir=tmp, progress=False)
        finals[precision] = (run.history[-1]["loss"], len(run.history), time.perf_counter() - start,
                             run.metrics.get("nll"))
    print("\ncpu synthetic DU-VAE, full run:")
    for precision, (loss, epochs, sec, nll) in finals.items():
        print(f"  {precision}: final validation loss {loss:.4f} after {epochs} epochs, test NLL {nll:.4f}, "
              f"{sec:.0f} s")
    rel = abs(finals["bf16"][0] - finals["fp32"][0]) / abs(finals["fp32"][0])
    print(f"  bf16 final loss differs from fp32 by {rel:.2%} (target: within 1 %)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=200, help="test documents for the IW-NLL (default 200)")
    parser.add_argument("--samples", type=int, default=500)
    parser.add_argument("--steps", type=int, default=40, help="training steps timed per variant")
    parser.add_argument("--paper", action="store_true", help="paper sizes: emb 512, hidden 1024, vocab 20k")
    parser.add_argument("--skip-before", action="store_true", help="only the current code paths")
    parser.add_argument("--curve", action="store_true", help="also the fp32/bf16 synthetic training curves")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    device = pick_device(args.device)
    fp32_rate, bf16_rate = header(device)

    vocab, train, test = load(args, device)
    cfg, model = model_for(args, len(vocab), device)
    before = Before(model)
    g = torch.Generator().manual_seed(0)
    train_batches = [x.to(device) for x in train.batches(32, seed=0, min_batch_size=16)][: args.steps + 1]
    buckets = [x.to(device) for x in test.batches(32)]
    n_docs = sum(x.shape[0] for x in buckets)
    tokens = sum(x.shape[0] * (x.shape[1] - 1) for x in buckets)
    gflop_doc = args.samples * tokens * flops_per_token_sample(cfg, len(vocab)) / n_docs / 1e9
    print(f"vocabulary {len(vocab)}, emb {cfg.net.emb_dim}, hidden {cfg.net.dec_hidden}, nz {cfg.net.nz}; "
          f"{len(train)} training documents, {n_docs} test documents in {len(buckets)} length buckets, "
          f"{tokens / n_docs:.1f} targets per document, {gflop_doc:.1f} GFLOP per document at K = {args.samples}")
    del g

    variants = [("fp32", model, "fp32"), ("bf16", model, "bf16")]
    if not args.skip_before:
        variants = [("before fp32", before, "fp32"), ("before bf16", before, "bf16")] + variants
    rows, estimates = [], {}
    for name, m, precision in variants:
        step = time_training(m, cfg, train_batches, precision, device)
        if name.startswith("before"):
            def fn(x, m=m, precision=precision):
                with autocast(precision, device):
                    return before_iw_nll(m, x, args.samples)
        else:
            def fn(x, precision=precision):
                return iw_nll(model, x, n_samples=args.samples, precision=precision)
        sec, nll = time_iw(fn, buckets, device)
        estimates[name] = nll
        rate = n_docs * gflop_doc / sec
        rows.append((name, step, n_docs / sec, rate))
        print(f"  {name:<12} step {step * 1e3:7.1f} ms   IW-NLL {n_docs / sec:6.3f} docs/s  {rate:6.1f} GFLOP/s  "
              f"({rate / fp32_rate:5.1%} of fp32, {rate / bf16_rate:5.1%} of bf16 matmul)", flush=True)

    base_name = "fp32" if args.skip_before else "before fp32"
    base = {r[0]: r for r in rows}[base_name]
    print(f"\n| variant | training step (ms) | vs {base_name} | IW-NLL docs/s | vs {base_name} | GFLOP/s | "
          "of fp32 matmul | of bf16 matmul |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for name, step, docs, rate in rows:
        print(f"| {name} | {step * 1e3:.1f} | {base[1] / step:.2f}x | {docs:.3f} | {docs / base[2]:.2f}x | "
              f"{rate:.0f} | {rate / fp32_rate:.0%} | {rate / bf16_rate:.0%} |")
    ref = estimates["fp32"]
    print(f"\nmean IW-NLL per document, fp32: {ref.mean():.4f} nats")
    for name, est in estimates.items():
        if name != "fp32":
            d = est - ref
            print(f"  {name:<12} minus fp32, same draws: mean {d.mean():+.4f}, max |.| {d.abs().max():.4f} nats")
    if args.curve:
        synthetic_curve()


if __name__ == "__main__":
    main()
