r"""What Tables 2 and 3 share (paper section 4.2, "Classification"): a probe table, one row per model.

Both tables freeze each trained model, fit a linear classifier on its codes with a few labels, and
report the test accuracy per number of labels :math:`N` (Table 2: labelled sentences; Table 3:
labelled images per character). This module holds what does not depend on which data set:

- :func:`row_runs` and :func:`row_label`: a table's runs (``rows x seeds``) and the row of a result;
- :func:`accuracy_table`: ours as mean :math:`\pm` std over seeds beside the paper's, per :math:`N`;
- :func:`probe_claims`: the paper's sentence *"DU-VAE and DU-IAF achieve the best accuracy under
  all settings for classic VAEs and IAF-based models respectively"*, each half judged apart;
- :func:`plot_probe_curves`: accuracy against :math:`N`, ours beside the paper's.

Every function takes ``values(label, n) -> [accuracy in %, one per seed]``, so a spread here is
always a std over seeds (Table 2 first averages each seed's label draws).
"""

from __future__ import annotations

from typing import Callable, Sequence

from duvae.runs.config import REFERENCE_SEED, RunConfig
from duvae.experiments import check_seeds
from duvae.experiments.verdicts import mean_sd
from duvae.runs.profiles import check_profile
from duvae.runs.zoo import run_config

#: ``values(label, n)``: one accuracy in % per seed of row ``label`` with ``n`` labels
Values = Callable[[str, int], list]
#: the halves of the Classification sentence, and the context rows (shown, not counted)
HALF_CLASSIC, HALF_IAF, HALF_CONTEXT = "classic VAEs", "IAF-based models", "context"


def row_runs(rows: Sequence[tuple[str, str]], dataset: str, profile: str, seeds: int) -> list[RunConfig]:
    """Every ``(label, zoo model)`` of ``rows`` x seed (``REFERENCE_SEED + s``) on ``dataset``."""
    check_profile(profile)
    check_seeds(seeds)
    return [run_config(name, dataset, profile, seed=REFERENCE_SEED + s) for _, name in rows for s in range(seeds)]


def row_label(rows: Sequence[tuple[str, str]], record: dict) -> str:
    """The row label of a result record (or of ``{"model": zoo name}``)."""
    names = {name: label for label, name in rows}
    return names[record["config"]["model"]["name"] if "config" in record else record["model"]]


def accuracy_table(results: list[dict], rows: Sequence[tuple[str, str]], values: Values, sizes: Sequence[int],
                   paper: dict[str, tuple[float, ...]], paper_sizes: Sequence[int]):
    """Ours (mean ± std over seeds, in %) at each of ``sizes`` and the paper's where it reports that
    size, one row per model, with its seed count and CPUs."""
    import pandas as pd

    from duvae.experiments.table1 import cpu_counts

    out = []
    for label, _ in rows:
        mine = [r for r in results if r.get("extra", {}).get("row", row_label(rows, r)) == label]
        row = {"model": label}
        for n in sizes:
            row[f"{n}"] = mean_sd(values(label, n), 2)
            if n in paper_sizes:
                row[f"{n} (paper)"] = paper[label][list(paper_sizes).index(n)]
        row["seeds"] = len(mine)
        row["CPUs"] = cpu_counts(mine)
        out.append(row)
    return pd.DataFrame(out).set_index("model")


def probe_claims(values: Values, sizes, classic, iaf, context, du: str, du_iaf: str, unit: str):
    """"DU-VAE and DU-IAF achieve the best accuracy under all settings for classic VAEs and IAF-based
    models respectively" (Section 4.2), at each label count.

    Each half is its own set of rows: ``du`` against every other row of ``classic``
    (:data:`HALF_CLASSIC`), ``du_iaf`` against every other row of ``iaf`` (:data:`HALF_IAF`); ``du``
    against each row of ``context`` (the AE) is shown as :data:`HALF_CONTEXT`. Each comparison is
    :func:`duvae.experiments.verdicts.verdict` on the means over seeds, with the larger of the two
    sides' std over seeds as the spread.
    """
    import statistics

    import pandas as pd

    from duvae.experiments.verdicts import MISSING, verdict

    out = []
    for size in sizes:
        pairs = ([(HALF_CLASSIC, du, o) for o in classic if o != du] + [(HALF_IAF, du_iaf, o) for o in iaf if o != du_iaf]
                 + [(HALF_CONTEXT, du, o) for o in context])
        for half, best, other in pairs:
            a, b = values(best, size), values(other, size)
            row = {"claim": f"{best} beats {other} at {size} {unit}", "size": size, "half": half,
                   "seeds": f"{len(a)} vs {len(b)}"}
            if not a or not b:
                out.append({**row, "ours": "no results", "difference": None, "spread": None, "verdict": MISSING})
                continue
            sa = statistics.stdev(a) if len(a) > 1 else None
            sb = statistics.stdev(b) if len(b) > 1 else None
            spread = max(sa, sb) if sa is not None and sb is not None else None  # std over seeds
            diff = statistics.mean(a) - statistics.mean(b)  # positive: the paper's sign
            out.append({**row, "ours": f"{statistics.mean(a):.2f} vs {statistics.mean(b):.2f}",
                        "difference": diff, "spread": spread, "verdict": verdict(diff, spread, min(len(a), len(b)))})
    return pd.DataFrame(out).set_index("claim")


def plot_probe_curves(values: Values, rows, iaf_rows, sizes, paper_table, paper_x, xlabel, title, log_x):
    """Accuracy against the number of labels: classic VAEs left, IAF models right; ours as
    mean ± std over seeds, the paper's as open markers of the same colour."""
    import matplotlib.pyplot as plt
    import numpy as np

    fig, axes = plt.subplots(1, 2, figsize=(13, 4.5), sharey=True)
    colours = plt.get_cmap("tab10")
    for i, label in enumerate(rows):
        ax = axes[1 if label in iaf_rows else 0]
        per_size = [values(label, s) for s in sizes]  # per-seed accuracies at each number of labels
        means = np.array([np.mean(v) if v else np.nan for v in per_size])
        stds = np.array([np.std(v, ddof=1) if len(v) > 1 else 0.0 for v in per_size])
        c = colours(i % 10)
        lw = 2.6 if label.startswith("DU-") else 1.3
        ax.plot(sizes, means, "-o", color=c, lw=lw, ms=4, label=f"{label} (ours)")
        ax.fill_between(sizes, means - stds, means + stds, color=c, alpha=0.12)
        ax.plot(paper_x, paper_table[label], ls=":", marker="s", mfc="none", color=c, lw=1, ms=6)
    for ax, name in zip(axes, ("classic VAEs", "IAF models")):
        if log_x:
            ax.set_xscale("log")
        ax.set_xlabel(xlabel)
        ax.set_title(f"{title}: {name} (lines ours, dotted squares the paper)")
        ax.legend(fontsize=7, loc="lower right")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("test accuracy (%)")
    fig.tight_layout()
    return fig
