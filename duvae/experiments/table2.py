r"""Table 2 (paper section 4.2, "Classification"): short-Yelp sentiment from the frozen codes.

**Runs.** Eleven models trained on the *unlabelled* short-Yelp training split
(:mod:`duvae.data.short_yelp`) with the Yelp column's hyper-parameters (docs/implementation.md §4.6):
AE (KL weight 0), VAE, :math:`\delta`-VAE (0.1), Agg-VAE, FB (0.1), BN-VAE (0.6), MAE (2, 0.2),
DU-VAE (0.5, 0.8), IAF+FB (0.25), IAF+BN (0.7), DU-IAF (0.6, 0.7).

**Measured on each finished run** (:func:`extra_metrics`): a linear probe (:mod:`duvae.probes`,
the SGD protocol of docs/implementation.md §4.6) on the posterior means of :math:`N \in` :data:`SIZES` class-balanced
labelled training sentences, validated on the whole validation split, tested on the whole test
split; :data:`DRAWS` independent label draws per run (nested within a draw). IAF models are probed
on :math:`[\mu^0, z^T]` (the paper) and, as a second column, on :math:`z^T` alone (the official
code). A 2-D PCA of the test features (a sample) is stored for the notebook's picture.

**Reported** (:func:`table`): test accuracy in %, mean :math:`\pm` std **over seeds**, where each
seed's value is the mean over its label draws (:func:`accuracies`). The draws of one seed share
its model, so pooling all (seed, draw) pairs would treat dependent values as independent and
mix the probe's noise with the model's; :func:`draw_accuracies` keeps the pairs for pictures.
"""

from __future__ import annotations

from duvae.runs.config import RunConfig
from duvae.experiments.probe_table import (HALF_CLASSIC, HALF_CONTEXT, HALF_IAF, accuracy_table,  # noqa: F401
                                           plot_probe_curves, probe_claims, row_label, row_runs)

NAME = "table2"
DATASET = "short_yelp"
#: (row label, zoo model): hyper-parameters are the zoo's Yelp column (docs/implementation.md §4.6)
ROWS: tuple[tuple[str, str], ...] = (
    ("AE", "ae"),
    ("VAE", "vae"),
    ("delta-VAE (0.1)", "delta_vae"),
    ("Agg-VAE", "agg_vae"),
    ("FB (0.1)", "fb"),
    ("BN-VAE (0.6)", "bn_vae"),
    ("MAE (2, 0.2)", "mae"),
    ("DU-VAE (0.5, 0.8)", "du_vae"),
    ("IAF+FB (0.25)", "iaf_fb"),
    ("IAF+BN (0.7)", "iaf_bn"),
    ("DU-IAF (0.6, 0.7)", "du_iaf"),
)
IAF_ROWS = ("IAF+FB (0.25)", "IAF+BN (0.7)", "DU-IAF (0.6, 0.7)")
#: shown beside the VAEs as context, not counted in the claims: the AE is no VAE (Section 4.1 groups
#: the baselines as classic VAEs and IAF-based models; the AE is in neither group)
CONTEXT_ROWS = ("AE",)
CLASSIC_ROWS = tuple(label for label, _ in ROWS if label not in IAF_ROWS and label not in CONTEXT_ROWS)
DU_ROW, DU_IAF_ROW = "DU-VAE (0.5, 0.8)", "DU-IAF (0.6, 0.7)"
#: labelled training sentences per probe, and label draws per run, by profile
SIZES = {"smoke": (10, 20), "cpu": (100, 500, 1000, 2000, 10000), "paper": (100, 500, 1000, 2000, 10000)}
DRAWS = {"smoke": 1, "cpu": 3, "paper": 3}
PROBE_EPOCHS = {"smoke": 3, "cpu": 100, "paper": 100}  # the protocol's maximum (early stopping decides)
PCA_POINTS = 600  # test sentences in the stored 2-D picture

#: the paper's Table 2: row -> accuracy (%) at 100, 500, 1k, 2k, 10k labels
PAPER: dict[str, tuple[float, ...]] = {
    "AE": (84.05, 86.82, 87.93, 88.19, 88.75),
    "VAE": (71.10, 71.43, 71.58, 72.96, 77.11),
    "delta-VAE (0.1)": (60.11, 60.52, 61.46, 63.79, 64.38),
    "Agg-VAE": (75.05, 77.16, 78.50, 79.29, 80.07),
    "FB (0.1)": (75.19, 80.78, 81.63, 82.28, 82.39),
    "BN-VAE (0.6)": (84.53, 88.22, 89.45, 89.63, 89.72),
    "MAE (2, 0.2)": (61.50, 61.70, 62.42, 63.58, 63.68),
    "DU-VAE (0.5, 0.8)": (88.91, 89.63, 90.36, 90.51, 90.77),
    "IAF+FB (0.25)": (89.73, 90.60, 90.94, 90.91, 91.01),
    "IAF+BN (0.7)": (87.98, 89.03, 89.18, 89.35, 90.29),
    "DU-IAF (0.6, 0.7)": (91.25, 91.10, 91.52, 91.97, 92.31),
}
PAPER_SIZES = (100, 500, 1000, 2000, 10000)


def runs(profile: str, seeds: int) -> list[RunConfig]:
    """Every row x seed (``REFERENCE_SEED + s``) on short Yelp."""
    return row_runs(ROWS, DATASET, profile, seeds)


def row_of(record: dict) -> str:
    return row_label(ROWS, record)


def extra_from_config(cfg: RunConfig) -> dict:
    return {"row": row_of({"model": cfg.model.name})}


def extra_metrics(run) -> dict:
    """The probe accuracies of a finished run (module docstring)."""
    from duvae.probes import yelp_probe

    profile = run.config.profile
    out = {"row": row_of({"model": run.config.model.name})}
    out.update(yelp_probe(run, SIZES[profile], DRAWS[profile], epochs=PROBE_EPOCHS[profile], pca_points=PCA_POINTS))
    return out


# ----------------------------------------------------------------------------------------------
# the table, the curve and the claims
# ----------------------------------------------------------------------------------------------
def draw_accuracies(results: list[dict], label: str, size: int, features: str = "probe") -> list[list[float]]:
    """Per seed (run) of row ``label``, its test accuracies in % at ``size`` labels, one per label draw."""
    out = []
    for r in results:
        if r.get("extra", {}).get("row", row_of(r)) == label:
            draws = [100 * a for a in r["extra"].get(features, {}).get(str(size), [])]
            if draws:
                out.append(draws)
    return out


def accuracies(results: list[dict], label: str, size: int, features: str = "probe") -> list[float]:
    """One value per seed of row ``label`` at ``size`` labels: the mean over its label draws (in %).

    Every spread of this table is the std of these values, i.e. over seeds (module docstring)."""
    import statistics

    return [statistics.mean(draws) for draws in draw_accuracies(results, label, size, features)]


def table(results: list[dict], profile: str = "cpu", features: str = "probe"):
    """Ours (mean ± std over seeds of each seed's mean over draws, in %) beside the paper's, one row per model."""
    return accuracy_table(results, ROWS, lambda label, size: accuracies(results, label, size, features),
                          SIZES[profile], PAPER, PAPER_SIZES)


def claims(results: list[dict], profile: str = "cpu"):
    """The Classification sentence of Section 4.2 on Table 2, per label count
    (:func:`duvae.experiments.probe_table.probe_claims`)."""
    return probe_claims(lambda label, size: accuracies(results, label, size), SIZES[profile], CLASSIC_ROWS,
                        IAF_ROWS, CONTEXT_ROWS, DU_ROW, DU_IAF_ROW, "labels")


def plot_curves(results: list[dict], profile: str = "cpu"):
    """Accuracy against the number of labels: ours (mean, band = ± std over seeds) as lines,
    the paper's as open markers of the same colour; classic VAEs left, IAF models right."""
    return plot_probe_curves(lambda label, size: accuracies(results, label, size), [label for label, _ in ROWS],
                             IAF_ROWS, SIZES[profile], PAPER, PAPER_SIZES, "labelled training sentences",
                             "Table 2 on short Yelp", log_x=True)


def plot_codes(results: list[dict], rows=("VAE", DU_ROW), seed: int | None = None):
    """The stored 2-D PCA of the test features of ``rows`` (one run each), coloured by sentiment."""
    import matplotlib.pyplot as plt
    import numpy as np

    fig, axes = plt.subplots(1, len(rows), figsize=(5 * len(rows), 4.5), squeeze=False)
    for ax, label in zip(axes[0], rows):
        rs = sorted((r for r in results if r.get("extra", {}).get("row", row_of(r)) == label
                     and (seed is None or r["seed"] == seed)), key=lambda r: r["seed"])
        if not rs or "pca" not in rs[0]["extra"]:
            ax.set_title(f"{label}: no run")
            continue
        pca = rs[0]["extra"]["pca"]
        xy, y = np.array(pca["xy"]), np.array(pca["label"])
        for cls, name, colour in ((0, "negative", "tab:red"), (1, "positive", "tab:blue")):
            ax.scatter(xy[y == cls, 0], xy[y == cls, 1], s=6, alpha=0.5, color=colour, label=name)
        ev = pca["explained"]
        ax.set_title(f"{label} (seed {rs[0]['seed']}): PCA of test codes\n"
                     f"explained variance {ev[0]:.2g} / {ev[1]:.2g}; total var {pca['total_var']:.2g}")
        ax.set_xlabel("PC 1")
        ax.set_ylabel("PC 2")
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
