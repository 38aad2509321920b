r"""The ``paper`` profile's hot paths on one device: training step, validation pass and IW-NLL (K = 500).

For Yahoo (LSTM encoder and decoder, embedding 512, hidden 1024, the mirror's 20k vocabulary,
documents of up to 200 words, batch 32, SGD) and Omniglot (ResNet encoder, 13-layer PixelCNN of
64 channels, batch 50, Adam), each model of ``--models`` (default VAE, DU-VAE, DU-IAF; SA-VAE's
refinement with ``--sa-steps``) in each precision of ``--precisions``:

- ``step_s``: one optimiser step exactly as :func:`duvae.runs.trainer.fit` takes it (KL weight 1, so
  DU's variance floor and dropout are on; the loss under the precision switch, backward, gradient
  clipping at 5, the two optimisers' steps, the loss read back), mean over ``--steps`` batches
  drawn at random from a training epoch (text batches differ in length: the mean of a random
  sample estimates an epoch's mean), timed on a second pass over them after a warm-up pass;
- ``eval_batch_s``: :func:`duvae.metrics.evaluate` per validation batch (what every epoch adds);
- IW-NLL with K = ``--samples`` (500): documents (images) per second, target tokens per second,
  at the profile's work budget and at each of ``--iw-budgets``.

Each time is also given as achieved TFLOP/s (FLOPs counted from the layer sizes: the LSTM cells and
the output layer for text, every convolution and linear layer by forward hooks for images; a
backward pass counted as twice the forward) and as a fraction of the bf16 matmul rate measured in
the same run (``--matmul-size``, default 8192 on a GPU). ``fp32`` means float32 weights with the
TF32 setting of ``--tf32`` (default ``on``: TF32 tensor-core products allowed in cuBLAS and
cuDNN; the JSON says which). The data sizes the ``paper`` profile trains on, as the mirror holds
them, are recorded too; ``python -m duvae.sweep.costs --gpu FILE`` projects run times from them.

The JSON (``--out``) is rewritten after every measurement, so a run cut short keeps what it measured::

    python benchmarks/bench_paper.py --device cuda --out /tmp/paper_steps.json
    python benchmarks/bench_paper.py --device cpu --profile smoke --steps 2 --samples 16 --out /tmp/tiny.json
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import platform
import random
import socket
import statistics
import sys
import time
from pathlib import Path

import torch
from torch import nn

from duvae.runs.device import pick_device
from duvae.metrics import evaluate, iw_nll
from duvae.objectives import training_loss
from duvae.bf16 import autocast
from duvae.runs.results import cpu_model
from duvae.runs.run_data import load_run_data
from duvae.runs.trainer import make_optimizers
from duvae.runs.zoo import build_model, run_config

SCHEMA = "duvae-gpu-steps/1"


# --- the record -----------------------------------------------------------------------------------


class Report:
    """A JSON file rewritten atomically after every change."""

    def __init__(self, path: str | None, data: dict):
        self.path = Path(path) if path else None
        self.data = data
        self.save()

    def add(self, section: str, row: dict) -> None:
        self.data.setdefault(section, []).append(row)
        self.save()

    def save(self) -> None:
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        tmp.write_text(json.dumps(self.data, indent=1) + "\n")
        os.replace(tmp, self.path)


def set_tf32(allowed: bool) -> None:
    """Allow (or forbid) TF32 tensor-core products for float32 in cuBLAS and cuDNN (convolutions, RNNs)."""
    cuda, cudnn = torch.backends.cuda, torch.backends.cudnn
    if hasattr(cuda.matmul, "fp32_precision"):  # torch >= 2.9
        value = "tf32" if allowed else "ieee"
        cuda.matmul.fp32_precision = cudnn.conv.fp32_precision = cudnn.rnn.fp32_precision = value
    else:
        cuda.matmul.allow_tf32 = cudnn.allow_tf32 = allowed


def machine(device: torch.device, tf32: str) -> dict:
    """Where and with what this was measured."""
    info = {"device": str(device), "cpu": cpu_model(), "threads": torch.get_num_threads(),
            "torch": torch.__version__, "cuda": torch.version.cuda, "python": platform.python_version(),
            "host": socket.gethostname(), "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "fp32_means": ("float32 weights; TF32 tensor-core products allowed in cuBLAS and cuDNN" if tf32 == "on"
                           else "float32 weights; IEEE float32 products (TF32 off)" if tf32 == "off"
                           else "float32 weights; torch's TF32 defaults (cuDNN on, cuBLAS off)")}
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        info.update(gpu=torch.cuda.get_device_name(device), gpu_memory_gib=round(props.total_memory / 2**30, 1),
                    multiprocessors=props.multi_processor_count, cudnn=torch.backends.cudnn.version())
    return info


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def matmul_tflops(dtype: torch.dtype, device: torch.device, n: int, repeats: int = 10) -> float:
    """TFLOP/s of an ``n x n x n`` product in ``dtype`` (mean of ``repeats`` after 3 warm-ups)."""
    g = torch.Generator().manual_seed(0)
    a = torch.randn(n, n, generator=g).to(device, dtype)
    b = torch.randn(n, n, generator=g).to(device, dtype)
    for _ in range(3):
        a @ b
    sync(device)
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    sync(device)
    return 2 * n**3 * repeats / (time.perf_counter() - start) / 1e12


# --- FLOP counts ------------------------------------------------------------------------------------


def text_flops_per_step(cfg, vocab: int, x: torch.Tensor) -> float:
    """Forward + backward (3x the forward) FLOPs of one text step: encoder LSTM, decoder LSTM, output layer."""
    n, (b, length) = cfg.net, x.shape
    enc = 2 * 4 * n.enc_hidden * (n.emb_dim + n.enc_hidden) * b * length
    return 3 * (enc + b * (length - 1) * text_flops_per_target(cfg, vocab))


def text_flops_per_target(cfg, vocab: int) -> float:
    """Decoder FLOPs per predicted token and sample: the LSTM cell and the output layer."""
    n = cfg.net
    return 2 * 4 * n.dec_hidden * (n.emb_dim + n.nz + n.dec_hidden) + 2 * n.dec_hidden * vocab


def hooked_flops(module: nn.Module, run) -> float:
    """FLOPs (2 x multiply-adds) of every convolution and linear layer of ``module`` while ``run()`` runs."""
    total = [0.0]

    def conv(mod, inp, out):
        total[0] += 2.0 * out.numel() * mod.weight[0].numel()

    def linear(mod, inp, out):
        total[0] += 2.0 * out.numel() * mod.in_features

    hooks = [m.register_forward_hook(conv) for m in module.modules() if isinstance(m, nn.Conv2d)]
    hooks += [m.register_forward_hook(linear) for m in module.modules() if isinstance(m, nn.Linear)]
    try:
        with torch.no_grad():
            run()
    finally:
        for h in hooks:
            h.remove()
    return total[0]


# --- the measurements -------------------------------------------------------------------------------


def train_step(model, cfg, x, optimizers, params, precision: str, device) -> float:
    """One step as :func:`duvae.runs.trainer.fit` takes it (KL weight 1, not aggressive)."""
    with autocast(precision, device):
        terms = training_loss(model, x, 1.0, cfg.model)
    for opt in optimizers:
        opt.zero_grad(set_to_none=True)
    terms.loss.backward()
    nn.utils.clip_grad_norm_(params, cfg.train.clip_grad)
    for opt in optimizers:
        opt.step()
    return float(terms.loss.detach())


def time_steps(model, cfg, batches, precision, device) -> list[float]:
    """Seconds of each step over ``batches``, timed on a second pass (the first warms up every shape:
    a text length seen for the first time costs extra once, as in a run's first epoch only)."""
    model.train()
    params = list(model.parameters())
    optimizers = make_optimizers(model, cfg, cfg.train.lr)
    for x in batches:
        train_step(model, cfg, x, optimizers, params, precision, device)
    times = []
    for x in batches:
        sync(device)
        start = time.perf_counter()
        train_step(model, cfg, x, optimizers, params, precision, device)
        sync(device)
        times.append(time.perf_counter() - start)
    return times


def time_eval(model, batches, precision, device) -> float:
    """Seconds per batch of :func:`duvae.metrics.evaluate` (one warm-up pass first)."""
    evaluate(model, batches[:1], precision=precision)
    sync(device)
    start = time.perf_counter()
    evaluate(model, batches, precision=precision)
    sync(device)
    return (time.perf_counter() - start) / len(batches)


def time_iw(model, x, samples, budget, precision, device) -> float:
    torch.manual_seed(321)
    sync(device)
    start = time.perf_counter()
    nll = iw_nll(model, x, n_samples=samples, work_budget=budget, precision=precision)
    sync(device)
    if not torch.isfinite(nll).all():
        raise FloatingPointError("non-finite IW-NLL")
    return time.perf_counter() - start


def data_summary(data, cfg) -> dict:
    """The sizes the profile trains and tests on (as the mirror holds them)."""
    out = {"description": data.describe(), "train_batches": data.n_train_batches, "n_train": data.n_train,
           "batch_size": cfg.train.batch_size, "valid_batches": len(data.valid),
           "n_valid": sum(int(b.shape[0]) for b in data.valid), "test_batches": len(data.test),
           "n_test": sum(int(b.shape[0]) for b in data.test), "epochs": cfg.train.epochs,
           "eval_iw_samples": cfg.train.eval_iw_samples}
    if data.kind == "text":
        out["vocab_size"] = data.vocab_size
        out["test_targets"] = sum(int(b.shape[0] * (b.shape[1] - 1)) for b in data.test)
        out["max_words"] = max(int(b.shape[1]) - 2 for b in data.test)
    return out


def sample_batches(data, n: int, seed: int) -> list[torch.Tensor]:
    """``n`` batches drawn at random (without replacement where possible) from epoch 0's batches."""
    batches = list(data.train_batches(0))
    rng = random.Random(seed)
    picks = rng.sample(range(len(batches)), min(n, len(batches)))
    while len(picks) < n:
        picks.append(rng.randrange(len(batches)))
    return [batches[i] for i in picks]


def iw_examples(data, n: int, seed: int) -> list[torch.Tensor]:
    """Test examples for the IW-NLL: text, random length buckets cut to ``n`` documents in all; images, ``n``."""
    if data.kind == "image":
        return [data.test[0][:n]]
    rng = random.Random(seed)
    order = rng.sample(range(len(data.test)), len(data.test))
    out, left = [], n
    for i in order:
        if left <= 0:
            break
        out.append(data.test[i][:left])
        left -= out[-1].shape[0]
    return out


def measure_dataset(args, report: Report, dataset: str, device) -> None:
    base = run_config("du_vae", dataset, args.profile)
    t0 = time.perf_counter()
    data = load_run_data(base, device=device)
    summary = data_summary(data, base)
    summary["load_seconds"] = round(time.perf_counter() - t0, 1)
    report.data.setdefault("data", {})[dataset] = summary
    report.save()
    print(f"[{dataset}] {summary['description']}; {summary['train_batches']} training batches per epoch", flush=True)
    steps = sample_batches(data, args.steps, seed=1)
    valid = [data.valid[i] for i in random.Random(2).sample(range(len(data.valid)), min(args.eval_batches,
                                                                                    len(data.valid)))]
    iw_x = iw_examples(data, args.iw_docs if data.kind == "text" else args.iw_images, seed=3)
    bf16 = report.data["matmul_tflops"]["bf16"]
    models = list(args.models) + (["sa_vae"] if args.sa_steps > 0 else [])
    for name in models:
        for precision in args.precisions:
            cfg = run_config(name, dataset, args.profile)
            cfg = cfg.with_(train=dataclasses.replace(cfg.train, precision=precision))
            torch.manual_seed(0)
            model = build_model(cfg, vocab_size=data.vocab_size).to(device)
            batches = steps[: args.sa_steps] if name == "sa_vae" else steps
            row = {"dataset": dataset, "model": name, "precision": precision}
            try:
                times = time_steps(model, cfg, batches, precision, device)
                if data.kind == "text":
                    flops = statistics.mean(text_flops_per_step(cfg, data.vocab_size, x) for x in batches)
                else:
                    flops = 3 * hooked_flops(model, lambda: training_loss(model, batches[0], 1.0, cfg.model))
                step_s = statistics.mean(times)
                row.update(step_s=step_s, step_s_median=statistics.median(times), steps_timed=len(times),
                           flop_per_step=flops, tflops=flops / step_s / 1e12, of_bf16_matmul=flops / step_s / 1e12 / bf16)
                if name == "sa_vae":
                    row["note"] = "FLOPs count one forward and backward, not the SVI refinement"
                row["eval_batch_s"] = time_eval(model, valid, precision, device)
                if device.type == "cuda":
                    row["max_memory_gib"] = round(torch.cuda.max_memory_allocated(device) / 2**30, 2)
            except Exception as err:  # noqa: BLE001 - record it, go on with the others
                row["error"] = f"{type(err).__name__}: {str(err)[:300]}"
            report.add("steps", row)
            print(f"  {name:<7} {precision}: " + (f"step {row['step_s'] * 1e3:8.1f} ms "
                  f"({row['tflops']:.3g} TFLOP/s, {row['of_bf16_matmul']:.1%} of bf16 matmul), "
                  f"eval {row['eval_batch_s'] * 1e3:.1f} ms/batch" if "error" not in row else row["error"]),
                  flush=True)
            if name == "sa_vae":
                continue
            for budget in [cfg.train.eval_work_budget] + [b for b in args.iw_budgets if b != cfg.train.eval_work_budget]:
                iw = {"dataset": dataset, "model": name, "precision": precision, "samples": args.samples,
                      "work_budget": budget, "profile_budget": budget == cfg.train.eval_work_budget}
                try:
                    seconds = sum(time_iw(model, x, args.samples, budget, precision, device) for x in iw_x)
                    n = sum(int(x.shape[0]) for x in iw_x)
                    if data.kind == "text":
                        targets = sum(int(x.shape[0] * (x.shape[1] - 1)) for x in iw_x)
                        flops = args.samples * targets * text_flops_per_target(cfg, data.vocab_size)
                        iw.update(targets=targets, targets_per_s=targets / seconds)
                    else:
                        z = torch.zeros(1, n, cfg.net.nz, device=device)
                        flops = args.samples * hooked_flops(model.decoder, lambda: model.decoder.log_likelihood(iw_x[0], z))
                    iw.update(examples=n, seconds=seconds, examples_per_s=n / seconds, tflops=flops / seconds / 1e12,
                              of_bf16_matmul=flops / seconds / 1e12 / bf16)
                except Exception as err:  # noqa: BLE001
                    iw["error"] = f"{type(err).__name__}: {str(err)[:300]}"
                report.add("iw_nll", iw)
                unit = "documents" if data.kind == "text" else "images"
                print(f"      IW-NLL K={args.samples}, budget {budget}: " + (
                    f"{iw['examples_per_s']:.2f} {unit}/s ({iw['tflops']:.3g} TFLOP/s, "
                    f"{iw['of_bf16_matmul']:.1%} of bf16 matmul)" if "error" not in iw else iw["error"]), flush=True)
            del model
            if device.type == "cuda":
                torch.cuda.empty_cache()


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="auto")
    p.add_argument("--profile", default="paper", choices=("paper", "cpu", "smoke"))
    p.add_argument("--datasets", nargs="*", default=["yahoo", "omniglot"])
    p.add_argument("--models", nargs="*", default=["vae", "du_vae", "du_iaf"])
    p.add_argument("--precisions", nargs="*", default=["fp32", "bf16"])
    p.add_argument("--steps", type=int, default=12, help="timed training steps per model and precision")
    p.add_argument("--sa-steps", type=int, default=0, help="also time SA-VAE, this many steps (0: not)")
    p.add_argument("--eval-batches", type=int, default=4, help="validation batches timed")
    p.add_argument("--samples", type=int, default=500, help="IW-NLL samples K")
    p.add_argument("--iw-docs", type=int, default=16, help="test documents for the IW-NLL")
    p.add_argument("--iw-images", type=int, default=50, help="test images for the IW-NLL")
    p.add_argument("--iw-budgets", type=int, nargs="*", default=[1 << 20],
                   help="work budgets tried besides the profile's own")
    p.add_argument("--tf32", choices=("on", "off", "default"), default="on")
    p.add_argument("--matmul-size", type=int, default=None, help="default 8192 on a GPU, 1024 on the CPU")
    p.add_argument("--out", default=None, help="the JSON file (rewritten after every measurement)")
    args = p.parse_args(argv)
    device = pick_device(args.device)
    if args.tf32 != "default":
        set_tf32(args.tf32 == "on")
    n = args.matmul_size or (8192 if device.type == "cuda" else 1024)
    rates = {"size": n, "fp32": matmul_tflops(torch.float32, device, n), "bf16": matmul_tflops(torch.bfloat16, device, n)}
    report = Report(args.out, {"schema": SCHEMA, "profile": args.profile, "machine": machine(device, args.tf32),
                               "tf32": args.tf32, "matmul_tflops": rates, "argv": sys.argv[1:]})
    m = report.data["machine"]
    print(f"{m.get('gpu', m['cpu'])}: torch {m['torch']}, CUDA {m['cuda']}; {n}^3 matmul fp32 {rates['fp32']:.1f}, "
          f"bf16 {rates['bf16']:.1f} TFLOP/s; fp32 = {m['fp32_means']}", flush=True)
    for dataset in args.datasets:
        measure_dataset(args, report, dataset, device)
    report.data["finished"] = True
    report.save()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
