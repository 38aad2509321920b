r"""What a reproduction costs: measured wall time of the finished runs, projected for the missing ones.

For each experiment (with its number of seeds) at a profile, every planned run
(:func:`duvae.experiments.get(name).runs`) is either **finished**, and costs the wall time its
trainer measured (training and test, ``wall_seconds`` of its committed result; for a run resumed
after an interruption, the sum of its epochs and its test), or **missing**, and
is projected at the mean cost of the finished runs of the same model on the same data set *at the
same sizes*: its *setting* is every field of its config but the seed and the model's own
parameters (networks, data sizes, schedule, precision), so a `yahoo_long` run of the size study is
projected from `yahoo_long` runs, never from the shorter `cpu` documents, and a Figure 2 cell from
the other cells of its grid:

.. math::
    \hat c_\text{missing}(s, m) = \frac{1}{|F_{s,m}|} \sum_{r \in F_{s,m}} c_r,
    \qquad
    T_\text{machine} = \frac{1}{J} \sum_\text{runs} c,

where :math:`J` is the number of runs that share the machine at once (``--jobs`` of the sweep, each
with ``cores / J`` threads). A run shared by two experiments (a Figure 2 cell that is a Table 1 row)
is counted once. A missing run of a standard-procedure model with no finished run of its own model
in its setting is projected at the mean of the setting's finished standard-procedure runs (their
costs differ by tens of percent, not by factors; the ``basis`` column says so). SA-VAE's and
Agg-VAE's procedures cost several times more, so a missing run of theirs without a measurement of
its own is *unmeasured*: its cost is left empty rather than guessed.

    python -m duvae.sweep.costs --profile cpu figure1:3 table1:3 figure2:1 --jobs 2

**On a GPU** (``--gpu FILE``): the runs of the plan at the profile the file was measured at
(``paper``) are projected from the step and IW-NLL times that ``benchmarks/bench_paper.py``
measured on one GPU, with the data sizes it recorded (the mirror's), per run

.. math::
    T = E \big(n_\text{train}\, t_\text{step} + n_\text{valid}\, t_\text{eval}\big)
        + \frac{K}{K_\text{measured}} \frac{U_\text{test}}{r_\text{IW}} + n_\text{test}\, t_\text{eval},

with :math:`E` the schedule's epochs (an upper bound: the learning-rate rule stops a run after
its fifth decay, often sooner), :math:`n` batches per split (training: as the trainer counts an epoch), :math:`U_\text{test}` the test set's
target tokens (text) or images, :math:`r_\text{IW}` the IW-NLL's measured rate at the profile's
work budget and :math:`K` the run's importance samples. A model that was not measured takes the
times of the measured one with the same networks (:data:`GPU_PROXY`; the ``basis`` column names it).
``--runs-per-gpu J`` with ``--packing FILE`` (``benchmarks/bench_packing.py``) divides by the
measured speed-up of J runs sharing the GPU::

    python -m duvae.sweep.costs --gpu benchmarks/results/gpu_paper_steps.json table1:1 figure2:1
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import asdict

from duvae.runs.results import read_result, result_path, run_seconds


def run_costs(plan: dict[str, int], profile: str, results_dir=None) -> list[dict]:
    """One row per distinct run of ``plan`` (``{experiment: seeds}``): experiment, data set, model,
    run id, and ``seconds`` (measured) or ``None`` (missing), plus the CPU it ran on."""
    from duvae import experiments

    rows, seen = [], set()
    for name, seeds in plan.items():
        for cfg in experiments.get(name).runs(profile, seeds):
            run_id = cfg.run_id()
            if run_id in seen:  # trained once, whichever experiment asked first
                continue
            seen.add(run_id)
            path = result_path(results_dir, profile, name, run_id)
            record = read_result(path, required=("wall_seconds",)) if path.is_file() else None
            rows.append({
                "experiment": name, "dataset": cfg.dataset, "model": cfg.model.name, "run_id": run_id,
                "setting": setting(cfg),
                "standard": cfg.model.procedure == "standard",
                "seconds": run_seconds(record) if record else None,
                "cpu": record["machine"]["cpu"] if record else None,
            })
    return rows


def setting(cfg) -> str:
    """What a run's cost depends on besides its model: its data set and every field of its network and
    training config but the seed (sizes, schedule, precision), as one string."""
    train = {k: v for k, v in asdict(cfg.train).items() if k != "seed"}
    return json.dumps([cfg.dataset, asdict(cfg.net), train], sort_keys=True, default=str)


def cost_table(plan: dict[str, int], profile: str, jobs: int = 2, results_dir=None):
    """Per experiment, data set and model: runs, finished, measured and projected hours of run time.

    Columns: ``runs``, ``finished``, ``min_per_run`` (mean of the finished runs), ``measured_h``
    (sum over the finished), ``projected_h`` (all runs, the missing ones projected as the module
    docstring says; NaN when one is unmeasured), ``basis`` (how the missing ones were projected),
    ``machine_h`` (``projected_h / jobs``). A last row sums them.
    """
    import pandas as pd

    if jobs < 1:
        raise ValueError(f"jobs must be >= 1, got {jobs}")
    rows = run_costs(plan, profile, results_dir)
    if not rows:
        raise ValueError(f"the plan {plan} has no runs at profile {profile!r}")
    frame = pd.DataFrame(rows)
    frame["seconds"] = frame["seconds"].astype(float)
    # means of the finished runs (NaN if none), per model in a setting and per setting
    per_model = frame.groupby(["setting", "model"])["seconds"].mean()
    per_setting = frame[frame["standard"]].groupby("setting")["seconds"].mean()

    def projection(row) -> tuple[float, str]:
        if not math.isnan(row.seconds):
            return row.seconds, "measured"
        own = per_model.get((row.setting, row.model), math.nan)
        if not math.isnan(own):
            return own, "same model"
        if row.standard and not math.isnan(per_setting.get(row.setting, math.nan)):
            return per_setting[row.setting], "data set mean"
        return math.nan, "unmeasured"

    frame["projected"], frame["basis"] = zip(*(projection(r) for r in frame.itertuples()))
    out = frame.groupby(["experiment", "dataset", "model"], sort=False).agg(
        runs=("run_id", "size"),
        finished=("seconds", "count"),
        min_per_run=("seconds", lambda s: s.mean() / 60),
        measured_h=("seconds", lambda s: s.sum() / 3600),
        projected_h=("projected", lambda s: s.sum(min_count=len(s)) / 3600),
        basis=("basis", lambda b: " + ".join(sorted(set(b) - {"measured"})) or "measured"),
    )
    out["machine_h"] = out["projected_h"] / jobs
    total = out[["runs", "finished", "measured_h", "projected_h", "machine_h"]].sum(min_count=1)
    total["projected_h"] = out["projected_h"].sum(min_count=len(out))  # NaN while any part is unmeasured
    total["machine_h"] = total["projected_h"] / jobs
    out.loc[("total", "", ""), total.index] = total.values
    out.loc[("total", "", ""), "basis"] = ""
    return out


def _parse_plan(items: list[str]) -> dict[str, int]:
    plan = {}
    for item in items:
        name, _, seeds = item.partition(":")
        if not seeds.isdigit() or int(seeds) < 1:
            raise SystemExit(f"expected EXPERIMENT:SEEDS (e.g. table1:3), got {item!r}")
        plan[name] = int(seeds)
    return plan


# --- on a GPU: the paper profile projected from measured step times --------------------------------

#: the measured model whose times stand in for a model that was not measured: the same encoder and
#: decoder (the heads differ by a few layers on 32 numbers). SA-VAE only counts with its own
#: measurement (its refinement costs many steps); Agg-VAE's aggressive phase, whose length its exit
#: rule decides while it runs, is not projected, so its hours are a lower bound.
GPU_PROXY = {
    "vae": "vae", "beta_vae": "vae", "fb": "vae", "delta_vae": "vae", "mae": "vae", "ae": "vae", "agg_vae": "vae",
    "bn_vae": "du_vae", "du_vae": "du_vae",
    "iaf_fb": "du_iaf", "iaf_bn": "du_iaf", "du_iaf": "du_iaf",
    "sa_vae": None,
}
GPU_SCHEMA = "duvae-gpu-steps/"


def load_gpu_measurements(path) -> dict:
    """A JSON written by ``benchmarks/bench_paper.py`` (checked: its schema and sections)."""
    from pathlib import Path

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no GPU measurements at {path}: run benchmarks/bench_paper.py --out {path} first")
    measured = json.loads(path.read_text())
    if not str(measured.get("schema", "")).startswith(GPU_SCHEMA):
        raise ValueError(f"{path} is not a step-time file of benchmarks/bench_paper.py (schema {GPU_SCHEMA}...)")
    for key in ("profile", "machine", "data", "steps"):
        if key not in measured:
            raise ValueError(f"{path} has no {key!r} section: was its measurement cut short?")
    return measured


def _measured_row(measured: dict, section: str, dataset: str, model: str, precision: str, **match) -> dict | None:
    for row in measured.get(section, []):
        if (row["dataset"], row["model"], row["precision"]) == (dataset, model, precision) and "error" not in row \
                and all(row.get(k) == v for k, v in match.items()):
            return row
    return None


def _packing_speedup(packing: dict | None, runs_per_gpu: int) -> float:
    if runs_per_gpu == 1:
        return 1.0
    if packing is None:
        raise ValueError(f"--runs-per-gpu {runs_per_gpu} needs the measured packing curve (--packing FILE)")
    for row in packing.get("packing", []):
        if row.get("processes") == runs_per_gpu and "speedup_vs_1" in row:
            return float(row["speedup_vs_1"])
    measured = sorted(r["processes"] for r in packing.get("packing", []) if "speedup_vs_1" in r)
    raise ValueError(f"the packing file has no speed-up for {runs_per_gpu} runs per GPU (measured: {measured})")


def gpu_run_hours(cfg, measured: dict, precision: str | None = None) -> dict:
    """One run's projected GPU time (see the module docstring): train and test seconds and the basis."""
    d, m = cfg.dataset, cfg.model.name
    prec = precision or cfg.train.precision
    data = measured["data"].get(d)
    if data is None:
        raise ValueError(f"the GPU measurements have no data sizes for {d!r}: run benchmarks/bench_paper.py "
                         f"--datasets {d}")
    proxy = m if _measured_row(measured, "steps", d, m, prec) else GPU_PROXY.get(m)
    out = {"epochs": cfg.train.epochs, "train_s": math.nan, "test_s": math.nan, "step_ms": math.nan}
    if proxy is None:
        return {**out, "basis": "unmeasured"}
    step = _measured_row(measured, "steps", d, proxy, prec)
    # SA-VAE's test-time refinement is small beside K = 500 decoder passes: the IW-NLL at its networks' rate
    iw_model = proxy if _measured_row(measured, "iw_nll", d, proxy, prec) else (GPU_PROXY.get(proxy) or "vae")
    iw = _measured_row(measured, "iw_nll", d, iw_model, prec, profile_budget=True)
    for what, row, model in (("training step", step, proxy), ("IW-NLL", iw, iw_model)):
        if row is None:
            raise ValueError(f"no measured {what} of {model!r} on {d} in {prec} (it stands for {m!r}): run "
                             f"benchmarks/bench_paper.py --datasets {d} --models {model} --precisions {prec}")
    steps = min(data["train_batches"], cfg.train.steps_per_epoch or data["train_batches"])  # as the trainer counts them
    epoch_s = steps * step["step_s"] + data["valid_batches"] * step["eval_batch_s"]
    rate = iw["targets_per_s"] if "test_targets" in data else iw["examples_per_s"]
    units = data["test_targets"] if "test_targets" in data else data["n_test"]
    iw_s = units / rate * cfg.train.eval_iw_samples / iw["samples"]
    basis = "measured" if proxy == m else f"{proxy}'s times"
    if iw_model != proxy:
        basis += f"; IW-NLL at {iw_model}'s rate"
    if m == "agg_vae":
        basis += "; lower bound (aggressive phase not projected)"
    return {**out, "train_s": cfg.train.epochs * epoch_s, "test_s": iw_s + data["test_batches"] * step["eval_batch_s"],
            "step_ms": step["step_s"] * 1e3, "basis": basis}


def gpu_projection(measured: dict, plan: dict[str, int], precision: str | None = None, runs_per_gpu: int = 1,
                   packing: dict | None = None):
    """GPU hours of every run of ``plan`` at the measured profile, per experiment, data set and model.

    Columns: ``runs``, ``epochs``, ``step_ms`` (the step time used), ``train_h``, ``test_h``,
    ``gpu_h`` (their sum, one run alone on the GPU; NaN where unmeasured), ``machine_h``
    (``gpu_h`` divided by the measured speed-up of ``runs_per_gpu`` runs sharing it), ``basis``.
    A run shared by two experiments counts once; a last row sums them.
    """
    import pandas as pd

    from duvae import experiments

    if runs_per_gpu < 1:
        raise ValueError(f"runs_per_gpu must be >= 1, got {runs_per_gpu}")
    speedup = _packing_speedup(packing, runs_per_gpu)
    profile = measured["profile"]
    rows, seen = [], set()
    for name, seeds in plan.items():
        for cfg in experiments.get(name).runs(profile, seeds):
            if cfg.run_id() in seen:
                continue
            seen.add(cfg.run_id())
            rows.append({"experiment": name, "dataset": cfg.dataset, "model": cfg.model.name,
                         **gpu_run_hours(cfg, measured, precision)})
    if not rows:
        raise ValueError(f"the plan {plan} has no runs at profile {profile!r}")
    frame = pd.DataFrame(rows)
    out = frame.groupby(["experiment", "dataset", "model"], sort=False).agg(
        runs=("model", "size"), epochs=("epochs", "max"), step_ms=("step_ms", "mean"),
        train_h=("train_s", lambda s: s.sum(min_count=len(s)) / 3600),
        test_h=("test_s", lambda s: s.sum(min_count=len(s)) / 3600),
        basis=("basis", lambda b: " + ".join(sorted(set(b)))),
    )
    out["gpu_h"] = out["train_h"] + out["test_h"]
    out["machine_h"] = out["gpu_h"] / speedup
    total = out[["runs", "train_h", "test_h", "gpu_h", "machine_h"]].sum(min_count=len(out))
    total["runs"] = out["runs"].sum()
    out.loc[("total", "", ""), total.index] = total.values
    out.loc[("total", "", ""), "basis"] = ""
    return out[["runs", "epochs", "step_ms", "train_h", "test_h", "gpu_h", "machine_h", "basis"]]


def _gpu_main(args) -> int:
    measured = load_gpu_measurements(args.gpu)
    packing = json.loads(open(args.packing).read()) if args.packing else None
    table = gpu_projection(measured, _parse_plan(args.plan), args.precision, args.runs_per_gpu, packing)
    m = measured["machine"]
    print(table.reset_index().round(3).to_markdown(index=False))
    sizes = "; ".join(f"{d}: {v['train_batches']} training batches of {v['batch_size']}, {v['valid_batches']} valid "
                      f"batches, {v['n_test']} test examples, {v['epochs']} epochs at most"
                      for d, v in measured["data"].items())
    print(f"\nmeasured on {m.get('gpu', m['device'])} ({m['created']}; torch {m['torch']}, CUDA {m['cuda']}); "
          f"profile {measured['profile']}, precision {args.precision or 'as each run is configured'}; "
          f"fp32 = {m.get('fp32_means', '?')}\ndata: {sizes}\n"
          f"{args.runs_per_gpu} run(s) per GPU for machine_h")
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m duvae.sweep.costs", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("plan", nargs="+", help="EXPERIMENT:SEEDS, e.g. figure1:3 table1:3 figure2:1")
    p.add_argument("--profile", default="cpu")
    p.add_argument("--jobs", type=int, default=2, help="runs sharing the machine at once (default 2)")
    p.add_argument("--results-dir", default=None)
    p.add_argument("--gpu", default=None, metavar="FILE",
                   help="project from the step times of benchmarks/bench_paper.py instead (its profile)")
    p.add_argument("--precision", default=None, choices=("fp32", "bf16"),
                   help="--gpu: project every run in this precision (default: each run's own)")
    p.add_argument("--runs-per-gpu", type=int, default=1, help="--gpu: runs sharing one GPU (needs --packing)")
    p.add_argument("--packing", default=None, metavar="FILE", help="--gpu: benchmarks/bench_packing.py's JSON")
    args = p.parse_args(argv)
    if args.gpu:
        return _gpu_main(args)
    table = cost_table(_parse_plan(args.plan), args.profile, args.jobs, args.results_dir)
    print(table.reset_index().round(2).to_markdown(index=False))
    rows = run_costs(_parse_plan(args.plan), args.profile, args.results_dir)
    cpus = sorted({r["cpu"] for r in rows if r["cpu"]})
    print(f"\nmeasured on: {', '.join(cpus) or '-'}; {args.jobs} runs at a time for machine_h")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
