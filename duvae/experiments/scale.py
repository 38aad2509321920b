r"""Does Table 1's verdict change with size? Three of its rows at the ``cpu`` size and at a larger one.

**Why size could matter.** A VAE maximises the ELBO, whose KL term averages, over the data, to
the information the code carries plus the distance of the aggregated posterior from the prior,

.. math::
    \mathbb{E}_{p_\mathcal{D}}\big[\mathbb{E}_{q(z|x)} \log p(x|z)\big]
    - \mathbb{E}_{p_\mathcal{D}}\,\mathrm{KL}\big(q(z|x)\,\|\,p(z)\big),
    \qquad
    \mathbb{E}_{p_\mathcal{D}}\,\mathrm{KL}\big(q(z|x)\,\|\,p(z)\big) = I_q(x; z) + \mathrm{KL}\big(q(z)\,\|\,p(z)\big).

Every nat of :math:`I_q(x; z)` is paid for in the KL term, so a code pays off only where it buys
more than that in reconstruction. An autoregressive decoder :math:`p(x|z) = \prod_i p(x_i | x_{<i},
z)` that predicts :math:`x` well from :math:`x_{<i}` alone leaves little to buy (paper section 3:
"VAE degenerates to auto-regressive"). How much is left depends on the size of the problem:

- **Yahoo.** At ``cpu`` the documents have at most 60 words (4,053 of the 9,000 mirror training
  documents) and the vocabulary is cut to the 5,000 most frequent tokens (10 % of the tokens become
  ``_UNK``). A topic code saves a little on every word that depends on the topic, so it is worth
  more over a longer document, and more with the rare topical words kept. Notebook 06's reading of
  Table 1 at ``cpu`` (the collapsed VAE has the best NLL, DU-VAE does not) is that these cuts let
  the LSTM do without the code. **yahoo_long** changes only the data, to the paper's document cap:
  every mirror document of at most 200 words (all 9,000 / 1,000 training / validation documents,
  the first 500 of the test split, as at ``cpu``) and the full 20,000-word vocabulary. The networks
  and the schedule are ``cpu``'s.
- **Omniglot.** At ``cpu`` the PixelCNN has 3 layers (kernels 5, 5, 3) of width 16: it sees about
  5 rows above a pixel, so it needs the code for the shape of a character, and every model keeps
  31-32 active units (paper: 5 for the VAE). **omniglot_deep** gives the decoder alone 8 layers of
  width 32 (it sees 17 rows); **omniglot_paper** gives it the paper's 13 layers of width 64 (the
  whole image; the speed work measured 1.86 s per training step at the paper's sizes, 0.22 s at
  ``cpu``'s). The encoder and the data stay ``cpu``'s (``NetConfig.pixelcnn_channels`` widens the
  decoder only). :data:`LARGER` names the sizes :func:`runs` lists; the pilot picks one.

**Runs.** Per data set, three Table 1 rows: the VAE, BN-VAE (:math:`\gamma` 0.6 on Yahoo, 0.5 on
Omniglot) and the paper's best DU-VAE, (0.6, 0.8) on Yahoo and (0.5, 0.9) on Omniglot
(:func:`duvae.experiments.table1.row_config`). At the ``cpu`` size they *are* Table 1's runs (same
config, same run id), so the sweep copies Table 1's committed results (:func:`duvae.sweep.engine.copy_shared`)
instead of training them. A larger size is the same config with the fields of :data:`SIZES`
replaced, hence new run ids. A size may cap its seeds at ``cpu`` (``Size.cpu_seeds``, per row
``Size.cpu_row_seeds``, with the reason): ``yahoo_long`` runs three seeds of the VAE and DU-VAE
(0.6, 0.8) and one of BN-VAE, since one run costs about as much as the whole ``cpu`` Table 1 row.
At ``smoke`` the same fields change to values that run in seconds; at
``paper`` there is nothing larger, and only the standard rows are listed.

**Verdicts** (:func:`claims`): the paper's statements about these rows, checked at each size with
notebook 06's rule (:func:`duvae.experiments.verdicts.verdict`): a statement *holds* when the
difference of the means has the paper's sign and exceeds the larger seed standard deviation of
the two sides; one seed decides nothing. NLLs are comparable across rows of one size only (a
longer document has a larger NLL), so the figure draws each row's NLL minus the VAE's.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace

from duvae.runs.config import REFERENCE_SEED, NetConfig, RunConfig, TrainConfig
from duvae.experiments import check_seeds
from duvae.experiments.table1 import PAPER, cpu_counts, row_config, row_of
from duvae.experiments.verdicts import DOES_NOT_HOLD, HOLDS, ONE_SEED, WITHIN_OPPOSITE, WITHIN_SAME, verdict
from duvae.runs.profiles import check_profile
from duvae.runs.results import run_seconds

NAME = "scale"
DATASETS = ("yahoo", "omniglot")
METRICS = ("nll", "kl", "mi", "au")
VAE_ROW = "VAE"
BN_ROW = "BN-VAE (0.6/0.6/0.5)"
#: the paper's best DU-VAE per data set (Figure 2), the one Table 1's text claims about
DU_ROW = {"yahoo": "DU-VAE (0.6, 0.8)", "omniglot": "DU-VAE (0.5, 0.9)"}
#: Table 1's rows this study runs, per data set
ROWS = {ds: (VAE_ROW, BN_ROW, DU_ROW[ds]) for ds in DATASETS}
#: the paper's PixelCNN: 13 layers (docs/implementation.md §2.3); also NetConfig's default
PAPER_KERNELS = (7, 7, 7, 7, 7, 5, 5, 5, 5, 3, 3, 3, 3)


@dataclass(frozen=True)
class Size:
    """One size of the study: which data set it enlarges and how.

    ``cpu`` and ``smoke`` map a field of :class:`~duvae.runs.config.TrainConfig` or
    :class:`~duvae.runs.config.NetConfig` to its value at that profile; every other field is the
    profile's own. ``dataset=None``: the standard size (no overrides) of every data set.
    """

    dataset: str | None
    what: str
    cpu: dict = field(default_factory=dict)
    smoke: dict = field(default_factory=dict)
    #: at most this many seeds per row at ``cpu`` (None: as many as asked), rows that get another
    #: cap (``{row label: seeds}``), and why
    cpu_seeds: int | None = None
    cpu_row_seeds: dict = field(default_factory=dict)
    why_seeds: str = ""


SIZES: dict[str, Size] = {
    "cpu": Size(None, "Table 1's cpu configuration (its runs, copied)"),
    "yahoo_long": Size(
        "yahoo",
        "documents of <= 200 words (9,000 / 1,000 / first 500), the full 20,000-word vocabulary",
        cpu={"max_len": 200, "max_vocab": None, "max_valid": 1000},
        smoke={"max_len": 40, "max_vocab": None, "max_valid": 64},
        cpu_seeds=1,
        cpu_row_seeds={"VAE": 3, "DU-VAE (0.6, 0.8)": 3},
        why_seeds="a run costs about an hour and a half at 1 thread (the committed runs' wall times), so BN-VAE "
                  "keeps one seed; the VAE and DU-VAE (0.6, 0.8) get three, to tell our DU-VAE's distance from "
                  "the official code's at this size (notebook 06) from seed noise",
    ),
    "omniglot_deep": Size(
        "omniglot",
        "PixelCNN of 8 layers (kernels 7, 7, 7, 5, 5, 5, 3, 3) of width 32",
        cpu={"pixelcnn_kernels": (7, 7, 7, 5, 5, 5, 3, 3), "pixelcnn_channels": 32},
        smoke={"pixelcnn_kernels": (3, 3, 3), "pixelcnn_channels": 16},
    ),
    "omniglot_paper": Size(
        "omniglot",
        "the paper's PixelCNN: 13 layers of width 64",
        cpu={"pixelcnn_kernels": PAPER_KERNELS, "pixelcnn_channels": 64},
        smoke={"pixelcnn_kernels": (3, 3, 3, 3), "pixelcnn_channels": 16},
    ),
}
#: the larger sizes :func:`runs` lists beside ``cpu`` (and so the sweep); add "omniglot_paper" here
#: (or pass ``sizes=``) to run the paper's decoder
LARGER: tuple[str, ...] = ("yahoo_long", "omniglot_deep")

_TRAIN_FIELDS = {f.name for f in fields(TrainConfig)}
_NET_FIELDS = {f.name for f in fields(NetConfig)}


def overrides(size: str, profile: str) -> dict | None:
    """The fields ``size`` replaces at ``profile``; None where it is not defined there (``paper``)."""
    check_profile(profile)
    if size not in SIZES:
        raise ValueError(f"unknown size {size!r}; choose one of {tuple(SIZES)}")
    s = SIZES[size]
    if s.dataset is None:
        return {}
    return {"cpu": s.cpu, "smoke": s.smoke}.get(profile)


def sized(cfg: RunConfig, size: str) -> RunConfig:
    """Run ``cfg`` at ``size``: its fields of :data:`SIZES` replaced, everything else kept."""
    changes = overrides(size, cfg.profile)  # refuses an unknown size
    if SIZES[size].dataset not in (None, cfg.dataset):
        raise ValueError(f"size {size!r} is for {SIZES[size].dataset}, not {cfg.dataset}")
    if changes is None:
        raise ValueError(f"size {size!r} is not defined at the {cfg.profile} profile")
    unknown = set(changes) - _TRAIN_FIELDS - _NET_FIELDS
    if unknown:
        raise ValueError(f"size {size!r}: {sorted(unknown)} are not TrainConfig or NetConfig fields")
    train = {k: v for k, v in changes.items() if k in _TRAIN_FIELDS}
    net = {k: v for k, v in changes.items() if k in _NET_FIELDS}
    return cfg.with_(train=replace(cfg.train, **train), net=replace(cfg.net, **net)).validate()


def sizes_of(dataset: str, sizes=None) -> tuple[str, ...]:
    """``cpu`` and the larger sizes (``sizes``, default :data:`LARGER`) that apply to ``dataset``."""
    sizes = LARGER if sizes is None else tuple(sizes)
    return ("cpu",) + tuple(s for s in sizes if s != "cpu" and SIZES[s].dataset == dataset)


def runs(profile: str, seeds: int, sizes=None) -> list[RunConfig]:
    """Per data set and size (``cpu`` and ``sizes``, default :data:`LARGER`): each row x seed
    (``REFERENCE_SEED + s``, :func:`seeds_at` seeds). The ``cpu`` size's runs are Table 1's."""
    check_profile(profile)
    check_seeds(seeds)
    out = []
    for dataset in DATASETS:
        for size in sizes_of(dataset, sizes):
            if overrides(size, profile) is None:
                continue
            for label in ROWS[dataset]:
                for s in range(seeds_at(size, profile, seeds, label)):
                    out.append(sized(row_config(label, dataset, profile, REFERENCE_SEED + s), size))
    return out


def seeds_at(size: str, profile: str, seeds: int, row: str | None = None) -> int:
    """The seeds a size runs of ``row`` (None: its rows without a cap of their own): ``seeds``, capped
    at ``cpu`` by the size's ``cpu_row_seeds`` or ``cpu_seeds`` (a budget decision, stated in
    :data:`SIZES` with its reason)."""
    if profile != "cpu":
        return seeds
    cap = SIZES[size].cpu_row_seeds.get(row, SIZES[size].cpu_seeds)
    return seeds if cap is None else min(seeds, cap)


def seeds_text(size: str, profile: str, seeds: int) -> str:
    """``"3"``, or ``"1; VAE: 3, DU-VAE (0.6, 0.8): 3"`` where rows have caps of their own."""
    base = str(seeds_at(size, profile, seeds))
    own = {row: seeds_at(size, profile, seeds, row) for row in SIZES[size].cpu_row_seeds} if profile == "cpu" else {}
    return base + "".join(f"; {row}: {n}" for row, n in own.items() if str(n) != base)


def size_of(cfg: RunConfig) -> str | None:
    """The size a run belongs to (its config compared with each size's version of its Table 1 row)."""
    label = row_of({"config": cfg.to_dict(), "dataset": cfg.dataset})
    if label not in ROWS.get(cfg.dataset, ()):
        return None
    base = row_config(label, cfg.dataset, cfg.profile, cfg.train.seed)
    for size, s in SIZES.items():
        if s.dataset in (None, cfg.dataset) and overrides(size, cfg.profile) is not None and sized(base, size) == cfg:
            return size
    return None


def extra_from_config(cfg: RunConfig) -> dict:
    """The Table 1 row and the size (both follow from the config, so Table 1's results are copied)."""
    return {"row": row_of({"config": cfg.to_dict(), "dataset": cfg.dataset}), "size": size_of(cfg)}


def with_table1(results: list[dict], table1_results: list[dict], profile: str, seeds: int) -> list[dict]:
    """``results`` plus Table 1's results of the ``cpu``-size runs they lack (same run ids), labelled
    as the sweep labels its copies; so the notebook shows every committed ``cpu`` seed even before
    a sweep of this experiment has copied them."""
    have = {r["run_id"] for r in results}
    table1_by_id = {r["run_id"]: r for r in table1_results}
    out = list(results)
    for cfg in runs(profile, seeds):
        run_id = cfg.run_id()
        if run_id not in have and run_id in table1_by_id and size_of(cfg) == "cpu":
            out.append({**table1_by_id[run_id], "experiment": NAME, "extra": extra_from_config(cfg),
                        "copied_from": f"table1/{run_id}.json"})
    return out


def sizes_table(profile: str = "cpu"):
    """Every override: the field, the ``cpu`` profile's value (Table 1), this size's, and the paper's."""
    import pandas as pd

    from duvae.runs.zoo import net_config, train_config

    def value(dataset, prof, name, v=None):
        """The value, with what a None means spelled out."""
        t, n = train_config(dataset, prof), net_config(dataset, prof)
        if v is None:
            v = getattr(t if name in _TRAIN_FIELDS else n, name)
        if v is not None:
            return ", ".join(map(str, v)) if isinstance(v, tuple) else str(v)
        return {"pixelcnn_channels": f"{n.img_channels} (= img_channels)",
                "max_vocab": "all 20,000" if dataset == "yahoo" else "all",
                "max_len": "no cap (<= 200 in the data)" if dataset == "yahoo" else "no cap",
                "max_valid": "all" if t.max_test is None else f"= max_test ({t.max_test})"}.get(name, "None")

    rows = []
    for size, s in SIZES.items():
        changes = overrides(size, profile)
        if s.dataset is None or not changes:
            continue
        for name, v in changes.items():
            rows.append({"size": size, "data set": s.dataset, "field": name,
                         f"{profile} (Table 1)": value(s.dataset, profile, name),
                         "this size": value(s.dataset, profile, name, v) if v is not None
                         else value(s.dataset, "paper", name),
                         "paper": value(s.dataset, "paper", name)})
    return pd.DataFrame(rows).set_index(["size", "field"])


# ----------------------------------------------------------------------------------------------
# reading the results
# ----------------------------------------------------------------------------------------------
def _row(record: dict) -> str | None:
    return record.get("extra", {}).get("row") or row_of(record)


def _size(record: dict) -> str | None:
    return record.get("extra", {}).get("size")


def _records(results: list[dict], dataset: str, size: str, label: str) -> list[dict]:
    return [r for r in results if r["dataset"] == dataset and _size(r) == size and _row(r) == label]


def values(results: list[dict], dataset: str, size: str, label: str, metric: str) -> list[float]:
    """``metric`` of every seed of row ``label`` at ``size`` on ``dataset``."""
    return [float(r["metrics"][metric]) for r in _records(results, dataset, size, label)
            if r["metrics"].get(metric) is not None]


def shown_sizes(results: list[dict], dataset: str) -> tuple[str, ...]:
    """``cpu``, the sizes of :data:`LARGER` and any other size with results on ``dataset``, in :data:`SIZES` order."""
    have = {_size(r) for r in results if r["dataset"] == dataset}
    wanted = set(sizes_of(dataset)) | have
    return tuple(s for s in SIZES if s in wanted and SIZES[s].dataset in (None, dataset))


def _stat(v: list[float]) -> tuple[float | None, float | None, int]:
    import statistics

    if not v:
        return None, None, 0
    return statistics.mean(v), (statistics.stdev(v) if len(v) > 1 else None), len(v)


def _fmt(mean, sd, digits=2) -> str:
    if mean is None:
        return ""
    return f"{mean:.{digits}f}" if sd is None else f"{mean:.{digits}f} ± {sd:.{digits}f}"


def table(results: list[dict]):
    """One row per (data set, size, Table 1 row): NLL, KL, MI, AU as mean ± std over seeds, the
    paper's values, the seeds and the CPUs they ran on."""
    import pandas as pd

    rows = []
    for dataset in DATASETS:
        for size in shown_sizes(results, dataset):
            for label in ROWS[dataset]:
                rs = _records(results, dataset, size, label)
                row = {"data set": dataset, "size": size, "row": label}
                for i, metric in enumerate(METRICS):
                    row[metric.upper()] = _fmt(*_stat(values(results, dataset, size, label, metric))[:2])
                    row[f"{metric.upper()} (paper)"] = PAPER[label][dataset][i]
                row["seeds"] = len(rs)
                row["CPUs"] = cpu_counts(rs)
                rows.append(row)
    return pd.DataFrame(rows).set_index(["data set", "size", "row"])


#: the other side of "AU < nz": the latent size of the runs compared (32 at cpu and in the paper)
ALL_UNITS = "nz"
#: the paper's statements about these rows, per data set: (claim, better, worse, metric, lower is
#: better). ``better`` / ``worse`` are rows, or :data:`ALL_UNITS` ("the VAE's AU is below nz")
CLAIMS: dict[str, tuple[tuple, ...]] = {
    ds: (
        ("DU-VAE has a lower NLL than the VAE", DU_ROW[ds], VAE_ROW, "nll", True),
        ("DU-VAE has a lower NLL than BN-VAE", DU_ROW[ds], BN_ROW, "nll", True),
        (("BN-VAE has a lower NLL than the VAE", BN_ROW, VAE_ROW, "nll", True) if ds == "yahoo" else
         ("BN-VAE has a higher NLL than the VAE (images)", VAE_ROW, BN_ROW, "nll", True)),
        ("DU-VAE has a higher KL than BN-VAE", DU_ROW[ds], BN_ROW, "kl", False),
        ("DU-VAE has a higher MI than BN-VAE", DU_ROW[ds], BN_ROW, "mi", False),
        ("DU-VAE has more active units than the VAE", DU_ROW[ds], VAE_ROW, "au", False),
        ("the VAE leaves units inactive (AU < nz)", VAE_ROW, ALL_UNITS, "au", True),
    )
    for ds in DATASETS
}
#: the statement each data set's question turns on (notebook 06's reading; the size study's AU question)
KEY_CLAIM = {"yahoo": "DU-VAE has a lower NLL than the VAE", "omniglot": "the VAE leaves units inactive (AU < nz)"}


def claims(results: list[dict]):
    """:data:`CLAIMS` checked at every shown size of each data set, notebook 06's rule.

    Columns: the paper's two numbers, our two means, the difference in the paper's direction
    (positive = as the paper says), the larger seed std of the two sides, the seeds behind each
    side and the verdict (:func:`duvae.experiments.verdicts.verdict`; "no results" where a side has
    none). Index: (data set, size, claim).
    """
    import pandas as pd

    def side(dataset, size, who, metric):
        if who == ALL_UNITS:  # a bound, not a row: no seeds of its own
            nz = {r["config"]["net"]["nz"] for r in results if r["dataset"] == dataset and _size(r) == size}
            return float(max(nz, default=32)), 0.0, None, 32
        mean, sd, n = _stat(values(results, dataset, size, who, metric))
        return mean, sd, n, PAPER[who][dataset][METRICS.index(metric)]

    out = []
    for dataset in DATASETS:
        for size in shown_sizes(results, dataset):
            for claim, better, worse, metric, lower in CLAIMS[dataset]:
                b, sb, nb, pb = side(dataset, size, better, metric)
                w, sw, nw, pw = side(dataset, size, worse, metric)
                ns = [n for n in (nb, nw) if n is not None]
                row = {"data set": dataset, "size": size, "claim": claim, "paper": f"{pb} vs {pw}",
                       "seeds": " vs ".join("-" if n is None else str(n) for n in (nb, nw))}
                if min(ns) == 0:
                    out.append({**row, "ours": "no results", "difference": None, "seed spread": None,
                                "verdict": "no results"})
                    continue
                diff = (w - b) if lower else (b - w)
                spread = max(s for s in (sb, sw) if s is not None) if min(ns) > 1 else None
                out.append({**row, "ours": f"{b:.2f} vs {w:.2f}", "difference": diff, "seed spread": spread,
                            "verdict": verdict(diff, spread or 0.0, min(ns))})
    cols = ["paper", "ours", "difference", "seed spread", "seeds", "verdict"]
    return pd.DataFrame(out).set_index(["data set", "size", "claim"])[cols]


def verdict_summary(claims_table):
    """How many statements hold, tie, fail ... per data set and size."""
    import pandas as pd

    counts = claims_table.groupby(level=["data set", "size"])["verdict"].value_counts().unstack(fill_value=0)
    return counts.astype(int) if len(counts) else pd.DataFrame()


def reading(claims_table) -> str:
    """What the verdicts say about the size readings, one paragraph per data set, built from
    ``claims_table`` (:func:`claims`), so that it reads whatever results are committed."""
    def describe(dataset, size, claim):
        try:
            c = claims_table.loc[(dataset, size, claim)]
        except KeyError:
            return None, "not run"
        if c["verdict"] == "no results":
            return c["verdict"], "no results yet"
        spread = c["seed spread"]
        spread = "" if spread is None or spread != spread else f", seed std {spread:.2f}"  # None or NaN: none
        return c["verdict"], (f"{c['verdict']} (ours {c['ours']}, difference {c['difference']:+.2f} in the "
                              f"paper's direction{spread}; seeds {c['seeds']})")

    question = {
        "yahoo": ("Notebook 06's reading of Yahoo at `cpu`: with documents of at most 60 words and a 5,000-word "
                  "vocabulary, the LSTM models the text well without the code, so the collapsed VAE's NLL beats "
                  "DU-VAE's. If that is so, the paper's ordering should come back at the paper's document length."),
        "omniglot": ("The reading of Omniglot at `cpu`: the 3-layer PixelCNN is too weak to do without the code, so "
                     "no model leaves a unit inactive. If that is so, a deeper decoder should leave the VAE with "
                     "fewer than 32 active units."),
    }
    paragraphs = []
    for dataset in DATASETS:
        present = claims_table.xs(dataset, level="data set") if dataset in claims_table.index.get_level_values(0) \
            else claims_table.iloc[:0]
        sizes = [s for s in present.index.get_level_values("size").unique() if s != "cpu"]
        key = KEY_CLAIM[dataset]
        before, text_before = describe(dataset, "cpu", key)
        lines = [f"**{dataset}.** {question[dataset]} \"{key}\": at `cpu` {text_before}."]
        for size in sizes:
            after, text_after = describe(dataset, size, key)
            lines.append(f"At `{size}` ({SIZES[size].what}): {text_after}.")
            if after in (None, "no results"):
                lines.append("So the question is open until these runs are in.")
            elif after == ONE_SEED:
                lines.append("One seed cannot decide it; the sign of the difference is the pilot's hint only.")
            elif after == before:
                lines.append("The size does not change this verdict: this test gives the reading no support.")
            else:
                moved = f"The verdict moves from \"{before}\" to \"{after}\" with size"
                if after == HOLDS or (after == WITHIN_SAME and before == DOES_NOT_HOLD):
                    moved += (": the evidence supports the reading (the `cpu` verdict is a property of the size, "
                              "not of the method)")
                elif after == WITHIN_OPPOSITE and before == DOES_NOT_HOLD:
                    moved += (": the reversal shrinks into the seed spread but keeps its sign, so this size neither "
                              "restores the paper's ordering nor shows it reversed; the reading gets partial support only")
                lines.append(moved + ".")
            changed = []
            for claim, *_ in CLAIMS[dataset]:
                if claim == key:
                    continue
                v0, v1 = describe(dataset, "cpu", claim)[0], describe(dataset, size, claim)[0]
                if v0 != v1 and v1 not in (None, "no results", ONE_SEED):
                    changed.append(f"\"{claim}\" ({v0} -> {v1})")
            if changed:
                lines.append("Other statements that change at this size: " + "; ".join(changed) + ".")
        paragraphs.append(" ".join(lines))
    return "\n\n".join(paragraphs)


def plot_metrics(results: list[dict], dataset: str, relative_nll: bool = True):
    """Each metric against size, one line per row (mean over seeds, band = min..max), the paper's
    value as a star at the right ("paper").

    With ``relative_nll`` the NLL panel draws each row's NLL minus the VAE's mean NLL at the same
    size (a longer document has a larger NLL, so only differences compare across sizes), and the
    paper's difference; otherwise the NLL itself.
    """
    import matplotlib.pyplot as plt
    import numpy as np

    sizes = shown_sizes(results, dataset)
    x = np.arange(len(sizes))
    fig, axes = plt.subplots(1, len(METRICS), figsize=(4.2 * len(METRICS), 3.8), squeeze=False)
    colours = {label: plt.get_cmap("tab10")(i) for i, label in enumerate(ROWS[dataset])}
    for ax, metric in zip(axes[0], METRICS):
        i = METRICS.index(metric)
        relative = relative_nll and metric == "nll"
        vae_mean = [(_stat(values(results, dataset, s, VAE_ROW, "nll"))[0] if relative else 0.0) for s in sizes]
        for label in ROWS[dataset]:
            mean, lo, hi = [], [], []
            for s, ref in zip(sizes, vae_mean):
                v = values(results, dataset, s, label, metric)
                ok = bool(v) and ref is not None
                mean.append(np.mean(v) - ref if ok else np.nan)
                lo.append(np.min(v) - ref if ok else np.nan)
                hi.append(np.max(v) - ref if ok else np.nan)
            ax.plot(x, mean, "o-", color=colours[label], label=label, lw=2.5 if label.startswith("DU-") else 1.5)
            ax.fill_between(x, lo, hi, color=colours[label], alpha=0.15)
            paper = PAPER[label][dataset][i] - (PAPER[VAE_ROW][dataset][0] if relative else 0.0)
            ax.scatter([len(sizes)], [paper], marker="*", s=120, color=colours[label], zorder=3)
        ax.set_xticks(list(x) + [len(sizes)], list(sizes) + ["paper"], rotation=20)
        ax.set_title(f"{dataset}: " + ("NLL - VAE's NLL" if relative else metric.upper()))
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("mean over seeds (band: min..max); star: paper")
    axes[0][-1].legend(fontsize=8, loc="center left", bbox_to_anchor=(1.0, 0.5), title="row")
    fig.tight_layout()
    return fig


def cost(results: list[dict]):
    """Mean wall minutes per run (training and test, as each run measured it) by data set, size and
    row, with the CPUs; ``copied`` counts the runs taken from Table 1's results."""
    import pandas as pd

    rows = []
    for dataset in DATASETS:
        for size in shown_sizes(results, dataset):
            for label in ROWS[dataset]:
                rs = _records(results, dataset, size, label)
                if rs:
                    rows.append({"data set": dataset, "size": size, "row": label, "runs": len(rs),
                                 "copied": sum(1 for r in rs if r.get("copied_from")),
                                 "mean wall min": sum(run_seconds(r) for r in rs) / len(rs) / 60,
                                 "CPUs": cpu_counts(rs)})
    return pd.DataFrame(rows)
