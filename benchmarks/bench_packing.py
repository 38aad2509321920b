r"""Runs per GPU: N training processes of the paper-size Yahoo DU-VAE at once on one device.

For each N of ``--procs`` (default 1, 2, 4, 8) this starts N worker processes. Each builds the
``paper`` Yahoo DU-VAE (embedding 512, LSTMs of 1024, the mirror's 20k vocabulary, batch 32) on the
device, takes one warm-up step on each of ``--distinct`` batches, says it is ready, waits for the common start signal, then times
``--steps`` optimiser steps (the trainer's step: loss under the precision switch, backward, clipping,
SGD), cycling through those batches, drawn at random from a training epoch (the same in every worker). The
aggregate rate is

.. math::
    R_N = \frac{N \cdot \text{steps}}{\max_i t^\text{end}_i - \min_i t^\text{start}_i}
    \quad \text{steps/s}, \qquad \text{speed-up}_N = R_N / R_1,

so the sweep knows how many runs to pack on one GPU: as long as the speed-up grows with N, more
runs per GPU finish the sweep sooner. The JSON (``--out``) is rewritten after every N, so a run
cut short keeps the N it finished; a failing N (out of memory, say) is recorded with its error::

    python benchmarks/bench_packing.py --device cuda --out /tmp/packing.json
    python benchmarks/bench_packing.py --device cpu --profile smoke --procs 1 2 --steps 3   # tiny, to test it
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_paper import Report, machine, sample_batches, set_tf32, sync, train_step  # noqa: E402

from duvae.runs.device import pick_device  # noqa: E402
from duvae.runs.run_data import load_run_data  # noqa: E402
from duvae.runs.trainer import make_optimizers  # noqa: E402
from duvae.runs.zoo import build_model, run_config  # noqa: E402

SCHEMA = "duvae-gpu-packing/1"


def config(profile: str, precision: str):
    cfg = run_config("du_vae", "yahoo", profile)
    return cfg.with_(train=dataclasses.replace(cfg.train, precision=precision))


def worker(args) -> int:
    """One process: build, warm up, signal ready, wait for the start file, time the steps, print JSON."""
    device = pick_device(args.device)
    if args.tf32 != "default":
        set_tf32(args.tf32 == "on")
    if args.threads:
        torch.set_num_threads(args.threads)
    saved = torch.load(args.batches, weights_only=True)
    cfg = config(args.profile, args.precision)
    torch.manual_seed(0)
    model = build_model(cfg, vocab_size=int(saved["vocab_size"])).to(device)
    model.train()
    batches = [x.to(device) for x in saved["batches"]]
    params = list(model.parameters())
    optimizers = make_optimizers(model, cfg, cfg.train.lr)
    for x in batches:  # warm-up: every shape once
        train_step(model, cfg, x, optimizers, params, args.precision, device)
    sync(device)
    Path(args.ready).write_text("ready")
    deadline = time.time() + args.wait
    while not Path(args.go).exists():
        if time.time() > deadline:
            raise TimeoutError(f"no start signal {args.go} within {args.wait} s")
        time.sleep(0.005)
    start = time.time()
    for i in range(args.steps):
        train_step(model, cfg, batches[i % len(batches)], optimizers, params, args.precision, device)
    sync(device)
    end = time.time()
    mem = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None
    print(json.dumps({"start": start, "end": end, "steps": args.steps, "max_memory_gib": mem}), flush=True)
    return 0


def run_n(args, n: int, batches_file: Path, tmp: Path) -> dict:
    """Start ``n`` workers, release them together, return the aggregate rate (or the error)."""
    threads = max(1, (os.cpu_count() or 1) // n)
    ready = [tmp / f"ready-{n}-{i}" for i in range(n)]
    go = tmp / f"go-{n}"
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", "--device", args.device, "--profile",
           args.profile, "--precision", args.precision, "--tf32", args.tf32, "--steps", str(args.steps),
           "--batches", str(batches_file), "--go", str(go), "--threads", str(threads), "--wait", str(args.wait)]
    procs = [subprocess.Popen(cmd + ["--ready", str(r)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for r in ready]
    row = {"processes": n, "steps_each": args.steps, "threads_each": threads}
    try:
        return _collect(args, n, procs, ready, go, row)
    finally:  # never leave a worker running (a time-out of the caller arrives as SIGTERM: see main)
        for proc in procs:
            if proc.poll() is None:
                proc.kill()


def _collect(args, n: int, procs, ready, go, row: dict) -> dict:
    try:
        deadline = time.time() + args.wait
        while not all(r.exists() for r in ready):
            dead = [p for p in procs if p.poll() not in (None, 0)]
            if dead or time.time() > deadline:
                raise RuntimeError("a worker failed before the start" if dead else f"workers not ready in {args.wait} s")
            time.sleep(0.02)
        go.write_text("go")
        outs = [p.communicate(timeout=args.wait) for p in procs]
        if any(p.returncode != 0 for p in procs):
            raise RuntimeError("a worker failed")
        results = [json.loads(out.strip().splitlines()[-1]) for out, _ in outs]
    except Exception as err:  # noqa: BLE001 - record it and go on with the next N
        for p in procs:
            if p.poll() is None:
                p.kill()
        errors = []
        for p in procs:
            try:
                _, err_text = p.communicate(timeout=10)
            except Exception:  # noqa: BLE001
                err_text = ""
            if err_text and err_text.strip():
                errors.append(err_text.strip().splitlines()[-1])
        row["error"] = f"{err}: {errors[0] if errors else ''}"[:400]
        return row
    wall = max(r["end"] for r in results) - min(r["start"] for r in results)
    per_proc = [r["steps"] / (r["end"] - r["start"]) for r in results]
    row.update(wall_s=wall, steps_per_s=sum(r["steps"] for r in results) / wall,
               per_process_steps_per_s=statistics.mean(per_proc),
               max_memory_gib=max((r["max_memory_gib"] or 0.0) for r in results) or None)
    return row


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="auto")
    p.add_argument("--profile", default="paper", choices=("paper", "cpu", "smoke"))
    p.add_argument("--precision", default="fp32", choices=("fp32", "bf16"),
                   help="fp32 (the paper profile's; TF32 as --tf32) or bf16")
    p.add_argument("--tf32", choices=("on", "off", "default"), default="on")
    p.add_argument("--procs", type=int, nargs="*", default=[1, 2, 4, 8])
    p.add_argument("--steps", type=int, default=30, help="timed steps per process")
    p.add_argument("--distinct", type=int, default=10, help="distinct batches, cycled through (each warmed up once)")
    p.add_argument("--wait", type=float, default=300.0, help="seconds a worker may take to get ready / to finish")
    p.add_argument("--out", default=None)
    # worker-only arguments
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--batches", help=argparse.SUPPRESS)
    p.add_argument("--ready", help=argparse.SUPPRESS)
    p.add_argument("--go", help=argparse.SUPPRESS)
    p.add_argument("--threads", type=int, default=0, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        return worker(args)

    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(143))  # so run_n's finally stops the workers
    device = pick_device(args.device)
    args.device = str(device)
    cfg = config(args.profile, args.precision)
    data = load_run_data(cfg, device="cpu")
    with tempfile.TemporaryDirectory(prefix="duvae-packing-") as tmp:
        tmp = Path(tmp)
        batches_file = tmp / "batches.pt"
        torch.save({"vocab_size": data.vocab_size, "batches": sample_batches(data, min(args.steps, args.distinct), seed=1)},
                   batches_file)
        report = Report(args.out, {"schema": SCHEMA, "profile": args.profile, "model": "du_vae", "dataset": "yahoo",
                                   "precision": args.precision, "tf32": args.tf32,
                                   "machine": machine(device, args.tf32), "data": data.describe(),
                                   "argv": sys.argv[1:], "packing": []})
        print(f"packing: {cfg.model.name} on {cfg.dataset} at {args.profile} sizes, {args.precision}, "
              f"{args.steps} steps per process, on {report.data['machine'].get('gpu', device)}", flush=True)
        base = None
        for n in args.procs:
            row = run_n(args, n, batches_file, tmp)
            if "error" not in row:
                if n == 1:
                    base = row["steps_per_s"]
                if base:
                    row["speedup_vs_1"] = row["steps_per_s"] / base
            report.add("packing", row)
            print(f"  {n} process(es): " + (f"{row['steps_per_s']:.2f} steps/s together, "
                  f"{row['per_process_steps_per_s']:.2f} each" + (f", x{row['speedup_vs_1']:.2f} of one"
                  if "speedup_vs_1" in row else "") if "error" not in row else row["error"]), flush=True)
        report.data["finished"] = True
        report.save()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
