r"""Throughput of :func:`duvae.metrics.iw_nll` (docs/implementation.md §4.1: K = 500 importance samples per example).

Three decoders, each behind a diagonal-Gaussian posterior:

- ``linear``: the linear-Gaussian model :math:`x = W z + b + \mathcal{N}(0, s^2 I)`, ``nz = 32``,
  ``D = 784``. Its cost per importance sample is known exactly, :math:`2\,nz\,D` flops for
  :math:`W z` plus about :math:`4 D` for the Gaussian log-density, so the table also gives the
  achieved GFLOP/s and its fraction of a nominal 300 GFLOP/s;
- ``lstm``: :class:`duvae.nets.LSTMDecoder` (emb 128, hidden 256, vocab 8k, sentences of L = 12);
- ``pixelcnn``: :class:`duvae.nets.PixelCNNDecoder` at a small size (16 channels, 4 layers).

The last two are skipped when :mod:`duvae.nets` is not importable. Not part of the tests::

    python benchmarks/bench_iw_nll.py --quick
"""

from __future__ import annotations

import argparse
import math
import time

import torch
from torch import nn
from torch.distributions import Independent, Normal

from duvae.runs.device import pick_device, seed_everything
from duvae.metrics import iw_nll

NOMINAL_GFLOPS = 300.0


class Diag(nn.Module):
    """A protocol model: q(z|x) = N(A flat(x), diag exp(l)) (linear encoder) and a given decoder."""

    def __init__(self, in_features: int, nz: int, decoder: nn.Module, embed: nn.Module | None = None):
        super().__init__()
        self.embed = embed  # for token ids: mean of word embeddings
        self.enc = nn.Linear(in_features, 2 * nz)
        self.decoder = decoder
        self.register_buffer("zero", torch.zeros(nz))

    @property
    def prior(self):
        return Independent(Normal(self.zero, torch.ones_like(self.zero)), 1)

    def posterior(self, x):
        f = self.embed(x).mean(1) if self.embed is not None else x.flatten(1).float()
        m, l = self.enc(f).chunk(2, dim=-1)
        return Independent(Normal(m, (0.5 * l.clamp(-4, 2)).exp(), validate_args=False), 1)

    def log_likelihood(self, x, z):
        return self.decoder.log_likelihood(x, z)


class LinearDecoder(nn.Module):
    def __init__(self, nz: int, d: int, s: float = 0.5):
        super().__init__()
        self.W = nn.Parameter(torch.randn(d, nz) / math.sqrt(nz))
        self.b = nn.Parameter(torch.zeros(d))
        self.s = s

    def log_likelihood(self, x, z):  # [S, B, nz] -> [S, B]
        S, B, nz = z.shape
        loc = torch.addmm(self.b, z.reshape(S * B, nz), self.W.T).view(S, B, -1)  # 2 nz D flops / sample
        return (-0.5 * ((x - loc) / self.s) ** 2).sum(-1) - x.shape[-1] * (
            math.log(self.s) + 0.5 * math.log(2 * math.pi))


def _time(model, x, n_samples, budget, repeats, device) -> float:
    """Seconds per ``iw_nll`` call (after one warm-up call)."""
    iw_nll(model, x, n_samples=n_samples, work_budget=budget)
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(repeats):
        iw_nll(model, x, n_samples=n_samples, work_budget=budget)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / repeats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small batches, one repeat")
    parser.add_argument("--samples", type=int, default=500)
    parser.add_argument("--budget", type=int, default=1 << 16, help="samples x examples x units per call")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    device = pick_device(args.device)
    seed_everything(0)
    nz, K = 32, args.samples
    repeats = 1 if args.quick else 3
    rows = []

    # linear-Gaussian, D = 784
    d, batch = 784, (50 if args.quick else 200)
    model = Diag(d, nz, LinearDecoder(nz, d)).to(device)
    x = torch.randn(batch, d, device=device)
    sec = _time(model, x, K, args.budget, repeats, device)
    flops = batch * K * (2 * nz * d + 4 * d)
    rows.append(("linear (nz 32, D 784)", batch, batch / sec, flops / sec / 1e9))

    try:
        from duvae.nets import LSTMDecoder, PixelCNNDecoder
    except ImportError as err:
        print(f"duvae.nets not importable ({err}); LSTM and PixelCNN rows skipped")
    else:
        vocab, L = 8000, 12
        batch = 2 if args.quick else 8
        model = Diag(128, nz, LSTMDecoder(vocab, 128, 256, nz), embed=nn.Embedding(vocab, 128)).to(device)
        x = torch.randint(1, vocab, (batch, L), device=device)
        sec = _time(model, x, K, args.budget, repeats, device)
        rows.append(("lstm (emb 128, hid 256, V 8k, L 12)", batch, batch / sec, float("nan")))

        batch = 2 if args.quick else 8
        model = Diag(28 * 28, nz, PixelCNNDecoder(nz, channels=16, kernel_sizes=(5, 5, 3, 3))).to(device)
        x = (torch.rand(batch, 1, 28, 28, device=device) < 0.3).float()
        sec = _time(model, x, K, args.budget, repeats, device)
        rows.append(("pixelcnn (16 ch, 4 layers, 28x28)", batch, batch / sec, float("nan")))

    print(f"iw_nll throughput, K = {K} samples, work budget {args.budget}, device = {device}, "
          f"torch threads = {torch.get_num_threads()}")
    print(f"{'model':<38}{'batch':>6}{'examples/s':>13}{'GFLOP/s':>10}{'of 300':>9}")
    for name, b, rate, gflops in rows:
        g = "-" if math.isnan(gflops) else f"{gflops:.1f}"
        frac = "-" if math.isnan(gflops) else f"{gflops / NOMINAL_GFLOPS:.1%}"
        print(f"{name:<38}{b:>6}{rate:>13.2f}{g:>10}{frac:>9}")


if __name__ == "__main__":
    main()
