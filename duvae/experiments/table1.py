r"""Table 1 (paper section 4.2): likelihood estimation of 14 models on Yahoo, Yelp and Omniglot.

Columns per data set: the importance-weighted NLL (K = 500), the KL, the mutual information and the
active units (docs/implementation.md §4.1, §4.2, §4.3, §4.4); the IAF rows report NLL and KL only
(their MI and AU are intractable, as in Kingma et al. 2016). Rows and their per-data-set hyper-parameters are the
paper's, written ``(yahoo / yelp / omniglot)`` in :data:`ROWS`; the model configurations come from
:mod:`duvae.runs.zoo`.

**Yelp** is run only where He et al.'s files are available (``$DUVAE_HE2019_DIR/yelp`` at the
``paper`` profile, :func:`duvae.runs.run_data.he2019_dir`); otherwise its column reads "not available"
with that reason. **Yahoo** at the ``cpu`` and ``smoke`` profiles uses the pinned public files
(train = 9,000 of the official validation documents): not comparable with the paper's numbers in
absolute terms, only in the ordering of the models.
"""

from __future__ import annotations

from duvae.runs.config import REFERENCE_SEED, RunConfig
from duvae.experiments import check_seeds
from duvae.runs.profiles import check_profile
from duvae.experiments.verdicts import MISSING, ONE_SEED, mean_sd, verdict
from duvae.runs.zoo import run_config

NAME = "table1"
DATASETS = ("yahoo", "yelp", "omniglot")
METRICS = ("nll", "kl", "mi", "au")

#: (row label, zoo model, {hyper-parameter: (yahoo, yelp, omniglot)}); empty = the zoo's values
ROWS: tuple[tuple[str, str, dict], ...] = (
    ("VAE", "vae", {}),
    ("beta-VAE (0.4/0.4/0.8)", "beta_vae", {}),
    ("SA-VAE", "sa_vae", {}),
    ("Agg-VAE", "agg_vae", {}),
    ("FB (0.1)", "fb", {}),
    ("delta-VAE (0.1)", "delta_vae", {}),
    ("BN-VAE (0.6/0.6/0.5)", "bn_vae", {}),
    ("MAE (1/2/0.5, 0.2/0.2/0.2)", "mae", {}),
    ("DU-VAE (0.5, 0.9)", "du_vae", {"gamma": (0.5, 0.5, 0.5), "p_keep": (0.9, 0.9, 0.9)}),
    ("DU-VAE (0.5, 0.8)", "du_vae", {"gamma": (0.5, 0.5, 0.5), "p_keep": (0.8, 0.8, 0.8)}),
    ("DU-VAE (0.6, 0.8)", "du_vae", {"gamma": (0.6, 0.6, 0.6), "p_keep": (0.8, 0.8, 0.8)}),
    ("IAF+FB (0.15/0.25/0.15)", "iaf_fb", {}),
    ("IAF+BN (0.6/0.7/0.5)", "iaf_bn", {}),
    ("DU-IAF (0.7/0.6/0.5, 0.70/0.70/0.85)", "du_iaf", {}),
)
IAF_ROWS = {"IAF+FB (0.15/0.25/0.15)", "IAF+BN (0.6/0.7/0.5)", "DU-IAF (0.7/0.6/0.5, 0.70/0.70/0.85)"}

#: the paper's Table 1: row -> dataset -> (NLL, KL, MI, AU); None where the paper reports "-"
PAPER: dict[str, dict[str, tuple]] = {
    "VAE": {"yahoo": (328.5, 0.0, 0.0, 5.0), "yelp": (357.5, 0.0, 0.0, 0.0), "omniglot": (89.21, 2.20, 2.16, 5.0)},
    "beta-VAE (0.4/0.4/0.8)": {"yahoo": (328.7, 6.4, 6.0, 13.0), "yelp": (357.4, 5.8, 5.6, 4.0),
                               "omniglot": (89.15, 9.98, 3.84, 13.0)},
    "SA-VAE": {"yahoo": (327.2, 5.2, 2.7, 8.6), "yelp": (355.9, 2.8, 1.7, 8.4), "omniglot": (89.07, 3.32, 2.63, 8.6)},
    "Agg-VAE": {"yahoo": (326.7, 5.7, 2.9, 6.0), "yelp": (355.9, 3.8, 2.4, 11.3), "omniglot": (89.04, 2.48, 2.50, 6.0)},
    "FB (0.1)": {"yahoo": (328.1, 3.4, 2.5, 32.0), "yelp": (357.1, 4.8, 2.5, 32.0), "omniglot": (89.17, 7.98, 6.87, 32.0)},
    "delta-VAE (0.1)": {"yahoo": (329.0, 3.2, 0.0, 2.0), "yelp": (357.6, 3.2, 0.0, 0.0),
                        "omniglot": (89.62, 3.20, 2.36, 2.0)},
    "BN-VAE (0.6/0.6/0.5)": {"yahoo": (326.9, 8.3, 7.0, 32.0), "yelp": (355.7, 6.0, 5.2, 32.0),
                             "omniglot": (89.26, 4.34, 4.03, 32.0)},
    "MAE (1/2/0.5, 0.2/0.2/0.2)": {"yahoo": (332.1, 5.8, 3.5, 28.0), "yelp": (362.8, 8.0, 4.6, 32.0),
                                   "omniglot": (89.62, 15.61, 8.90, 32.0)},
    "DU-VAE (0.5, 0.9)": {"yahoo": (327.0, 5.2, 4.3, 18.0), "yelp": (355.6, 5.3, 4.9, 18.0),
                          "omniglot": (89.00, 6.63, 5.97, 19.0)},
    "DU-VAE (0.5, 0.8)": {"yahoo": (327.0, 6.7, 6.0, 19.0), "yelp": (355.5, 6.8, 5.9, 18.0),
                          "omniglot": (89.04, 7.46, 6.31, 32.0)},
    "DU-VAE (0.6, 0.8)": {"yahoo": (326.7, 8.7, 7.2, 28.0), "yelp": (355.8, 9.6, 7.7, 23.0),
                          "omniglot": (89.18, 10.99, 8.22, 32.0)},
    "IAF+FB (0.15/0.25/0.15)": {"yahoo": (328.4, 5.2, None, None), "yelp": (357.1, 7.7, None, None),
                                "omniglot": (88.98, 6.77, None, None)},
    "IAF+BN (0.6/0.7/0.5)": {"yahoo": (328.1, 0.2, None, None), "yelp": (356.6, 0.6, None, None),
                             "omniglot": (89.32, 1.30, None, None)},
    "DU-IAF (0.7/0.6/0.5, 0.70/0.70/0.85)": {"yahoo": (327.4, 5.4, None, None), "yelp": (356.1, 5.1, None, None),
                                             "omniglot": (88.97, 6.77, None, None)},
}
#: rows the paper quotes from He et al. (2019) instead of running them
QUOTED = {"beta-VAE (0.4/0.4/0.8)", "SA-VAE"}

_COLUMN = {"yahoo": 0, "yelp": 1, "omniglot": 2}


def available(dataset: str, profile: str) -> tuple[bool, str]:
    """Can ``dataset`` be run under ``profile``? ``(ok, reason if not)``."""
    if dataset != "yelp":
        return True, ""
    from duvae.runs.run_data import HE2019_ENV, he2019_dir

    if he2019_dir("yelp", profile) is None:
        return False, (f"not available: the long Yelp corpus is not public in a pinnable form; "
                       f"set {HE2019_ENV} to a folder with He et al.'s yelp/ files (paper profile)")
    return True, ""


def row_config(label: str, dataset: str, profile: str, seed: int) -> RunConfig:
    """The run of Table 1's row ``label`` on ``dataset``."""
    rows = {r[0]: r for r in ROWS}
    if label not in rows:
        raise ValueError(f"unknown Table 1 row {label!r}")
    _, name, per_dataset = rows[label]
    overrides = {k: v[_COLUMN[dataset]] for k, v in per_dataset.items()}
    return run_config(name, dataset, profile, seed=seed, **overrides)


def runs(profile: str, seeds: int) -> list[RunConfig]:
    """Every row x available data set x seed (``REFERENCE_SEED + s``)."""
    check_profile(profile)
    check_seeds(seeds)
    out = []
    for dataset in DATASETS:
        if not available(dataset, profile)[0]:
            continue
        for label, _, _ in ROWS:
            for s in range(seeds):
                out.append(row_config(label, dataset, profile, REFERENCE_SEED + s))
    return out


def row_of(record: dict) -> str | None:
    """The Table 1 row a result belongs to (matched on model name and its hyper-parameters)."""
    cfg = record["config"]["model"]
    dataset = record["dataset"]
    for label, name, per_dataset in ROWS:
        if cfg["name"] != name:
            continue
        if all(abs(cfg[k] - v[_COLUMN[dataset]]) < 1e-9 for k, v in per_dataset.items()):
            if not per_dataset:
                # a zoo-default row must not swallow the DU-VAE rows with explicit settings
                return label if name != "du_vae" else None
            return label
    return None


def extra_from_config(cfg: RunConfig) -> dict:
    """The row label (several rows share one zoo model)."""
    return {"row": row_of({"config": cfg.to_dict(), "dataset": cfg.dataset})}


def cpu_counts(records: list[dict]) -> str:
    """Where the seeds of a cell ran, e.g. ``"Intel Xeon x2, AMD EPYC x1"`` (re-runs differ across kinds of CPU)."""
    from collections import Counter

    def short(name: str) -> str:
        return " ".join(name.replace("(R)", "").replace("(TM)", "").split()[:2])

    counts = Counter(short(r.get("machine", {}).get("cpu", "unknown")) for r in records)
    return ", ".join(f"{name} x{n}" for name, n in counts.most_common())


def table(results: list[dict], profile: str = "cpu"):
    """Our Table 1 (mean ± std over seeds) with the paper's value beside each cell.

    One row per Table 1 row; per data set the columns ``<dataset> NLL`` ... ``AU`` (ours) and
    ``<dataset> NLL (paper)`` ..., the number of seeds and the CPUs they ran on; a data set that cannot
    run reads "not available" with the reason.
    """
    import pandas as pd

    rows = []
    for label, _, _ in ROWS:
        row = {"model": label}
        for dataset in DATASETS:
            ok, reason = available(dataset, profile)
            mine = [r for r in results if r["dataset"] == dataset and (r.get("extra", {}).get("row") or row_of(r)) == label]
            for i, metric in enumerate(METRICS):
                col = f"{dataset} {metric.upper()}"
                if label in IAF_ROWS and metric in ("mi", "au"):
                    row[col] = row[f"{col} (paper)"] = "-"
                    continue
                digits = 2 if dataset == "omniglot" else 1
                row[col] = mean_sd([float(r["metrics"][metric]) for r in mine], digits) if ok else reason
                paper = PAPER[label][dataset][i]
                row[f"{col} (paper)"] = "-" if paper is None else paper
            row[f"{dataset} seeds"] = len(mine)
            row[f"{dataset} CPUs"] = cpu_counts(mine)
        rows.append(row)
    return pd.DataFrame(rows).set_index("model")


def dataset_table(results: list[dict], dataset: str, profile: str = "cpu"):
    """The columns of :func:`table` for one data set: ours beside the paper's, and the seeds."""
    t = table(results, profile)
    return t[[c for c in t.columns if c.startswith(f"{dataset} ")]].rename(columns=lambda c: c[len(dataset) + 1:])


# ----------------------------------------------------------------------------------------------
# the paper's claims about Table 1 (section 4.2), checked on our results
# ----------------------------------------------------------------------------------------------
CLASSIC_ROWS = tuple(label for label, _, _ in ROWS if label not in IAF_ROWS)
DU_ROWS = ("DU-VAE (0.5, 0.9)", "DU-VAE (0.5, 0.8)", "DU-VAE (0.6, 0.8)")
BN_ROW, VAE_ROW, MAE_ROW = "BN-VAE (0.6/0.6/0.5)", "VAE", "MAE (1/2/0.5, 0.2/0.2/0.2)"
IAF_BN_ROW, DU_IAF_ROW = "IAF+BN (0.6/0.7/0.5)", "DU-IAF (0.7/0.6/0.5, 0.70/0.70/0.85)"
#: per data set, the DU-VAE row with BN-VAE's gamma (Yahoo / Yelp 0.6 and 0.5 ... as in Table 1)
SAME_GAMMA_DU = {"yahoo": ("DU-VAE (0.6, 0.8)",), "yelp": ("DU-VAE (0.6, 0.8)",),
                 "omniglot": ("DU-VAE (0.5, 0.9)", "DU-VAE (0.5, 0.8)")}


def row_values(results: list[dict], dataset: str, label: str, metric: str) -> list[float]:
    """``metric`` of every seed of row ``label`` on ``dataset``."""
    return [float(r["metrics"][metric]) for r in results
            if r["dataset"] == dataset and (r.get("extra", {}).get("row") or row_of(r)) == label]


def claims(results: list[dict], dataset: str):
    """The paper's statements about Table 1 on ``dataset``, each checked on the mean over seeds.

    Columns: the claim, the paper's numbers, ours (means), the difference in the paper's direction
    (positive = as the paper says), the larger of the two sides' seed-to-seed standard deviations,
    the seeds behind each side, and the verdict (:func:`duvae.experiments.verdicts.verdict`: "holds" only if the difference
    exceeds that spread; a side with one seed has no spread, so its verdict is :data:`ONE_SEED`).
    Rows without results read :data:`duvae.experiments.verdicts.MISSING`.
    """
    import statistics

    import pandas as pd

    def stat(label, metric):
        v = row_values(results, dataset, label, metric)
        return (statistics.mean(v) if v else None, statistics.stdev(v) if len(v) > 1 else 0.0, len(v))

    def paper(label, metric):
        return PAPER[label][dataset][METRICS.index(metric)]

    out = []

    def add(claim, better, worse, metric, lower_is_better):
        (b, sb, nb), (w, sw, nw) = stat(better, metric), stat(worse, metric)
        pb, pw = paper(better, metric), paper(worse, metric)
        row = {"claim": claim, "paper": f"{pb} vs {pw}"}
        if nb == 0 or nw == 0:
            out.append({**row, "ours": "no results", "difference": None, "seed spread": None,
                        "seeds": f"{nb} vs {nw}", "verdict": MISSING})
            return
        diff = (w - b) if lower_is_better else (b - w)
        out.append({**row, "ours": f"{b:.2f} vs {w:.2f}", "difference": diff,
                    "seed spread": max(sb, sw) if min(nb, nw) > 1 else None, "seeds": f"{nb} vs {nw}",
                    "verdict": verdict(diff, max(sb, sw), min(nb, nw))})

    classic = {label: stat(label, "nll")[0] for label in CLASSIC_ROWS}
    best_du = min((r for r in DU_ROWS if classic[r] is not None), key=classic.get, default=DU_ROWS[0])
    for label in CLASSIC_ROWS:
        if label not in DU_ROWS:
            add(f"best DU-VAE has a lower NLL than {label}", best_du, label, "nll", True)
    add("DU-IAF has a lower NLL than IAF+FB", DU_IAF_ROW, "IAF+FB (0.15/0.25/0.15)", "nll", True)
    add("DU-IAF has a lower NLL than IAF+BN", DU_IAF_ROW, IAF_BN_ROW, "nll", True)
    for label in CLASSIC_ROWS:
        if label != MAE_ROW:
            add(f"MAE has a higher NLL than {label}", label, MAE_ROW, "nll", True)
    if dataset == "omniglot":
        add("BN-VAE has a higher NLL than VAE on images", VAE_ROW, BN_ROW, "nll", True)
    for du in SAME_GAMMA_DU[dataset]:
        for metric in ("kl", "mi"):
            add(f"{du} has a higher {metric.upper()} than BN-VAE (same gamma)", du, BN_ROW, metric, False)
    add("DU-IAF has a higher KL than IAF+BN (IAF+BN collapses)", DU_IAF_ROW, IAF_BN_ROW, "kl", False)
    return pd.DataFrame(out).set_index("claim")


def plot_curves(results: list[dict], dataset: str, metrics=("kl", "mi"), rows=None):
    """Per-epoch validation ``metrics`` of each row (mean over seeds, band = min..max), one panel each."""
    import matplotlib.pyplot as plt
    import numpy as np

    rows = rows or [label for label, _, _ in ROWS]
    fig, axes = plt.subplots(1, len(metrics), figsize=(6 * len(metrics), 4), squeeze=False)
    colours = plt.get_cmap("tab20")
    for i, label in enumerate(rows):
        rs = [r for r in results if r["dataset"] == dataset and (r.get("extra", {}).get("row") or row_of(r)) == label]
        for ax, metric in zip(axes[0], metrics):
            if label in IAF_ROWS and metric in ("mi", "au"):
                continue
            curves = [np.array([np.nan if h.get(metric) is None else float(h[metric]) for h in r["history"]])
                      for r in rs]
            if not curves:
                continue
            n = min(len(c) for c in curves)
            stack = np.stack([c[:n] for c in curves])
            epochs = np.arange(1, n + 1)
            ax.plot(epochs, np.nanmean(stack, axis=0), color=colours(i), label=f"{label} ({len(rs)})",
                    lw=2.5 if label.startswith("DU-") else 1.2)
            if len(curves) > 1:
                ax.fill_between(epochs, np.nanmin(stack, axis=0), np.nanmax(stack, axis=0), color=colours(i),
                                alpha=0.12)
    for ax, metric in zip(axes[0], metrics):
        ax.set_xlabel("epoch")
        ax.set_ylabel(f"validation {metric.upper()}")
        ax.set_title(f"{dataset}: {metric.upper()} per epoch (mean over seeds, band = min-max)")
    axes[0][-1].legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5), title="row (seeds)")
    fig.tight_layout()
    return fig
