"""Table 1 and Figure 2 as experiment modules: their runs, the paper's numbers, their tables."""

from __future__ import annotations

import pytest

from duvae import sweep
from duvae.experiments import figure2, table1
from duvae.results import load_results


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
    # Figure 2's cells shared with Table 1 load the finished runs instead of training them again
    argv[0] = "figure2"
    assert sweep.main(argv) == 0
    assert len(load_results("smoke", "figure2", tmp_path / "results")) == 40
