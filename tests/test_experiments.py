"""Table 1 and Figure 2 as experiment modules: their runs, the paper's numbers, their tables."""

from __future__ import annotations

import pytest

from duvae.sweep import engine as sweep

from duvae.experiments import verdicts
from duvae.experiments import figure2, table1
from duvae.runs.results import load_results


def test_table1_has_the_papers_14_rows_on_three_data_sets():
    assert len(table1.ROWS) == 14 and set(table1.PAPER) == {r[0] for r in table1.ROWS}
    for label, per in table1.PAPER.items():
        assert set(per) == set(table1.DATASETS)
        iaf = label in table1.IAF_ROWS
        assert all((v[2] is None and v[3] is None) == iaf for v in per.values()), label
    assert table1.PAPER["DU-VAE (0.5, 0.8)"]["yahoo"] == (327.0, 6.7, 6.0, 19.0)


def test_every_row_maps_back_from_its_config():
    for label, _, _ in table1.ROWS:
        for dataset in ("yahoo", "omniglot"):
            cfg = table1.row_config(label, dataset, "smoke", 1)
            assert table1.row_of({"config": cfg.to_dict(), "dataset": dataset}) == label
    cfg = table1.row_config("DU-VAE (0.6, 0.8)", "omniglot", "cpu", 1)
    assert (cfg.model.gamma, cfg.model.p_keep) == (0.6, 0.8)
    assert table1.row_config("BN-VAE (0.6/0.6/0.5)", "omniglot", "cpu", 1).model.gamma == 0.5


def test_yelp_reads_not_available_without_he_et_al_files(monkeypatch):
    monkeypatch.delenv("DUVAE_HE2019_DIR", raising=False)
    ok, reason = table1.available("yelp", "paper")
    assert not ok and "DUVAE_HE2019_DIR" in reason
    assert {c.dataset for c in table1.runs("cpu", 1)} == {"yahoo", "omniglot"}
    t = table1.table([], "cpu")
    assert t.loc["VAE", "yelp NLL"].startswith("not available")
    assert t.loc["VAE", "yelp NLL (paper)"] == 357.5
    assert t.loc["DU-IAF (0.7/0.6/0.5, 0.70/0.70/0.85)", "yahoo MI"] == "-"


def test_figure2_grid_and_shared_cells():
    cells = figure2.runs("cpu", 1)
    assert len(cells) == 2 * 20  # Yahoo and Omniglot (Yelp not available)
    shared = {c.run_id() for c in cells} & {c.run_id() for c in table1.runs("cpu", 1)}
    assert len(shared) == 6  # (0.5, 0.9), (0.5, 0.8), (0.6, 0.8) on both data sets: trained once


@pytest.mark.slow
def test_table1_smoke_sweep(tmp_path, mirror, monkeypatch):
    monkeypatch.setenv("DUVAE_DATA_MIRROR", str(mirror))  # Yahoo and Omniglot come from the mirror
    argv = ["table1", "--profile", "smoke", "--seeds", "1", "--executor", "inline",
            "--results-dir", str(tmp_path / "results"), "--runs-dir", str(tmp_path / "runs")]
    assert sweep.main(argv) == 0
    results = load_results("smoke", "table1", tmp_path / "results")
    assert len(results) == 28 and {r["extra"]["row"] for r in results} == {r[0] for r in table1.ROWS}
    t = table1.table(results, "smoke")
    assert (t["yahoo seeds"] == 1).all() and (t["omniglot seeds"] == 1).all()
    assert t["omniglot CPUs"].str.endswith(" x1").all()
    # Figure 2's cells shared with Table 1 are copied from its results instead of trained again
    argv[0] = "figure2"
    assert sweep.main(argv) == 0
    cells = load_results("smoke", "figure2", tmp_path / "results")
    assert len(cells) == 40 and sum("copied_from" in c for c in cells) == 6


def test_cpu_counts_names_each_kind_of_cpu():
    recs = [{"machine": {"cpu": "Intel(R) Xeon(R) Processor"}}] * 2 + [{"machine": {"cpu": "AMD EPYC 9B14"}}]
    assert table1.cpu_counts(recs) == "Intel Xeon x2, AMD EPYC x1"
    assert table1.cpu_counts([]) == ""


def _fake(label: str, dataset: str, seed: int, nll: float, kl: float = 1.0, mi: float = 1.0, au: float = 1.0,
          epochs: int = 3) -> dict:
    """A result record of row ``label`` with the given test metrics and a flat history."""
    cfg = table1.row_config(label, dataset, "smoke", seed)
    history = [{"epoch": e, "kl": kl, "mi": mi} for e in range(epochs)]
    return {"dataset": dataset, "seed": seed, "config": cfg.to_dict(), "extra": {"row": label},
            "metrics": {"nll": nll, "kl": kl, "mi": mi, "au": au}, "history": history}


def test_claims_verdicts_follow_the_difference_and_the_seed_spread():
    du, bn, vae = "DU-VAE (0.5, 0.9)", table1.BN_ROW, table1.VAE_ROW
    results = [_fake(du, "omniglot", s, 90.0 + 0.1 * s, kl=6.0 + s) for s in range(3)]  # NLL std 0.1
    results += [_fake(bn, "omniglot", s, 91.0 + 0.1 * s, kl=6.5 - s) for s in range(3)]
    results += [_fake(vae, "omniglot", s, 90.5 + 2.0 * s) for s in range(3)]  # NLL std 2.0
    c = table1.claims(results, "omniglot")
    vs_bn = c.loc[f"best DU-VAE has a lower NLL than {bn}"]
    assert vs_bn["difference"] == pytest.approx(1.0) and vs_bn["verdict"] == "holds"
    vs_vae = c.loc[f"best DU-VAE has a lower NLL than {vae}"]  # 90.1 vs 92.5, VAE spread 2.0
    assert vs_vae["difference"] == pytest.approx(2.4) and vs_vae["verdict"] == "holds"
    # BN-VAE worse than VAE on images: 91.1 vs 92.5 is the other way round, but inside the VAE's spread of 2.0
    assert c.loc["BN-VAE has a higher NLL than VAE on images", "verdict"] == "within the spread (opposite sign)"
    # ... and beyond a spread it does not hold
    tight = [_fake(vae, "omniglot", s, 92.5 + 0.1 * s) for s in range(3)] + results[3:6]
    assert table1.claims(tight, "omniglot").loc["BN-VAE has a higher NLL than VAE on images", "verdict"] == \
        "does not hold"
    # KL: DU 7.0 vs BN 5.5, spread 1.0 -> holds; rows without results say so
    assert c.loc[f"{du} has a higher KL than BN-VAE (same gamma)", "verdict"] == "holds"
    assert c.loc["DU-IAF has a higher KL than IAF+BN (IAF+BN collapses)", "verdict"] == "inconclusive (missing runs)"
    close = [_fake(du, "omniglot", s, 90.0 + s) for s in range(3)] + [_fake(bn, "omniglot", s, 90.5 + s) for s in range(3)]
    assert table1.claims(close, "omniglot").loc[f"best DU-VAE has a lower NLL than {bn}", "verdict"] == \
        "within the spread (paper's sign)"
    # one seed on either side decides nothing, however large the difference
    lone = results[:3] + [_fake(bn, "omniglot", 0, 99.0)]
    row = table1.claims(lone, "omniglot").loc[f"best DU-VAE has a lower NLL than {bn}"]
    assert row["verdict"] == verdicts.ONE_SEED and row["seeds"] == "3 vs 1" and row["difference"] > 8


def test_table1_curves_and_figure2_heatmaps_draw_from_results():
    import matplotlib

    matplotlib.use("Agg")
    results = [_fake(label, "yahoo", 0, 100.0 + i, kl=float(i)) for i, (label, _, _) in enumerate(table1.ROWS)]
    fig = table1.plot_curves(results, "yahoo")
    kl_lines = fig.axes[0].get_lines()
    assert len(kl_lines) == 14 and [float(line.get_ydata()[0]) for line in kl_lines] == [float(i) for i in range(14)]
    assert len(fig.axes[1].get_lines()) == 11  # the IAF rows have no MI
    cells = []
    for g in figure2.GAMMAS[:2]:
        for p in figure2.P_KEEPS:
            cfg = figure2.runs("smoke", 1)[0].model
            rec = _fake("DU-VAE (0.5, 0.8)", "omniglot", 0, 90.0 + g + p)
            rec["config"]["model"].update(gamma=g, p_keep=p)
            cells.append(rec)
    assert cfg.name == "du_vae"
    assert figure2.optimum(cells, "omniglot") == (0.4, 0.6)
    fig = figure2.plot_heatmaps(cells, "omniglot")
    assert "1 seed" in fig._suptitle.get_text() and "(0.4, 0.6)" in fig._suptitle.get_text()
    assert int(figure2.grid(cells, "omniglot").notna().sum().sum()) == 10
