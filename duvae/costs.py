r"""What a reproduction costs: measured wall time of the finished runs, projected for the missing ones.

For each experiment (with its number of seeds) at a profile, every planned run
(:func:`duvae.experiments.get(name).runs`) is either **finished**, and costs the wall time its
trainer measured (training and test, ``wall_seconds`` of its committed result; for a run resumed
after an interruption, the sum of its epochs and its test), or **missing**, and
is projected at the mean cost of the finished runs of the same model on the same data set:

.. math::
    \hat c_\text{missing}(d, m) = \frac{1}{|F_{d,m}|} \sum_{r \in F_{d,m}} c_r,
    \qquad
    T_\text{machine} = \frac{1}{J} \sum_\text{runs} c,

where :math:`J` is the number of runs that share the machine at once (``--jobs`` of the sweep, each
with ``cores / J`` threads). A run shared by two experiments (a Figure 2 cell that is a Table 1 row)
is counted once. A missing run of a standard-procedure model with no finished run of its own model
on its data set is projected at the mean of the data set's finished standard-procedure runs (their
costs differ by tens of percent, not by factors; the ``basis`` column says so). SA-VAE's and
Agg-VAE's procedures cost several times more, so a missing run of theirs without a measurement of
its own is *unmeasured*: its cost is left empty rather than guessed.

    python -m duvae.costs --profile cpu figure1:3 table1:3 figure2:1 --jobs 2
"""

from __future__ import annotations

import argparse
import json
import math
from duvae.results import result_path


def _seconds(record: dict) -> float:
    """A run's cost: its trainer's wall time, or, for a run resumed after an interruption (whose wall
    time counts only the resumed part), the sum of all its epochs plus its test, if larger."""
    epochs_and_test = float(record.get("train_seconds", 0.0)) + float(record.get("metrics", {}).get("test_seconds", 0.0))
    return max(float(record["wall_seconds"]), epochs_and_test)


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
            record = json.loads(path.read_text()) if path.is_file() else None
            rows.append({
                "experiment": name, "dataset": cfg.dataset, "model": cfg.model.name, "run_id": run_id,
                "standard": cfg.model.procedure == "standard",
                "seconds": _seconds(record) if record else None,
                "cpu": record["machine"]["cpu"] if record else None,
            })
    return rows


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
    per_model = frame.groupby(["dataset", "model"])["seconds"].mean()  # mean of the finished (NaN if none)
    per_dataset = frame[frame["standard"]].groupby("dataset")["seconds"].mean()

    def projection(row) -> tuple[float, str]:
        if not math.isnan(row.seconds):
            return row.seconds, "measured"
        own = per_model.get((row.dataset, row.model), math.nan)
        if not math.isnan(own):
            return own, "same model"
        if row.standard and not math.isnan(per_dataset.get(row.dataset, math.nan)):
            return per_dataset[row.dataset], "data set mean"
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


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m duvae.costs", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("plan", nargs="+", help="EXPERIMENT:SEEDS, e.g. figure1:3 table1:3 figure2:1")
    p.add_argument("--profile", default="cpu")
    p.add_argument("--jobs", type=int, default=2, help="runs sharing the machine at once (default 2)")
    p.add_argument("--results-dir", default=None)
    args = p.parse_args(argv)
    table = cost_table(_parse_plan(args.plan), args.profile, args.jobs, args.results_dir)
    print(table.reset_index().round(2).to_markdown(index=False))
    rows = run_costs(_parse_plan(args.plan), args.profile, args.results_dir)
    cpus = sorted({r["cpu"] for r in rows if r["cpu"]})
    print(f"\nmeasured on: {', '.join(cpus) or '-'}; {args.jobs} runs at a time for machine_h")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
