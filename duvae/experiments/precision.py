r"""Does bf16 training move the Yahoo results? Three Table 1 rows trained in fp32 beside bf16.

The ``cpu`` profile trains Yahoo with bf16 matrix products (:mod:`duvae.bf16`): a product
:math:`W x` is computed from inputs rounded to 8 bits of mantissa and accumulated in fp32. The speed
work checked the *evaluation* (the IW-NLL of the same weights in bf16 and fp32 agree within 0.001
nats); this experiment checks *training*: the same configs, seeds and data with
``precision="fp32"``, so that the only difference between two runs of a pair is the rounding of the
products during every step, and hence the trajectory of SGD.

The rows are the ones that decide claim C1 on Yahoo: the VAE and DU-VAE at
:math:`(\gamma, p) = (0.5, 0.8)` and :math:`(0.6, 0.8)`. The bf16 runs are Table 1's committed
results (the sweep copies them here, :func:`duvae.sweep.engine.copy_shared`); the fp32 runs are new run
ids (the precision is part of the config).

A row *moved* when :math:`|\bar m_{fp32} - \bar m_{bf16}|` exceeds the larger of the two seed
standard deviations (the rule of notebook 06).
"""

from __future__ import annotations

from dataclasses import replace

from duvae.runs.config import REFERENCE_SEED, RunConfig
from duvae.experiments import check_seeds
from duvae.experiments.table1 import row_config, row_of
from duvae.runs.profiles import check_profile
from duvae.runs.results import run_seconds

NAME = "precision"
DATASET = "yahoo"
ROWS = ("VAE", "DU-VAE (0.5, 0.8)", "DU-VAE (0.6, 0.8)")
PRECISIONS = ("bf16", "fp32")
METRICS = ("nll", "kl", "mi", "au")
#: an independent fp32 implementation on the same ``cpu`` split (the Yahoo NLL-gap study): VAE NLL, 3 seeds, K = 100
INDEPENDENT_FP32 = {"VAE": (189.34, 0.10), "DU-VAE (0.6, 0.8)": (191.01, 0.41)}


def runs(profile: str, seeds: int) -> list[RunConfig]:
    """Each row x precision x seed (``REFERENCE_SEED + s``) on Yahoo."""
    check_profile(profile)
    check_seeds(seeds)
    out = []
    for label in ROWS:
        for precision in PRECISIONS:
            for s in range(seeds):
                cfg = row_config(label, DATASET, profile, REFERENCE_SEED + s)
                out.append(cfg.with_(train=replace(cfg.train, precision=precision)))
    return out


def extra_from_config(cfg: RunConfig) -> dict:
    """The Table 1 row and the training precision (both follow from the config)."""
    return {"row": row_of({"config": cfg.to_dict(), "dataset": cfg.dataset}), "precision": cfg.train.precision}


def _values(results: list[dict], label: str, precision: str, metric: str) -> list[float]:
    return [float(r["metrics"][metric]) for r in results
            if r["dataset"] == DATASET and r.get("extra", {}).get("row", row_of(r)) == label
            and r["config"]["train"]["precision"] == precision and r["metrics"].get(metric) is not None]


def mean_sd(values: list[float]) -> tuple[float | None, float | None]:
    """``(mean, sd)`` of ``values``; ``None`` where there are too few (no value / one value)."""
    import statistics

    if not values:
        return None, None
    return statistics.mean(values), (statistics.stdev(values) if len(values) > 1 else None)


def fmt_mean_sd(m: float | None, s: float | None) -> str:
    """``"m ± s"`` with 2 decimals, ``"m"`` for one seed, ``"no results"`` for none."""
    if m is None:
        return "no results"
    return f"{m:.2f}" if s is None else f"{m:.2f} ± {s:.2f}"


def table(results: list[dict]):
    """One row per (Table 1 row, metric): bf16 and fp32 as mean ± sd, their difference, the larger sd,
    whether fp32 moved the row beyond that spread, the seeds and the CPUs each side ran on."""
    import pandas as pd

    from duvae.experiments.table1 import cpu_counts

    rows = []
    for label in ROWS:
        side = {p: [r for r in results if r.get("extra", {}).get("row", row_of(r)) == label
                    and r["config"]["train"]["precision"] == p] for p in PRECISIONS}
        for metric in METRICS:
            (mb, sb), (mf, sf) = (mean_sd(_values(results, label, p, metric)) for p in PRECISIONS)
            diff = None if mb is None or mf is None else mf - mb
            spread = None if sb is None or sf is None else max(sb, sf)
            if diff is None:
                verdict = "no results"
            elif spread is None:
                verdict = "one seed: no spread to judge by"
            else:
                verdict = "moved beyond the spread" if abs(diff) > spread else "within the spread"
            rows.append({"row": label, "metric": metric.upper(), "bf16": fmt_mean_sd(mb, sb), "fp32": fmt_mean_sd(mf, sf),
                         "fp32 - bf16": diff, "seed spread": spread, "verdict": verdict,
                         "seeds (bf16 / fp32)": f"{len(side['bf16'])} / {len(side['fp32'])}",
                         "CPUs bf16": cpu_counts(side["bf16"]), "CPUs fp32": cpu_counts(side["fp32"])})
    return pd.DataFrame(rows).set_index(["row", "metric"])


def moved(results: list[dict]) -> list[str]:
    """The rows whose mean of any metric fp32 moved beyond the seed spread."""
    t = table(results)
    return sorted({row for (row, _), v in t["verdict"].items() if v == "moved beyond the spread"})


def cost(results: list[dict]):
    """Mean wall seconds per run by row and precision (each run timed itself), with its CPU."""
    import pandas as pd

    from duvae.experiments.table1 import cpu_counts

    rows = []
    for label in ROWS:
        for p in PRECISIONS:
            rs = [r for r in results if r.get("extra", {}).get("row", row_of(r)) == label
                  and r["config"]["train"]["precision"] == p]
            if rs:
                rows.append({"row": label, "precision": p, "runs": len(rs),
                             "mean wall min": sum(run_seconds(r) for r in rs) / len(rs) / 60,
                             "CPUs": cpu_counts(rs)})
    return pd.DataFrame(rows)


def paired(results: list[dict], metric: str = "nll"):
    r"""Per row and seed, :math:`m_{fp32} - m_{bf16}` of the same config and seed (the only difference
    between the two runs of a pair is the precision), and per row their mean and sd over seeds."""
    import pandas as pd

    def value(label, precision_, seed):
        for r in results:
            if (r.get("extra", {}).get("row", row_of(r)) == label and r["seed"] == seed
                    and r["config"]["train"]["precision"] == precision_ and r["metrics"].get(metric) is not None):
                return float(r["metrics"][metric]), r.get("machine", {}).get("cpu", "unknown")
        return None, None

    rows = []
    for label in ROWS:
        for seed in sorted({r["seed"] for r in results}):
            (b, cb), (f, cf) = value(label, "bf16", seed), value(label, "fp32", seed)
            if b is not None and f is not None:
                rows.append({"row": label, "seed": seed, f"{metric} bf16": b, f"{metric} fp32": f,
                             "fp32 - bf16": f - b, "same CPU kind": cb.split()[0] == cf.split()[0]})
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame, frame
    summary = frame.groupby("row", sort=False)["fp32 - bf16"].agg(["mean", "std", "count"])
    return frame, summary
