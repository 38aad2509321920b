r"""Figure 2 (paper section 4.4): DU-VAE's NLL over the grid of its two hyper-parameters.

DU-VAE on each data set for :math:`\gamma \in \{0.4, 0.5, 0.6, 0.7\}` (the BN scale of the means,
Algorithm 1) and keep probability :math:`p \in \{1.0, 0.9, 0.8, 0.7, 0.6\}` (the dropout on the
variances, eq. 6; :math:`p = 1` is no dropout), 20 cells per data set. A cell that is also a row of
Table 1 (e.g. :math:`(0.5, 0.8)`) is the same run: same config, same run id, trained once; the
sweep copies Table 1's committed result here (:func:`duvae.sweep.engine.copy_shared`), or loads the
finished run with :func:`duvae.runs.trainer.train_or_load` when only its checkpoints exist.
The paper states the optimum per data set (:data:`PAPER_OPTIMA`).
"""

from __future__ import annotations

from duvae.runs.config import REFERENCE_SEED, RunConfig
from duvae.experiments import check_seeds
from duvae.experiments.table1 import available
from duvae.runs.profiles import check_profile
from duvae.runs.zoo import run_config

NAME = "figure2"
DATASETS = ("yahoo", "yelp", "omniglot")
GAMMAS = (0.4, 0.5, 0.6, 0.7)
P_KEEPS = (1.0, 0.9, 0.8, 0.7, 0.6)
#: the paper's best (gamma, p) per data set (section 4.4 and the official README)
PAPER_OPTIMA = {"yahoo": (0.6, 0.8), "yelp": (0.5, 0.8), "omniglot": (0.5, 0.9)}


def runs(profile: str, seeds: int) -> list[RunConfig]:
    """Every (gamma, p) cell of every available data set, ``seeds`` seeds each."""
    check_profile(profile)
    check_seeds(seeds)
    out = []
    for dataset in DATASETS:
        if not available(dataset, profile)[0]:
            continue
        for gamma in GAMMAS:
            for p in P_KEEPS:
                for s in range(seeds):
                    out.append(run_config("du_vae", dataset, profile, seed=REFERENCE_SEED + s, gamma=gamma, p_keep=p))
    return out


def extra_from_config(cfg: RunConfig) -> dict:
    """The cell's coordinates (they follow from the config: a cell shared with Table 1 is copied)."""
    return {"gamma": cfg.model.gamma, "p_keep": cfg.model.p_keep}


def grid(results: list[dict], dataset: str, metric: str = "nll"):
    """``[gamma x p]`` DataFrame of the mean of ``metric`` over seeds (NaN where no run finished)."""
    import pandas as pd

    cells = {}
    for r in results:
        if r["dataset"] != dataset:
            continue
        m = r["config"]["model"]
        cells.setdefault((m["gamma"], m["p_keep"]), []).append(float(r["metrics"][metric]))
    frame = pd.DataFrame(index=pd.Index(GAMMAS, name="gamma"), columns=pd.Index(P_KEEPS, name="p"), dtype=float)
    for (g, p), values in cells.items():
        if g in GAMMAS and p in P_KEEPS:
            frame.loc[g, p] = sum(values) / len(values)
    return frame


def optimum(results: list[dict], dataset: str) -> tuple[float, float] | None:
    """Our best (gamma, p) by mean NLL, or None without results."""
    g = grid(results, dataset)
    if g.isna().all().all():
        return None
    gamma, p = g.stack().idxmin()
    return float(gamma), float(p)


def table(results: list[dict]):
    """Per data set: the paper's optimum, ours, and their NLLs."""
    import pandas as pd

    rows = []
    for dataset in DATASETS:
        best = optimum(results, dataset)
        g = grid(results, dataset)
        paper = PAPER_OPTIMA[dataset]
        rows.append({"dataset": dataset, "paper optimum (gamma, p)": paper, "our optimum": best,
                     "our NLL at ours": None if best is None else float(g.loc[best[0], best[1]]),
                     "our NLL at the paper's": float(g.loc[paper[0], paper[1]]) if best else None,
                     "cells run": int(g.notna().sum().sum())})
    return pd.DataFrame(rows).set_index("dataset")


def plot_heatmaps(results: list[dict], dataset: str, metrics=("nll", "kl", "mi", "au")):
    """One heatmap per metric over the (gamma, p) grid of ``dataset``; the paper's optimum is marked
    with a white square, ours (the lowest NLL) with a dashed black square inside it; cells without a
    run are blank."""
    import matplotlib.pyplot as plt
    import numpy as np

    seeds = sorted({r["seed"] for r in results if r["dataset"] == dataset})
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.2 * len(metrics), 3.6), squeeze=False)
    ours, paper = optimum(results, dataset), PAPER_OPTIMA[dataset]
    for ax, metric in zip(axes[0], metrics):
        g = grid(results, dataset, metric)
        values = g.to_numpy(dtype=float)
        im = ax.imshow(values, cmap="viridis_r" if metric == "nll" else "viridis", aspect="auto")
        for i in range(values.shape[0]):
            for j in range(values.shape[1]):
                if not np.isnan(values[i, j]):
                    ax.text(j, i, f"{values[i, j]:.{1 if metric == 'au' else 2}f}", ha="center", va="center",
                            fontsize=7, color="white" if im.norm(values[i, j]) > 0.5 else "black")
        ax.set_xticks(range(len(P_KEEPS)), [str(p) for p in P_KEEPS])
        ax.set_yticks(range(len(GAMMAS)), [str(g_) for g_ in GAMMAS])
        ax.set_xlabel("p (keep probability of the variances)")
        ax.set_ylabel("gamma (BN scale of the means)")
        ax.set_title(f"{dataset}: {metric.upper()}")
        pj, pi = P_KEEPS.index(paper[1]), GAMMAS.index(paper[0])
        ax.add_patch(plt.Rectangle((pj - 0.5, pi - 0.5), 1, 1, fill=False, ec="white", lw=2.5))
        if ours is not None:  # inset, so that it neither hides the value nor the paper's square
            oj, oi = P_KEEPS.index(ours[1]), GAMMAS.index(ours[0])
            ax.add_patch(plt.Rectangle((oj - 0.38, oi - 0.38), 0.76, 0.76, fill=False, ec="black", lw=2, ls="--"))
        fig.colorbar(im, ax=ax, fraction=0.046)
    n = f"{len(seeds)} seed" + ("s" if len(seeds) != 1 else "")
    fig.suptitle(f"Figure 2 on {dataset} ({n} per cell, mean shown): white square = the paper's optimum "
                 f"{paper}, dashed black square = ours {ours}", y=1.03)
    fig.tight_layout()
    return fig
