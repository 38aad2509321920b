r"""Per-model cost on this machine: one training step, and IW-NLL throughput (docs/implementation.md §4.1).

For every model of the zoo (:data:`duvae.runs.zoo.MODEL_NAMES`) and both kinds of data (the synthetic
text set's LSTMs, Omniglot's ResNet + PixelCNN), on random inputs of the right shape:

- ``step_ms``: one optimiser step (loss, backward, Adam step), median over ``--steps`` steps, at the
  network sizes of ``--profile`` (default ``smoke``: batch 8);
- ``iw_ex_per_s``: examples per second of :func:`duvae.metrics.iw_nll` with 500 samples (its default
  work budget), batch ``--iw-batch``, at the same sizes.

For the text decoder the arithmetic is known, so the IW-NLL line also reports the achieved GFLOP/s
of the LSTM decoder against a nominal 300 GFLOP/s for this CPU: per predicted token and sample,
:math:`2 \cdot 4H(E + n_z + H)` for the LSTM cell and :math:`2HV` for the output layer.

    python benchmarks/bench_models.py                 # smoke sizes, every model
    python benchmarks/bench_models.py --profile cpu --models vae du_vae du_iaf
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from duvae.runs.device import pick_device
from duvae.metrics import iw_nll
from duvae.objectives import training_loss
from duvae.runs.zoo import MODEL_NAMES, build_model, run_config

NOMINAL_GFLOPS = 300.0


def fake_batch(kind: str, batch: int, vocab: int, length: int) -> torch.Tensor:
    if kind == "text":
        x = torch.randint(4, vocab, (batch, length))
        x[:, 0], x[:, -1] = 1, 2
        return x
    return torch.bernoulli(torch.full((batch, 1, 28, 28), 0.1))


def sync(device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_steps(model, x, cfg, steps: int) -> float:
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    times = []
    for _ in range(steps + 1):
        sync(x.device)
        start = time.perf_counter()
        terms = training_loss(model, x, 1.0, cfg.model)
        opt.zero_grad()
        terms.loss.backward()
        opt.step()
        sync(x.device)
        times.append(time.perf_counter() - start)
    return statistics.median(times[1:]) * 1e3  # the first step warms up


def time_iw(model, x, n_samples: int = 500) -> float:
    model.eval()
    with torch.no_grad():
        iw_nll(model, x[:2], n_samples=100)  # warm-up
        sync(x.device)
        start = time.perf_counter()
        iw_nll(model, x, n_samples=n_samples)
        sync(x.device)
    return x.shape[0] / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default="smoke", choices=("smoke", "cpu", "paper"))
    parser.add_argument("--models", nargs="*", default=list(MODEL_NAMES))
    parser.add_argument("--kinds", nargs="*", default=["text", "image"])
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--iw-batch", type=int, default=8)
    parser.add_argument("--vocab", type=int, default=1004, help="text vocabulary (synthetic set: 1004)")
    parser.add_argument("--length", type=int, default=12, help="tokens per sentence incl. <s> </s>")
    parser.add_argument("--device", default="cpu", help="cpu | cuda | auto")
    args = parser.parse_args()
    device = pick_device(args.device)
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, profile {args.profile}, device {device}")
    print(f"{'model':10s} {'data':6s} {'batch':>5s} {'step_ms':>9s} {'iw_ex_per_s':>12s} {'GFLOP/s':>8s}")
    for kind in args.kinds:
        dataset = "synthetic" if kind == "text" else "omniglot"
        for name in args.models:
            cfg = run_config(name, dataset, args.profile)
            model = build_model(cfg, vocab_size=args.vocab if kind == "text" else None).to(device)
            x = fake_batch(kind, cfg.train.batch_size, args.vocab, args.length).to(device)
            step_ms = time_steps(model, x, cfg, args.steps)
            xi = fake_batch(kind, args.iw_batch, args.vocab, args.length).to(device)
            ex_s = time_iw(model, xi)
            gflops = ""
            if kind == "text":
                n = cfg.net
                per_token = 2 * 4 * n.dec_hidden * (n.emb_dim + n.nz + n.dec_hidden) + 2 * n.dec_hidden * args.vocab
                flop = ex_s * 500 * (args.length - 1) * per_token
                gflops = f"{flop / 1e9:8.1f}"
            print(f"{name:10s} {kind:6s} {cfg.train.batch_size:5d} {step_ms:9.1f} {ex_s:12.2f} {gflops:>8s}", flush=True)


if __name__ == "__main__":
    main()
