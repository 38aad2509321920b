r"""Figure 1 (paper section 4.3): the latent space of the 2-D synthetic text set, over seeds.

**Runs.** VAE, Agg-VAE, BN-VAE (:math:`\gamma = 0.6`) and DU-VAE (:math:`(\gamma, p) = (0.5, 0.8)`)
on the synthetic set (:mod:`duvae.data.synthetic`, :math:`n_z = 2`), one run per model and seed,
seeds offset from the reference seed 783435. These runs cost minutes, so the ``cpu`` profile uses
the paper's schedule here (50 epochs, KL annealing over the first 10, the text learning-rate rule;
docs/implementation.md §7.1) and the full synthetic set; ``smoke`` shrinks everything.

**What is measured on each finished run** (:func:`extra_metrics`, stored in its result):

- the aggregated posterior :math:`q(z) = \frac1N \sum_n \mathcal{N}(z; \mu_n, \operatorname{diag}\sigma^2_n)`
  over the test sentences on a regular grid of :math:`[-3, 3]^2`, and the **number of its modes**:
  grid points whose density is strictly larger than at their 8 neighbours and at least 1 % of the
  grid's maximum (the threshold ignores numerical ripples in flat regions);
- whether the **centre category sits inside the others**: the mean of the central component's
  posterior means lies inside the convex hull of the four outer components' mean positions;
- the norm of each category's mean position (a collapsed model puts all five at the origin);
- for the notebook's panels: the density on a coarse grid and a sample of posterior means with
  their categories.

**The paper's statements** (:data:`PAPER`): the VAE collapses; Agg-VAE, BN-VAE and DU-VAE separate
the five categories with the central one in the middle; only DU-VAE's aggregated posterior has
five centres; BN-VAE's is broader than the prior.
"""

from __future__ import annotations

import dataclasses

import torch

from duvae.runs.config import REFERENCE_SEED, RunConfig
from duvae.experiments import check_seeds
from duvae.runs.profiles import check_profile
from duvae.runs.zoo import run_config, train_config

NAME = "figure1"
MODELS = {"vae": "VAE", "agg_vae": "Agg-VAE", "bn_vae": "BN-VAE", "du_vae": "DU-VAE"}
LIM = 3.0
GRID = 200  # mode counting
PANEL_GRID = 61  # the density stored for the notebook's panels
N_MEANS = 500  # posterior means stored for the notebook's panels
MODE_FLOOR = 0.01  # a mode's density must be >= 1 % of the maximum

#: the paper's statements about Figure 1, as data (None = the paper says nothing)
PAPER = {
    "vae": {"collapsed": True, "centre_inside": None, "n_modes": None,
            "statement": "posterior collapse: every posterior sits on the prior"},
    "agg_vae": {"collapsed": False, "centre_inside": True, "n_modes": None,
                "statement": "the five categories are separated, the central one in the middle"},
    "bn_vae": {"collapsed": False, "centre_inside": True, "n_modes": None,
               "statement": "categories separated; the aggregated posterior is broader than the prior"},
    "du_vae": {"collapsed": False, "centre_inside": True, "n_modes": 5,
               "statement": "categories separated; the only aggregated posterior with five centres, "
                            "more compact than BN-VAE's"},
}


def runs(profile: str, seeds: int) -> list[RunConfig]:
    """One run per model and seed (``REFERENCE_SEED + s``, ``s = 0 .. seeds - 1``)."""
    check_profile(profile)
    check_seeds(seeds)
    out = []
    for name in MODELS:
        for s in range(seeds):
            cfg = run_config(name, "synthetic", profile, seed=REFERENCE_SEED + s)
            if profile == "cpu":  # the paper's schedule: cheap enough on 2 cores
                paper = train_config("synthetic", "paper")
                train = dataclasses.replace(paper, seed=cfg.train.seed, kl_start=cfg.train.kl_start,
                                            warm_up=max(cfg.train.warm_up, paper.warm_up))
                cfg = cfg.with_(train=train).validate()
            elif profile == "smoke":  # enough test sentences for all five categories
                cfg = cfg.with_(train=dataclasses.replace(cfg.train, max_test=200)).validate()
            out.append(cfg)
    return out


# ----------------------------------------------------------------------------------------------
# measurements on a finished run
# ----------------------------------------------------------------------------------------------


def count_modes(density: torch.Tensor, floor: float = MODE_FLOOR) -> int:
    """Strict local maxima of a ``[n, n]`` grid density over its 8 neighbours, at least ``floor`` x max."""
    d = density.double()
    padded = torch.nn.functional.pad(d[None, None], (1, 1, 1, 1), value=-1.0)[0, 0]
    n0, n1 = d.shape
    is_max = torch.ones_like(d, dtype=torch.bool)
    for di in (-1, 0, 1):
        for dj in (-1, 0, 1):
            if di == 0 and dj == 0:
                continue
            neighbour = padded[1 + di:1 + di + n0, 1 + dj:1 + dj + n1]
            is_max &= d > neighbour
    return int((is_max & (d >= floor * d.max())).sum())


def inside_hull(point: torch.Tensor, vertices: torch.Tensor) -> bool:
    """Is ``point [2]`` inside the convex hull of ``vertices [k, 2]``? (False if the hull is degenerate)."""
    from scipy.spatial import Delaunay, QhullError

    try:
        return bool(Delaunay(vertices.double().numpy()).find_simplex(point.double().numpy()[None])[0] >= 0)
    except QhullError:
        return False


def category_geometry(mu: torch.Tensor, labels: torch.Tensor) -> dict:
    """Mean position of each category's posterior means; is the central one (label 0) inside the others?"""
    if any(int((labels == k).sum()) == 0 for k in range(5)):
        raise ValueError("category_geometry needs posterior means of all five categories")
    centres = torch.stack([mu[labels == k].mean(0) for k in range(5)])  # [5, 2]
    return {
        "centre_norm": float(centres[0].norm()),
        "outer_norm": float(centres[1:].norm(dim=1).mean()),
        "centre_inside": inside_hull(centres[0], centres[1:]),
        "category_centres": centres.tolist(),
    }


def extra_metrics(run) -> dict:
    """Figure 1's measurements on a finished run (see the module docstring)."""
    from duvae.aggregate_posterior import aggregate_posterior_density, latent_grid
    from duvae.metrics import posterior_moments

    device = next(run.model.parameters()).device
    test = run.data.corpus.test
    batches = list(test.batches(256, with_labels=True, device=device))
    mu, var = posterior_moments(run.model, batches)
    labels = torch.cat([y for _, y in batches]).cpu()
    mu, var = mu.cpu().double(), var.cpu().double()
    _, _, points = latent_grid(LIM, GRID)
    density = aggregate_posterior_density(mu, var, points).view(GRID, GRID)
    _, _, coarse = latent_grid(LIM, PANEL_GRID)
    panel = aggregate_posterior_density(mu, var, coarse).view(PANEL_GRID, PANEL_GRID)
    keep = torch.arange(min(N_MEANS, len(mu)))
    bn = getattr(run.model.head, "bn", None)  # BN-VAE / DU-VAE: the scales gamma_d of BN on the means
    scales = {"bn_scales": [float(g) for g in bn.weight.detach().cpu()]} if getattr(bn, "weight", None) is not None else {}
    return {
        **scales,
        "n_modes": count_modes(density),
        **category_geometry(mu, labels),
        "mean_std": mu.std(0).tolist(),
        "panel_lim": LIM,
        "panel_density": [[float(f"{v:.4g}") for v in row] for row in panel.tolist()],
        "means": [[round(float(a), 4), round(float(b), 4)] for a, b in mu[keep].tolist()],
        "labels": labels[keep].tolist(),
    }


# ----------------------------------------------------------------------------------------------
# results -> table
# ----------------------------------------------------------------------------------------------


def _mean_std(values) -> str:
    t = torch.tensor([float(v) for v in values], dtype=torch.float64)
    return f"{t.mean():.3f} ± {t.std():.3f}" if len(t) > 1 else f"{t.mean():.3f}"


def table(results: list[dict]):
    """One row per model: KL, MI, AU, NLL (mean ± std over seeds), modes and centre-inside per seed, the paper."""
    import pandas as pd

    rows = []
    for name, title in MODELS.items():
        rs = sorted((r for r in results if r["model"] == name), key=lambda r: r["seed"])
        if not rs:
            continue
        m = [r["metrics"] for r in rs]
        ex = [r["extra"] for r in rs]
        rows.append({
            "model": title,
            "seeds": len(rs),
            "NLL": _mean_std(x["nll"] for x in m),
            "KL": _mean_std(x["kl"] for x in m),
            "MI": _mean_std(x["mi"] for x in m),
            "AU": _mean_std(x["au"] for x in m),
            "modes per seed": ", ".join(str(e["n_modes"]) for e in ex),
            # the hull test means nothing when every category sits at the origin (collapse)
            "centre inside (non-collapsed seeds)": f"{sum(bool(e['centre_inside']) for e, x in zip(ex, m) if int(x['au']) > 0)}"
                                                   f"/{sum(int(x['au']) > 0 for x in m)}",
            "collapsed (AU = 0)": f"{sum(int(x['au']) == 0 for x in m)}/{len(m)}",
            "paper": PAPER[name]["statement"],
        })
    return pd.DataFrame(rows).set_index("model") if rows else pd.DataFrame()
