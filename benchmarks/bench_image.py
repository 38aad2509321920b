r"""Image hot paths: ResNet + PixelCNN training step and IW-NLL (K = 500) on Omniglot-sized input.

At the ``cpu`` sizes (32 channels, 5 PixelCNN layers) and, with ``--paper``, the paper's
(64 channels, 13 layers), DU-VAE (gamma 0.5, p 0.9), batch 50, random binary 28x28 images
(timings do not depend on the pixels). For fp32 and bf16:

- the training step (loss, backward, Adam step), median over ``--steps`` steps;
- the IW-NLL in images/s for several work budgets (samples x images x pixels per decoder call,
  :func:`duvae.metrics.iw_nll`), its GFLOP/s (convolution and linear FLOPs counted by forward hooks
  on one pass) and its fraction of the fp32 and bf16 matmul rates measured in this run;
- where the IW-NLL's time goes: the top operators of one call under ``torch.profiler``.

    python benchmarks/bench_image.py                 # cpu sizes, about 3 minutes on 2 cores
    python benchmarks/bench_image.py --paper --images 2
"""

from __future__ import annotations

import argparse
import time

import torch
from _rates import header, sync, time_training
from torch import nn

from duvae.runs.device import pick_device
from duvae.metrics import iw_nll
from duvae.runs.zoo import build_model, run_config


def count_decoder_flops(model, x, n_samples: int) -> float:
    """FLOPs of ``n_samples`` decoder passes over ``x``: 2 x MACs of every conv and linear layer."""
    total = [0.0]

    def conv_hook(mod, inp, out):
        k = mod.weight[0].numel()  # in_channels / groups * kh * kw
        total[0] += 2.0 * out.numel() * k

    def linear_hook(mod, inp, out):
        total[0] += 2.0 * out.numel() * mod.in_features

    hooks = [m.register_forward_hook(conv_hook) for m in model.decoder.modules() if isinstance(m, nn.Conv2d)]
    hooks += [m.register_forward_hook(linear_hook) for m in model.decoder.modules() if isinstance(m, nn.Linear)]
    model.eval()
    with torch.no_grad():
        z = torch.zeros(n_samples, x.shape[0], model.nz, device=x.device)
        model.log_likelihood(x, z)
    for h in hooks:
        h.remove()
    return total[0]


def time_iw(model, x, n_samples, budget, precision, device):
    torch.manual_seed(321)
    sync(device)
    start = time.perf_counter()
    nll = iw_nll(model, x, n_samples=n_samples, work_budget=budget, precision=precision)
    sync(device)
    return time.perf_counter() - start, nll


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--paper", action="store_true", help="the paper's sizes (64 channels, 13 layers)")
    parser.add_argument("--images", type=int, default=4, help="test images for the IW-NLL")
    parser.add_argument("--samples", type=int, default=500)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--budgets", type=int, nargs="*", default=[1 << 14, 1 << 16, 1 << 18])
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    device = pick_device(args.device)
    fp32_rate, bf16_rate = header(device)

    profile = "paper" if args.paper else "cpu"
    cfg = run_config("du_vae", "omniglot", profile, gamma=0.5, p_keep=0.9)
    torch.manual_seed(0)
    model = build_model(cfg).to(device)
    g = torch.Generator().manual_seed(0)
    batches = [(torch.rand(50, 1, 28, 28, generator=g) < 0.15).float().to(device) for _ in range(args.steps + 1)]
    x = batches[0][: args.images]
    flop = count_decoder_flops(model, x, args.samples)
    gflop_img = flop / args.images / 1e9
    n = cfg.net
    print(f"omniglot at {profile} sizes: {n.img_channels} channels, {len(n.pixelcnn_kernels)} PixelCNN layers, "
          f"nz {n.nz}; {gflop_img:.1f} GFLOP per image at K = {args.samples} (decoder)")

    rows = []
    for precision in ("fp32", "bf16"):
        step = time_training(model, cfg, batches, precision, device, optimizer="adam", clip=None)
        print(f"  {precision} training step (batch 50): {step * 1e3:.0f} ms", flush=True)
        for budget in args.budgets:
            sec, nll = time_iw(model, x, args.samples, budget, precision, device)
            rate = args.images * gflop_img / sec
            rows.append((precision, step, budget, args.images / sec, rate, float(nll.mean())))
            print(f"    IW-NLL budget {budget:>7}: {args.images / sec:6.2f} images/s, {rate:5.0f} GFLOP/s "
                  f"({rate / fp32_rate:.0%} of fp32, {rate / bf16_rate:.0%} of bf16 matmul), "
                  f"mean NLL {float(nll.mean()):.3f}", flush=True)

    print("\n| precision | training step (ms) | IW-NLL budget | images/s | GFLOP/s | of fp32 matmul | of bf16 matmul |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for precision, step, budget, ips, rate, _ in rows:
        print(f"| {precision} | {step * 1e3:.0f} | {budget} | {ips:.2f} | {rate:.0f} | {rate / fp32_rate:.0%} | "
              f"{rate / bf16_rate:.0%} |")
    fp = [r for r in rows if r[0] == "fp32"]
    bf = [r for r in rows if r[0] == "bf16"]
    print(f"\nbf16 minus fp32 mean IW-NLL (same draws): {bf[-1][5] - fp[-1][5]:+.4f} nats per image")

    from torch.profiler import ProfilerActivity, profile as torch_profile

    with torch_profile(activities=[ProfilerActivity.CPU]) as prof:
        iw_nll(model, x[:1], n_samples=args.samples)
    print("\nwhere one fp32 IW-NLL call's time goes (self CPU time):")
    events = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
    total = sum(e.self_cpu_time_total for e in events)
    for e in events[:8]:
        print(f"  {e.key:<36} {e.self_cpu_time_total / total:6.1%}")


if __name__ == "__main__":
    main()
